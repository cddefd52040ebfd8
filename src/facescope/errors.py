"""Exception types raised by facescope.

Every error a user can trigger with bad input is a subclass of
:class:`FacescopeError`, so callers can catch one type; each carries a message
that names the offending input and what to do about it.
"""

from __future__ import annotations


class FacescopeError(Exception):
    """Base class of every error facescope raises on purpose."""


class InvalidImageError(FacescopeError, ValueError):
    """The input is not a decodable image (empty, truncated, wrong type, corrupt)."""


class ImageTooLargeError(InvalidImageError):
    """The image has more pixels than the configured limit (decompression-bomb guard)."""


class NoFaceError(FacescopeError):
    """No face was found where one was required (e.g. in one image of a verify pair)."""


class ModelFileError(FacescopeError, RuntimeError):
    """A bundled model file is missing, or its SHA-256 does not match the pinned value."""


class ModelNotAvailableError(ModelFileError):
    """A model's runtime or carrier package is not installed."""


class InvalidEmbeddingError(FacescopeError, ValueError):
    """An embedding has the wrong shape or dtype, or contains NaN/inf values."""


class NonFaceEmbeddingError(InvalidEmbeddingError):
    """An embedding was not made from a face (out-of-domain check failed)."""


class CalibrationError(FacescopeError, ValueError):
    """Calibration data is insufficient (too few identities, images or pairs)."""


class GalleryError(FacescopeError):
    """Base class of gallery errors; nothing stored is changed when one is raised."""


class GalleryNotFoundError(GalleryError, FileNotFoundError):
    """No gallery exists where a reading command was pointed (nothing is created)."""


class UnknownSubjectError(GalleryError, KeyError):
    """The subject id is not in the gallery."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown subject"


class UnknownTemplateError(GalleryError, KeyError):
    """The template id is not one of the subject's templates."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown template"


class DuplicateTemplateError(GalleryError):
    """The same photo is already enrolled for this subject (same content hash)."""


class SimilarSubjectError(GalleryError):
    """A new subject's name equals an enrolled one up to case and whitespace ("obama"
    next to "Obama"): most likely the same person under a mistyped name.

    Attributes:
        subject: the name asked for.
        similar: the enrolled names it resembles.
    """

    def __init__(self, message: str, subject: str, similar: list[str]) -> None:
        super().__init__(message)
        self.subject = subject
        self.similar = similar


class EnrollmentError(GalleryError):
    """A photo cannot be enrolled: no face, or several faces without `largest_face=True`."""


class PoorQualityError(EnrollmentError):
    """A photo's face is too poor to enrol; the message says why (size, blur, exposure, pose...).

    Attributes:
        score: the face's overall quality score in [0, 1].
        reasons: the poor components, one sentence each.
    """

    def __init__(self, message: str, score: float = 0.0, reasons: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.score = score
        self.reasons = reasons


class GalleryModelMismatchError(GalleryError):
    """Templates or a gallery come from another recognition model or model version."""


class EmptyGalleryError(GalleryError):
    """An operation needs at least one enrolled template."""


class EngineNotAvailableError(FacescopeError):
    """An optional execution engine (Ray) is not installed; the message says how to install it."""


class WeatherError(FacescopeError, ValueError):
    """A weather synthesis or restoration request that cannot be carried out (bad input)."""


class VideoError(FacescopeError, ValueError):
    """A video cannot be opened, read or written; the message names the input."""


class CorruptGalleryError(GalleryError):
    """A gallery file is damaged (corrupt pages, altered or invalid rows, truncated file).

    The message is ``f"{path}: {reason}"``: it names the file and says what to
    do (remove the damaged template, restore from an export or a backup).

    Attributes:
        path: the damaged gallery file (the PostgreSQL location for that
            backend), for callers that name it differently (the REST service
            names the collection instead); None when unknown.
        reason: the message without its ``"{path}: "`` prefix.
        template_id: the template row to blame, when one row is damaged; else None.
    """

    def __init__(
        self, message: str, path: object = None, *, template_id: int | None = None
    ) -> None:
        super().__init__(message)
        self.path = path
        prefix = f"{path}: "
        self.reason = (
            message[len(prefix) :] if path is not None and message.startswith(prefix) else message
        )
        self.template_id = template_id


class GalleryBusyError(GalleryError):
    """Another process held the gallery's lock for longer than an operation waits; try again.

    Not damage: nothing is wrong with the file. The message is ``f"{path}: {reason}"``
    like :class:`CorruptGalleryError`'s, with the same `path` and `reason` attributes.
    """

    def __init__(self, message: str, path: object = None) -> None:
        super().__init__(message)
        self.path = path
        prefix = f"{path}: "
        self.reason = (
            message[len(prefix) :] if path is not None and message.startswith(prefix) else message
        )
