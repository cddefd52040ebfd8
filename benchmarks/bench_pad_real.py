"""PAD on real print attacks: the NUAA training split, leave-one-subject-out (issue 21).

Data (``../shared/testdata/antispoof``, read, never copied): ``nuaa_train/``, the
NUAA Photograph Imposter Database's training split (subjects 0001-0009, every
third frame, 581 live webcam frames and 583 printed-photo attacks), plus the
shared live/replay webcam pair and the three photos. Each frame is reduced to
the largest face's aligned 112x112 crop (:func:`facescope.pad.face.face_crop`)
and to the cue features the shipped fusion reads
(:func:`facescope.pad.train.crop_features`), cached in ``out/pad_real/``.

Reports ISO/IEC 30107-3 figures (score = p(live)): the shipped model at its
shipped threshold, overall and per subject; each cue group's AUC on real prints
next to its synthetic held-out AUC (which groups are inverted); and the same
fusion (:func:`facescope.pad.train.fit_model`) trained leave-one-subject-out on
(a) the real prints only and (b) the real prints plus the synthetic training
set of the shipped model (``out/pad/train_features_p2_s0_b0.npz``, made by
``scripts/fit_pad.py``), with the threshold chosen at the EER point of
subject-grouped inner folds of each training part (never on the held-out
subject). Two fold families: leave one subject out (9 folds), and cross-session
(18 folds: the held-out subject's session k scored by a model of the other
subjects' other session). The fold models also score the replay pair's frames
and the photos. ``--explore`` adds exploratory group subsets. The shipped model
is not changed. Report: ``docs/pad/real-attacks.md``.

    python benchmarks/bench_pad_real.py [--json out/bench_pad_real.json] [--frames 24] \\
        [--inner-folds 4] [--real-weight 3] [--no-synthetic] [--explore]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from facescope.errors import NoFaceError
from facescope.evaluate.metrics import pad_metrics, roc_auc
from facescope.match.metrics import equal_error_rate
from facescope.pad.face import face_crop
from facescope.pad.model import BONA_FIDE, PADModel, fit_head, load_model
from facescope.pad.train import crop_features, fit_model

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("FACESCOPE_TESTDATA", ROOT / "../shared/testdata"))
SPOOF = TESTDATA / "antispoof"
NUAA = SPOOF / "nuaa_train"
CACHE = ROOT / "out/pad_real"
SYNTH_CACHE = ROOT / "out/pad/train_features_p2_s0_b0.npz"
#: The model shipped before issue 21 (trained on synthetic attacks), kept for comparison.
BEFORE = ROOT / "tests/data/pad_model_before_issue21.json"
#: The cue groups of the shipped recipe (scripts/fit_pad.py).
SHIPPED_GROUPS = ["stem"]
Features = dict[str, np.ndarray]
#: The synthetic training set (features, species, source), or None.
SyntheticSet = tuple[Features, np.ndarray, np.ndarray] | None


def _save(target: Path, features: Features, /, **arrays: np.ndarray) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez(target, **arrays, **{f"f:{g}": x for g, x in features.items()})


def _load(path: Path) -> tuple[Features, dict[str, np.ndarray]]:
    data = np.load(path, allow_pickle=False)
    features = {k[2:]: data[k] for k in data.files if k.startswith("f:")}
    return features, {k: data[k] for k in data.files if not k.startswith("f:")}


def nuaa_features(console: Console) -> tuple[Features, dict[str, np.ndarray]]:
    """Cue features of every nuaa_train frame with a face (cached), and its labels."""
    path = CACHE / "nuaa_train_features_v2.npz"  # v2: with the stem group
    if path.is_file():
        return _load(path)
    with open(NUAA / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    crops, kept, missed = [], [], []
    start = time.perf_counter()
    for k, row in enumerate(rows):
        try:
            crops.append(face_crop(NUAA / row["path"])[0])
            kept.append(row)
        except NoFaceError:
            missed.append(row["path"])
        if (k + 1) % 200 == 0:
            console.print(f"  cropped {k + 1}/{len(rows)} ({time.perf_counter() - start:.0f} s)")
    features = crop_features(crops)
    meta = {
        "path": np.array([r["path"] for r in kept]),
        "species": np.array([BONA_FIDE if r["label"] == "live" else "print" for r in kept]),
        "subject": np.array([r["subject_id"] for r in kept]),
        "session": np.array([r["session"] for r in kept]),
        "missed": np.array(missed, dtype=str),
    }
    _save(path, features, **meta)
    return features, meta


def pair_features(frames: int) -> tuple[Features, dict[str, np.ndarray]]:
    """Cue features of the live/replay webcam pair's frames and the three photos (cached)."""
    from facescope.pad.presentation import video_crops

    path = CACHE / f"pair_features_v2_f{frames}.npz"
    if path.is_file():
        return _load(path)
    crops, species, source = [], [], []
    for name, kind in (("live_video.webm", BONA_FIDE), ("replay_attack_video.webm", "replay")):
        items = video_crops(SPOOF / name, frames=frames, max_seconds=60)[0]
        crops += items
        species += [kind] * len(items)
        source += [name] * len(items)
    for name, kind in (("image_T1.jpg", BONA_FIDE), ("image_F1.jpg", "print"),
                       ("image_F2.jpg", "replay")):  # fmt: skip
        crops.append(face_crop(SPOOF / name)[0])
        species.append(kind)
        source.append(name)
    features = crop_features(crops)
    _save(path, features, species=np.array(species), source=np.array(source))
    return features, {"species": np.array(species), "source": np.array(source)}


def synthetic_training_set() -> tuple[Features, np.ndarray, np.ndarray] | None:
    """The shipped model's synthetic training crops (features, species, source), if cached.

    ``scripts/fit_pad_synthetic.py`` caches the features of every synthetic crop; the shipped model
    trains on all but the last three celebrities (its threshold identities), as here.
    """
    if not SYNTH_CACHE.is_file():
        return None
    features, meta = _load(SYNTH_CACHE)
    faces = TESTDATA / "faces/aligned_celebrities/labels.csv"
    with open(faces, newline="") as handle:
        identities = [row["identity"] for row in csv.DictReader(handle)]
    held = set(sorted(set(identities))[-3:])
    sources = meta["sources"].astype(np.int64)
    train = np.array([s >= len(identities) or identities[s] not in held for s in sources])
    return {g: x[train] for g, x in features.items()}, meta["labels"][train], sources[train]


def metrics(scores: np.ndarray, species: np.ndarray, threshold: float) -> dict:
    """ISO/IEC 30107-3 figures of p(live) scores at `threshold`."""
    m = pad_metrics(scores, species != BONA_FIDE, species, threshold=threshold)
    return {
        "auc": m.auc,
        "eer": m.eer,
        "threshold": float(threshold),
        "apcer": m.apcer_max,
        "apcer_per_species": m.apcer_per_species,
        "bpcer": m.bpcer,
        "acer": m.acer,
        "bpcer_at_apcer5": m.bpcer_at_apcer[0.05],
        "n_bona_fide": m.n_bona_fide,
        "n_attacks": m.n_attacks_per_species,
    }


def at_thresholds(scores: np.ndarray, species: np.ndarray, thresholds: np.ndarray) -> dict:
    """APCER, BPCER, ACER when each presentation has its own (its fold's) threshold."""
    live = scores >= thresholds
    attack = species != BONA_FIDE
    apcer = {s: float(live[species == s].mean()) for s in sorted(set(species[attack].tolist()))}
    bpcer = float((~live[~attack]).mean())
    worst = max(apcer.values())
    return {"apcer": worst, "apcer_per_species": apcer, "bpcer": bpcer, "acer": (worst + bpcer) / 2}


def fused_contribution(model: PADModel, features: Features) -> dict[str, np.ndarray]:
    """Each group's additive share of the fused live-vs-attack log-odds.

    The fusion's bona fide logit minus the mean attack logit is linear in the stacked
    log-probabilities; a group's share is the sum over its inputs (the fusion's own sign
    included), so its AUC says whether the shipped model uses the group the right way.
    """
    per_group = model.group_proba(features)
    fusion = model.fusion
    classes = list(model.classes)
    bona = classes.index(BONA_FIDE)
    # standardised inputs times coefficients: the head's decision function is affine
    names = list(model.groups)
    stacked = np.hstack([np.log(np.asarray(per_group[g]) + 1e-6) for g in names])
    z = (stacked - np.asarray(fusion.mean_)) / np.asarray(fusion.scale_)
    coef = np.atleast_2d(np.asarray(fusion.coef_))
    if coef.shape[0] == 1:  # binary: one logit for the second class
        direction = -coef[0] if bona == 0 else coef[0]
    else:
        others = [k for k in range(len(classes)) if k != bona]
        direction = coef[bona] - coef[others].mean(axis=0)
    width = len(classes)
    return {
        g: z[:, i * width : (i + 1) * width] @ direction[i * width : (i + 1) * width]
        for i, g in enumerate(names)
    }


def _take(features: Features, mask: np.ndarray) -> Features:
    return {g: x[mask] for g, x in features.items()}


def _join(a: Features, b: Features | None) -> Features:
    return a if b is None else {g: np.concatenate([a[g], b[g]]) for g in a}


def _fit(
    features: Features,
    species: np.ndarray,
    subject_ids: np.ndarray,
    synthetic: tuple[Features, np.ndarray, np.ndarray] | None,
    real_weight: float,
) -> PADModel:
    """The shipped fusion recipe on real frames (+ the synthetic set); CV groups = subjects."""
    sources = subject_ids.astype(np.int64)
    weight = np.full(len(species), real_weight)
    labels = species
    if synthetic is not None:
        x_syn, y_syn, s_syn = synthetic
        features = _join(features, {g: x_syn[g] for g in features})
        labels = np.concatenate([species, y_syn])
        sources = np.concatenate([sources, 1000 + s_syn])  # source faces, never a subject
        weight = np.concatenate([weight, np.ones(len(y_syn))])
    return fit_model(features, labels.tolist(), sources.tolist(), sample_weight=weight, seed=0)


def subject_folds(
    subject: np.ndarray, session: np.ndarray, *, cross_session: bool
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, test, train) masks: leave one subject out; with `cross_session`, the held-out
    subject's session k is tested by a model of the other subjects' other sessions."""
    folds = []
    for person in sorted(set(subject.tolist())):
        if not cross_session:
            folds.append((person, subject == person, subject != person))
            continue
        for k in sorted(set(session[subject == person].tolist())):
            test = (subject == person) & (session == k)
            folds.append((f"{person}/{k}", test, (subject != person) & (session != k)))
    return folds


def loso(
    features: Features,
    species: np.ndarray,
    subject: np.ndarray,
    pair: Features,
    folds: list[tuple[str, np.ndarray, np.ndarray]],
    *,
    synthetic: tuple[Features, np.ndarray, np.ndarray] | None,
    inner_folds: int,
    real_weight: float,
    console: Console,
) -> dict[str, np.ndarray]:
    """Out-of-fold scores, nested thresholds and the pair's scores per fold.

    Each fold's threshold is the EER point of out-of-fold scores of its training part,
    from `inner_folds` folds grouped by subject: the held-out frames never choose it.
    """
    ids = np.array([int(s) for s in subject])
    scores = np.full(len(ids), np.nan)
    threshold = np.full(len(ids), np.nan)
    pair_scores = np.zeros((len(folds), len(next(iter(pair.values())))))
    fold_thresholds = np.zeros(len(folds))
    for k, (name, test, train) in enumerate(folds):
        start = time.perf_counter()
        model = _fit(_take(features, train), species[train], ids[train], synthetic, real_weight)
        scores[test] = model.live_probability(_take(features, test))
        pair_scores[k] = model.live_probability(pair)
        inner = sorted(set(ids[train].tolist()))
        inner_scores = np.zeros(len(ids))
        for f in range(inner_folds):
            out = train & np.isin(ids, inner[f::inner_folds])
            fit_on = train & ~out
            sub = _fit(_take(features, fit_on), species[fit_on], ids[fit_on], synthetic,
                       real_weight)  # fmt: skip
            inner_scores[out] = sub.live_probability(_take(features, out))
        y = species[train]
        _, t = equal_error_rate(inner_scores[train][y == BONA_FIDE],
                                inner_scores[train][y != BONA_FIDE])  # fmt: skip
        fold_thresholds[k] = t
        threshold[test] = t
        console.print(f"  fold {name}: threshold {t:.3f} ({time.perf_counter() - start:.0f} s)")
    if np.isnan(scores).any():
        raise RuntimeError("the folds left frames unscored")
    return {"scores": scores, "threshold": threshold, "pair_scores": pair_scores,
            "fold_thresholds": fold_thresholds}  # fmt: skip


def group_loso(
    features: Features, species: np.ndarray, folds: list[tuple[str, np.ndarray, np.ndarray]]
) -> dict[str, float]:
    """Pooled out-of-fold AUC of each cue group's own head refitted on real prints."""
    classes = (BONA_FIDE, "print")
    result = {}
    for g, x in features.items():
        oof = np.zeros(len(species))
        for _, test, train in folds:
            head = fit_head(x[train], species[train].tolist(), classes=classes)
            oof[test] = head.predict_proba(x[test])[:, 0]
        result[g] = roc_auc(oof[species == BONA_FIDE], oof[species != BONA_FIDE])
    return result


def explore(
    features: Features, species: np.ndarray, subject: np.ndarray, session: np.ndarray
) -> dict[str, dict]:
    """Exploratory variants on the cross-session folds, real prints only, threshold 0.5.

    The group subsets were picked after seeing the per-group table, so their figures are
    optimistic: they say what to test with nested selection, not what a model would reach.
    """
    ids = np.array([int(s) for s in subject])
    folds = subject_folds(subject, session, cross_session=True)
    variants: dict[str, tuple[list[str], bool]] = {
        "all groups, stacking folds by subject (as shipped)": (list(features), False),
        "all groups, stacking on in-sample group outputs": (list(features), True),
        "colour only": (["colour"], False),
        "colour + specular + sharpness": (["colour", "specular", "sharpness"], False),
        "colour + specular + sharpness + frequency": (
            ["colour", "specular", "sharpness", "frequency"],
            False,
        ),
    }
    out = {}
    for name, (groups, in_sample) in variants.items():
        scores = np.zeros(len(species))
        for _, test, train in folds:
            chosen = {g: features[g][train] for g in groups}
            # one source: no out-of-fold split, so the fusion stacks in-sample outputs
            sources = np.zeros(int(train.sum()), np.int64) if in_sample else ids[train]
            model = fit_model(chosen, species[train].tolist(), sources.tolist(), seed=0)
            scores[test] = model.live_probability({g: features[g][test] for g in groups})
        out[name] = metrics(scores, species, 0.5)
    return out


def _pct(v: float | None) -> str:
    return "" if v is None else f"{100 * v:.1f}%"


def _md(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


_ISO = ["AUC", "EER", "threshold", "APCER", "BPCER", "ACER", "BPCER @ APCER 5%"]


def _iso(m: dict) -> list[str]:
    return [f"{m['auc']:.3f}", _pct(m["eer"]), f"{m['threshold']:.3f}", _pct(m["apcer"]),
            _pct(m["bpcer"]), _pct(m["acer"]), _pct(m["bpcer_at_apcer5"])]  # fmt: skip


def _pair_summary(scores: np.ndarray, meta: dict[str, np.ndarray], threshold: float) -> dict:
    """Mean p(live) per source and the webcam pair's AUC / errors at `threshold`."""
    source, species = meta["source"], meta["species"]
    video = np.char.endswith(source.astype(str), ".webm")
    out: dict = {
        "mean_live": {s: float(scores[source == s].mean()) for s in sorted(set(source.tolist()))}
    }
    bona, replay = scores[video & (species == BONA_FIDE)], scores[video & (species == "replay")]
    out["video_auc"] = roc_auc(bona, replay)
    out["video_bpcer"] = float((bona < threshold).mean())
    out["video_apcer"] = float((replay >= threshold).mean())
    return out


def shipped_on_pair(model: PADModel, pair: Features, meta: dict[str, np.ndarray]) -> dict:
    """The shipped model's decisions (live / uncertain / attack) per frame and per file.

    A video's decision averages its frames' fused logits, as :func:`facescope.pad.check`
    does; the uncertain band applies (the model is not calibrated for that webcam).
    """
    band = model.uncertain_band or (model.threshold, model.threshold)
    logits = model.fused_logits({g: pair[g] for g in model.groups})
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    live = (probs / probs.sum(axis=1, keepdims=True))[:, model.classes.index(BONA_FIDE)]

    def decide(p: float) -> str:
        if band[0] <= p < band[1]:
            return "uncertain"
        return "live" if p >= model.threshold else "attack"

    out = {}
    for source in sorted(set(meta["source"].tolist())):
        pick = meta["source"] == source
        mean_logit = logits[pick].mean(axis=0)
        q = np.exp(mean_logit - mean_logit.max())
        p_file = float((q / q.sum())[model.classes.index(BONA_FIDE)])
        frames = [decide(float(p)) for p in live[pick]]
        out[source] = {
            "label": str(meta["species"][pick][0]),
            "mean_live": float(live[pick].mean()),
            "file_live": p_file,
            "decision": decide(p_file),
            "frames": {k: frames.count(k) for k in ("live", "uncertain", "attack")},
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--frames", type=int, default=24, help="frames per pair video")
    parser.add_argument("--inner-folds", type=int, default=4, help="nested threshold folds")
    parser.add_argument("--real-weight", type=float, default=3.0,
                        help="weight of a real frame when synthetic crops are added")  # fmt: skip
    parser.add_argument("--no-synthetic", action="store_true", help="skip variant (b)")
    parser.add_argument("--explore", action="store_true", help="also exploratory variants")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    console = Console()
    if not (NUAA / "labels.csv").is_file():
        console.print(f"[yellow]{NUAA} not found: skipped[/]")
        return
    model = load_model(args.model)
    before = load_model(BEFORE)
    features, meta = nuaa_features(console)
    species, subject = meta["species"], meta["subject"]
    pair, pair_meta = pair_features(args.frames)
    counts = {s: int((species == s).sum()) for s in (BONA_FIDE, "print")}
    console.print(f"nuaa_train frames with a face: {counts}; no face: {len(meta['missed'])}")
    pair_sources = sorted(set(pair_meta["source"].tolist()))
    pair_counts = {s: int((pair_meta["source"] == s).sum()) for s in pair_sources}
    result: dict = {"counts": counts, "missed": meta["missed"].tolist(), "pair_counts": pair_counts}
    hand_made = [g for g in features if g not in SHIPPED_GROUPS]

    # 1. the model shipped before issue 21 at its threshold (nuaa_train is unseen by it)
    live = before.live_probability(features)
    shipped = {"all": metrics(live, species, before.threshold)}
    for person in sorted(set(subject.tolist())):
        pick = subject == person
        shipped[person] = metrics(live[pick], species[pick], before.threshold)
    result["before"] = shipped
    result["before_pair"] = _pair_summary(before.live_probability(pair), pair_meta,
                                          before.threshold)  # fmt: skip
    console.print("\n### Model shipped before issue 21 on nuaa_train (prints), its threshold\n")
    rows = [["all", *_iso(shipped["all"])]]
    rows += [[p, *_iso(m)] for p, m in shipped.items() if p != "all"]
    console.print(_md(["subject", *_ISO], rows))

    # 1b. the shipped model on the pair (never trained on): frames and whole videos
    result["shipped_pair"] = shipped_on_pair(model, pair, pair_meta)
    console.print("\n### Shipped model on the replay pair and photos (never trained on)\n")
    console.print(_md(["source", "mean p(live)", "frames live / uncertain / attack",
                       "whole-file decision"],
                      [[k, f"{v['mean_live']:.3f}", "{live} / {uncertain} / {attack}".format(
                          **v["frames"]), v["decision"]]
                       for k, v in result["shipped_pair"].items()]))  # fmt: skip

    # 2. cue groups: shipped group heads, their signed share of the fusion, refitted heads
    model_before = before
    synthetic_auc = model_before.meta.get("metrics", {}).get("per_group_auc", {})
    group_p = model_before.group_proba({g: features[g] for g in hand_made})
    shares = fused_contribution(model_before, {g: features[g] for g in hand_made})
    session = meta["session"]
    refit = group_loso(features, species, subject_folds(subject, session, cross_session=False))
    refit_x = group_loso(features, species, subject_folds(subject, session, cross_session=True))
    bona = species == BONA_FIDE
    groups = {}
    for g in model_before.groups:
        head_auc = roc_auc(group_p[g][bona, 0], group_p[g][~bona, 0])
        share_auc = roc_auc(shares[g][bona], shares[g][~bona])
        groups[g] = {"synthetic_auc": synthetic_auc.get(g), "real_auc": head_auc,
                     "fusion_share_auc": share_auc, "real_refit_loso_auc": refit[g],
                     "real_refit_cross_session_auc": refit_x[g],
                     "inverted_head": head_auc < 0.5,
                     "inverted_in_fusion": share_auc < 0.5}  # fmt: skip
    for g in SHIPPED_GROUPS:  # learned cues: no head of the earlier model to compare
        groups[g] = {"synthetic_auc": None, "real_auc": None, "fusion_share_auc": None,
                     "real_refit_loso_auc": refit[g],
                     "real_refit_cross_session_auc": refit_x[g]}  # fmt: skip
    result["groups"] = groups
    console.print("\n### Cue groups on nuaa_train\n")
    console.print(_md(
        ["group", "synthetic held-out AUC", "real AUC (shipped head)",
         "real AUC (its signed share of the fusion)", "real AUC (head refit on real, LOSO)",
         "the same, cross-session LOSO"],
        [[g, f"{v['synthetic_auc']:.3f}" if v["synthetic_auc"] is not None else "",
          "" if v["real_auc"] is None else f"{v['real_auc']:.3f}",
          "" if v["fusion_share_auc"] is None else f"{v['fusion_share_auc']:.3f}",
          f"{v['real_refit_loso_auc']:.3f}", f"{v['real_refit_cross_session_auc']:.3f}"]
         for g, v in groups.items()],
    ))  # fmt: skip

    # 3. leave-one-subject-out training of the same fusion
    variants: dict[str, tuple[list[str], SyntheticSet]] = {
        "stem only, real only (shipped recipe)": (SHIPPED_GROUPS, None),
        "hand-made groups, real only": (hand_made, None),
    }
    synth = None if args.no_synthetic else synthetic_training_set()
    if synth is not None:
        variants["hand-made groups, real + synthetic"] = (hand_made, synth)
    elif not args.no_synthetic:
        console.print(f"[yellow]{SYNTH_CACHE} missing (run scripts/fit_pad_synthetic.py): "
                      "(b) skipped[/]")  # fmt: skip
    result["loso"] = {}
    table = []
    protocols = {"LOSO": False, "LOSO cross-session": True}
    for protocol, cross in protocols.items():
        folds = subject_folds(subject, session, cross_session=cross)
        for variant, (chosen, extra) in variants.items():
            name = f"{protocol}, {variant}"
            console.print(f"\n{name} ({len(folds)} folds):")
            weight = 1.0 if extra is None else args.real_weight
            fold = loso({g: features[g] for g in chosen}, species, subject,
                        {g: pair[g] for g in chosen}, folds, synthetic=extra,
                        inner_folds=args.inner_folds, real_weight=weight,
                        console=console)  # fmt: skip
            pooled = metrics(fold["scores"], species, 0.5)
            nested = at_thresholds(fold["scores"], species, fold["threshold"])
            per_subject = {
                p: roc_auc(fold["scores"][(subject == p) & bona],
                           fold["scores"][(subject == p) & ~bona])
                for p in sorted(set(subject.tolist()))
            }  # fmt: skip
            pair_mean = fold["pair_scores"].mean(axis=0)
            pair_summary = _pair_summary(pair_mean, pair_meta,
                                         float(np.median(fold["fold_thresholds"])))  # fmt: skip
            result["loso"][name] = {"at_0.5": pooled, "nested": nested, "folds": len(folds),
                                    "fold_thresholds": fold["fold_thresholds"].tolist(),
                                    "per_subject_auc": per_subject, "pair": pair_summary,
                                    "real_weight": weight}  # fmt: skip
            table.append([name, f"{pooled['auc']:.3f}", _pct(pooled["eer"]),
                          _pct(pooled["acer"]), _pct(pooled["bpcer_at_apcer5"]),
                          _pct(nested["apcer"]), _pct(nested["bpcer"]), _pct(nested["acer"]),
                          f"{min(per_subject.values()):.3f}",
                          f"{pair_summary['video_auc']:.3f}"])  # fmt: skip
    console.print("\n### Fusion trained leave-one-subject-out on nuaa_train (pooled out-of-fold)\n")
    console.print(_md(
        ["protocol, training", "AUC", "EER", "ACER @ 0.5", "BPCER @ APCER 5%", "APCER (nested t)",
         "BPCER (nested t)", "ACER (nested t)", "worst subject AUC", "replay pair AUC"],
        table,
    ))  # fmt: skip
    console.print("\n### Replay pair and photos: mean p(live)\n")
    sources = list(result["before_pair"]["mean_live"])
    pair_rows = [["before issue 21", *[f"{result['before_pair']['mean_live'][s]:.3f}"
                                       for s in sources],
                  f"{result['before_pair']['video_auc']:.3f}",
                  _pct(result["before_pair"]["video_bpcer"]),
                  _pct(result["before_pair"]["video_apcer"])]]  # fmt: skip
    for name, v in result["loso"].items():
        pair_rows.append([f"{name} (mean over {v['folds']} folds)",
                          *[f"{v['pair']['mean_live'][s]:.3f}" for s in sources],
                          f"{v['pair']['video_auc']:.3f}", _pct(v["pair"]["video_bpcer"]),
                          _pct(v["pair"]["video_apcer"])])  # fmt: skip
    console.print(_md(["model", *sources, "video AUC", "live video BPCER",
                       "replay video APCER"], pair_rows))  # fmt: skip
    console.print(
        "(BPCER/APCER of the video frames at the shipped threshold, or at the median "
        "of the fold models' nested thresholds, on the folds' mean p(live))"
    )
    if args.explore:
        result["explore"] = explore({g: features[g] for g in hand_made}, species, subject,
                                    session)  # fmt: skip
        console.print("\n### Exploratory (cross-session LOSO, real only, threshold 0.5; "
                      "subsets chosen after seeing the group table: optimistic)\n")  # fmt: skip
        console.print(_md(["variant", "AUC", "EER", "ACER @ 0.5", "BPCER @ APCER 5%"],
                          [[k, f"{v['auc']:.3f}", _pct(v["eer"]), _pct(v["acer"]),
                            _pct(v["bpcer_at_apcer5"])]
                           for k, v in result["explore"].items()]))  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, default=float))
        console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
