"""The `make run` demo: enrol known people, identify the faces in a group photo."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

from facescope import api
from facescope.draw import annotate
from facescope.io.image import load_image
from facescope.pipeline import find_faces

TESTDATA_ENV = "FACESCOPE_TESTDATA"


def portraits_folder() -> Path | None:
    """The shared public-domain portraits, if this checkout has them."""
    root = Path(os.environ.get(TESTDATA_ENV, "../shared/testdata"))
    folder = root / "faces" / "public_portraits"
    return folder if (folder / "barack_obama_1.jpg").is_file() else None


def run_demo(out: Path, console: Console) -> Path:
    """Enrol, identify, print a table and write an annotated image; return its path."""
    folder = portraits_folder()
    if folder is not None:
        known = {
            "Barack Obama": [folder / "barack_obama_1.jpg", folder / "barack_obama_4.jpg"],
            "Joe Biden": [folder / "joe_biden_1.jpg", folder / "joe_biden_2.jpg"],
        }
        probe = load_image(folder / "two_people_biden_left_obama_right.jpg")
        console.print(f"Enrolling 2 people from {folder} ...")
    else:
        from skimage import data

        astronaut = data.astronaut()
        known = {"Eileen Collins": [astronaut]}
        probe = np.ascontiguousarray(astronaut[:, ::-1])
        console.print("Shared test data not found: enrolling skimage's astronaut instead ...")
    enrolled = api.enroll(known, model="fusion")
    found = api.identify(probe, enrolled, model="fusion")
    table = Table(title="Who is in the photo (model: fusion, threshold at FMR 1e-3)")
    for column in ("face", "box", "identity", "score", "threshold"):
        table.add_column(column)
    for index, face in enumerate(found):
        table.add_row(
            str(index),
            str([round(v) for v in face.box]),
            face.identity or "unknown",
            f"{face.score:.3f}",
            f"{face.threshold:.3f}",
        )
    console.print(table)
    faces = find_faces(probe)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "demo_identified.jpg"
    Image.fromarray(annotate(probe, faces, [f.identity for f in found])).save(target, quality=90)
    console.print(f"annotated image: {target}")
    return target
