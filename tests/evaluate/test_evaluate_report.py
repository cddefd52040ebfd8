"""evaluate(): failures counted, cached re-runs, HTML reports; `facescope eval` commands."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from facescope.cli import app
from facescope.evaluate.cache import EmbeddingCache
from facescope.evaluate.datasets import load_dataset
from facescope.evaluate.run import evaluate

runner = CliRunner()


def _tree(data: Path, root: Path) -> Path:
    """obama/ and biden/ with two portraits each, and a 'ghost' whose photo has no face."""
    for name, files in (
        ("obama", ["obama_1.jpg", "obama_2.jpg"]),
        ("biden", ["biden_1.jpg", "biden_2.jpg"]),
    ):
        (root / name).mkdir(parents=True)
        for file in files:
            shutil.copy(data / file, root / name / file)
    (root / "ghost").mkdir()
    Image.new("RGB", (160, 120), (128, 128, 128)).save(root / "ghost" / "blank_1.png")
    Image.new("RGB", (160, 120), (90, 90, 90)).save(root / "ghost" / "blank_2.png")
    return root


def test_failures_are_counted_as_non_matches(data: Path, tmp_path: Path) -> None:
    dataset = load_dataset(_tree(data, tmp_path / "people"))
    cache = EmbeddingCache(tmp_path / "cache.sqlite3")
    ev = evaluate(dataset, models=["sface"], n_boot=20, cache=cache, identification=False)
    assert ev.n_images == 6 and ev.fta == pytest.approx(2 / 6)
    assert len(ev.failures) == 2
    assert ev.n_genuine == 3 and ev.n_impostor == 12
    result = ev.results["sface"]
    # the ghost's genuine pair has no face: a false non-match at every threshold
    assert len(result.genuine) == 2 and len(result.impostor) == 4  # obama x biden
    v = result.verification
    assert v is not None and v.n_genuine == 3
    assert v.tar_at_far[0.01] <= 2 / 3 + 1e-9
    again = evaluate(dataset, models=["sface"], n_boot=20, cache=cache, identification=False)
    assert again.results["sface"].verification.eer == v.eer  # type: ignore[union-attr]


@pytest.mark.slow
def test_report_is_self_contained_html_with_json(data: Path, tmp_path: Path) -> None:
    dataset = load_dataset(_tree(data, tmp_path / "people"))
    cache = EmbeddingCache(tmp_path / "cache.sqlite3")
    ev = evaluate(dataset, models=["sface", "dlib", "fusion"], n_boot=20, cache=cache)
    page = ev.report(tmp_path / "report")
    text = page.read_text()
    assert text.count("data:image/png;base64,") >= 4
    assert "src='http" not in text and 'src="http' not in text
    assert "Failures to acquire" in text and "blank_1.png" in text
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    models = metrics["evaluations"][0]["models"]
    assert set(models) == {"sface", "dlib", "fusion"}
    assert models["sface"]["identification"] is not None


@pytest.mark.slow
def test_eval_cli_verify_and_pad(data: Path, tmp_path: Path) -> None:
    root = _tree(data, tmp_path / "people")
    result = runner.invoke(
        app,
        ["eval", "verify", str(root), "-m", "sface", "--boot", "10", "--report",
         str(tmp_path / "r"), "--cache", str(tmp_path / "c.sqlite3"), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document[0]["failure_to_acquire"]["rate"] == pytest.approx(1 / 3)
    assert (tmp_path / "r" / "index.html").is_file()

    scores = tmp_path / "pad.csv"
    rows = [(0.9, 0, ""), (0.8, 0, ""), (0.3, 0, ""), (0.6, 1, "print"), (0.1, 1, "print"),
            (0.2, 1, "replay"), (0.05, 1, "replay")]  # fmt: skip
    with scores.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["score", "attack", "species"])
        writer.writerows(rows)
    result = runner.invoke(
        app, ["eval", "pad", str(scores), "--json", "--report", str(tmp_path / "p")]
    )
    assert result.exit_code == 0, result.stderr
    pad = json.loads(result.stdout)
    assert pad["apcer_per_species"] == {"print": 0.5, "replay": 0.0}
    assert pad["bpcer"] == pytest.approx(1 / 3)
    assert pad["acer"] == pytest.approx((0.5 + 1 / 3) / 2)

    bad = runner.invoke(app, ["eval", "verify", str(tmp_path / "nowhere")])
    assert bad.exit_code == 2 and "nowhere" in bad.stderr


@pytest.mark.slow
def test_calibration_set_reproduces_the_bundled_figures(celebrities: Path, tmp_path: Path) -> None:
    dataset = load_dataset(celebrities)
    ev = evaluate(
        dataset, models=["sface"], n_boot=50, cache=EmbeddingCache(tmp_path / "c.sqlite3")
    )
    v = ev.results["sface"].verification
    assert v is not None and ev.fta == 0.0
    assert v.eer == pytest.approx(0.0337, abs=0.002)  # README: sface EER 3.37%
    assert 1 - v.tar_at_far[1e-3] == pytest.approx(0.1198, abs=0.005)  # FNMR at FMR 1e-3
    low, high = v.ci["eer"]
    assert low < v.eer < high
    ident = ev.results["sface"].identification
    assert ident is not None and ident.rank_k[1] > 0.8
    assert np.all(np.diff(ident.cmc) >= 0)


def test_eval_pad_bad_csv_is_one_line(tmp_path: Path) -> None:
    no_column = tmp_path / "a.csv"
    no_column.write_text("value,attack\n0.3,1\n")
    result = runner.invoke(app, ["eval", "pad", str(no_column)])
    assert result.exit_code == 2 and "missing column(s) score" in result.stderr
    bad_number = tmp_path / "b.csv"
    bad_number.write_text("score,attack\n0.3,1\nhigh,0\n")
    result = runner.invoke(app, ["eval", "pad", str(bad_number)])
    assert result.exit_code == 2 and "b.csv:3" in result.stderr and "not a number" in result.stderr
    result = runner.invoke(app, ["eval", "pad", str(tmp_path / "none.csv")])
    assert result.exit_code == 2 and "none.csv" in result.stderr


def test_report_reads_well_shows_shipped_thresholds_and_flags_duplicates(
    data: Path, tmp_path: Path
) -> None:
    """Issue 28: readable settings, FMR/FNMR at the shipped thresholds, duplicate files."""
    from facescope.evaluate.report_builder import settings_text
    from facescope.evaluate.run import rates_at
    from facescope.match.thresholds import load_calibration

    root = _tree(data, tmp_path / "people")
    shutil.copy(root / "obama" / "obama_1.jpg", root / "obama" / "obama_1_copy.jpg")
    shutil.copy(root / "biden" / "biden_1.jpg", root / "obama" / "mislabelled.jpg")
    dataset = load_dataset(root)
    ev = evaluate(dataset, models=["sface"], n_boot=0, cache=EmbeddingCache(tmp_path / "c"))
    assert sorted(map(sorted, ev.duplicates)) == [
        ["biden/biden_1.jpg", "obama/mislabelled.jpg"],
        ["obama/obama_1.jpg", "obama/obama_1_copy.jpg"],
    ]
    result = ev.results["sface"]
    shipped = load_calibration().for_model("sface")
    points = {p["fmr_target"]: p for p in result.at_shipped}
    assert 1e-3 in points and points[1e-3]["threshold"] == pytest.approx(shipped.threshold(1e-3))
    # the same rates, recomputed from the scores (failures count as non-matches)
    v = result.verification
    assert v is not None
    gen = np.concatenate([result.genuine, np.full(v.n_genuine - len(result.genuine), -1e6)])
    fmr, fnmr = rates_at(gen, result.impostor, points[1e-3]["threshold"])
    assert (points[1e-3]["fmr"], points[1e-3]["fnmr"]) == pytest.approx(
        (fmr * len(result.impostor) / v.n_impostor, fnmr)
    )
    # the mislabelled copy is an impostor pair that matches perfectly
    assert points[1e-3]["fmr"] > 0
    text = ev.report(tmp_path / "report").read_text()
    assert "Settings: FMR targets 0.01, 0.001, 0.0001" in text and "{'" not in text
    assert "At the thresholds a deployment uses" in text and "measured FMR" in text
    assert "Duplicate images" in text and "mislabelled.jpg" in text
    assert "one image of each of" in text and "the rest failed to enrol" not in text
    assert settings_text({"fmr_targets": [1e-3], "bootstrap": 0, "seed": 1}).startswith(
        "FMR targets 0.001; no bootstrap intervals; seed 1"
    )
    shown = runner.invoke(app, ["eval", "verify", str(root), "-m", "sface", "--boot", "0"])
    assert shown.exit_code == 0, shown.stderr
    assert "at the shipped thresholds" in shown.stdout and "duplicate:" in shown.stdout
