"""Biometric evaluation: ISO/IEC 19795-1 (verification, identification) and 30107-3 (PAD).

``load_dataset`` reads a folder per identity, a folder with ``labels.csv``, a
``path,identity`` CSV, and LFW-style ``pairs.txt`` or pairs CSVs;
``evaluate`` embeds (with an on-disk cache), scores and measures, counting
failures to acquire; ``Evaluation.report(folder)`` writes a self-contained HTML
report with embedded figures and ``metrics.json``. The metric functions in
:mod:`facescope.evaluate.metrics` work on any scores, from any pipeline.
Names are imported on first use.
"""

from __future__ import annotations

from facescope._lazy import lazy_exports

_EXPORTS = {
    "Dataset": "facescope.evaluate.datasets",
    "Pairs": "facescope.evaluate.datasets",
    "load_dataset": "facescope.evaluate.datasets",
    "generate_pairs": "facescope.evaluate.datasets",
    "identification_split": "facescope.evaluate.datasets",
    "EmbeddingCache": "facescope.evaluate.cache",
    "embed_dataset": "facescope.evaluate.cache",
    "Evaluation": "facescope.evaluate.run",
    "evaluate": "facescope.evaluate.run",
    "evaluation_report": "facescope.evaluate.report_builder",
    "verification_metrics": "facescope.evaluate.metrics",
    "identification_metrics": "facescope.evaluate.metrics",
    "bootstrap_verification": "facescope.evaluate.metrics",
    "pad_metrics": "facescope.evaluate.metrics",
    "iapmr": "facescope.evaluate.metrics",
    "iapmr_per_species": "facescope.evaluate.metrics",
    "fairness": "facescope.evaluate.metrics",
    "generalized_rates": "facescope.evaluate.metrics",
}


__getattr__ = lazy_exports("facescope.evaluate", _EXPORTS)

__all__ = sorted(_EXPORTS)
