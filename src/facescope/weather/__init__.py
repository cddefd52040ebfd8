"""Bad weather and bad capture: degradations synthesised on clean photos.

* :func:`degrade`: rain, snow, haze, low light, motion blur, sensor noise or JPEG
  (one kind, or several combined in a fixed physical order) at a severity from 1
  (mild) to 5 (extreme), reproducible from a seed;
* :func:`degrade_with_info`: the same, plus a :class:`Degradation` per kind that
  gives its true strength (haze beta, blur length, noise sigma, exposure...);
* :data:`KINDS`, :data:`SEVERITIES` and :data:`ORDER` (the order combined kinds run in).

:mod:`facescope.weather.variety` draws rain, snow and haze from a wider family of looks
for training (domain randomisation). Synthesis lives here
(:mod:`facescope.weather.synth`); restoring degraded photos
lives in :mod:`facescope.restore`. See ``docs/weather.md``.

Names are imported on first use.
"""

from __future__ import annotations

from facescope._lazy import lazy_exports

_EXPORTS = {
    "degrade": "facescope.weather.synth",
    "degrade_with_info": "facescope.weather.synth",
    "Degradation": "facescope.weather.synth",
    "KINDS": "facescope.weather.synth",
    "ORDER": "facescope.weather.synth",
    "SEVERITIES": "facescope.weather.synth",
}

__getattr__ = lazy_exports("facescope.weather", _EXPORTS)

__all__ = sorted(_EXPORTS)
