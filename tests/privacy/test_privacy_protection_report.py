"""The cost-and-benefit report of protected templates."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from facescope.privacy.protection_report import SchemeCost, write_protection_report


def _audit(transfer_asr: float, rank1: float) -> dict[str, object]:
    return {
        "target": "sface",
        "transfer": ["dlib"],
        "targets": 24,
        "queries_per_target": 992.0,
        "target_asr": 1.0,
        "transfer_asr_dlib": transfer_asr,
        "pool_transfer_asr_dlib": 0.0,
        "rank1_dlib": rank1,
        "pool_rank1_dlib": 0.08,
        "chance_rank1_dlib": 1 / 52,
        "curve": {"0": {"sface": 0.0}},
    }


def test_report_combines_cost_and_each_scenario(tmp_path: Path) -> None:
    costs = [
        SchemeCost("sface", "raw", 0.884, 0.0333),
        SchemeCost("sface", "512-bit codes", 0.788, 0.0523, cross_eer=0.513),
    ]
    audits = {"raw": _audit(0.10, 0.483), "protected-key-unknown": _audit(0.0, 0.042)}
    missing = {"protected-key-known": "python benchmarks/bench_inversion.py --scenario x"}
    page = write_protection_report(costs, audits, tmp_path, missing=missing)
    text = page.read_text()
    assert "Cost: verification accuracy" in text and "Benefit: model inversion" in text
    assert "88.40%" in text and "78.80%" in text and "51.3%" in text
    assert "48.3%" in text and "4.2%" in text  # rank-1 of each scenario, on dlib
    assert "512-bit keyed codes, key known" in text and "--scenario x" in text
    rows = re.findall(r"<tr><td>(raw embeddings|keyed rotation, key unknown)</td>", text)
    assert rows == ["raw embeddings", "keyed rotation, key unknown"]  # display order
    assert (tmp_path / "cost_and_benefit.png").stat().st_size > 1000
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["costs"][1]["cross_eer"] == pytest.approx(0.513)
    assert "curve" not in metrics["audits"]["raw"]
    assert set(metrics["missing"]) == {"protected-key-known"}


def test_report_refuses_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing to report"):
        write_protection_report([], {}, tmp_path)
