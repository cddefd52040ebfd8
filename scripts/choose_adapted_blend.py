"""Choose how far ``restore="auto"`` trusts the weather-adapted SFace, on the fit half only.

Where a detector fires, ``auto`` embeds a face by the weather-adapted SFace; on a face with
little weather, the network's own error (cosine 0.95 to SFace on clean crops) can be
larger than the weather's. :func:`facescope.embed.sface_weather.blend_with_sface` mixes
its features with the ONNX SFace's of the same crop by how far the two disagree. This
script measures the mixing spans of a grid on the people of the *fit* half of
``benchmarks/bench_weather.py`` (the evaluation half is never read): for each set, kind
(six) and severity (1-5), the probes are degraded, passed through ``auto`` (detectors and
pixel remedies as shipped), embedded both ways and compared with the clean crops (TAR at
FMR 1e-3). A span's score is the pooled recovery: the TAR it gains over doing nothing,
summed over kinds and severities 2-4, over the TAR lost, per set, then averaged over the
sets. The span kept is the best one whose pooled recovery at severity 5 stays within
``--slack`` of the unblended network's. Prints the table and the chosen span (set by hand
in ``sface_weather.BLEND_RANGE``).

    python scripts/choose_adapted_blend.py [--per-identity 15] [--cache out/weather/blend_fit.npz]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_weather  # noqa: E402  (the crops and the person split are the benchmark's)

KINDS = ("haze", "rain", "snow", "low_light", "motion_blur", "noise")
SEVERITIES = (1, 2, 3, 4, 5)
LOWS = (0.0, 0.03, 0.05, 0.08)
HIGHS = (0.1, 0.15, 0.2, 0.3)
#: The unblended network (weight 1 wherever it runs) and SFace alone (weight 0).
UNBLENDED = (0.0, 1e-9)
SFACE_ONLY = (2.0, 3.0)


def measure(per_identity: int) -> dict[str, np.ndarray]:
    """Per set and condition: identities, clean and degraded SFace embeddings, and
    auto's SFace and adapted embeddings with the rows the network would take."""
    from facescope.embed.sface_weather import adapted_features
    from facescope.pipeline import embed_aligned_crops, normalise
    from facescope.restoration.auto import restore_image
    from facescope.restoration.detectors import shipped_detectors
    from facescope.weather.synth import degrade

    detectors = shipped_detectors()
    out: dict[str, np.ndarray] = {}
    for name in ("celebrities", "yale"):
        clean, ids = bench_weather.fit_half_crops(name, per_identity)
        out[f"{name}|ids"] = ids
        out[f"{name}|clean"] = embed_aligned_crops(clean, "sface").vectors
        conditions = ["clean/0"] + [f"{k}/{s}" for k in KINDS for s in SEVERITIES]
        for key in track(conditions, description=f"measuring {name}"):
            kind, severity = key.split("/")
            probes = (
                clean
                if kind == "clean"
                else np.stack(
                    [degrade(c, kind, int(severity), seed=i) for i, c in enumerate(clean)]
                )
            )
            done = [restore_image(c, "auto", detectors=detectors, adapted=True) for c in probes]
            images = np.ascontiguousarray(np.stack([d.image for d in done]))
            out[f"{name}|{key}|degraded"] = embed_aligned_crops(probes, "sface").vectors
            out[f"{name}|{key}|sface"] = embed_aligned_crops(images, "sface").vectors
            out[f"{name}|{key}|adapted"] = normalise(adapted_features(images), "sface").vectors
            out[f"{name}|{key}|network"] = np.array([d.adapted for d in done])
    return out


def tar(emb: np.ndarray, clean: np.ndarray, ids: np.ndarray) -> float:
    """TAR at FMR 1e-3 of probes `emb` against the clean crops, as the benchmark counts it."""
    from facescope.match.metrics import threshold_at_fmr
    from facescope.weather.evaluate import FMR, _scores

    genuine, impostor = _scores(emb, clean, ids)
    return float((genuine >= threshold_at_fmr(impostor, FMR)).mean())


def scores(data: dict[str, np.ndarray], span: tuple[float, float]) -> dict[str, dict[str, float]]:
    """Per set: pooled recovery at severities 2-4 and at 5, and TAR on clean crops."""
    from facescope.embed.sface_weather import blend_with_sface

    def auto(name: str, key: str) -> float:
        emb = data[f"{name}|{key}|sface"].copy()
        rows = data[f"{name}|{key}|network"]
        if rows.any():
            emb[rows] = blend_with_sface(emb[rows], data[f"{name}|{key}|adapted"][rows], span)[0]
        return tar(emb, data[f"{name}|clean"], data[f"{name}|ids"])

    result: dict[str, dict[str, float]] = {}
    for name in ("celebrities", "yale"):
        ids, clean = data[f"{name}|ids"], data[f"{name}|clean"]
        base = tar(data[f"{name}|clean/0|degraded"], clean, ids)
        pooled: dict[str, list[float]] = {"2-4": [0.0, 0.0], "5": [0.0, 0.0]}
        for kind, severity in itertools.product(KINDS, (2, 3, 4, 5)):
            key = f"{kind}/{severity}"
            degraded = tar(data[f"{name}|{key}|degraded"], clean, ids)
            bucket = pooled["5" if severity == 5 else "2-4"]
            bucket[0] += auto(name, key) - degraded
            bucket[1] += max(base - degraded, 0.0)
        result[name] = {
            "2-4": pooled["2-4"][0] / max(pooled["2-4"][1], 1e-9),
            "5": pooled["5"][0] / max(pooled["5"][1], 1e-9),
            "clean": auto(name, "clean/0") - base,
        }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-identity", type=int, default=15)
    parser.add_argument("--slack", type=float, default=0.02)
    parser.add_argument("--cache", type=Path, default=ROOT / "out/weather/blend_fit.npz")
    args = parser.parse_args()
    if args.cache.is_file():
        data = dict(np.load(args.cache, allow_pickle=False))
    else:
        data = measure(args.per_identity)
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.cache, **data)
    spans = [SFACE_ONLY, UNBLENDED, *itertools.product(LOWS, HIGHS)]
    table = Table(title="fit half: pooled recovery by auto (TAR gained / TAR lost)")
    for column in ("span", "celebrities 2-4", "yale 2-4", "mean 2-4", "mean 5", "clean"):
        table.add_column(column)
    results = {span: scores(data, span) for span in spans}

    def mean(span: tuple[float, float], what: str) -> float:
        return float(np.mean([r[what] for r in results[span].values()]))

    floor = mean(UNBLENDED, "5") - args.slack
    eligible = [s for s in spans if s not in (SFACE_ONLY, UNBLENDED) and mean(s, "5") >= floor]
    chosen = max(eligible, key=lambda s: mean(s, "2-4"))
    for span in spans:
        label = {SFACE_ONLY: "SFace only", UNBLENDED: "unblended"}.get(span, f"{span[0]}-{span[1]}")
        table.add_row(
            label + (" (chosen)" if span == chosen else ""),
            f"{results[span]['celebrities']['2-4']:+.1%}",
            f"{results[span]['yale']['2-4']:+.1%}",
            f"{mean(span, '2-4'):+.1%}",
            f"{mean(span, '5'):+.1%}",
            f"{mean(span, 'clean'):+.3f}",
        )
    console = Console()
    console.print(table)
    console.print(f"BLEND_RANGE = ({chosen[0]}, {chosen[1]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
