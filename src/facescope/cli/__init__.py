"""The ``facescope`` command line: one module per command group, one output convention.

Every command ends in :func:`facescope.cli.output.emit`: ``--json`` prints the result
as one JSON document on stdout, otherwise a rich rendering; files are written with
``--out``. Errors are one line on stderr and an exit status (:mod:`._common`):
0 success (a verify that says "different people" is a success); 2 bad input or
usage; 3 no face found where one was needed. Domain packages compute results and
never print; only this package imports rich and typer.
"""

from __future__ import annotations

import os

import typer

from facescope.cli import (
    analysis,
    animate,
    audit,
    cluster,
    demo,
    engagement,
    evaluate,
    gallery,
    haptics,
    lips,
    micro,
    models,
    pad,
    recognition,
    restore,
    service,
    video,
)
from facescope.cli._common import EXIT_BAD_INPUT, EXIT_NO_FACE
from facescope.cli._native_logs import filter_native_logs

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Offline face detection, verification and identification on CPU.",
)
#: Set by :func:`main` (the installed script): filter native log lines unless --verbose.
_QUIET = {"wanted": False}


@app.callback()
def _root(
    verbose: bool = typer.Option(
        False,
        "--verbose",
        help="Also show the native libraries' log lines (TFLite, absl), hidden by default.",
    ),
) -> None:
    """Offline face detection, verification and identification on CPU."""
    if _QUIET["wanted"] and not verbose and not os.environ.get("FACESCOPE_VERBOSE"):
        filter_native_logs()


# the order of `facescope --help`
recognition.register(app)  # detect, verify, identify, enroll, index, calibrate
models.register(app)
demo.register(app)
video.register(app)
analysis.register(app)
engagement.register(app)  # engagement (score by default, train)
micro.register(app)  # micro spot
cluster.register(app)  # cluster (and the people group)
service.register(app)  # serve (and the keys group)
gallery.register(app)
evaluate.register(app)
audit.register(app)
pad.register(app)
restore.register(app)
lips.register(app)  # lips (extract by default)
haptics.register(app)  # haptics (list, render, play, mirror, study plan/score)
animate.register(app)  # animate (a face drives a stylized character)


def main() -> None:
    """Entry point of the `facescope` script."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _QUIET["wanted"] = True
    app()


__all__ = ["EXIT_BAD_INPUT", "EXIT_NO_FACE", "app", "main"]
