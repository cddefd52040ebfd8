"""Affective haptic-audio output: answer a recognised emotion in touch and sound.

A library of vibrotactile patterns for a 5x5 motor sleeve, each with a matching contact
sound on the same timeline, for ten emotions and six social touch gestures, and for any
(valence, arousal) point (:func:`stimulus`); renderers to WAV, motor schedules (CSV or
JSON) and an animated heat map (:mod:`.render`); a serial driver with a documented
protocol and a virtual device on a pty (:mod:`.device`); the closed loop from a video's
expressions (:mod:`.mirror`); and a study helper (:mod:`.study`). Design rules and the
protocol: docs/haptics.md. Background: touch plus sound decodes ten emotions better than
either alone (44% against 25% touch only and 32% sound only; arXiv 2508.07839).
"""

from __future__ import annotations

from facescope.haptics.anchors import (
    EMOTION_GESTURES,
    EMOTIONS,
    GESTURES,
    SOCIAL_ANCHORS,
    emotion_anchors,
    nearest_emotion,
)
from facescope.haptics.errors import HapticsError
from facescope.haptics.render import (
    MotorSchedule,
    play_audio,
    schedule,
    write_preview,
    write_schedule,
    write_wav,
)
from facescope.haptics.stimulus import DYNAMICS, Stimulus, parameters, stimulus, synthesize

__all__ = [
    "DYNAMICS",
    "EMOTIONS",
    "EMOTION_GESTURES",
    "GESTURES",
    "SOCIAL_ANCHORS",
    "HapticsError",
    "MotorSchedule",
    "Stimulus",
    "emotion_anchors",
    "nearest_emotion",
    "parameters",
    "play_audio",
    "schedule",
    "stimulus",
    "synthesize",
    "write_preview",
    "write_schedule",
    "write_wav",
]
