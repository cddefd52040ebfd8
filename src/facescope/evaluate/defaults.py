"""The evaluation's defaults, in a module light enough for the command line to import."""

from __future__ import annotations

#: The recognition models evaluated unless told otherwise.
MODELS = ("sface", "dlib", "fusion")
#: Bootstrap draws over identities behind each confidence interval.
DEFAULT_BOOT = 500
#: A presentation is classified bona fide when its score is at least this.
DEFAULT_PAD_THRESHOLD = 0.5
