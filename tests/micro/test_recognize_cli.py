"""``facescope micro train`` / ``micro predict`` (registered on a ``micro`` group)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

pytest.importorskip("torch", reason="the micro-expression network needs the torch extra")

from conftest import TESTDATA

from facescope.cli.micro_recognize import register
from facescope.micro.recognize import read_meta
from facescope.micro.recognize.synth import write_casme2

runner = CliRunner()
VIDEO = TESTDATA / "video" / "talking_head_1.mp4"
QUICK = ["--crop", "none", "--size", "32", "--frames", "6", "--flow", "dis", "--no-landmarks",
         "--steps", "12", "--width", "8"]  # fmt: skip


def _app() -> typer.Typer:
    micro = typer.Typer(no_args_is_help=True)
    register(micro)
    app = typer.Typer()
    app.add_typer(micro, name="micro")
    return app


APP = _app()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import torch

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("micro-cli")
    root = write_casme2(tmp / "casme2", subjects=3, per_class=2, size=40, frames=8)
    weights = tmp / "w.npz"
    result = runner.invoke(APP, ["micro", "train", str(root), "--format", "casme2", "--out",
                                 str(weights), *QUICK, "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["weights"] == str(weights)
    assert done["dataset"]["clips"] == 18 and done["dataset"]["subjects"] == 3
    assert done["training"]["config"]["steps"] == 12 and done["loso"] is None
    assert set(done["training"]["last"]) == {"step", "loss", "mer", "flow", "landmarks",
                                             "accuracy"}  # fmt: skip
    return root, weights


def test_register_adds_train_and_predict() -> None:
    group = typer.Typer()
    register(group)
    assert sorted(c.name or "" for c in group.registered_commands) == ["predict", "train"]


def test_train_writes_weights_with_provenance(trained: tuple[Path, Path]) -> None:
    _, weights = trained
    meta = read_meta(weights)
    assert meta["classes"] == ["negative", "positive", "surprise"]
    assert meta["architecture"]["input"] == {"size": 32, "frames": 6, "colour": "grey",
                                             "crop": "none"}  # fmt: skip
    assert meta["training"]["flow_target"] == "dis"
    assert meta["training"]["dataset"]["format"] == "casme2"
    assert meta["training"]["history"][-1]["step"] == 12


def test_predict_a_frame_folder(trained: tuple[Path, Path]) -> None:
    root, weights = trained
    clip = root / "sub01" / "EP01_1"
    result = runner.invoke(APP, ["micro", "predict", str(clip), "--weights", str(weights),
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["label"] in ("negative", "positive", "surprise")
    assert sum(done["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert done["frames"] == [0, 3, 5, 8, 10, 13] and done["clip_frames"] == 14
    assert done["crop"] == "none" and done["face_box"] is None
    spanned = runner.invoke(APP, ["micro", "predict", str(clip), "--weights", str(weights),
                                  "--start", "3", "--end", "10", "--json"])  # fmt: skip
    assert json.loads(spanned.stdout)["frames"][0] == 3
    text = runner.invoke(APP, ["micro", "predict", str(clip), "--weights", str(weights)])
    assert text.exit_code == 0 and "probability" in text.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.stdout)


def test_bad_input_is_one_line_and_an_exit_status(trained: tuple[Path, Path],
                                                  tmp_path: Path) -> None:  # fmt: skip
    root, weights = trained

    def fails(*args: str, status: int = 2) -> str:
        result = runner.invoke(APP, ["micro", *args, "--json"])
        assert result.exit_code == status, result.output
        assert result.stdout == "" and "Traceback" not in result.output
        return result.stderr

    out = str(tmp_path / "x.npz")
    assert "no dataset folder" in fails("train", str(tmp_path / "nope"), "--out", out)
    assert "unknown dataset layout" in fails("train", str(root), "--format", "megc", "--out", out)
    assert "no 5-class" in fails("train", str(root), "--format", "smic", "--classes", "5",
                                 "--out", out)  # fmt: skip
    assert "no usable smic clip" in fails("train", str(root), "--format", "smic", "--out", out)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"junk")
    clip = str(root / "sub01" / "EP01_1")
    assert "not a micro-expression weights file" in fails("predict", clip, "--weights", str(junk))
    assert "no weights file" in fails("predict", clip, "--weights", str(tmp_path / "no.npz"))
    assert "no such video" in fails("predict", str(tmp_path / "v.mp4"), "--weights", str(weights))
    # a video without a face: exit status 3 (no face), not a crash
    video = tmp_path / "noise.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (96, 96))
    rng = np.random.default_rng(0)
    for _ in range(10):
        writer.write(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8))
    writer.release()
    assert "no face" in fails("predict", str(video), "--weights", str(weights), "--crop",
                              "detect", status=3)  # fmt: skip


@pytest.mark.skipif(not VIDEO.is_file(), reason=f"needs the shared test video {VIDEO}")
def test_predict_a_real_video_with_face_detection(trained: tuple[Path, Path]) -> None:
    _, weights = trained
    result = runner.invoke(APP, ["micro", "predict", str(VIDEO), "--weights", str(weights),
                                 "--crop", "detect", "--end", "24", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["crop"] == "detect" and done["clip_frames"] == 25
    x1, y1, x2, y2 = done["face_box"]
    assert 0 < x2 - x1 < 512 and 0 < y2 - y1 < 512
