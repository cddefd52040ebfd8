"""Facial analysis: mesh, head pose, gaze, eye and mouth state, smoothing, results, video."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from facescope.analysis import geometry
from facescope.analysis.analyzer import AnalyzeOptions, Analyzer, analyze
from facescope.analysis.eyes import BlinkDetector, eye_aspect_ratio, mouth_openness
from facescope.analysis.mesh import shared_mesher
from facescope.analysis.plot import draw_analysis, plot_timeseries
from facescope.analysis.pose import (
    camera_matrix,
    euler_from_rotation,
    head_pose,
    rotation_from_euler,
)
from facescope.analysis.result import save_table
from facescope.analysis.smoothing import OneEuroFilter
from facescope.io.image import load_image
from facescope.pipeline import find_faces

GEOMETRY_ONLY = AnalyzeOptions(expressions=False, action_units=False, quality=False)


def _project(yaw: float, pitch: float, roll: float, width: int = 640, height: int = 480):
    """The canonical face seen by the assumed camera at 600 mm, as mesh-like points."""
    canonical = geometry.face_geometry().canonical
    rotation = rotation_from_euler(yaw, pitch, roll)
    camera = camera_matrix(width, height)
    points = canonical @ rotation.T + np.array([0.0, 0.0, 600.0])
    xy = points[:, :2] / points[:, 2:] * camera[0, 0] + camera[:2, 2]
    return np.c_[xy, points[:, 2] - 600.0]


@pytest.mark.parametrize("angles", [(0, 0, 0), (25, 0, 0), (0, -15, 0), (0, 0, 12), (-30, 10, -8)])
def test_pose_recovers_synthetic_rotations(angles: tuple[float, float, float]) -> None:
    np.testing.assert_allclose(euler_from_rotation(rotation_from_euler(*angles)), angles, atol=1e-9)
    pose = head_pose(_project(*angles), (640, 480))
    assert pose is not None
    np.testing.assert_allclose((pose.yaw, pose.pitch, pose.roll), angles, atol=0.05)
    assert pose.reprojection_error < 1e-6


def test_pose_yaw_sign_follows_the_nose() -> None:
    """Positive yaw: the nose tip moves towards the image's right."""
    frontal, turned = _project(0, 0, 0), _project(20, 0, 0)
    assert turned[geometry.NOSE_TIP, 0] > frontal[geometry.NOSE_TIP, 0]
    up = _project(0, 20, 0)
    assert up[geometry.NOSE_TIP, 1] < frontal[geometry.NOSE_TIP, 1]


def _face_pose(rgb: npt.NDArray[np.uint8]):
    faces = find_faces(rgb)
    assert len(faces) >= 1
    mesh = shared_mesher().mesh(rgb, faces.boxes[int(np.argmax(faces.areas))])
    assert mesh is not None
    pose = head_pose(mesh.points, (rgb.shape[1], rgb.shape[0]))
    assert pose is not None
    return pose


@pytest.mark.parametrize("name", ["obama_1.jpg", "biden_1.jpg", "biden_2.jpg"])
def test_mirrored_portrait_negates_yaw_and_roll(data: Path, name: str) -> None:
    rgb = load_image(data / name)
    pose, mirrored = _face_pose(rgb), _face_pose(np.ascontiguousarray(rgb[:, ::-1]))
    assert abs(pose.yaw + mirrored.yaw) < 4.0
    assert abs(pose.roll + mirrored.roll) < 3.0
    assert abs(pose.pitch - mirrored.pitch) < 3.0


@pytest.mark.parametrize("angle", [-25, -10, 10, 25])
def test_rotated_portrait_recovers_the_applied_roll(data: Path, angle: float) -> None:
    rgb = load_image(data / "obama_1.jpg")
    height, width = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    rotated = cv2.warpAffine(rgb, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
    # OpenCV's positive angle turns the picture counter-clockwise: roll (clockwise) falls
    change = _face_pose(rotated).roll - _face_pose(rgb).roll
    assert abs(change + angle) < 3.0


def test_eye_and_mouth_measures_respond_to_geometry() -> None:
    face = geometry.face_geometry().canonical.copy()
    open_ear = eye_aspect_ratio(face, geometry.EAR_RIGHT)
    assert 0.15 < open_ear < 0.45
    closed = face.copy()
    for top, bottom in ((160, 144), (158, 153)):
        closed[top] = closed[bottom]
    assert eye_aspect_ratio(closed, geometry.EAR_RIGHT) < 0.2 * open_ear
    shut = mouth_openness(face)
    opened = face.copy()
    opened[geometry.LIP_INNER_BOTTOM, 1] += 20.0
    assert mouth_openness(opened) > shut + 0.3


def test_canonical_alignment_removes_rotation_and_scale() -> None:
    canonical = geometry.face_geometry().canonical
    moved = 3.0 * canonical @ rotation_from_euler(20, -10, 15).T + np.array([300.0, 200.0, 5.0])
    np.testing.assert_allclose(geometry.to_canonical(moved), canonical, atol=1e-6)


def test_blink_detector_counts_dips() -> None:
    detector = BlinkDetector()
    fps = 30.0
    blinks = []
    for i in range(int(10 * fps)):
        t = i / fps
        ear = 0.3 + 0.01 * math.sin(7 * t)
        if any(abs(t - c) < 0.07 for c in (2.0, 5.0, 8.0)):
            ear = 0.08
        if 6.0 <= t <= 7.5:  # eyes shut for 1.5 s: not a blink
            ear = 0.05
        found = detector.update(t, ear)
        if found:
            blinks.append(found)
    assert [round(b.start) for b in blinks] == [2, 5, 8]
    assert all(0.03 <= b.duration <= 0.7 for b in blinks)


def test_one_euro_smooths_jitter_without_lagging_motion() -> None:
    rng = np.random.default_rng(0)
    times = np.arange(300) / 30.0
    still = 5.0 + rng.normal(0, 1.0, len(times))
    filt = OneEuroFilter(min_cutoff=1.0, beta=0.05)
    smoothed = np.array([filt(v, t)[()] for v, t in zip(still, times, strict=True)])
    assert smoothed[30:].std() < 0.5 * still[30:].std()
    # a fast ramp: the One-Euro output trails far less than a fixed low-pass
    ramp = 100.0 * times
    euro, plain = OneEuroFilter(1.0, beta=0.05), OneEuroFilter(1.0, beta=0.0)
    lag_euro = np.mean([t * 100 - euro(v, t)[()] for v, t in zip(ramp, times, strict=True)][30:])
    lag_plain = np.mean([t * 100 - plain(v, t)[()] for v, t in zip(ramp, times, strict=True)][30:])
    assert lag_euro < 0.3 * lag_plain


def test_analyze_portrait_gives_every_geometric_measure(data: Path, tmp_path: Path) -> None:
    result = analyze(data / "obama_1.jpg", GEOMETRY_ONLY)
    assert len(result) == 1
    face = result[0]
    assert face.mesh is not None and face.mesh.shape == (478, 3)
    assert face.pose is not None and abs(face.pose.yaw) < 30
    assert face.gaze is not None and np.isclose(np.linalg.norm(face.gaze.vector), 1.0)
    assert face.eye_openness is not None and all(0.1 < e < 0.5 for e in face.eye_openness)
    assert face.missing == {}
    table = result.to_frame()
    assert len(table) == 1 and {"Yaw", "gaze_yaw", "ear_left", "mouth_open"} <= set(table.columns)
    assert table["input"].iloc[0] == str(data / "obama_1.jpg") and table["frame"].iloc[0] == 0
    for suffix in (".csv", ".parquet", ".json"):
        assert save_table(table, tmp_path / f"t{suffix}").stat().st_size > 0
    import pandas as pd

    back = pd.read_parquet(tmp_path / "t.parquet")
    assert back["Yaw"].iloc[0] == pytest.approx(face.pose.yaw)
    json.dumps(result.to_dict())  # JSON-ready
    drawn = draw_analysis(load_image(data / "obama_1.jpg"), result)
    assert drawn.shape == load_image(data / "obama_1.jpg").shape
    assert (drawn != load_image(data / "obama_1.jpg")).any()


def test_two_people_each_get_a_mesh(data: Path) -> None:
    result = analyze(data / "biden_left_obama_right.jpg", GEOMETRY_ONLY)
    assert len(result) >= 2
    meshes = [f for f in result if f.mesh is not None]
    assert len(meshes) >= 2
    for face in meshes:
        x1, y1, x2, y2 = face.box
        nose = face.mesh[geometry.NOSE_TIP]  # type: ignore[index]
        assert x1 <= nose[0] <= x2 and y1 <= nose[1] <= y2


def test_dlib68_and_its_mesh_map_agree(data: Path) -> None:
    result = analyze(data / "obama_1.jpg", GEOMETRY_ONLY, landmarks68=True)
    face = result[0]
    assert face.landmarks68 is not None and face.landmarks68.shape == (68, 2)
    mapped = geometry.mesh_to_dlib68(face.mesh)[:, :2]  # type: ignore[arg-type]
    eye_distance = np.linalg.norm(face.mesh[33, :2] - face.mesh[263, :2])  # type: ignore[index]
    error = np.linalg.norm(mapped - face.landmarks68, axis=1) / eye_distance
    for region, indices in geometry.DLIB68_REGIONS.items():
        assert error[list(indices)].mean() < 0.15, region


def test_faces_cut_by_the_border_and_failed_meshes_report_why(data: Path, monkeypatch) -> None:
    rgb = load_image(data / "obama_1.jpg")
    faces = find_faces(rgb)
    x1, _, x2, _ = faces.boxes[0]
    cut = np.ascontiguousarray(rgb[:, int((x1 + x2) / 2 - 0.15 * (x2 - x1)) :])
    result = analyze(cut, GEOMETRY_ONLY)
    assert len(result) >= 1, "the face cut by the border must still be found"
    for face in result:
        assert face.mesh is None or "partial" in face.missing
    assert any("partial" in f.missing or "mesh" in f.missing for f in result)

    from facescope.analysis import analyzer as module

    class NoMesh:
        def mesh(self, rgb, box):
            return None

    monkeypatch.setattr(module, "shared_mesher", lambda: NoMesh())
    face = Analyzer(GEOMETRY_ONLY).analyze(rgb)[0]
    assert face.mesh is None and face.pose is None
    assert "profile" in face.missing["pose"]
    assert "mesh" in face.to_dict()["missing"]


def test_no_faces_and_tiny_images_are_results_not_errors() -> None:
    assert len(analyze(np.full((240, 320, 3), 127, np.uint8), GEOMETRY_ONLY)) == 0
    assert len(analyze(np.zeros((4, 4, 3), np.uint8), GEOMETRY_ONLY)) == 0
    assert analyze(np.zeros((4, 4, 3), np.uint8), GEOMETRY_ONLY).to_frame().empty


@dataclass
class _Frame:
    index: int
    time: float
    rgb: npt.NDArray[np.uint8]


def _shaky_frames(rgb: npt.NDArray[np.uint8], count: int, seed: int = 0) -> list[_Frame]:
    rng = np.random.default_rng(seed)
    height, width = rgb.shape[:2]
    frames = []
    for i in range(count):
        dx, dy = rng.normal(0, 1.5, 2)
        matrix = np.array([[1, 0, dx], [0, 1, dy]], np.float64)
        moved = cv2.warpAffine(rgb, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
        frames.append(_Frame(i, i / 25.0, moved))
    return frames


@pytest.mark.slow
def test_video_tracks_smooths_and_keeps_timestamps(data: Path, tmp_path: Path) -> None:
    rgb = load_image(data / "obama_2.jpg")
    frames = _shaky_frames(rgb, 20)
    smooth = Analyzer(GEOMETRY_ONLY).analyze_video(frames, fps=25.0)
    raw = Analyzer(GEOMETRY_ONLY).analyze_video(frames, fps=25.0, smooth=False)
    table, plain = smooth.to_frame(), raw.to_frame()
    assert len(table) == 20 and table["track"].nunique() == 1
    assert table["time"].tolist() == pytest.approx([i / 25.0 for i in range(20)])
    # the filtered mesh jitters less from frame to frame than the raw one
    assert table["FaceRectX"].equals(plain["FaceRectX"])
    assert table["frame"].tolist() == list(range(20))
    assert table["Yaw"].diff().abs().mean() < plain["Yaw"].diff().abs().mean()
    out = plot_timeseries(smooth, tmp_path / "series.png")
    assert out.stat().st_size > 10_000
    assert smooth.blink_table().empty


def test_neutral_free_member_takes_neutral_from_the_others() -> None:
    from facescope.analysis.expression.ensemble import combine

    cnn = np.array([[0.0, 0.0, 0.0, 0.2, 0.0, 0.0, 0.8]])  # mostly neutral
    head = np.array([[0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]])  # never says neutral
    pooled = combine({"facex": cnn, "au_head": head}, {"facex": 0.5, "au_head": 0.5})
    assert pooled[0, 6] == pytest.approx(0.8)  # the head does not dilute neutral
    assert pooled[0, 4] == pytest.approx(0.5 * 0.2)  # its sadness, scaled by (1 - neutral)
    assert pooled.sum() == pytest.approx(1.0)


def test_full_analysis_of_a_smile_with_expressions_and_action_units(data: Path) -> None:
    face = analyze(data / "biden_2.jpg")[0]
    assert face.expressions is not None and face.expression == "happiness"
    assert sum(face.expressions.values()) == pytest.approx(1.0, abs=1e-4)
    assert face.valence is not None and face.valence > 0.3
    assert face.action_units is not None and face.action_units["AU12"] > face.action_units["AU15"]
    assert face.quality is not None and 0.0 <= face.quality.score <= 1.0
    row = analyze(data / "biden_2.jpg").to_frame().iloc[0]
    assert row["expression"] == "happiness" and row["AU12"] == pytest.approx(
        face.action_units["AU12"]
    )


def test_video_action_units_use_the_persons_own_neutral(data: Path) -> None:
    frames = _shaky_frames(load_image(data / "obama_2.jpg"), 32)  # PersonalNeutral: 30 frames
    options = AnalyzeOptions(expressions=False, quality=False)
    video = Analyzer(options).analyze_video(frames)
    still = analyze(data / "obama_2.jpg", options)[0].action_units
    last = video.frames[-1].faces[0].action_units
    assert still is not None and last is not None and set(last) == set(still)
    # the same face all along: relative to itself, every AU stays near zero
    assert max(last.values()) < 0.35 < max(still.values())


def test_tiny_faces_are_measured_or_explained_never_raise(data: Path) -> None:
    rgb = load_image(data / "biden_left_obama_right.jpg")
    small = cv2.resize(rgb, (rgb.shape[1] // 8, rgb.shape[0] // 8), interpolation=cv2.INTER_AREA)
    result = analyze(small)
    assert len(result) >= 1, "no face found: nothing was measured or explained"
    for face in result:
        assert face.mesh is not None or "mesh" in face.missing
        assert face.quality is not None
        if face.quality.eye_distance < 20:
            assert any("small" in reason for reason in face.quality.reasons)
