"""Thread safety: concurrent embedding gives the same results as serial."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import facescope as fs


@pytest.mark.slow
@pytest.mark.parametrize("model", ["sface", "dlib"])
def test_embed_from_four_threads_is_identical(data: Path, model: str) -> None:
    images = [fs.load_image(data / name) for name in ("obama_1.jpg", "biden_1.jpg", "obama_2.jpg")]
    serial = [fs.embed(image, model=model).vectors for image in images]
    jobs = images * 4
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda image: fs.embed(image, model=model).vectors, jobs))
    for index, vectors in enumerate(results):
        np.testing.assert_allclose(vectors, serial[index % len(images)], atol=1e-5)
