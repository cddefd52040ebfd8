"""The `facescope` command line. Owns the terminal: rich output, --json, exit codes.

Exit status: 0 success (a verify that says "different people" is a success);
2 bad input or usage; 3 no face found where one was needed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from facescope import api
from facescope.analysis.quality import DEFAULT_MIN_QUALITY
from facescope.errors import FacescopeError, NoFaceError
from facescope.gallery import DEFAULT_GALLERY, Gallery
from facescope.gallery.gallery import DEFAULT_FPIR
from facescope.io.image import load_image
from facescope.match.thresholds import DEFAULT_FMR

EXIT_BAD_INPUT = 2
EXIT_NO_FACE = 3

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Offline face detection, verification and identification on CPU.",
)
console = Console()
errors = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(command: F) -> F:
    """Turn facescope errors into a one-line message and an exit status, never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except NoFaceError as exc:
            errors.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(EXIT_NO_FACE) from None
        except (FacescopeError, ValueError, OSError) as exc:
            errors.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(EXIT_BAD_INPUT) from None

    return wrapper  # type: ignore[return-value]


def _emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=errors,
        transient=True,
    )


def _track(items: list[Path], label: str) -> Iterator[Path]:
    with _bar() as progress:
        yield from progress.track(items, total=len(items), description=label)


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar to `total`; yields the function that advances it."""
    with _bar() as progress:
        task = progress.add_task(label, total=total)
        yield lambda done: progress.advance(task, done)


ModelOption = Annotated[
    str, typer.Option("--model", "-m", help="sface (fast), dlib, or fusion (most accurate).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
FmrOption = Annotated[
    float, typer.Option("--fmr", help="False-match rate the decision threshold is calibrated at.")
]
ThresholdsOption = Annotated[
    Path | None,
    typer.Option("--thresholds", help="Thresholds file from `facescope calibrate`.", exists=False),
]


@app.command()
@_friendly
def detect(
    images: Annotated[list[Path], typer.Argument(help="Image files.")],
    min_size: Annotated[
        float | None, typer.Option(help="Smallest face side in pixels (tiles large images).")
    ] = None,
    max_faces: Annotated[int | None, typer.Option(help="Keep at most this many faces.")] = None,
    annotate: Annotated[
        Path | None, typer.Option(help="Folder to write annotated copies of the images into.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Find faces: boxes, scores and 5 landmarks per face."""
    from facescope.draw import annotate as draw

    results = []
    failed = False
    for path in images:
        try:
            rgb = load_image(path)
        except FacescopeError as exc:
            errors.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
            failed = True
            continue
        faces = api.detect(rgb, min_size=min_size, max_faces=max_faces)
        results.append({"image": str(path), "faces": faces.to_dicts()})
        if annotate is not None:
            annotate.mkdir(parents=True, exist_ok=True)
            target = annotate / f"{path.stem}.annotated.jpg"
            from PIL import Image

            Image.fromarray(draw(rgb, faces)).save(target, quality=90)
        if not as_json:
            console.print(f"[bold]{path}[/]: {len(faces)} face(s)")
            for index, face in enumerate(faces.to_dicts()):
                console.print(f"  #{index} box={face['box']} score={face['score']}")
    if as_json:
        _emit_json(results)
    if failed:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
@_friendly
def verify(
    image_a: Annotated[Path, typer.Argument(help="First image (its largest face is used).")],
    image_b: Annotated[Path, typer.Argument(help="Second image.")],
    model: ModelOption = "sface",
    fmr: FmrOption = DEFAULT_FMR,
    thresholds: ThresholdsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Are two photos the same person? Exit 0 either way; 3 if a photo has no face."""
    result = api.verify(
        image_a, image_b, model=model, fmr=fmr, thresholds=str(thresholds) if thresholds else None
    )
    if as_json:
        data = result.to_dict()
        _emit_json({k: data[k] for k in ("same_person", "score", "threshold", "model")})
        return
    verdict = "[green]same person[/]" if result.same_person else "[yellow]different people[/]"
    console.print(
        f"{verdict}  score {result.score:.4f}  threshold {result.threshold:.4f} "
        f"({result.model}, calibrated at FMR {result.far_target:g})"
    )


GalleryModelOption = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", help="Model of a new gallery: sface or dlib (a gallery keeps its own)."
    ),
]
GalleryOption = Annotated[
    str, typer.Option("--gallery", "-g", help="Gallery folder or sqlite:///file URI.")
]


@app.command()
@_friendly
def identify(
    images: Annotated[list[Path], typer.Argument(help="Probe images; every face is identified.")],
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
        float, typer.Option(help="False-positive identification rate of the gallery threshold.")
    ] = DEFAULT_FPIR,
    fmr: FmrOption = DEFAULT_FMR,
    probe_spectrum: Annotated[
        str | None,
        typer.Option(help="Capture spectrum of the probes: vis, nir, thermal (default: guessed)."),
    ] = None,
    spectral_thresholds: Annotated[
        Path | None,
        typer.Option(help="Per-spectrum-pair thresholds (JSON) for cross-spectral matching."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Who is in these photos? Searches the gallery (or --known); unknown when nobody matches."""
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
        for path in images:
            found = api.identify(path, embeddings, model=chosen, top_k=top_k, fmr=fmr)
            output.append({"image": str(path), "faces": [f.to_dict() for f in found]})
    else:
        with Gallery.open(gallery, model=model, spectral_thresholds=spectral_thresholds) as opened:
            for path in images:
                found = opened.identify(path, top_k=top_k, fpir=fpir, probe_spectrum=probe_spectrum)
                output.append({"image": str(path), "faces": [f.to_dict() for f in found]})
    if as_json:
        _emit_json(output)
        return
    for entry in output:
        console.print(f"[bold]{entry['image']}[/]: {len(entry['faces'])} face(s)")
        for face in entry["faces"]:
            name = face["identity"] or "[yellow]unknown[/]"
            console.print(
                f"  {name}  score {face['score']:.4f} (threshold {face['threshold']:.4f})"
            )


@app.command()
@_friendly
def enroll(
    name: Annotated[str, typer.Argument(help="The person's name (subject id).")],
    images: Annotated[list[Path], typer.Argument(help="Photos of that person, one face each.")],
    gallery: GalleryOption = DEFAULT_GALLERY,
    model: GalleryModelOption = None,
    largest_face: Annotated[
        bool, typer.Option("--largest-face", help="Use the largest face of group photos.")
    ] = False,
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
) -> None:
    """Enrol a person into the gallery from photos (all or nothing)."""
    with Gallery.open(gallery, model=model) as opened:
        result = opened.enroll(
            name, list(images), largest_face=largest_face, min_quality=min_quality,
            spectrum=spectrum,
        )  # fmt: skip
        console.print(f"enrolled {result.added} photo(s) of {name!r} into {gallery}")


@app.command()
@_friendly
def index(
    folder: Annotated[
        Path, typer.Argument(help="Folder with one sub-folder of photos per person.")
    ],
    gallery: GalleryOption = DEFAULT_GALLERY,
    model: GalleryModelOption = None,
    largest_face: Annotated[
        bool, typer.Option("--largest-face", help="Use the largest face of group photos.")
    ] = False,
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
) -> None:
    """Bulk-enrol a folder-per-identity tree; bad or duplicate files are reported and skipped."""
    from facescope.gallery.bulk import bulk_enroll, require_engine
    from facescope.match.calibrate import folder_per_identity

    require_engine(engine, address)
    labelled = folder_per_identity(folder)
    with (
        Gallery.open(gallery, model=model) as opened,
        _progress(len(labelled.paths), "enrolling") as advance,
    ):
        result = bulk_enroll(
            opened,
            labelled,
            largest_face=largest_face,
            engine=engine,
            address=address,
            progress=advance,
        )
    console.print(f"enrolled {result.added} of {result.total} photo(s) into {gallery}")
    for _, problem in result.problems:
        errors.print(f"[yellow]skipped:[/] {escape(problem)}", highlight=False)


gallery_app = typer.Typer(help="Inspect and manage the gallery.", no_args_is_help=True)
app.add_typer(gallery_app, name="gallery")


@gallery_app.command("list")
@_friendly
def gallery_list(gallery: GalleryOption = DEFAULT_GALLERY, as_json: JsonOption = False) -> None:
    """List subjects and their template counts."""
    with Gallery.open(gallery) as opened:
        subjects = opened.list()
    if as_json:
        _emit_json(
            [{"name": s.name, "templates": s.n_templates, "metadata": s.metadata} for s in subjects]
        )
        return
    table = Table(title=f"gallery {gallery}")
    for column in ("subject", "templates"):
        table.add_column(column)
    for s in subjects:
        table.add_row(s.name, str(s.n_templates))
    console.print(table)


@gallery_app.command("show")
@_friendly
def gallery_show(name: str, gallery: GalleryOption = DEFAULT_GALLERY) -> None:
    """Show one subject."""
    with Gallery.open(gallery) as opened:
        info = opened.show(name)
    _emit_json({"name": info.name, "templates": info.n_templates, "metadata": info.metadata})


@gallery_app.command("remove")
@_friendly
def gallery_remove(name: str, gallery: GalleryOption = DEFAULT_GALLERY) -> None:
    """Erase a subject and every template of it."""
    with Gallery.open(gallery) as opened:
        removed = opened.remove(name)
    console.print(f"removed {name!r} and {removed} template(s)")


@gallery_app.command("export")
@_friendly
def gallery_export(out: Path, gallery: GalleryOption = DEFAULT_GALLERY) -> None:
    """Write all subjects and templates to a facescope-gallery/1 JSON file."""
    with Gallery.open(gallery) as opened:
        count = opened.export(out)
    console.print(f"exported {count} template(s) to {out}")


@gallery_app.command("import")
@_friendly
def gallery_import(
    file: Path,
    gallery: GalleryOption = DEFAULT_GALLERY,
    no_face_check: Annotated[
        bool,
        typer.Option("--no-face-check", help="Import templates even if not made from a face."),
    ] = False,
) -> None:
    """Add subjects and templates from an export of the same model.

    Templates whose recorded raw norm says they were not made from a face are
    refused (nothing is imported) unless --no-face-check is given.
    """
    with Gallery.open(gallery) as opened:
        added = opened.import_file(file, check_faces=not no_face_check)
    console.print(f"imported {added} template(s) from {file}")


@app.command()
@_friendly
def calibrate(
    folder: Annotated[Path, typer.Argument(help="Folder with one sub-folder per identity.")],
    fmr: Annotated[
        list[float] | None, typer.Option("--fmr", help="Target false-match rate(s).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where to write the thresholds file.")] = Path(
        "facescope-thresholds.json"
    ),
    model: Annotated[
        list[str] | None, typer.Option("--model", help="Models to calibrate (default both).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Recompute decision thresholds for your own labelled faces at a target FMR."""
    from facescope.match.calibrate import calibrate as run_calibration

    targets = fmr or [DEFAULT_FMR]
    models = model or ["sface", "dlib"]
    run = run_calibration(
        folder,
        fmr_targets=targets,
        models=models,
        progress=lambda paths: _track(list(paths), "embedding"),
    )
    run.calibration.save(out)
    if as_json:
        _emit_json({**run.calibration.to_json(), "failures": run.failures, "written": str(out)})
        return
    table = Table(title=f"Calibration on {run.calibration.source}")
    for column in ("model", "FMR target", "threshold", "FNMR", "EER", "genuine", "impostor"):
        table.add_column(column)
    for name, entry in run.calibration.models.items():
        for target in targets:
            table.add_row(
                name,
                f"{target:g}",
                f"{entry.threshold(target):.4f}",
                f"{entry.fnmr[target]:.2%}",
                f"{entry.eer:.2%}",
                str(entry.n_genuine),
                str(entry.n_impostor),
            )
    console.print(table)
    if run.failures:
        console.print(f"[yellow]{len(run.failures)} image(s) had no usable face:[/]")
        for path, reason in run.failures.items():
            console.print(f"  {path}: {reason}")
    console.print(f"thresholds written to {out}; use them with --thresholds {out}")


@app.command()
def models(
    as_json: JsonOption = False,
    rebuild: Annotated[
        bool, typer.Option(help="Convert the converted graphs again even when cached.")
    ] = False,
) -> None:
    """List the bundled models: package, version, SHA-256, licence and status.

    Also builds, once, the graphs converted from them (SFace for ONNX Runtime) into the
    converted-model cache the runtime loads; `make install` runs this.
    """
    from facescope.models import converted
    from facescope.models.registry import MODEL_FILES, model_status

    statuses = [model_status(key) for key in MODEL_FILES]

    def building(spec: converted.ConvertedModel) -> None:
        errors.print(
            f"building {spec.key} from {spec.source} (converter v{spec.converter_version}) "
            f"into {converted.cache_dir()} …",
            highlight=False,
        )

    built = [
        converted.ensure_built(key, force=rebuild, on_build=building)
        for key in converted.CONVERTED_MODELS
    ]
    if as_json:
        _emit_json(
            [
                {
                    "model": s.spec.key,
                    "task": s.spec.task,
                    "package": f"{s.spec.distribution}=={s.spec.version}",
                    "installed": s.installed_version,
                    "sha256": s.spec.sha256,
                    "licence": s.spec.licence,
                    "status": s.status,
                    "detail": s.detail,
                    **(
                        {
                            "converted": [
                                {
                                    "model": c.spec.key,
                                    "task": c.spec.task,
                                    "converter_version": c.spec.converter_version,
                                    "path": str(c.path) if c.path else None,
                                    "sha256": c.record.sha256 if c.record else None,
                                    "status": c.status,
                                    "detail": c.detail,
                                }
                                for c in built
                                if c.spec.source == s.spec.key
                            ]
                        }
                        if any(c.spec.source == s.spec.key for c in built)
                        else {}
                    ),
                }
                for s in statuses
            ]
        )
    else:
        table = Table(title="facescope models")
        for column in ("model", "task", "package", "licence", "sha256", "status"):
            table.add_column(column, overflow="fold")
        for s in statuses:
            colour = "green" if s.status == "ok" else "red"
            table.add_row(
                s.spec.key,
                s.spec.task,
                f"{s.spec.distribution}=={s.spec.version}",
                s.spec.licence,
                s.spec.sha256[:16] + "…",
                f"[{colour}]{s.status}[/]",
            )
        for c in built:
            colour = "green" if c.status == "ok" else "red"
            table.add_row(
                c.spec.key,
                c.spec.task,
                f"converted from {c.spec.source} (converter v{c.spec.converter_version})",
                c.spec.source_spec.licence,
                c.record.sha256[:16] + "…" if c.record else "—",
                f"[{colour}]{c.status}[/]",
            )
        console.print(table)
        console.print(f"converted graphs: {escape(str(converted.cache_dir()))}", highlight=False)
        for s in statuses:
            if s.status != "ok":
                console.print(f"[red]{s.spec.key}[/]: {s.detail}")
        for c in built:
            if c.status != "ok":
                console.print(f"[red]{c.spec.key}[/]: {escape(c.detail)}", highlight=False)
    if any(s.status != "ok" for s in statuses) or any(c.status != "ok" for c in built):
        raise typer.Exit(1)


@app.command()
@_friendly
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the annotated result.")] = Path("out"),
) -> None:
    """Enrol known people and identify the faces in a photo (the `make run` job)."""
    from facescope.demo import run_demo

    run_demo(out, console)


@app.command()
@_friendly
def video(
    source: Annotated[
        str, typer.Argument(help="Video file, rtsp:// or http(s):// URL, or camera index.")
    ],
    gallery: Annotated[
        Path | None, typer.Option("--gallery", "-g", help="Gallery to identify tracks against.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Annotated video to write (.mp4, .webm, .avi).")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Tracks as JSON to this file.")
    ] = None,
    jsonl: Annotated[
        bool, typer.Option(help="Print each track as a JSON line when it ends.")
    ] = False,
    stride: Annotated[int, typer.Option(help="Detect every N-th frame (others are tracked).")] = 1,
    fpir: Annotated[float, typer.Option(help="False-positive identification rate.")] = DEFAULT_FPIR,
    thumbs: Annotated[
        Path | None, typer.Option(help="Folder for each track's best thumbnail.")
    ] = None,
    max_frames: Annotated[int | None, typer.Option(help="Stop after this many frames.")] = None,
) -> None:
    """Track faces through a video; one identity per person (track), not per frame."""
    from facescope.video.cli import run_video

    run_video(
        source,
        gallery=gallery,
        out=out,
        json_out=json_out,
        jsonl=jsonl,
        stride=stride,
        fpir=fpir,
        thumbs=thumbs,
        max_frames=max_frames,
        console=console,
        errors=errors,
        progress=_bar,
    )


@app.command()
@_friendly
def analyze(
    source: Annotated[str, typer.Argument(help="Image, video file, stream URL or camera index.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print one CSV row per face (per frame).")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="Write the table to .csv, .parquet or .json.")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Folder for pictures: the annotated image, or a video's time series."),
    ] = None,
    expressions: Annotated[
        bool, typer.Option(help="Run the expression models (the slowest stage).")
    ] = True,
    landmarks68: Annotated[bool, typer.Option(help="Also dlib's 68 points.")] = False,
    every: Annotated[int, typer.Option(help="Video: analyse every N-th frame.")] = 1,
    max_frames: Annotated[int | None, typer.Option(help="Video: stop after N frames.")] = None,
    max_faces: Annotated[int | None, typer.Option(help="Analyse at most N faces.")] = None,
) -> None:
    """Mesh, head pose, gaze, eyes, mouth, expressions, action units and quality per face."""
    from facescope.analysis.analyzer import AnalyzeOptions
    from facescope.analysis.cli import run_analyze

    run_analyze(
        source,
        options=AnalyzeOptions(
            expressions=expressions, landmarks68=landmarks68, max_faces=max_faces
        ),
        as_json=as_json,
        as_csv=as_csv,
        out=out,
        plot=plot,
        every=every,
        max_frames=max_frames,
        console=console,
        errors=errors,
        progress=_bar,
    )


eval_app = typer.Typer(
    help="Biometric evaluation (ISO/IEC 19795-1, 30107-3) with HTML reports.",
    no_args_is_help=True,
)
app.add_typer(eval_app, name="eval")
EvalModels = Annotated[
    list[str] | None,
    typer.Option("--model", "-m", help="sface, dlib, fusion (repeat; default: all three)."),
]
ReportOption = Annotated[
    Path | None, typer.Option(help="Folder for index.html (figures embedded) and metrics.json.")
]
BootOption = Annotated[
    int, typer.Option("--boot", help="Bootstrap draws over identities (0: off).")
]


@eval_app.command("verify")
@_friendly
def eval_verify(
    dataset: Annotated[
        str, typer.Argument(help="Folder per identity, folder with labels.csv, or a CSV.")
    ],
    model: EvalModels = None,
    pairs: Annotated[
        str | None, typer.Option(help="LFW-style pairs.txt or a pairs CSV (a,b[,same]).")
    ] = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
    boot: BootOption = 500,
    seed: Annotated[int, typer.Option(help="Seed for pairs, split and bootstrap.")] = 0,
    max_impostor: Annotated[
        int | None, typer.Option(help="Sample this many impostor pairs (default: all).")
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="Label column to split metrics by (fairness).")
    ] = None,
    identify: Annotated[
        bool, typer.Option(help="Also open-set identification (CMC, FNIR at FPIR).")
    ] = True,
    cache: Annotated[Path | None, typer.Option(help="Embedding cache file.")] = None,
) -> None:
    """Verification (FMR, FNMR, EER, TAR, ROC, DET) and open-set identification on a dataset."""
    from facescope.evaluate.cli import run_eval

    run_eval(
        [dataset], models=model or ["sface", "dlib", "fusion"], pairs=pairs, report=report,
        as_json=as_json, n_boot=boot, seed=seed, max_impostor=max_impostor, group=group,
        identify=identify, cache=cache, console=console, errors=errors, progress=_bar,
    )  # fmt: skip


@eval_app.command("compare")
@_friendly
def eval_compare(
    datasets: Annotated[list[str], typer.Argument(help="One or more datasets.")],
    model: EvalModels = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
    boot: BootOption = 500,
    seed: Annotated[int, typer.Option(help="Seed for pairs, split and bootstrap.")] = 0,
    max_impostor: Annotated[int | None, typer.Option(help="Sample impostor pairs.")] = None,
    cache: Annotated[Path | None, typer.Option(help="Embedding cache file.")] = None,
) -> None:
    """Several models on several datasets, side by side in one report."""
    from facescope.evaluate.cli import run_eval

    run_eval(
        datasets, models=model or ["sface", "dlib", "fusion"], pairs=None, report=report,
        as_json=as_json, n_boot=boot, seed=seed, max_impostor=max_impostor, group=None,
        identify=True, cache=cache, console=console, errors=errors, progress=_bar,
    )  # fmt: skip


@eval_app.command("pad")
@_friendly
def eval_pad(
    scores: Annotated[
        Path, typer.Argument(help="CSV: score (high = bona fide), attack (0/1), species.")
    ],
    threshold: Annotated[float, typer.Option(help="Bona fide when score >= threshold.")] = 0.5,
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """Presentation-attack detection metrics (ISO/IEC 30107-3) from scores."""
    from facescope.evaluate.cli import run_pad

    run_pad(
        scores, threshold=threshold, report=report, as_json=as_json, console=console, errors=errors
    )


LibraryOption = Annotated[
    Path, typer.Option("--library", "-l", help="Face library folder (faces and clusters).")
]


@app.command()
@_friendly
def cluster(
    inputs: Annotated[list[Path], typer.Argument(help="Photo folders, photos or videos.")],
    library: LibraryOption = Path("./facescope-library"),
    gallery: Annotated[
        Path | None,
        typer.Option(
            "--gallery", "-g", help="Label faces the gallery knows instead of clustering."
        ),
    ] = None,
    eps: Annotated[
        float, typer.Option(help="Cosine distance of neighbours (0.45 = similarity 0.55).")
    ] = 0.45,
    min_faces: Annotated[int, typer.Option(help="Faces needed to start a cluster.")] = 3,
    as_json: JsonOption = False,
) -> None:
    """Group the faces of unknown people across photos and videos (stable cluster ids)."""
    from facescope.cluster.cli import run_cluster_cli

    run_cluster_cli(
        inputs,
        library=library,
        gallery=gallery,
        eps=eps,
        min_faces=min_faces,
        json_out=as_json,
        console=console,
        errors=errors,
        progress=_bar,
    )


people_app = typer.Typer(
    help="Rename, merge, split and promote face clusters.", no_args_is_help=True
)
app.add_typer(people_app, name="people")


@people_app.command("list")
@_friendly
def people_list(
    library: LibraryOption = Path("./facescope-library"), as_json: JsonOption = False
) -> None:
    """Clusters, largest first, with their names and sizes."""
    from facescope.cluster import FaceLibrary

    with FaceLibrary.open(library) as faces:
        clusters = faces.clusters()
    if as_json:
        _emit_json([c.to_dict() for c in clusters])
        return
    table = Table("cluster", "name", "faces", "gallery subject")
    for c in clusters:
        table.add_row(str(c.id), escape(c.name or ""), str(c.size), escape(c.subject or ""))
    console.print(table)


@people_app.command("rename")
@_friendly
def people_rename(
    cluster_id: int, name: str, library: LibraryOption = Path("./facescope-library")
) -> None:
    """Name a cluster."""
    from facescope.cluster import FaceLibrary

    with FaceLibrary.open(library) as faces:
        faces.rename(cluster_id, name)
    console.print(f"cluster {cluster_id} is now {escape(name)!r}")


@people_app.command("merge")
@_friendly
def people_merge(
    keep: int, other: int, library: LibraryOption = Path("./facescope-library")
) -> None:
    """Merge cluster OTHER into KEEP (KEEP keeps its id)."""
    from facescope.cluster import FaceLibrary

    with FaceLibrary.open(library) as faces:
        faces.merge(keep, other)
    console.print(f"merged cluster {other} into {keep}")


@people_app.command("split")
@_friendly
def people_split(
    cluster_id: int,
    face_ids: Annotated[list[int], typer.Argument(help="Faces to move to a new cluster.")],
    library: LibraryOption = Path("./facescope-library"),
) -> None:
    """Move some faces of a cluster into a new cluster."""
    from facescope.cluster import FaceLibrary

    with FaceLibrary.open(library) as faces:
        new_id = faces.split(cluster_id, face_ids)
    console.print(f"moved {len(face_ids)} face(s) to new cluster {new_id}")


@people_app.command("promote")
@_friendly
def people_promote(
    cluster_id: int,
    name: Annotated[
        str | None, typer.Argument(help="Subject name (default: the cluster's).")
    ] = None,
    library: LibraryOption = Path("./facescope-library"),
    gallery: Annotated[Path, typer.Option("--gallery", "-g", help="Gallery to enrol into.")] = Path(
        DEFAULT_GALLERY
    ),
) -> None:
    """Enrol a cluster's faces into the gallery as one subject."""
    from facescope.cluster import FaceLibrary

    with FaceLibrary.open(library) as faces, Gallery.open(gallery) as target:
        result = faces.promote(cluster_id, target, name)
    console.print(f"enrolled {result.added} face(s) as {escape(result.subject)!r}")


DataOption = Annotated[
    Path,
    typer.Option(
        "--data", help="Data folder: the default collection, other collections, keys, audit log."
    ),
]


@app.command()
@_friendly
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on; beyond loopback needs an API key.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    data: DataOption = Path(DEFAULT_GALLERY),
    model: Annotated[str, typer.Option(help="Model of new collections: sface or dlib.")] = "sface",
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-proxy",
            help="Address of a reverse proxy whose X-Forwarded-For is believed (repeat).",
        ),
    ] = None,
) -> None:
    """Run the REST API and web UI (http://HOST:PORT/, OpenAPI at /openapi.json)."""
    from facescope.service.server import check_bind
    from facescope.service.server import serve as run_server
    from facescope.service.settings import ServiceSettings

    settings = ServiceSettings.from_env(
        data=data, model=model, host=host, trusted_proxies=tuple(trusted_proxy or ())
    )
    keyed = check_bind(host, settings)
    shown = f"[{host}]" if ":" in host else host
    errors.print(
        f"facescope serving {escape(str(data))} on http://{shown}:{port}/ "
        f"({'API keys required' if keyed else 'open: no API keys configured, loopback only'})",
        highlight=False,
    )
    run_server(settings, host, port)


audit_app = typer.Typer(
    help="Privacy audits of a deployment's stored embeddings (defensive use).",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")


@audit_app.command("invert")
@_friendly
def audit_invert(
    gallery: Annotated[
        Path | None,
        typer.Option(help="Labelled photos (folder per identity or labels.csv) to attack."),
    ] = None,
    embeddings: Annotated[
        Path | None,
        typer.Option(help="Stored embeddings: a gallery export (.json) or .npy/.npz."),
    ] = None,
    target: Annotated[
        str, typer.Option(help="Attacked recogniser: sface, dlib, or your embedding URL.")
    ] = "sface",
    model: Annotated[
        str | None,
        typer.Option(
            help="Model of the attacked embeddings (default: the target's; sface for a URL)."
        ),
    ] = None,
    transfer: Annotated[
        list[str] | None,
        typer.Option(
            help="Independent recogniser judging reconstructions (repeat; default: the other "
            "bundled model with --gallery)."
        ),
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Target's accept threshold (default: calibrated).")
    ] = None,
    budget: Annotated[
        int | None, typer.Option(help="Queries per embedding (default 1000, screening).")
    ] = None,
    deep: Annotated[bool, typer.Option("--deep", help="The deep budget: 4000 queries.")] = False,
    pool: Annotated[int, typer.Option(help="Prior samples scored once up front.")] = 2000,
    per_identity: Annotated[
        int, typer.Option(help="Photos attacked per identity; the rest form the gallery.")
    ] = 5,
    distractors: Annotated[
        Path | None, typer.Option(help="Other people's photos added to the rank gallery.")
    ] = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
    seed: Annotated[int, typer.Option(help="Seed of the pool and the search.")] = 0,
) -> None:
    """Rebuild faces from embeddings and measure what an attacker would gain.

    Reports transfer success on an independent recogniser, the true identity's
    rank in a gallery, success on the attacked model, queries and seconds, and
    (with --report) an HTML page with target photos beside reconstructions.
    """
    from facescope.privacy.audit_cli import run_invert_audit

    run_invert_audit(
        gallery=gallery, embeddings=embeddings, target=target, model=model,
        transfer=transfer,
        threshold=threshold, budget=budget, deep=deep, pool=pool,
        per_identity=per_identity, distractors=distractors, report=report,
        as_json=as_json, seed=seed, console=console, progress=_bar,
    )  # fmt: skip


PadModelOption = Annotated[
    Path | None,
    typer.Option(help="A calibrated or retrained model (default: $FACESCOPE_PAD_MODEL, shipped)."),
]


@audit_app.command("pad")
@_friendly
def audit_pad(
    gallery: Annotated[
        Path, typer.Option(help="Labelled photos (folder per identity or labels.csv).")
    ],
    model: Annotated[str, typer.Option(help="Recogniser: sface or dlib.")] = "sface",
    attacks: Annotated[
        Path | None,
        typer.Option(help="Real attack samples: CSV of path,identity,species (optional)."),
    ] = None,
    probes: Annotated[int, typer.Option(help="Photos per identity held out as probes.")] = 1,
    spectrum: Annotated[
        str, typer.Option(help="Capture spectrum of the presentations: vis or nir (pseudo-NIR).")
    ] = "vis",
    spectral_thresholds: Annotated[
        Path | None,
        typer.Option(help="Per-spectrum-pair thresholds (JSON) for --spectrum nir."),
    ] = None,
    pad_model: PadModelOption = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic attacks.")] = 0,
) -> None:
    """Present print and replay attacks of enrolled people; IAPMR with and without PAD."""
    from facescope.pad.cli import run_audit

    run_audit(gallery, model=model, attacks=attacks, probes=probes, spectrum=spectrum,
              spectral_thresholds=spectral_thresholds, pad_model=pad_model, report=report,
              as_json=as_json, seed=seed, console=console, progress=_bar)  # fmt: skip


class _CheckByDefault(typer.core.TyperGroup):
    """`facescope pad FILE` runs `pad check FILE`; `pad calibrate` / `pad train` stay commands."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["check", *args]
        return list(super().parse_args(ctx, args))


pad_app = typer.Typer(
    cls=_CheckByDefault,
    help="Presentation-attack detection: `facescope pad FILE [--explain]`, calibrate, train.",
    no_args_is_help=True,
)
app.add_typer(pad_app, name="pad")


@pad_app.command("check")
@_friendly
def pad_check(
    source: Annotated[Path, typer.Argument(help="A photo or a video file.")],
    explain: Annotated[
        bool, typer.Option("--explain", help="Show every cue and the explanation.")
    ] = False,
    heatmap: Annotated[
        Path | None, typer.Option(help="Write the face beside its attack heatmap (PNG).")
    ] = None,
    model: PadModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Live or attack: probability, attack type, evidence, heatmap, explanation."""
    from facescope.pad.cli import run_check

    run_check(source, explain=explain, heatmap=heatmap, model=model, as_json=as_json,
              console=console)  # fmt: skip


@pad_app.command("calibrate")
@_friendly
def pad_calibrate(
    bona_fide: Annotated[
        list[Path], typer.Argument(help="Bona fide captures from your camera (files, folders).")
    ],
    out: Annotated[Path, typer.Option(help="Where to save the calibrated model (JSON).")],
    bpcer: Annotated[
        float, typer.Option(help="Share of bona fide presentations you accept to reject.")
    ] = 0.05,
    model: PadModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set the decision threshold from your own real bona fide captures (e.g. 50 frames)."""
    from facescope.pad.cli import run_calibrate

    run_calibrate(bona_fide, bpcer=bpcer, model=model, out=out, as_json=as_json,
                  console=console, progress=_bar)  # fmt: skip


@pad_app.command("train")
@_friendly
def pad_train(
    bona_fide: Annotated[
        list[Path], typer.Option("--bona-fide", help="Real bona fide captures (repeat).")
    ],
    out: Annotated[Path, typer.Option(help="Where to save the trained model (JSON).")],
    attack: Annotated[
        list[str] | None,
        typer.Option(help="Real attack captures as SPECIES=PATH (repeat), e.g. print=prints/."),
    ] = None,
    bpcer: Annotated[float, typer.Option(help="Threshold at this BPCER (held-out).")] = 0.05,
    real_weight: Annotated[float, typer.Option(help="Weight of real vs synthetic samples.")] = 3.0,
    synthetic: Annotated[
        bool, typer.Option(help="Add synthetic print/replay attacks of the bona fide captures.")
    ] = True,
    seed: Annotated[int, typer.Option(help="Seed of the synthesis and the folds.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Refit the fusion with your real attack samples (and synthetic ones of your captures)."""
    from facescope.pad.cli import run_train

    run_train(bona_fide, attack or [], out=out, bpcer=bpcer, real_weight=real_weight,
              synthetic=synthetic, seed=seed, as_json=as_json, console=console,
              progress=_bar)  # fmt: skip


keys_app = typer.Typer(
    help="Create, list and revoke API keys of the service.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
@_friendly
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    scope: Annotated[
        str, typer.Option(help="read (identify, verify, list), enrol (also change), admin (all).")
    ] = "read",
    collection: Annotated[
        list[str] | None,
        typer.Option("--collection", "-c", help="Collection it may use (repeat); default all."),
    ] = None,
    data: DataOption = Path(DEFAULT_GALLERY),
    as_json: JsonOption = False,
) -> None:
    """Make an API key; its secret is printed once and stored only as a hash."""
    from facescope.service.state import ALL_COLLECTIONS, ServiceState

    state = ServiceState(data)
    try:
        token, record = state.create_key(name, scope, collection or [ALL_COLLECTIONS])
    finally:
        state.close()
    if as_json:
        _emit_json({"key": token, **record.to_dict()})
        return
    console.print(f"key id {record.id} ({record.scope} on {', '.join(record.collections)})")
    console.print("secret (shown once, keep it safe):")
    typer.echo(token)


@keys_app.command("list")
@_friendly
def keys_list(data: DataOption = Path(DEFAULT_GALLERY), as_json: JsonOption = False) -> None:
    """List the keys (never their secrets)."""
    from facescope.service.state import ServiceState

    state = ServiceState(data)
    try:
        keys = state.list_keys()
    finally:
        state.close()
    if as_json:
        _emit_json([k.to_dict() for k in keys])
        return
    table = Table("id", "name", "scope", "collections", "status")
    for key in keys:
        table.add_row(
            key.id,
            escape(key.name),
            key.scope,
            escape(", ".join(key.collections)),
            "active" if key.active else "[red]revoked[/]",
        )
    console.print(table)


@keys_app.command("revoke")
@_friendly
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from `facescope keys list`).")],
    data: DataOption = Path(DEFAULT_GALLERY),
) -> None:
    """Revoke a key; the running service refuses it from the next request on."""
    from facescope.service.state import ServiceState

    state = ServiceState(data)
    try:
        record = state.revoke_key(key_id)
        last = not state.has_keys()
    finally:
        state.close()
    console.print(f"revoked key {record.id} ({escape(record.name)})")
    if last:
        errors.print(
            "[yellow]warning:[/] that was the last active key: the service now refuses every "
            "request until you create a key (`facescope keys create`). It stays closed; to "
            "serve loopback without keys again, run `facescope keys open` deliberately.",
            highlight=False,
        )


@keys_app.command("open")
@_friendly
def keys_open(
    data: DataOption = Path(DEFAULT_GALLERY),
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: anyone on this machine may use the service.")
    ] = False,
) -> None:
    """Let the service answer without a key again (loopback only); needs no active key."""
    from facescope.service.state import ServiceState

    if not yes:
        raise typer.BadParameter(
            "this lets any program or web page on this machine read and change the "
            "galleries; pass --yes to confirm",
            param_hint="--yes",
        )
    state = ServiceState(data)
    try:
        state.reopen()
    finally:
        state.close()
    console.print("the service now answers without a key, on loopback only")


def main() -> None:
    """Entry point of the `facescope` script."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    app()
