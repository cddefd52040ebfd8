"""Model-inversion audit: can faces be rebuilt from a deployment's stored embeddings?

For every attacked embedding the audit runs :func:`~facescope.privacy.invert.invert_batch`
against the target recogniser and measures what an attacker would gain:

* **transfer success** (the headline): an *independent* recogniser accepts the
  reconstruction as the photo's person at its FMR 1e-3 threshold;
* **rank** of the true identity when the reconstruction is searched in a gallery
  of other photos (plus distractor identities);
* **target success**: the attacked model accepts it (saturates quickly: the
  search optimises exactly this, so it says little on its own);
* the same after a realistic pipeline (upscale, pad, YuNet detection, alignment);
* baselines: a random prior face and the best pool sample (no search);
* queries and seconds per target, and success against the query budget.

Inputs come from a folder of photos (:func:`targets_from_folder`: the photos'
own embeddings are attacked, their other photos form the rank gallery) or from
an embeddings file (:func:`targets_from_file`: a facescope gallery export or a
``.npy``/``.npz`` array; no photos, so no transfer model).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facescope.errors import FacescopeError
from facescope.privacy.invert import (
    DEFAULT_POOL,
    SCREENING_BUDGET,
    Inversion,
    check_settings,
    invert_batch,
    latent_pool,
)
from facescope.privacy.prior import FacePrior, default_prior
from facescope.privacy.targets import (
    ModelTarget,
    TargetSpec,
    checked_embeddings,
    resolve_target,
)

FloatArray = npt.NDArray[np.float32]
UInt8Array = npt.NDArray[np.uint8]

#: Photos attacked per identity of a folder; the identity's other photos form the gallery.
DEFAULT_PER_IDENTITY = 5
#: The false-match rate whose threshold decides "accepted" (ISO/IEC 30107-3 style IAPMR).
AUDIT_FMR = 1e-3
#: Random prior faces scored per target for the random baseline.
RANDOM_DRAWS = 32
#: Upscale factor and padding of the pipeline check (a 64 px face -> a 256 px face in a frame).
PIPELINE_SCALE = 4
PIPELINE_PAD = 64


class AuditError(FacescopeError, ValueError):
    """The audit's inputs are unusable (no targets, mismatched shapes, unknown threshold)."""


@dataclass
class AuditTargets:
    """What is attacked, and what the attacker's results are compared with.

    Attributes:
        vectors: per model, (n, d) embeddings of the n attacked photos (the target
            model's are attacked, the others judge transfer).
        identities: (n,) identity of each attacked embedding.
        sources: (n,) where each came from (file path or template label).
        photos: optional (n,) RGB photos, shown beside the reconstructions.
        gallery: per model, (m, d) embeddings and (m,) identities of *other* photos
            in which the true identity is ranked (distractor identities included).
        leave_one_out: rank among the attacked embeddings themselves instead, each
            without its own (for an embeddings file: identities with a second
            template get a rank).
    """

    vectors: dict[str, FloatArray]
    identities: list[str]
    sources: list[str]
    photos: list[UInt8Array] | None = None
    gallery: dict[str, tuple[FloatArray, list[str]]] = field(default_factory=dict)
    leave_one_out: bool = False

    def __post_init__(self) -> None:
        n = len(self.identities)
        if n == 0:
            raise AuditError("nothing to attack: no target embeddings")
        for model, vectors in self.vectors.items():
            if len(vectors) != n:
                raise AuditError(f"{model}: {len(vectors)} embeddings for {n} identities")
        if len(self.sources) != n or (self.photos is not None and len(self.photos) != n):
            raise AuditError("sources and photos must match the embeddings one to one")


@dataclass(frozen=True)
class Attempt:
    """One attacked embedding and what the attack achieved."""

    identity: str
    source: str
    inversion: Inversion
    random_score: float
    transfer_scores: dict[str, float]
    pool_transfer_scores: dict[str, float]
    ranks: dict[str, int | None]
    pool_ranks: dict[str, int | None]
    pipeline_found: bool | None
    pipeline_scores: dict[str, float]


@dataclass
class InversionAudit:
    """The audit's results; :meth:`metrics` summarises, :func:`write_audit_report` shows."""

    target: str
    transfer: list[str]
    thresholds: dict[str, float | None]
    fmr: float
    budget: int
    pool_size: int
    pool_seconds: float
    attempts: list[Attempt]
    #: queries -> per model, success rate of the best reconstruction so far
    curve: dict[int, dict[str, float | None]]
    gallery_identities: dict[str, int]
    photos: list[UInt8Array] | None = None
    seconds: float = 0.0

    def accepted(self, model: str, scores: Sequence[float]) -> float | None:
        """Share of `scores` at or above `model`'s threshold (None: no threshold)."""
        threshold = self.thresholds.get(model)
        if threshold is None or not len(scores):
            return None
        return float(np.mean(np.asarray(scores) >= threshold))

    def metrics(self) -> dict[str, Any]:
        """The headline figures, as a JSON-ready dict."""
        rows = self.attempts
        models = [self.target, *self.transfer]
        out: dict[str, Any] = {
            "target": self.target,
            "transfer": self.transfer,
            "fmr": self.fmr,
            "thresholds": self.thresholds,
            "targets": len(rows),
            "identities": len({a.identity for a in rows}),
            "budget": self.budget,
            "pool_size": self.pool_size,
            "pool_seconds": round(self.pool_seconds, 2),
            "queries_per_target": float(np.mean([a.inversion.queries for a in rows])),
            "seconds_per_target": round(float(np.mean([a.inversion.seconds for a in rows])), 3),
            "seconds": round(self.seconds, 1),
        }
        target_scores = [a.inversion.score for a in rows]
        out["target_asr"] = self.accepted(self.target, target_scores)
        out["target_mean_score"] = float(np.mean(target_scores))
        out["pool_target_asr"] = self.accepted(self.target, [a.inversion.pool_score for a in rows])
        out["random_target_asr"] = self.accepted(self.target, [a.random_score for a in rows])
        for model in self.transfer:
            scores = [a.transfer_scores[model] for a in rows]
            pool = [a.pool_transfer_scores[model] for a in rows]
            out[f"transfer_asr_{model}"] = self.accepted(model, scores)
            out[f"transfer_mean_score_{model}"] = float(np.mean(scores))
            out[f"pool_transfer_asr_{model}"] = self.accepted(model, pool)
            out[f"pool_transfer_mean_score_{model}"] = float(np.mean(pool))
        for model in models:
            ranks = [a.ranks.get(model) for a in rows]
            known = [r for r in ranks if r is not None]
            if known:
                pool_known = [r for r in (a.pool_ranks.get(model) for a in rows) if r is not None]
                out[f"rank1_{model}"] = float(np.mean(np.asarray(known) == 1))
                out[f"rank5_{model}"] = float(np.mean(np.asarray(known) <= 5))
                out[f"median_rank_{model}"] = float(np.median(known))
                out[f"pool_rank1_{model}"] = float(np.mean(np.asarray(pool_known) == 1))
                out[f"pool_median_rank_{model}"] = float(np.median(pool_known))
                out[f"chance_rank1_{model}"] = 1.0 / self.gallery_identities[model]
                out[f"gallery_identities_{model}"] = self.gallery_identities[model]
        found = [a.pipeline_found for a in rows if a.pipeline_found is not None]
        if found:
            out["pipeline_detect_rate"] = float(np.mean(found))
            for model in models:
                scores = [a.pipeline_scores.get(model, -1.0) for a in rows]
                out[f"pipeline_asr_{model}"] = self.accepted(model, scores)
        out["curve"] = {str(q): rates for q, rates in sorted(self.curve.items())}
        return out


def audit_inversion(
    targets: AuditTargets,
    target: TargetSpec = "sface",
    *,
    target_name: str | None = None,
    transfer: Sequence[str] = (),
    threshold: float | None = None,
    fmr: float = AUDIT_FMR,
    budget: int = SCREENING_BUDGET,
    pool_size: int = DEFAULT_POOL,
    population: int = 16,
    seed: int = 0,
    chunk: int = 32,
    pipeline: bool = True,
    prior: FacePrior | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> InversionAudit:
    """Invert every target embedding and measure the attack (see the module docstring).

    Args:
        targets: what to attack (its ``vectors[target_name]``) and the photos' other
            embeddings (``vectors[model]`` for each transfer model).
        target: the attacked recogniser (a bundled name, URL, callable, torch module).
        target_name: key of the attacked embeddings in ``targets.vectors``
            (the bundled model name by default).
        transfer: independent bundled recognisers that judge the reconstructions.
        threshold: the target's acceptance threshold; bundled models default to
            their calibrated threshold at `fmr`. Without one, success rates are
            not computed for the target (scores still are).
        budget, pool_size, population, seed: as in :func:`invert_batch`.
        chunk: embeddings searched in lockstep per batch.
        pipeline: also run the full detect-align-embed pipeline on each reconstruction.
        progress: called as ``progress(stage, done, total)``.
    """
    from facescope.match.thresholds import load_calibration

    started = time.perf_counter()
    check_settings(budget, pool_size, population)
    if chunk < 1:
        raise AuditError(f"chunk must be at least 1, got {chunk}")
    resolved = resolve_target(target)
    name = target_name or (target if isinstance(target, str) else resolved.name)
    if name not in targets.vectors:
        raise AuditError(f"no embeddings for the target {name!r} (have: {sorted(targets.vectors)})")
    transfer = [m for m in dict.fromkeys(transfer) if m != name]
    for model in transfer:
        if model not in targets.vectors:
            raise AuditError(f"transfer model {model!r} needs the photos' {model} embeddings")
    bundled = isinstance(resolved, ModelTarget)
    calibration = load_calibration()
    thresholds: dict[str, float | None] = {
        m: float(calibration.for_model(m).threshold(fmr)) for m in transfer
    }
    thresholds[name] = (
        threshold
        if threshold is not None
        else (float(calibration.for_model(name).threshold(fmr)) if bundled else None)
    )
    face_prior = prior if prior is not None else default_prior()
    pool_progress = (lambda done: progress("pool", done, pool_size)) if progress else None
    pool = latent_pool(resolved, face_prior, pool_size, seed=seed, progress=pool_progress)
    attacked = checked_embeddings(targets.vectors[name], dim=pool.embeddings.shape[1])
    judges = {m: ModelTarget(m) for m in transfer}
    n = len(attacked)
    total = n * (budget - budget % population)
    spent = 0
    inversions: list[Inversion] = []
    for offset in range(0, n, chunk):

        def step(queries: int) -> None:
            nonlocal spent
            spent += queries
            if progress is not None:
                progress("search", spent, total)

        inversions += invert_batch(
            attacked[offset : offset + chunk],
            resolved,
            budget=budget,
            prior=face_prior,
            pool_size=pool_size,
            population=population,
            seed=seed,
            progress=step,
        )
    if progress is not None:
        progress("scoring", 0, 1)
    # baselines: random prior faces, and the best pool sample of each target
    draws = face_prior.sample(RANDOM_DRAWS, np.random.default_rng(seed + 7))
    random_target = resolved.embed(face_prior.decode(draws), face_prior.landmarks5)
    random_scores = (attacked @ random_target.T).mean(axis=1)
    closest = np.argmax(attacked @ pool.embeddings.T, axis=1)
    pool_faces = face_prior.decode(pool.latents[closest])
    found_faces = np.stack([inv.image for inv in inversions])
    recon = {name: resolved.embed(found_faces, face_prior.landmarks5)}
    pooled = {name: pool.embeddings[closest]}
    for model, judge in judges.items():
        recon[model] = judge.embed(found_faces, face_prior.landmarks5)
        pooled[model] = judge.embed(pool_faces, face_prior.landmarks5)
    truth = {m: checked_embeddings(targets.vectors[m]) for m in transfer}
    ranks = {m: _ranks(recon[m], targets, m) for m in recon}
    pool_ranks = {m: _ranks(pooled[m], targets, m) for m in pooled}
    pipeline_found, pipeline_scores = (
        _pipeline(found_faces, attacked, truth, name if bundled else None, transfer)
        if pipeline
        else ([None] * n, [{} for _ in range(n)])
    )
    curve = _curve(inversions, face_prior, judges, truth, thresholds, name, attacked, resolved)
    attempts = [
        Attempt(
            identity=targets.identities[i],
            source=targets.sources[i],
            inversion=inversions[i],
            random_score=float(random_scores[i]),
            transfer_scores={m: float(recon[m][i] @ truth[m][i]) for m in transfer},
            pool_transfer_scores={m: float(pooled[m][i] @ truth[m][i]) for m in transfer},
            ranks={m: ranks[m][i] for m in ranks},
            pool_ranks={m: pool_ranks[m][i] for m in pool_ranks},
            pipeline_found=pipeline_found[i],
            pipeline_scores=pipeline_scores[i],
        )
        for i in range(n)
    ]
    return InversionAudit(
        target=name,
        transfer=transfer,
        thresholds=thresholds,
        fmr=fmr,
        budget=budget,
        pool_size=pool_size,
        pool_seconds=pool.seconds,
        attempts=attempts,
        curve=curve,
        gallery_identities=(
            {name: len(set(targets.identities))}
            if targets.leave_one_out
            else {m: len(set(labels)) for m, (_, labels) in targets.gallery.items()}
        ),
        photos=targets.photos,
        seconds=time.perf_counter() - started,
    )


def _ranks(probes: FloatArray, targets: AuditTargets, model: str) -> list[int | None]:
    """Rank (1 = best) of each probe's true identity among the gallery's identities."""
    if targets.leave_one_out:
        vectors, labels = targets.vectors[model], targets.identities
    elif model in targets.gallery:
        vectors, labels = targets.gallery[model]
    else:
        return [None] * len(probes)
    names = sorted(set(labels))
    if not names:  # every photo was attacked: nothing to rank among
        return [None] * len(probes)
    index = {label: k for k, label in enumerate(names)}
    codes = np.array([index[label] for label in labels], np.int64)
    similarity = probes @ np.asarray(vectors, np.float32).T
    if targets.leave_one_out:
        np.fill_diagonal(similarity, -np.inf)  # never the probe's own template
    counts = np.bincount(codes, minlength=len(names))
    best = np.full((len(probes), len(names)), -np.inf, np.float32)
    for column in range(len(names)):
        best[:, column] = similarity[:, codes == column].max(axis=1)
    out: list[int | None] = []
    for row, identity in zip(best, targets.identities, strict=True):
        k = index.get(identity)
        alone = targets.leave_one_out and k is not None and counts[k] < 2
        out.append(None if k is None or alone else int(1 + np.sum(row > row[k])))
    return out


def _pipeline(
    faces: UInt8Array,
    attacked: FloatArray,
    truth: Mapping[str, FloatArray],
    target: str | None,
    transfer: Sequence[str],
) -> tuple[list[bool | None], list[dict[str, float]]]:
    """Each reconstruction as a deployment would see a printed/displayed photo of it."""
    from facescope.pipeline import embed_faces, find_faces, largest

    found: list[bool | None] = []
    scores: list[dict[str, float]] = []
    models = ([target] if target else []) + list(transfer)
    for i, face in enumerate(faces):
        big = cv2.resize(
            face, None, fx=PIPELINE_SCALE, fy=PIPELINE_SCALE, interpolation=cv2.INTER_CUBIC
        )
        frame = cv2.copyMakeBorder(
            big, PIPELINE_PAD, PIPELINE_PAD, PIPELINE_PAD, PIPELINE_PAD, cv2.BORDER_REPLICATE
        )
        detected = largest(find_faces(frame, assume_aligned=False))
        found.append(bool(len(detected)))
        row: dict[str, float] = {}
        if len(detected):
            for model in models:
                vector = embed_faces(frame, detected, model).vectors[0]
                goal = attacked[i] if model == target else truth[model][i]
                row[model] = float(vector @ goal)
        scores.append(row)
    return found, scores


def _curve(
    inversions: Sequence[Inversion],
    prior: FacePrior,
    judges: Mapping[str, ModelTarget],
    truth: Mapping[str, FloatArray],
    thresholds: Mapping[str, float | None],
    target: str,
    attacked: FloatArray,
    resolved: Any,
) -> dict[int, dict[str, float | None]]:
    """Success rate of the best reconstruction so far, at each kept checkpoint."""
    checkpoints = sorted(set.intersection(*(set(inv.snapshots) for inv in inversions)))
    curve: dict[int, dict[str, float | None]] = {}
    for queries in checkpoints:
        codes = np.stack([inv.snapshots[queries] for inv in inversions])
        faces = prior.decode(codes)
        rates: dict[str, float | None] = {}
        embedded = {target: resolved.embed(faces, prior.landmarks5)}
        embedded |= {m: judge.embed(faces, prior.landmarks5) for m, judge in judges.items()}
        for model, vectors in embedded.items():
            goal = attacked if model == target else truth[model]
            threshold = thresholds.get(model)
            scores = np.sum(vectors * goal, axis=1)
            rates[model] = None if threshold is None else float(np.mean(scores >= threshold))
        curve[queries] = rates
    return curve


def targets_from_folder(
    folder: str | Path,
    models: Sequence[str],
    *,
    per_identity: int = DEFAULT_PER_IDENTITY,
    distractors: str | Path | None = None,
    cache: Any = None,
    progress: Any = None,
) -> AuditTargets:
    """Attack the first `per_identity` photos of each identity of a labelled folder.

    The identity's remaining photos (and every photo of `distractors`, a second
    labelled dataset of other people) form the gallery in which the true
    identity is ranked. Photos without a detectable face are skipped.
    """
    from facescope.evaluate.cache import embed_dataset
    from facescope.evaluate.datasets import load_dataset
    from facescope.io.image import load_image

    if per_identity < 1:
        raise AuditError(f"per_identity must be at least 1, got {per_identity}")
    dataset = load_dataset(folder)
    embedded = embed_dataset(dataset, models, cache=cache, progress=progress)
    seen: dict[str, int] = {}
    chosen: list[int] = []
    rest: list[int] = []
    for i, identity in enumerate(dataset.identities):
        if not embedded.found[i]:
            continue
        if seen.get(identity, 0) < per_identity:
            seen[identity] = seen.get(identity, 0) + 1
            chosen.append(i)
        else:
            rest.append(i)
    if not chosen:
        raise AuditError(f"{folder}: no photo with a detectable face")
    gallery = {
        m: (embedded.vectors[m][rest], [dataset.identities[i] for i in rest]) for m in models
    }
    if distractors is not None:
        other = load_dataset(distractors)
        extra = embed_dataset(other, models, cache=cache, progress=progress)
        keep = np.flatnonzero(extra.found)
        for m in models:
            vectors, labels = gallery[m]
            gallery[m] = (
                np.concatenate([vectors, extra.vectors[m][keep]]),
                labels + [f"{other.name}/{other.identities[i]}" for i in keep],
            )
    return AuditTargets(
        vectors={m: embedded.vectors[m][chosen] for m in models},
        identities=[dataset.identities[i] for i in chosen],
        sources=[str(dataset.paths[i]) for i in chosen],
        photos=[load_image(dataset.paths[i]) for i in chosen],
        gallery=gallery,
    )


def targets_from_file(path: str | Path, model: str | None = None) -> tuple[AuditTargets, str]:
    """Attack embeddings stored in a file; returns the targets and their model name.

    Accepts a ``facescope-gallery/1`` export (``facescope gallery export``: the
    model comes from the file, every template is attacked and ranked among the
    others) or a ``.npy``/``.npz`` array of shape (n, d) (npz keys
    ``embeddings`` and optional ``identities``; `model` names the target).
    """
    source = Path(path)
    if not source.is_file():
        raise AuditError(f"{source}: no such embeddings file")
    identities: list[str]
    if source.suffix.lower() == ".json":
        try:
            document = json.loads(source.read_text(encoding="utf-8"))
            name = str(document["model"])
            vectors, identities = [], []
            for subject in document["subjects"]:
                for template in subject["templates"]:
                    vectors.append(np.frombuffer(base64.b64decode(template["embedding"]), "<f4"))
                    identities.append(str(subject["name"]))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise AuditError(f"{source}: not a facescope gallery export ({exc})") from exc
        if model is not None and model != name:
            raise AuditError(f"{source} holds {name} templates, not {model}")
        array = checked_embeddings(np.stack(vectors) if vectors else np.zeros((0, 0)))
    else:
        try:
            loaded = np.load(source, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise AuditError(f"{source}: cannot read embeddings ({exc})") from exc
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                if "embeddings" not in loaded:
                    raise AuditError(f"{source}: npz file has no 'embeddings' array")
                array = checked_embeddings(loaded["embeddings"])
                identities = (
                    [str(x) for x in loaded["identities"]]
                    if "identities" in loaded
                    else [f"#{i}" for i in range(len(array))]
                )
        else:
            array = checked_embeddings(loaded)
            identities = [f"#{i}" for i in range(len(array))]
        name = model or "sface"
    sources = [f"{identity} [{i}]" for i, identity in enumerate(identities)]
    targets = AuditTargets({name: array}, identities, sources, leave_one_out=True)
    return targets, name
