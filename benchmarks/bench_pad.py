"""Presentation-attack detection on the real samples, separately from synthetic data.

Real bona fide: ``antispoof/image_T1.jpg``, frames of ``antispoof/live_video.webm``
and of the three live talking-head clips in ``video/``. Real attacks:
``antispoof/image_F1.jpg`` (a printed poster), ``image_F2.jpg`` (a tablet
screen) and frames of ``replay_attack_video.webm`` (a phone replay of the live
video). Reports ISO/IEC 30107-3 metrics (APCER per species, BPCER, ACER at the
model's threshold, BPCER at APCER 5%), threshold-free AUC and EER, per image cue
group, for the FaceBagNet CNN when installed, and after ``pad calibrate`` on
bona fide captures of another camera; writes an HTML report.

    python benchmarks/bench_pad.py [--model src/facescope/pad/pad_model.json] [--frames 40] \\
        [--report out/pad] [--json out/pad/metrics.json]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from facescope.evaluate.figures import score_figure
from facescope.evaluate.metrics import pad_metrics, roc_auc
from facescope.pad.face import face_crop
from facescope.pad.model import load_model, threshold_at_bpcer
from facescope.pad.presentation import video_crops
from facescope.pad.train import crop_features, train_from_crops
from facescope.report.html import Section, percent, table, write_report

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("FACESCOPE_TESTDATA", ROOT / "../shared/testdata"))


def real_set(frames: int, cache: Path) -> dict[str, np.ndarray]:
    """Crops and labels of the real samples (cached as .npz under out/)."""
    if cache.is_file():
        data = np.load(cache, allow_pickle=False)
        return {k: data[k] for k in data.files}
    spoof = TESTDATA / "antispoof"
    crops, species, source = [], [], []

    def add(items, kind, name):
        crops.extend(items)
        species.extend([kind] * len(items))
        source.extend([name] * len(items))

    for name, kind in (("image_T1.jpg", "bona_fide"), ("image_F1.jpg", "print"),
                       ("image_F2.jpg", "replay")):  # fmt: skip
        add([face_crop(spoof / name)[0]], kind, name)
    add(video_crops(spoof / "live_video.webm", frames=frames, max_seconds=60)[0], "bona_fide",
        "live_video")  # fmt: skip
    add(video_crops(spoof / "replay_attack_video.webm", frames=frames, max_seconds=60)[0],
        "replay", "replay_video")  # fmt: skip
    for clip in sorted((TESTDATA / "video").glob("*.mp4")):
        add(video_crops(clip, frames=frames // 2, max_seconds=60)[0], "bona_fide", clip.stem)
    out = {"crops": np.stack(crops), "species": np.array(species), "source": np.array(source)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, **out)
    return out


def _row(name: str, scores: np.ndarray, species: np.ndarray, threshold: float) -> dict:
    m = pad_metrics(scores, species != "bona_fide", species, threshold=threshold)
    return {
        "scorer": name,
        "auc": m.auc,
        "eer": m.eer,
        "threshold": threshold,
        "apcer": m.apcer_per_species,
        "bpcer": m.bpcer,
        "acer": m.acer,
        "bpcer_at_apcer5": m.bpcer_at_apcer[0.05],
        "n": {"bona_fide": m.n_bona_fide, **m.n_attacks_per_species},
        "auc_per_species": {
            s: roc_auc(scores[species == "bona_fide"], scores[species == s])
            for s in sorted(set(species.tolist()) - {"bona_fide"})
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--cache", type=Path, default=ROOT / "out/pad/real_crops.npz")
    parser.add_argument("--report", type=Path, default=ROOT / "out/pad")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    console = Console()
    if not (TESTDATA / "antispoof/labels.csv").is_file():
        console.print(f"[yellow]{TESTDATA / 'antispoof'} not found: skipped[/]")
        return
    model = load_model(args.model)
    data = real_set(args.frames, args.cache)
    crops, species, source = data["crops"], data["species"], data["source"]
    features = crop_features(list(crops))
    live = model.live_probability(features)
    session = np.isin(source, ["live_video", "replay_video"])
    rows = [
        _row("shipped fusion, all real samples", live, species, model.threshold),
        _row("shipped fusion, webcam session (live video vs its replay)", live[session],
             species[session], model.threshold),
    ]  # fmt: skip
    for group, p in model.group_proba(features).items():
        rows.append(_row(f"cue {group}, all real samples", p[:, 0], species, 0.5))
    try:
        from facescope.pad.cnn import available, shared_facebagnet
    except ImportError:
        available = None  # type: ignore[assignment]
    if available is not None and available():
        cnn = shared_facebagnet().live_scores(list(crops))
        rows.append(_row("FaceBagNet CNN (eval mode), all real samples", np.asarray(cnn),
                         species, 0.5))  # fmt: skip
    # pad calibrate: bona fide captures of other cameras (talking-head clips) set the threshold
    other = np.isin(source, ["talking_head_1", "talking_head_2", "talking_head_3"])
    calibrated = threshold_at_bpcer(live[other], 0.05)
    rows.append(_row("shipped fusion + pad calibrate on other cameras (BPCER 5%)", live[~other],
                     species[~other], calibrated))  # fmt: skip
    # pad train: the first half (in time) of the session's live and replay frames
    first = np.zeros(len(live), bool)
    for name in ("live_video", "replay_video"):
        idx = np.flatnonzero(source == name)
        first[idx[: len(idx) // 2]] = True
    bona_idx = np.flatnonzero(first & (source == "live_video"))
    replay_idx = np.flatnonzero(first & (source == "replay_video"))
    trained = train_from_crops(
        [crops[i] for i in bona_idx], ["live_video"] * len(bona_idx),
        [("replay", [crops[i] for i in replay_idx], ["replay_video"] * len(replay_idx))],
        seed=0,
    )  # fmt: skip
    later = session & ~first
    live_trained = trained.live_probability({g: x[later] for g, x in features.items()})
    rows.append(_row("pad train on the session's first half; its second half", live_trained,
                     species[later], trained.threshold))  # fmt: skip
    rest = ~first
    rows.append(_row("pad train on the session's first half; all other real samples",
                     trained.live_probability({g: x[rest] for g, x in features.items()}),
                     species[rest], trained.threshold))  # fmt: skip
    out = Table(title="PAD on real samples (score = p(live))")
    for column in ("scorer", "AUC", "EER", "threshold", "APCER print", "APCER replay", "BPCER",
                   "ACER", "BPCER@APCER5%"):  # fmt: skip
        out.add_column(column)
    for r in rows:
        out.add_row(r["scorer"], f"{r['auc']:.3f}", percent(r["eer"], 1), f"{r['threshold']:.3f}",
                    percent(r["apcer"].get("print"), 1), percent(r["apcer"].get("replay"), 1),
                    percent(r["bpcer"], 1), percent(r["acer"], 1),
                    percent(r["bpcer_at_apcer5"], 1))  # fmt: skip
    console.print(out)
    counts = {s: int((species == s).sum()) for s in sorted(set(species.tolist()))}
    per_source = {s: int((source == s).sum()) for s in sorted(set(source.tolist()))}
    console.print(f"samples: {counts}; per source: {per_source}")
    means = {s: float(live[source == s].mean()) for s in sorted(set(source.tolist()))}
    console.print({"mean p(live) per source": {k: round(v, 3) for k, v in means.items()}})
    metrics = {"rows": rows, "counts": counts, "mean_live_per_source": means,
               "model_meta": {k: v for k, v in model.meta.items()}}  # fmt: skip
    headers = ["scorer", "AUC", "EER", "threshold", "APCER print", "APCER replay", "BPCER", "ACER",
               "BPCER @ APCER 5%"]  # fmt: skip
    body = [[r["scorer"], r["auc"], percent(r["eer"], 1), r["threshold"],
             percent(r["apcer"].get("print"), 1), percent(r["apcer"].get("replay"), 1),
             percent(r["bpcer"], 1), percent(r["acer"], 1), percent(r["bpcer_at_apcer5"], 1)]
            for r in rows]  # fmt: skip
    attack = species != "bona_fide"
    figs = [
        ("shipped fusion: p(live) of real bona fide vs attacks",
         score_figure(live[~attack], live[attack], model.threshold,
                      "shipped fusion on real samples", ("bona fide", "attack"))),
        ("after pad train: p(live) on the session's second half",
         score_figure(live_trained[species[later] == "bona_fide"],
                      live_trained[species[later] != "bona_fide"], trained.threshold,
                      "pad train on the first half", ("bona fide", "attack"))),
    ]  # fmt: skip
    section = Section(
        "ISO/IEC 30107-3 on the real samples",
        paragraphs=[f"Presentations: {counts} (video frames count one each)."],
        tables=[table(headers, body)],
        figures=figs,
    )
    write_report(args.report, "Presentation-attack detection: real samples", [section], metrics)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(metrics, indent=1, default=float))


if __name__ == "__main__":
    main()
