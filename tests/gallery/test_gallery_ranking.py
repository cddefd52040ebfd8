"""Subject ranking from template scores: best template per subject, top-k subjects."""

from __future__ import annotations

import numpy as np

from facescope.match.ranking import best_per_subject


def _reference(names: list[str], scores: np.ndarray, k: int) -> list[tuple[str, float]]:
    best: dict[str, float] = {}
    for name, score in zip(names, scores.tolist(), strict=True):
        best[name] = max(score, best.get(name, -np.inf))
    return sorted(best.items(), key=lambda item: -item[1])[:k]


def test_matches_a_full_sort_on_random_galleries() -> None:
    rng = np.random.default_rng(3)
    for size in (1, 7, 500, 20_000):
        names = [f"s{int(i)}" for i in rng.integers(0, max(1, size // 4), size)]
        scores = rng.random(size)
        assert best_per_subject(names, scores, 5) == _reference(names, scores, 5)


def test_one_subject_with_many_top_templates_does_not_hide_the_others() -> None:
    names = ["a"] * 500 + ["b", "c", "d"]
    scores = np.concatenate([np.linspace(0.99, 0.9, 500), [0.5, 0.4, 0.3]])
    assert [name for name, _ in best_per_subject(names, scores, 3)] == ["a", "b", "c"]
    assert best_per_subject(names, scores, 10)[-1] == ("d", 0.3)
