"""Recognition benchmark: facescope vs the face_recognition-library way, speed and accuracy.

What is measured
----------------
1. Throughput (images/second) of detect + align + embed on 640x480 single-face RGB images,
   built from the single-person portraits in ``<testdata>/faces/public_portraits`` (each
   scaled to cover 640x480 and centre-cropped, or letterboxed when the crop loses the face;
   kept only when ``facescope.detect`` then finds exactly one face, fully inside the frame).
   Without the shared test data, ``skimage.data.astronaut()`` letterboxed (and mirrored)
   is used. Paths timed, each warmed up first (models loaded, first inference run):

   * ``facescope sface``: ``facescope.embed(img, model="sface")`` (the default path);
   * ``facescope dlib``: ``facescope.embed(img, model="dlib")``;
   * ``facescope fusion``: ``facescope.detect`` once, then ``pipeline.embed_faces`` with
     both models on the largest face;
   * ``facescope sface batched``: ``pipeline.embed_largest_faces(images, ("sface",))``
     (detect each image, then one SFace batch for all crops);
   * ``face_recognition-style``: what ``face_recognition.face_encodings`` does, written
     with dlib directly: HOG ``get_frontal_face_detector()`` with 1 upsample, the 5-point
     ``shape_predictor``, ``compute_face_descriptor(img, shape, num_jitters=1)``, on the
     largest detection.

   Passes over the whole image set are interleaved: each round runs every path once, and
   rounds repeat until every path has run at least ~3 s and 3 passes (~1 s and 2 passes
   with ``--quick``), so background load hits all paths alike. A path's median pass gives
   images/s and ms/image; its ratio to the reference is the median of the per-round
   pass-time ratios. Threads are left at their defaults; the CPU count, the libraries'
   thread settings, the load average and each path's CPU time / wall time (cores actually
   busy) are reported.

2. Accuracy on ``<testdata>/faces/aligned_celebrities`` (aligned 112x112 crops, one
   folder per identity; all pairs): TAR at FMR 1e-3 with the threshold calibrated on these
   same pairs (``match.metrics.operating_point``), EER, and failures to acquire (FTA), for
   sface, dlib and their fusion (the bundled calibration's ``fuse``; its weights and
   z-norm statistics were fitted on this same set, so all figures are in-sample) and for
   the face_recognition-style path (HOG must find the face in the 112x112 crop). Rates are
   given over the pairs where both images were acquired, and over all pairs with FTA pairs
   counted as non-matches (same threshold). Scores are cosine similarities throughout
   (face_recognition itself uses Euclidean distance on the raw descriptors, whose norms
   vary by a few percent, so its ranking can differ slightly).

How to run
----------
::

    python benchmarks/bench_recognition.py            # full run, several minutes
    python benchmarks/bench_recognition.py --quick    # shorter timing, 15 images/identity
    python benchmarks/bench_recognition.py --json out/bench.json

The test data root is ``$FACESCOPE_TESTDATA``, else ``../shared/testdata`` next to the
repository.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

import facescope
from facescope import pipeline
from facescope.match.calibrate import folder_per_identity, pair_scores
from facescope.match.metrics import equal_error_rate, operating_point, rates_at
from facescope.match.thresholds import DEFAULT_FMR, FUSION, load_calibration
from facescope.models.registry import verified_path

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTDATA_ENV = "FACESCOPE_TESTDATA"
WIDTH, HEIGHT = 640, 480
SKIPPED_PORTRAITS = frozenset({"barack_obama_partial.jpg"})
QUICK_PER_IDENTITY = 15
REFERENCE = "face_recognition-style"

RGBImage = npt.NDArray[np.uint8]
T = TypeVar("T")


# --------------------------------------------------------------------------- data


def testdata_root() -> Path:
    """``$FACESCOPE_TESTDATA``, else ``../shared/testdata`` relative to the repository root."""
    value = os.environ.get(TESTDATA_ENV)
    return Path(value) if value else (REPO_ROOT / ".." / "shared" / "testdata").resolve()


def fit_frame(rgb: RGBImage, mode: str) -> RGBImage:
    """Scale `rgb` (keeping aspect) to 640x480: ``cover`` + centre crop, or ``letterbox``."""
    height, width = rgb.shape[:2]
    cover = mode == "cover"
    scale = (max if cover else min)(WIDTH / width, HEIGHT / height)
    size_w = max(1, round(width * scale))
    size_h = max(1, round(height * scale))
    size_w, size_h = (
        (max(WIDTH, size_w), max(HEIGHT, size_h))
        if cover
        else (min(WIDTH, size_w), min(HEIGHT, size_h))
    )
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(rgb, (size_w, size_h), interpolation=interpolation)
    if cover:
        top, left = (size_h - HEIGHT) // 2, (size_w - WIDTH) // 2
        return np.ascontiguousarray(resized[top : top + HEIGHT, left : left + WIDTH])
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    top, left = (HEIGHT - size_h) // 2, (WIDTH - size_w) // 2
    frame[top : top + size_h, left : left + size_w] = resized
    return frame


def one_face_inside(rgb: RGBImage) -> bool:
    """Whether facescope finds exactly one face in `rgb`, with its box inside the frame."""
    faces = facescope.detect(rgb)
    if len(faces) != 1:
        return False
    x1, y1, x2, y2 = faces.boxes[0].tolist()
    return x1 >= 0 and y1 >= 0 and x2 <= rgb.shape[1] and y2 <= rgb.shape[0]


@dataclass
class BenchImage:
    """One 640x480 benchmark image and where it came from."""

    name: str
    source_size: tuple[int, int]
    fit: str
    rgb: RGBImage = field(repr=False)


@dataclass
class ImageSet:
    """The throughput image set and what was left out."""

    source: str
    images: list[BenchImage]
    dropped: dict[str, str]


def portrait_images(folder: Path) -> ImageSet:
    """Single-person portraits (labels.csv n_faces == 1), fitted to 640x480."""
    images: list[BenchImage] = []
    dropped: dict[str, str] = {}
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if int(row["n_faces"]) == 1]
    for row in rows:
        name = row["path"]
        if name in SKIPPED_PORTRAITS:
            dropped[name] = "skipped (partial face)"
            continue
        rgb = facescope.load_image(folder / name)
        added = _fitted(name, rgb)
        if added is None:
            dropped[name] = "no single whole face after cover-crop or letterbox"
        else:
            images.append(added)
    return ImageSet(str(folder), images, dropped)


def astronaut_images() -> ImageSet:
    """Fallback set: skimage's astronaut, letterboxed, and its mirror image."""
    from skimage import data

    rgb = np.ascontiguousarray(data.astronaut()[..., :3])
    images: list[BenchImage] = []
    dropped: dict[str, str] = {}
    for name, source in (("astronaut", rgb), ("astronaut_mirrored", rgb[:, ::-1])):
        frame = fit_frame(np.ascontiguousarray(source), "letterbox")
        if one_face_inside(frame):
            images.append(BenchImage(name, (rgb.shape[1], rgb.shape[0]), "letterbox", frame))
        else:
            dropped[name] = "no single whole face after letterbox"
    return ImageSet("skimage.data.astronaut()", images, dropped)


def _fitted(name: str, rgb: RGBImage) -> BenchImage | None:
    for mode in ("cover", "letterbox"):
        frame = fit_frame(rgb, mode)
        if one_face_inside(frame):
            return BenchImage(name, (rgb.shape[1], rgb.shape[0]), mode, frame)
    return None


# ------------------------------------------------------------------ the paths timed


class FaceRecognitionStyle:
    """``face_recognition.face_encodings`` re-implemented with dlib (largest face only)."""

    def __init__(self) -> None:
        import dlib

        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(verified_path("dlib_shape5")))
        self._net = dlib.face_recognition_model_v1(str(verified_path("dlib_resnet")))

    def embed_largest(self, rgb: RGBImage) -> npt.NDArray[np.float32] | None:
        """Raw 128-d descriptor of the largest HOG detection, or None when HOG finds none."""
        rects = self._detector(rgb, 1)
        if len(rects) == 0:
            return None
        rect = max(rects, key=lambda r: r.area())
        shape = self._shape(rgb, rect)
        descriptor = self._net.compute_face_descriptor(rgb, shape, num_jitters=1)
        return np.asarray(descriptor, dtype=np.float32)


def per_image(embed_one: Callable[[RGBImage], int]) -> Callable[[Sequence[RGBImage]], int]:
    """A pass over the set that embeds image by image; returns faces embedded."""

    def run(images: Sequence[RGBImage]) -> int:
        return sum(embed_one(rgb) for rgb in images)

    return run


def facescope_embed(model: str) -> Callable[[RGBImage], int]:
    """The public API path: detect + align + embed every face (one per image here)."""

    def embed_one(rgb: RGBImage) -> int:
        return len(facescope.embed(rgb, model=model))

    return embed_one


def facescope_fusion(rgb: RGBImage) -> int:
    """One detection, both recognisers on the largest face."""
    face = pipeline.largest(facescope.detect(rgb))
    if len(face) == 0:
        return 0
    for model in ("sface", "dlib"):
        pipeline.embed_faces(rgb, face, model)
    return 1


def facescope_sface_int8() -> Callable[[RGBImage], int]:
    """detect + align + SFace with the opt-in int8 graph (FACESCOPE_SFACE_PRECISION=int8)."""
    from facescope.align import warp_to_template
    from facescope.embed.sface_onnx import SFaceSession
    from facescope.models.registry import verified_path

    session = SFaceSession(verified_path("sface"), precision="int8")

    def embed_one(rgb: RGBImage) -> int:
        faces = facescope.detect(rgb)
        if len(faces) == 0:
            return 0
        crops = np.stack([warp_to_template(rgb, points) for points in faces.landmarks5])
        return len(session.run(crops))

    return embed_one


def facescope_batched(images: Sequence[RGBImage]) -> int:
    """Detect each image, then SFace on all largest-face crops in one batch."""
    return int(pipeline.embed_largest_faces(images, ("sface",)).found.sum())


def reference_path(style: FaceRecognitionStyle) -> Callable[[RGBImage], int]:
    """The face_recognition-style path as a per-image function."""

    def embed_one(rgb: RGBImage) -> int:
        return int(style.embed_largest(rgb) is not None)

    return embed_one


@dataclass
class PathTiming:
    """Throughput of one path over the image set."""

    path: str
    description: str
    images_per_s: float
    ms_per_image: float
    passes: int
    seconds_timed: float
    pass_seconds: list[float]
    faces_per_pass: int
    cpu_cores_busy: float
    ratio_to_reference: float
    ms_per_image_range: tuple[float, float]


@dataclass(frozen=True)
class BenchPath:
    """One way of embedding the image set: a name, what it calls, one pass over the set."""

    name: str
    description: str
    run_pass: Callable[[Sequence[RGBImage]], int]


def time_paths(
    paths: Sequence[BenchPath],
    images: Sequence[RGBImage],
    reference: str,
    *,
    min_seconds: float,
    min_passes: int,
    on_round: Callable[[int], None] | None = None,
) -> list[PathTiming]:
    """Time every path over `images` in rounds until each has `min_seconds` and `min_passes`.

    Every round runs one pass of every path, so all paths see the same background
    load; a path's speed is its median pass, and its ratio to `reference` is the
    median over rounds of the two paths' pass-time ratio in the same round.
    """
    durations: dict[str, list[float]] = {p.name: [] for p in paths}
    cpu: dict[str, float] = dict.fromkeys(durations, 0.0)
    faces: dict[str, int] = dict.fromkeys(durations, 0)
    rounds = 0
    while any(
        len(durations[p.name]) < min_passes or sum(durations[p.name]) < min_seconds for p in paths
    ):
        rounds += 1
        for path in paths:
            cpu_start, start = time.process_time(), time.perf_counter()
            faces[path.name] = path.run_pass(images)
            durations[path.name].append(time.perf_counter() - start)
            cpu[path.name] += time.process_time() - cpu_start
        if on_round is not None:
            on_round(rounds)
    timings = []
    for path in paths:
        passes = durations[path.name]
        median = statistics.median(passes)
        ratios = [r / t for r, t in zip(durations[reference], passes, strict=True)]
        timings.append(
            PathTiming(
                path=path.name,
                description=path.description,
                images_per_s=len(images) / median,
                ms_per_image=1000.0 * median / len(images),
                passes=len(passes),
                seconds_timed=sum(passes),
                pass_seconds=passes,
                faces_per_pass=faces[path.name],
                cpu_cores_busy=cpu[path.name] / sum(passes),
                ratio_to_reference=statistics.median(ratios),
                ms_per_image_range=(
                    1000.0 * min(passes) / len(images),
                    1000.0 * max(passes) / len(images),
                ),
            )
        )
    return timings


# ------------------------------------------------------------------------ accuracy


@dataclass
class PairScores:
    """Scores of all genuine and impostor pairs, and whether both images were acquired."""

    genuine: npt.NDArray[np.float64]
    impostor: npt.NDArray[np.float64]
    genuine_ok: npt.NDArray[np.bool_]
    impostor_ok: npt.NDArray[np.bool_]


def all_pair_scores(
    vectors: npt.NDArray[np.float32], found: npt.NDArray[np.bool_], identities: Sequence[str]
) -> PairScores:
    """Cosine scores over all images' pairs; `vectors` has one row per acquired image."""
    full = np.zeros((len(found), vectors.shape[1]), np.float32)
    full[found] = vectors
    genuine, impostor = pair_scores(full, identities)
    # products of the acquired flags, in the same pair order: 1 when both were acquired
    genuine_ok, impostor_ok = pair_scores(found.astype(np.float32)[:, None], identities)
    return PairScores(genuine, impostor, genuine_ok > 0.5, impostor_ok > 0.5)


@dataclass
class AccuracyRow:
    """Verification accuracy of one model on the calibration set."""

    model: str
    images: int
    fta: int
    genuine_pairs: int
    impostor_pairs: int
    threshold: float
    fmr: float
    tar: float
    eer: float
    genuine_pairs_all: int
    impostor_pairs_all: int
    fmr_fta_as_nonmatch: float
    tar_fta_as_nonmatch: float
    eer_fta_as_nonmatch: float
    #: True for rows restricted to another path's acquired images (its FTA are excluded)
    restricted: bool = False


def accuracy_row(
    model: str, scores: PairScores, n_images: int, fta: int, *, restricted: bool = False
) -> AccuracyRow:
    """TAR at FMR 1e-3 (threshold calibrated on acquired pairs) and EER, both ways."""
    point = operating_point(
        scores.genuine[scores.genuine_ok], scores.impostor[scores.impostor_ok], DEFAULT_FMR
    )
    genuine_all = np.where(scores.genuine_ok, scores.genuine, -np.inf)
    impostor_all = np.where(scores.impostor_ok, scores.impostor, -np.inf)
    fmr_all, fnmr_all = rates_at(genuine_all, impostor_all, point.threshold)
    return AccuracyRow(
        model=model,
        images=n_images,
        fta=fta,
        genuine_pairs=point.n_genuine,
        impostor_pairs=point.n_impostor,
        threshold=point.threshold,
        fmr=point.fmr,
        tar=1.0 - point.fnmr,
        eer=point.eer,
        genuine_pairs_all=len(genuine_all),
        impostor_pairs_all=len(impostor_all),
        fmr_fta_as_nonmatch=fmr_all,
        tar_fta_as_nonmatch=1.0 - fnmr_all,
        eer_fta_as_nonmatch=equal_error_rate(genuine_all, impostor_all)[0],
        restricted=restricted,
    )


def tracked(progress: Progress, items: Sequence[T], description: str) -> Iterator[T]:
    """Yield `items`, advancing a progress bar."""
    task = progress.add_task(description, total=len(items))
    for item in items:
        yield item
        progress.advance(task)


@dataclass
class AccuracyReport:
    """The accuracy section's results."""

    dataset: str
    images: int
    identities: int
    per_identity_limit: int | None
    rows: list[AccuracyRow]
    seconds: dict[str, float]
    failures: dict[str, dict[str, str]]
    calibration_source: str
    fusion_weights: dict[str, float]


def measure_accuracy(
    root: Path, style: FaceRecognitionStyle, *, quick: bool, console: Console
) -> AccuracyReport:
    """Accuracy of sface, dlib, fusion and the face_recognition-style path on `root`."""
    data = folder_per_identity(root)
    limit = QUICK_PER_IDENTITY if quick else None
    paths: list[Path] = []
    identities: list[str] = []
    taken: dict[str, int] = {}
    for path, identity in zip(data.paths, data.identities, strict=True):
        if limit is None or taken.get(identity, 0) < limit:
            taken[identity] = taken.get(identity, 0) + 1
            paths.append(path)
            identities.append(identity)

    calibration = load_calibration()
    seconds: dict[str, float] = {}
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        start = time.perf_counter()
        batch = pipeline.embed_largest_faces(
            tracked(progress, paths, "facescope sface+dlib"), ("sface", "dlib")
        )
        seconds["facescope_sface_dlib"] = time.perf_counter() - start

        start = time.perf_counter()
        descriptors: list[npt.NDArray[np.float32]] = []
        style_found: list[bool] = []
        for path in tracked(progress, paths, f"{REFERENCE} (HOG)"):
            descriptor = style.embed_largest(facescope.load_image(path))
            style_found.append(descriptor is not None)
            if descriptor is not None:
                descriptors.append(descriptor)
        seconds[REFERENCE] = time.perf_counter() - start

    found = batch.found
    fta = int((~found).sum())
    scores = {
        model: all_pair_scores(batch.embeddings[model].vectors, found, identities)
        for model in ("sface", "dlib")
    }
    weights = calibration.for_model(FUSION).weights
    fused = PairScores(
        calibration.fuse({m: scores[m].genuine for m in weights}),
        calibration.fuse({m: scores[m].impostor for m in weights}),
        scores["sface"].genuine_ok,
        scores["sface"].impostor_ok,
    )
    style_ok = np.asarray(style_found, dtype=bool)
    style_vectors = pipeline.normalise(
        np.stack(descriptors) if descriptors else np.zeros((0, 128), np.float32), "dlib"
    ).vectors
    rows = [
        accuracy_row("facescope sface", scores["sface"], len(paths), fta),
        accuracy_row("facescope dlib", scores["dlib"], len(paths), fta),
        accuracy_row("facescope fusion", fused, len(paths), fta),
        accuracy_row(
            REFERENCE,
            all_pair_scores(style_vectors, style_ok, identities),
            len(paths),
            int((~style_ok).sum()),
        ),
    ]
    # facescope on exactly the images the reference acquired, for a like-for-like comparison
    both = found & style_ok
    for model in ("sface", "dlib"):
        subset = batch.embeddings[model].vectors[both[found]]
        row = accuracy_row(
            f"facescope {model}, HOG-found",
            all_pair_scores(subset, both, identities),
            len(paths),
            int((~both).sum()),
            restricted=True,
        )
        rows.append(row)
    failures = {
        "facescope": {str(paths[i]): reason for i, reason in batch.errors.items()},
        REFERENCE: {str(paths[i]): "HOG found no face" for i in np.flatnonzero(~style_ok)},
    }
    return AccuracyReport(
        dataset=str(root),
        images=len(paths),
        identities=len(set(identities)),
        per_identity_limit=limit,
        rows=rows,
        seconds=seconds,
        failures=failures,
        calibration_source=calibration.source,
        fusion_weights=dict(weights),
    )


# ------------------------------------------------------------------------- report


def physical_cores() -> int | None:
    """Physical cores from /proc/cpuinfo (what ONNX Runtime sizes its pool by), if known."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return None
    cores: set[tuple[str, str]] = set()
    physical = core = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "physical id":
            physical = value
        elif key == "core id":
            core = value
            cores.add((physical, core))
    return len(cores) or None


def environment() -> dict[str, Any]:
    """Library versions and thread settings (all left at their defaults)."""
    import dlib
    import onnxruntime

    ort_threads = os.environ.get("FACESCOPE_THREADS")
    physical = physical_cores()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "facescope": facescope.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "onnxruntime": onnxruntime.__version__,
        "dlib": dlib.__version__,
        "os_cpu_count": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "physical_cores": physical,
        "opencv_threads": cv2.getNumThreads(),
        "onnxruntime_intra_op_threads": (
            int(ort_threads) if ort_threads else f"default (one per physical core: {physical})"
        ),
        "FACESCOPE_THREADS": ort_threads,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "load_average_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else [],
        "dlib_blas": bool(getattr(dlib, "DLIB_USE_BLAS", False)),
        "dlib_threads": "no setting (see 'cores busy' per path)",
    }


def throughput_table(timings: list[PathTiming], n_images: int) -> Table:
    """Rich table of the throughput results."""
    table = Table(title=f"Throughput: detect + align + embed, {n_images} images 640x480")
    table.add_column("path", no_wrap=True)
    table.add_column("images/s", justify="right")
    table.add_column("ms/image", justify="right")
    table.add_column("min-max", justify="right")
    table.add_column("passes", justify="right")
    table.add_column("faces/pass", justify="right")
    table.add_column("cores busy", justify="right")
    table.add_column("x ref", justify="right")
    for t in timings:
        table.add_row(
            t.path,
            f"{t.images_per_s:.1f}",
            f"{t.ms_per_image:.1f}",
            f"{t.ms_per_image_range[0]:.0f}-{t.ms_per_image_range[1]:.0f}",
            str(t.passes),
            f"{t.faces_per_pass}/{n_images}",
            f"{t.cpu_cores_busy:.2f}",
            f"{t.ratio_to_reference:.2f}x",
        )
    return table


def accuracy_table(report: AccuracyReport) -> Table:
    """Rich table of the accuracy results."""
    limit = f", first {report.per_identity_limit}/identity" if report.per_identity_limit else ""
    table = Table(
        title=(
            f"Accuracy: {Path(report.dataset).name}, {report.images} images, "
            f"{report.identities} identities{limit}; FMR target {DEFAULT_FMR:g}"
        )
    )
    table.add_column("model", no_wrap=True)
    table.add_column("FTA", justify="right", no_wrap=True)
    table.add_column("pairs gen/imp", justify="right", no_wrap=True)
    table.add_column("threshold", justify="right")
    table.add_column("FMR", justify="right")
    table.add_column("TAR@1e-3", justify="right")
    table.add_column("EER", justify="right")
    table.add_column("TAR@1e-3*", justify="right")
    table.add_column("EER*", justify="right")
    for index, r in enumerate(report.rows):
        if r.restricted and not report.rows[index - 1].restricted:
            table.add_section()
        table.add_row(
            r.model,
            f"({r.fta} excl.)" if r.restricted else f"{r.fta}/{r.images}",
            f"{r.genuine_pairs}/{r.impostor_pairs}",
            f"{r.threshold:.4f}",
            f"{r.fmr:.2e}",
            f"{100 * r.tar:.2f}%",
            f"{100 * r.eer:.2f}%",
            "-" if r.restricted else f"{100 * r.tar_fta_as_nonmatch:.2f}%",
            "-" if r.restricted else f"{100 * r.eer_fta_as_nonmatch:.2f}%",
        )
    return table


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="~1 s per throughput path; first 15 images per identity for accuracy",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write all numbers here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print (and optionally save) the results."""
    args = parse_args(argv)
    console = Console()
    if not console.is_terminal:  # piped (make bench | tee): don't squeeze the tables to 80
        console = Console(width=132)
    started = time.perf_counter()
    env = environment()
    console.print(
        f"[bold]facescope recognition benchmark[/]{' (quick)' if args.quick else ''}: "
        f"os.cpu_count()={env['os_cpu_count']}, CPUs available {env['cpus_available']}, "
        f"physical cores {env['physical_cores']}; threads at defaults: OpenCV "
        f"{env['opencv_threads']}, ONNX Runtime intra-op {env['onnxruntime_intra_op_threads']}, "
        f"dlib {env['dlib_threads']}; load average at start "
        + "/".join(f"{x:.2f}" for x in env["load_average_start"])
    )

    root = testdata_root()
    portraits = root / "faces" / "public_portraits"
    image_set = (
        portrait_images(portraits) if (portraits / "labels.csv").is_file() else astronaut_images()
    )
    if not image_set.images:
        console.print("[red]no usable benchmark image[/]")
        return 1
    console.print(
        f"Throughput images: {len(image_set.images)} from {image_set.source}: "
        + ", ".join(
            f"{i.name} ({i.source_size[0]}x{i.source_size[1]}, {i.fit})" for i in image_set.images
        )
    )
    for name, reason in image_set.dropped.items():
        console.print(f"  left out {name}: {reason}")
    images = [i.rgb for i in image_set.images]

    style = FaceRecognitionStyle()
    paths = [
        BenchPath(
            "facescope sface",
            'facescope.embed(img, model="sface")',
            per_image(facescope_embed("sface")),
        ),
        BenchPath(
            "facescope dlib",
            'facescope.embed(img, model="dlib")',
            per_image(facescope_embed("dlib")),
        ),
        BenchPath(
            "facescope fusion",
            "facescope.detect once, then pipeline.embed_faces with sface and dlib",
            per_image(facescope_fusion),
        ),
        BenchPath(
            "facescope sface int8",
            "facescope.detect + align + SFace int8 graph (opt-in precision)",
            per_image(facescope_sface_int8()),
        ),
        BenchPath(
            "facescope sface batched",
            'pipeline.embed_largest_faces(images, ("sface",)): detect each, 1 SFace batch',
            facescope_batched,
        ),
        BenchPath(
            REFERENCE,
            "dlib HOG detector (upsample 1) + 5-point shape_predictor + ResNet descriptor",
            per_image(reference_path(style)),
        ),
    ]
    with console.status("warming up (loading models, first inference) ..."):
        for path in paths:
            path.run_pass(images)
    min_seconds, min_passes = (1.0, 2) if args.quick else (3.0, 3)
    with console.status("timing (passes interleaved across paths) ...") as status:
        timings = time_paths(
            paths,
            images,
            REFERENCE,
            min_seconds=min_seconds,
            min_passes=min_passes,
            on_round=lambda n: status.update(f"timing: round {n} done ..."),
        )
    console.print(throughput_table(timings, len(images)))
    for t in timings:
        console.print(f"  {t.path}: {t.description}")
    console.print(
        "  Passes interleaved (each round runs every path once). images/s, ms/image: the "
        "path's median pass (min-max: its fastest and slowest pass); x ref: median over "
        f"rounds of the same round's {REFERENCE}/path pass-time ratio; cores busy: process "
        "CPU time / wall time while it ran; faces/pass: images where a face was embedded "
        "(the reference skips the embedding when HOG finds no face)."
    )

    celebrities = root / "faces" / "aligned_celebrities"
    report: AccuracyReport | None = None
    if celebrities.is_dir():
        report = measure_accuracy(celebrities, style, quick=args.quick, console=console)
        console.print(accuracy_table(report))
        weights = ", ".join(f"{m} {w:g}" for m, w in report.fusion_weights.items())
        console.print(
            "* over all pairs, a pair with an FTA image counting as a non-match (same "
            "threshold). "
            f"Thresholds calibrated on these pairs (in-sample); fusion = bundled calibration "
            f"({report.calibration_source}; weights {weights}). FTA = failure to acquire: "
            "no face found (facescope takes 112x112 crops as aligned, so it has none by "
            "construction; the face_recognition-style path must find them with HOG). The last "
            "rows score facescope on only the images HOG found, like for like with the "
            "reference's acquired-pairs columns."
        )
        for who, failed in report.failures.items():
            if failed:
                shown = ", ".join(
                    sorted(Path(p).parent.name + "/" + Path(p).name for p in failed)[:8]
                )
                more = f" (+{len(failed) - 8} more)" if len(failed) > 8 else ""
                console.print(f"  {who} FTA: {shown}{more}")
    else:
        console.print(f"[yellow]accuracy section skipped: {celebrities} not found[/]")

    sface = next(t for t in timings if t.path == "facescope sface")
    summary = f"facescope sface path: {sface.ratio_to_reference:.1f}x the {REFERENCE} throughput"
    if report is not None:
        by_model = {r.model: r for r in report.rows}
        ref = by_model[REFERENCE]
        summary += (
            f"; TAR@FMR1e-3 sface {100 * by_model['facescope sface'].tar:.1f}% vs dlib-style "
            f"{100 * ref.tar_fta_as_nonmatch:.1f}% (FTA counted as non-match; "
            f"{100 * ref.tar:.1f}% on the {ref.images - ref.fta}/{ref.images} images HOG found)"
        )
    else:
        summary += "; accuracy not measured (calibration set absent)"
    console.print(summary)

    if args.json:
        document = {
            "benchmark": "bench_recognition",
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "quick": args.quick,
            "testdata_root": str(root),
            "environment": env,
            "images": {
                "source": image_set.source,
                "count": len(image_set.images),
                "size": [WIDTH, HEIGHT],
                "used": [
                    {"name": i.name, "source_size": list(i.source_size), "fit": i.fit}
                    for i in image_set.images
                ],
                "dropped": image_set.dropped,
            },
            "throughput": [asdict(t) for t in timings],
            "accuracy": asdict(report) if report is not None else None,
            "summary": summary,
            "total_seconds": time.perf_counter() - started,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2, default=_json_default) + "\n")
        console.print(f"wrote {args.json}")
    return 0


def _json_default(value: object) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


if __name__ == "__main__":
    sys.exit(main())
