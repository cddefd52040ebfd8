"""Gated restoration: restore only what the detectors find; clean faces pass untouched.

``method="auto"`` asks the degradation detectors (:mod:`.detectors`) what an image
carries (judged on its largest face's aligned crop) and applies, in this order, only
the classical methods (:mod:`.classical`) that raised SFace's TAR on the fit half of
``benchmarks/bench_weather.py`` (:data:`REMEDY`):

* haze or snow -> :func:`~.classical.dehaze` (dark channel prior in linear light; snow's
  veil and flakes are lifted like haze);
* long motion blur -> :func:`~.classical.deblur` (Richardson-Lucy, cepstrum kernel),
  only when the estimated kernel is at least :data:`DEBLUR_MIN_LENGTH` of the side; on
  an aligned crop with the torch extra, with the learned estimator's kernel
  (:mod:`.blur_kernel`) from :data:`LEARNED_DEBLUR_MIN_LENGTH` (4 px) up;
* noise -> :func:`~.classical.denoise` (light non-local means; it never brightens).

Rain, snow, noise and low light go to the learned restorer instead when it can run
(:data:`LEARNED_FOR`, torch extra); without it, rain and low light are reported but left
as they are (nothing classical raised recognition there: every brightening of dark faces
lowered it). JPEG is not detected. An image with nothing detected is returned as the very
same pixels. A named method (``"dehaze"``, ``"deblur"``, ``"denoise"``) is applied
without asking the detectors; ``"none"`` returns the input.

When the caller embeds with SFace and can run the weather-adapted SFace (``adapted``),
detected weather goes to that network instead (:data:`ADAPTED_FOR`), and for haze, low
light and noise a crop restored by a pixel method rides along as a second view whose SFace
features are averaged in (:data:`VIEW_FOR`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from facescope.align.template import CROP_SIZE, warp_to_template
from facescope.detect.faces import detect_faces
from facescope.errors import WeatherError
from facescope.restoration import classical
from facescope.restoration.detectors import Assessment, DegradationDetectors, shipped_detectors
from facescope.restoration.measures import as_rgb

#: What ``method=`` accepts.
METHODS: Final[tuple[str, ...]] = ("auto", "none", "dehaze", "deblur", "denoise", "learned")
#: The method each detected kind calls for under ``auto`` (kinds without one: left alone).
REMEDY: Final[dict[str, str]] = {
    "haze": "dehaze",
    "snow": "dehaze",
    "motion_blur": "deblur",
    "noise": "denoise",
}
#: Deblurring only pays for long blur: the motion kernel estimated on the face is at least
#: this fraction of the image side (Richardson-Lucy lowered TAR at motion-blur severity 3,
#: about 0.06 of the side, and raised it at severity 5, about 0.12; fit half of
#: benchmarks/bench_weather.py).
DEBLUR_MIN_LENGTH: Final[float] = 0.08
#: With the learned blur-kernel estimator (:mod:`.blur_kernel`, torch extra), a detected
#: motion blur on an aligned 112 px crop is deblurred with the kernel it estimates
#: (median errors 0.3-0.5 px in length and 0.9-1.7 degrees in direction from 3 px up on
#: held-out people, where the cepstrum is wrong by 12-17 px at 7 px) when that kernel is
#: at least this fraction of the side (4 px): on the fit half, deblurring from 3, 4, 5 or
#: 6 px gave the same TAR at blur severities 3-5, and blur under 4 px (severity 1) cost
#: SFace under a point.
LEARNED_DEBLUR_MIN_LENGTH: Final[float] = 4.0 / CROP_SIZE
#: Kinds ``auto`` hands to the learned restorer (when torch and its weights are there),
#: in place of the classical remedy: those where it raised TAR over doing nothing and
#: over the classical method by at least a point, averaged over severities 3 and 5 and
#: the two sets of the fit half (``python scripts/choose_weather_remedies.py`` on
#: ``benchmarks/bench_weather.py --half fit``): low light 0.639 -> 0.819 (classical
#: 0.639), noise 0.746 -> 0.881 (0.810), snow 0.594 -> 0.764 (0.683), rain 0.845 ->
#: 0.861 (0.842). Haze stays with dehazing (0.848 against 0.815) and blur with deblurring
#: (the restorer does not sharpen). The restorer lowers TAR on clean faces (0.944 ->
#: 0.941 and 0.958 -> 0.927 there), so it only runs where a detector fired.
LEARNED_FOR: Final[frozenset[str]] = frozenset({"low_light", "noise", "rain", "snow"})
#: Kinds for which, when the caller embeds with SFace and the weather-adapted SFace can run
#: (:mod:`facescope.embed.sface_weather`, torch extra), the face is embedded by the
#: adapted network instead of being restored by the learned restorer or the classical
#: remedy (unless the kind is in :data:`ADAPTED_WITH_REMEDY`). Chosen on the fit half like
#: the rest (``python scripts/choose_weather_remedies.py``, the same rule: at least a
#: point over every simpler option, mean TAR over severities 3 and 5 and the two sets):
#: haze 0.878 (dehaze 0.848), low light 0.857 (learned 0.819), motion blur after deblurring
#: 0.782 (deblur 0.696), noise 0.895 (learned 0.881), rain 0.894 (learned 0.861), snow
#: 0.867 (learned 0.764), JPEG 0.837 (nothing 0.807; JPEG is not detected, so it never
#: fires alone). The network costs clean faces 1-2 points when forced on them, so it only
#: runs where a detector fired.
ADAPTED_FOR: Final[frozenset[str]] = frozenset(
    {"haze", "jpeg", "low_light", "motion_blur", "noise", "rain", "snow"}
)
#: Kinds whose classical remedy is still applied to the pixels before the adapted SFace
#: (deblurring, with its length gate: classical + adapted 0.782 against adapted 0.707).
ADAPTED_WITH_REMEDY: Final[frozenset[str]] = frozenset({"motion_blur"})
#: Second views for the weather-adapted SFace, per detected kind: (pixel method, weight).
#: Where the adapted network embeds a face with one of these kinds, the crop restored by
#: the method is also embedded by SFace, and the two unit features are averaged with the
#: view's weight (:func:`facescope.embed.sface_weather.fuse_with_view`). Chosen by
#: ``python scripts/choose_weather_views.py``: on the people held out of the adapted
#: network's training it raised SFace's mean cosine to the clean face, and on the fit
#: half it did not lower TAR (see ``docs/weather.md``).
VIEW_FOR: Final[dict[str, tuple[str, float]]] = {
    "haze": ("dehaze", 0.5),
    "low_light": ("learned", 0.3),
    "noise": ("learned", 0.3),
}
#: The order methods are applied in (the reverse of how the degradations arise).
ORDER: Final[tuple[str, ...]] = ("dehaze", "deblur", "denoise", "learned")


def _learned(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    from facescope.restoration.learned import restore_learned

    return restore_learned(image)


_APPLY: Final[dict[str, Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.uint8]]]] = {
    "dehaze": classical.dehaze,
    "deblur": classical.deblur,
    "denoise": classical.denoise,
    "learned": _learned,
}


@dataclass(frozen=True)
class Restored:
    """A restored image, what was applied, and what the detectors saw (``auto`` only).

    `adapted`: the face should be embedded by the weather-adapted SFace (only when the
    caller asked for it, see :func:`restore_image`). `view`: with `adapted`, a second
    restoration of the face (by :data:`VIEW_FOR`'s method, named in `view_method`) whose
    SFace features are averaged into the embedding with weight `view_weight`.
    """

    image: npt.NDArray[np.uint8]
    applied: tuple[str, ...]
    assessment: Assessment | None = None
    adapted: bool = False
    view: npt.NDArray[np.uint8] | None = None
    view_method: str | None = None
    view_weight: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (no pixels)."""
        extra = [f"view:{self.view_method}"] if self.view is not None else []
        return {
            "applied": list(self.applied) + (["adapted"] if self.adapted else []) + extra,
            "detected": None if self.assessment is None else self.assessment.to_dict(),
            "shape": list(self.image.shape),
        }


def check_method(method: object) -> str:
    """`method` if it is one of :data:`METHODS`, else a WeatherError naming them."""
    if not isinstance(method, str) or method not in METHODS:
        raise WeatherError(f"unknown restoration method {method!r}; known: {', '.join(METHODS)}")
    return method


def plan(
    assessment: Assessment, *, adapted: bool = False, blur_length: float | None = None
) -> tuple[str, ...]:
    """The pixel methods ``auto`` applies for what was detected, in :data:`ORDER`.

    `adapted`: the face will be embedded by the weather-adapted SFace where
    :func:`uses_adapted` says so; the kinds it handles (:data:`ADAPTED_FOR`) then get no
    pixel method but their classical remedy where :data:`ADAPTED_WITH_REMEDY` keeps it,
    and the learned restorer is not run (the adapted network was trained on raw weather).
    `blur_length`: the learned estimator's blur length (a fraction of the side), which
    then gates deblurring at :data:`LEARNED_DEBLUR_MIN_LENGTH` in place of the cepstrum's
    ``motion_length`` at :data:`DEBLUR_MIN_LENGTH`.
    """
    present = assessment.present
    by_network = uses_adapted(assessment) if adapted else False
    learned = (not by_network and learned_ready()
               and any(k in LEARNED_FOR for k in present))  # fmt: skip
    wanted = set()
    for kind in present:
        if kind not in REMEDY:
            continue
        if by_network and kind in ADAPTED_FOR and kind not in ADAPTED_WITH_REMEDY:
            continue
        if learned and kind in LEARNED_FOR:
            continue
        wanted.add(REMEDY[kind])
    length, shortest = (
        (assessment.measures.get("motion_length", 1.0), DEBLUR_MIN_LENGTH)
        if blur_length is None
        else (blur_length, LEARNED_DEBLUR_MIN_LENGTH)
    )
    if length < shortest:
        wanted.discard("deblur")
    if learned:
        wanted.add("learned")
    return tuple(m for m in ORDER if m in wanted)


def uses_adapted(assessment: Assessment) -> bool:
    """Whether a face with this assessment goes to the weather-adapted SFace, when the
    caller can run it (``facescope.embed.sface_weather.adapted_available``)."""
    return any(k in ADAPTED_FOR for k in assessment.present)


def view_for(assessment: Assessment) -> tuple[str, float] | None:
    """The (method, weight) of the second view for a face going to the adapted SFace, or
    None: the first detected kind of :data:`VIEW_FOR` whose method can run here, in
    :data:`ORDER` of the methods."""
    found = [VIEW_FOR[k] for k in assessment.present if k in VIEW_FOR]
    found = [v for v in found if v[0] != "learned" or learned_ready()]
    return min(found, key=lambda v: ORDER.index(v[0])) if found else None


def learned_ready() -> bool:
    """Whether the learned method can run here (torch installed, weights shipped)."""
    from facescope.restoration.learned import shipped_available

    return shipped_available()


def restore_image(
    image: npt.NDArray[np.uint8],
    method: str = "auto",
    *,
    detectors: DegradationDetectors | None = None,
    whole: bool = False,
    adapted: bool = False,
) -> Restored:
    """Restore one image (a face crop or a photo; RGB or grey uint8) with `method`.

    ``auto`` judges a photo on its largest face's crop; `whole` skips that face search
    (the caller already knows no face is found) and judges the image itself. `adapted`
    (``auto`` only): the caller embeds with SFace and can run the weather-adapted SFace;
    the result says whether to (:attr:`Restored.adapted`), and the pixels get only what
    :func:`plan` keeps for it.
    """
    method = check_method(method)
    original = image
    rgb = as_rgb(image)
    if method == "none":
        return Restored(original, ())
    assessment = None
    kernel = None
    second: tuple[str, float] | None = None
    if method == "auto":
        judged = rgb if whole else _face_view(rgb)
        assessment = (detectors or shipped_detectors()).assess(judged)
        network = adapted and uses_adapted(assessment)
        kernel = _learned_kernel(rgb, assessment)
        length = None if kernel is None else kernel.length / CROP_SIZE
        steps = plan(assessment, adapted=network, blur_length=length)
        second = view_for(assessment) if network else None
    else:
        network = False
        steps = (method,)
    out = rgb
    for step in steps:
        if step == "deblur" and kernel is not None:
            out = classical.deblur(out, kernel=kernel)
        else:
            out = _APPLY[step](out)
    fused: dict[str, Any] = {}
    if second is not None:
        fused = {"view": _APPLY[second[0]](out), "view_method": second[0], "view_weight": second[1]}
    if not steps:
        return Restored(original, (), assessment, network, **fused)  # same pixels
    if original.ndim == 2:
        out = np.asarray(out.mean(axis=2).round(), np.uint8) if out.ndim == 3 else out
    return Restored(out, steps, assessment, network, **fused)


def _learned_kernel(
    rgb: npt.NDArray[np.uint8], assessment: Assessment
) -> classical.MotionKernel | None:
    """The learned estimator's kernel of an aligned crop where motion blur was detected;
    None for other images, other weather, or without torch or the weights."""
    if "motion_blur" not in assessment.present or rgb.shape[:2] != (CROP_SIZE, CROP_SIZE):
        return None
    from facescope.restoration.blur_kernel import estimate_blur, estimator_available

    if not estimator_available():
        return None
    return estimate_blur(rgb)[0]


def _face_view(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """What the detectors judge: the largest face's aligned crop, or the image itself.

    The detectors were fitted on aligned face crops; on whole photos bright objects
    (a white shirt, a flag) passed for snow. Weather covers the whole scene, so the
    face's crop tells what the photo carries. An aligned 112x112 crop is used as it is;
    a photo with no face found is judged whole.
    """
    if rgb.shape[:2] == (CROP_SIZE, CROP_SIZE) or max(rgb.shape[:2]) < 2 * CROP_SIZE:
        return rgb
    faces = detect_faces(rgb)
    if len(faces) == 0:
        return rgb
    biggest = int(np.argmax(faces.areas))
    return warp_to_template(rgb, faces.landmarks5[biggest])


def restore(image: npt.NDArray[np.uint8], method: str = "auto") -> npt.NDArray[np.uint8]:
    """The restored image (see :func:`restore_image` for what was applied and why)."""
    return restore_image(image, method).image


def restore_crops(
    crops: npt.NDArray[np.uint8], method: str = "auto"
) -> tuple[npt.NDArray[np.uint8], list[tuple[str, ...]]]:
    """Restore each aligned crop of an (n, 112, 112, 3) batch; also what each got."""
    done = restore_each(crops, method)
    if not done:
        return crops, []
    return np.stack([d.image for d in done]), [d.applied for d in done]


def restore_each(
    crops: npt.NDArray[np.uint8],
    method: str = "auto",
    *,
    adapted: bool = False,
    detectors: DegradationDetectors | None = None,
) -> list[Restored]:
    """:func:`restore_image` of each aligned crop of an (n, 112, 112, 3) batch."""
    check_method(method)
    if method == "none":
        return [Restored(c, ()) for c in crops]
    return [restore_image(c, method, adapted=adapted, detectors=detectors) for c in crops]


__all__ = [
    "ADAPTED_FOR",
    "ADAPTED_WITH_REMEDY",
    "DEBLUR_MIN_LENGTH",
    "LEARNED_DEBLUR_MIN_LENGTH",
    "METHODS",
    "ORDER",
    "REMEDY",
    "VIEW_FOR",
    "Restored",
    "check_method",
    "plan",
    "restore",
    "restore_crops",
    "restore_each",
    "restore_image",
    "uses_adapted",
    "view_for",
]
