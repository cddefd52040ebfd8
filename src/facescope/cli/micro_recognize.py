"""``facescope micro train`` and ``facescope micro predict``: micro-expression recognition.

:func:`register` adds both commands to the ``micro`` group (``cli/micro.py`` calls it).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from facescope.cli._common import JsonOption, bars, friendly, report_skipped
from facescope.cli.output import emit

_STAGES = {
    "prepare": "cropping faces and computing flow/landmark targets",
    "loso": "leave-one-subject-out folds",
    "train": "training",
}


def _trained(run: Any) -> Iterator[RenderableType]:
    done = run.to_dict()
    training, data = done["training"], done["dataset"]
    last = training.get("last") or {}
    yield (
        f"wrote {escape(done['weights'])}: {training['clips']} clips of {data['subjects']} "
        f"subjects, classes {escape(', '.join(data['classes']))}; {training['config']['steps']} "
        f"steps in {training['seconds']} s"
    )
    if last:
        yield (
            f"last batch: loss {last['loss']:.3f} (recognition {last['mer']:.3f}, flow "
            f"{last['flow']:.3f}, landmarks {last['landmarks']:.3f}); training accuracy "
            f"{training['train_accuracy']:.3f}"
        )
    if done["loso"]:
        scores = done["loso"]
        yield (
            f"leave-one-subject-out ({scores['subjects']} subjects): UF1 {scores['uf1']:.3f}, "
            f"UAR {scores['uar']:.3f}, accuracy {scores['accuracy']:.3f}"
        )
    yield f"use it: facescope micro predict VIDEO_OR_FRAMES --weights {escape(done['weights'])}"


def _predicted(result: Any) -> Iterator[RenderableType]:
    yield (
        f"{escape(result.source)}: [bold]{escape(result.label)}[/] "
        f"({result.confidence:.0%}; {len(result.frames)} of {result.clip_frames} frames)"
    )
    table = Table("class", "probability")
    for name, p in sorted(result.probabilities.items(), key=lambda kv: -kv[1]):
        table.add_row(escape(name), f"{p:.3f}")
    yield table


def micro_train(
    dataset: Annotated[
        Path, typer.Argument(help="The dataset folder (CASME II, SAMM or SMIC layout).")
    ],
    out: Annotated[Path, typer.Option(help="Where to write the weights (.npz).")],
    layout: Annotated[
        str, typer.Option("--format", help="Dataset layout: casme2, samm or smic.")
    ] = "casme2",
    classes: Annotated[
        str, typer.Option(help="3 (negative/positive/surprise) or 5 (per-dataset classes).")
    ] = "3",
    annotations: Annotated[
        Path | None,
        typer.Option(help="The coding sheet (CSV, or .xlsx with openpyxl); default: found."),
    ] = None,
    crop: Annotated[
        str, typer.Option(help="detect (find and align faces) or none (frames are face crops).")
    ] = "detect",
    size: Annotated[int, typer.Option(help="Face crop side in pixels (multiple of 4).")] = 64,
    frames: Annotated[int, typer.Option(help="Frames sampled uniformly per clip.")] = 8,
    colour: Annotated[str, typer.Option(help="grey or rgb.")] = "grey",
    flow: Annotated[
        str, typer.Option(help="Optical-flow target: tvl1, dis (faster), farneback or none.")
    ] = "tvl1",
    landmarks: Annotated[
        bool, typer.Option(help="Train the 68-landmark head (dlib targets).")
    ] = True,
    width: Annotated[int, typer.Option(help="Feature channels.")] = 32,
    blocks: Annotated[int, typer.Option(help="F5C blocks.")] = 1,
    steps: Annotated[int, typer.Option(help="Training steps.")] = 300,
    batch: Annotated[int, typer.Option(help="Clips per step.")] = 8,
    lr: Annotated[float, typer.Option(help="Learning rate (AdamW, one-cycle).")] = 1e-3,
    loso: Annotated[
        bool, typer.Option("--loso", help="Also run leave-one-subject-out (UF1, UAR).")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the weights and the sampling.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Train the micro-expression network on a dataset (needs the torch extra)."""
    from facescope.micro.recognize.network import TORCH_HINT, torch_available
    from facescope.micro.recognize.preprocess import InputConfig
    from facescope.micro.recognize.train import TrainConfig
    from facescope.micro.recognize.workflow import train_from_folder

    if not torch_available():
        raise ValueError(TORCH_HINT)
    pipeline = InputConfig(size=size, frames=frames, colour=colour, crop=crop)
    config = TrainConfig(steps=steps, batch=batch, lr=lr, seed=seed)
    command = "facescope " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with bars() as progress:
        run = train_from_folder(
            dataset, layout, out, scheme=classes, annotations=annotations, input=pipeline,
            flow=None if flow == "none" else flow, landmarks=landmarks, width=width,
            blocks=blocks, config=config, evaluate=loso, command=command,
            progress=progress.stages(_STAGES),
        )  # fmt: skip
    report_skipped(list(run.skipped))
    emit(run, as_json=as_json, render=_trained)


def micro_predict(
    source: Annotated[
        Path, typer.Argument(help="A video of one micro-expression clip, or a folder of frames.")
    ],
    weights: Annotated[Path, typer.Option(help="Weights made by `facescope micro train`.")],
    start: Annotated[
        int | None, typer.Option(help="First frame of the clip (0-based; default: the first).")
    ] = None,
    end: Annotated[
        int | None, typer.Option(help="Last frame of the clip (0-based; default: the last).")
    ] = None,
    crop: Annotated[
        str | None,
        typer.Option(help="detect or none (frames are face crops); default: as trained."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Classify one clip (onset to offset) with user-trained weights."""
    from facescope.micro.recognize.network import TORCH_HINT, torch_available
    from facescope.micro.recognize.predict import recognize_clip

    if not torch_available():
        raise ValueError(TORCH_HINT)
    result = recognize_clip(source, weights, start=start, end=end, crop=crop)
    emit(result, as_json=as_json, render=_predicted)


def register(group: typer.Typer) -> None:
    """Add ``train`` and ``predict`` to the ``micro`` command group."""
    group.command("train")(friendly(micro_train))
    group.command("predict")(friendly(micro_predict))


__all__ = ["micro_predict", "micro_train", "register"]
