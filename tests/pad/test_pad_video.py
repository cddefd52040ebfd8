"""Video liveness cues: rPPG pulse (POS, CHROM), planar-motion fits, inputs, real samples."""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np
import pytest
from conftest import TESTDATA

from facescope.analysis import geometry
from facescope.errors import FacescopeError, VideoError
from facescope.pad.cues import PADError
from facescope.pad.rppg import estimate_pulse, resample_uniform
from facescope.pad.video import (
    PLANAR_TEXTURE_MAX,
    FaceTrack,
    fit_residuals,
    skin_regions,
    texture_residual,
    track_cues,
    video_cues,
    windowed_cues,
)

ANTISPOOF = TESTDATA / "antispoof"
SKIN = np.array([180.0, 120.0, 100.0])
# relative pulsatile strength per channel (green strongest, as in skin)
PULSE_GAIN = np.array([0.33, 0.77, 0.53])


def _pulse_rgb(
    times: np.ndarray, bpm: float, rng: np.random.Generator, noise: float = 0.05
) -> np.ndarray:
    pulse = np.sin(2 * np.pi * bpm / 60.0 * times)
    colour = SKIN * (1 + 0.003 * pulse[:, None] * PULSE_GAIN)
    return colour + rng.normal(0.0, noise, (times.size, 3))


def _uneven_times(seconds: float, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Webcam-like timestamps: jittered and with dropped frames."""
    steps = rng.choice([1, 1, 1, 2, 3], size=int(seconds * fps)) / fps
    return np.cumsum(steps + rng.normal(0, 0.002, steps.size))


# --------------------------------------------------------------------------- rPPG


@pytest.mark.parametrize("method", ["pos", "chrom"])
def test_pulse_recovers_a_synthetic_heart_rate(method: str) -> None:
    rng = np.random.default_rng(0)
    times = _uneven_times(12.0, 30.0, rng)
    estimate = estimate_pulse(times, _pulse_rgb(times, 72.0, rng), method=method)  # type: ignore[arg-type]
    assert abs(estimate.bpm - 72.0) < 3.0
    noise = estimate_pulse(times, SKIN + rng.normal(0, 0.05, (times.size, 3)), method=method)  # type: ignore[arg-type]
    assert estimate.snr_db > noise.snr_db + 5.0
    assert estimate.snr_db > 0.0


@pytest.mark.parametrize("bpm", [50.0, 110.0])
def test_pos_and_chrom_follow_other_rates(bpm: float) -> None:
    rng = np.random.default_rng(1)
    times = np.arange(0, 10, 1 / 25)
    rgb = _pulse_rgb(times, bpm, rng)
    for method in ("pos", "chrom"):
        assert abs(estimate_pulse(times, rgb, method=method).bpm - bpm) < 3.0


def test_resample_uniform_fills_missing_frames() -> None:
    times = np.array([0.0, 0.1, 0.3, 0.4])
    values = np.array([[0.0], [1.0], [np.nan], [4.0]])
    grid, out = resample_uniform(times, values, fs=10.0)
    assert np.allclose(grid, [0.0, 0.1, 0.2, 0.3, 0.4])
    assert np.allclose(out[:, 0], [0.0, 1.0, 2.0, 3.0, 4.0])


def test_pulse_refuses_bad_input() -> None:
    rng = np.random.default_rng(2)
    short = np.arange(0, 2.0, 1 / 30)
    with pytest.raises(PADError, match="too short"):
        estimate_pulse(short, _pulse_rgb(short, 72, rng))
    sparse = np.arange(0, 10.0, 1 / 5)  # 5 fps cannot carry a 4 Hz band
    with pytest.raises(PADError, match="too few frames"):
        estimate_pulse(sparse, _pulse_rgb(sparse, 72, rng))
    with pytest.raises(PADError, match=r"\(n, 3\)"):
        estimate_pulse(short, np.ones((short.size, 4)))
    with pytest.raises(PADError, match="method"):
        estimate_pulse(short, _pulse_rgb(short, 72, rng), method="ica")  # type: ignore[arg-type]
    assert issubclass(PADError, FacescopeError)


# --------------------------------------------------------------------------- motion fits


def _project(points: np.ndarray, yaw: float = 0.0, pitch: float = 0.0) -> np.ndarray:
    """Pinhole projection of 3D points (mm) turned by yaw/pitch (degrees), 600 mm away."""
    a, b = math.radians(yaw), math.radians(pitch)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    centred = points - points.mean(0)
    turned = centred @ (ry @ rx).T + [0.0, 0.0, 600.0]
    return np.asarray(800.0 * turned[:, :2] / turned[:, 2:3] + [320.0, 240.0])


def test_homography_residual_is_zero_for_a_known_homography() -> None:
    src = _project(geometry.face_geometry().canonical[:468])
    h = np.array([[1.05, 0.08, 12.0], [-0.04, 0.97, -7.0], [2e-4, -1e-4, 1.0]])
    mapped = np.c_[src, np.ones(len(src))] @ h.T
    dst = mapped[:, :2] / mapped[:, 2:]
    fit = fit_residuals(src, dst)
    assert fit.homography < 1e-6
    assert fit.similarity > 100 * max(fit.homography, 1e-9)
    assert fit.displacement > 0.05


def test_a_tilted_flat_face_moves_as_a_plane() -> None:
    flat = geometry.face_geometry().canonical[:468].copy()
    flat[:, 2] = 0.0  # a photo of the face
    fit = fit_residuals(_project(flat), _project(flat, yaw=20.0, pitch=10.0))
    assert fit.homography < 1e-6
    assert fit.similarity > 0.005


def test_a_turning_3d_face_does_not_move_as_a_plane() -> None:
    face = geometry.face_geometry().canonical[:468]
    rng = np.random.default_rng(3)
    src = _project(face)
    turned = _project(face, yaw=20.0, pitch=10.0)
    fit = fit_residuals(src, turned)
    assert fit.homography > 0.03  # parallax: nose against cheeks
    assert fit.homography <= fit.affine + 1e-9
    # non-rigid motion (expression) on a frontal face: not a plane either
    moved = face + rng.normal(0.0, 3.0, face.shape)
    assert fit_residuals(src, _project(moved)).homography > 0.02


def test_fit_residuals_refuses_bad_points() -> None:
    with pytest.raises(PADError):
        fit_residuals(np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(PADError):
        fit_residuals(np.zeros((10, 2)), np.zeros((10, 3)))
    with pytest.raises(PADError, match="degenerate"):
        fit_residuals(np.zeros((10, 2)), np.zeros((10, 2)))


def _texture(seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur((rng.random((240, 320)) * 255).astype(np.uint8), (0, 0), 2)
    low, high = float(noise.min()), float(noise.max())
    return np.asarray((noise - low) * (255.0 / (high - low)), np.uint8)


def test_texture_moves_as_a_plane_only_under_a_homography() -> None:
    image = _texture()
    hull = np.array([[100.0, 60.0], [220.0, 60.0], [220.0, 200.0], [100.0, 200.0]])
    h = np.array([[1.03, 0.02, 4.0], [-0.01, 0.98, -3.0], [1e-4, 0.0, 1.0]])
    planar = texture_residual(image, cv2.warpPerspective(image, h, (320, 240)), hull)
    yy, xx = np.mgrid[0:240, 0:320].astype(np.float32)
    bent = cv2.remap(image, xx + 3 * np.sin(yy / 15), yy + 3 * np.cos(xx / 17), cv2.INTER_LINEAR)
    non_rigid = texture_residual(image, bent, hull)
    assert planar < 0.002
    assert non_rigid > 5 * planar and non_rigid > 0.01
    assert math.isnan(texture_residual(np.zeros_like(image), np.zeros_like(image), hull))


# --------------------------------------------------------------------------- cues of a track


def _track(seconds: float, fps: float, motion: float, seed: int = 4) -> FaceTrack:
    """A synthetic measured face: a 72-bpm skin pulse and a head turning by `motion` deg."""
    rng = np.random.default_rng(seed)
    times = np.arange(0, seconds, 1 / fps)
    face = geometry.face_geometry().canonical[:468]
    points = np.stack(
        [_project(face, yaw=motion * math.sin(t)) + rng.normal(0, 0.2, (468, 2)) for t in times]
    )
    ear = np.full(times.size, 0.3)
    ear[(times % 4.0 > 2.0) & (times % 4.0 < 2.15)] = 0.05  # a blink every 4 s
    pose = np.c_[motion * np.sin(times), np.zeros((times.size, 2))]
    return FaceTrack(times, points, _pulse_rgb(times, 72.0, rng), ear, pose, "synthetic")


def test_track_cues_of_a_synthetic_live_face() -> None:
    cues = track_cues(_track(10.0, 30.0, motion=20.0))
    assert abs(cues.heart_rate_pos_bpm - 72) < 3 and abs(cues.heart_rate_chrom_bpm - 72) < 3
    assert cues.blink_count == 2
    assert cues.blink_rate_per_min == pytest.approx(12.0, abs=1.0)
    assert cues.motion_reason is None
    assert cues.homography_residual > 0.01
    evidence = cues.evidence()
    assert {e["cue"] for e in evidence} >= {
        "heart_rate_pos",
        "pulse_snr_chrom",
        "blink_rate",
        "homography_residual",
        "head_motion",
    }
    for entry in evidence:
        assert set(entry) == {"cue", "value", "unit", "indicates", "why"}
        assert entry["indicates"] in ("live", "attack", "unclear")
        assert isinstance(entry["value"], float) and entry["why"]


def test_still_and_short_tracks_say_why_they_cannot_judge() -> None:
    cues = track_cues(_track(3.0, 30.0, motion=0.0))
    assert cues.pulse_pos is None and math.isnan(cues.heart_rate_pos_bpm)
    assert cues.pulse_reason is not None and "too short" in cues.pulse_reason
    assert cues.motion_reason is not None and "not enough motion" in cues.motion_reason
    planar = next(e for e in cues.evidence() if e["cue"] == "homography_residual")
    assert planar["indicates"] == "unclear" and "not enough motion" in planar["why"]


def test_a_planar_texture_with_head_motion_indicates_an_attack() -> None:
    track = _track(10.0, 30.0, motion=20.0)
    flat = replace(track, source="flat", texture=np.full(len(track), 0.002))
    entry = next(e for e in track_cues(flat).evidence() if e["cue"] == "texture_residual")
    assert entry["indicates"] == "attack" and entry["value"] < PLANAR_TEXTURE_MAX
    live = replace(track, source="3d", texture=np.full(len(track), 0.04))
    entry = next(e for e in track_cues(live).evidence() if e["cue"] == "texture_residual")
    assert entry["indicates"] == "unclear" and "replay" in entry["why"]
    assert all(e["indicates"] != "live" for e in track_cues(live).evidence())


def test_windowed_cues_cover_the_track() -> None:
    windows = windowed_cues(_track(10.0, 20.0, motion=10.0), window_s=5.0, step_s=2.5)
    assert len(windows) == 3
    assert all(abs(w.heart_rate_pos_bpm - 72) < 4 for w in windows)
    with pytest.raises(PADError):
        windowed_cues(_track(10.0, 20.0, motion=10.0), window_s=1.0)


def test_skin_regions_are_disjoint_and_nonempty() -> None:
    regions = skin_regions()
    assert set(regions) == {"forehead", "right_cheek", "left_cheek"}
    sets = [set(v) for v in regions.values()]
    assert all(len(s) >= 6 for s in sets)
    assert not (sets[0] & sets[1]) and not (sets[1] & sets[2]) and not (sets[0] & sets[2])


# --------------------------------------------------------------------------- inputs


def test_video_cues_refuses_bad_input(tmp_path: object) -> None:
    frame = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(PADError, match="empty"):
        video_cues([])
    with pytest.raises(PADError, match="uint8"):
        video_cues([frame.astype(np.float32)], fps=30.0)  # type: ignore[arg-type]
    with pytest.raises(PADError, match=r"\(H, W, 3\)"):
        video_cues([np.zeros((64, 64), np.uint8)], fps=30.0)
    with pytest.raises(PADError, match="fps"):
        video_cues([frame])
    with pytest.raises(PADError, match="timestamps"):
        video_cues([frame, frame], times=[0.0])
    with pytest.raises(PADError, match="decrease"):
        video_cues([frame, frame], times=[1.0, 0.0])
    with pytest.raises(PADError, match="expected a video path"):
        video_cues(5)  # type: ignore[arg-type]
    with pytest.raises(VideoError, match="no such file"):
        video_cues("/nonexistent/clip.webm")


def test_frames_without_a_face_give_reasons_not_errors() -> None:
    frames = [np.full((120, 160, 3), 90 + i % 3, np.uint8) for i in range(12)]
    cues = video_cues(frames, fps=30.0)
    assert cues.frames == 12 and cues.frames_with_mesh == 0
    assert cues.pulse_reason is not None and cues.motion_reason is not None
    assert cues.blink_count == 0 and math.isnan(cues.homography_residual)


# --------------------------------------------------------------------------- real samples


@pytest.mark.slow
@pytest.mark.parametrize("name", ["live_video.webm", "replay_attack_video.webm"])
def test_real_videos_give_cues(name: str) -> None:
    path = ANTISPOOF / name
    if not path.is_file():
        pytest.skip(f"shared anti-spoofing videos not found at {ANTISPOOF}")
    cues = video_cues(path, max_seconds=2.0)
    assert cues.frames >= 20 and cues.frames_with_mesh >= 0.9 * cues.frames
    assert cues.pulse_reason is not None and "too short" in cues.pulse_reason
    assert cues.motion_pairs > 0 and 0.0 < cues.homography_residual < 0.5
    assert cues.homography_residual <= cues.similarity_residual + 1e-9
    assert math.isfinite(cues.head_rotation_deg)
    assert cues.texture_pairs > 0 and cues.texture_residual > PLANAR_TEXTURE_MAX
    assert len(cues.evidence()) >= 10


def _plane_warp(width: int, height: int, t: float) -> np.ndarray:
    """A photo turning before a camera: a plane rotated by up to 20 / 12 degrees."""
    f = float(max(width, height))
    k = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])
    a, b = math.radians(20 * math.sin(2 * math.pi * t / 2)), math.radians(12 * math.cos(t * 2))
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    shift = np.array([[1, 0, 15 * math.sin(t)], [0, 1, 10 * math.cos(t)], [0, 0, 1.0]])
    return np.asarray(shift @ k @ ry @ rx @ np.linalg.inv(k))


@pytest.mark.slow
def test_a_moved_photo_of_a_real_face_indicates_an_attack() -> None:
    path = ANTISPOOF / "live_video.webm"
    if not path.is_file():
        pytest.skip(f"shared anti-spoofing videos not found at {ANTISPOOF}")
    from facescope.io.video import open_video

    with open_video(path, max_frames=1) as video:
        photo = next(iter(video)).rgb
    height, width = photo.shape[:2]
    rng = np.random.default_rng(6)
    frames = []
    for i in range(30):  # 2 s at 15 fps
        warped = cv2.warpPerspective(
            photo, _plane_warp(width, height, i / 15), (width, height),
            borderMode=cv2.BORDER_REPLICATE,
        )  # fmt: skip
        frames.append(np.clip(warped + rng.normal(0, 2, warped.shape), 0, 255).astype(np.uint8))
    cues = video_cues(frames, fps=15.0)
    assert cues.motion_reason is None
    assert cues.texture_residual < PLANAR_TEXTURE_MAX
    entry = next(e for e in cues.evidence() if e["cue"] == "texture_residual")
    assert entry["indicates"] == "attack"
