"""Restoration of faces degraded by weather: detectors, classical methods, gating.

* :func:`restore` (also ``facescope.restore``): restore an image or an aligned face crop;
  ``method="auto"`` restores only what the degradation detectors find, so a clean face
  comes back as the very same pixels (:mod:`.auto`);
* :func:`assess_degradation`: which kinds of weather an image carries, and how likely
  each is (:mod:`.detectors`, over the measurements of :mod:`.measures`, and where torch
  is installed a small CNN beside them, :mod:`.detector_net`);
* :mod:`.classical`: dark-channel dehazing in linear light, Richardson-Lucy deblurring
  with a cepstrum-estimated motion kernel, and denoising that never brightens;
* :func:`estimate_blur` (:mod:`.blur_kernel`, torch extra): a learned estimate of a face
  crop's motion blur, which ``auto`` deblurs aligned crops with.

Synthetic weather (to measure and train) is :func:`facescope.weather.degrade`. The
recogniser restores between alignment and embedding when asked
(``restore="auto"`` on :func:`facescope.embed`, ``verify``, ``identify`` and
``Gallery.identify``). See ``docs/weather.md``.
"""

from __future__ import annotations

from facescope._lazy import lazy_exports

_EXPORTS = {
    "restore": "facescope.restoration.auto",
    "restore_image": "facescope.restoration.auto",
    "restore_crops": "facescope.restoration.auto",
    "Restored": "facescope.restoration.auto",
    "METHODS": "facescope.restoration.auto",
    "assess_degradation": "facescope.restoration.detectors",
    "Assessment": "facescope.restoration.detectors",
    "DegradationDetectors": "facescope.restoration.detectors",
    "load_detectors": "facescope.restoration.detectors",
    "estimate_blur": "facescope.restoration.blur_kernel",
}

__getattr__ = lazy_exports("facescope.restoration", _EXPORTS)

__all__ = sorted(_EXPORTS)
