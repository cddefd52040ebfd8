"""The shipped thresholds hold on the calibration set with the shipped models.

Re-embeds the 600 aligned celebrity crops and checks that each model's bundled
threshold still gives the stated false-match rate and the stated FNMR: this
catches a model, alignment or runtime change that was not followed by
recalibration (`make calibrate`).
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
    for model, (genuine, impostor) in scores.items():
        entry = calibration.for_model(model)
        fmr, fnmr = rates_at(genuine, impostor, entry.threshold(1e-3))
        assert fmr <= 1.2e-3, model
        assert fnmr == pytest.approx(entry.fnmr[1e-3], abs=0.01), model
        assert len(genuine) == entry.n_genuine and len(impostor) == entry.n_impostor
    # fusion must beat (or tie) the better single model at the operating point
    fnmrs = {m: rates_at(*scores[m], calibration.for_model(m).threshold(1e-3))[1] for m in scores}
    assert fnmrs[FUSION] <= min(fnmrs["sface"], fnmrs["dlib"])
    assert np.isfinite(impostor_fused).all()
