"""What every command module shares: the consoles, exit codes, error handling, options, bars.

Exit status: 0 success (a verify that says "different people" is a success);
2 bad input or usage; 3 no face found where one was needed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from facescope.errors import FacescopeError, NoFaceError
from facescope.gallery import DEFAULT_GALLERY

EXIT_BAD_INPUT = 2
EXIT_NO_FACE = 3

#: Human output (tables, verdicts) and JSON: standard output. Piped or redirected, long
#: lines are never wrapped (a tool reading them gets one record per line).
console = Console(soft_wrap=not (sys.stdout is not None and sys.stdout.isatty()))
#: Errors, warnings, progress bars and "wrote FILE" notes: standard error.
errors = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def fail(message: str) -> None:
    """Print ``error: message`` on standard error (one line)."""
    errors.print(f"[red]error:[/] {escape(message)}", highlight=False)


def warn(message: str) -> None:
    """Print ``warning: message`` on standard error."""
    errors.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


def skipped(message: str) -> None:
    """Print ``skipped: message`` on standard error (a file left out; the run goes on)."""
    errors.print(f"[yellow]skipped:[/] {escape(message)}", highlight=False)


def photo_inputs(paths: Iterable[Path]) -> tuple[list[Path], int]:
    """The photos named on a command line, folders searched deeply; each missing path or
    folder without photos is reported on its own line. Returns ``(files, problems)``."""
    from facescope.io.files import image_inputs

    files, problems = image_inputs(paths)
    for path, reason in problems:
        fail(f"{path}: {reason}")
    return files, len(problems)


#: At most this many skipped files are named by :func:`report_skipped`; the rest are counted.
SHOWN_SKIPPED = 10


def report_skipped(items: list[tuple[str, str]]) -> None:
    """Name the first :data:`SHOWN_SKIPPED` skipped files with their reason; count the rest."""
    for path, reason in items[:SHOWN_SKIPPED]:
        skipped(f"{path}: {reason}")
    if len(items) > SHOWN_SKIPPED:
        skipped(f"... and {len(items) - SHOWN_SKIPPED} more")


def note(message: str) -> None:
    """Print an informational line (``wrote FILE``) on standard error."""
    errors.print(escape(message), highlight=False)


def friendly(command: F) -> F:
    """Turn facescope errors into a one-line message and an exit status, never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except NoFaceError as exc:
            fail(str(exc))
            raise typer.Exit(EXIT_NO_FACE) from None
        except (FacescopeError, ValueError, OSError) as exc:
            fail(str(exc))
            raise typer.Exit(EXIT_BAD_INPUT) from None

    return wrapper  # type: ignore[return-value]


# ---- options shared by several commands ------------------------------------------------

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
RestoreOption = Annotated[
    str,
    typer.Option(
        help="Restore faces degraded by weather before embedding: none, auto (only what the "
        "degradation detectors find; clean faces pass untouched), dehaze, deblur, denoise."
    ),
]
ModelOption = Annotated[
    str, typer.Option("--model", "-m", help="sface (fast), dlib, or fusion (most accurate).")
]
FmrOption = Annotated[
    float, typer.Option("--fmr", help="False-match rate the decision threshold is calibrated at.")
]
ThresholdsOption = Annotated[
    Path | None,
    typer.Option("--thresholds", help="Thresholds file from `facescope calibrate`.", exists=False),
]
GalleryOption = Annotated[
    str, typer.Option("--gallery", "-g", help="Gallery folder or sqlite:///file URI.")
]
GalleryModelOption = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", help="Model of a new gallery: sface or dlib (a gallery keeps its own)."
    ),
]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Create a new subject even when an enrolled one has the same name up to case "
        "and whitespace (refused otherwise: most likely the same person).",
    ),
]
LargestFaceOption = Annotated[
    bool, typer.Option("--largest-face", help="Use the largest face of group photos.")
]
DataOption = Annotated[
    str,
    typer.Option(
        "--data",
        help="Data folder (the default collection, other collections, keys, audit log), or "
        "a PostgreSQL database holding all of them: postgresql://user@host/db[?schema=name].",
    ),
]
LibraryOption = Annotated[
    Path, typer.Option("--library", "-l", help="Face library folder (faces and clusters).")
]
ReportOption = Annotated[
    Path | None, typer.Option(help="Folder for index.html (figures embedded) and metrics.json.")
]
PadModelOption = Annotated[
    Path | None,
    typer.Option(help="A calibrated or retrained model (default: $FACESCOPE_PAD_MODEL, shipped)."),
]

#: The default ``--data`` folder of the service and its keys.
DEFAULT_DATA = DEFAULT_GALLERY


# ---- progress bars (standard error, gone when done) ------------------------------------


class Bars:
    """Progress bars for one run; hands domain code plain callbacks, never a rich object."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def _task(self, label: str, total: int | None) -> TaskID:
        if label not in self._tasks:
            self._tasks[label] = self._progress.add_task(escape(label), total=total)
        return self._tasks[label]

    def counter(self, label: str) -> Callable[..., None]:
        """A ``progress(done, total=None, current=None)`` callback driving one bar."""

        def update(done: int, total: int | None = None, current: str | None = None) -> None:
            task = self._task(label, total)
            description = escape(current) if current is not None else None
            if description is None:
                self._progress.update(task, completed=done, total=total)
            else:
                self._progress.update(task, completed=done, total=total, description=description)

        return update

    def stages(self, labels: Mapping[str, str] | None = None) -> Callable[[str, int, int], None]:
        """A ``progress(stage, done, total)`` callback: one bar per stage (named by `labels`)."""
        names = dict(labels or {})

        def update(stage: str, done: int, total: int | None) -> None:
            task = self._task(names.get(stage, stage), total)
            self._progress.update(task, completed=done, total=total)

        return update

    def track(self, label: str) -> Callable[[Iterable[T]], Iterator[T]]:
        """A wrapper of an iterable that advances a bar per item."""

        def wrap(items: Iterable[T]) -> Iterator[T]:
            listed = list(items)
            yield from self._progress.track(listed, total=len(listed), description=escape(label))

        return wrap


@contextmanager
def bars() -> Iterator[Bars]:
    """Progress bars on standard error for the duration of the block."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=errors,
        transient=True,
        # bars are for a person at a terminal; redirected, they would leave a blank line
        # before a one-line error
        disable=not errors.is_terminal,
    ) as progress:
        yield Bars(progress)


@contextmanager
def counter(label: str) -> Iterator[Callable[..., None]]:
    """One progress bar; yields its ``progress(done, total=None, current=None)`` callback."""
    with bars() as progress:
        yield progress.counter(label)


@contextmanager
def advancing(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """One bar to `total`; yields a callback that advances it by its argument."""
    with bars() as progress:
        update = progress.counter(label)
        done = 0
        update(0, total)

        def advance(step: int) -> None:
            nonlocal done
            done += step
            update(done, total)

        yield advance


class DefaultCommandGroup(typer.core.TyperGroup):
    """A command group whose first argument, when it is not a sub-command, is handed to
    :attr:`default_command`: ``facescope pad FILE`` runs ``pad check FILE`` while ``pad
    calibrate`` stays a command. Subclass and set ``default_command``."""

    default_command = ""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default_command, *args]
        return list(super().parse_args(ctx, args))
