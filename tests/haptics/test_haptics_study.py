"""The study helper: counterbalanced trial lists and scoring answers."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from facescope.haptics import EMOTIONS, HapticsError
from facescope.haptics.study import CONDITIONS, plan_study, score_answers


def test_plans_are_counterbalanced_and_seeded(tmp_path: Path) -> None:
    plan = plan_study(12, seed=3)
    assert plan.balanced and len(plan.trials) == 12 * 3 * 10
    orders = []
    for p in range(1, 13):
        mine = [t for t in plan.trials if t.participant == p]
        blocks = [mine[k * 10].condition for k in range(3)]
        orders.append(tuple(blocks))
        for k in range(3):  # each block: one condition, every stimulus once
            block = mine[k * 10 : (k + 1) * 10]
            assert {t.condition for t in block} == {blocks[k]}
            assert sorted(t.stimulus for t in block) == sorted(EMOTIONS)
    assert len(set(orders)) == 6 and set(Counter(orders).values()) == {2}
    for position in range(3):  # every condition in every position equally often
        assert Counter(o[position] for o in orders) == dict.fromkeys(CONDITIONS, 4)
    # each condition follows each other one equally often (Williams design)
    pairs = Counter((o[k], o[k + 1]) for o in orders for k in range(2))
    assert set(pairs.values()) == {4} and len(pairs) == 6
    again = plan_study(12, seed=3)
    assert again.trials == plan.trials
    assert plan_study(12, seed=4).trials != plan.trials
    written = plan.write_csv(tmp_path / "trials.csv")
    with written.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 360 and rows[0].keys() == {
        "participant", "block", "condition", "trial", "stimulus"
    }  # fmt: skip
    assert not plan_study(4).balanced
    with pytest.raises(HapticsError):
        plan_study(0)


def _answers(path: Path, rows: list[list[object]], header: str) -> Path:
    path.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


def test_scoring_accuracy_confusion_and_ratings(tmp_path: Path) -> None:
    rows = [
        [1, "touch", "anger", "anger", 2, 8],
        [1, "touch", "calm", "anger", 3, 7],
        [1, "sound", "anger", "anger", 1, 9],
        [1, "sound", "calm", "calm", 8, 2],
        [2, "combined", "anger", "anger", 2, 8],
        [2, "combined", "calm", "calm", 7, 3],
        [2, "touch", "calm", "calm", "", ""],
    ]
    header = "participant,condition,stimulus,answer,valence,arousal"
    score = score_answers(_answers(tmp_path / "a.csv", rows, header))
    doc = score.to_dict()
    assert score.participants == 2
    assert doc["accuracy"] == {"touch": pytest.approx(2 / 3, abs=1e-4), "sound": 1.0,
                               "combined": 1.0}  # fmt: skip
    touch = score.conditions[0]
    assert touch.labels == ["anger", "calm"] and touch.confusion == [[1, 0], [1, 1]]
    assert touch.chance == 0.5 and touch.ci95[0] < touch.accuracy < touch.ci95[1]
    calm_touch = next(
        r for r in score.ratings if r["condition"] == "touch" and r["stimulus"] == "calm"
    )
    assert calm_touch["n"] == 2 and calm_touch["valence_mean"] == 3.0  # the blank rating skipped


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("participant,condition,stimulus\n1,touch,anger\n", "missing column"),
        ("participant,condition,stimulus,answer\n", "no answers"),
        ("participant,condition,stimulus,answer\n1,smell,anger,anger\n", "smell"),
        ("participant,condition,stimulus,answer\n1,touch,anger,\n", "empty"),
        ("participant,condition,stimulus,answer,valence\n1,touch,anger,anger,high\n", "number"),
    ],
)
def test_bad_answer_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(HapticsError, match=message):
        score_answers(path)
    with pytest.raises(HapticsError, match="no answers file"):
        score_answers(tmp_path / "missing.csv")
