"""Synthetic presentation attacks and the shared capture simulation (facescope.pad.synth)."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest
from scipy import ndimage
from skimage import data as skdata

from facescope.errors import FacescopeError
from facescope.pad.synth import (
    SPECIES,
    SynthesisError,
    capture,
    print_attack,
    replay_attack,
    synthesize,
    synthetic_set,
)

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]
TRANSFORMS: list[Transform] = [capture, print_attack, replay_attack]
KINDS = ("bona_fide", *SPECIES)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    """256x256 around the astronaut's head (public-domain skimage image)."""
    return np.ascontiguousarray(skdata.astronaut()[:256, 128:384])


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return np.ascontiguousarray(skdata.astronaut()[0:220, 140:330])


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)


def _saturation(image: np.ndarray) -> float:
    return float(cv2.cvtColor(image, cv2.COLOR_RGB2HSV)[..., 1].mean())


def _contrast(image: np.ndarray) -> float:
    """Luminance spread (5-95 percentile) of the central region (away from warped borders)."""
    h, w = image.shape[:2]
    g = _grey(image)[h // 5 : -h // 5, w // 5 : -w // 5]
    return float(np.percentile(g, 95) - np.percentile(g, 5))


def _high_frequency(image: np.ndarray) -> float:
    return float(np.abs(cv2.Laplacian(_grey(image), cv2.CV_64F)).mean())


def _periodic_peak(image: np.ndarray) -> float:
    """Strongest spectral line: max / median of |FFT| within each ring of radius 8..N/2."""
    g = _grey(image)
    g -= g.mean()
    h, w = g.shape
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(g * np.outer(np.hanning(h), np.hanning(w)))))
    yy, xx = np.mgrid[:h, :w]
    rings = np.hypot(yy - h // 2, xx - w // 2).astype(int)
    index = np.arange(8, min(h, w) // 2)
    peak = ndimage.maximum(spectrum, rings, index) / ndimage.median(spectrum, rings, index)
    return float(np.max(peak))


# ----------------------------------------------------------------------------- basics


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_shape_dtype_kept_and_input_untouched(transform: Transform) -> None:
    image = np.ascontiguousarray(skdata.astronaut()[40:140, 150:290])  # 100x140, not square
    before = image.copy()
    out = transform(image, np.random.default_rng(0))
    assert out.shape == image.shape
    assert out.dtype == np.uint8
    assert out is not image
    assert np.array_equal(image, before)


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_deterministic_per_seed_and_seeds_differ(
    transform: Transform, astronaut: np.ndarray
) -> None:
    a = transform(astronaut, np.random.default_rng(3))
    assert np.array_equal(a, transform(astronaut, np.random.default_rng(3)))
    b = transform(astronaut, np.random.default_rng(4))
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 2.0


@pytest.mark.parametrize("kind", KINDS)
def test_synthesize_each_species(kind: str, face: np.ndarray) -> None:
    out = synthesize(face, kind, np.random.default_rng(1))
    assert out.shape == face.shape and out.dtype == np.uint8
    assert np.array_equal(out, synthesize(face, kind, np.random.default_rng(1)))


def test_non_contiguous_input_is_accepted(astronaut: np.ndarray) -> None:
    view = astronaut[::2, ::2]
    assert not view.flags.c_contiguous
    assert capture(view, np.random.default_rng(0)).shape == view.shape


def test_synthetic_set_counts_labels_and_determinism(face: np.ndarray) -> None:
    small = np.ascontiguousarray(face[::2, ::2])
    images, labels = synthetic_set([small, small[:, ::-1]], per_image=2, seed=5)
    assert len(images) == len(labels) == 2 * 3 * 2
    assert labels[:6] == ["bona_fide"] * 2 + ["print"] * 2 + ["replay"] * 2
    assert labels[6:] == labels[:6]
    assert all(i.shape == small.shape and i.dtype == np.uint8 for i in images)
    again, _ = synthetic_set([small, small[:, ::-1]], per_image=2, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(images, again, strict=True))
    other, _ = synthetic_set([small, small[:, ::-1]], per_image=2, seed=6)
    assert not np.array_equal(images[0], other[0])
    # samples of one image do not depend on the images after it
    first, _ = synthetic_set([small], per_image=2, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(first, images[:6], strict=True))
    assert synthetic_set([], seed=0) == ([], [])


# ----------------------------------------------------------------------------- physics


def test_print_reduces_saturation_contrast_and_fine_detail(astronaut: np.ndarray) -> None:
    sat, con, hf = _saturation(astronaut), _contrast(astronaut), _high_frequency(astronaut)
    prints = [print_attack(astronaut, np.random.default_rng(k)) for k in range(10)]
    sats = np.array([_saturation(p) for p in prints])
    cons = np.array([_contrast(p) for p in prints])
    hfs = np.array([_high_frequency(p) for p in prints])
    assert (sats < 0.9 * sat).all() and sats.mean() < 0.75 * sat
    assert (cons < con).all() and cons.mean() < 0.9 * con
    # detail is lost, no visible halftone texture gained
    assert (hfs < 0.8 * hf).all() and hfs.mean() < 0.6 * hf


def test_replay_adds_periodic_energy(astronaut: np.ndarray) -> None:
    source = _periodic_peak(astronaut)
    peaks = np.array(
        [_periodic_peak(replay_attack(astronaut, np.random.default_rng(k))) for k in range(10)]
    )
    # a low-frequency moiré can hide under the face's own spectrum; most cannot
    assert np.median(peaks) > 3 * source
    assert (peaks > 2 * source).sum() >= 7


def test_replay_moire_is_a_spectral_line_on_a_flat_field() -> None:
    grey = np.full((256, 256, 3), 128, np.uint8)
    for k in range(5):
        assert _periodic_peak(replay_attack(grey, np.random.default_rng(k))) > 50
    assert _periodic_peak(capture(grey, np.random.default_rng(0))) < 20


def test_capture_brightness_varies_widely_and_does_not_identify_the_class(
    face: np.ndarray,
) -> None:
    seeds = range(30)
    bona = np.array([synthesize(face, "bona_fide", np.random.default_rng(k)).mean() for k in seeds])
    replay = np.array(
        [synthesize(face, "replay", np.random.default_rng(100 + k)).mean() for k in seeds]
    )
    assert bona.max() - bona.min() > 60  # wide exposure range (0-255 scale)
    # most replays fall inside the bona fide range, and vice versa
    assert ((replay >= bona.min()) & (replay <= bona.max())).mean() >= 0.7
    assert ((bona >= replay.min()) & (bona <= replay.max())).mean() >= 0.7
    # brightness alone is a weak classifier: AUC (Mann-Whitney) not far from 0.5
    auc = (replay[:, None] > bona[None, :]).mean()
    assert 0.2 < auc < 0.8


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("image", "match"),
    [
        ([[[0, 0, 0]]], "numpy array"),
        (None, "numpy array"),
        (np.zeros((0, 0, 3), np.uint8), "empty"),
        (np.zeros((64, 64, 3), np.float32), "uint8"),
        (np.zeros((64, 64), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((64, 64, 4), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((31, 64, 3), np.uint8), "too small"),
    ],
)
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_bad_images_raise(transform: Transform, image: object, match: str) -> None:
    with pytest.raises(SynthesisError, match=match) as info:
        transform(image, np.random.default_rng(0))  # type: ignore[arg-type]
    assert isinstance(info.value, FacescopeError)
    assert isinstance(info.value, ValueError)


def test_bad_rng_species_and_per_image(face: np.ndarray) -> None:
    with pytest.raises(SynthesisError, match="Generator"):
        capture(face, 0)  # type: ignore[arg-type]
    with pytest.raises(SynthesisError, match="bona_fide, print, replay"):
        synthesize(face, "mask", np.random.default_rng(0))
    with pytest.raises(SynthesisError, match="per_image"):
        synthetic_set([face], per_image=0)
    with pytest.raises(SynthesisError, match=r"images\[1\].*uint8"):
        synthetic_set([face, face.astype(np.float32)])
    with pytest.raises(SynthesisError, match="sequence of images"):
        synthetic_set(face)  # type: ignore[arg-type]
