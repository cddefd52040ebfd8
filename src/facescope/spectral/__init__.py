"""Cross-spectral (NIR-VIS) face matching.

* :class:`Spectrum`, :func:`parse_spectrum`, :func:`guess_spectrum`: the capture band of a
  template, set by the caller or guessed from image statistics;
* :func:`tan_triggs`, :func:`difference_of_gaussians`, :func:`normalise_crop`:
  illumination normalisation of aligned crops before embedding;
* :class:`SpectrumNormaliser`: per-spectrum mean removal of embeddings (.npz);
* :class:`SpectralThresholds`, :func:`calibrate_spectral_thresholds`: a threshold per
  spectrum pair at a target FMR (JSON);
* :func:`cross_spectral_scores`, :func:`verify_cross_spectral`: spectrum-aware comparison;
* :func:`pseudo_nir`: a *synthetic* NIR look from a VIS photo (for tests and benchmarks);
* :func:`load_casia_nir_vis`: the CASIA NIR-VIS 2.0 protocol lists, for the real test.

Names are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from facescope._lazy import lazy_exports

if TYPE_CHECKING:  # real types for checkers; at run time names load on first use
    from facescope.spectral.casia import CasiaImage, CasiaProtocol, load_casia_nir_vis
    from facescope.spectral.errors import (
        CasiaLayoutError,
        SpectralError,
        UncalibratedPairError,
        UnknownSpectrumError,
    )
    from facescope.spectral.normalise import SpectrumNormaliser
    from facescope.spectral.preprocess import (
        difference_of_gaussians,
        normalise_crop,
        tan_triggs,
        to_grey,
        to_uint8,
    )
    from facescope.spectral.spectrum import (
        Spectrum,
        SpectrumStatistics,
        guess_spectrum,
        pair_key,
        pair_name,
        parse_spectrum,
        spectrum_statistics,
    )
    from facescope.spectral.synth import pseudo_nir
    from facescope.spectral.thresholds import SpectralThresholds
    from facescope.spectral.verify import (
        CrossSpectralMatch,
        calibrate_spectral_thresholds,
        cross_spectral_scores,
        scores_by_spectrum_pair,
        verify_cross_spectral,
    )

_EXPORTS = {
    "SpectralError": "facescope.spectral.errors",
    "UnknownSpectrumError": "facescope.spectral.errors",
    "UncalibratedPairError": "facescope.spectral.errors",
    "CasiaLayoutError": "facescope.spectral.errors",
    "Spectrum": "facescope.spectral.spectrum",
    "SpectrumStatistics": "facescope.spectral.spectrum",
    "parse_spectrum": "facescope.spectral.spectrum",
    "guess_spectrum": "facescope.spectral.spectrum",
    "spectrum_statistics": "facescope.spectral.spectrum",
    "pair_key": "facescope.spectral.spectrum",
    "pair_name": "facescope.spectral.spectrum",
    "to_grey": "facescope.spectral.preprocess",
    "difference_of_gaussians": "facescope.spectral.preprocess",
    "tan_triggs": "facescope.spectral.preprocess",
    "normalise_crop": "facescope.spectral.preprocess",
    "to_uint8": "facescope.spectral.preprocess",
    "SpectrumNormaliser": "facescope.spectral.normalise",
    "SpectralThresholds": "facescope.spectral.thresholds",
    "CrossSpectralMatch": "facescope.spectral.verify",
    "cross_spectral_scores": "facescope.spectral.verify",
    "verify_cross_spectral": "facescope.spectral.verify",
    "scores_by_spectrum_pair": "facescope.spectral.verify",
    "calibrate_spectral_thresholds": "facescope.spectral.verify",
    "pseudo_nir": "facescope.spectral.synth",
    "CasiaImage": "facescope.spectral.casia",
    "CasiaProtocol": "facescope.spectral.casia",
    "load_casia_nir_vis": "facescope.spectral.casia",
}

__getattr__ = lazy_exports("facescope.spectral", _EXPORTS)

__all__ = [
    "CasiaImage",
    "CasiaLayoutError",
    "CasiaProtocol",
    "CrossSpectralMatch",
    "SpectralError",
    "SpectralThresholds",
    "Spectrum",
    "SpectrumNormaliser",
    "SpectrumStatistics",
    "UncalibratedPairError",
    "UnknownSpectrumError",
    "calibrate_spectral_thresholds",
    "cross_spectral_scores",
    "difference_of_gaussians",
    "guess_spectrum",
    "load_casia_nir_vis",
    "normalise_crop",
    "pair_key",
    "pair_name",
    "parse_spectrum",
    "pseudo_nir",
    "scores_by_spectrum_pair",
    "spectrum_statistics",
    "tan_triggs",
    "to_grey",
    "to_uint8",
    "verify_cross_spectral",
]
