"""One photo in, one gallery template out: the pure part of enrolment.

These functions touch no store and hold no state beyond the process-wide lazy
models, so they can run anywhere: in the gallery's own process, or in a Ray
worker for bulk enrolment (:mod:`facescope.gallery.bulk`). Module-level
functions and :class:`TemplateRecord` pickle, so they travel to workers as they are.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import numpy.typing as npt

from facescope.errors import EnrollmentError
from facescope.gallery.sqlite_store import TemplateRecord
from facescope.io.image import ImageInput, load_image
from facescope.pipeline import embed_faces, find_faces, largest
from facescope.types import Faces

__all__ = [
    "content_hash",
    "decode_photo",
    "photo_label",
    "photo_template",
    "template_from_faces",
    "template_from_pixels",
]


def photo_label(image: ImageInput, index: int) -> str:
    """How a photo is named in messages and in a template's ``source``."""
    return os.fspath(image) if isinstance(image, str | os.PathLike) else f"photo {index}"


def content_hash(rgb: npt.NDArray[np.uint8]) -> str:
    """SHA-256 of the decoded pixels (and their shape): the duplicate key of a photo."""
    return hashlib.sha256(f"{rgb.shape}".encode() + rgb.tobytes()).hexdigest()


def decode_photo(image: ImageInput) -> tuple[npt.NDArray[np.uint8], str]:
    """Decode a photo; return its RGB pixels and content hash."""
    rgb = load_image(image)
    return rgb, content_hash(rgb)


def template_from_pixels(
    rgb: npt.NDArray[np.uint8], digest: str, label: str, model: str, largest_face: bool
) -> TemplateRecord:
    """Detect the face in decoded pixels and embed it with `model`.

    Raises EnrollmentError when there is no face, or several faces and
    `largest_face` is False.
    """
    return template_from_faces(rgb, find_faces(rgb), digest, label, model, largest_face)[0]


def template_from_faces(
    rgb: npt.NDArray[np.uint8],
    faces: Faces,
    digest: str,
    label: str,
    model: str,
    largest_face: bool,
) -> tuple[TemplateRecord, Faces]:
    """Embed the enrolled face among faces already detected; return it with its record.

    Raises EnrollmentError as :func:`template_from_pixels` does.
    """
    if len(faces) == 0:
        raise EnrollmentError(f"{label}: no face found")
    if len(faces) > 1 and not largest_face:
        raise EnrollmentError(
            f"{label}: {len(faces)} faces found; enrol a photo of one person, "
            "or pass largest_face=True (--largest-face) to use the largest"
        )
    face = largest(faces)
    embedding = embed_faces(rgb, face, model)
    record = TemplateRecord(
        embedding.vectors[0],
        float(embedding.norms[0]),
        float(face.scores[0]),
        label,
        digest,
    )
    return record, face


def photo_template(
    image: ImageInput, model: str, *, largest_face: bool = False, label: str | None = None
) -> TemplateRecord:
    """Turn one photo into a template record (decode, hash, detect, embed).

    Args:
        image: a path, encoded bytes, an RGB array or a PIL image.
        model: the gallery's recognition model (``sface`` or ``dlib``).
        largest_face: use the largest face of a photo with several.
        label: the photo's name in messages and in the record's ``source``;
            defaults to the path (or ``photo 0`` for other inputs).

    Raises the same FacescopeError (InvalidImageError, EnrollmentError) with the
    same message as :meth:`facescope.gallery.Gallery.enroll` for this photo.
    """
    rgb, digest = decode_photo(image)
    return template_from_pixels(
        rgb, digest, label if label is not None else photo_label(image, 0), model, largest_face
    )
