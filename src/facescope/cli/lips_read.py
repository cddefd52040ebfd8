"""``facescope lips train`` and ``facescope lips predict``: word-level lip reading.

:func:`register` adds both commands to the ``lips`` group (``cli/lips.py``'s
``lips_app``).
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

_STAGES = {"prepare": "reading samples (mouth crops and landmarks)", "train": "training"}


def _trained(run: Any) -> Iterator[RenderableType]:
    done = run.to_dict()
    training, data, split = done["training"], done["dataset"], done["split"]
    yield (
        f"wrote {escape(done['weights'])}: {training['samples']} samples of {data['words']} "
        f"words ({escape(data['format'])}); {training['config']['steps']} steps in "
        f"{training['seconds']} s"
    )
    last = training.get("last") or {}
    if last:
        yield (
            f"last batch: loss {last['loss']:.3f} (words {last['words']:.3f}, landmark stream "
            f"{last['graph']:.3f}, alignment {last['align']:.3f}); training accuracy "
            f"{training['train_accuracy']:.3f}"
        )
    yield f"split: {escape(split['how'])}"
    if done["test"]:
        test = done["test"]
        yield (
            f"held out ({test['samples']} samples): top-1 {test['top1']:.3f}, "
            f"top-5 {test['top5']:.3f}"
        )
    yield f"use it: facescope lips predict TRACK.npz --weights {escape(done['weights'])}"


def _predicted(result: Any) -> Iterator[RenderableType]:
    yield (
        f"{escape(result.source)}: [bold]{escape(result.word)}[/] ({result.confidence:.0%}; "
        f"{result.frames} frames)"
    )
    table = Table("word", "probability")
    for word, p in result.top:
        table.add_row(escape(word), f"{p:.3f}")
    yield table


def lips_train(
    dataset: Annotated[Path, typer.Argument(help="The dataset folder (LRW, GRID or npz layout).")],
    out: Annotated[Path, typer.Option(help="Where to write the weights (.npz).")],
    layout: Annotated[
        str, typer.Option("--format", help="Dataset layout: lrw, grid or npz.")
    ] = "npz",
    words: Annotated[
        int | None, typer.Option(help="Keep the first N words (sorted); default: all.")
    ] = None,
    per_word: Annotated[
        int | None, typer.Option(help="At most N samples per word and split.")
    ] = None,
    frames: Annotated[int, typer.Option(help="Frames per sample (resampled to it).")] = 29,
    size: Annotated[int, typer.Option(help="Crop side fed to the network (multiple of 8).")] = 88,
    width: Annotated[int, typer.Option(help="Front-end channels (stages: w, 2w, 4w).")] = 16,
    hidden: Annotated[int, typer.Option(help="Back-end features.")] = 128,
    backend: Annotated[str, typer.Option(help="gru (BiGRU) or tcn.")] = "gru",
    steps: Annotated[int, typer.Option(help="Training steps.")] = 300,
    batch: Annotated[int, typer.Option(help="Samples per step.")] = 16,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW, one-cycle).")] = 2e-3,
    augment: Annotated[
        bool, typer.Option(help="Mirror flips, shifts and brightness changes.")
    ] = True,
    test_speaker: Annotated[
        list[str] | None,
        typer.Option(help="Hold out this speaker (repeatable); default: GRID s1/s2/s20/s22."),
    ] = None,
    evaluate: Annotated[
        bool, typer.Option(help="Score the held-out speakers or test split.")
    ] = True,
    cache: Annotated[
        Path | None, typer.Option(help="Folder caching the mouth extraction of each video.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the weights and the sampling.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Train the lip-reading network on a dataset (needs the torch extra)."""
    from facescope.lips.read.network import TORCH_HINT, torch_available
    from facescope.lips.read.train import TrainConfig
    from facescope.lips.read.workflow import train_from_folder

    if not torch_available():
        raise ValueError(TORCH_HINT)
    config = TrainConfig(steps=steps, batch=batch, lr=lr, augment=augment, seed=seed)
    command = "facescope " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with bars() as progress:
        run = train_from_folder(
            dataset, layout, out, words=words, per_word=per_word, frames=frames, size=size,
            width=width, hidden=hidden, backend=backend, config=config,
            test_speakers=test_speaker or None, evaluate=evaluate, cache=cache,
            command=command, progress=progress.stages(_STAGES),
        )  # fmt: skip
    report_skipped(list(run.skipped))
    emit(run, as_json=as_json, render=_trained)


def lips_predict(
    source: Annotated[
        Path,
        typer.Argument(help="A track file (track_<id>.npz of `facescope lips`) or a video."),
    ],
    weights: Annotated[Path, typer.Option(help="Weights made by `facescope lips train`.")],
    top: Annotated[int, typer.Option(help="How many of the most likely words to list.")] = 5,
    start: Annotated[
        int | None, typer.Option(help="First frame of the track to read (0-based).")
    ] = None,
    end: Annotated[
        int | None, typer.Option(help="Last frame of the track to read (0-based, inclusive).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Read one word from a mouth track with user-trained weights (top-k words)."""
    from facescope.lips.read.network import TORCH_HINT, torch_available
    from facescope.lips.read.predict import read_lips

    if not torch_available():
        raise ValueError(TORCH_HINT)
    result = read_lips(source, weights, top=top, start=start, end=end)
    emit(result, as_json=as_json, render=_predicted)


def register(group: typer.Typer) -> None:
    """Add ``train`` and ``predict`` to the ``lips`` command group."""
    group.command("train")(friendly(lips_train))
    group.command("predict")(friendly(lips_predict))


__all__ = ["lips_predict", "lips_train", "register"]
