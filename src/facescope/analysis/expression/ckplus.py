"""The CK+ posed-expression set in ../shared/testdata/expression, with a subject split.

The folder holds 981 48x48 grey crops: the last three frames of 327 posed CK+
sequences from 118 subjects (research use only; never copied into the project).
Its labels map to :data:`~facescope.analysis.expression.labels.EXPRESSIONS`;
``contempt`` has no counterpart among the seven basic expressions and is
excluded. CK+ holds no neutral frames.

Every choice made on CK+ (ensemble weights, the geometric head) uses the ``fit``
subjects only; accuracy is reported on the ``test`` subjects, so no person is in
both. The split is a fixed hash of the subject id (about 60/40).
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

#: CK+ label -> facescope expression name (contempt is excluded).
CKPLUS_LABELS: dict[str, str] = {
    "anger": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happiness",
    "sadness": "sadness",
    "surprise": "surprise",
}

DEFAULT_ROOT = Path(os.environ.get("FACESCOPE_TESTDATA", "../shared/testdata")) / "expression"


@dataclass(frozen=True)
class Sample:
    """One labelled CK+ image."""

    path: Path
    label: str
    subject: str
    sequence: str
    split: str


def subject_split(subject: str) -> str:
    """``"fit"`` or ``"test"``: a fixed hash of the subject id, about 60/40."""
    digest = hashlib.sha256(subject.encode("utf-8")).digest()
    return "fit" if digest[0] % 5 < 3 else "test"


def load_ckplus(root: Path | str = DEFAULT_ROOT, split: str | None = None) -> list[Sample]:
    """The labelled samples (contempt excluded), optionally one split only.

    Raises:
        FileNotFoundError: the folder or its labels.csv is absent.
    """
    root = Path(root)
    labels = root / "labels.csv"
    if not labels.is_file():
        raise FileNotFoundError(f"CK+ labels not found at {labels}")
    samples: list[Sample] = []
    with labels.open(newline="") as handle:
        for row in csv.DictReader(handle):
            name = CKPLUS_LABELS.get(row["label"])
            if name is None:
                continue
            part = subject_split(row["subject"])
            if split is not None and part != split:
                continue
            samples.append(Sample(root / row["path"], name, row["subject"], row["sequence"], part))
    return samples
