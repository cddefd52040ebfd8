"""Presentation-attack detection (PAD): live face or print / screen replay / other attack.

* :func:`check`: one photo or video → live probability, decision, attack type,
  evidence per cue, a patch heatmap and a plain-language explanation;
* :mod:`facescope.pad.cues`: colour-texture, frequency, sharpness, specular and
  colour cues of the aligned face; :mod:`facescope.pad.video`: blinks, planar
  vs non-rigid motion, rPPG pulse; :mod:`facescope.pad.cnn`: the FaceBagNet CNN;
* :mod:`facescope.pad.synth`: attacks synthesised from bona fide photos (training data);
* :class:`PADModel`: the trained fusion, :func:`threshold_at_bpcer` for calibration.

Names are imported on first use.
"""

from __future__ import annotations

from facescope._lazy import lazy_exports

_EXPORTS = {
    "check": "facescope.pad.presentation",
    "check_crops": "facescope.pad.presentation",
    "PADResult": "facescope.pad.presentation",
    "Evidence": "facescope.pad.explain",
    "PADError": "facescope.pad.cues",
    "PADModel": "facescope.pad.model",
    "load_model": "facescope.pad.model",
    "default_model": "facescope.pad.model",
    "threshold_at_bpcer": "facescope.pad.model",
    "synthesize": "facescope.pad.synth",
    "video_cues": "facescope.pad.video",
}

__getattr__ = lazy_exports("facescope.pad", _EXPORTS)

__all__ = sorted(_EXPORTS)
