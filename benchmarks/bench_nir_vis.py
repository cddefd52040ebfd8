"""VIS-VIS versus VIS-pseudoNIR verification, and what the spectral tools recover.

On ``../shared/testdata/faces/aligned_celebrities`` (112x112 aligned crops, research use
only: nothing from it is written to the repository), every crop is also rendered as
*synthetic* pseudo-NIR (:func:`facescope.spectral.pseudo_nir`, seeded per image). For
SFace and dlib it measures TAR at FMR 1e-3 and EER of VIS-VIS and VIS-NIR comparisons
(a VIS photo is never compared with its own pseudo-NIR rendering), each

* raw;
* with Tan-Triggs illumination normalisation of both sides (``normalise_crop``);
* with per-spectrum embedding normalisation (``SpectrumNormaliser``);
* with both.

Identities are split with a seeded permutation: half fit the per-spectrum normaliser
means; TAR/EER are measured on the other half (no identity leakage). The second table
splits that held-out half again: thresholds at FMR 1e-3 per spectrum pair are calibrated
on one quarter and applied to the other, and vice versa (two folds, averaged), comparing
the VIS-VIS threshold with the per-pair VIS-NIR one on the VIS-NIR comparisons.
(Calibrating on the normaliser's own identities would set the thresholds too low: their
embeddings are centred by their own mean, held-out ones are not.) With 3 identities per
fold the thresholds do not hold FMR 1e-3 on new identities: more identities are needed
for a deployable calibration. Embeddings are cached in ``out/`` (``--no-cache``).

Pseudo-NIR is a caricature of a NIR capture: these numbers say how the methods cope
with a shift *like* VIS->NIR, not what they score on real NIR (use
:func:`facescope.spectral.load_casia_nir_vis` with CASIA NIR-VIS 2.0 for that).

The figure (astronaut from scikit-image, public domain) is written whether or not the
test data is present.

    python benchmarks/bench_nir_vis.py [--json out/bench_nir_vis.json] \
        [--figure docs/spectral/pseudo_nir_astronaut.png] [--models sface dlib]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from facescope.align.template import ARCFACE_TEMPLATE_112
from facescope.evaluate.datasets import load_dataset
from facescope.evaluate.metrics import verification_metrics
from facescope.io.image import load_image
from facescope.match.metrics import rates_at
from facescope.spectral import (
    Spectrum,
    SpectrumNormaliser,
    calibrate_spectral_thresholds,
    normalise_crop,
    pseudo_nir,
    scores_by_spectrum_pair,
)

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("FACESCOPE_TESTDATA", ROOT / "../shared/testdata"))
FMR = 1e-3
#: raw; Tan-Triggs on both sides; per-spectrum embedding normalisation; both.
CONDITIONS = ("raw", "TT", "norm", "TT+norm")
VIS, NIR = Spectrum.VIS, Spectrum.NIR


def write_figure(path: Path) -> Path:
    """Astronaut (public domain): VIS | pseudo-NIR | Tan-Triggs of the pseudo-NIR."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from skimage.data import astronaut

    vis = astronaut()[:300, 100:400]
    nir = pseudo_nir(vis, rng=0)
    panels = [
        (vis, "VIS (astronaut, public domain)"),
        (nir, "pseudo-NIR (synthetic)"),
        (normalise_crop(nir), "Tan-Triggs of pseudo-NIR"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
    for ax, (image, title) in zip(axes, panels, strict=True):
        ax.imshow(image)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _embed(model: str, crops: np.ndarray, batch: int = 64) -> np.ndarray:
    """Unit-length (n, 128) embeddings of (n, 112, 112, 3) ArcFace-aligned crops."""
    from facescope.embed.recognizers import DlibRecognizer, get_recognizer, sface_recognizer

    parts = []
    if model == "sface":
        sface = sface_recognizer()
        for start in range(0, len(crops), batch):
            parts.append(sface.features_from_crops(crops[start : start + batch]))
    else:
        dlib = get_recognizer(model)
        assert isinstance(dlib, DlibRecognizer)
        landmarks = ARCFACE_TEMPLATE_112[None]
        for start in range(0, len(crops), batch):
            chips = [dlib.chips(crop, landmarks)[0] for crop in crops[start : start + batch]]
            parts.append(dlib.features_from_chips(chips))
    x = np.concatenate(parts).astype(np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _evaluate(
    vis: np.ndarray,
    nir: np.ndarray,
    identities: np.ndarray,
    split: np.ndarray,
    normalise: bool,
    model: str,
) -> dict[str, Any]:
    """Metrics on held-out identities.

    `split` per image: 0 = fit the normaliser, 1 = calibrate thresholds, 2 = apply them.
    TAR/EER are measured on 1 and 2 together (all held-out identities).
    """
    n = len(identities)
    emb = np.concatenate([vis, nir])
    ids = np.concatenate([identities, identities])
    spectra = np.array([VIS] * n + [NIR] * n, dtype=object)
    sources = np.concatenate([np.arange(n), np.arange(n)])
    part = np.concatenate([split, split])
    normaliser = None
    if normalise:
        normaliser = SpectrumNormaliser(model=model).fit(emb[part == 0], list(spectra[part == 0]))

    def scores_of(rows: np.ndarray) -> dict[Any, Any]:
        return scores_by_spectrum_pair(
            emb[rows], ids[rows], list(spectra[rows]), sources=sources[rows], normaliser=normaliser
        )

    held_out = scores_of(part > 0)
    out: dict[str, Any] = {}
    for pair in ((VIS, VIS), (VIS, NIR), (NIR, NIR)):
        gen, imp = held_out[pair]
        m = verification_metrics(gen, imp, fmr_targets=(FMR,))
        out[f"{pair[0].value}-{pair[1].value}"] = {
            "tar_at_fmr": m.tar_at_far[FMR],
            "eer": m.eer,
            "n_genuine": m.n_genuine,
            "n_impostor": m.n_impostor,
            "genuine_mean": float(np.mean(gen)),
            "impostor_mean": float(np.mean(imp)),
        }
    folds = []
    for calibrate_on, apply_to in ((1, 2), (2, 1)):  # two folds, calibrate <-> apply swapped
        rows = part == calibrate_on
        thresholds = calibrate_spectral_thresholds(
            emb[rows], ids[rows], list(spectra[rows]), fmr=FMR, model=model,
            sources=sources[rows], normaliser=normaliser,
        )  # fmt: skip
        applied = scores_of(part == apply_to)
        t_vv, t_vn = thresholds.threshold(VIS, VIS), thresholds.threshold(VIS, NIR)
        fold: dict[str, Any] = {"thresholds": thresholds.to_json()}
        for label, pair, t in (
            ("vis-vis_at_vis-vis_threshold", (VIS, VIS), t_vv),
            ("vis-nir_at_vis-vis_threshold", (VIS, NIR), t_vv),
            ("vis-nir_at_vis-nir_threshold", (VIS, NIR), t_vn),
        ):
            gen, imp = applied[pair]
            fmr, fnmr = rates_at(gen, imp, t)
            fold[label] = {"threshold": t, "fmr": fmr, "fnmr": fnmr}
        folds.append(fold)
    out["threshold_folds"] = folds
    for label in folds[0]:
        if label != "thresholds":
            out[label] = {k: float(np.mean([f[label][k] for f in folds])) for k in folds[0][label]}
    return out


def _embeddings(
    model: str, variants: dict[str, np.ndarray], paths: list[str], cache: Path | None
) -> dict[str, np.ndarray]:
    """Embeddings of every variant, reused from an .npz in `cache` made for the same images."""
    digest = hashlib.sha256("\n".join(paths).encode()).hexdigest()[:16]
    content = hashlib.sha256(b"".join(v.tobytes() for v in variants.values())).hexdigest()[:16]
    file = None if cache is None else cache / f"bench_nir_vis_{model}_{digest}_{content}.npz"
    if file is not None and file.is_file():
        with np.load(file) as data:
            stacked = np.asarray(data["embeddings"])
        return dict(zip(variants, stacked, strict=True))
    emb = {name: _embed(model, images) for name, images in variants.items()}
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        np.savez(file, embeddings=np.stack([emb[name] for name in variants]))
    return emb


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--figure", type=Path, default=ROOT / "docs/spectral/pseudo_nir_astronaut.png"
    )
    parser.add_argument("--models", nargs="+", default=["sface", "dlib"])
    parser.add_argument("--seed", type=int, default=0, help="identity split and pseudo-NIR")
    parser.add_argument(
        "--cache", type=Path, default=ROOT / "out", help="folder for embedding .npz files"
    )
    parser.add_argument("--no-cache", action="store_true", help="always recompute embeddings")
    parser.add_argument(
        "--save-thresholds",
        type=Path,
        default=None,
        help="folder: write <model>_pseudo_nir.json, per-pair thresholds on all identities "
        "(raw condition), for `facescope audit pad --spectrum nir --spectral-thresholds`",
    )
    args = parser.parse_args()
    console = Console(width=140)
    if str(args.figure) != "none":
        console.print(f"figure: {write_figure(args.figure)}")
    source = TESTDATA / "faces/aligned_celebrities"
    if not (source / "labels.csv").is_file():
        console.print(f"[yellow]{source} not found: benchmark skipped[/]")
        return
    dataset = load_dataset(source)
    identities = np.asarray(dataset.identities)
    crops = np.stack([load_image(p) for p in dataset.paths])
    if crops.shape[1:] != (112, 112, 3):
        raise SystemExit(f"expected 112x112 aligned crops, got {crops.shape[1:]}")
    rng = np.random.default_rng(args.seed)
    seeds = rng.integers(0, 2**63 - 1, len(crops))
    started = time.perf_counter()
    variants = {"vis": crops}
    pairs = zip(crops, seeds, strict=True)
    variants["nir"] = np.stack([pseudo_nir(c, rng=int(k)) for c, k in pairs])
    variants["tt_vis"] = np.stack([normalise_crop(c) for c in variants["vis"]])
    variants["tt_nir"] = np.stack([normalise_crop(c) for c in variants["nir"]])
    subjects = rng.permutation(np.array(sorted(set(dataset.identities))))
    half, quarter = len(subjects) // 2, (3 * len(subjects)) // 4
    groups = {
        "normaliser fit": sorted(subjects[:half].tolist()),
        "threshold fold 1": sorted(subjects[half:quarter].tolist()),
        "threshold fold 2": sorted(subjects[quarter:].tolist()),
    }
    role = {s: k for k, members in enumerate(groups.values()) for s in members}
    split = np.array([role[i] for i in identities])
    for name, members in groups.items():
        console.print(f"{name}: {', '.join(members)}")
    cache = None if args.no_cache else args.cache
    results: list[dict[str, Any]] = []
    for model in args.models:
        emb = _embeddings(model, variants, [str(p) for p in dataset.paths], cache)
        if args.save_thresholds is not None:
            n = len(identities)
            thresholds = calibrate_spectral_thresholds(
                np.concatenate([emb["vis"], emb["nir"]]),
                np.concatenate([identities, identities]),
                np.array([VIS] * n + [NIR] * n, dtype=object),
                fmr=FMR,
                model=model,
                sources=np.concatenate([np.arange(n), np.arange(n)]),
            )
            saved = thresholds.save(args.save_thresholds / f"{model}_pseudo_nir.json")
            console.print(f"{model}: per-pair thresholds (pseudo-NIR, all identities) -> {saved}")
        for condition in CONDITIONS:
            tt = condition.startswith("TT")
            vis, nir = (emb["tt_vis"], emb["tt_nir"]) if tt else (emb["vis"], emb["nir"])
            result = _evaluate(vis, nir, identities, split, "norm" in condition, model)
            results.append({"model": model, "condition": condition, **result})
        console.print(f"{model}: done at {time.perf_counter() - started:.0f} s")

    title = f"{len(subjects) - half} held-out identities: TAR @ FMR {FMR:g}, EER (synthetic NIR)"
    table = Table(title=title)
    for column in ("model", "cond.", "VIS-VIS TAR", "VIS-VIS EER", "VIS-NIR TAR", "VIS-NIR EER"):
        table.add_column(column)
    for r in results:
        vv, vn = r["vis-vis"], r["vis-nir"]
        table.add_row(
            r["model"], r["condition"], _pct(vv["tar_at_fmr"]), _pct(vv["eer"]),
            _pct(vn["tar_at_fmr"]), _pct(vn["eer"]),
        )  # fmt: skip
    console.print(table)
    table = Table(
        title=f"thresholds at FMR {FMR:g} calibrated on {quarter - half} held-out identities, "
        f"applied to the other {len(subjects) - quarter}, and swapped; means of the 2 folds "
        "(VV = VIS-VIS, VN = VIS-NIR)"
    )
    for column in (
        "model", "cond.", "VV FMR/FNMR @t(VV)", "t(VV)", "VN FMR/FNMR @t(VV)",
        "t(VN)", "VN FMR/FNMR @t(VN)",
    ):  # fmt: skip
        table.add_column(column)
    for r in results:
        v = r["vis-vis_at_vis-vis_threshold"]
        a, b = r["vis-nir_at_vis-vis_threshold"], r["vis-nir_at_vis-nir_threshold"]
        table.add_row(
            r["model"], r["condition"], f"{_pct(v['fmr'])} / {_pct(v['fnmr'])}",
            f"{a['threshold']:.4f}", f"{_pct(a['fmr'])} / {_pct(a['fnmr'])}",
            f"{b['threshold']:.4f}", f"{_pct(b['fmr'])} / {_pct(b['fnmr'])}",
        )  # fmt: skip
    console.print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "dataset": str(source),
            "n_images": len(crops),
            "identity_groups": groups,
            "fmr": FMR,
            "seed": args.seed,
            "note": "pseudo-NIR is synthetic; no real NIR data was used",
        }
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
        console.print(f"json: {args.json}")


if __name__ == "__main__":
    main()
