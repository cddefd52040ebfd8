"""The trainable path: synthetic per-person feature files, schemas, subject-independent CV."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from facescope.cli import app
from facescope.engagement import EngagementError
from facescope.engagement.training import (
    EngagementClassifier,
    FeatureSchema,
    load_features,
    load_schema,
    person_folds,
    train_engagement,
)
from facescope.engagement.windows import FEATURES, WindowFeatures

runner = CliRunner()

SCHEMA_TOML = """
person = "participant"
label = "engaged"
id = "sample"
time = "t"
context = ["addressed"]
positive = "1"

[features]
gaze_screen_share = "gaze_on_target"
pose_std = "head_pose_std"
au12_r = "AU12"
"""


def _synthetic(root: Path, persons: int = 12, samples: int = 30, seed: int = 0) -> list[Path]:
    """One feature file per person, as a data set releasing per-frame features would.

    Each sample (5 frames) has a binary label; engaged samples look at the screen
    more and hold the head stiller. Each person has an offset of their own (a
    different camera, a different face), so a split by frame would leak it.
    """
    rng = np.random.default_rng(seed)
    files = []
    for p in range(persons):
        offset = rng.normal(0, 0.08)
        rows = []
        for s in range(samples):
            engaged = int(rng.random() < 0.5)
            addressed = rng.choice(["group", "individual"])
            for frame in range(5):
                rows.append(
                    {
                        "participant": f"P{p:02d}",
                        "sample": f"P{p:02d}-{s:03d}",
                        "t": s * 5.0 + frame,
                        "engaged": engaged,
                        "addressed": addressed,
                        "gaze_screen_share": np.clip(
                            0.35 + 0.35 * engaged + offset + rng.normal(0, 0.12), 0, 1
                        ),
                        "pose_std": abs(9 - 4 * engaged + 10 * offset + rng.normal(0, 2)),
                        "au12_r": abs(rng.normal(0.3, 0.2)),
                        "unused": rng.normal(),
                    }
                )
        path = root / f"P{p:02d}.csv"
        pd.DataFrame(rows).to_csv(path, index=False)
        files.append(path)
    return files


@pytest.fixture(scope="module")
def feature_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("features")
    files = _synthetic(root)
    combined = root / "all.csv"
    pd.concat([pd.read_csv(f) for f in files]).to_csv(combined, index=False)
    return combined


@pytest.fixture(scope="module")
def schema_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schema") / "open.toml"
    path.write_text(SCHEMA_TOML)
    return path


def test_the_schema_maps_columns_onto_our_features(feature_file: Path, schema_file: Path) -> None:
    data = load_features(feature_file, load_schema(schema_file))
    assert len(data) == 12 * 30  # frames averaged into samples by id
    assert data.feature_names == (
        "gaze_on_target",
        "head_pose_std",
        "AU12",
        "context.addressed=group",
        "context.addressed=individual",
    )
    assert data.classes == ("0", "1")  # positive last
    assert len(set(data.persons.tolist())) == 12
    assert set(data.x[:, 3] + data.x[:, 4]) == {1.0}  # one-hot context
    raw = pd.read_csv(feature_file)
    first = raw[raw["sample"] == data.ids[0]]
    assert data.x[0, 0] == pytest.approx(first["gaze_screen_share"].mean())
    assert data.times[0] == first["t"].min()


def test_subject_independent_cv_is_well_above_chance(
    feature_file: Path, schema_file: Path, tmp_path: Path
) -> None:
    data = load_features(feature_file, load_schema(schema_file))
    classifier, report = train_engagement(data, folds=4, out=tmp_path / "head.json")
    assert report.persons == 12 and len(report.folds) == 4
    assert report.chance < 0.6
    assert report.accuracy > 0.8 and report.balanced_accuracy > 0.8 and report.auc > 0.88
    held_out = [set(fold["persons"]) for fold in report.folds]
    assert set().union(*held_out) == set(data.persons.tolist())
    assert sum(len(h) for h in held_out) == 12  # each person held out exactly once
    # the head file round-trips (JSON, never a pickle) and predicts the same
    loaded = EngagementClassifier.load(tmp_path / "head.json")
    document = json.loads((tmp_path / "head.json").read_text())
    assert document["format"] == "facescope-head/1"
    assert document["provenance"]["metrics"]["accuracy"] == pytest.approx(report.accuracy, abs=1e-4)
    assert document["provenance"]["engagement_schema"]["person"] == "participant"
    assert loaded.features == classifier.features and loaded.classes == ("0", "1")
    rows = [dict(zip(data.feature_names, row, strict=True)) for row in data.x[:20]]
    contextless = [{k: v for k, v in r.items() if not k.startswith("context.")} for r in rows]
    context = {"addressed": "group"}
    np.testing.assert_allclose(
        loaded.predict_proba(contextless, context), classifier.predict_proba(contextless, context)
    )
    with pytest.raises(EngagementError, match="context 'addressed'"):
        loaded.predict_proba(contextless)


def test_folds_never_split_a_person() -> None:
    persons = np.repeat([f"p{i}" for i in range(7)], 5)
    folds = person_folds(persons, 3, seed=1)
    assert len(folds) == 3
    for train, test in folds:
        assert not set(persons[train]) & set(persons[test])
    assert sorted(np.concatenate([test for _, test in folds]).tolist()) == list(range(35))
    with pytest.raises(EngagementError, match="two persons"):
        person_folds(["a", "a", "a"], 3)


def test_a_head_trained_on_our_features_scores_our_windows(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rows = []
    for person in range(6):
        for k in range(20):
            engaged = k % 2
            row = dict.fromkeys(FEATURES, math.nan)
            row.update(presence=1.0, gaze_on_target=0.3 + 0.6 * engaged + rng.normal(0, 0.1),
                       head_stability=0.6 + 0.3 * engaged + rng.normal(0, 0.05),
                       speaking=rng.random())  # fmt: skip
            rows.append({"track": 1, "start": 5.0 * k, "person": f"s{person}", "label": engaged,
                         **row})  # fmt: skip
    path = tmp_path / "ours.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    data = load_features(path)  # the native schema: our column names
    assert "gaze_on_target" in data.feature_names and "track" not in data.feature_names
    classifier, report = train_engagement(data, folds=3)
    assert report.accuracy > 0.85
    values = {**dict.fromkeys(FEATURES, math.nan), "presence": 1.0, "speaking": 0.5}
    window = WindowFeatures(0, 5, 50, 50, {**values, "gaze_on_target": 0.95, "head_stability": 0.9})
    away = WindowFeatures(5, 10, 50, 50, {**values, "gaze_on_target": 0.2, "head_stability": 0.5})
    (high, high_label), (low, low_label) = classifier.score_windows([window, away])
    assert high > 0.7 and high_label == "1" and low < 0.3 and low_label == "0"


# ---- bad schemas and files: clear errors ---------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"features": {"a": "gaze_on_target"}}, "'person'.*required"),
        ({"person": "p"}, "'features' must map"),
        ({"person": "p", "features": {}}, "'features' must map"),
        ({"person": "p", "features": {"a": "x"}, "colour": 1}, "unknown key"),
        ({"person": "p", "features": {"a": "x", "b": "x"}}, "several columns map"),
        ({"person": "p", "features": {"a": 3}}, "must be a name"),
        ({"person": "p", "features": {"a": "x"}, "missing": "drop"}, "'missing'"),
        ({"person": "p", "features": {"a": "x"}, "classes": ["only"]}, "'classes'"),
        ({"person": "p", "features": {"a": "x"}, "context": 5}, "'context'"),
        ({"person": ["p"], "features": {"a": "x"}}, "'person' must be a column"),
        ([1, 2], "table/object"),
    ],
)
def test_bad_schemas_are_refused(schema: object, message: str, tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema))
    with pytest.raises(EngagementError, match=message):
        load_schema(path)


def test_unreadable_schemas_are_refused(tmp_path: Path) -> None:
    broken = tmp_path / "s.toml"
    broken.write_text("person = \n")
    with pytest.raises(EngagementError, match="not valid TOML"):
        load_schema(broken)
    with pytest.raises(EngagementError, match="cannot read"):
        load_schema(tmp_path / "absent.json")


def test_bad_feature_files_are_refused(tmp_path: Path, feature_file: Path) -> None:
    schema = FeatureSchema({"gaze": "gaze_on_target"}, person="who", label="y")
    path = tmp_path / "f.csv"
    path.write_text("who,gaze,y\na,0.5,1\nb,,0\n")
    with pytest.raises(EngagementError, match=r"NaN or infinite features.*gaze_on_target"):
        load_features(path, schema)
    filled = load_features(path, FeatureSchema(schema.features, "who", "y", missing="mean"))
    assert filled.x[:, 0].tolist() == [0.5, 0.5]
    path.write_text("who,gaze,y\na,high,1\nb,0.2,0\n")
    with pytest.raises(EngagementError, match="non-numbers"):
        load_features(path, schema)
    with pytest.raises(EngagementError, match=r"unknown column\(s\) \['gaze_screen_share'"):
        load_features(path, FeatureSchema({"gaze_screen_share": "x"}, person="who", label="y"))
    with pytest.raises(EngagementError, match="no such feature file"):
        load_features(tmp_path / "none.csv", schema)
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(EngagementError, match="empty"):
        load_features(tmp_path / "empty.csv", schema)
    path.write_text("who,gaze,y,id\na,0.1,1,s1\na,0.2,0,s1\n")
    with pytest.raises(EngagementError, match="'y' changes within sample 's1'"):
        load_features(path, FeatureSchema({"gaze": "g"}, person="who", label="y", id="id"))
    path.write_text("who,gaze,y\na,0.1,1\n")
    with pytest.raises(EngagementError, match="positive label"):
        load_features(path, FeatureSchema({"gaze": "g"}, "who", "y", positive="engaged"))
    with pytest.raises(EngagementError, match="none of our feature columns"):
        load_features(path)


def test_cli_train_writes_a_head_and_reports_cv(
    feature_file: Path, schema_file: Path, tmp_path: Path
) -> None:
    head = tmp_path / "head.json"
    result = runner.invoke(
        app, ["engagement", "train", str(feature_file), "--schema", str(schema_file),
              "--out", str(head), "--folds", "3", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["accuracy"] > 0.8 and report["persons"] == 12 and len(report["folds"]) == 3
    assert "subject-independent" in report["split"]
    assert EngagementClassifier.load(head).classes == ("0", "1")
    people = runner.invoke(app, ["engagement", "train", str(feature_file), "--schema",
                                 str(schema_file), "--out", str(head)])  # fmt: skip
    assert people.exit_code == 0 and "chance" in people.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"person": "participant", "features": {"nope": "x"}}))
    failed = runner.invoke(app, ["engagement", "train", str(feature_file), "--schema", str(bad),
                                 "--out", str(head)])  # fmt: skip
    assert failed.exit_code == 2 and "unknown column" in failed.stderr
    assert "Traceback" not in failed.stderr
