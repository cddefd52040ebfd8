"""Fit the PAD fusion on synthetic attacks: the shipped model before issue 21.

It is no longer shipped: on real print attacks it ranked live below attack (AUC 0.46,
``docs/pad/real-attacks.md``). ``scripts/fit_pad.py`` fits the shipped model on real
prints. This recipe stays because ``benchmarks/bench_pad_real.py`` compares against it
(it reads the feature cache this script writes to ``out/pad``).

Bona fide sources: the aligned crops of ``faces/aligned_celebrities`` and the
faces of ``faces/public_portraits`` (both in ../shared/testdata; the images are
never copied, only the fitted coefficients are written). Every source face is
turned into bona fide captures, print attacks and screen-replay attacks by
:func:`facescope.pad.train.synthetic_crop` (all pass through the same
randomised webcam capture, so image quality cannot tell them apart; most bona
fide samples also lose detail first, as attacks do, so that sharpness is not
the class either).

Identities are split: the last `--holdout` celebrities are kept out of training
and give the synthetic validation figures and the shipped threshold (the EER
point on them). Deterministic for a seed: with the defaults it reproduces the
shipped file (every head fitted with scikit-learn's lbfgs, as shipped; the cue
features are cached in ``out/pad``). About 2.5 minutes on 2 cores.

    python scripts/fit_pad_synthetic.py [--per-image 2] [--seed 0] \
        [--out out/pad/pad_model_synthetic.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.progress import track

from facescope.evaluate.metrics import roc_auc
from facescope.heads import provenance
from facescope.match.metrics import equal_error_rate
from facescope.pad.face import face_crop
from facescope.pad.model import BONA_FIDE, L2
from facescope.pad.train import crop_features, fit_model, patch_training_set, synthetic_crop

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("FACESCOPE_TESTDATA", ROOT / "../shared/testdata"))
SPECIES = ("bona_fide", "print", "replay")


def _sources(testdata: Path) -> tuple[list[np.ndarray], list[str]]:
    faces, identities = [], []
    celebrities = testdata / "faces/aligned_celebrities"
    with open(celebrities / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            image = cv2.imread(str(celebrities / row["path"]), cv2.IMREAD_COLOR)
            faces.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            identities.append(row["identity"])
    portraits = testdata / "faces/public_portraits"
    with open(portraits / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("n_faces", "1") != "1":
                continue
            try:
                crop, _, _ = face_crop(portraits / row["path"])
            except Exception:
                continue
            faces.append(crop)
            identities.append("portrait:" + row["identity"])
    return faces, identities


def _detail_loss(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur and resolution loss of the strength attacks get, for a bona fide image."""
    h, w = image.shape[:2]
    factor = rng.uniform(0.45, 1.0)
    small = cv2.resize(image, (max(8, round(w * factor)), max(8, round(h * factor))),
                       interpolation=cv2.INTER_AREA)  # fmt: skip
    sigma = rng.uniform(0.0, 0.7)  # at 112 px: half the 224-px attacks' blur
    if sigma > 0.1:
        small = cv2.GaussianBlur(small, (0, 0), sigma)
    return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), np.uint8)


def synthetic(faces: list[np.ndarray], per_image: int, seed: int, bona_blur: float = 0.0):
    """(crops, labels, source index) with `per_image` samples of each class per face.

    `bona_blur`: share of bona fide samples that first lose detail as much as attacks do, so
    that sharpness (which varies more between cameras than between live and attack) is not
    learnt as the class.
    """
    rng = np.random.default_rng(seed)
    crops, labels, sources = [], [], []
    for k, face in enumerate(track(faces, description="synthesising")):
        for species in SPECIES:
            for _ in range(per_image):
                shown = face
                if species == "bona_fide" and bona_blur > 0 and rng.random() < bona_blur:
                    shown = _detail_loss(face, rng)
                crops.append(synthetic_crop(shown, species, rng))
                labels.append(species)
                sources.append(k)
    return crops, labels, sources


def _localisation(model, faces, identities, held, seed: int, per_person: int = 10) -> float:
    """Share of half-attacked crops (held-out people) whose attacked half is hotter."""
    from facescope.pad.heatmap import GRID
    from facescope.pad.presentation import check_crops

    rng = np.random.default_rng(seed + 1)
    wins = total = 0
    for who in sorted(held):
        for face in [f for f, i in zip(faces, identities, strict=True) if i == who][:per_person]:
            for species in ("print", "replay"):
                for side in (0, 1):
                    mixed = synthetic_crop(face, BONA_FIDE, rng)
                    attack = synthetic_crop(face, species, rng)
                    cut = np.s_[:, 56:] if side else np.s_[:, :56]
                    mixed[cut] = attack[cut]
                    heat = check_crops([mixed], model=model).heatmap
                    right, left = heat[:, GRID // 2 :].mean(), heat[:, : GRID // 2].mean()
                    wins += int(right > left) if side else int(left > right)
                    total += 1
    return wins / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-image", type=int, default=2)
    parser.add_argument("--holdout", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--l2", type=float, default=L2, help="L2 strength of every head")
    parser.add_argument("--bona-blur", type=float, default=0.0)
    parser.add_argument("--groups", nargs="*", default=None, help="cue groups (default all)")
    parser.add_argument("--cache", type=Path, default=ROOT / "out/pad")
    parser.add_argument("--out", type=Path, default=ROOT / "out/pad/pad_model_synthetic.json")
    args = parser.parse_args()
    console = Console()
    faces, identities = _sources(TESTDATA)
    people = sorted({i for i in identities if not i.startswith("portrait:")})
    held = set(people[-args.holdout :])
    cache = args.cache / f"train_features_p{args.per_image}_s{args.seed}_b{args.bona_blur:g}.npz"
    if cache.is_file():
        stored = np.load(cache, allow_pickle=False)
        features = {k[2:]: stored[k] for k in stored.files if k.startswith("f:")}
        labels, sources = stored["labels"].tolist(), stored["sources"].tolist()
        patch_x, patch_y, patch_rows = stored["patch_x"], stored["patch_y"], stored["patch_rows"]
    else:
        crops, labels, sources = synthetic(faces, args.per_image, args.seed, args.bona_blur)
        features = crop_features(crops)
        patch_x, patch_y = patch_training_set(crops, labels, seed=args.seed)
        patch_rows = np.repeat(np.arange(len(crops)), 8)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, labels=np.array(labels), sources=np.array(sources), patch_x=patch_x,
                 patch_y=patch_y, patch_rows=patch_rows,
                 **{f"f:{g}": x for g, x in features.items()})  # fmt: skip
    is_held = np.array([identities[s] in held for s in sources])
    train = ~is_held
    if args.groups:
        features = {g: features[g] for g in args.groups}
    feats_train = {g: x[train] for g, x in features.items()}
    y = np.array(labels)
    src = np.array(sources)
    keep = train[patch_rows]
    patches = (patch_x[keep], patch_y[keep])
    model = fit_model(feats_train, y[train].tolist(), src[train].tolist(), patches=patches,
                      seed=args.seed, l2=args.l2)  # fmt: skip
    held_features = {g: x[is_held] for g, x in features.items()}
    live = model.live_probability(held_features)
    y_held = y[is_held]
    bona = live[y_held == BONA_FIDE]
    attacks = live[y_held != BONA_FIDE]
    eer, threshold = equal_error_rate(bona, attacks)
    validation = {
        "identities_held_out": sorted(held),
        "auc": roc_auc(bona, attacks),
        "eer": eer,
        "per_species_auc": {s: roc_auc(bona, live[y_held == s]) for s in SPECIES if s != BONA_FIDE},
        "per_group_auc": {
            g: roc_auc(p[y_held == BONA_FIDE, 0], p[y_held != BONA_FIDE, 0])
            for g, p in model.group_proba(held_features).items()
        },
    }
    attack_col = model.patch.classes_.index("attack") if model.patch is not None else 1
    held_patches = is_held[patch_rows]
    if model.patch is not None:
        p_patch = model.patch.predict_proba(patch_x[held_patches])[:, attack_col]
        y_patch = patch_y[held_patches]
        validation["patch_auc"] = roc_auc(p_patch[y_patch], p_patch[~y_patch])
        validation["localisation"] = _localisation(model, faces, identities, held, args.seed)
    command = f"python scripts/fit_pad_synthetic.py --per-image {args.per_image} --seed {args.seed}"
    model = model.with_threshold(
        float(threshold),
        **provenance(
            script=command,
            data="synthetic attacks (facescope.pad.synth) of aligned_celebrities + portraits",
            split=f"identities {sorted(held)} held out (threshold and metrics); the rest fit",
            seed=args.seed,
            metrics=validation,
            created=str(model.meta["created"]),
        ),
        threshold_source="EER point on synthetic attacks of held-out identities",
        calibrated_on_real=False,
        per_image=args.per_image,
        bona_blur=args.bona_blur,
    )
    model.save(args.out)
    console.print_json(json.dumps({"threshold": threshold, **validation}))
    console.print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
