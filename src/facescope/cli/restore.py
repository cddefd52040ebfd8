"""``facescope restore IN... --out DIR``: restore photos or face crops degraded by weather."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import RenderableType
from rich.markup import escape

from facescope.cli._common import (
    DefaultCommandGroup,
    JsonOption,
    bars,
    counter,
    friendly,
    report_skipped,
)
from facescope.cli.output import emit
from facescope.errors import FacescopeError


class _RunByDefault(DefaultCommandGroup):
    """`facescope restore FILE...` runs `restore images FILE...`."""

    default_command = "images"


restore_app = typer.Typer(
    cls=_RunByDefault,
    help="Restore faces degraded by rain, snow, haze, blur, noise or darkness: "
    "`facescope restore FILE|FOLDER... --out DIR [--method auto]`.",
    no_args_is_help=True,
)


@dataclass(frozen=True)
class RestoredFiles:
    """What ``facescope restore`` wrote (``to_dict``: the ``--json`` document)."""

    results: list[dict[str, Any]]
    skipped: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"results": self.results, "skipped": self.skipped}


def _rendered(done: RestoredFiles) -> Iterator[RenderableType]:
    for r in done.results:
        found = ", ".join(r["detected"]["present"]) if r.get("detected") else ""
        what = ", ".join(r["applied"]) or "nothing (passed through)"
        seen = f"; detected: {found}" if r.get("detected") is not None else ""
        yield f"{escape(r['path'])} -> {escape(r['out'])}: {escape(what)}{escape(seen)}"


@restore_app.command("images")
@friendly
def restore_images(
    sources: Annotated[
        list[Path], typer.Argument(help="Photos, face crops or folders of them (searched deeply).")
    ],
    out: Annotated[Path, typer.Option(help="Folder to write the restored images into.")],
    method: Annotated[
        str,
        typer.Option(
            help="auto (restore only what the degradation detectors find; clean images pass "
            "untouched), dehaze, deblur, denoise, or none."
        ),
    ] = "auto",
    as_json: JsonOption = False,
) -> None:
    """Restore each image and write it under --out with the same name (PNG)."""
    import cv2

    from facescope.io import load_image
    from facescope.io.files import IMAGE_EXTENSIONS, media_files
    from facescope.restoration.auto import check_method, restore_image

    check_method(method)
    files = [f for f in media_files(sources) if f.suffix.lower() in IMAGE_EXTENSIONS]
    if not files:
        raise ValueError("no photos found in the given paths")
    out.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    missed: list[dict[str, str]] = []
    taken: set[str] = set()
    with counter("restoring") as progress:
        for k, path in enumerate(files):
            progress(k, len(files), path.name)
            try:
                done = restore_image(load_image(path), method)
            except FacescopeError as exc:
                missed.append({"path": str(path), "reason": str(exc)})
                continue
            name = f"{path.stem}.png"
            stem, n = path.stem, 2
            while name in taken:
                name, n = f"{stem}-{n}.png", n + 1
            taken.add(name)
            target = out / name
            image = (
                done.image if done.image.ndim == 2 else cv2.cvtColor(done.image, cv2.COLOR_RGB2BGR)
            )
            if not cv2.imwrite(str(target), image):
                missed.append({"path": str(path), "reason": f"cannot write {target}"})
                continue
            results.append({"path": str(path), "out": str(target), **done.to_dict()})
        progress(len(files), len(files))
    report_skipped([(item["path"], item["reason"]) for item in missed])
    if not results:
        raise ValueError("no image could be restored")
    emit(RestoredFiles(results, missed), as_json=as_json, render=_rendered)


@restore_app.command("train")
@friendly
def restore_train(
    dataset: Annotated[
        str, typer.Argument(help="Clean labelled photos: folder per person, labels.csv or CSV.")
    ],
    out: Annotated[Path, typer.Option(help="Where to write the weights (.npz).")],
    steps: Annotated[int, typer.Option(help="Training steps.")] = 1500,
    batch: Annotated[int, typer.Option(help="Crops per step.")] = 12,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="Weather kinds to train on (repeat).")
    ] = None,
    per_identity: Annotated[int, typer.Option(help="Photos per person.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the synthesis and the weights.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Train the learned restorer (needs the torch extra); use it with FACESCOPE_RESTORER=OUT."""
    from facescope.restoration.learned import save_restorer, torch_available
    from facescope.weather.evaluate import dataset_crops
    from facescope.weather.train import TrainConfig, as_kinds, train_restorer

    if not torch_available():
        from facescope.restoration.learned import TORCH_HINT

        raise ValueError(TORCH_HINT)
    config = TrainConfig(steps=steps, batch=batch, kinds=as_kinds(kind), seed=seed)
    with bars() as progress:
        crops, _, missed = dataset_crops(
            dataset, per_identity=per_identity, progress=progress.counter("aligning faces")
        )
        step = progress.counter("training")
        model, info = train_restorer(crops, config,
                                     progress=lambda k, n, _record: step(k, n))  # fmt: skip
    report_skipped(missed)
    meta = {"script": f"facescope restore train {dataset} --steps {steps} --batch {batch} "
            f"--seed {seed}", "data": str(dataset), "training": info}  # fmt: skip
    path = save_restorer(model, out, meta)
    summary = {"weights": str(path), "crops": len(crops), "steps": steps,
               "seconds": round(float(info["seconds"]), 1),
               "last_losses": info["history"][-1] if info["history"] else {}}  # fmt: skip
    emit(summary, as_json=as_json, render=lambda s: iter([
        f"wrote {escape(s['weights'])} ({s['crops']} crops, {s['steps']} steps, "
        f"{s['seconds']} s); use it: FACESCOPE_RESTORER={escape(s['weights'])} "
        "facescope restore IN --out DIR --method learned"]))  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add ``facescope restore`` to `app`."""
    app.add_typer(restore_app, name="restore")
