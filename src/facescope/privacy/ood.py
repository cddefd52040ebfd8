"""Is this embedding of a face? Out-of-domain detection from the embedding alone.

A template store, an import file or an inversion audit may be handed vectors
that were never made from a face (a blank frame, a texture, a photo of a
coffee cup). Three signals tell them apart, each a *component* (higher = more
face-like):

* ``"norm"``: the log of the raw feature norm before L2 normalisation (only
  when it is known: facescope keeps it with every template). SFace's raw norm
  is much larger for real faces than for non-faces; dlib's carries less signal.
* ``"linear"``: a logistic regression on the unit embedding, face vs non-face
  (the strongest signal when only a normalised embedding is known).
* ``"mahalanobis"``: minus the Mahalanobis distance of the unit embedding to the
  fit faces' distribution (mean and Ledoit-Wolf shrinkage precision).
* ``"inversion"``: how well the bundled DCGAN face prior reproduces the
  embedding (:func:`facescope.privacy.invert.reproduction_score`, pool only,
  no search); needs the optional ``torch`` extra.

Measured (``benchmarks/bench_ood.py``), the density and inversion components do
not generalise from the fit faces to real photos: real faces sit *farther*
from the fit distribution than many non-faces (worse than chance), because the fit
faces are small and blurry (64 px generated, 25 px lfw). A discriminative
direction does generalise, so ``"auto"`` is ``"linear+norm"`` when the raw norm
is given and ``"linear"`` otherwise. ``"fusion"`` is a logistic regression over
every available component; any ``"+"``-joined set of components (e.g.
``"linear+norm"``) names the fusion of exactly those.

Everything is fitted on data that facescope can ship or generate: faces are
DCGAN prior samples and the ``skimage.data.lfw_subset`` faces (upscaled, and
mirrored); non-faces are the first half of the ``lfw_subset`` non-faces and
synthetic textures (noise, gradients, checkerboards, stripes, blank frames).
No real photo of ``../shared/testdata`` is used to fit, so they are an honest
test set. Next to this module, ``ood_<model>.npz`` holds the fit faces'
distribution (mean, precision) and ``ood_<model>.json`` the linear head and the
fusions (``facescope-head/1`` documents) with every method's default threshold
(``facescope-thresholds/2``): its 95% true-accept point on the fit faces
(cross-validated scores for the linear component). Both are reproduced by
``scripts/fit_ood.py``.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facescope.errors import InvalidEmbeddingError, ModelFileError, ModelNotAvailableError
from facescope.heads import (
    HEAD_FORMAT,
    HeadError,
    LogisticHead,
    ThresholdPoint,
    Thresholds,
    ThresholdsError,
)

FloatArray = npt.NDArray[np.float32]
UInt8Array = npt.NDArray[np.uint8]

MODELS = ("sface", "dlib")
COMPONENTS = ("linear", "mahalanobis", "norm", "inversion")
METHODS = ("auto", "fusion", *COMPONENTS)
#: Embedding size of both bundled recognisers.
DIM = 128
#: Input size of each model's non-aligned images (SFace crop, dlib chip).
INPUT_SIZE = {"sface": 112, "dlib": 150}
#: True-accept rate on the fit faces at which default thresholds are set.
TARGET_TAR = 0.95
HERE = Path(__file__).resolve().parent


#: The format of ``ood_<model>.json``.
HEADS_FORMAT = "facescope-ood/2"
#: Class names of the face/non-face heads (the score is the logit of "face").
CLASSES = ("nonface", "face")
#: What the thresholds apply to.
SCORE = "face-likeness of an embedding: the method's component, or its fusion's logit"


def stats_path(model: str) -> Path:
    """Where the fitted face distribution of `model` is kept (``.npz``)."""
    return HERE / f"ood_{model}.npz"


def heads_path(model: str) -> Path:
    """Where the fitted heads and thresholds of `model` are kept (``.json``)."""
    return HERE / f"ood_{model}.json"


def embedding_features(dim: int = DIM) -> list[str]:
    """Feature names of the linear head: the unit embedding's dimensions."""
    return [f"e{i}" for i in range(dim)]


@dataclass(frozen=True)
class FaceEmbeddingCheck:
    """The verdict on one embedding.

    Attributes:
        score: the method's score (higher = more face-like).
        is_face: ``score >= threshold``.
        method: the method used (``"auto"`` resolved to its components).
        threshold: the decision threshold (the default: 95% TAR on the fit faces).
        components: each component's value (higher = more face-like).
    """

    score: float
    is_face: bool
    method: str
    threshold: float
    components: dict[str, float] = field(default_factory=dict)


#: Hyper-parameters of the linear head (scikit-learn C = 0.1, on raw unit embeddings).
LINEAR_PARAMS: dict[str, Any] = {
    "l2": 10.0,
    "standardize": False,
    "solver": "lbfgs",
    "max_iter": 5000,
}
#: Hyper-parameters of every fusion head (scikit-learn C = 1, standardised components).
FUSION_PARAMS: dict[str, Any] = {"l2": 1.0, "solver": "lbfgs", "max_iter": 1000}


@dataclass(frozen=True)
class OODStats:
    """One model's fitted detector (``ood_<model>.npz`` and ``ood_<model>.json``).

    Attributes:
        mean, precision: the fit faces' unit-embedding distribution.
        linear: the face/non-face head on unit embeddings (its logit is the component).
        norm_sign: +1 when faces have the larger raw norm.
        pool_size: prior samples of the inversion component the thresholds hold for.
        thresholds: each method's default threshold (``"linear+norm"`` -> value).
        tar_thresholds: the same as stored: :class:`~facescope.heads.Thresholds` by method.
        fusions: per fused component set, the head over the components.
    """

    model: str
    mean: npt.NDArray[np.float64]
    precision: npt.NDArray[np.float64]
    linear: LogisticHead
    norm_sign: float
    pool_size: int
    tar_thresholds: Thresholds
    fusions: dict[str, LogisticHead]

    @property
    def thresholds(self) -> dict[str, float]:
        """Each method's default threshold (95% TAR on the fit faces)."""
        return {p.where["method"]: p.threshold for p in self.tar_thresholds.points}

    @classmethod
    def load(cls, model: str, path: Path | None = None) -> OODStats:
        """Read `model`'s files (`path`: the ``.npz``; the ``.json`` sits beside it)."""
        source = path if path is not None else stats_path(model)
        try:
            with np.load(source) as stored:
                items = {key: stored[key] for key in stored.files}
        except OSError as exc:
            raise ModelNotAvailableError(
                f"{source}: the out-of-domain statistics of {model!r} are missing; "
                "recreate them with: python scripts/fit_ood.py"
            ) from exc
        heads: Any
        if "linear:coef" in items:  # written before the shared head format: convert on read
            heads = _legacy_heads(items)
        else:
            document = Path(source).with_suffix(".json")
            try:
                heads = json.loads(document.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ModelNotAvailableError(
                    f"{document}: the out-of-domain heads of {model!r} are missing or "
                    f"unreadable ({exc}); recreate them with: python scripts/fit_ood.py"
                ) from exc
        try:
            if not isinstance(heads, dict) or heads.get("format") != HEADS_FORMAT:
                found = heads.get("format") if isinstance(heads, dict) else type(heads).__name__
                raise HeadError(f"not a {HEADS_FORMAT} document ({found!r})")
            linear = LogisticHead.from_json(heads["linear"], f"{source}, linear head")
            fusions = {
                name: LogisticHead.from_json(head, f"{source}, fusion {name}")
                for name, head in heads["fusions"].items()
            }
            thresholds = Thresholds.from_json(heads["thresholds"], f"{source}, thresholds")
        except (KeyError, HeadError, ThresholdsError) as exc:
            raise ModelFileError(f"{source}: unusable out-of-domain detector ({exc})") from exc
        return cls(
            model,
            items["mean"].astype(np.float64),
            items["precision"].astype(np.float64),
            linear,
            float(items["norm_sign"]),
            int(items["pool_size"]),
            thresholds,
            fusions,
        )


def heads_document(
    linear: LogisticHead,
    fusions: dict[str, LogisticHead],
    thresholds: Thresholds,
    provenance: dict[str, object] | None = None,
) -> dict[str, Any]:
    """The ``ood_<model>.json`` document."""
    return {
        "format": HEADS_FORMAT,
        "linear": linear.to_json(),
        "fusions": {name: head.to_json() for name, head in fusions.items()},
        "thresholds": thresholds.to_json(),
        "provenance": provenance or {},
    }


def tar_thresholds(
    values: dict[str, float], provenance: dict[str, object] | None = None
) -> Thresholds:
    """Each method's threshold at TAR :data:`TARGET_TAR` as :class:`~facescope.heads.Thresholds`."""
    points = [ThresholdPoint(float(t), TARGET_TAR, {"method": m}) for m, t in values.items()]
    return Thresholds(SCORE, "tar", points, by=["method"], provenance=provenance)


def _legacy_heads(items: dict[str, npt.NDArray[Any]]) -> dict[str, Any]:
    """The heads and thresholds of a first-layout ``ood_<model>.npz`` as the JSON document."""
    linear = _legacy_head(
        np.zeros(DIM), np.ones(DIM), items["linear:coef"], items["linear:intercept"],
        embedding_features(), LINEAR_PARAMS,
    )  # fmt: skip
    fusions = {}
    for key in items:
        if key.startswith("fusion:") and key.endswith(":coef"):
            name = key.split(":")[1]
            fusions[name] = _legacy_head(
                items[f"fusion:{name}:loc"], items[f"fusion:{name}:scale"], items[key],
                items[f"fusion:{name}:intercept"], name.split("+"), FUSION_PARAMS,
            )  # fmt: skip
    values = {
        key.removeprefix("threshold:"): float(value)
        for key, value in items.items()
        if key.startswith("threshold:")
    }
    return heads_document(linear, fusions, tar_thresholds(values))


def _legacy_head(
    mean: npt.ArrayLike,
    scale: npt.ArrayLike,
    coef: npt.ArrayLike,
    intercept: npt.ArrayLike,
    features: list[str],
    params: dict[str, object],
) -> LogisticHead:
    document = {
        "format": HEAD_FORMAT,
        "classes": list(CLASSES),
        "features": features,
        "mean": np.asarray(mean, np.float64).tolist(),
        "scale": np.asarray(scale, np.float64).tolist(),
        "coef": [np.asarray(coef, np.float64).reshape(-1).tolist()],
        "intercept": [float(np.asarray(intercept, np.float64))],
        "params": params,
    }
    return LogisticHead.from_json(document, "ood legacy head")


_stats: dict[str, OODStats] = {}
_stats_lock = threading.Lock()


def load_stats(model: str) -> OODStats:
    """The bundled statistics of `model` (cached in process)."""
    _check_model(model)
    with _stats_lock:
        if model not in _stats:
            _stats[model] = OODStats.load(model)
        return _stats[model]


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of: {', '.join(MODELS)}")


def torch_available() -> bool:
    """Whether the inversion component can run (the face prior needs torch)."""
    return importlib.util.find_spec("torch") is not None


def canonical(components: Sequence[str]) -> str:
    """The canonical name of a set of components ("mahalanobis+norm")."""
    return "+".join(c for c in COMPONENTS if c in set(components))


def resolve_method(method: str, *, has_norm: bool) -> tuple[str, ...]:
    """The components a method uses, or ValueError naming the choices."""
    if method == "auto":
        return ("linear", "norm") if has_norm else ("linear",)
    if method == "fusion":
        return tuple(
            c
            for c in COMPONENTS
            if (c != "norm" or has_norm) and (c != "inversion" or torch_available())
        )
    parts = method.split("+")
    if not parts or any(p not in COMPONENTS for p in parts) or len(set(parts)) != len(parts):
        raise ValueError(
            f"unknown method {method!r}; choose one of: {', '.join(METHODS)}, "
            "or components joined by '+' (e.g. 'mahalanobis+norm')"
        )
    if "norm" in parts and not has_norm:
        raise ValueError(f"method {method!r} needs the raw norm (raw_norm=/raw_norms=)")
    return tuple(c for c in COMPONENTS if c in parts)


def _unit(vectors: npt.ArrayLike) -> FloatArray:
    from facescope.privacy.targets import checked_embeddings

    return checked_embeddings(vectors, dim=DIM)


def _norms(raw_norms: npt.ArrayLike, n: int) -> npt.NDArray[np.float64]:
    try:
        values = np.asarray(raw_norms, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InvalidEmbeddingError(f"raw norms are not numeric ({exc})") from exc
    if len(values) != n:
        raise InvalidEmbeddingError(f"{len(values)} raw norms given for {n} embeddings")
    if not np.isfinite(values).all() or (values <= 0).any():
        raise InvalidEmbeddingError("raw norms must be finite and positive")
    return values


def component_scores(
    vectors: npt.ArrayLike,
    model: str = "sface",
    components: Sequence[str] = ("linear",),
    *,
    raw_norms: npt.ArrayLike | None = None,
    pool_size: int | None = None,
) -> dict[str, npt.NDArray[np.float64]]:
    """Each requested component's value per embedding (higher = more face-like)."""
    _check_model(model)
    unit = _unit(vectors)
    stats = load_stats(model)
    out: dict[str, npt.NDArray[np.float64]] = {}
    for name in components:
        if name == "linear":
            out[name] = stats.linear.decision_function(unit.astype(np.float64))
        elif name == "mahalanobis":
            centred = unit.astype(np.float64) - stats.mean
            squared = np.einsum("nd,de,ne->n", centred, stats.precision, centred)
            out[name] = -np.sqrt(np.maximum(squared, 0.0))
        elif name == "norm":
            if raw_norms is None:
                raise ValueError("the norm component needs the raw norms")
            out[name] = stats.norm_sign * np.log(_norms(raw_norms, len(unit)))
        elif name == "inversion":
            if not torch_available():
                raise ModelNotAvailableError(
                    "the inversion component needs PyTorch (pip install 'facescope[torch]'); "
                    "use method='linear' or 'norm' without it"
                )
            from facescope.privacy.invert import reproduction_score

            size = pool_size if pool_size is not None else stats.pool_size
            out[name] = reproduction_score(unit, model, 0, pool_size=size).astype(np.float64)
        else:
            raise ValueError(f"unknown component {name!r}; choose one of: {', '.join(COMPONENTS)}")
    return out


def _combine(stats: OODStats, key: str, values: dict[str, npt.NDArray[np.float64]]) -> FloatArray:
    parts = key.split("+")
    if len(parts) == 1:
        return values[key].astype(np.float32)
    fusion = stats.fusions[key]
    stacked = np.stack([values[c] for c in fusion.feature_names_in_], axis=1)
    return fusion.decision_function(stacked).astype(np.float32)


def face_embedding_scores(
    vectors: npt.ArrayLike,
    model: str = "sface",
    *,
    raw_norms: npt.ArrayLike | None = None,
    method: str = "auto",
    pool_size: int | None = None,
) -> FloatArray:
    """Face-likeness of each of (n, 128) embeddings (higher = more face-like).

    Args:
        vectors: (n, 128) or (128,) embeddings of `model` (normalised or not).
        model: ``"sface"`` or ``"dlib"``.
        raw_norms: the raw feature norms before normalisation, when known.
        method: ``"auto"``, ``"fusion"``, ``"linear"``, ``"mahalanobis"``, ``"norm"``,
            ``"inversion"``, or components joined by ``"+"``.
        pool_size: prior samples of the inversion component (default: the
            fitted one, 2000; thresholds hold for that size only).

    Raises:
        InvalidEmbeddingError: NaN, inf, zero or wrong-size embeddings; bad norms.
        ValueError: an unknown model or method, or "norm" without raw norms.
    """
    _check_model(model)
    key = canonical(resolve_method(method, has_norm=raw_norms is not None))
    values = component_scores(
        vectors, model, key.split("+"), raw_norms=raw_norms, pool_size=pool_size
    )
    return _combine(load_stats(model), key, values)


def is_face_embedding(
    embedding: npt.ArrayLike,
    model: str = "sface",
    *,
    raw_norm: float | None = None,
    method: str = "auto",
    threshold: float | None = None,
    pool_size: int | None = None,
) -> FaceEmbeddingCheck:
    """Whether one embedding looks like it was made from a face.

    Same arguments as :func:`face_embedding_scores` for one (128,) embedding;
    `threshold` overrides the method's default (95% TAR on the fit faces).
    """
    _check_model(model)
    vector = _unit(embedding)
    if len(vector) != 1:
        raise InvalidEmbeddingError(
            f"is_face_embedding() takes one embedding, got {len(vector)}; "
            "use face_embedding_scores()"
        )
    norms = None if raw_norm is None else [raw_norm]
    key = canonical(resolve_method(method, has_norm=norms is not None))
    values = component_scores(vector, model, key.split("+"), raw_norms=norms, pool_size=pool_size)
    stats = load_stats(model)
    score = float(_combine(stats, key, values)[0])
    limit = float(threshold) if threshold is not None else stats.thresholds[key]
    return FaceEmbeddingCheck(
        score=score,
        is_face=score >= limit,
        method=key,
        threshold=limit,
        components={name: float(v[0]) for name, v in values.items()},
    )


# ---- fit and benchmark data (shippable or generated) ------------------------------


#: The method that judges imported templates: their recorded raw norm.
IMPORT_METHOD = "norm"
#: A recorded norm this close to 1 is a normalised vector's, not a raw feature norm.
_UNRECORDED_NORM = 1e-3


def import_face_check(
    model: str, vectors: npt.ArrayLike, raw_norms: npt.ArrayLike
) -> npt.NDArray[np.bool_]:
    """Per imported template, whether its recorded raw norm says it was made from a face.

    The gallery's import policy (:meth:`facescope.gallery.Gallery.import_file`
    ``face_check=``; ``facescope gallery import`` uses it unless
    ``--no-face-check``). Templates whose recorded norm is 1 (normalised vectors
    from elsewhere) carry no raw norm and are not judged; neither are templates
    of a model this check has no statistics for.
    """
    unit = np.asarray(vectors, np.float32).reshape(len(np.asarray(raw_norms).reshape(-1)), -1)
    norms = np.asarray(raw_norms, np.float64).reshape(-1)
    verdict = np.ones(len(norms), bool)
    judged = np.abs(norms - 1.0) > _UNRECORDED_NORM
    if model not in MODELS or not judged.any():
        return verdict
    scores = face_embedding_scores(
        unit[judged], model, raw_norms=np.maximum(norms[judged], 1e-12), method=IMPORT_METHOD
    )
    verdict[judged] = scores >= load_stats(model).thresholds[IMPORT_METHOD]
    return verdict


def raw_features(images: Sequence[UInt8Array] | UInt8Array, model: str) -> FloatArray:
    """Raw features of unaligned RGB (or grey) images resized to the model's input.

    SFace sees each image as a 112x112 ArcFace crop, dlib as a 150x150 chip.
    """
    _check_model(model)
    size = INPUT_SIZE[model]
    batch = np.stack([_resized(image, size) for image in images])
    from facescope.embed.recognizers import get_recognizer, sface_recognizer

    if model == "sface":
        return sface_recognizer().features_from_crops(batch)
    recognizer = get_recognizer("dlib")
    return np.asarray(recognizer.features_from_chips(list(batch)), np.float32)  # type: ignore[attr-defined]


def _resized(image: npt.ArrayLike, size: int) -> UInt8Array:
    pixels = np.asarray(image)
    if pixels.dtype != np.uint8:
        pixels = np.clip(np.asarray(pixels, np.float64) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    pixels = pixels[..., :3]
    shrink = pixels.shape[0] > size or pixels.shape[1] > size
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(pixels, (size, size), interpolation=interpolation))


def generated_face_features(n: int, model: str, seed: int) -> FloatArray:
    """Raw features of `n` DCGAN prior faces, aligned as the inversion audit aligns them."""
    _check_model(model)
    from facescope.privacy.prior import default_prior
    from facescope.privacy.targets import ModelTarget, arcface_crops

    prior = default_prior()
    faces = prior.decode(prior.sample(n, np.random.default_rng(seed)))
    if model == "sface":
        from facescope.embed.recognizers import sface_recognizer

        return sface_recognizer().features_from_crops(arcface_crops(faces, prior.landmarks5))
    return ModelTarget("dlib")._dlib_features(faces, prior.landmarks5)


TEXTURE_KINDS = ("noise", "smooth-noise", "gradient", "checkerboard", "stripes", "blank")


def synthetic_textures(n_per_kind: int, seed: int) -> dict[str, UInt8Array]:
    """Non-face images: per kind, (n_per_kind, 112, 112, 3) uint8."""
    rng = np.random.default_rng(seed)
    size = 112
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    out: dict[str, UInt8Array] = {}
    for kind in TEXTURE_KINDS:
        images = []
        for _ in range(n_per_kind):
            if kind == "noise":
                image = rng.integers(0, 256, (size, size, 3)).astype(np.float64)
            elif kind == "smooth-noise":
                coarse = rng.uniform(0, 255, (int(rng.integers(3, 16)),) * 2 + (3,))
                image = np.asarray(
                    cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC), np.float64
                )
            elif kind == "gradient":
                angle = rng.uniform(0, 2 * np.pi)
                ramp = np.cos(angle) * xx + np.sin(angle) * yy
                ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-9)
                low, high = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
                image = low + ramp[..., None] * (high - low)
            elif kind == "checkerboard":
                cells = int(rng.integers(2, 14))
                board = ((xx * cells).astype(int) + (yy * cells).astype(int)) % 2
                a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
                image = np.where(board[..., None] == 1, a, b)
            elif kind == "stripes":
                angle = rng.uniform(0, np.pi)
                phase = (np.cos(angle) * xx + np.sin(angle) * yy) * rng.uniform(3, 20)
                wave = 0.5 + 0.5 * np.sin(2 * np.pi * phase)
                image = wave[..., None] * rng.uniform(80, 255, 3)
            else:  # blank frame of one colour (black, white, grey or any)
                image = np.broadcast_to(rng.uniform(0, 255, 3), (size, size, 3))
            images.append(np.clip(image + 0.5, 0, 255).astype(np.uint8))
        out[kind] = np.stack(images)
    return out


def fusion_names() -> list[str]:
    """Every fused component set (two or more components)."""
    return [
        canonical(combo)
        for size in range(2, len(COMPONENTS) + 1)
        for combo in itertools.combinations(COMPONENTS, size)
    ]


__all__: Sequence[str] = (
    "COMPONENTS",
    "METHODS",
    "MODELS",
    "FaceEmbeddingCheck",
    "component_scores",
    "face_embedding_scores",
    "is_face_embedding",
    "load_stats",
)
