"""Micro-expression recognition: dataset layouts, annotation sheets, class schemes, metrics."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import TESTDATA

from facescope.micro.recognize import MicroRecognitionError, load_dataset, read_sheet, scores
from facescope.micro.recognize.labels import class_names, map_emotion
from facescope.micro.recognize.preprocess import InputConfig, read_clip, sample_indices


def _frames(folder: Path, numbers: range, stem: str = "img") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        image = np.full((20, 20, 3), n % 250, np.uint8)
        cv2.imwrite(str(folder / f"{stem}{n}.png"), image)


def _sheet(path: Path, header: list[str], rows: list[list[object]], title: int = 0) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        for k in range(title):
            writer.writerow([f"SAMM title row {k}"])
        writer.writerow(header)
        writer.writerows(rows)
    return path


CASME_HEADER = ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame",
                "Action Units", "Estimated Emotion"]  # fmt: skip


def test_the_standard_class_mappings() -> None:
    assert class_names("casme2", "3") == ("negative", "positive", "surprise")
    assert class_names("casme2", "5") == ("happiness", "surprise", "disgust", "repression",
                                          "others")  # fmt: skip
    assert class_names("samm", "5") == ("anger", "contempt", "happiness", "surprise", "other")
    assert map_emotion("casme2", "Repression", "3") == "negative"
    assert map_emotion("casme2", "happiness", "3") == "positive"
    assert map_emotion("samm", "Contempt", "3") == "negative"
    assert map_emotion("casme2", "others", "3") is None  # left out of the composite classes
    assert map_emotion("casme2", "others", "5") == "others"
    assert map_emotion("casme2", "sadness", "5") is None
    assert map_emotion("samm", "Other", "5") == "other"
    assert map_emotion("samm", "Disgust", "5") is None
    with pytest.raises(MicroRecognitionError, match="no 5-class"):
        class_names("smic", "5")
    with pytest.raises(MicroRecognitionError, match="unknown dataset layout"):
        class_names("megc", "3")
    with pytest.raises(MicroRecognitionError, match="class scheme"):
        class_names("casme2", "7")


def test_casme2_sheet_frames_between_onset_and_offset(tmp_path: Path) -> None:
    _frames(tmp_path / "sub01" / "EP02_01f", range(40, 61))
    _frames(tmp_path / "sub11" / "EP03_02", range(1, 9), stem="reg_img")
    _sheet(tmp_path / "CASME2-coding-20140508.csv", CASME_HEADER, [
        ["01", "EP02_01f", 46, 50, 55, "AU1", "happiness"],
        ["11", "EP03_02", 2, "/", 0, "AU4", "disgust"],  # no apex, offset 0: to the end
        ["1", "EP09_09", 1, 2, 3, "AU4", "others"],  # left out in 3 classes
        ["02", "EP01_01", 1, 2, 3, "AU4", "surprise"],  # no such folder
    ])  # fmt: skip
    data = load_dataset(tmp_path, "casme2")
    assert data.annotations is not None and data.annotations.name.startswith("CASME2-coding")
    assert [c.name for c in data.clips] == ["EP02_01f", "EP03_02"]
    first, second = data.clips
    assert first.subject == "sub01" and first.label == "positive" and first.apex == 50
    assert [p.name for p in first.frames] == [f"img{n}.png" for n in range(46, 56)]
    assert second.subject == "sub11" and second.label == "negative" and second.apex is None
    assert [p.name for p in second.frames] == [f"reg_img{n}.png" for n in range(2, 9)]
    assert data.left_out == 1
    assert data.skipped == (("02/EP01_01", "no frame folder found"),)
    assert data.to_dict()["per_class"] == {"negative": 1, "positive": 1, "surprise": 0}


def test_samm_sheet_with_title_rows_and_5_classes(tmp_path: Path) -> None:
    _frames(tmp_path / "006" / "006_1_2", range(5560, 5570), stem="006_0")
    _frames(tmp_path / "007" / "007_3_1", range(100, 106), stem="007_")
    header = [
        "Subject",
        "Filename",
        "Inducement Code",
        "Onset Frame",
        "Apex Frame",
        "Offset Frame",
        "Duration",
        "Type",
        "Action Units",
        "Notes",
        "Estimated Emotion",
    ]
    rows = [
        ["006", "006_1_2", 1, 5562, 5565, 5568, 7, "Micro - 1/2", "4", "", "Anger"],
        ["7", "007_3_1", 3, 100, 102, 105, 6, "Micro - 1/2", "12", "", "Happiness"],
    ]
    _sheet(tmp_path / "SAMM_Micro_FACS_Codes_v2.csv", header, rows, title=12)  # fmt: skip
    data = load_dataset(tmp_path, "samm", scheme="5")
    assert data.classes == ("anger", "contempt", "happiness", "surprise", "other")
    assert [(c.subject, c.label, len(c.frames)) for c in data.clips] == [
        ("006", "anger", 7), ("007", "happiness", 6)]  # fmt: skip


def test_smic_folder_layout(tmp_path: Path) -> None:
    for subject in ("s1", "s2"):
        for emotion, short in (("positive", "po"), ("negative", "ne"), ("surprise", "sur")):
            _frames(tmp_path / "HS" / subject / "micro" / emotion / f"{subject}_{short}_01",
                    range(1, 5), stem="image")  # fmt: skip
    _frames(tmp_path / "HS" / "s1" / "micro" / "positive" / "s1_po_02", range(1, 2))
    data = load_dataset(tmp_path, "smic")
    assert data.subjects == ("s1", "s2")
    assert len(data.clips) == 6
    assert {c.label for c in data.clips} == {"negative", "positive", "surprise"}
    assert data.skipped == (("s1/s1_po_02", "fewer than 2 frames"),)
    assert load_dataset(tmp_path / "HS", "smic").subjects == ("s1", "s2")


def test_bad_datasets_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(MicroRecognitionError, match="no dataset folder"):
        load_dataset(tmp_path / "missing", "casme2")
    with pytest.raises(MicroRecognitionError, match="unknown dataset layout"):
        load_dataset(tmp_path, "casme3")
    with pytest.raises(MicroRecognitionError, match="annotation sheet"):
        load_dataset(tmp_path, "casme2")
    sheet = _sheet(tmp_path / "CASME2-coding-x.csv", ["Subject", "Filename", "OnsetFrame"], [])
    with pytest.raises(MicroRecognitionError, match="offsetframe, estimatedemotion"):
        load_dataset(tmp_path, "casme2")
    sheet.write_text("just,some\nwords,here\n")
    with pytest.raises(MicroRecognitionError, match="no header row"):
        read_sheet(sheet)
    xlsx = tmp_path / "CASME2-coding-y.xlsx"
    xlsx.write_bytes(b"not a workbook")
    with pytest.raises(MicroRecognitionError, match=r"openpyxl|Excel sheet"):
        read_sheet(xlsx)
    _sheet(sheet, CASME_HEADER, [["01", "EP01", 1, 2, 3, "", "happiness"]])
    with pytest.raises(MicroRecognitionError, match="no usable casme2 clip"):
        load_dataset(tmp_path, "casme2")


def test_uniform_sampling_and_clip_reading(tmp_path: Path) -> None:
    assert sample_indices(10, 4) == [0, 3, 6, 9]
    assert sample_indices(3, 5) == [0, 0, 1, 2, 2]
    _frames(tmp_path / "clip", range(1, 21))
    frames, indices, count = read_clip(tmp_path / "clip", 5, start=4, end=12)
    assert count == 9 and indices == (4, 6, 8, 10, 12) and frames[0].shape == (20, 20, 3)
    assert int(frames[0][0, 0, 0]) == 5  # img5.png is the 5th frame, index 4
    with pytest.raises(MicroRecognitionError, match="no such video or frame folder"):
        read_clip(tmp_path / "nope.mp4", 4)
    with pytest.raises(MicroRecognitionError, match="one image"):
        read_clip(tmp_path / "clip" / "img1.png", 4)
    with pytest.raises(MicroRecognitionError, match="no frames between"):
        read_clip(tmp_path / "clip", 4, start=50)
    with pytest.raises(MicroRecognitionError, match="multiple of 4"):
        InputConfig(size=30)


def test_uf1_uar_accuracy() -> None:
    truth = [0, 0, 0, 1, 1, 2]
    guess = [0, 0, 1, 1, 2, 2]
    s = scores(truth, guess, ("a", "b", "c"))
    # per class F1: a 2*2/(4+0+1)=0.8, b 2*1/(2+1+1)=0.5, c 2*1/(2+1+0)=2/3
    assert s.uf1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert s.uar == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert s.accuracy == pytest.approx(4 / 6)
    assert s.confusion == ((2, 1, 0), (0, 1, 1), (0, 0, 1))
    absent = scores([0, 0], [0, 1], ("a", "b", "c"))  # b and c never true: left out
    assert absent.uar == pytest.approx(0.5) and absent.f1[1:] == (None, None)
    with pytest.raises(MicroRecognitionError):
        scores([0, 3], [0, 0], ("a", "b", "c"))


VIDEO = TESTDATA / "video" / "talking_head_1.mp4"


@pytest.mark.skipif(not VIDEO.is_file(), reason=f"needs the shared test video {VIDEO}")
def test_face_crops_and_landmark_targets_on_a_real_video() -> None:
    from facescope.micro.recognize.preprocess import crop_clip, flow_targets

    frames, indices, count = read_clip(VIDEO, 4, end=12)
    assert indices == (0, 4, 8, 12) and count == 13
    crops, points, box = crop_clip(frames, InputConfig(size=64, frames=4), landmarks=True)
    assert crops.shape == (4, 64, 64, 1) and points is not None and box is not None
    assert not np.isnan(points).any()
    eyes = points[:, 36:48].mean(1)  # the eyes lie in the upper middle of the aligned crop
    assert bool(((eyes[:, 1] > 0.2) & (eyes[:, 1] < 0.6)).all())
    assert flow_targets(crops, "dis").shape == (3, 2, 32, 32)
    # the same faces as tight crops (a dataset's cropped release): landmarks still found
    x1, y1, x2, y2 = (round(v) for v in box)
    tight = [np.ascontiguousarray(f[max(0, y1) : y2, max(0, x1) : x2]) for f in frames]
    _, tight_points, tight_box = crop_clip(tight, InputConfig(size=64, frames=4, crop="none"),
                                           landmarks=True)  # fmt: skip
    assert tight_box is None and tight_points is not None
    assert float(np.abs(tight_points - points).max()) < 0.1
