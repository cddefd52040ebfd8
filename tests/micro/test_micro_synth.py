"""Ground-truth injection: where, when and how much the frames are moved."""

from __future__ import annotations

import numpy as np
import pytest

from facescope.analysis.geometry import face_geometry
from facescope.micro import MicroError, inject_micro
from facescope.micro.synth import profile, warp_frame


def _face() -> tuple[np.ndarray, np.ndarray]:
    """A textured image and a canonical mesh placed on it (eye distance ~ 100 px)."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (240, 240, 3), np.uint8)
    image = np.asarray(np.clip(np.repeat(np.repeat(image[::8, ::8], 8, 0), 8, 1), 0, 255), np.uint8)
    canonical = face_geometry().canonical
    mesh = np.zeros((478, 3))
    mesh[:, :2] = canonical[:, :2] * (100 / 90) + 120  # 90 mm between the eye corners
    return image, mesh


def test_profile_rises_and_falls() -> None:
    w = profile(5)
    assert w.shape == (5,) and w.max() == pytest.approx(1.0) and int(np.argmax(w)) == 2
    assert (w > 0).all() and w[0] == pytest.approx(w[-1])


def test_injection_moves_only_its_frames_and_region() -> None:
    image, mesh = _face()
    frames = [image] * 10
    out, truth = inject_micro(frames, [mesh] * 10, "left_brow", 3, 4, 2.0)
    assert (truth.onset, truth.offset, truth.region) == (3, 6, "left_brow")
    assert 4 <= truth.apex <= 5 and truth.amplitude_px == 2.0
    changed = [i for i, f in enumerate(out) if not np.array_equal(f, image)]
    assert changed == [3, 4, 5, 6]
    diff = np.abs(out[4].astype(int) - image).sum(axis=2)
    ys, xs = np.nonzero(diff)
    brow = mesh[[276, 282, 283, 285, 293, 295, 296, 300, 334, 336], :2]
    assert abs(xs.mean() - brow[:, 0].mean()) < 25 and abs(ys.mean() - brow[:, 1].mean()) < 25
    mouth = mesh[[61, 291], :2].mean(axis=0).astype(int)
    assert diff[mouth[1] - 5 : mouth[1] + 5, mouth[0] - 5 : mouth[0] + 5].sum() == 0


def test_the_brow_goes_up_by_the_amplitude() -> None:
    _, mesh = _face()
    ys, xs = np.mgrid[0:240, 0:240].astype(np.float64)
    grey = 128 + 90 * np.sin(2 * np.pi * ys / 23) + 20 * np.sin(2 * np.pi * xs / 31)
    image = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    moved = warp_frame(image, mesh, "brows", 3.0)
    x, y = mesh[334, :2].astype(int)
    window = moved[y - 2 : y + 3, x - 2 : x + 3, 0].astype(float)

    def error(shift: int) -> float:  # content moved up by `shift` px: out(y) = in(y + shift)
        return float(np.abs(window - image[y - 2 + shift : y + 3 + shift, x - 2 : x + 3, 0]).mean())

    assert min(range(-5, 6), key=error) == 3
    assert np.array_equal(moved[200:], image[200:])  # the mouth and chin do not move


def test_bad_requests_are_refused() -> None:
    image, mesh = _face()
    with pytest.raises(MicroError, match="unknown movement"):
        inject_micro([image], [mesh], "ears", 0, 1, 1.0)
    with pytest.raises(MicroError, match="outside"):
        inject_micro([image] * 3, [mesh] * 3, "brows", 2, 4, 1.0)
    with pytest.raises(MicroError, match="duration"):
        inject_micro([image], [mesh], "brows", 0, 0, 1.0)
    with pytest.raises(MicroError, match="no face mesh"):
        inject_micro([image] * 2, [mesh, None], "brows", 0, 2, 1.0)
    with pytest.raises(MicroError, match="meshes"):
        inject_micro([image] * 2, [mesh], "brows", 0, 1, 1.0)
