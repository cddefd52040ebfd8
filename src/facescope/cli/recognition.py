"""Recognition commands: detect, verify, identify, enroll, index, calibrate."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from facescope import api
from facescope.cli._common import (
    EXIT_BAD_INPUT,
    FmrOption,
    ForceOption,
    GalleryModelOption,
    GalleryOption,
    JsonOption,
    LargestFaceOption,
    ModelOption,
    RestoreOption,
    ThresholdsOption,
    advancing,
    bars,
    counter,
    fail,
    friendly,
    photo_inputs,
    skipped,
    warn,
)
from facescope.cli.output import emit
from facescope.errors import FacescopeError
from facescope.gallery import DEFAULT_GALLERY, Gallery
from facescope.gallery.gallery import DEFAULT_FPIR
from facescope.io.files import distinct_stems
from facescope.io.image import load_image
from facescope.match.thresholds import DEFAULT_FMR
from facescope.quality import DEFAULT_MIN_QUALITY
from facescope.types import VerifyResult

if TYPE_CHECKING:
    from facescope.match.calibrate import CalibrationRun

#: Where ``facescope calibrate`` writes its thresholds unless told otherwise.
DEFAULT_THRESHOLDS_FILE = Path("facescope-thresholds.json")


# ---- detect -----------------------------------------------------------------------------


def _detected(found: list[dict[str, Any]]) -> Iterator[RenderableType]:
    for entry in found:
        yield f"[bold]{escape(entry['image'])}[/]: {len(entry['faces'])} face(s)"
        for index, face in enumerate(entry["faces"]):
            yield f"  #{index} box={face['box']} score={face['score']}"


@friendly
def detect(
    images: Annotated[list[Path], typer.Argument(help="Photos or folders of photos.")],
    min_size: Annotated[
        float | None, typer.Option(help="Smallest face side in pixels (tiles large images).")
    ] = None,
    max_faces: Annotated[int | None, typer.Option(help="Keep at most this many faces.")] = None,
    annotate: Annotated[
        Path | None, typer.Option(help="Folder to write annotated copies of the images into.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Find faces: boxes, scores and 5 landmarks per face.

    Every input is processed; a bad one is reported on its own line and the exit status
    is 2 at the end.
    """
    from facescope.draw import annotate as draw

    files, failed = photo_inputs(images)
    names = distinct_stems(files)
    results = []
    with counter("detecting") as progress:
        for done, (path, name) in enumerate(zip(files, names, strict=True)):
            progress(done, len(files), str(path))
            try:
                rgb = load_image(path)
            except FacescopeError as exc:
                fail(str(exc))
                failed += 1
                continue
            faces = api.detect(rgb, min_size=min_size, max_faces=max_faces)
            results.append({"image": str(path), "faces": faces.to_dicts()})
            if annotate is not None:
                annotate.mkdir(parents=True, exist_ok=True)
                from PIL import Image

                Image.fromarray(draw(rgb, faces)).save(
                    annotate / f"{name}.annotated.jpg", quality=90
                )
    emit(results, as_json=as_json, render=_detected)
    if failed:
        raise typer.Exit(EXIT_BAD_INPUT)


# ---- verify -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """A verification: the decision, and which faces decided it."""

    result: VerifyResult

    def to_dict(self) -> dict[str, Any]:
        """``{"same_person", "score", "threshold", "model", "fmr", "box_a", "box_b",
        "faces_a", "faces_b", "comparisons", "decision_rule"}``."""
        data = self.result.to_dict()
        keys = ("same_person", "score", "threshold", "model", "fmr")
        return {k: data[k] for k in keys} | {
            k: data[k]
            for k in ("box_a", "box_b", "faces_a", "faces_b", "comparisons", "decision_rule")
        }


def _verdict(verdict: Verdict) -> Iterator[RenderableType]:
    result = verdict.result
    said = "[green]same person[/]" if result.same_person else "[yellow]different people[/]"
    yield (
        f"{said}  score {result.score:.4f}  threshold {result.threshold:.4f} "
        f"({result.model}, at FMR {result.fmr:g})"
    )
    if result.decision_rule is not None:
        yield f"rule: {escape(result.decision_rule.describe())}"
    if result.comparisons > 1:
        yield (
            f"compared every face ({result.faces_a} in A x {result.faces_b} in B = "
            f"{result.comparisons} pairs): best pair A {_box_text(result.box_a)}, "
            f"B {_box_text(result.box_b)}; the threshold keeps FMR {result.fmr:g} over all pairs"
        )


def _box_text(box: tuple[float, float, float, float] | None) -> str:
    return "-" if box is None else "[" + ", ".join(f"{v:.0f}" for v in box) + "]"


@friendly
def verify(
    image_a: Annotated[Path, typer.Argument(help="First image; every face in it is compared.")],
    image_b: Annotated[Path, typer.Argument(help="Second image; every face in it is compared.")],
    model: ModelOption = "sface",
    fmr: FmrOption = DEFAULT_FMR,
    thresholds: ThresholdsOption = None,
    restore: RestoreOption = "none",
    as_json: JsonOption = False,
) -> None:
    """Are two photos the same person? Every face pair is compared; the best pair decides.

    Exit 0 either way; 3 if a photo has no face.
    """
    result = api.verify(
        image_a, image_b, model=model, fmr=fmr,
        thresholds=str(thresholds) if thresholds else None, restore=restore,
    )  # fmt: skip
    emit(Verdict(result), as_json=as_json, render=_verdict)


# ---- identify ---------------------------------------------------------------------------


def _identified(found: list[dict[str, Any]]) -> Iterator[RenderableType]:
    for entry in found:
        yield f"[bold]{escape(entry['image'])}[/]: {len(entry['faces'])} face(s)"
        rules = dict.fromkeys(
            face["decision_rule"]["text"] for face in entry["faces"] if face.get("decision_rule")
        )
        for text in rules:
            yield f"  rule: {escape(text)}"
        for face in entry["faces"]:
            name = escape(face["identity"]) if face["identity"] else "[yellow]unknown[/]"
            box = ", ".join(f"{v:.0f}" for v in face["box"])
            yield (
                f"  {name}  box ({box})  score {face['score']:.4f} "
                f"(threshold {face['threshold']:.4f})"
            )


@friendly
def identify(
    images: Annotated[
        list[Path], typer.Argument(help="Probe photos or folders; every face is identified.")
    ],
    known: Annotated[
        Path | None,
        typer.Option(help="Instead of a gallery: a folder with one sub-folder per known person."),
    ] = None,
    gallery: GalleryOption = DEFAULT_GALLERY,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", "-m", help="sface, dlib or fusion (--known); a gallery uses its own."
        ),
    ] = None,
    top_k: Annotated[int, typer.Option(help="Candidates to list per face.")] = 5,
    fpir: Annotated[
        float,
        typer.Option(
            help="False-positive identification rate to hold; the threshold depends on "
            "the number of known people (docs/thresholds.md)."
        ),
    ] = DEFAULT_FPIR,
    fmr: Annotated[
        float | None,
        typer.Option(
            "--fmr",
            help="Deprecated (--known only): a fixed per-comparison FMR; use --fpir.",
        ),
    ] = None,
    probe_spectrum: Annotated[
        str | None,
        typer.Option(help="Capture spectrum of the probes: vis, nir, thermal (default: guessed)."),
    ] = None,
    spectral_thresholds: Annotated[
        Path | None,
        typer.Option(help="Per-spectrum-pair thresholds (JSON) for cross-spectral matching."),
    ] = None,
    restore: RestoreOption = "none",
    as_json: JsonOption = False,
) -> None:
    """Who is in these photos? Searches the gallery (or --known); unknown when nobody matches.

    Both hold --fpir over the number of known people (the 1:N rule, printed with the result).
    Every photo is processed; one that fails is reported on its own line and the exit
    status is 2 at the end.
    """
    files, failed = photo_inputs(images)
    if known is not None and spectral_thresholds is not None:
        raise ValueError("--spectral-thresholds needs a gallery (its templates record spectra)")
    output: list[dict[str, Any]] = []
    if known is not None:
        from facescope.match.calibrate import folder_per_identity

        labelled = folder_per_identity(known)
        people: dict[str, list[Any]] = {}
        for path, identity in zip(labelled.paths, labelled.identities, strict=True):
            people.setdefault(identity, []).append(path)
        chosen = model or "sface"
        embeddings = api.enroll(people, model=chosen)
        if fmr is not None:
            warn("--fmr is deprecated for identify: use --fpir (docs/thresholds.md)")

        def search(path: Path) -> list[Any]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # said once, above
                return api.identify(
                    path, embeddings, model=chosen, top_k=top_k, fpir=fpir, fmr=fmr,
                    restore=restore,
                )  # fmt: skip

        failed += _each_photo(files, search, output)
    else:
        if fmr is not None:
            raise ValueError("--fmr applies to --known only; a gallery holds --fpir")
        with Gallery.open(
            gallery, model=model, spectral_thresholds=spectral_thresholds, create=False
        ) as opened:

            def lookup(path: Path) -> list[Any]:
                return opened.identify(path, top_k=top_k, fpir=fpir,
                                       probe_spectrum=probe_spectrum, restore=restore)  # fmt: skip

            failed += _each_photo(files, lookup, output)
    emit(output, as_json=as_json, render=_identified)
    if failed:
        raise typer.Exit(EXIT_BAD_INPUT)


def _each_photo(
    files: list[Path], search: Callable[[Path], list[Any]], output: list[dict[str, Any]]
) -> int:
    """Run `search` on every photo, appending its faces to `output`; a photo that fails is
    reported on its own line and counted (the batch goes on)."""
    failed = 0
    with counter("identifying") as progress:
        for done, path in enumerate(files):
            progress(done, len(files), str(path))
            try:
                found = search(path)
            except (FacescopeError, OSError) as exc:
                fail(str(exc) if str(path) in str(exc) else f"{path}: {exc}")
                failed += 1
                continue
            output.append({"image": str(path), "faces": [f.to_dict() for f in found]})
    return failed


# ---- enroll and index -------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolled:
    """What ``facescope enroll`` stored."""

    subject: str
    added: int
    template_ids: list[int]
    gallery: str


def _enrolled(result: Enrolled) -> Iterator[RenderableType]:
    yield (
        f"enrolled {result.added} photo(s) of {escape(repr(result.subject))} "
        f"into {escape(result.gallery)}"
    )


@friendly
def enroll(
    name: Annotated[str, typer.Argument(help="The person's name (subject id).")],
    images: Annotated[
        list[Path], typer.Argument(help="Photos (or folders) of that person, one face each.")
    ],
    gallery: GalleryOption = DEFAULT_GALLERY,
    model: GalleryModelOption = None,
    largest_face: LargestFaceOption = False,
    min_quality: Annotated[
        float,
        typer.Option(
            "--min-quality",
            min=0.0,
            max=1.0,
            help="Refuse photos whose face quality score is below this, or that are too "
            "small, blurred, dark, turned aside or cut by the border; 0 turns the check off.",
        ),
    ] = DEFAULT_MIN_QUALITY,
    spectrum: Annotated[
        str | None,
        typer.Option(help="Capture spectrum of the photos: vis, nir, thermal (default: guessed)."),
    ] = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Enrol a person into the gallery from photos (all or nothing)."""
    files, problems = photo_inputs(images)
    if problems:
        raise typer.Exit(EXIT_BAD_INPUT)  # all or nothing: each problem was named above
    with Gallery.open(gallery, model=model) as opened:
        result = opened.enroll(
            name, files, largest_face=largest_face, min_quality=min_quality,
            spectrum=spectrum, allow_similar=force,
        )  # fmt: skip
    enrolled = Enrolled(result.subject, result.added, list(result.template_ids), gallery)
    emit(enrolled, as_json=as_json, render=_enrolled)


@dataclass(frozen=True)
class Indexed:
    """What ``facescope index`` stored and what it skipped (file and reason)."""

    added: int
    total: int
    gallery: str
    skipped: list[dict[str, str]] = field(default_factory=list)


def _indexed(result: Indexed) -> Iterator[RenderableType]:
    yield f"enrolled {result.added} of {result.total} photo(s) into {escape(result.gallery)}"


@friendly
def index(
    folder: Annotated[
        Path,
        typer.Argument(
            help="Labelled photos: a folder with one sub-folder per person, a folder with "
            "labels.csv (path,identity) or such a CSV file (the layouts `eval` reads)."
        ),
    ],
    gallery: GalleryOption = DEFAULT_GALLERY,
    model: GalleryModelOption = None,
    largest_face: LargestFaceOption = False,
    engine: Annotated[
        str,
        typer.Option(
            "--engine", help="local (this process) or ray (Ray tasks; needs the ray extra)."
        ),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="Ray cluster address (ray://head:10001, auto); default: a local Ray.",
        ),
    ] = None,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Bulk-enrol labelled photos; bad or duplicate files are reported and skipped."""
    from facescope.evaluate.datasets import load_dataset
    from facescope.gallery.bulk import bulk_enroll, require_engine
    from facescope.match.calibrate import LabelledImages

    require_engine(engine, address)
    dataset = load_dataset(folder)
    labelled = LabelledImages(dataset.paths, dataset.identities)
    with (
        Gallery.open(gallery, model=model) as opened,
        advancing("enrolling", len(labelled.paths)) as advance,
    ):
        result = bulk_enroll(
            opened,
            labelled,
            largest_face=largest_face,
            engine=engine,
            address=address,
            progress=advance,
            allow_similar=force,
        )
    for _, problem in result.problems:
        skipped(problem)
    problems = [{"path": str(path), "problem": problem} for path, problem in result.problems]
    emit(Indexed(result.added, result.total, gallery, problems), as_json=as_json, render=_indexed)


# ---- calibrate --------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibrated:
    """A calibration run, the FMR targets asked for, and the file written."""

    run: CalibrationRun
    targets: list[float]
    out: Path

    def to_dict(self) -> dict[str, Any]:
        """The thresholds document, the images without a face, and where it was written."""
        return {
            **self.run.calibration.to_json(),
            "failures": self.run.failures,
            "written": str(self.out),
        }


def _calibrated(calibrated: Calibrated) -> Iterator[RenderableType]:
    run, out = calibrated.run, str(calibrated.out)
    table = Table(title=f"Calibration on {escape(str(run.calibration.source))}")
    for column in ("model", "FMR target", "threshold", "FNMR", "EER", "genuine", "impostor"):
        table.add_column(column)
    for name, entry in run.calibration.models.items():
        for target in calibrated.targets:
            table.add_row(
                name,
                f"{target:g}",
                f"{entry.threshold(target):.4f}",
                f"{entry.fnmr[target]:.2%}",
                f"{entry.eer:.2%}",
                str(entry.n_genuine),
                str(entry.n_impostor),
            )
    yield table
    if run.failures:
        yield f"[yellow]{len(run.failures)} image(s) had no usable face:[/]"
        for path, reason in run.failures.items():
            yield f"  {escape(str(path))}: {escape(str(reason))}"
    yield f"thresholds written to {escape(out)}; use them with --thresholds {escape(out)}"


@friendly
def calibrate(
    folder: Annotated[Path, typer.Argument(help="Folder with one sub-folder per identity.")],
    fmr: Annotated[
        list[float] | None,
        typer.Option(
            "--fmr",
            help="Target false-match rate(s), repeatable (default 1e-2, 1e-3 and 1e-4: the 1:1 "
            "rule refuses FMRs outside those calibrated, the 1:N rule extrapolates from them).",
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Where to write the thresholds file.")
    ] = DEFAULT_THRESHOLDS_FILE,
    model: Annotated[
        list[str] | None, typer.Option("--model", help="Models to calibrate (default both).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Recompute decision thresholds for your own labelled faces at a target FMR."""
    from facescope.api import calibrate as run_calibration
    from facescope.match.calibrate import DEFAULT_FMR_TARGETS

    targets = fmr or list(DEFAULT_FMR_TARGETS)
    models = model or ["sface", "dlib"]
    with bars() as progress:
        run = run_calibration(
            folder, fmr_targets=targets, models=models, progress=progress.track("embedding")
        )
    run.calibration.save(out)
    emit(Calibrated(run, targets, out), as_json=as_json, render=_calibrated)


def register(app: typer.Typer) -> None:
    """Add the recognition commands to `app`."""
    for command in (detect, verify, identify, enroll, index, calibrate):
        app.command()(command)
