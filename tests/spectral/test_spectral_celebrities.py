"""Spectrum guessing on the aligned-celebrities crops (skips without the shared test data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facescope.evaluate.datasets import load_dataset
from facescope.io.image import load_image
from facescope.spectral import (
    Spectrum,
    guess_spectrum,
    normalise_crop,
    pseudo_nir,
    spectrum_statistics,
)
from facescope.spectral.spectrum import GREY_CHROMA


def _crops(root: Path, per_identity: int = 3) -> list[np.ndarray]:
    dataset = load_dataset(root)
    seen: dict[str, int] = {}
    crops = []
    for path, identity in zip(dataset.paths, dataset.identities, strict=True):
        if seen.get(identity, 0) < per_identity:
            seen[identity] = seen.get(identity, 0) + 1
            crops.append(load_image(path))
    return crops


def test_aligned_crops_vis_versus_pseudo_nir(celebrities: Path) -> None:
    crops = _crops(celebrities)
    assert len(crops) >= 10
    vis = [guess_spectrum(c) for c in crops]
    nir = [guess_spectrum(pseudo_nir(c, rng=i)) for i, c in enumerate(crops)]
    assert all(g is Spectrum.NIR for g in nir)
    assert sum(g is Spectrum.VIS for g in vis) >= 0.8 * len(crops)
    # the set holds a few black-and-white photos: only those may be taken for NIR
    for crop, guess in zip(crops, vis, strict=True):
        if guess is not Spectrum.VIS:
            assert spectrum_statistics(crop).chroma < GREY_CHROMA


def test_tan_triggs_crops_keep_the_embedder_format(celebrities: Path) -> None:
    crop = _crops(celebrities, per_identity=1)[0]
    out = normalise_crop(pseudo_nir(crop, rng=0))
    assert out.shape == (112, 112, 3) and out.dtype == np.uint8
