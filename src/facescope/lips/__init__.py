"""Visual speech: mouth crops, lip landmarks and visual voice-activity detection.

``facescope.lips.extract_lips(video)`` gives, per tracked face, 88x88 greyscale
mouth crops (centred, level, fixed scale), the lip and jaw points of the mesh on
the canonical face (head pose and scale removed), timestamps, and who is
speaking when (:mod:`facescope.lips.vad`: speech is the *change* of the mouth).
:func:`audio_energy` measures a video's audio level at given times (a reference
for evaluation); :mod:`facescope.lips.synthetic` makes silent negatives from
talking videos. See ``docs/lips.md``. Names are imported on first use.
"""

# lip reading: facescope.lips.read (trainable network)

from __future__ import annotations

from facescope._lazy import lazy_exports

_EXPORTS = {
    "LipsError": "facescope.lips.errors",
    "NoMouthError": "facescope.lips.errors",
    "CROP_SIZE": "facescope.lips.mouth",
    "LANDMARK_POINTS": "facescope.lips.mouth",
    "LIP_POINTS": "facescope.lips.mouth",
    "JAW_POINTS": "facescope.lips.mouth",
    "MouthWarp": "facescope.lips.mouth",
    "mouth_warp": "facescope.lips.mouth",
    "mouth_crop": "facescope.lips.mouth",
    "lip_landmarks": "facescope.lips.mouth",
    "lip_aperture": "facescope.lips.mouth",
    "VadOptions": "facescope.lips.vad",
    "detect_speech": "facescope.lips.vad",
    "speech_activity": "facescope.lips.vad",
    "speech_segments": "facescope.lips.vad",
    "LipExtractor": "facescope.lips.extract",
    "LipTrack": "facescope.lips.extract",
    "LipsResult": "facescope.lips.extract",
    "extract_lips": "facescope.lips.extract",
    "extract_frames": "facescope.lips.extract",
    "load_track": "facescope.lips.extract",
    "audio_energy": "facescope.lips.audio",
    "audio_speech": "facescope.lips.audio",
}

__getattr__ = lazy_exports("facescope.lips", _EXPORTS)

__all__ = sorted(_EXPORTS)
