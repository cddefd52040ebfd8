"""facescope's top-level verbs: plain numpy in, small typed results out."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facescope.align.template import warp_to_template
from facescope.detect.faces import DetectOptions
from facescope.embed.recognizers import OPT_IN_RECOGNIZER_NAMES, RECOGNIZER_NAMES, embedding_dim
from facescope.errors import CalibrationError, InvalidEmbeddingError, NoFaceError
from facescope.io.image import ImageInput, load_image
from facescope.match.calibrate import (
    DEFAULT_FMR_TARGETS,
    CalibrationRun,
    Progress,
    calibrate_scores,
    folder_per_identity,
)
from facescope.match.ranking import best_per_subject, identification
from facescope.match.thresholds import (
    DEFAULT_FMR,
    DEFAULT_FPIR,
    FUSION,
    Calibration,
    identification_rule,
    load_calibration,
    verification_rule,
)
from facescope.pipeline import (
    embed_faces,
    embed_largest_faces,
    find_faces,
    find_faces_restoring,
    largest,
)
from facescope.types import Embeddings, Faces, Identification, VerifyResult, as_box

MODELS = (*RECOGNIZER_NAMES, FUSION)
#: Every recogniser a call may name: the defaults and the opt-in ones (licence-gated).
_ALL_RECOGNIZERS = (*RECOGNIZER_NAMES, *OPT_IN_RECOGNIZER_NAMES)

#: What `verify` compares: an image (every face in it), an embedding (its first
#: row), or embeddings keyed by model (as `enroll` returns them).
FaceInput = ImageInput | Embeddings | Mapping[str, Embeddings]
#: A known person for `identify`: photos, or their embeddings.
KnownFaces = Sequence[ImageInput] | Embeddings | Mapping[str, Embeddings]


def detect(
    image: ImageInput,
    *,
    min_size: float | None = None,
    max_faces: int | None = None,
    assume_aligned: bool | None = None,
    score_threshold: float = 0.85,
) -> Faces:
    """Find faces in an image.

    Args:
        image: path, bytes, RGB numpy array or PIL image.
        min_size: smallest face side to report, in pixels; a value below what one
            downscaled pass resolves makes the detector tile large images or
            upscale small ones.
        max_faces: keep at most this many (the largest) faces.
        assume_aligned: True takes the whole image as one aligned face crop;
            None (default) does so for standard crop sizes (112x112, 112x96).
        score_threshold: minimum YuNet confidence.

    Returns:
        Faces left to right (box centres; ties most confident first): boxes
        (n, 4) float32 ``x1, y1, x2, y2`` pixels, scores (n,), landmarks5 (n, 5, 2).
    """
    rgb = load_image(image)
    options = DetectOptions(score_threshold=score_threshold)
    return find_faces(
        rgb, min_size=min_size, max_faces=max_faces, assume_aligned=assume_aligned, options=options
    )


def align(image: ImageInput, faces: Faces | None = None) -> npt.NDArray[np.uint8]:
    """Warp each face to the 112x112 ArcFace template: (n, 112, 112, 3) RGB uint8."""
    rgb = load_image(image)
    faces = find_faces(rgb) if faces is None else faces
    if len(faces) == 0:
        return np.zeros((0, 112, 112, 3), np.uint8)
    return np.stack([warp_to_template(rgb, points) for points in faces.landmarks5])


def embed(
    image: ImageInput,
    faces: Faces | None = None,
    *,
    model: str = "sface",
    assume_aligned: bool | None = None,
    restore: str = "none",
) -> Embeddings:
    """Embed every face in an image: (n, 128) L2-normalised float32, with raw norms.

    Args:
        image: path, bytes, RGB numpy array or PIL image.
        faces: faces to embed; detected when None.
        model: ``"sface"`` (fast, default) or ``"dlib"``.
        assume_aligned: as in :func:`detect`.
        restore: ``"none"`` (default), ``"auto"`` (restore the crops where the
            degradation detectors find weather; clean faces pass untouched) or a named
            method of :data:`facescope.restoration.auto.METHODS`. Needs ``sface``/``arcface``.
    """
    _check_model(model, allow_fusion=False)
    rgb = load_image(image)
    if faces is None:
        rgb, faces = find_faces_restoring(rgb, restore, assume_aligned=assume_aligned)
    return embed_faces(rgb, faces, model, restore=restore)


def verify(
    a: FaceInput,
    b: FaceInput,
    *,
    model: str = "sface",
    fmr: float = DEFAULT_FMR,
    thresholds: str | None = None,
    assume_aligned: bool | None = None,
    restore: str = "none",
) -> VerifyResult:
    """Decide whether two photos (or faces) show the same person.

    Each side is an image or precomputed :class:`Embeddings` (its first row).
    Every face of an image is compared with every face of the other side, and
    the best-scoring pair decides; the result names that pair's boxes. One pair
    is judged at the threshold at false-match rate `fmr` (default 1e-3),
    interpolated in log10(FMR) between calibrated points. With several pairs,
    the chance that *some* stranger pair passes grows with their number, so the
    threshold is the one whose per-comparison FMR ``1 - (1 - fmr) ** (1 / pairs)``
    keeps the whole decision at `fmr` (the rule the gallery uses for a gallery
    of that size). ``result.decision_rule`` states the rule applied
    (:func:`facescope.match.thresholds.verification_rule`; docs/thresholds.md).
    `restore` restores both photos' faces before embedding (as in :func:`embed`).

    Raises:
        NoFaceError: an image has no detectable face.
        CalibrationError: `fmr` is outside the calibrated range.
    """
    _check_model(model, allow_fusion=True)
    calibration = load_calibration(thresholds)
    verification_rule(calibration, model, fmr)  # refuse an uncalibrated FMR before inference
    needed = _models_for(model, calibration)
    left, boxes_a = _side(a, needed, "first image", assume_aligned, restore)
    right, boxes_b = _side(b, needed, "second image", assume_aligned, restore)
    return verify_faces(
        left, right, model=model, fmr=fmr, calibration=calibration, boxes=(boxes_a, boxes_b)
    )


def verify_faces(
    a: Mapping[str, Embeddings],
    b: Mapping[str, Embeddings],
    *,
    model: str = "sface",
    fmr: float = DEFAULT_FMR,
    calibration: Calibration | None = None,
    boxes: tuple[npt.NDArray[np.float32] | None, npt.NDArray[np.float32] | None] = (None, None),
) -> VerifyResult:
    """:func:`verify` for faces already embedded: every row of `a` against every row of `b`.

    `a` and `b` map each model the decision needs (both models for fusion) to
    the embeddings of one side's faces, row by row; `boxes` are those faces'
    boxes, reported for the best pair.
    """
    _check_model(model, allow_fusion=True)
    calibration = calibration or load_calibration()
    needed = _models_for(model, calibration)
    a = _embedding_rows(a, needed, "first side")
    b = _embedding_rows(b, needed, "second side")
    count_a, count_b = len(a[needed[0]]), len(b[needed[0]])
    if count_a == 0 or count_b == 0:
        raise NoFaceError("no face to compare")
    per_model = {m: a[m].vectors @ b[m].vectors.T for m in needed}
    if model == FUSION:
        flat = calibration.fuse({m: scores.reshape(-1) for m, scores in per_model.items()})
        scores = np.asarray(flat, np.float64).reshape(count_a, count_b)
    else:
        scores = np.asarray(per_model[model], np.float64)
    row, col = np.unravel_index(int(np.argmax(scores)), scores.shape)
    score = float(scores[row, col])
    pairs = count_a * count_b
    rule = verification_rule(calibration, model, fmr, pairs)
    threshold = rule.threshold
    box_a, box_b = (
        None if found is None else as_box(found[index])
        for found, index in zip(boxes, (row, col), strict=True)
    )
    return VerifyResult(
        score >= threshold,
        score,
        threshold,
        model,
        fmr,
        box_a,
        box_b,
        count_a,
        count_b,
        pairs,
        decision_rule=rule,
    )


def identify(
    image: ImageInput,
    known: Mapping[str, KnownFaces],
    *,
    model: str = "sface",
    top_k: int = 5,
    fpir: float = DEFAULT_FPIR,
    thresholds: str | None = None,
    fmr: float | None = None,
    restore: str = "none",
) -> list[Identification]:
    """Say who each face in `image` is, among `known` people (open set).

    The decision is the gallery's 1:N rule: with N known people, the best
    candidate is accepted when it reaches the threshold at per-comparison FMR
    ``1 - (1 - fpir) ** (1 / N)``, so a stranger is taken for someone in about
    `fpir` of searches (:func:`facescope.match.thresholds.identification_rule`;
    each result's ``decision_rule`` states it).

    Args:
        image: the probe photo; every face in it is identified.
        known: identity -> that person's photos (largest face of each) or Embeddings.
        model: ``"sface"``, ``"dlib"`` or ``"fusion"``.
        top_k: candidates to return per face.
        fpir: false-positive identification rate to hold (default 1%).
        thresholds: thresholds file (default: the bundled calibration).
        fmr: deprecated: a per-comparison FMR. Given, it keeps the old fixed
            threshold at that FMR, stated as the equivalent FPIR
            ``1 - (1 - fmr) ** N``; use `fpir`.
        restore: restore the probe's faces (and the known people's photos) before
            embedding, as in :func:`embed`.

    Returns:
        One Identification per face, in the order of :func:`detect` (left to
        right); `identity` is None when no known person scores above the
        threshold. ``detect(image).with_identifications(found)`` puts the
        decisions on the :class:`Faces`.
    """
    _check_model(model, allow_fusion=True)
    if not known:
        raise ValueError("identify needs at least one known identity")
    calibration = load_calibration(thresholds)
    if fmr is not None:
        warnings.warn(
            "identify(fmr=) is deprecated: 1:N decisions hold an FPIR that depends on the "
            "number of known people; use fpir= (docs/thresholds.md)",
            DeprecationWarning,
            stacklevel=2,
        )
        verification_rule(calibration, model, fmr)  # the FMR must be calibrated
        fpir = 1.0 - (1.0 - fmr) ** len(known)
    rule = identification_rule(calibration, model, len(known), fpir)
    needed = _models_for(model, calibration)
    gallery_names: list[str] = []
    gallery: dict[str, list[npt.NDArray[np.float32]]] = {m: [] for m in needed}
    for name, samples in known.items():
        templates = _gallery_templates(name, samples, needed, restore)
        for m in needed:
            gallery[m].append(templates[m].vectors)
        gallery_names.extend([name] * len(templates[needed[0]]))
    rgb, faces = find_faces_restoring(load_image(image), restore)
    if len(faces) == 0:
        return []
    probe = {m: embed_faces(rgb, faces, m, restore=restore).vectors for m in needed}
    per_model = {m: probe[m] @ np.concatenate(gallery[m]).T for m in needed}
    scores = calibration.fuse(per_model) if model == FUSION else per_model[model]
    return [
        identification(
            faces.boxes[i],
            best_per_subject(gallery_names, scores[i], top_k),
            rule.threshold,
            model,
            rule=rule,
        )
        for i in range(len(faces))
    ]


def enroll(
    known: Mapping[str, Sequence[ImageInput]],
    *,
    model: str = "sface",
    thresholds: str | None = None,
) -> dict[str, dict[str, Embeddings]]:
    """Embed known people's photos once, for repeated :func:`identify` calls.

    Returns identity -> model -> Embeddings (one row per photo; its largest face).

    Raises:
        NoFaceError: a photo has no detectable face (named in the message).
    """
    _check_model(model, allow_fusion=True)
    needed = _models_for(model, load_calibration(thresholds))
    enrolled: dict[str, dict[str, Embeddings]] = {}
    for name, photos in known.items():
        enrolled[name] = _gallery_templates(name, photos, needed)
    return enrolled


def _check_model(model: str, *, allow_fusion: bool) -> None:
    allowed = (*_ALL_RECOGNIZERS, FUSION) if allow_fusion else _ALL_RECOGNIZERS
    if model not in allowed:
        raise ValueError(f"unknown model {model!r}; choose one of: {', '.join(allowed)}")


def _models_for(model: str, calibration: Calibration) -> list[str]:
    if model == FUSION:
        return list(calibration.for_model(FUSION).weights)
    return [model]


def _side(
    source: FaceInput,
    models: list[str],
    label: str,
    assume_aligned: bool | None,
    restore: str = "none",
) -> tuple[dict[str, Embeddings], npt.NDArray[np.float32] | None]:
    """One side of a comparison: embeddings of every face per model, and their boxes.

    Precomputed embeddings give their first row and no box.
    """
    if isinstance(source, Embeddings):
        source = {source.model: source}
    if isinstance(source, Mapping):  # checked by verify_faces
        return {m: Embeddings(e.vectors[:1], e.norms[:1], m) for m, e in source.items()}, None
    rgb = load_image(source)
    rgb, faces = find_faces_restoring(rgb, restore, assume_aligned=assume_aligned)
    if len(faces) == 0:
        name = os.fspath(source) if isinstance(source, str | os.PathLike) else label
        raise NoFaceError(f"{name}: no face found")
    return {m: embed_faces(rgb, faces, m, restore=restore) for m in models}, faces.boxes


def _embedding_rows(
    source: Embeddings | Mapping[str, Embeddings], models: list[str], label: str
) -> dict[str, Embeddings]:
    """Precomputed embeddings per model, checked (every row)."""
    if isinstance(source, Embeddings):
        source = {source.model: source}
    missing = [m for m in models if m not in source]
    if missing:
        raise InvalidEmbeddingError(
            f"{label}: needs embeddings from {', '.join(models)}, "
            f"got {', '.join(sorted(source)) or 'none'}"
        )
    return {
        m: Embeddings(_checked(source[m].vectors, label, embedding_dim(m)), source[m].norms, m)
        for m in models
    }


def _largest_face(
    image: ImageInput, models: list[str], label: str, restore: str = "none"
) -> dict[str, Embeddings]:
    """Embeddings of the largest face of an enrolment photo (a known person's)."""
    rgb, faces = find_faces_restoring(load_image(image), restore)
    face = largest(faces)
    if len(face) == 0:
        name = os.fspath(image) if isinstance(image, str | os.PathLike) else label
        raise NoFaceError(f"{name}: no face found")
    return {m: embed_faces(rgb, face, m, restore=restore) for m in models}


def _gallery_templates(
    name: str, samples: KnownFaces, models: list[str], restore: str = "none"
) -> dict[str, Embeddings]:
    if isinstance(samples, Embeddings | Mapping):
        return _embedding_rows(samples, models, f"embeddings of {name!r}")
    rows: dict[str, list[Embeddings]] = {m: [] for m in models}
    for index, sample in enumerate(samples):
        label = f"photo {index} of {name!r}"
        for m, found in _largest_face(sample, models, label, restore).items():
            rows[m].append(found)
    if not rows[models[0]]:
        raise ValueError(f"known identity {name!r} has no photos")
    return {
        m: Embeddings(
            np.concatenate([e.vectors[:1] for e in parts]),
            np.concatenate([e.norms[:1] for e in parts]),
            m,
        )
        for m, parts in rows.items()
    }


def _checked(
    vectors: npt.NDArray[np.float32], label: str, dim: int = 128
) -> npt.NDArray[np.float32]:
    array = np.asarray(vectors)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] != dim:
        raise InvalidEmbeddingError(f"{label}: expected (n, {dim}) embeddings, got {array.shape}")
    if not np.isfinite(array).all():
        raise InvalidEmbeddingError(f"{label}: embedding contains NaN or infinite values")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if (norms < 1e-6).any():
        raise InvalidEmbeddingError(f"{label}: embedding has zero norm")
    return np.asarray(array / norms, dtype=np.float32)


def calibrate(
    root: str | os.PathLike[str],
    *,
    fmr_targets: Sequence[float] = DEFAULT_FMR_TARGETS,
    models: Sequence[str] = ("sface", "dlib"),
    assume_aligned: bool | None = None,
    progress: Progress | None = None,
) -> CalibrationRun:
    """Compute thresholds for each model (and their fusion) from a folder of labelled photos.

    ``root/<identity>/*.jpg``: every image contributes its largest face; images
    with no face are reported in `failures` (failure to enrol) and left out of
    the pairs. See :func:`facescope.match.calibrate.calibrate_scores`.
    """
    data = folder_per_identity(root)
    paths: Iterable[Path] = progress(data.paths) if progress else data.paths
    batch = embed_largest_faces(paths, models, assume_aligned=assume_aligned)
    identities = [i for i, ok in zip(data.identities, batch.found, strict=True) if ok]
    failures = {str(data.paths[i]): reason for i, reason in batch.errors.items()}
    n_identities = len(set(identities))
    source = f"{Path(root).name} ({len(identities)} images, {n_identities} identities)"
    try:
        calibration = calibrate_scores(
            {model: batch.embeddings[model].vectors for model in models},
            identities,
            fmr_targets=fmr_targets,
            source=source,
            script=f"facescope calibrate {root} " + " ".join(f"--fmr {t:g}" for t in fmr_targets),
        )
    except CalibrationError:
        raise CalibrationError(
            f"{root}: need 2+ identities and at least one with 2+ usable images "
            f"({len(failures)} images had no usable face)"
        ) from None
    return CalibrationRun(calibration, len(data.paths), n_identities, failures)
