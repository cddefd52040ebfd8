"""Classical (model-free) restoration of haze, motion blur and sensor noise.

Every function takes an RGB ``uint8`` image of shape (H, W, 3) or a grey one of
shape (H, W), at least 8x8, and returns an image of the same shape and dtype
(estimators return numbers). All of them are deterministic and safe on grey,
tiny, flat and already-clean input: they never produce NaN/inf and never crash.
They do what they are asked, unconditionally -- deciding *whether* a face needs
restoring (restoring a clean face can hurt recognition) is the caller's job;
the estimators :func:`estimate_transmission`, :func:`estimate_motion_kernel` and
:func:`estimate_noise_sigma` are exposed for that decision.

* :func:`dehaze` -- He et al.'s dark channel prior, computed in linear light,
  with the transmission refined by a guided filter.
* :func:`deblur` -- Richardson-Lucy deconvolution in linear light with a given
  kernel or a linear motion kernel estimated from the image's cepstrum.
* :func:`denoise` -- non-local means whose strength follows the estimated noise
  level; it never brightens or darkens (mean kept within one grey level).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from facescope.errors import WeatherError

__all__ = [
    "MotionKernel",
    "check_image",
    "deblur",
    "dehaze",
    "denoise",
    "estimate_motion_kernel",
    "estimate_noise_sigma",
    "estimate_transmission",
    "motion_kernel",
    "richardson_lucy_steps",
]

FloatArray = npt.NDArray[np.float64]
UInt8Array = npt.NDArray[np.uint8]

#: The smallest side an input may have.
MIN_SIDE = 8
#: Below this confidence an *estimated* motion kernel is not trusted by :func:`deblur`.
MIN_KERNEL_CONFIDENCE = 0.2
#: Below this estimated length (px) :func:`deblur` leaves the image alone.
MIN_KERNEL_LENGTH = 2.0
#: Below this noise sigma (grey levels) :func:`denoise` returns the input unchanged.
MIN_NOISE_SIGMA = 0.5


# --------------------------------------------------------------------------- helpers


def check_image(image: object, what: str = "image") -> UInt8Array:
    """Validate an RGB (H, W, 3) or grey (H, W) uint8 image of at least 8x8."""
    if not isinstance(image, np.ndarray):
        raise WeatherError(f"{what} must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise WeatherError(f"{what} must be uint8, got dtype {image.dtype}")
    if image.ndim == 3:
        if image.shape[2] != 3:
            raise WeatherError(
                f"{what} must be RGB (H, W, 3) or grey (H, W), got shape {image.shape}"
            )
    elif image.ndim != 2:
        raise WeatherError(f"{what} must be RGB (H, W, 3) or grey (H, W), got shape {image.shape}")
    if image.shape[0] < MIN_SIDE or image.shape[1] < MIN_SIDE:
        raise WeatherError(
            f"{what} must be at least {MIN_SIDE}x{MIN_SIDE} pixels, got "
            f"{image.shape[1]}x{image.shape[0]}"
        )
    return np.ascontiguousarray(image)


def _check_number(
    value: object, name: str, *, low: float, high: float = math.inf, low_open: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise WeatherError(f"{name} must be a number, got {type(value).__name__}")
    number = float(value)
    too_low = number <= low if low_open else number < low
    if not math.isfinite(number) or too_low or number > high:
        bracket = "(" if low_open else "["
        raise WeatherError(f"{name} must be in {bracket}{low}, {high}], got {value!r}")
    return number


def _check_int(value: object, name: str, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise WeatherError(f"{name} must be an integer, got {type(value).__name__}")
    if int(value) < low:
        raise WeatherError(f"{name} must be at least {low}, got {value!r}")
    return int(value)


def _to_unit(image: UInt8Array) -> FloatArray:
    return image.astype(np.float64) / 255.0


def _to_uint8(image: FloatArray) -> UInt8Array:
    clean = np.nan_to_num(image, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(np.rint(clean * 255.0), 0, 255).astype(np.uint8)


def _srgb_to_linear(srgb: FloatArray) -> FloatArray:
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(linear: FloatArray) -> FloatArray:
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(
        linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1.0 / 2.4) - 0.055
    )


def _grey(image: FloatArray) -> FloatArray:
    """Luma (Rec. 601 weights) of an RGB float image; grey input is returned as is."""
    if image.ndim == 2:
        return image
    return np.asarray(image @ np.array([0.299, 0.587, 0.114]), dtype=np.float64)


def _box(image: FloatArray, radius: int) -> FloatArray:
    """Mean over a (2r+1)^2 window, reflecting at the borders."""
    size = 2 * radius + 1
    return np.asarray(
        cv2.boxFilter(image, cv2.CV_64F, (size, size), borderType=cv2.BORDER_REFLECT),
        dtype=np.float64,
    )


def _guided_filter(guide: FloatArray, source: FloatArray, radius: int, eps: float) -> FloatArray:
    """He et al.'s guided filter with a grey guide, built from box filters."""
    mean_i = _box(guide, radius)
    mean_p = _box(source, radius)
    cov_ip = _box(guide * source, radius) - mean_i * mean_p
    var_i = _box(guide * guide, radius) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return _box(a, radius) * guide + _box(b, radius)


# --------------------------------------------------------------------------- haze


def _default_patch(shape: tuple[int, ...]) -> int:
    side = min(shape[0], shape[1])
    return max(3, round(side / 16) | 1)


def _default_guided_radius(shape: tuple[int, ...]) -> int:
    side = min(shape[0], shape[1])
    return max(2, round(side / 10))


def _dark_channel(image: FloatArray, patch: int) -> FloatArray:
    channel_min = image if image.ndim == 2 else image.min(axis=2)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (patch, patch))
    return np.asarray(
        cv2.erode(channel_min, kernel, borderType=cv2.BORDER_REFLECT), dtype=np.float64
    )


def _haze_model(
    image: UInt8Array,
    omega: float,
    patch: int | None,
    guided_radius: int | None,
    eps: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Linear-light image, airlight (one value per channel) and refined transmission."""
    linear = _srgb_to_linear(_to_unit(image))
    patch = _default_patch(image.shape) if patch is None else patch
    radius = _default_guided_radius(image.shape) if guided_radius is None else guided_radius
    dark = _dark_channel(linear, patch)
    # airlight: mean colour of the pixels in the brightest 0.1% of the dark channel
    count = max(1, round(dark.size * 0.001))
    brightest = np.argsort(dark, axis=None, kind="stable")[-count:]
    pixels = linear.reshape(dark.size, -1)[brightest]
    airlight = np.maximum(pixels.mean(axis=0), 1e-3)
    raw = 1.0 - omega * _dark_channel(linear / airlight, patch)
    refined = _guided_filter(_grey(linear), raw, radius, eps)
    return linear, airlight, np.clip(refined, 0.0, 1.0)


def dehaze(
    image: UInt8Array,
    *,
    omega: float = 0.95,
    patch: int | None = None,
    t_min: float = 0.1,
    guided_radius: int | None = None,
    eps: float = 1e-3,
) -> UInt8Array:
    """Remove haze with He et al.'s dark channel prior, in linear light.

    The sRGB gamma is undone first (haze is an additive mix of light) and redone
    at the end. The airlight A is the mean colour of the brightest 0.1% of the
    dark channel; the transmission ``t = 1 - omega * dark(I / A)`` is refined by
    a guided filter with the grey image as guide, and the radiance recovered as
    ``J = (I - A) / max(t, t_min) + A``.

    Args:
        image: RGB (H, W, 3) or grey (H, W) uint8 image, at least 8x8.
        omega: How much haze to remove, in (0, 1] (He et al. keep 5%).
        patch: Dark channel window side; default about ``min(H, W) / 16``, odd, >= 3.
        t_min: Lower bound on the transmission, in (0, 1].
        guided_radius: Guided filter radius; default about ``min(H, W) / 10``, >= 2.
        eps: Guided filter regulariser (> 0); larger smooths more.

    Returns:
        The dehazed image, same shape, uint8.

    Raises:
        WeatherError: Bad image or parameter.
    """
    image = check_image(image)
    omega, t_min, eps, patch, guided_radius = _check_haze_params(
        omega, t_min, eps, patch, guided_radius
    )
    linear, airlight, transmission = _haze_model(image, omega, patch, guided_radius, eps)
    t = np.maximum(transmission, t_min)
    if linear.ndim == 3:
        t = t[:, :, None]
    radiance = (linear - airlight) / t + airlight
    return _to_uint8(_linear_to_srgb(radiance))


def _check_haze_params(
    omega: float, t_min: float, eps: float, patch: int | None, guided_radius: int | None
) -> tuple[float, float, float, int | None, int | None]:
    omega = _check_number(omega, "omega", low=0.0, high=1.0, low_open=True)
    t_min = _check_number(t_min, "t_min", low=0.0, high=1.0, low_open=True)
    eps = _check_number(eps, "eps", low=0.0, low_open=True)
    if patch is not None:
        patch = _check_int(patch, "patch", low=1)
    if guided_radius is not None:
        guided_radius = _check_int(guided_radius, "guided_radius", low=1)
    return omega, t_min, eps, patch, guided_radius


def estimate_transmission(image: UInt8Array) -> float:
    """Haze strength: the mean refined dark-channel transmission, in [0, 1].

    1 means clear air, lower means hazier; it is the mean of the transmission
    map :func:`dehaze` uses with its default parameters.
    """
    image = check_image(image)
    _, _, transmission = _haze_model(image, 0.95, None, None, 1e-3)
    return float(np.clip(transmission.mean(), 0.0, 1.0))


# --------------------------------------------------------------------------- motion blur


@dataclass(frozen=True)
class MotionKernel:
    """A linear motion blur: ``length`` pixels along ``angle`` degrees.

    ``angle`` is counter-clockwise from the image's x axis (rows point down),
    in [0, 180); ``confidence`` in [0, 1] says how clearly the blur showed in
    the cepstrum (0: no sign of linear motion).
    """

    length: float
    angle: float
    confidence: float

    def kernel(self, size: int | None = None) -> FloatArray:
        """This blur rasterised by :func:`motion_kernel`."""
        return motion_kernel(self.length, self.angle, size)


def motion_kernel(length: float, angle: float, size: int | None = None) -> FloatArray:
    """Rasterise a normalised linear motion kernel with sub-pixel accuracy.

    The kernel is a segment of ``length`` pixels through the kernel centre at
    ``angle`` degrees counter-clockwise from the x axis (rows point down),
    integrated exactly over its length and spread over pixels bilinearly, so
    fractional lengths and any angle give a smooth kernel. A horizontal
    segment of odd integer length L is (almost exactly) a 1xL box.

    Args:
        length: Blur length in pixels, >= 0 (below 1 it is close to a delta).
        angle: Direction in degrees (any finite value; 180 periodic).
        size: Odd side of the square kernel; default just large enough.

    Returns:
        A (size, size) float64 kernel summing to 1.
    """
    length = _check_number(length, "length", low=0.0, high=4096.0)
    angle = _check_number(angle, "angle", low=-math.inf)
    if size is None:
        size = 2 * math.ceil(length / 2.0 + 1.0) + 1
    else:
        size = _check_int(size, "size", low=1)
        if size % 2 == 0:
            raise WeatherError(f"size must be odd, got {size}")
    centre = size // 2
    kernel = np.zeros((size, size), dtype=np.float64)
    samples = max(1, math.ceil(length * 8))
    offsets = (np.arange(samples) + 0.5) / samples * length - length / 2.0
    theta = math.radians(angle)
    xs = centre + offsets * math.cos(theta)
    ys = centre - offsets * math.sin(theta)
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    for dy, dx, weight in (
        (0, 0, (1 - fx) * (1 - fy)),
        (0, 1, fx * (1 - fy)),
        (1, 0, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        rows, cols = y0 + dy, x0 + dx
        inside = (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size)
        np.add.at(kernel, (rows[inside], cols[inside]), weight[inside])
    total = kernel.sum()
    if total <= 0:
        kernel[centre, centre] = 1.0
        return kernel
    return np.asarray(kernel / total, dtype=np.float64)


def _cepstrum(grey: FloatArray, noise_sigma: float) -> FloatArray:
    """Real cepstrum of a windowed, whitened image, zero quefrency at the centre.

    ``grey`` is in [0, 1]; ``noise_sigma`` (same units) down-weights the
    frequencies where noise fills in the blur kernel's spectral zeros.
    """
    h, w = grey.shape
    window = np.outer(np.hanning(h + 2)[1:-1], np.hanning(w + 2)[1:-1])
    centred = (grey - grey.mean()) * window
    power = np.abs(np.fft.fftshift(np.fft.fft2(centred))) ** 2
    noise_power = noise_sigma**2 * float((window**2).sum()) + 1e-12
    log_power = np.log(power + 1e-3 * noise_power + 1e-12)
    # remove the image's smooth 1/f trend: keep the ripples a blur kernel's zeros leave
    sigma = max(1.0, min(h, w) / 64.0)
    trend = cv2.GaussianBlur(log_power, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    ripples = np.fft.ifftshift(log_power - trend)
    return np.fft.fftshift(np.real(np.fft.ifft2(ripples)))


def _sample(grid: FloatArray, ys: FloatArray, xs: FloatArray) -> FloatArray:
    """Bilinear samples of ``grid`` at (ys, xs) (inside the grid)."""
    x0 = np.clip(np.floor(xs).astype(int), 0, grid.shape[1] - 2)
    y0 = np.clip(np.floor(ys).astype(int), 0, grid.shape[0] - 2)
    fx, fy = xs - x0, ys - y0
    return np.asarray(
        grid[y0, x0] * (1 - fx) * (1 - fy)
        + grid[y0, x0 + 1] * fx * (1 - fy)
        + grid[y0 + 1, x0] * (1 - fx) * fy
        + grid[y0 + 1, x0 + 1] * fx * fy,
        dtype=np.float64,
    )


def estimate_motion_kernel(image: UInt8Array) -> MotionKernel:
    """Estimate a linear motion blur from the image's cepstrum.

    A blur of length L along direction theta multiplies the spectrum by a sinc
    whose zeros repeat every N/L frequency bins along theta; in the cepstrum
    (inverse FFT of the log spectrum) that shows as a negative peak at
    distance L along theta. The cepstrum is sampled on lines at every degree
    in [0, 180) and at quarter-pixel steps from 2 to ``min(H, W) / 4`` px; the
    deepest point (refined by parabolic interpolation, and moved to L/2 when
    that echo is at least half as deep) gives length and angle. The
    confidence grows with the peak's depth, in robust standard deviations of
    the searched values, plus the depth of its echo at 2L; clean photographs
    score about 0-0.1, clear blurs of 5 px or more about 0.2-1 (on 112x112
    crops the two overlap more than on large images; additive noise of a few
    grey levels hides short blurs).

    Returns:
        A :class:`MotionKernel`; ``length`` 0 and ``confidence`` 0 when no
        blur can be searched for (too small an image or a flat one).
    """
    image = check_image(image)
    grey = _grey(_to_unit(image))
    side = min(grey.shape)
    max_length = side / 4.0
    if max_length <= MIN_KERNEL_LENGTH + 1 or float(grey.std()) < 1e-4:
        return MotionKernel(length=0.0, angle=0.0, confidence=0.0)
    ceps = _cepstrum(grey, _noise_sigma(image) / 255.0)
    cy, cx = grey.shape[0] // 2, grey.shape[1] // 2
    angles = np.arange(180, dtype=np.float64)
    radii = np.arange(MIN_KERNEL_LENGTH, max_length + 1e-9, 0.25)
    theta = np.radians(angles)[:, None]
    xs = cx + radii[None, :] * np.cos(theta)
    ys = cy - radii[None, :] * np.sin(theta)
    values = _sample(ceps, ys, xs)
    # compare each radius with what is usual at that radius over all angles: the
    # image's own cepstrum falls with radius, the blur's peak is one direction only
    values = values - np.median(values, axis=0, keepdims=True)
    spread = float(np.median(np.abs(values))) * 1.4826 + 1e-12
    a, r = (int(i) for i in np.unravel_index(int(np.argmin(values)), values.shape))
    # a box blur also leaves (weaker) peaks at 2L, 3L, ...: prefer the fundamental
    half = radii[r] / 2.0
    if half >= MIN_KERNEL_LENGTH:
        near_r = np.flatnonzero(np.abs(radii - half) <= 1.0)
        near_a = np.arange(a - 2, a + 3) % len(angles)
        block = values[np.ix_(near_a, near_r)]
        if float(block.min()) <= 0.5 * float(values[a, r]):
            i, j = np.unravel_index(int(np.argmin(block)), block.shape)
            a, r = int(near_a[i]), int(near_r[j])
    length = float(radii[r])
    if 0 < r < len(radii) - 1:
        left, mid, right = values[a, r - 1], values[a, r], values[a, r + 1]
        curvature = left - 2 * mid + right
        if curvature > 0:
            length += 0.25 * float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))
    depth = -float(values[a, r]) / spread
    double = np.flatnonzero(np.abs(radii - 2 * radii[r]) <= 1.0)
    near_a = np.arange(a - 2, a + 3) % len(angles)
    if len(double):
        # a real box blur repeats its peak at 2L: count that echo as evidence
        score = depth - float(values[np.ix_(near_a, double)].min()) / spread
    else:
        score = 1.25 * depth
    confidence = float(np.clip((score - 12.0) / 12.0, 0.0, 1.0))
    return MotionKernel(length=length, angle=float(angles[a]), confidence=confidence)


# --------------------------------------------------------------------------- noise

_LAPLACIAN_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)


def _noise_sigma(image: UInt8Array) -> float:
    channels = [image] if image.ndim == 2 else [image[:, :, c] for c in range(3)]
    sigmas = []
    for channel in channels:
        response = cv2.filter2D(channel.astype(np.float64), cv2.CV_64F, _LAPLACIAN_MASK)
        inner = np.abs(response[1:-1, 1:-1])
        # the mask's L2 norm is 6; 0.6745 turns a Gaussian's MAD into its sigma
        sigmas.append(float(np.median(inner)) / 0.6745 / 6.0)
    return float(np.median(sigmas))


def estimate_noise_sigma(image: UInt8Array) -> float:
    """Standard deviation of additive noise, in grey levels (0..255).

    The median absolute value of the image's finest Laplacian residual (the
    3x3 mask of Immerkaer's fast method), which edges and texture barely move;
    for colour images the median over the three channels (noise per channel).
    A clean photograph gives about 1-2.
    """
    return _noise_sigma(check_image(image))


def denoise(
    image: UInt8Array, *, sigma: float | None = None, strength: float | None = None
) -> UInt8Array:
    """Remove noise without changing brightness.

    Non-local means (OpenCV's ``fastNlMeansDenoisingColored`` for RGB, on
    luma and chroma, ``fastNlMeansDenoising`` for grey) with filter strength
    proportional to ``sigma``; the result is then shifted, per channel, so its
    mean matches the input's (brightening amplifies noise and does not help
    recognition). A ``sigma`` below 0.5 grey levels returns the input
    unchanged.

    Args:
        image: RGB (H, W, 3) or grey (H, W) uint8 image, at least 8x8.
        sigma: Noise standard deviation in grey levels; default
            :func:`estimate_noise_sigma`.
        strength: the non-local means filter strength as a multiple of `sigma`
            (default :data:`NLM_STRENGTH`).

    Returns:
        The denoised image, same shape, uint8.
    """
    image = check_image(image)
    if sigma is None:
        sigma = _noise_sigma(image)
    else:
        sigma = _check_number(sigma, "sigma", low=0.0, high=255.0)
    if sigma < MIN_NOISE_SIGMA:
        return image.copy()
    factor = (
        NLM_STRENGTH
        if strength is None
        else _check_number(strength, "strength", low=0.0, high=10.0)
    )
    h = float(factor * sigma)
    if image.ndim == 2:
        result = cv2.fastNlMeansDenoising(image, None, h, 7, 21)
    else:
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        result = cv2.fastNlMeansDenoisingColored(bgr, None, h, h, 7, 21)[:, :, ::-1]
    out = np.asarray(result, dtype=np.float64)
    axes = (0, 1)
    shift = image.astype(np.float64).mean(axis=axes) - out.mean(axis=axes)
    return np.asarray(np.clip(np.rint(out + shift), 0, 255), dtype=np.uint8)


#: Default non-local means strength, as a multiple of the noise level. Light on purpose:
#: at 0.6 it lowered SFace's TAR on noisy faces (0.933 -> 0.872 at noise severity 3, fit
#: half of benchmarks/bench_weather.py) while 0.3 kept or raised it (0.939).
NLM_STRENGTH = 0.3


# --------------------------------------------------------------------------- deconvolution


def _default_iterations(kernel: FloatArray) -> int:
    """More iterations for wider kernels: 10 per px of the support's extent, in 20..120.

    Chosen by SFace's cosine to the clean face after deblurring synthetic motion blur
    with the learned estimator's kernel (fit-half people of ``benchmarks/bench_weather.py``
    and the other training sets; ``docs/weather.md``): blur under 4 px wants 20-30
    iterations, 6 px and longer 90-120; the old 5 + extent in 10..30 stopped far short.
    """
    rows, cols = np.nonzero(kernel > 1e-2 * kernel.max())
    extent = max(int(np.ptp(rows)), int(np.ptp(cols))) + 1 if len(rows) else 1
    return int(np.clip(10 * extent, 20, 120))


def _richardson_lucy(image: FloatArray, kernel: FloatArray, iterations: int) -> FloatArray:
    """Richardson-Lucy on a [0, 1] image (grey or all channels at once), reflect-padded so
    borders do not ring."""
    return richardson_lucy_steps(image, kernel, (iterations,))[0]


def richardson_lucy_steps(
    image: FloatArray, kernel: FloatArray, counts: tuple[int, ...]
) -> list[FloatArray]:
    """The Richardson-Lucy estimate after each of `counts` iterations (one run), for
    choosing how many to run (``scripts/choose_deblur_iterations.py``)."""
    if not counts or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in counts):
        raise WeatherError(f"iteration counts must be positive ints, got {counts!r}")
    pad = max(kernel.shape) // 2 + 1
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    flipped = np.ascontiguousarray(kernel[::-1, ::-1])
    # cv2.filter2D correlates: correlating with the flipped kernel convolves with it
    estimate = padded.copy()
    out = []
    for step in range(1, max(counts) + 1):
        blurred = cv2.filter2D(estimate, cv2.CV_64F, flipped, borderType=cv2.BORDER_REFLECT)
        ratio = padded / np.maximum(blurred, 1e-6)
        correction = cv2.filter2D(ratio, cv2.CV_64F, kernel, borderType=cv2.BORDER_REFLECT)
        estimate = np.clip(estimate * correction, 0.0, 1.0)
        if step in counts:
            out.append(np.asarray(estimate[pad:-pad, pad:-pad], dtype=np.float64))
    return out


def _check_kernel(kernel: object) -> FloatArray:
    if isinstance(kernel, MotionKernel):
        return motion_kernel(kernel.length, kernel.angle)
    if not isinstance(kernel, np.ndarray) or kernel.ndim != 2 or kernel.size == 0:
        raise WeatherError("kernel must be a MotionKernel or a non-empty 2-D numpy array")
    values = kernel.astype(np.float64)
    if not np.all(np.isfinite(values)) or np.any(values < 0) or values.sum() <= 0:
        raise WeatherError("kernel must be finite and non-negative with a positive sum")
    return np.asarray(values / values.sum(), dtype=np.float64)


def deblur(
    image: UInt8Array,
    *,
    kernel: MotionKernel | npt.NDArray[np.floating] | None = None,
    iterations: int | None = None,
) -> UInt8Array:
    """Remove blur by Richardson-Lucy deconvolution.

    With ``kernel`` given (a :class:`MotionKernel` or a 2-D non-negative
    array, normalised here) that kernel is used as is. Without it a linear
    motion kernel is estimated by :func:`estimate_motion_kernel`; when its
    length is under 2 px or its confidence under ``MIN_KERNEL_CONFIDENCE``
    the input is returned unchanged (a copy), since deconvolving with a wrong
    kernel, or deblurring a sharp face, damages it.

    The image is taken to linear light first (a camera's motion blur averages light,
    and so does :func:`facescope.weather.degrade`), reflect-padded, deconvolved with
    ``cv2.filter2D`` convolutions (all channels at once), clipped to [0, 1] at every
    iteration and taken back to sRGB.

    Args:
        image: RGB (H, W, 3) or grey (H, W) uint8 image, at least 8x8.
        kernel: The blur kernel; default estimated.
        iterations: Richardson-Lucy iterations (>= 1); default 20-120, 10 per px
            of the kernel's extent (100 for a 9 px motion blur).

    Returns:
        The deblurred image, same shape, uint8.
    """
    image = check_image(image)
    if iterations is not None:
        iterations = _check_int(iterations, "iterations", low=1)
    if kernel is None:
        estimate = estimate_motion_kernel(image)
        if estimate.length < MIN_KERNEL_LENGTH or estimate.confidence < MIN_KERNEL_CONFIDENCE:
            return image.copy()
        psf = motion_kernel(estimate.length, estimate.angle)
    else:
        psf = _check_kernel(kernel)
    if iterations is None:
        iterations = _default_iterations(psf)
    linear = _srgb_to_linear(_to_unit(image))  # blur happens in light, not in sRGB
    return _to_uint8(_linear_to_srgb(_richardson_lucy(linear, psf, iterations)))
