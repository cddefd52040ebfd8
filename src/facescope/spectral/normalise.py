"""Per-spectrum embedding normalisation: remove each spectrum's mean embedding.

A recogniser maps NIR faces into a region of embedding space offset from VIS faces of
the same people; subtracting a per-spectrum mean (fitted on training identities) and
re-normalising to unit length removes the shared part of that offset.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facescope.spectral._checks import FloatArray, embeddings, l2_normalise
from facescope.spectral.errors import SpectralError, UncalibratedPairError
from facescope.spectral.spectrum import Spectrum, parse_spectrum

_FORMAT = "facescope.spectral.normaliser/1"


def _spectra(values: Spectrum | str | Sequence[Spectrum | str], n: int) -> list[Spectrum]:
    """One spectrum per row: a single value is broadcast, a sequence must have n items."""
    if isinstance(values, (Spectrum, str)):
        return [parse_spectrum(values)] * n
    items = [parse_spectrum(v) for v in values]
    if len(items) != n:
        raise SpectralError(f"got {len(items)} spectra for {n} embeddings")
    return items


class SpectrumNormaliser:
    """Subtract a per-spectrum mean embedding, then L2-normalise.

    Use :meth:`fit` on embeddings of *training* identities (never the ones evaluated or
    enrolled later), then :meth:`transform` both sides of every comparison.
    """

    def __init__(self, means: dict[Spectrum, FloatArray] | None = None, model: str = "") -> None:
        self.means: dict[Spectrum, FloatArray] = {}
        self.model = model
        for spectrum, mean in (means or {}).items():
            self.means[parse_spectrum(spectrum)] = embeddings(mean, f"mean of {spectrum}")[0]
        dims = {m.shape[0] for m in self.means.values()}
        if len(dims) > 1:
            raise SpectralError(f"means differ in dimension: {sorted(dims)}")

    def __repr__(self) -> str:
        fitted = ", ".join(s.value for s in self.means) or "nothing"
        return f"SpectrumNormaliser(model={self.model!r}, fitted: {fitted})"

    @property
    def spectra(self) -> tuple[Spectrum, ...]:
        """The spectra a mean was fitted for."""
        return tuple(self.means)

    def fit(
        self, values: Any, spectra: Spectrum | str | Sequence[Spectrum | str]
    ) -> SpectrumNormaliser:
        """Fit the mean of the (unit-length) embeddings of each spectrum; returns self."""
        x = l2_normalise(embeddings(values))
        labels = _spectra(spectra, len(x))
        for spectrum in dict.fromkeys(labels):
            rows = np.array([label == spectrum for label in labels])
            self.means[spectrum] = x[rows].mean(axis=0)
        return self

    def transform(
        self, values: Any, spectra: Spectrum | str | Sequence[Spectrum | str]
    ) -> FloatArray:
        """(n, d) unit-length embeddings with their spectrum's mean removed.

        Raises :class:`UncalibratedPairError` for a spectrum with no fitted mean.
        """
        x = l2_normalise(embeddings(values))
        labels = _spectra(spectra, len(x))
        out = np.empty_like(x)
        for i, spectrum in enumerate(labels):
            mean = self.means.get(spectrum)
            if mean is None:
                raise UncalibratedPairError(
                    f"no mean embedding fitted for spectrum {spectrum.value!r} "
                    f"(fitted: {', '.join(s.value for s in self.means) or 'none'})"
                )
            if mean.shape[0] != x.shape[1]:
                raise SpectralError(
                    f"embeddings have {x.shape[1]} dimensions, the fitted means {mean.shape[0]}"
                )
            out[i] = x[i] - mean
        return l2_normalise(out)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the means to an .npz file (no pickles); returns the path."""
        if not self.means:
            raise SpectralError("nothing to save: the normaliser has not been fitted")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as fh:
            np.savez(
                fh,
                format=np.array(_FORMAT),
                model=np.array(self.model),
                spectra=np.array([s.value for s in self.means]),
                means=np.stack(list(self.means.values())),
            )
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SpectrumNormaliser:
        """Read a normaliser written by :meth:`save`."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                if str(data["format"]) != _FORMAT:
                    raise SpectralError(f"{path}: not a spectrum normaliser file")
                names = [str(v) for v in data["spectra"]]
                means = np.asarray(data["means"], dtype=np.float64)
                model = str(data["model"])
        except (OSError, KeyError, ValueError) as exc:
            if isinstance(exc, SpectralError):
                raise
            raise SpectralError(f"cannot read spectrum normaliser {path}: {exc}") from None
        if means.ndim != 2 or means.shape[0] != len(names):
            raise SpectralError(f"{path}: means and spectra do not match")
        return cls({parse_spectrum(n): m for n, m in zip(names, means, strict=True)}, model)
