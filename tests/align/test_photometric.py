"""Photometric normalisation: dark aligned faces are lifted, well-lit ones pass unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import facescope as fs
from facescope.align.photometric import (
    CENTRAL_REGION,
    TARGET_LUMINANCE,
    illumination_gamma,
    normalise_crops,
    normalise_illumination,
)
from facescope.align.template import warp_to_template
from facescope.embed.recognizers import sface_recognizer
from facescope.io.image import load_image


def _crop(data: Path) -> np.ndarray:
    rgb = load_image(data / "obama_1.jpg")
    faces = fs.detect(rgb)
    return warp_to_template(rgb, faces.landmarks5[int(np.argmax(faces.areas))])


def _darken(crop: np.ndarray, factor: float) -> np.ndarray:
    return np.round(crop.astype(np.float64) * factor).astype(np.uint8)


def _central_mean(crop: np.ndarray) -> float:
    x1, y1, x2, y2 = (round(v * 112) for v in CENTRAL_REGION)
    return float(crop[y1:y2, x1:x2].mean()) / 255.0


def test_a_well_lit_face_passes_through_untouched(data: Path) -> None:
    crop = _crop(data)
    assert _central_mean(crop) >= TARGET_LUMINANCE
    assert illumination_gamma(crop) == 1.0
    assert normalise_illumination(crop) is crop
    batch = np.stack([crop, crop])
    assert normalise_crops(batch) is batch


def test_a_dark_face_is_lifted_towards_the_target_keeping_grey_level_order(data: Path) -> None:
    dark = _darken(_crop(data), 0.15)
    gamma = illumination_gamma(dark)
    assert 0.3 <= gamma < 1.0
    lifted = normalise_illumination(dark)
    assert _central_mean(lifted) > 2 * _central_mean(dark)
    assert abs(_central_mean(lifted) - TARGET_LUMINANCE) < 0.12
    # a monotonic curve: brighter input pixels stay brighter
    order = np.argsort(dark[..., 0].ravel(), kind="stable")
    assert np.all(np.diff(lifted[..., 0].ravel()[order].astype(int)) >= 0)


def test_a_batch_copies_only_when_a_face_is_dark(data: Path) -> None:
    crop = _crop(data)
    dark = _darken(crop, 0.15)
    batch = np.stack([crop, dark])
    out = normalise_crops(batch)
    assert out is not batch
    assert np.array_equal(out[0], crop) and not np.array_equal(out[1], dark)
    assert np.array_equal(batch[1], dark)  # the caller's array is never changed


def test_lifting_a_dark_face_brings_its_embedding_back_to_the_well_lit_one(data: Path) -> None:
    sface = sface_recognizer()
    crop = _crop(data)
    dark = _darken(crop, 0.12)
    reference = sface._session.run(crop[None])[0]
    raw_dark = sface._session.run(dark[None])[0]  # the network on the dark crop as it is
    normalised = sface.features_from_crops(dark[None])[0]  # the recogniser lifts it first

    def cosine(a: np.ndarray, b: np.ndarray) -> float:
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    assert cosine(normalised, reference) > cosine(raw_dark, reference) + 0.02
    # and a well-lit crop's features are exactly the network's
    assert np.array_equal(sface.features_from_crops(crop[None])[0], reference)
