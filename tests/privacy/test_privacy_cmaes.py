"""BatchCMAES: several independent CMA-ES runs stepped in lockstep."""

from __future__ import annotations

import numpy as np
import pytest

from facescope.privacy.cmaes import BatchCMAES


def _sphere_run(
    centres: np.ndarray, generations: int, seed: int = 0
) -> tuple[BatchCMAES, list[np.ndarray]]:
    problems, dim = centres.shape
    search = BatchCMAES(
        mean=np.zeros((problems, dim)),
        sigma=np.full(problems, 0.5),
        population=12,
        rng=np.random.default_rng(seed),
    )
    distances = [np.linalg.norm(search.mean - centres, axis=1)]
    for _ in range(generations):
        candidates = search.ask()
        assert candidates.shape == (problems, 12, dim)
        fitness = -((candidates - centres[:, None, :]) ** 2).sum(axis=2)
        search.tell(fitness)
        distances.append(np.linalg.norm(search.mean - centres, axis=1))
    return search, distances


def test_lockstep_runs_each_converge_to_their_own_optimum() -> None:
    rng = np.random.default_rng(7)
    centres = rng.uniform(-3, 3, (4, 8))
    search, distances = _sphere_run(centres, generations=220)
    start, end = distances[0], distances[-1]
    assert search.generation == 220
    # every problem shrinks its distance by at least four orders of magnitude
    assert (end / start < 1e-4).all(), end / start
    # each run converged to its own centre, not to a neighbour's
    nearest = np.linalg.norm(search.mean[:, None] - centres[None], axis=2).argmin(axis=1)
    np.testing.assert_array_equal(nearest, np.arange(len(centres)))
    # the step sizes adapted down with the distance
    assert (search.sigma < 1e-3).all()
    assert np.isfinite(search.cov).all() and (search.scales > 0).all()


def test_runs_are_reproducible_and_independent_of_the_seed_stream() -> None:
    centres = np.random.default_rng(1).standard_normal((2, 5))
    a, _ = _sphere_run(centres, generations=30, seed=3)
    b, _ = _sphere_run(centres, generations=30, seed=3)
    c, _ = _sphere_run(centres, generations=30, seed=4)
    np.testing.assert_array_equal(a.mean, b.mean)
    assert not np.array_equal(a.mean, c.mean)


def test_tell_needs_a_preceding_ask() -> None:
    search = BatchCMAES(
        mean=np.zeros((2, 3)), sigma=np.ones(2), population=6, rng=np.random.default_rng(0)
    )
    with pytest.raises(RuntimeError, match="before ask"):
        search.tell(np.zeros((2, 6)))
    candidates = search.ask()
    search.tell(-(candidates**2).sum(axis=2))
    # one ask allows one tell
    with pytest.raises(RuntimeError, match="before ask"):
        search.tell(np.zeros((2, 6)))
