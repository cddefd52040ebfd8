"""Training-free model inversion: reconstruct a face from its embedding alone.

Nothing is trained per target model or per identity. A fixed face prior
(:mod:`facescope.privacy.prior`) generates candidates; a pool of prior samples
is embedded once per target (shared by every inverted embedding), the closest
pool codes seed the search, and the search refines the latent code:

* black-box targets (bundled models, callables, HTTP endpoints): CMA-ES in the
  latent space, all embeddings stepped in lockstep so that each generation is
  one batched call of the generator and one of the target;
* differentiable targets (:class:`~facescope.privacy.targets.TorchTarget` with a
  differentiable prior): Adam on the latent code, through the prior, the
  alignment warp and the module.

The fitness is the cosine similarity to the embedding, minus a small penalty
that keeps latent codes on the prior's typical shell (|z| ~ sqrt(dim)), which
keeps images face-like rather than adversarial.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facescope.errors import FacescopeError
from facescope.privacy.cmaes import BatchCMAES
from facescope.privacy.prior import DCGANPrior, DifferentiablePrior, FacePrior, default_prior
from facescope.privacy.targets import (
    ModelTarget,
    Target,
    TargetSpec,
    TorchTarget,
    arcface_crops,
    checked_embeddings,
    resolve_target,
)

FloatArray = npt.NDArray[np.float32]

#: Screening and deep query budgets (per inverted embedding).
SCREENING_BUDGET = 1000
DEEP_BUDGET = 4000
DEFAULT_POOL = 2000
#: Query counts at which the best latent code so far is kept (for success-vs-budget curves).
CHECKPOINTS = (100, 250, 500, 1000, 2000, 4000, 8000)
#: Weight of the latent-norm penalty in the fitness.
NORM_PENALTY = 5.0
#: Initial CMA-ES step size in latent units (the prior is N(0, I)).
INITIAL_SIGMA = 0.5


class InversionError(FacescopeError, ValueError):
    """Bad inversion settings (budget, pool, population)."""


@dataclass(frozen=True)
class Inversion:
    """The reconstruction of one embedding.

    Attributes:
        image: (s, s, 3) RGB uint8 face from the prior (64x64 for the DCGAN).
        aligned: the same face on the 112x112 ArcFace crop (what SFace-family targets see).
        latent: the latent code of `image`.
        score: cosine similarity of the target's embedding of `image` to the input.
        pool_score: the best pool sample's similarity (the search's starting point).
        queries: target queries spent on this embedding (excluding the shared pool).
        seconds: wall time of the search, shared evenly among a batch's embeddings.
        trajectory_queries, trajectory_scores: best score so far after each step.
        snapshots: queries spent -> best latent code then, at the first step past
            each of :data:`CHECKPOINTS` and at the end (to score a transfer model
            against the budget without re-running the search).
    """

    image: npt.NDArray[np.uint8]
    aligned: npt.NDArray[np.uint8]
    latent: FloatArray
    score: float
    pool_score: float
    queries: int
    seconds: float
    trajectory_queries: npt.NDArray[np.int64] = field(repr=False)
    trajectory_scores: FloatArray = field(repr=False)
    snapshots: dict[int, FloatArray] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class LatentPool:
    """Prior samples embedded once by one target."""

    latents: FloatArray
    embeddings: FloatArray
    seconds: float

    @property
    def queries(self) -> int:
        return len(self.latents)


_pools: dict[tuple[object, ...], tuple[Target, LatentPool]] = {}
_POOL_CACHE_ENTRIES = 16
_pools_lock = threading.Lock()


def latent_pool(
    target: Target,
    prior: FacePrior,
    size: int = DEFAULT_POOL,
    *,
    seed: int = 0,
    batch_size: int = 256,
    progress: Callable[[int], None] | None = None,
) -> LatentPool:
    """Embed `size` prior samples with `target`.

    Cached in process per (target, prior, size, seed); a bundled model's pool
    is also kept on disk next to the embedding cache (keyed by the model's and
    the prior's weight pins), so only the first audit on a machine pays for it.
    """
    if size < 1:
        raise InversionError(f"pool size must be at least 1, got {size}")
    key = (target.name, id(target), prior.name, size, seed)
    with _pools_lock:
        entry = _pools.get(key)
    if entry is not None and entry[0] is target:
        return entry[1]
    disk = _pool_file(target, prior, size, seed)
    pool = _read_pool(disk, size) if disk is not None else None
    if pool is None:
        start = time.perf_counter()
        latents = prior.sample(size, np.random.default_rng(seed))
        chunks = []
        for offset in range(0, size, batch_size):
            codes = latents[offset : offset + batch_size]
            chunks.append(target.embed(prior.decode(codes), prior.landmarks5))
            if progress is not None:
                progress(len(codes))
        pool = LatentPool(latents, np.concatenate(chunks), time.perf_counter() - start)
        if disk is not None:
            _write_pool(disk, pool)
    elif progress is not None:
        progress(size)
    with _pools_lock:
        _pools.pop(key, None)
        while len(_pools) >= _POOL_CACHE_ENTRIES:
            del _pools[next(iter(_pools))]
        _pools[key] = (target, pool)
    return pool


def _pool_file(target: Target, prior: FacePrior, size: int, seed: int) -> Path | None:
    if not isinstance(target, ModelTarget) or not isinstance(prior, DCGANPrior):
        return None
    from facescope.evaluate.cache import default_cache_path, model_version
    from facescope.models.registry import MODEL_FILES

    pins = f"{model_version(target.name)}|{MODEL_FILES['dcgan_faces'].sha256}|{size}|{seed}"
    digest = hashlib.sha256(pins.encode()).hexdigest()[:24]
    return default_cache_path().parent / "inversion-pools" / f"{target.name}-{digest}.npz"


def _read_pool(path: Path, size: int) -> LatentPool | None:
    try:
        with np.load(path) as stored:
            latents, embeddings = stored["latents"], stored["embeddings"]
            seconds = float(stored["seconds"])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None  # absent or damaged: recompute
    if len(latents) != size or len(embeddings) != size or not np.isfinite(embeddings).all():
        return None
    return LatentPool(latents.astype(np.float32), embeddings.astype(np.float32), seconds)


def _write_pool(path: Path, pool: LatentPool) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")
        np.savez(partial, latents=pool.latents, embeddings=pool.embeddings, seconds=pool.seconds)
        os.replace(partial, path)
    except OSError:
        pass  # a read-only cache only costs the recomputation next time


def invert(
    embedding: npt.ArrayLike,
    target: TargetSpec = "sface",
    *,
    budget: int = SCREENING_BUDGET,
    prior: FacePrior | None = None,
    pool_size: int = DEFAULT_POOL,
    population: int = 16,
    seed: int = 0,
) -> Inversion:
    """Reconstruct a face that `target` embeds close to `embedding`.

    Args:
        embedding: one (d,) embedding produced by the target (normalised or not).
        target: a bundled model name ("sface", "dlib"), an http(s) URL of an
            embedding endpoint, a torch module, a callable of 112x112 aligned
            crops, or a :class:`~facescope.privacy.targets.Target`.
        budget: target queries for the search (the shared pool is extra).
        prior: the face prior; the bundled DCGAN by default.
        pool_size: prior samples embedded once to seed the search.
        population: candidates per CMA-ES generation.
        seed: seeds the pool and the search (results are reproducible).

    Raises:
        InvalidEmbeddingError: NaN, inf, zero, or several embeddings.
        InversionError: a budget, pool or population below 1.
        InversionTargetError: the target could not be queried.
    """
    vectors = checked_embeddings(embedding)
    if len(vectors) != 1:
        from facescope.errors import InvalidEmbeddingError

        raise InvalidEmbeddingError(
            f"invert() takes one embedding, got {len(vectors)}; use invert_batch()"
        )
    return invert_batch(
        vectors,
        target,
        budget=budget,
        prior=prior,
        pool_size=pool_size,
        population=population,
        seed=seed,
    )[0]


def invert_batch(
    embeddings: npt.ArrayLike,
    target: TargetSpec = "sface",
    *,
    budget: int = SCREENING_BUDGET,
    prior: FacePrior | None = None,
    pool_size: int = DEFAULT_POOL,
    population: int = 16,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> list[Inversion]:
    """Invert many embeddings at once, batching every generation's queries across them.

    Same arguments as :func:`invert`; `embeddings` is (n, d). `progress`, when
    given, is called with the number of queries spent after each step.
    """
    check_settings(budget, pool_size, population)
    resolved = resolve_target(target)
    face_prior = prior if prior is not None else default_prior()
    pool = latent_pool(resolved, face_prior, pool_size, seed=seed)
    vectors = checked_embeddings(embeddings, dim=pool.embeddings.shape[1])
    if isinstance(resolved, TorchTarget) and isinstance(face_prior, DifferentiablePrior):
        return _gradient_search(vectors, resolved, face_prior, pool, budget, population, progress)
    return _cmaes_search(vectors, resolved, face_prior, pool, budget, population, seed, progress)


def reproduction_score(
    vectors: npt.ArrayLike,
    model: TargetSpec = "sface",
    budget: int = 0,
    *,
    pool_size: int = DEFAULT_POOL,
    prior: FacePrior | None = None,
) -> FloatArray:
    """How well the face prior reproduces each embedding: the best cosine it reaches.

    `budget` 0 uses the pool alone (no queries beyond the shared pool); more
    adds a CMA-ES search of that many queries per embedding. Face embeddings
    are reproduced better than embeddings of non-faces, which makes this an
    out-of-domain score.
    """
    target = resolve_target(model)
    face_prior = prior if prior is not None else default_prior()
    pool = latent_pool(target, face_prior, pool_size)
    unit = checked_embeddings(vectors, dim=pool.embeddings.shape[1])
    if budget <= 0:
        return np.asarray((unit @ pool.embeddings.T).max(axis=1), np.float32)
    found = invert_batch(unit, target, budget=budget, prior=face_prior, pool_size=pool_size)
    return np.array([item.score for item in found], np.float32)


def check_settings(budget: int, pool_size: int, population: int) -> None:
    """InversionError unless the search settings are usable integers."""
    for label, value in (("budget", budget), ("pool_size", pool_size), ("population", population)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool):
            raise InversionError(f"{label} must be an integer, got {type(value).__name__}")
        if value < 1:
            raise InversionError(f"{label} must be at least 1, got {value}")
    if population < 4:
        raise InversionError(f"population must be at least 4, got {population}")


def _fitness(similarity: npt.NDArray[np.floating], latents: npt.NDArray[np.floating]) -> FloatArray:
    dim = latents.shape[-1]
    excess = np.maximum(0.0, np.linalg.norm(latents, axis=-1) / math.sqrt(dim) - 1.0)
    return np.asarray(similarity - NORM_PENALTY * excess**2, np.float32)


def _cmaes_search(
    vectors: FloatArray,
    target: Target,
    prior: FacePrior,
    pool: LatentPool,
    budget: int,
    population: int,
    seed: int,
    progress: Callable[[int], None] | None,
) -> list[Inversion]:
    start = time.perf_counter()
    n, dim = len(vectors), prior.latent_dim
    pool_similarity = vectors @ pool.embeddings.T
    best_index = pool_similarity.argmax(axis=1)
    best_latent = pool.latents[best_index].astype(np.float64)
    best_score = pool_similarity[np.arange(n), best_index].astype(np.float64)
    pool_score = best_score.copy()
    search = BatchCMAES(
        mean=best_latent.copy(),
        sigma=np.full(n, INITIAL_SIGMA),
        population=population,
        rng=np.random.default_rng(seed + 1),
    )
    history_q, history_s = [0], [best_score.copy()]
    snapshots = _Snapshots(best_latent)
    spent = 0
    while spent + population <= budget:
        candidates = search.ask()  # (n, pop, dim)
        flat = candidates.reshape(-1, dim).astype(np.float32)
        embedded = target.embed(prior.decode(flat), prior.landmarks5).reshape(n, population, -1)
        similarity = np.einsum("tkd,td->tk", embedded, vectors)
        search.tell(_fitness(similarity, candidates).astype(np.float64))
        top = similarity.argmax(axis=1)
        improved = similarity[np.arange(n), top] > best_score
        best_score = np.where(improved, similarity[np.arange(n), top], best_score)
        best_latent[improved] = candidates[np.arange(n), top][improved]
        spent += population
        history_q.append(spent)
        history_s.append(best_score.copy())
        snapshots.record(spent, best_latent)
        if progress is not None:
            progress(population * n)
    seconds = (time.perf_counter() - start) / n
    snapshots.record(spent, best_latent, final=True)
    return _results(
        prior, best_latent, best_score, pool_score, spent, seconds, history_q, history_s, snapshots
    )


def _gradient_search(
    vectors: FloatArray,
    target: TorchTarget,
    prior: FacePrior,
    pool: LatentPool,
    budget: int,
    starts: int,
    progress: Callable[[int], None] | None,
) -> list[Inversion]:
    import torch

    start = time.perf_counter()
    n, dim = len(vectors), prior.latent_dim
    starts = min(starts, len(pool.latents), budget)
    pool_similarity = vectors @ pool.embeddings.T
    seeds = np.argsort(-pool_similarity, axis=1)[:, :starts]
    pool_score = pool_similarity[np.arange(n), seeds[:, 0]].astype(np.float64)
    z = torch.tensor(pool.latents[seeds].reshape(n * starts, dim), requires_grad=True)
    goal = torch.from_numpy(np.repeat(vectors, starts, axis=0))
    optimiser = torch.optim.Adam([z], lr=0.05)
    decode = prior.decode_tensor  # type: ignore[attr-defined]
    best_score, best_latent = pool_score.copy(), pool.latents[seeds[:, 0]].astype(np.float64)
    history_q, history_s = [0], [best_score.copy()]
    snapshots = _Snapshots(best_latent)
    spent = 0
    while spent + starts <= budget:
        embedded = target.embed_tensor(decode(z).clamp(0, 1), prior.landmarks5)
        similarity = (embedded * goal).sum(dim=1)
        norm = z.norm(dim=1) / math.sqrt(dim)
        loss = -(similarity - NORM_PENALTY * torch.relu(norm - 1) ** 2).sum()
        # record the codes that were just scored, before the step moves them
        values = similarity.detach().numpy().reshape(n, starts)
        codes = z.detach().numpy().reshape(n, starts, dim).copy()
        top = values.argmax(axis=1)
        improved = values[np.arange(n), top] > best_score
        best_score = np.where(improved, values[np.arange(n), top], best_score)
        best_latent[improved] = codes[np.arange(n), top][improved]
        # grad w.r.t. z only: never leave .grad on the user's module parameters
        (z.grad,) = torch.autograd.grad(loss, [z])
        optimiser.step()
        spent += starts
        history_q.append(spent)
        history_s.append(best_score.copy())
        snapshots.record(spent, best_latent)
        if progress is not None:
            progress(starts * n)
    seconds = (time.perf_counter() - start) / n
    snapshots.record(spent, best_latent, final=True)
    return _results(
        prior, best_latent, best_score, pool_score, spent, seconds, history_q, history_s, snapshots
    )


class _Snapshots:
    """Best latent codes kept at the checkpoints a search passes."""

    def __init__(self, start: npt.NDArray[np.floating]) -> None:
        self.codes: dict[int, FloatArray] = {0: np.asarray(start, np.float32).copy()}
        self._pending = list(CHECKPOINTS)

    def record(self, spent: int, best: npt.NDArray[np.floating], *, final: bool = False) -> None:
        passed = False
        while self._pending and spent >= self._pending[0]:
            self._pending.pop(0)
            passed = True
        if passed or (final and spent not in self.codes):
            self.codes[spent] = np.asarray(best, np.float32).copy()


def _results(
    prior: FacePrior,
    latents: npt.NDArray[np.floating],
    scores: npt.NDArray[np.floating],
    pool_scores: npt.NDArray[np.floating],
    queries: int,
    seconds: float,
    history_q: list[int],
    history_s: list[npt.NDArray[np.float64]],
    snapshots: _Snapshots,
) -> list[Inversion]:
    codes = np.asarray(latents, np.float32)
    images = prior.decode(codes)
    aligned = arcface_crops(images, prior.landmarks5)
    trajectory = np.stack(history_s, axis=1).astype(np.float32)
    steps = np.asarray(history_q, np.int64)
    return [
        Inversion(
            image=images[i],
            aligned=aligned[i],
            latent=codes[i],
            score=float(scores[i]),
            pool_score=float(pool_scores[i]),
            queries=queries,
            seconds=seconds,
            trajectory_queries=steps,
            trajectory_scores=trajectory[i],
            snapshots={spent: codes_at[i] for spent, codes_at in snapshots.codes.items()},
        )
        for i in range(len(codes))
    ]
