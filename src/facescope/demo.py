"""The `make demo` job: enrol known people, identify the faces in a group photo."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from facescope import api
from facescope.draw import annotate
from facescope.io.image import load_image
from facescope.pipeline import find_faces
from facescope.types import Identification

TESTDATA_ENV = "FACESCOPE_TESTDATA"
#: Folder the annotated picture goes to unless told otherwise.
DEFAULT_OUT = Path("out")
#: The model the demo enrols and identifies with.
DEMO_MODEL = "fusion"


def portraits_folder() -> Path | None:
    """The shared public-domain portraits, if this checkout has them."""
    root = Path(os.environ.get(TESTDATA_ENV, "../shared/testdata"))
    folder = root / "faces" / "public_portraits"
    return folder if (folder / "barack_obama_1.jpg").is_file() else None


def bundled_portraits() -> Path:
    """The downscaled public-domain portraits shipped inside the package (always there)."""
    return Path(__file__).parent / "data" / "portraits"


@dataclass(frozen=True)
class DemoResult:
    """Who was enrolled (from where), who was found, and the annotated picture."""

    source: str
    enrolled: list[str]
    model: str
    faces: list[Identification]
    annotated: Path
    shared_data: bool = field(default=True)

    def to_dict(self) -> dict[str, Any]:
        """The ``facescope demo --json`` document."""
        return {
            "source": self.source,
            "shared_data": self.shared_data,
            "enrolled": self.enrolled,
            "model": self.model,
            "faces": [f.to_dict() for f in self.faces],
            "annotated": str(self.annotated),
        }


def run_demo(out: Path = DEFAULT_OUT) -> DemoResult:
    """Enrol, identify and write an annotated image into `out`; return what was found."""
    folder = portraits_folder()
    if folder is not None:
        known: dict[str, list[Any]] = {
            "Barack Obama": [folder / "barack_obama_1.jpg", folder / "barack_obama_4.jpg"],
            "Joe Biden": [folder / "joe_biden_1.jpg", folder / "joe_biden_2.jpg"],
        }
        probe = load_image(folder / "two_people_biden_left_obama_right.jpg")
        source = str(folder)
    else:
        bundled = bundled_portraits()
        known = {
            "Barack Obama": [bundled / "obama_1.jpg", bundled / "obama_2.jpg"],
            "Joe Biden": [bundled / "biden_1.jpg", bundled / "biden_2.jpg"],
        }
        probe = load_image(bundled / "biden_left_obama_right.jpg")
        source = f"{bundled} (bundled; shared test data not found)"
    enrolled = api.enroll(known, model=DEMO_MODEL)
    found = api.identify(probe, enrolled, model=DEMO_MODEL)
    faces = find_faces(probe)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "demo_identified.jpg"
    Image.fromarray(annotate(probe, faces, [f.identity for f in found])).save(target, quality=90)
    return DemoResult(source, list(known), DEMO_MODEL, list(found), target, folder is not None)
