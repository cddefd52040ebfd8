"""A gallery of known people: enrol, identify (open set), verify, remove, export.

The embedded backend keeps subjects and templates in SQLite (the source of
truth) and searches an in-memory index that is checked against it row by row
(see ``vector_index.py``), so the search can never disagree with what is stored.

Every template records the spectrum of its capture (vis, nir, thermal). With
:attr:`Gallery.spectral_thresholds` set, a probe of a known spectrum is judged
against each template with the threshold calibrated for that spectrum pair
(:class:`facescope.spectral.SpectralThresholds`) instead of the single one.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.errors import (
    DuplicateTemplateError,
    EmptyGalleryError,
    EnrollmentError,
    GalleryError,
    GalleryModelMismatchError,
    GalleryNotFoundError,
    InvalidEmbeddingError,
    NoFaceError,
    NonFaceEmbeddingError,
    SimilarSubjectError,
    UnknownSubjectError,
)
from facescope.gallery.crypto import KEY_ENV, GalleryKeyError
from facescope.gallery.sqlite_store import SQLiteStore
from facescope.gallery.store import SubjectInfo, TemplateRecord, TemplateStore, dim_for
from facescope.gallery.templates import decode_photo, photo_label, template_from_pixels
from facescope.io.image import ImageInput, load_image
from facescope.match.ranking import identification
from facescope.match.thresholds import (
    DEFAULT_FMR,
    Calibration,
    identification_rule,
    load_calibration,
    verification_rule,
)
from facescope.match.thresholds import DEFAULT_FPIR as DEFAULT_FPIR  # re-exported
from facescope.pipeline import embed_faces, find_faces, find_faces_restoring
from facescope.quality import DEFAULT_MIN_QUALITY
from facescope.spectral.spectrum import Spectrum, guess_spectrum, parse_spectrum
from facescope.spectral.thresholds import SpectralThresholds
from facescope.types import Candidate, DecisionRule, Identification, VerifyResult, as_box

DEFAULT_GALLERY = "./facescope-data"
#: The caller's non-face check of imported templates: (model, unit embeddings (n, d),
#: recorded raw norms (n,)) -> per template, whether it was made from a face.
FaceCheck = Callable[[str, npt.NDArray[np.float32], npt.NDArray[np.float64]], npt.ArrayLike]
DEFAULT_MODEL = "sface"
EXPORT_FORMAT = "facescope-gallery/1"
DB_NAME = "gallery.sqlite3"

#: Models a gallery can hold templates of (``arcface`` needs its licence accepted).
GALLERY_MODELS = ("sface", "dlib", "arcface")


@dataclass(frozen=True)
class EnrollResult:
    """What one `enroll` call stored."""

    subject: str
    added: int
    template_ids: list[int]


class Gallery:
    """Known people and their face templates, searchable 1:N.

    Open with :meth:`open`; use as a context manager to close it.
    """

    def __init__(
        self,
        store: TemplateStore,
        model: str | None,
        calibration: Calibration,
        *,
        spectral_thresholds: SpectralThresholds | None = None,
    ) -> None:
        self._store = store
        model = model or store.get_meta("model") or DEFAULT_MODEL
        self.model = model
        self._calibration = calibration
        self._spectral: SpectralThresholds | None = None
        self.model_version = _model_version(model)
        stored = (store.get_meta("model"), store.get_meta("model_version"))
        if stored == (None, None):
            store.set_meta({"model": model, "model_version": self.model_version})
        elif stored != (model, self.model_version):
            raise GalleryModelMismatchError(
                f"{store.path}: gallery was created with {stored[0]} {stored[1]}, "
                f"not {model} {self.model_version}; open it with model={stored[0]!r} "
                "or re-enrol into a new gallery"
            )
        self.spectral_thresholds = spectral_thresholds

    @property
    def spectral_thresholds(self) -> SpectralThresholds | None:
        """Per-spectrum-pair thresholds for identify and verify, or None (the default).

        When set, a probe whose spectrum is known (given as ``probe_spectrum``, or
        guessed from the probe photo by :meth:`identify` and :meth:`verify`) is
        compared with each template using ``thresholds.threshold(probe_spectrum,
        template.spectrum)``; an uncalibrated pair raises
        :class:`facescope.spectral.UncalibratedPairError`. When None, every decision
        uses the gallery's single calibrated threshold, as without spectra.
        """
        return self._spectral

    @spectral_thresholds.setter
    def spectral_thresholds(self, value: SpectralThresholds | None) -> None:
        if value is not None and not isinstance(value, SpectralThresholds):
            raise TypeError(
                "spectral_thresholds must be a SpectralThresholds or None, got "
                f"{type(value).__name__}; load a file with SpectralThresholds.load(path)"
            )
        if value is not None and value.model in ("sface", "dlib") and value.model != self.model:
            raise GalleryModelMismatchError(
                f"spectral thresholds were calibrated for {value.model}, this gallery holds "
                f"{self.model} templates"
            )
        self._spectral = value

    @classmethod
    def open(
        cls,
        uri: str | os.PathLike[str] = DEFAULT_GALLERY,
        *,
        model: str | None = None,
        thresholds: str | None = None,
        key: str | None = None,
        spectral_thresholds: SpectralThresholds | str | os.PathLike[str] | None = None,
        create: bool = True,
    ) -> Gallery:
        """Open (creating if needed) a gallery.

        Args:
            uri: a folder (``./facescope-data``), ``sqlite:///path/to/file.sqlite3``,
                or ``postgresql://user@host:port/db?schema=NAME`` (PostgreSQL with
                pgvector; one schema per gallery).
            model: the recognition model of its templates (``sface``, ``dlib`` or the
                opt-in, licence-gated ``arcface``: SQLite galleries only),
                fixed when the gallery is created; None opens an existing gallery
                with its own model and creates a new one with ``sface``.
            thresholds: thresholds file (default: bundled calibration).
            key: secret that encrypts templates at rest (AES-256-GCM); defaults to
                ``$FACESCOPE_KEY``. A gallery created with a key needs it to open.
            spectral_thresholds: per-spectrum-pair thresholds (a
                :class:`~facescope.spectral.SpectralThresholds` or the path of its JSON
                file); see :attr:`spectral_thresholds`. None keeps the single threshold.
            create: False for readers: an embedded gallery that does not exist raises
                :class:`~facescope.errors.GalleryNotFoundError` (naming the path) and
                nothing is created.
        """
        if model is not None and model not in GALLERY_MODELS:
            raise ValueError(
                f"gallery model must be one of {', '.join(GALLERY_MODELS)}, got {model!r}"
            )
        spectral = (
            SpectralThresholds.load(spectral_thresholds)
            if isinstance(spectral_thresholds, str | os.PathLike)
            else spectral_thresholds
        )
        secret = key if key is not None else os.environ.get(KEY_ENV)
        text = os.fspath(uri)
        store: TemplateStore
        if text.startswith(("postgresql://", "postgres://")):
            if secret is not None:
                raise GalleryKeyError(
                    "template encryption is available for the embedded gallery only; on "
                    f"PostgreSQL use the server's storage encryption and unset {KEY_ENV}"
                )
            from facescope.gallery.postgres_store import PostgresStore

            store = PostgresStore(text)
        else:
            database = _database_path(text)
            if not create and not database.is_file():
                raise GalleryNotFoundError(
                    f"no gallery at {text} ({database} does not exist); nothing was created. "
                    f"Enrol someone first (facescope enroll NAME PHOTO -g {text}) or name an "
                    "existing gallery with -g"
                )
            store = SQLiteStore(database, secret)
        try:
            return cls(store, model, load_calibration(thresholds), spectral_thresholds=spectral)
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        """Close the database."""
        self._store.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- enrolment -----------------------------------------------------------------

    def enroll(
        self,
        subject: str,
        images: Sequence[ImageInput] | ImageInput,
        *,
        metadata: dict[str, Any] | None = None,
        largest_face: bool = False,
        min_quality: float | None = DEFAULT_MIN_QUALITY,
        spectrum: Spectrum | str | None = None,
        allow_similar: bool = False,
    ) -> EnrollResult:
        """Add a subject's photos, one template per photo, in one transaction.

        Every photo is checked before anything is stored: a photo with no face,
        or several faces without ``largest_face=True``, or one already enrolled
        for this subject, refuses the whole call and stores nothing. So does a
        face too poor for reliable recognition (PoorQualityError, whose message
        says why: too small, blurred, dark, turned aside, cut by the border...):
        its quality score (:mod:`facescope.quality`) is below
        `min_quality` or one of its components is poor. ``min_quality=None``
        (or 0) turns the check off. Each template stores its face's score.
        `images` is a list of photos or one photo (path, bytes, array, PIL image).

        A new subject whose name equals an enrolled one up to case and whitespace
        ("obama" next to "Obama") is refused with SimilarSubjectError, naming the
        enrolled one, unless ``allow_similar=True``.

        `spectrum` is the capture spectrum of the photos (``"vis"``, ``"nir"``,
        ``"thermal"`` or a :class:`~facescope.spectral.Spectrum`), recorded with each
        template; None guesses it per photo (:func:`facescope.spectral.guess_spectrum`:
        a greyscale photo is taken for NIR). An unknown name raises
        :class:`facescope.spectral.UnknownSpectrumError` before any photo is read.
        """
        if not subject or not subject.strip():
            raise EnrollmentError("subject name must not be empty")
        captured = None if spectrum is None else parse_spectrum(spectrum)
        one = isinstance(images, (str, bytes, bytearray, memoryview, os.PathLike, np.ndarray))
        photos: list[ImageInput] = (
            [images]  # type: ignore[list-item]
            if one or not isinstance(images, Sequence)
            else list(images)  # type: ignore[arg-type]
        )
        if not photos:
            raise EnrollmentError(f"no photos given for {subject!r}")
        self._check_name(subject, allow_similar)  # before any photo is read
        records = [
            self._template(subject, image, index, largest_face, min_quality, captured)
            for index, image in enumerate(photos)
        ]
        return self.enroll_templates(
            subject, records, metadata=metadata, allow_similar=allow_similar
        )

    def _check_name(self, subject: str, allow_similar: bool) -> None:
        """Refuse a new subject named like an enrolled one (two index lookups)."""
        if allow_similar or self._store.subject(subject) is not None:
            return
        similar = self._store.similar_names(subject)
        if similar:
            names = ", ".join(repr(name) for name in similar)
            raise SimilarSubjectError(
                f"{subject!r} is a new subject, but {names} is enrolled: the names are equal "
                "up to case and whitespace. Enrol under the enrolled name, or force a "
                "separate subject (--force; allow_similar=True in Python)",
                subject,
                similar,
            )

    def _template(
        self,
        subject: str,
        image: ImageInput,
        index: int,
        largest_face: bool,
        min_quality: float | None,
        spectrum: Spectrum | None = None,
    ) -> TemplateRecord:
        label = photo_label(image, index)
        rgb, content_hash = decode_photo(image)
        if self._store.has_content(subject, content_hash):
            raise DuplicateTemplateError(f"{label}: this photo is already enrolled for {subject!r}")
        return template_from_pixels(
            rgb,
            content_hash,
            label,
            self.model,
            largest_face,
            min_quality=min_quality,
            spectrum=spectrum,
        )

    def enroll_templates(
        self,
        subject: str,
        records: Sequence[TemplateRecord],
        *,
        metadata: dict[str, Any] | None = None,
        allow_similar: bool = False,
    ) -> EnrollResult:
        """Store templates already made from photos, in one transaction.

        For templates computed elsewhere with
        :func:`facescope.gallery.templates.photo_template` and this gallery's
        model (bulk enrolment on Ray workers). The checks are those of
        :meth:`enroll`: a photo already enrolled for this subject, or given
        twice, or a new subject named like an enrolled one (without
        `allow_similar`), refuses the whole call and stores nothing.
        """
        if not subject or not subject.strip():
            raise EnrollmentError("subject name must not be empty")
        if not records:
            raise EnrollmentError(f"no photos given for {subject!r}")
        self._check_name(subject, allow_similar)
        records = [_with_spectrum(r) for r in records]
        hashes = [r.content_hash for r in records]
        if len(set(hashes)) != len(hashes):
            raise DuplicateTemplateError(f"the same photo is given twice for {subject!r}")
        for record in records:
            if self._store.has_content(subject, record.content_hash):
                raise DuplicateTemplateError(
                    f"{record.source}: this photo is already enrolled for {subject!r}"
                )
        ids = self._store.add_templates(subject, records, self.model, self.model_version, metadata)
        return EnrollResult(subject, len(ids), ids)

    def has_template(self, subject: str, content_hash: str) -> bool:
        """Whether a photo with this content hash is already enrolled for `subject`."""
        return self._store.has_content(subject, content_hash)

    # ---- search --------------------------------------------------------------------

    def open_set_threshold(self, fpir: float = DEFAULT_FPIR) -> float:
        """Score a stranger's best match must reach to be taken for someone.

        The threshold of :meth:`identification_rule` (see there).
        """
        return self.identification_rule(fpir).threshold

    def identification_rule(
        self, fpir: float = DEFAULT_FPIR, *, subjects: int | None = None
    ) -> DecisionRule:
        """The 1:N open-set rule for this gallery's size, at FPIR `fpir`.

        With N enrolled subjects, a false-positive identification happens when
        any of N impostor comparisons passes; holding FPIR at ``fpir`` needs a
        per-comparison FMR of ``1 - (1 - fpir) ** (1 / N)`` (about fpir / N).
        The threshold at that FMR is interpolated (log-FMR) between the
        calibrated operating points, and extrapolated linearly beyond the last
        (:func:`facescope.match.thresholds.identification_rule`). `subjects` is the
        number of subjects when the caller has just counted them (:meth:`counts`).
        """
        n_subjects = self._store.count()[0] if subjects is None else subjects
        return identification_rule(self._calibration, self.model, n_subjects, fpir)

    def verification_rule(self, fmr: float = DEFAULT_FMR, comparisons: int = 1) -> DecisionRule:
        """The 1:1 rule at false-match rate `fmr` over `comparisons` probe faces.

        `fmr` outside the calibrated range raises CalibrationError
        (:func:`facescope.match.thresholds.verification_rule`).
        """
        return verification_rule(self._calibration, self.model, fmr, comparisons)

    def identify(
        self,
        image: ImageInput,
        *,
        top_k: int = 5,
        fpir: float = DEFAULT_FPIR,
        probe_spectrum: Spectrum | str | None = None,
        restore: str = "none",
    ) -> list[Identification]:
        """Identify every face in `image`; `identity` is None for people not enrolled.

        One result per face, left to right (the order of :func:`facescope.detect`).
        `restore` ("auto", a method, or "none") restores the probe's faces before
        embedding (:func:`facescope.embed`); the enrolled templates are not touched.

        `probe_spectrum` (vis, nir, thermal) matters only with
        :attr:`spectral_thresholds` set; then None guesses it from `image`
        (:func:`facescope.spectral.guess_spectrum`). See :meth:`identify_embeddings`.
        """
        probe = None if probe_spectrum is None else parse_spectrum(probe_spectrum)
        counts = self._store.count()
        if counts[1] == 0:
            raise EmptyGalleryError("the gallery is empty: enrol someone first")
        rgb, faces = find_faces_restoring(load_image(image), restore)
        if len(faces) == 0:
            return []
        if probe is None and self._spectral is not None:
            probe = guess_spectrum(rgb)
        probes = embed_faces(rgb, faces, self.model, restore=restore).vectors
        return self.identify_embeddings(
            faces.boxes, probes, top_k=top_k, fpir=fpir, probe_spectrum=probe, counts=counts
        )

    def identify_embeddings(
        self,
        boxes: npt.NDArray[np.float32],
        probes: npt.NDArray[np.float32],
        *,
        top_k: int = 5,
        fpir: float = DEFAULT_FPIR,
        probe_spectrum: Spectrum | str | None = None,
        counts: tuple[int, int] | None = None,
    ) -> list[Identification]:
        """Identify faces already embedded with this gallery's model.

        `boxes` (n, 4) and `probes` (n, 128, L2-normalised) are parallel; callers
        that run inference themselves (the REST service, outside its store lock)
        use this for the search and the open-set decision alone.

        With :attr:`spectral_thresholds` set and `probe_spectrum` given (the
        spectrum of all these probes), the decision is spectrum-aware: the
        `top_k` candidates are still ranked by their best cosine score, but each
        candidate is accepted when any of its templates reaches
        ``spectral_thresholds.threshold(probe_spectrum, template.spectrum)``, and
        ``identity`` is the best-ranked accepted candidate (None when none is).
        The result's ``score`` and ``threshold`` are then those of the deciding
        template (the one furthest above, or least below, its pair's threshold).
        These thresholds are per comparison at their calibrated FMR; `fpir` does
        not adjust them to the gallery size. Without spectral thresholds, or
        with `probe_spectrum` None, the open-set threshold at `fpir` decides.

        `counts` is ``(subjects, templates)`` when the caller has just read them
        (:meth:`counts`): a database gallery then counts once per request.
        """
        probe = None if probe_spectrum is None else parse_spectrum(probe_spectrum)
        subjects, templates = self._store.count() if counts is None else counts
        if templates == 0:
            raise EmptyGalleryError("the gallery is empty: enrol someone first")
        if len(probes) == 0:
            return []
        spectral = self._spectral
        if spectral is not None and probe is not None:
            ranked_per_face = self._store.search(probes, top_k)
            return [
                self._spectral_identification(box, vector, ranked, probe, spectral, fpir)
                for box, vector, ranked in zip(boxes, probes, ranked_per_face, strict=True)
            ]
        rule = self.identification_rule(fpir, subjects=subjects)
        ranked_per_face = self._store.search(probes, top_k)
        return [
            identification(box, ranked, rule.threshold, self.model, rule=rule)
            for box, ranked in zip(boxes, ranked_per_face, strict=True)
        ]

    def _spectral_identification(
        self,
        box: Sequence[float],
        vector: npt.NDArray[np.float32],
        ranked: list[tuple[str, float]],
        probe: Spectrum,
        thresholds: SpectralThresholds,
        fpir: float,
    ) -> Identification:
        """The open-set decision for one face with per-spectrum-pair thresholds."""
        decided: list[tuple[str, float, float]] = []  # (name, score, threshold) per candidate
        for name, _ in ranked:
            _, _, matrix, records = self._store.templates(name)
            if not records:  # removed since the search
                continue
            decided.append((name, *_best_margin(matrix, vector, records, probe, thresholds)))
        rule = self.identification_rule(fpir)
        if not decided:
            return identification(box, ranked, rule.threshold, self.model, rule=rule)
        accepted = [entry for entry in decided if entry[1] >= entry[2]]
        name, score, threshold = accepted[0] if accepted else decided[0]
        return Identification(
            box=as_box(box),
            identity=name if accepted else None,
            score=score,
            threshold=threshold,
            model=self.model,
            candidates=[Candidate(n, s) for n, s in ranked],
            decision_rule=_spectral_rule(
                self.model,
                thresholds,
                probe,
                threshold,
                gallery_size=rule.gallery_size,
                comparisons=rule.comparisons,
            ),
        )

    def verify(
        self,
        subject: str,
        image: ImageInput,
        *,
        fmr: float = DEFAULT_FMR,
        probe_spectrum: Spectrum | str | None = None,
    ) -> VerifyResult:
        """1:1: is the enrolled `subject` in `image`? Every face of the photo is compared.

        The face that matches the subject best decides, and the result names it
        (``box_b``, ``faces_b``). See :meth:`verify_faces`. `probe_spectrum`
        matters only with :attr:`spectral_thresholds` set; then None guesses it
        from `image`.
        """
        probe = None if probe_spectrum is None else parse_spectrum(probe_spectrum)
        self.show(subject)
        rgb = load_image(image)
        faces = find_faces(rgb)
        if len(faces) == 0:
            raise NoFaceError("no face found in the probe image")
        if probe is None and self._spectral is not None:
            probe = guess_spectrum(rgb)
        vectors = embed_faces(rgb, faces, self.model).vectors
        return self.verify_faces(subject, vectors, faces.boxes, fmr=fmr, probe_spectrum=probe)

    def verify_faces(
        self,
        subject: str,
        probes: npt.NDArray[np.float32],
        boxes: npt.NDArray[np.float32] | None,
        *,
        fmr: float = DEFAULT_FMR,
        probe_spectrum: Spectrum | str | None = None,
    ) -> VerifyResult:
        """1:1 for every face of one photo, already embedded: (n, 128) `probes`, (n, 4) `boxes`.

        The face that matches the subject best decides. With several faces, the
        chance that some stranger passes grows with their number, so the
        threshold is the one at per-face FMR ``1 - (1 - fmr) ** (1 / n)``, which
        keeps the decision at `fmr`. Per-spectrum-pair thresholds (see
        :meth:`verify_embedding`) are single calibrated points and are not
        adjusted this way.
        """
        vectors = np.asarray(probes, np.float32)
        if vectors.ndim == 1:
            vectors = vectors[None, :]
        dim = dim_for(self.model)
        if vectors.ndim != 2 or vectors.shape[1] != dim or not np.isfinite(vectors).all():
            raise InvalidEmbeddingError(
                f"probes must be finite (n, {dim}) embeddings of {self.model}, got shape "
                f"{vectors.shape}" + ("" if np.isfinite(vectors).all() else " with NaN or inf")
            )
        if len(vectors) == 0:
            raise NoFaceError("no face to verify")
        found = None if boxes is None else np.asarray(boxes, np.float32).reshape(-1, 4)
        if found is not None and len(found) != len(vectors):
            raise ValueError(f"{len(found)} boxes for {len(vectors)} probes")
        spectrum = None if probe_spectrum is None else parse_spectrum(probe_spectrum)
        self.show(subject)
        _, _, matrix, records = self._store.templates(subject)  # read once for every face
        spectral = self._spectral
        if spectral is not None and spectrum is not None:
            margins = [_best_margin(matrix, v, records, spectrum, spectral) for v in vectors]
            best = int(np.argmax([score - limit for score, limit in margins]))
            score, threshold = margins[best]
            decided_fmr = spectral.fmr
            rule = _spectral_rule(
                self.model,
                spectral,
                spectrum,
                threshold,
                gallery_size=None,
                comparisons=len(vectors),
            )
        else:
            scores = np.asarray(matrix @ vectors.T, np.float64).max(axis=0)
            best = int(np.argmax(scores))
            score = float(scores[best])
            rule = self.verification_rule(fmr, len(vectors))  # refuses an uncalibrated FMR
            threshold = rule.threshold
            decided_fmr = fmr
        return VerifyResult(
            score >= threshold,
            score,
            threshold,
            self.model,
            decided_fmr,
            box_b=None if found is None else as_box(found[best]),
            faces_b=len(vectors),
            comparisons=len(vectors),
            decision_rule=rule,
        )

    def verify_embedding(
        self,
        subject: str,
        probe: npt.NDArray[np.float32],
        *,
        fmr: float = DEFAULT_FMR,
        probe_spectrum: Spectrum | str | None = None,
    ) -> VerifyResult:
        """1:1 for a probe already embedded with this gallery's model (128, L2-normalised).

        With :attr:`spectral_thresholds` set and `probe_spectrum` given, the subject
        is accepted when any template reaches the threshold of its spectrum pair
        with the probe; the result holds that template's score and threshold and
        the thresholds' calibrated FMR (`fmr` is then not used). Otherwise the
        best template's score is compared with the threshold at `fmr`.
        """
        return self.verify_faces(subject, probe, None, fmr=fmr, probe_spectrum=probe_spectrum)

    def threshold(self, fmr: float = DEFAULT_FMR) -> float:
        """The 1:1 threshold of this gallery's model at false-match rate `fmr` (one face).

        Calibrated points as calibrated, interpolated between them; an FMR outside
        the calibrated range raises CalibrationError (:meth:`verification_rule`).
        """
        return self.verification_rule(fmr).threshold

    @property
    def operating_points(self) -> dict[float, float]:
        """Calibrated 1:1 thresholds of this gallery's model: false-match rate -> threshold."""
        return dict(sorted(self._calibration.for_model(self.model).thresholds.items()))

    # ---- management ------------------------------------------------------------------

    def remove(self, subject: str) -> int:
        """Erase a subject and all its templates (right to erasure); return the count.

        The rows are gone when this returns. Their last copies on disk (the
        embedded gallery's write-ahead log) are overwritten at once too, unless
        another process is in the middle of reading an older state: then
        :attr:`erasure_pending` is True until that is done (see :meth:`finish_erasure`).
        """
        return self._store.remove_subject(subject)

    def remove_template(self, subject: str, template_id: int) -> int:
        """Erase one template of a subject; return how many it has left.

        A subject whose last template goes is removed with it. Erasure of the
        copies on disk as in :meth:`remove`.
        """
        return self._store.remove_template(subject, template_id)

    @property
    def erasure_pending(self) -> bool:
        """Whether erased templates may still be readable in the gallery's files.

        The embedded gallery overwrites erased rows and empties its write-ahead
        log on :meth:`remove` and :meth:`remove_template`; while another
        connection holds a read snapshot from before the erasure the log cannot
        be emptied, and this is True until a later operation, :meth:`finish_erasure`
        or :meth:`close` (or the next open, in any process) completes it. Always
        False on PostgreSQL, whose storage the server manages.
        """
        return self._store.erasure_pending

    def finish_erasure(self, timeout_s: float = 0.0) -> bool:
        """Complete a pending erasure, waiting up to `timeout_s` for readers; True when done.

        True at once when nothing is pending; False when readers of older
        snapshots are still there after `timeout_s` (the erasure stays pending).
        """
        if timeout_s < 0:
            raise ValueError(f"timeout_s must be >= 0, got {timeout_s}")
        return self._store.finish_erasure(timeout_s)

    def templates(self, subject: str) -> list[tuple[int, TemplateRecord]]:
        """A subject's templates as (template id, record), oldest first."""
        self.show(subject)
        ids, _, _, records = self._store.templates(subject)
        return list(zip((int(i) for i in ids), records, strict=True))

    def list(self, limit: int | None = None, offset: int = 0) -> list[SubjectInfo]:
        """Subjects with their number of templates, by name (a page with `limit`)."""
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        return self._store.subjects(limit, offset)

    def show(self, subject: str) -> SubjectInfo:
        """One subject; UnknownSubjectError when it is not enrolled."""
        info = self._store.subject(subject)
        if info is None:
            raise UnknownSubjectError(f"unknown subject {subject!r}")
        return info

    def has_subject(self, subject: str) -> bool:
        """Whether `subject` is enrolled."""
        return self._store.subject(subject) is not None

    def counts(self) -> tuple[int, int]:
        """(subjects, templates), without listing them (cached by the embedded store)."""
        return self._store.count()

    def __len__(self) -> int:
        """Number of templates."""
        return self._store.count()[1]

    def export(self, path: str | os.PathLike[str]) -> int:
        """Write every subject and template to a JSON file; return the template count.

        Format ``facescope-gallery/1``: ``{"format", "model", "model_version",
        "dim", "subjects": [{"name", "metadata", "templates": [{"embedding"
        (base64 of little-endian float32), "norm", "quality", "source",
        "content_hash", "spectrum"}]}]}``. ``spectrum`` (vis, nir, thermal) is
        optional on import, where a template without it is taken for ``vis``.
        """
        subjects = []
        count = 0
        for info in self._store.subjects():
            _, _, _, records = self._store.templates(info.name)
            count += len(records)
            subjects.append(
                {
                    "name": info.name,
                    "metadata": info.metadata,
                    "templates": [
                        {
                            "embedding": base64.b64encode(
                                np.asarray(r.embedding, "<f4").tobytes()
                            ).decode("ascii"),
                            "norm": r.norm,
                            "quality": r.quality,
                            "source": r.source,
                            "content_hash": r.content_hash,
                            "spectrum": r.spectrum,
                        }
                        for r in records
                    ],
                }
            )
        document = {
            "format": EXPORT_FORMAT,
            "model": self.model,
            "model_version": self.model_version,
            "dim": dim_for(self.model),
            "subjects": subjects,
        }
        Path(path).write_text(json.dumps(document), encoding="utf-8")
        return count

    def import_file(
        self, path: str | os.PathLike[str], *, face_check: FaceCheck | None = None
    ) -> int:
        """Add subjects and templates from an export; return templates added.

        Refuses (storing nothing) files of another format, model or model
        version, and embeddings of the wrong size, NaN/inf or zero norm. With a
        `face_check` (the caller's policy, e.g.
        :func:`facescope.privacy.import_face_check`, which ``facescope gallery
        import`` passes), templates it says were not made from a face refuse the
        whole file with NonFaceEmbeddingError naming their subjects. Templates
        already present (same subject and content hash) are skipped.
        """
        source = Path(path)
        try:
            document = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise GalleryError(f"{source}: cannot read gallery export ({exc})") from exc
        if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
            raise GalleryError(f"{source}: not a {EXPORT_FORMAT} file")
        origin = (document.get("model"), document.get("model_version"))
        if origin != (self.model, self.model_version):
            raise GalleryModelMismatchError(
                f"{source}: templates come from {origin[0]} {origin[1]}, this gallery holds "
                f"{self.model} {self.model_version}; re-enrol from photos instead"
            )
        batches = [
            _parse_subject(source, entry, dim_for(self.model))
            for entry in document.get("subjects", [])
        ]
        if face_check is not None:
            _refuse_non_faces(source, self.model, batches, face_check)
        added = 0
        for name, metadata, records in batches:
            fresh = [r for r in records if not self._store.has_content(name, r.content_hash)]
            if fresh:
                added += len(
                    self._store.add_templates(name, fresh, self.model, self.model_version, metadata)
                )
        return added

    @property
    def encrypted(self) -> bool:
        """Whether templates are encrypted at rest."""
        return self._store.encrypted

    def integrity_check(self) -> str:
        """The database's integrity check ("ok" when sound)."""
        return self._store.integrity_check()


def _parse_subject(
    source: Path, entry: Any, dim: int = 128
) -> tuple[str, dict[str, Any], list[TemplateRecord]]:
    try:
        name = str(entry["name"])
        metadata = dict(entry.get("metadata", {}))
        records = []
        for template in entry["templates"]:
            vector = np.frombuffer(base64.b64decode(template["embedding"]), dtype="<f4")
            if vector.shape != (dim,):
                raise InvalidEmbeddingError(
                    f"{source}: template of {name!r} has {vector.size} values, expected {dim}"
                )
            if not np.isfinite(vector).all():
                raise InvalidEmbeddingError(f"{source}: template of {name!r} has NaN or inf")
            norm = float(np.linalg.norm(vector))
            if norm < 1e-6:
                raise InvalidEmbeddingError(f"{source}: template of {name!r} has zero norm")
            records.append(
                TemplateRecord(
                    (vector / norm).astype(np.float32),
                    float(template.get("norm", norm)),
                    float(template.get("quality", 0.0)),
                    str(template.get("source", "import")),
                    str(template["content_hash"]),
                    parse_spectrum(template.get("spectrum", Spectrum.VIS.value)).value,
                )
            )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, InvalidEmbeddingError):
            raise
        raise GalleryError(f"{source}: malformed subject entry ({exc})") from exc
    return name, metadata, records


def _with_spectrum(record: TemplateRecord) -> TemplateRecord:
    """`record` with its spectrum checked and in canonical form ("NIR", "ir" -> "nir")."""
    try:
        spectrum = parse_spectrum(record.spectrum).value
    except ValueError as exc:
        raise type(exc)(f"{record.source}: {exc}") from None
    return record if spectrum == record.spectrum else dataclasses.replace(record, spectrum=spectrum)


def _spectral_rule(
    model: str,
    thresholds: SpectralThresholds,
    probe: Spectrum,
    threshold: float,
    *,
    gallery_size: int | None,
    comparisons: int,
) -> DecisionRule:
    """The rule of a decision taken with per-spectrum-pair thresholds.

    Those are single points at the FMR they were calibrated at, per comparison:
    neither the FMR/FPIR asked for nor the gallery size or face count moves them.
    """
    return DecisionRule(
        mode="1:1" if gallery_size is None else "1:N",
        rate="fmr",
        target=thresholds.fmr,
        gallery_size=gallery_size,
        comparisons=max(1, comparisons),
        per_comparison_fmr=thresholds.fmr,
        model=model,
        threshold=threshold,
        calibration="spectral thresholds",
        calibrated_fmr=(thresholds.fmr, thresholds.fmr),
        note=(
            f"per-spectrum-pair threshold for a {probe.value} probe at FMR "
            f"{thresholds.fmr:g} per comparison, not adjusted to the number of comparisons"
        ),
    )


def _best_margin(
    matrix: npt.NDArray[np.float32],
    probe: npt.NDArray[np.float32],
    records: Sequence[TemplateRecord],
    spectrum: Spectrum,
    thresholds: SpectralThresholds,
) -> tuple[float, float]:
    """(score, threshold) of the template furthest above (or least below) its pair's threshold.

    Each template is compared with the threshold of (probe spectrum, template spectrum);
    an uncalibrated pair raises :class:`facescope.spectral.UncalibratedPairError`.
    """
    scores = np.asarray(matrix @ probe, np.float64).reshape(-1)
    per_spectrum: dict[str, float] = {}
    limits = np.empty(len(records), np.float64)
    for i, record in enumerate(records):
        if record.spectrum not in per_spectrum:
            per_spectrum[record.spectrum] = thresholds.threshold(spectrum, record.spectrum)
        limits[i] = per_spectrum[record.spectrum]
    best = int(np.argmax(scores - limits))
    return float(scores[best]), float(limits[best])


def _refuse_non_faces(
    source: Path,
    model: str,
    batches: Sequence[tuple[str, dict[str, Any], list[TemplateRecord]]],
    face_check: FaceCheck,
) -> None:
    """NonFaceEmbeddingError naming the subjects whose templates `face_check` refuses."""
    named = [(name, record) for name, _, records in batches for record in records]
    if not named:
        return
    vectors = np.stack([record.embedding for _, record in named]).astype(np.float32)
    norms = np.array([record.norm for _, record in named], np.float64)
    is_face = np.asarray(face_check(model, vectors, norms), bool).reshape(-1)
    if is_face.shape != (len(named),):
        raise ValueError(f"face_check gave {is_face.size} verdicts for {len(named)} templates")
    refused = sorted({name for (name, _), face in zip(named, is_face, strict=True) if not face})
    if refused:
        shown = ", ".join(repr(n) for n in refused[:5]) + (" ..." if len(refused) > 5 else "")
        raise NonFaceEmbeddingError(
            f"{source}: templates of {len(refused)} subject(s) ({shown}) were not made from a "
            f"face ({model}); nothing imported. Re-enrol them from photos, or import without "
            "the face check (CLI: --no-face-check)"
        )


def _model_version(model: str) -> str:
    from facescope.embed.recognizers import get_recognizer

    return str(get_recognizer(model).version)


def _database_path(uri: str | os.PathLike[str]) -> Path:
    text = os.fspath(uri)
    if text.startswith("sqlite:///"):
        return Path(text.removeprefix("sqlite:///"))
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise GalleryError(
            f"gallery URI scheme {scheme!r} is not supported in this version; use a folder "
            "or sqlite:///path"
        )
    return Path(text) / DB_NAME
