"""Micro-expressions: short (1/25 s to 1/2 s), subtle, local facial movements in video.

Spotting (training-free; see ``docs/micro.md``):

* :func:`spot_video` / :func:`spot_frames`: the intervals (onset, apex, offset,
  regions, intensity) per tracked face, as a :class:`SpotResult`;
* :class:`SpotOptions`: threshold and the micro/macro bounds (duration, intensity);
* :class:`MicroSpotter`, :func:`spot_motion`: the two stages (motion, then spotting)
  for callers that reuse measured motion;
* :func:`inject_micro`: ground truth, a subtle movement warped into real video;
* :func:`score_intervals`: precision, recall and F1 at IoU >= 0.5 (MEGC protocol).

Names are imported on first use.
"""

# recognition: facescope.micro.recognize (trainable network)

from __future__ import annotations

from facescope._lazy import lazy_exports

_EXPORTS = {
    "Injection": "facescope.micro.synth",
    "MicroError": "facescope.micro.result",
    "MicroInterval": "facescope.micro.result",
    "MicroSpotter": "facescope.micro.spot",
    "MotionExtractor": "facescope.micro.motion",
    "SpotOptions": "facescope.micro.spot",
    "SpotResult": "facescope.micro.result",
    "SpotScore": "facescope.micro.evaluate",
    "TrackMotion": "facescope.micro.motion",
    "inject_micro": "facescope.micro.synth",
    "interval_iou": "facescope.micro.evaluate",
    "score_intervals": "facescope.micro.evaluate",
    "spot_frames": "facescope.micro.spot",
    "spot_motion": "facescope.micro.spot",
    "spot_video": "facescope.micro.spot",
}

__getattr__ = lazy_exports("facescope.micro", _EXPORTS)

__all__ = sorted(_EXPORTS)
