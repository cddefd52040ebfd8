"""The recognition pipeline: image -> faces -> aligned crops -> embeddings.

Every public verb in :mod:`facescope.api` is a thin wrapper over these steps,
and batch users (calibration, benchmarks, evaluation) call
:func:`embed_largest_faces` to embed many images with batched inference.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facescope.align.template import ARCFACE_TEMPLATE_112, CROP_SIZE, warp_faces, warp_to_template
from facescope.detect.faces import DetectOptions, detect_faces
from facescope.embed.recognizers import OPT_IN_RECOGNIZER_NAMES, embedding_dim, get_recognizer
from facescope.errors import InvalidImageError, WeatherError
from facescope.io.image import ImageInput, load_image
from facescope.restoration.auto import Restored, check_method, restore_each, restore_image
from facescope.types import Embeddings, Faces

#: Sizes (height, width) of common pre-aligned crop formats and the template
#: offset for each: ArcFace 112x112 and the older 112x96 (x shifted by 8 px).
ALIGNED_CROP_OFFSETS: dict[tuple[int, int], float] = {(112, 112): 0.0, (112, 96): -8.0}


def is_aligned_crop(rgb: npt.NDArray[np.uint8]) -> bool:
    """Whether an image has the exact size of a standard pre-aligned face crop."""
    return (rgb.shape[0], rgb.shape[1]) in ALIGNED_CROP_OFFSETS


def aligned_faces(rgb: npt.NDArray[np.uint8]) -> Faces:
    """One face covering the whole image, with the ArcFace template as landmarks.

    Crops of another size are taken as ArcFace-aligned and scaled to 112x112.
    """
    height, width = rgb.shape[:2]
    offset = ALIGNED_CROP_OFFSETS.get((height, width))
    if offset is None:
        landmarks = ARCFACE_TEMPLATE_112 * np.array([width / CROP_SIZE, height / CROP_SIZE])
    else:
        landmarks = ARCFACE_TEMPLATE_112 + np.array([offset, 0.0])
    box = np.array([[0.0, 0.0, width, height]], np.float32)
    return Faces(box, np.ones(1, np.float32), landmarks[None].astype(np.float32), aligned=True)


def find_faces(
    rgb: npt.NDArray[np.uint8],
    *,
    min_size: float | None = None,
    max_faces: int | None = None,
    assume_aligned: bool | None = None,
    options: DetectOptions | None = None,
) -> Faces:
    """Detect faces, or take the image as an aligned crop.

    `assume_aligned`: True takes the whole image as one aligned face; False
    always detects; None (auto) takes standard crop sizes (112x112, 112x96) as
    aligned and detects in everything else.
    """
    if assume_aligned is None:
        assume_aligned = is_aligned_crop(rgb)
    if assume_aligned:
        return aligned_faces(rgb)
    return detect_faces(rgb, min_size=min_size, max_faces=max_faces, options=options)


def embed_faces(
    rgb: npt.NDArray[np.uint8], faces: Faces, model: str, *, restore: str = "none"
) -> Embeddings:
    """Embed the given faces of one image with one recogniser.

    `restore` (:data:`facescope.restoration.auto.METHODS`): ``"none"`` embeds the faces as
    they are; ``"auto"`` or a named method restores each aligned crop between the warp
    and the recogniser (``auto`` only where the degradation detectors find weather).
    Restoration works on the ArcFace-112 crop, so it needs ``sface`` or ``arcface``. With
    ``sface`` and ``auto``, faces carrying the weather kinds of
    :data:`facescope.restoration.auto.ADAPTED_FOR` are embedded by the weather-adapted
    SFace (:mod:`facescope.embed.sface_weather`) when it can run.
    """
    recognizer = get_recognizer(model)
    if check_method(restore) == "none":
        raw = recognizer.features(rgb, faces.landmarks5)
        return normalise(raw, model)
    if model not in _CROP_MODELS:
        raise WeatherError(
            f"restore={restore!r} restores the aligned 112x112 crop, which {model!r} does not "
            "read; use model 'sface' or 'arcface', or restore='none'"
        )
    crops = aligned_crops(rgb, faces)
    return embed_restored(restore_each(crops, restore, adapted=adapted_ok(model)), model)


def adapted_ok(model: str) -> bool:
    """Whether `model`'s faces can go to the weather-adapted SFace here (sface, torch, weights)."""
    if model != "sface":
        return False
    from facescope.embed.sface_weather import adapted_available

    return adapted_available()


def embed_restored(done: Sequence[Restored], model: str = "sface") -> Embeddings:
    """Embed restored aligned crops: by `model`, and where ``adapted`` is set by SFace and
    the weather-adapted SFace blended by how far they disagree
    (:func:`facescope.embed.sface_weather.blend_with_sface`; the two share SFace's feature
    space and thresholds)."""
    if not done:
        return embed_aligned_crops(np.zeros((0, CROP_SIZE, CROP_SIZE, 3), np.uint8), model)
    images = np.ascontiguousarray(np.stack([d.image for d in done]))
    network = np.array([d.adapted for d in done])
    if network.any() and model != "sface":
        raise WeatherError(f"the weather-adapted network is SFace's; {model!r} cannot use it")
    recognizer = get_recognizer(model)
    raw = recognizer.features_from_crops(images).astype(np.float32)  # type: ignore[attr-defined]
    if network.any():
        from facescope.embed.sface_weather import (
            adapted_features,
            blend_with_sface,
            fuse_with_view,
        )

        adapted = adapted_features(images[network])
        mixed, _ = blend_with_sface(raw[network], adapted)
        raw[network] = mixed * np.linalg.norm(adapted, axis=1, keepdims=True)
        viewed = {i: d.view for i, d in enumerate(done) if d.adapted and d.view is not None}
        if viewed:  # a second, restored view: SFace's features of it averaged in
            rows = list(viewed)
            views = np.ascontiguousarray(np.stack(list(viewed.values())))
            seen = recognizer.features_from_crops(views).astype(np.float32)  # type: ignore[attr-defined]
            weight = np.array([done[i].view_weight for i in rows])
            raw[rows] = fuse_with_view(raw[rows], seen, weight)
    return normalise(raw, model)


def embed_aligned_crops(crops: npt.NDArray[np.uint8], model: str = "sface") -> Embeddings:
    """Embed (n, 112, 112, 3) RGB crops already on the ArcFace template (sface, arcface)."""
    if model not in _CROP_MODELS:
        raise ValueError(f"{model!r} does not read aligned 112x112 crops; use sface or arcface")
    recognizer = get_recognizer(model)
    raw = recognizer.features_from_crops(np.ascontiguousarray(crops))  # type: ignore[attr-defined]
    return normalise(raw, model)


def aligned_crops(rgb: npt.NDArray[np.uint8], faces: Faces) -> npt.NDArray[np.uint8]:
    """(n, 112, 112, 3) ArcFace crops of `faces` (an aligned 112 crop is used as it is)."""
    if len(faces) == 1 and faces.aligned and rgb.shape[:2] == (CROP_SIZE, CROP_SIZE):
        return rgb[None]
    return warp_faces(rgb, faces.landmarks5)


def find_faces_restoring(
    rgb: npt.NDArray[np.uint8],
    restore: str,
    *,
    assume_aligned: bool | None = None,
    options: DetectOptions | None = None,
) -> tuple[npt.NDArray[np.uint8], Faces]:
    """(image, faces): with `restore` other than "none", an image where no face is found
    is restored whole and searched again (heavy haze or blur can hide a face from the
    detector); the image returned is the one the faces were found in."""
    faces = find_faces(rgb, assume_aligned=assume_aligned, options=options)
    if len(faces) or check_method(restore) == "none":
        return rgb, faces
    restored = restore_image(rgb, restore, whole=True)  # no face: judge the whole image
    if not restored.applied:
        return rgb, faces
    image = np.ascontiguousarray(restored.image)
    return image, find_faces(image, assume_aligned=assume_aligned, options=options)


def normalise(raw: npt.NDArray[np.float32], model: str) -> Embeddings:
    """L2-normalise raw features of `model` (its own length: 128, or 512 for arcface)."""
    raw = np.asarray(raw, dtype=np.float32).reshape(-1, embedding_dim(model))
    norms = np.linalg.norm(raw, axis=1).astype(np.float32)
    vectors = raw / np.maximum(norms, 1e-12)[:, None]
    return Embeddings(vectors.astype(np.float32), norms, model)


def largest(faces: Faces) -> Faces:
    """The single largest face (the subject of a portrait)."""
    return faces[int(np.argmax(faces.areas))] if len(faces) else faces


@dataclass(frozen=True)
class BatchEmbeddings:
    """Embeddings of the largest face of each of many images.

    Attributes:
        embeddings: per model, vectors for the images where a face was found,
            in input order.
        found: (n_images,) bool; False marks a failure to acquire (no face) or
            an unreadable image. These are counted, never silently dropped.
        errors: per failed image index, the reason.
    """

    embeddings: dict[str, Embeddings]
    found: npt.NDArray[np.bool_]
    errors: dict[int, str]


def embed_largest_faces(
    images: Iterable[ImageInput],
    models: Sequence[str] = ("sface",),
    *,
    assume_aligned: bool | None = None,
    batch_size: int = 64,
) -> BatchEmbeddings:
    """Embed the largest face of each image, batching the crop models across images.

    SFace and ArcFace share the ArcFace-112 crop, so one crop per face feeds both, in
    batches; dlib aligns its own chips face by face.
    """
    found: list[bool] = []
    errors: dict[int, str] = {}
    raw: dict[str, list[npt.NDArray[np.float32]]] = {m: [] for m in models}
    pending: list[npt.NDArray[np.uint8]] = []
    batched = [m for m in models if m in _CROP_MODELS]
    for model in models:
        embedding_dim(model)  # an unknown name fails before any work
        if model in OPT_IN_RECOGNIZER_NAMES:
            get_recognizer(model)  # so does an opt-in model without its licence consent

    def flush() -> None:
        if pending:
            crops = np.stack(pending)
            for model in batched:
                recognizer = get_recognizer(model)
                raw[model].append(recognizer.features_from_crops(crops))  # type: ignore[attr-defined]
        pending.clear()

    for index, source in enumerate(images):
        try:
            rgb = load_image(source)
        except InvalidImageError as exc:
            found.append(False)
            errors[index] = str(exc)
            continue
        face = largest(find_faces(rgb, assume_aligned=assume_aligned))
        if len(face) == 0:
            found.append(False)
            errors[index] = "no face found"
            continue
        found.append(True)
        if batched:
            pending.append(_sface_crop(rgb, face))
        for model in models:
            if model not in _CROP_MODELS:
                raw[model].append(get_recognizer(model).features(rgb, face.landmarks5))
        if len(pending) >= batch_size:
            flush()
    flush()
    embeddings = {
        model: normalise(
            np.concatenate(parts) if parts else np.zeros((0, embedding_dim(model)), np.float32),
            model,
        )
        for model, parts in raw.items()
    }
    return BatchEmbeddings(embeddings, np.asarray(found, dtype=bool), errors)


#: Recognisers that take the ArcFace-112 crop (``features_from_crops``), batched above.
_CROP_MODELS = frozenset({"sface", "arcface"})


def _sface_crop(rgb: npt.NDArray[np.uint8], face: Faces) -> npt.NDArray[np.uint8]:
    if face.aligned and rgb.shape[:2] == (CROP_SIZE, CROP_SIZE):
        return rgb
    return warp_to_template(rgb, face.landmarks5[0])
