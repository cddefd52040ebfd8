"""Every public verb refuses bad input with a specific facescope error, never a crash."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import facescope as fs

VERBS: dict[str, Callable[[Any], object]] = {
    "detect": fs.detect,
    "align": fs.align,
    "embed": fs.embed,
    "verify": lambda image: fs.verify(image, image),
    "identify": lambda image: fs.identify(image, {"someone": [image]}),
}

BAD_INPUTS: dict[str, Any] = {
    "int": 123,
    "none": None,
    "empty bytes": b"",
    "garbage bytes": b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
    "empty array": np.zeros((0, 0, 3), np.uint8),
    "nan float array": np.full((64, 64, 3), np.nan, np.float32),
    "2-channel array": np.zeros((64, 64, 2), np.uint8),
}


@pytest.mark.parametrize("verb", sorted(VERBS))
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_image_input_is_an_invalid_image_error(verb: str, case: str) -> None:
    with pytest.raises(fs.InvalidImageError):
        VERBS[verb](BAD_INPUTS[case])


def test_identify_needs_known_people(data: Path) -> None:
    with pytest.raises(ValueError, match="at least one known identity"):
        fs.identify(data / "obama_1.jpg", {})
    with pytest.raises(ValueError, match="has no photos"):
        fs.identify(data / "obama_1.jpg", {"empty": []})


def test_known_photo_without_a_face_is_named(data: Path) -> None:
    grey = np.full((120, 160, 3), 128, np.uint8)
    with pytest.raises(fs.NoFaceError, match="photo 0 of 'wall'"):
        fs.enroll({"wall": [grey]})


def test_embed_rejects_an_unknown_model(data: Path) -> None:
    with pytest.raises(ValueError, match="unknown model 'fusion'"):
        fs.embed(data / "obama_1.jpg", model="fusion")
