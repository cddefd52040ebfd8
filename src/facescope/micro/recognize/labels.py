"""Emotion classes of the micro-expression datasets and the standard class schemes.

Two schemes are used in the literature and here:

* ``"3"``: the composite (MEGC 2019) classes *negative*, *positive*, *surprise*:
  happiness is positive; surprise is surprise; anger, contempt, disgust, fear,
  repression and sadness are negative; "others" clips are left out.
* ``"5"``: five classes per dataset: CASME II happiness, surprise, disgust,
  repression, others (sadness and fear, with few clips, are left out); SAMM anger,
  contempt, happiness, surprise, other (disgust, fear and sadness are left out).
  SMIC is labelled with the three composite classes only, so it has no 5-class scheme.
"""

from __future__ import annotations

from typing import Final, Literal

from facescope.micro.recognize.errors import MicroRecognitionError

Scheme = Literal["3", "5"]
DatasetFormat = Literal["casme2", "samm", "smic"]

FORMATS: Final[tuple[str, ...]] = ("casme2", "samm", "smic")
SCHEMES: Final[tuple[str, ...]] = ("3", "5")

#: The composite classes, in label order.
COMPOSITE: Final[tuple[str, ...]] = ("negative", "positive", "surprise")
#: The 5-class labels of each dataset, in label order.
FIVE: Final[dict[str, tuple[str, ...]]] = {
    "casme2": ("happiness", "surprise", "disgust", "repression", "others"),
    "samm": ("anger", "contempt", "happiness", "surprise", "other"),
}

_NEGATIVE: Final[frozenset[str]] = frozenset(
    {"anger", "contempt", "disgust", "fear", "repression", "sadness", "negative"}
)
#: Spellings met in the annotation sheets, to the canonical emotion name.
_ALIASES: Final[dict[str, str]] = {
    "happy": "happiness",
    "happiness": "happiness",
    "positive": "positive",
    "surprised": "surprise",
    "surprise": "surprise",
    "disgusted": "disgust",
    "disgust": "disgust",
    "repression": "repression",
    "repressed": "repression",
    "sad": "sadness",
    "sadness": "sadness",
    "fear": "fear",
    "angry": "anger",
    "anger": "anger",
    "contempt": "contempt",
    "other": "other",
    "others": "other",
    "negative": "negative",
}


def canonical_emotion(text: str) -> str:
    """The canonical name of an emotion as written in an annotation sheet."""
    key = " ".join(str(text).strip().lower().split())
    return _ALIASES.get(key, key)


def class_names(dataset: str, scheme: str) -> tuple[str, ...]:
    """The class names (label order) of `dataset` under `scheme` ("3" or "5")."""
    check_format(dataset)
    if scheme == "3":
        return COMPOSITE
    if scheme == "5":
        if dataset not in FIVE:
            raise MicroRecognitionError(
                f"{dataset} has no 5-class scheme (it is labelled negative/positive/surprise "
                "only): use --classes 3"
            )
        return FIVE[dataset]
    raise MicroRecognitionError(f"unknown class scheme {scheme!r}: use 3 or 5")


def map_emotion(dataset: str, emotion: str, scheme: str) -> str | None:
    """The class of a clip labelled `emotion`, or None when the scheme leaves it out."""
    names = class_names(dataset, scheme)
    name = canonical_emotion(emotion)
    if scheme == "3":
        if name in ("happiness", "positive"):
            return "positive"
        if name == "surprise":
            return "surprise"
        return "negative" if name in _NEGATIVE else None
    if dataset == "casme2" and name == "other":
        return "others"
    return name if name in names else None


def check_format(dataset: str) -> DatasetFormat:
    """`dataset` if it is a known layout, else a clear error."""
    if dataset not in FORMATS:
        raise MicroRecognitionError(
            f"unknown dataset layout {dataset!r}: use one of {', '.join(FORMATS)}"
        )
    return dataset  # type: ignore[return-value]


__all__ = [
    "COMPOSITE",
    "FIVE",
    "FORMATS",
    "SCHEMES",
    "DatasetFormat",
    "Scheme",
    "canonical_emotion",
    "check_format",
    "class_names",
    "map_emotion",
]
