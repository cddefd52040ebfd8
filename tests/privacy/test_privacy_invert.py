"""Model inversion: reconstruct a prior face from its embedding (small pools and budgets)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from privacy_helpers import conv_net

from facescope.errors import InvalidEmbeddingError
from facescope.privacy.invert import (
    Inversion,
    InversionError,
    invert,
    invert_batch,
    reproduction_score,
)
from facescope.privacy.targets import CallableTarget, ModelTarget, TorchTarget, arcface_crops

pytestmark = pytest.mark.slow  # model-inversion searches

POOL = 64


@pytest.fixture(scope="module", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep any on-disk pool cache out of the user's cache folder."""
    folder: Path = tmp_path_factory.mktemp("facescope-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACESCOPE_CACHE", str(folder))
        yield


@pytest.fixture(scope="module")
def prior() -> Any:
    pytest.importorskip("torch")
    from facescope.privacy.prior import default_prior

    return default_prior()


@pytest.fixture(scope="module")
def sface() -> ModelTarget:
    # one instance for the module, so that its pool is embedded once
    return ModelTarget("sface")


@pytest.fixture(scope="module")
def sface_goals(prior: Any, sface: ModelTarget) -> np.ndarray:
    """SFace embeddings of three prior faces that are not in the pool (other seed)."""
    faces = prior.decode(prior.sample(3, np.random.default_rng(123)))
    return sface.embed(faces, prior.landmarks5)


def _projection_target(name: str, dim: int = 24, seed: int = 5) -> CallableTarget:
    """A fixed random linear projection of the (centred) aligned crops."""
    weights = np.random.default_rng(seed).standard_normal((112 * 112 * 3, dim)).astype(np.float32)

    def project(crops: np.ndarray) -> np.ndarray:
        return (crops.reshape(len(crops), -1).astype(np.float32) / 255.0 - 0.5) @ weights

    # a unique name per test: the in-process pool cache is keyed by name and id
    return CallableTarget(project, name=name)


def _cosine(target: Any, prior: Any, image: np.ndarray, goal: np.ndarray) -> float:
    return float(target.embed(image[None], prior.landmarks5)[0] @ goal)


def _check_trajectory(result: Inversion, population: int) -> None:
    queries, scores = result.trajectory_queries, result.trajectory_scores
    np.testing.assert_array_equal(queries, np.arange(0, result.queries + 1, population))
    assert len(scores) == len(queries)
    assert (np.diff(scores) >= 0).all(), scores
    assert scores[0] == pytest.approx(result.pool_score)
    assert scores[-1] == pytest.approx(result.score)


# --------------------------------------------------------------------------- black box


def test_invert_an_sface_embedding(prior: Any, sface: ModelTarget, sface_goals: np.ndarray) -> None:
    goal = sface_goals[0]
    result = invert(goal, sface, budget=72, pool_size=POOL, population=16, seed=0)
    assert isinstance(result, Inversion)
    assert result.image.shape == (64, 64, 3) and result.image.dtype == np.uint8
    assert result.aligned.shape == (112, 112, 3) and result.aligned.dtype == np.uint8
    assert result.latent.shape == (prior.latent_dim,) and result.latent.dtype == np.float32
    assert -1.0 <= result.pool_score <= result.score <= 1.0
    # whole generations only: 72 queries allow four of 16
    assert result.queries <= 72 and result.queries % 16 == 0 and result.queries == 64
    _check_trajectory(result, 16)
    # the reported score is what the target says about the returned image
    assert _cosine(sface, prior, result.image, goal) == pytest.approx(result.score, abs=2e-3)
    np.testing.assert_array_equal(prior.decode(result.latent[None])[0], result.image)
    np.testing.assert_array_equal(
        arcface_crops(result.image[None], prior.landmarks5)[0], result.aligned
    )


def test_cmaes_improves_over_the_pool(
    prior: Any, sface: ModelTarget, sface_goals: np.ndarray
) -> None:
    results = invert_batch(sface_goals, sface, budget=160, pool_size=POOL, population=16)
    assert len(results) == len(sface_goals)
    gains = np.array([item.score - item.pool_score for item in results])
    assert (gains >= 0).all()
    assert gains.mean() > 0.03, gains
    for item, goal in zip(results, sface_goals, strict=True):
        assert item.queries == 160
        _check_trajectory(item, 16)
        assert _cosine(sface, prior, item.image, goal) == pytest.approx(item.score, abs=2e-3)


def test_invert_batch_with_a_callable_target(prior: Any) -> None:
    target = _projection_target("projection-batch")
    goals = target.embed(prior.decode(prior.sample(2, np.random.default_rng(77))), prior.landmarks5)
    spent: list[int] = []
    results = invert_batch(
        goals, target, budget=64, pool_size=POOL, population=8, progress=spent.append
    )
    assert len(results) == 2 and sum(spent) == 2 * 64
    for item, goal in zip(results, goals, strict=True):
        assert item.queries == 64 and item.score >= item.pool_score
        _check_trajectory(item, 8)
        assert _cosine(target, prior, item.image, goal) == pytest.approx(item.score, abs=2e-3)
    assert not np.array_equal(results[0].latent, results[1].latent)


def test_results_are_reproducible_with_the_same_seed(prior: Any) -> None:
    target = _projection_target("projection-seed")
    goal = target.embed(prior.decode(prior.sample(1, np.random.default_rng(9))), prior.landmarks5)
    first, again, other = (
        invert(goal[0], target, budget=32, pool_size=POOL, population=8, seed=seed)
        for seed in (3, 3, 4)
    )
    np.testing.assert_array_equal(first.latent, again.latent)
    np.testing.assert_array_equal(first.image, again.image)
    assert first.score == again.score and first.pool_score == again.pool_score
    np.testing.assert_array_equal(first.trajectory_scores, again.trajectory_scores)
    # another seed draws another pool and another search
    assert not np.array_equal(first.latent, other.latent)


# --------------------------------------------------------------------------- gradients


def test_gradient_search_on_a_torch_target_improves_the_score(prior: Any) -> None:
    torch = pytest.importorskip("torch")
    module = conv_net(torch)
    target = TorchTarget(module, name="small-conv")
    goal = target.embed(prior.decode(prior.sample(1, np.random.default_rng(21))), prior.landmarks5)
    result = invert(goal[0], target, budget=40, pool_size=POOL, population=4)
    assert result.queries == 40
    _check_trajectory(result, 4)
    # a random net embeds every face alike (pool cosines ~0.99): ask for a share of the gap
    gap = 1.0 - result.pool_score
    assert gap > 0 and (result.score - result.pool_score) / gap > 0.3, (
        result.score,
        result.pool_score,
    )
    # the search scores through the differentiable warp; the cv2 path agrees closely
    assert _cosine(target, prior, result.image, goal[0]) == pytest.approx(result.score, abs=1e-3)


# --------------------------------------------------------------------------- pool only


def test_reproduction_score_without_budget_is_the_best_pool_cosine(prior: Any) -> None:
    target = _projection_target("projection-pool")
    rng = np.random.default_rng(4)
    vectors = np.vstack(
        [
            target.embed(prior.decode(prior.sample(2, rng)), prior.landmarks5),
            rng.standard_normal((1, 24)),  # not a face's embedding at all
        ]
    )
    scores = reproduction_score(vectors, target, budget=0, pool_size=POOL, prior=prior)
    # recompute the pool independently: POOL prior samples of seed 0
    pool = target.embed(
        prior.decode(prior.sample(POOL, np.random.default_rng(0))), prior.landmarks5
    )
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    np.testing.assert_allclose(scores, (unit @ pool.T).max(axis=1), atol=1e-5)
    assert scores.shape == (3,) and scores.dtype == np.float32
    searched = reproduction_score(vectors, target, budget=32, pool_size=POOL, prior=prior)
    assert (searched >= scores - 1e-6).all()


def test_pool_cache_does_not_outlive_its_target(prior: Any) -> None:
    import gc

    from facescope.privacy.invert import latent_pool

    seen: set[int] = set()
    for seed in range(20):
        # same name, other weights: a different target every time
        target = _projection_target("projection-reuse", seed=seed)
        reused = id(target) in seen
        seen.add(id(target))
        pool = latent_pool(target, prior, 4)
        fresh = target.embed(prior.decode(pool.latents), prior.landmarks5)
        np.testing.assert_allclose(pool.embeddings, fresh, atol=1e-4)
        if reused:
            return  # an id was recycled and the pool was still right
        del target, pool, fresh
        gc.collect()
    pytest.skip("the interpreter never reused a target's id")


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"budget": 0}, "budget must be at least 1"),
        ({"budget": -5}, "budget must be at least 1"),
        ({"budget": 10.0}, "budget must be an integer"),
        ({"budget": True}, "budget must be an integer, got bool"),
        ({"population": 2}, "population must be at least 4"),
        ({"population": 0}, "population must be at least 1"),
        ({"pool_size": 0}, "pool_size must be at least 1"),
        ({"pool_size": "64"}, "pool_size must be an integer"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    options: dict[str, Any] = {"budget": 16, "pool_size": POOL, "population": 4, **settings}
    with pytest.raises(InversionError, match=message):
        invert(np.ones(128), "sface", **options)
    with pytest.raises(InversionError, match=message):
        invert_batch(np.ones((2, 128)), "sface", **options)


def test_bad_embeddings_are_refused() -> None:
    with pytest.raises(InvalidEmbeddingError, match="NaN"):
        invert(np.full(128, np.nan), "sface", budget=16, pool_size=POOL)
    with pytest.raises(InvalidEmbeddingError, match="zeros"):
        invert(np.zeros(128), "sface", budget=16, pool_size=POOL)
    with pytest.raises(InvalidEmbeddingError, match="invert_batch"):
        invert(np.ones((2, 128)), "sface", budget=16, pool_size=POOL)


def test_embeddings_of_the_wrong_size_are_refused(prior: Any, sface: ModelTarget) -> None:
    with pytest.raises(InvalidEmbeddingError, match="64 values, the target's have 128"):
        invert(np.ones(64), sface, budget=16, pool_size=POOL)
    with pytest.raises(InvalidEmbeddingError, match="64 values"):
        reproduction_score(np.ones((3, 64)), sface, pool_size=POOL)
