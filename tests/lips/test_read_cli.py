"""``facescope lips train`` / ``lips predict`` (registered on a ``lips`` group)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

pytest.importorskip("torch", reason="the lip-reading network needs the torch extra")

from facescope.cli.lips_read import register
from facescope.lips.read import read_meta
from facescope.lips.read.synth import write_lrw, write_npz_dataset

runner = CliRunner()
QUICK = ["--frames", "8", "--size", "32", "--width", "4", "--hidden", "16", "--steps", "4",
         "--batch", "4"]  # fmt: skip


def _app() -> typer.Typer:
    lips = typer.Typer(no_args_is_help=True)
    register(lips)
    app = typer.Typer()
    app.add_typer(lips, name="lips")
    return app


APP = _app()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import torch

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("lips-cli")
    root = write_npz_dataset(tmp / "npz", speakers=2, per_speaker=1, words=("ba", "oo", "ee"))
    weights = tmp / "w.npz"
    result = runner.invoke(APP, ["lips", "train", str(root), "--format", "npz", "--out",
                                 str(weights), *QUICK, "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["weights"] == str(weights)
    assert done["dataset"]["samples"] == 6 and done["dataset"]["words"] == 3
    assert done["split"] == {"train": 3, "test": 3,
                             "how": "speaker-independent: held out spk1"}  # fmt: skip
    assert done["test"]["samples"] == 3 and 0 <= done["test"]["top1"] <= 1
    assert set(done["training"]["last"]) == {"step", "loss", "words", "graph", "align",
                                             "accuracy"}  # fmt: skip
    return root, weights


def test_register_adds_train_and_predict() -> None:
    group = typer.Typer()
    register(group)
    assert sorted(c.name or "" for c in group.registered_commands) == ["predict", "train"]


def test_train_writes_weights_with_provenance(trained: tuple[Path, Path]) -> None:
    _, weights = trained
    meta = read_meta(weights)
    assert meta["vocabulary"] == ["ba", "ee", "oo"]
    assert meta["architecture"]["frames"] == 8 and meta["architecture"]["size"] == 32
    assert meta["training"]["dataset"]["format"] == "npz"
    assert meta["training"]["command"].startswith("facescope ")
    assert meta["training"]["history"][-1]["step"] == 4


def test_predict_a_track_file(trained: tuple[Path, Path]) -> None:
    root, weights = trained
    track = root / "oo" / "spk1_0.npz"
    result = runner.invoke(APP, ["lips", "predict", str(track), "--weights", str(weights),
                                 "--top", "2", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["word"] in ("ba", "ee", "oo") and len(done["top"]) == 2
    assert done["top"][0]["word"] == done["word"]
    assert done["confidence"] == pytest.approx(done["top"][0]["probability"])
    text = runner.invoke(APP, ["lips", "predict", str(track), "--weights", str(weights)])
    assert text.exit_code == 0 and "probability" in text.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.stdout)


def test_bad_input_is_one_line_and_an_exit_status(trained: tuple[Path, Path],
                                                  tmp_path: Path) -> None:  # fmt: skip
    root, weights = trained

    def fails(*args: str) -> str:
        result = runner.invoke(APP, ["lips", *args, "--json"])
        assert result.exit_code == 2, result.output
        assert result.stdout == "" and "Traceback" not in result.output
        return result.stderr

    out = str(tmp_path / "x.npz")
    assert "no dataset folder" in fails("train", str(tmp_path / "nope"), "--out", out)
    assert "unknown dataset layout" in fails("train", str(root), "--format", "lrs2", "--out", out)
    assert "no usable grid samples" in fails("train", str(root), "--format", "grid", "--out", out)
    assert "multiple of 8" in fails("train", str(root), "--out", out, "--size", "30")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"junk")
    track = str(root / "ba" / "spk0_0.npz")
    assert "not a lip-reading weights file" in fails("predict", track, "--weights", str(junk))
    assert "no weights file" in fails("predict", track, "--weights", str(tmp_path / "no.npz"))
    assert "no such video" in fails("predict", str(tmp_path / "v.mp4"), "--weights", str(weights))
    assert "select no frame" in fails("predict", track, "--weights", str(weights), "--start", "99")
    odd = tmp_path / "odd.npz"
    np.savez(odd, crops=np.zeros((5, 88, 88), np.uint8), lips=np.zeros((5, 7, 3), np.float32))
    assert "20 landmarks" in fails("predict", str(odd), "--weights", str(weights))


def test_lrw_layout_trains_on_train_and_scores_test(tmp_path: Path) -> None:
    root = write_lrw(tmp_path / "lrw", words=("ba", "oo"), per_split=1)
    result = runner.invoke(APP, ["lips", "train", str(root), "--format", "lrw", "--out",
                                 str(tmp_path / "w.npz"), *QUICK, "--no-augment",
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["split"]["train"] == 2 and done["split"]["test"] == 2
    assert "LRW has no speaker ids" in done["split"]["how"]


@pytest.mark.slow  # extracts the whole 216-frame video (~10-16 s here)
def test_predict_a_real_video_extracts_its_mouth(tmp_path: Path) -> None:
    """A video goes through ``facescope.lips`` (mesh, 88x88 crops, 57 mesh points)."""
    from conftest import TESTDATA

    from facescope.lips.mouth import LANDMARK_POINTS
    from facescope.lips.read import NetConfig, build_network, save_weights

    video = TESTDATA / "video" / "talking_head_1.mp4"
    if not video.is_file():
        pytest.skip(f"needs the shared test video {video}")
    angles = np.linspace(0, 2 * np.pi, len(LANDMARK_POINTS), endpoint=False)
    template = tuple((float(np.cos(a)), float(np.sin(a))) for a in angles)
    config = NetConfig(("hello", "world"), template, frames=8, size=32, width=4, hidden=16,
                       mesh_points=tuple(LANDMARK_POINTS))  # fmt: skip
    weights = save_weights(build_network(config).eval(), config, tmp_path / "w.npz", {})
    result = runner.invoke(APP, ["lips", "predict", str(video), "--weights", str(weights),
                                 "--end", "28", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["frames"] == 29 and done["word"] in ("hello", "world")
    assert sum(t["probability"] for t in done["top"]) == pytest.approx(1.0, abs=1e-4)
