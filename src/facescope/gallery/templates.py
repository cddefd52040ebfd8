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

from facescope.errors import EnrollmentError, PoorQualityError
from facescope.gallery.store import TemplateRecord
from facescope.io.image import ImageInput, load_image
from facescope.pipeline import embed_faces, find_faces, largest
from facescope.quality import DEFAULT_MIN_QUALITY, FaceQuality, assess_quality
from facescope.spectral.spectrum import Spectrum, guess_spectrum, parse_spectrum
from facescope.types import Faces

__all__ = [
    "check_quality",
    "content_hash",
    "decode_photo",
    "photo_label",
    "photo_template",
    "template_from_faces",
    "template_from_pixels",
    "template_spectrum",
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


def template_spectrum(
    rgb: npt.NDArray[np.uint8], spectrum: Spectrum | str | None, label: str = "photo"
) -> Spectrum:
    """The capture spectrum of a template: `spectrum` parsed, or guessed from the photo.

    None guesses it from the pixels (:func:`facescope.spectral.guess_spectrum`: a
    greyscale photo is taken for NIR, a smooth one for thermal). An unknown name raises
    :class:`facescope.spectral.UnknownSpectrumError` (a ValueError) naming the photo.
    """
    if spectrum is None:
        return guess_spectrum(rgb)
    try:
        return parse_spectrum(spectrum)
    except ValueError as exc:
        raise type(exc)(f"{label}: {exc}") from None


def template_from_pixels(
    rgb: npt.NDArray[np.uint8],
    digest: str,
    label: str,
    model: str,
    largest_face: bool,
    *,
    min_quality: float | None = DEFAULT_MIN_QUALITY,
    spectrum: Spectrum | str | None = None,
) -> TemplateRecord:
    """Detect the face in decoded pixels and embed it with `model`.

    `spectrum` is the capture spectrum recorded with the template (vis, nir,
    thermal); None guesses it from the photo (see :func:`template_spectrum`).
    Raises EnrollmentError when there is no face, or several faces and
    `largest_face` is False; PoorQualityError when the face fails the
    quality check (see :func:`check_quality`); UnknownSpectrumError for an
    unknown spectrum name.
    """
    # a bad name fails before detection; a guess waits until a face is found
    captured = None if spectrum is None else template_spectrum(rgb, spectrum, label)
    return template_from_faces(
        rgb,
        find_faces(rgb),
        digest,
        label,
        model,
        largest_face,
        min_quality=min_quality,
        spectrum=captured,
    )[0]


def check_quality(quality: FaceQuality, label: str, min_quality: float | None) -> None:
    """Refuse a face whose score is below `min_quality` or that has a poor component.

    `min_quality` None or 0 turns the check off. The PoorQualityError's message
    names the photo and which check refused it: every failed component with its
    limit (e.g. ``face too small: 18 px between the eyes, need 24``), or the overall
    score when no single component is to blame.
    """
    if not min_quality:
        return
    if quality.score >= min_quality and not quality.reasons:
        return
    if quality.reasons:
        # a component failed its own limit: that is the refusal, whatever the overall score
        checks = "; ".join(quality.reasons)
        why = f"refused by the quality check ({checks})"
        if quality.score >= min_quality:
            why += f", although the overall score {quality.score:.2f} passes {min_quality:.2f}"
    else:
        why = (
            f"refused by the overall quality score: {quality.score:.2f} is below "
            f"{min_quality:.2f}, with no single check to blame"
        )
    raise PoorQualityError(
        f"{label}: not enrolled: {why}. Use a sharper, well-lit, frontal photo with the whole "
        "face in view, or turn the checks off (min_quality=0, --min-quality 0)",
        quality.score,
        quality.reasons,
    )


def template_from_faces(
    rgb: npt.NDArray[np.uint8],
    faces: Faces,
    digest: str,
    label: str,
    model: str,
    largest_face: bool,
    *,
    min_quality: float | None = DEFAULT_MIN_QUALITY,
    spectrum: Spectrum | str | None = None,
) -> tuple[TemplateRecord, Faces]:
    """Embed the enrolled face among faces already detected; return it with its record.

    The record's ``quality`` is the face's quality score
    (:func:`facescope.quality.assess_quality`) and its ``spectrum`` the
    given capture spectrum, or the one guessed from `rgb` when None
    (:func:`template_spectrum`). Raises EnrollmentError, PoorQualityError and
    UnknownSpectrumError as :func:`template_from_pixels` does.
    """
    captured = None if spectrum is None else template_spectrum(rgb, spectrum, label)
    if len(faces) == 0:
        raise EnrollmentError(f"{label}: no face found")
    if len(faces) > 1 and not largest_face:
        raise EnrollmentError(
            f"{label}: {len(faces)} faces found; enrol a photo of one person, "
            "or pass largest_face=True (--largest-face) to use the largest"
        )
    if captured is None:  # guessed from a photo known to hold a face (never a 1x1 one)
        captured = template_spectrum(rgb, None, label)
    face = largest(faces)
    quality = assess_quality(rgb, face)[0]
    check_quality(quality, label, min_quality)
    embedding = embed_faces(rgb, face, model)
    record = TemplateRecord(
        embedding.vectors[0],
        float(embedding.norms[0]),
        quality.score,
        label,
        digest,
        captured.value,
    )
    return record, face


def photo_template(
    image: ImageInput,
    model: str,
    *,
    largest_face: bool = False,
    label: str | None = None,
    min_quality: float | None = DEFAULT_MIN_QUALITY,
    spectrum: Spectrum | str | None = None,
) -> TemplateRecord:
    """Turn one photo into a template record (decode, hash, detect, embed).

    Args:
        image: a path, encoded bytes, an RGB array or a PIL image.
        model: the gallery's recognition model (``sface`` or ``dlib``).
        largest_face: use the largest face of a photo with several.
        label: the photo's name in messages and in the record's ``source``;
            defaults to the path (or ``photo 0`` for other inputs).
        min_quality: refuse faces below this quality score or with a poor
            component (PoorQualityError); None or 0 accepts any face.
        spectrum: capture spectrum of the photo (``vis``, ``nir``, ``thermal``);
            None guesses it from the pixels.

    Raises the same FacescopeError (InvalidImageError, EnrollmentError) with the
    same message as :meth:`facescope.gallery.Gallery.enroll` for this photo.
    """
    rgb, digest = decode_photo(image)
    return template_from_pixels(
        rgb,
        digest,
        label if label is not None else photo_label(image, 0),
        model,
        largest_face,
        min_quality=min_quality,
        spectrum=spectrum,
    )
