"""The shipped thresholds hold on the calibration set with the shipped models.

Re-embeds the 600 aligned celebrity crops (one of the sets the thresholds are fitted
on, ``scripts/fit_thresholds.py``) and checks that each model's bundled threshold
still gives at most the stated false-match rate there and the FNMR recorded for this
set in the file's provenance: this catches a model, alignment or runtime change that
was not followed by recalibration (`make calibrate`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facescope.match.calibrate import folder_per_identity, pair_scores
from facescope.match.metrics import rates_at
from facescope.match.thresholds import FUSION, load_calibration
from facescope.pipeline import embed_largest_faces

pytestmark = pytest.mark.slow  # embeds the whole calibration set


def test_bundled_thresholds_reproduce_on_the_calibration_set(celebrities: Path) -> None:
    labelled = folder_per_identity(celebrities)
    batch = embed_largest_faces(labelled.paths, ("sface", "dlib"))
    assert batch.found.all(), batch.errors
    calibration = load_calibration()
    scores = {
        model: pair_scores(batch.embeddings[model].vectors, labelled.identities)
        for model in ("sface", "dlib")
    }
    genuine_fused = calibration.fuse({m: scores[m][0] for m in scores})
    impostor_fused = calibration.fuse({m: scores[m][1] for m in scores})
    scores[FUSION] = (genuine_fused, impostor_fused)
    recorded = calibration.provenance["per_dataset"][celebrities.name]
    counts = calibration.provenance["datasets"][celebrities.name]
    for model, (genuine, impostor) in scores.items():
        entry = calibration.for_model(model)
        fmr, fnmr = rates_at(genuine, impostor, entry.threshold(1e-3))
        assert fmr <= 1.2e-3, model
        assert fnmr == pytest.approx(recorded[model]["0.001"]["fnmr_at_shipped"], abs=0.01), model
        assert len(genuine) == counts["genuine_pairs"]
        assert len(impostor) == counts["impostor_pairs"]
    # fusion must beat (or tie) the better single model at the operating point
    fnmrs = {m: rates_at(*scores[m], calibration.for_model(m).threshold(1e-3))[1] for m in scores}
    assert fnmrs[FUSION] <= min(fnmrs["sface"], fnmrs["dlib"])
    assert np.isfinite(impostor_fused).all()
