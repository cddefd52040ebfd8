"""A listening-and-feeling study: counterbalanced trial lists and scoring of answers.

Plan: each participant meets every stimulus once per condition (touch only, sound only,
touch + sound), in three blocks. The block order follows a Williams design for three
conditions (the six orders of the Latin square and its mirror, so each condition comes
first, second and third, and follows each other condition, equally often when the number
of participants is a multiple of 6); stimuli are shuffled within each block, seeded per
participant.

Scoring reads an answers CSV with the columns ``participant, condition, stimulus,
answer`` and, optionally, ``valence`` and ``arousal`` ratings (any numeric scale): decoding
accuracy per condition (with a Wilson 95% interval and chance level), the confusion matrix
per condition (rows: presented, columns: answered), and the ratings' mean and standard
deviation per condition and stimulus.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facescope.haptics.anchors import EMOTIONS, GESTURES
from facescope.haptics.errors import HapticsError

CONDITIONS: tuple[str, ...] = ("touch", "sound", "combined")
#: Williams design for 3 conditions: rows of the Latin square, then their mirrors.
ORDERS: tuple[tuple[int, ...], ...] = ((0, 1, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0), (0, 2, 1),
                                       (1, 0, 2))  # fmt: skip
TRIAL_COLUMNS = ("participant", "block", "condition", "trial", "stimulus")


@dataclass(frozen=True)
class Trial:
    participant: int
    block: int
    condition: str
    trial: int
    stimulus: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class StudyPlan:
    """Trials of every participant, in presentation order."""

    participants: int
    stimuli: tuple[str, ...]
    seed: int
    balanced: bool  # participants a multiple of 6 (every order used equally)
    trials: list[Trial]

    def to_dict(self) -> dict[str, Any]:
        return {
            "participants": self.participants,
            "stimuli": list(self.stimuli),
            "conditions": list(CONDITIONS),
            "seed": self.seed,
            "balanced": self.balanced,
            "trials": len(self.trials),
            "orders": [
                [CONDITIONS[c] for c in ORDERS[p % len(ORDERS)]] for p in range(self.participants)
            ],
        }

    def write_csv(self, path: str | Path) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, TRIAL_COLUMNS)
            writer.writeheader()
            for trial in self.trials:
                writer.writerow(trial.to_dict())
        return target


def plan_study(
    participants: int, *, stimuli: tuple[str, ...] = EMOTIONS, seed: int = 0
) -> StudyPlan:
    """A counterbalanced, seeded trial list (see the module doc)."""
    if not isinstance(participants, int) or not 1 <= participants <= 10000:
        raise HapticsError(f"participants must be 1..10000, got {participants!r}")
    unknown = [s for s in stimuli if s not in EMOTIONS and s not in GESTURES]
    if unknown or not stimuli:
        raise HapticsError(f"unknown stimuli {unknown}: use emotions or gestures")
    trials: list[Trial] = []
    for p in range(participants):
        rng = np.random.default_rng([seed, p])
        number = 0
        for block, c in enumerate(ORDERS[p % len(ORDERS)]):
            for s in rng.permutation(len(stimuli)):
                number += 1
                trials.append(Trial(p + 1, block + 1, CONDITIONS[c], number, stimuli[int(s)]))
    return StudyPlan(participants, tuple(stimuli), seed, participants % 6 == 0, trials)


def _wilson(hits: int, n: int) -> tuple[float, float]:
    if n == 0:
        return (0.0, 0.0)
    z, p = 1.96, hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class ConditionScore:
    condition: str
    trials: int
    correct: int
    accuracy: float
    ci95: tuple[float, float]
    chance: float
    labels: list[str]
    confusion: list[list[int]]  # rows presented, columns answered (labels order)

    def to_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "trials": self.trials,
            "correct": self.correct,
            "accuracy": round(self.accuracy, 4),
            "ci95": [round(x, 4) for x in self.ci95],
            "chance": round(self.chance, 4),
            "labels": self.labels,
            "confusion": self.confusion,
        }


@dataclass(frozen=True)
class StudyScore:
    participants: int
    conditions: list[ConditionScore]
    ratings: list[dict[str, Any]]  # condition, stimulus, n, valence/arousal mean and sd

    def to_dict(self) -> dict[str, Any]:
        return {
            "participants": self.participants,
            "accuracy": {c.condition: round(c.accuracy, 4) for c in self.conditions},
            "conditions": [c.to_dict() for c in self.conditions],
            "ratings": self.ratings,
        }


def _number(text: str, where: str) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise HapticsError(f"{where}: rating {text!r} is not a number") from None
    if not math.isfinite(value):
        raise HapticsError(f"{where}: rating {text!r} is not finite")
    return value


def score_answers(path: str | Path) -> StudyScore:
    """Score an answers CSV (see the module doc).

    Raises:
        HapticsError: a missing file or column, no rows, an unknown condition, an empty
            answer, or a rating that is not a number.
    """
    source = Path(path)
    try:
        with source.open(newline="") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
            rows = [
                {k.strip().lower(): (v or "").strip() for k, v in r.items() if k} for r in reader
            ]
    except FileNotFoundError:
        raise HapticsError(f"no answers file {source}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise HapticsError(f"{source}: not a CSV file ({exc})") from None
    needed = ("participant", "condition", "stimulus", "answer")
    missing = [c for c in needed if c not in header]
    if missing:
        raise HapticsError(
            f"{source}: missing column(s) {', '.join(missing)}; expected "
            "participant,condition,stimulus,answer[,valence,arousal]"
        )
    if not rows:
        raise HapticsError(f"{source}: no answers")
    for line, row in enumerate(rows, start=2):
        where = f"{source}:{line}"
        if row["condition"].lower() not in CONDITIONS:
            raise HapticsError(
                f"{where}: condition {row['condition']!r} is not one of {', '.join(CONDITIONS)}"
            )
        if not row["stimulus"] or not row["answer"] or not row["participant"]:
            raise HapticsError(f"{where}: empty participant, stimulus or answer")
        row["condition"] = row["condition"].lower()
        row["stimulus"], row["answer"] = row["stimulus"].lower(), row["answer"].lower()
        for key in ("valence", "arousal"):
            row[f"_{key}"] = _number(row.get(key, ""), where)
    labels = sorted({r["stimulus"] for r in rows} | {r["answer"] for r in rows})
    presented = sorted({r["stimulus"] for r in rows})
    index = {label: i for i, label in enumerate(labels)}
    scores: list[ConditionScore] = []
    ratings: list[dict[str, Any]] = []
    for condition in CONDITIONS:
        chosen = [r for r in rows if r["condition"] == condition]
        if not chosen:
            continue
        matrix = np.zeros((len(labels), len(labels)), np.int64)
        for r in chosen:
            matrix[index[r["stimulus"]], index[r["answer"]]] += 1
        hits = int(sum(r["stimulus"] == r["answer"] for r in chosen))
        scores.append(ConditionScore(condition, len(chosen), hits, hits / len(chosen),
                                     _wilson(hits, len(chosen)), 1 / len(presented), labels,
                                     matrix.tolist()))  # fmt: skip
        for stim in presented:
            entry: dict[str, Any] = {"condition": condition, "stimulus": stim}
            subset = [r for r in chosen if r["stimulus"] == stim]
            entry["n"] = len(subset)
            for key in ("valence", "arousal"):
                values = [float(r[f"_{key}"]) for r in subset if r[f"_{key}"] is not None]
                entry[f"{key}_mean"] = round(float(np.mean(values)), 4) if values else None
                entry[f"{key}_sd"] = (
                    round(float(np.std(values, ddof=1)), 4) if len(values) > 1 else None
                )
            ratings.append(entry)
    people = len({r["participant"] for r in rows})
    return StudyScore(people, scores, ratings)


__all__ = [
    "CONDITIONS",
    "ORDERS",
    "ConditionScore",
    "StudyPlan",
    "StudyScore",
    "Trial",
    "plan_study",
    "score_answers",
]
