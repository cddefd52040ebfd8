"""Spectrum-aware comparison: scores, per-pair decisions and threshold calibration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.spectral._checks import FloatArray, embeddings, l2_normalise
from facescope.spectral.errors import SpectralError
from facescope.spectral.normalise import SpectrumNormaliser, _spectra
from facescope.spectral.spectrum import Spectrum, pair_key, parse_spectrum
from facescope.spectral.thresholds import Pair, SpectralThresholds

SpectraLike = Spectrum | str | Sequence[Spectrum | str]


def _prepare(
    values: Any, spectra: SpectraLike, name: str, normaliser: SpectrumNormaliser | None
) -> tuple[FloatArray, list[Spectrum]]:
    x = embeddings(values, name)
    labels = _spectra(spectra, len(x))
    if normaliser is not None:
        return normaliser.transform(x, labels), labels
    return l2_normalise(x), labels


def cross_spectral_scores(
    emb_a: Any,
    spectra_a: SpectraLike,
    emb_b: Any,
    spectra_b: SpectraLike,
    *,
    normaliser: SpectrumNormaliser | None = None,
) -> FloatArray:
    """(n_a, n_b) cosine similarities, after per-spectrum normalisation when given.

    Embeddings may be raw or unit-length (rows are re-normalised); `spectra_*` is one
    spectrum for all rows or one per row.
    """
    a, _ = _prepare(emb_a, spectra_a, "emb_a", normaliser)
    b, _ = _prepare(emb_b, spectra_b, "emb_b", normaliser)
    if a.shape[1] != b.shape[1]:
        raise SpectralError(f"emb_a has {a.shape[1]} dimensions, emb_b {b.shape[1]}")
    return a @ b.T


@dataclass(frozen=True)
class CrossSpectralMatch:
    """One comparison: its score, the threshold of its spectrum pair and the decision."""

    score: float
    threshold: float
    match: bool
    pair: Pair


def verify_cross_spectral(
    emb_a: Any,
    spectrum_a: Spectrum | str,
    emb_b: Any,
    spectrum_b: Spectrum | str,
    thresholds: SpectralThresholds,
    *,
    normaliser: SpectrumNormaliser | None = None,
) -> CrossSpectralMatch:
    """Compare two single embeddings with the threshold calibrated for their spectrum pair.

    Raises :class:`facescope.spectral.UncalibratedPairError` when that pair has none.
    """
    if not isinstance(thresholds, SpectralThresholds):
        raise SpectralError(
            f"thresholds must be SpectralThresholds, got {type(thresholds).__name__}"
        )
    a_spec, b_spec = parse_spectrum(spectrum_a), parse_spectrum(spectrum_b)
    threshold = thresholds.threshold(a_spec, b_spec)
    for name, value in (("emb_a", emb_a), ("emb_b", emb_b)):
        if embeddings(value, name).shape[0] != 1:
            raise SpectralError(f"{name} must be a single embedding (one row)")
    score = float(cross_spectral_scores(emb_a, a_spec, emb_b, b_spec, normaliser=normaliser)[0, 0])
    return CrossSpectralMatch(score, threshold, score >= threshold, pair_key(a_spec, b_spec))


def scores_by_spectrum_pair(
    values: Any,
    identities: npt.ArrayLike,
    spectra: SpectraLike,
    *,
    sources: npt.ArrayLike | None = None,
    normaliser: SpectrumNormaliser | None = None,
) -> dict[Pair, tuple[FloatArray, FloatArray]]:
    """Genuine and impostor scores of every unordered pair of rows, per spectrum pair.

    `sources` (optional, one per row) marks rows derived from the same capture (a VIS
    photo and its pseudo-NIR rendering): such pairs are skipped. Builds the full (n, n)
    score matrix, so keep n to a few tens of thousands.
    """
    x, labels = _prepare(values, spectra, "embeddings", normaliser)
    n = len(x)
    ids = np.asarray(identities).astype(str).ravel()
    if len(ids) != n:
        raise SpectralError(f"got {len(ids)} identities for {n} embeddings")
    src = None if sources is None else np.asarray(sources).astype(str).ravel()
    if src is not None and len(src) != n:
        raise SpectralError(f"got {len(src)} sources for {n} embeddings")
    codes = np.array([list(Spectrum).index(s) for s in labels])
    scores = x @ x.T
    i, j = np.triu_indices(n, k=1)
    keep = np.ones(len(i), bool) if src is None else src[i] != src[j]
    i, j = i[keep], j[keep]
    same = ids[i] == ids[j]
    lo, hi = np.minimum(codes[i], codes[j]), np.maximum(codes[i], codes[j])
    out: dict[Pair, tuple[FloatArray, FloatArray]] = {}
    members = list(Spectrum)
    for a in range(len(members)):
        for b in range(a, len(members)):
            sel = (lo == a) & (hi == b)
            if sel.any():
                s = scores[i[sel], j[sel]]
                out[(members[a], members[b])] = (s[same[sel]], s[~same[sel]])
    return out


def calibrate_spectral_thresholds(
    values: Any,
    identities: npt.ArrayLike,
    spectra: SpectraLike,
    *,
    fmr: float = 1e-3,
    model: str = "",
    sources: npt.ArrayLike | None = None,
    normaliser: SpectrumNormaliser | None = None,
) -> SpectralThresholds:
    """:class:`SpectralThresholds` at `fmr` for every spectrum pair present in the data.

    Pairs lacking genuine scores or with too few impostors to resolve `fmr` raise.
    """
    grouped = scores_by_spectrum_pair(
        values, identities, spectra, sources=sources, normaliser=normaliser
    )
    scores: dict[tuple[Spectrum | str, Spectrum | str], tuple[npt.ArrayLike, npt.ArrayLike]] = {
        pair: value for pair, value in grouped.items()
    }
    return SpectralThresholds.calibrate(scores, fmr=fmr, model=model)
