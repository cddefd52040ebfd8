"""The analysis table in py-feat's Fex names, and expression charts that cover no face."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facescope.analysis.analyzer import AnalyzeOptions, analyze
from facescope.analysis.au import ACTION_UNITS
from facescope.analysis.expression.labels import EXPRESSIONS
from facescope.analysis.plot import MIN_ROW, PANEL_GAP, draw_analysis, panel_layout
from facescope.analysis.pose import HeadPose
from facescope.analysis.result import (
    AU_COLUMNS,
    LANDMARK_COLUMNS,
    MESH_COLUMNS,
    FaceAnalysis,
    FrameAnalysis,
    VideoAnalysis,
    fex_au_name,
    save_table,
)

GEOMETRY_ONLY = AnalyzeOptions(expressions=False, action_units=False, quality=False)
#: py-feat's Fex columns for the measures facescope has (feat.utils: FEAT_FACEBOX_COLUMNS,
#: FEAT_FACEPOSE_COLUMNS, FEAT_EMOTION_COLUMNS, FEAT_TIME_COLUMNS, "input").
FEX = [
    *("FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight", "FaceScore"),
    *("Pitch", "Roll", "Yaw"),
    *("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"),
    *("input", "frame"),
]


def _face(index: int = 0, box=(10.0, 20.0, 110.0, 150.0), **kwargs) -> FaceAnalysis:
    rng = np.random.default_rng(index)
    defaults = {
        "landmarks5": np.zeros((5, 2), np.float32),
        "pose": HeadPose(12.5, -3.0, 4.25, np.eye(3), np.zeros(3), 0.01),
        "expressions": dict(zip(EXPRESSIONS, rng.dirichlet(np.ones(7)), strict=True)),
        "action_units": {name: 0.1 * k for k, name in enumerate(ACTION_UNITS)},
        "landmarks68": rng.uniform(0, 100, (68, 2)).astype(np.float32),
        "mesh": rng.uniform(0, 100, (478, 3)).astype(np.float32),
    }
    return FaceAnalysis(face=index, box=box, detector_score=0.93, **{**defaults, **kwargs})


def test_au_names_are_zero_padded_like_py_feat() -> None:
    assert fex_au_name("AU1") == "AU01" and fex_au_name("AU12") == "AU12"
    assert fex_au_name("AU43") == "AU43" and fex_au_name("valence") == "valence"
    assert AU_COLUMNS[:4] == ("AU01", "AU02", "AU04", "AU05")
    assert len(set(AU_COLUMNS)) == len(ACTION_UNITS)


def test_photo_rows_use_fex_names_with_input_and_frame_zero() -> None:
    face = _face()
    table = FrameAnalysis(640, 480, [face], source="photos/a.jpg").to_frame()
    assert set(FEX) <= set(table.columns)
    assert set(AU_COLUMNS) <= set(table.columns)
    assert not {"x1", "y1", "x2", "y2", "yaw", "pitch", "roll", "AU1", "detector_score"} & set(
        table.columns
    )
    row = table.iloc[0]
    assert row["input"] == "photos/a.jpg" and row["frame"] == 0 and row["face"] == 0
    assert (row["FaceRectX"], row["FaceRectY"]) == (10.0, 20.0)
    assert (row["FaceRectWidth"], row["FaceRectHeight"]) == (100.0, 130.0)
    assert row["FaceScore"] == pytest.approx(0.93)
    assert (row["Pitch"], row["Roll"], row["Yaw"]) == (-3.0, 4.25, 12.5)
    assert row["AU01"] == 0.0 and row["AU12"] == pytest.approx(
        face.action_units["AU12"]  # type: ignore[index]
    )
    assert row["happiness"] == pytest.approx(face.expressions["happiness"])  # type: ignore[index]
    # facescope's extras keep their names
    assert {"expression", "valence", "gaze_yaw", "ear_left", "mouth_open", "mesh_inside"} <= set(
        table.columns
    )
    assert {"missing", "time", "track"} <= set(table.columns)
    # identification first, then the box, pose, AUs and expressions in py-feat's order
    columns = list(table.columns)
    assert columns[:5] == ["input", "frame", "time", "face", "track"]
    assert columns.index("FaceScore") < columns.index("x_0") < columns.index("Pitch")
    assert columns.index("Yaw") < columns.index("AU01") < columns.index("anger")
    assert [c for c in columns if c in EXPRESSIONS] == list(EXPRESSIONS)


def test_json_keeps_facescope_names() -> None:
    document = _face().to_dict()
    assert {"x1", "y2", "yaw", "pitch", "roll", "detector_score", "AU1"} <= set(document)
    assert "Yaw" not in document and "FaceRectX" not in document


def test_landmark_and_mesh_columns_follow_fex_and_do_not_clash() -> None:
    face = _face()
    frame = FrameAnalysis(640, 480, [face, _face(1, landmarks68=None, mesh=None)])
    table = frame.to_frame(mesh_columns=True)
    assert set(LANDMARK_COLUMNS) <= set(table.columns) and set(MESH_COLUMNS) <= set(table.columns)
    assert not set(LANDMARK_COLUMNS) & set(MESH_COLUMNS)
    assert LANDMARK_COLUMNS[:2] == ("x_0", "x_1") and LANDMARK_COLUMNS[68] == "y_0"
    first, second = table.iloc[0], table.iloc[1]
    assert face.landmarks68 is not None and face.mesh is not None
    xs, ys = first[list(LANDMARK_COLUMNS[:68])], first[list(LANDMARK_COLUMNS[68:])]
    np.testing.assert_allclose(xs.to_numpy(float), face.landmarks68[:, 0], rtol=1e-6)
    np.testing.assert_allclose(ys.to_numpy(float), face.landmarks68[:, 1], rtol=1e-6)
    assert first["mesh_z_477"] == pytest.approx(float(face.mesh[477, 2]))
    assert second[list(LANDMARK_COLUMNS)].isna().all() and np.isnan(second["mesh_x_0"])
    # by default the 68 columns come with dlib's points and not without them
    assert "x_0" in frame.to_frame().columns
    plain = FrameAnalysis(640, 480, [_face(landmarks68=None)]).to_frame()
    assert "x_0" not in plain.columns and "mesh_x_0" not in plain.columns
    forced = FrameAnalysis(640, 480, [_face(landmarks68=None)]).to_frame(landmark_columns=True)
    assert forced[list(LANDMARK_COLUMNS)].isna().all(axis=None)
    assert "x_0" not in frame.to_frame(landmark_columns=False).columns


def test_video_rows_carry_the_video_path_and_frame_indices() -> None:
    frames = [
        FrameAnalysis(
            640,
            480,
            [_face(0, frame=index, time=index / 10, track=1, landmarks68=None)],
            frame=index,
            time=index / 10,
        )
        for index in (0, 3, 6)
    ]
    table = VideoAnalysis(frames, 10.0, {}, source="clips/talk.mp4").to_frame()
    assert table["input"].tolist() == ["clips/talk.mp4"] * 3
    assert table["frame"].tolist() == [0, 3, 6]
    assert table["time"].tolist() == pytest.approx([0.0, 0.3, 0.6])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_round_trip_keeps_the_fex_columns(tmp_path: Path, suffix: str) -> None:
    table = FrameAnalysis(640, 480, [_face(0), _face(1)], source="a.jpg").to_frame(
        mesh_columns=True
    )
    path = save_table(table, tmp_path / f"faces{suffix}")
    back = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    assert list(back.columns) == list(table.columns)
    numeric = [*FEX[:-2], *AU_COLUMNS, *LANDMARK_COLUMNS, "mesh_x_0", "mesh_z_477"]
    np.testing.assert_allclose(back[numeric].to_numpy(float), table[numeric].to_numpy(float))
    assert back["input"].tolist() == ["a.jpg", "a.jpg"] and back["frame"].tolist() == [0, 0]


def test_analysed_photo_has_its_path_and_dlib_columns(data: Path) -> None:
    path = data / "obama_1.jpg"
    result = analyze(path, GEOMETRY_ONLY, landmarks68=True)
    table = result.to_frame()
    face = result[0]
    assert table["input"].tolist() == [str(path)] * len(table)
    assert (table["frame"] == 0).all()
    assert face.pose is not None and table["Yaw"].iloc[0] == pytest.approx(face.pose.yaw)
    assert face.landmarks68 is not None
    np.testing.assert_allclose(
        table.loc[0, list(LANDMARK_COLUMNS)].to_numpy(float),
        face.landmarks68.T.reshape(-1),
        rtol=1e-6,
    )


# -- expression charts ------------------------------------------------------------------


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _check(layout, boxes, width: int, height: int) -> None:
    """Charts apart from each other and from every face, and on the canvas."""
    placed = [p for p in layout.panels if p is not None]
    for i, panel in enumerate(placed):
        assert 0 <= panel[0] < panel[2] <= layout.width
        assert 0 <= panel[1] < panel[3] <= layout.height
        assert panel[3] - panel[1] >= 7 * MIN_ROW
        for box in boxes:
            assert not _overlap(panel, box), (panel, box)
        for other in placed[i + 1 :]:
            assert not _overlap(panel, other), (panel, other)
    for panel, in_strip in zip(layout.panels, layout.in_strip, strict=True):
        if panel is not None and not in_strip:
            assert panel[2] <= width and panel[3] <= height
        if in_strip:
            assert panel is not None and panel[0] >= width


def _astronauts(tight: bool):
    from skimage import data

    one = data.astronaut()
    if tight:  # faces 59 px apart: no room between them for a chart
        one = one[:, 150:300]
    two = np.ascontiguousarray(np.concatenate([one, one], axis=1))
    offset = 0.0 if not tight else -150.0
    width = one.shape[1]
    # the boxes YuNet finds on the astronaut (179.5, 60.2, 270.6, 176.1)
    boxes = [
        (179.5 + offset, 60.2, 270.6 + offset, 176.1),
        (179.5 + offset + width, 60.2, 270.6 + offset + width, 176.1),
    ]
    return two, boxes


@pytest.mark.parametrize("tight", [False, True])
def test_two_faces_charts_cover_neither_face_nor_each_other(tight: bool) -> None:
    rgb, boxes = _astronauts(tight)
    height, width = rgb.shape[:2]
    layout = panel_layout(boxes, width, height)
    _check(layout, boxes, width, height)
    assert all(p is not None for p in layout.panels)
    assert (layout.width, layout.height) == (width, height), "room in the image: no strip"
    faces = [_face(i, box=box, landmarks68=None, mesh=None) for i, box in enumerate(boxes)]
    plain = draw_analysis(rgb, FrameAnalysis(width, height, faces), expressions=False)
    drawn = draw_analysis(rgb, FrameAnalysis(width, height, faces))
    assert drawn.shape == rgb.shape
    for x1, y1, x2, y2 in boxes:  # the charts leave the faces as they were
        inside = (slice(round(y1) + 3, round(y2) - 3), slice(round(x1) + 3, round(x2) - 3))
        assert np.array_equal(drawn[inside], plain[inside])
    for panel in layout.panels:
        assert panel is not None
        x1, y1, x2, y2 = panel
        assert not np.array_equal(drawn[y1:y2, x1:x2], plain[y1:y2, x1:x2])


def test_close_up_chart_goes_beside_the_picture() -> None:
    from skimage import data

    rgb = np.ascontiguousarray(data.astronaut()[50:190, 170:280])  # the face fills it
    height, width = rgb.shape[:2]
    box = (8.0, 6.0, 102.0, 128.0)
    layout = panel_layout([box], width, height)
    _check(layout, [box], width, height)
    assert layout.in_strip == [True] and layout.width > width
    face = _face(box=box, landmarks68=None, mesh=None)
    drawn = draw_analysis(rgb, FrameAnalysis(width, height, [face]))
    plain = draw_analysis(rgb, FrameAnalysis(width, height, [face]), expressions=False)
    assert drawn.shape == (layout.height, layout.width, 3)
    inside = (slice(10, 124), slice(12, 98))
    assert np.array_equal(drawn[inside], plain[inside])


def test_crowded_layouts_never_overlap() -> None:
    rng = np.random.default_rng(7)
    for _ in range(40):
        width, height = (int(v) for v in rng.integers(120, 900, 2))
        boxes = []
        for _ in range(int(rng.integers(1, 9))):
            side = float(rng.uniform(20, min(width, height) * 0.8))
            x1 = float(rng.uniform(0, width - side))
            y1 = float(rng.uniform(0, height - side))
            boxes.append((x1, y1, x1 + side, y1 + side * 1.2))
        wanted = [bool(w) for w in rng.integers(0, 2, len(boxes))]
        layout = panel_layout(boxes, width, height, wanted=wanted)
        _check(layout, boxes, width, height)
        assert [p is not None for p in layout.panels] == wanted
        placed = [p for p in layout.panels if p is not None]
        for i, a in enumerate(placed):  # and keep the gap between charts
            for b in placed[i + 1 :]:
                grown = (a[0] - PANEL_GAP, a[1] - PANEL_GAP, a[2] + PANEL_GAP, a[3] + PANEL_GAP)
                assert not _overlap(grown, b) or PANEL_GAP == 0
