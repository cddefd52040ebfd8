"""What weather does to recognition, and what restoration gives back (``facescope eval weather``).

Protocol: every probe crop is degraded (:func:`facescope.weather.degrade`, seeded by its
index) and compared with every *clean* crop of the set, as a probe from an outdoor camera
against a clean enrolment: genuine pairs are the same person's other crops, impostor
pairs everyone else's. For each kind and severity, for the probes as degraded, as
restored by a classical method applied whatever the detectors say (:data:`CLASSICAL`),
and as restored by ``auto`` (only what the degradation detectors find):

* TAR at FMR 1e-3 (threshold from that condition's impostor scores) and EER;
* the false-match rate and TAR at the shipped SFace threshold;
* the mean cosine between a probe's embedding and its clean version's (identity kept);
* PSNR and SSIM to the clean crop, for reference only (they do not predict recognition);
* how often the detectors found the kind, and milliseconds per face.

"clean" runs the same with undegraded probes: ``auto`` there measures what gating costs.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from facescope.errors import WeatherError

#: The false-match rate TAR is read at.
FMR: Final[float] = 1e-3
#: The classical method tried for each kind in the "classical" column.
CLASSICAL: Final[dict[str, str]] = {
    "haze": "dehaze",
    "snow": "dehaze",
    "rain": "dehaze",
    "motion_blur": "deblur",
    "noise": "denoise",
    "low_light": "denoise",
    "jpeg": "denoise",
}
#: Conditions measured only when their part can run: the learned restorer, the
#: weather-adapted SFace on the degraded probe, and on the classically restored one.
OPTIONAL_CONDITIONS: Final[tuple[str, ...]] = ("learned", "adapted", "classical_adapted")
Progress = Callable[[int, int], None]


def _embed(crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    from facescope.pipeline import embed_aligned_crops

    return embed_aligned_crops(crops, "sface").vectors


def _scores(
    probes: npt.NDArray[np.float32], gallery: npt.NDArray[np.float32], ids: npt.NDArray[Any]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    sim = probes @ gallery.T
    same = ids[:, None] == ids[None, :]
    off = ~np.eye(len(ids), dtype=bool)
    return sim[same & off], sim[~same]


def _verification(
    genuine: npt.NDArray[np.float32], impostor: npt.NDArray[np.float32], shipped: float
) -> dict[str, float]:
    from facescope.match.metrics import equal_error_rate, rates_at, threshold_at_fmr

    t = threshold_at_fmr(impostor, FMR)
    eer, _ = equal_error_rate(genuine, impostor)
    fmr_shipped, fnmr_shipped = rates_at(genuine, impostor, shipped)
    return {
        "tar": float((genuine >= t).mean()),
        "eer": float(eer),
        "fmr_at_shipped": fmr_shipped,
        "tar_at_shipped": 1.0 - fnmr_shipped,
    }


def _fidelity(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> tuple[float, float]:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    psnr = [
        min(float(peak_signal_noise_ratio(x, y, data_range=255)), 100.0)  # type: ignore[no-untyped-call]
        if np.any(x != y)
        else 100.0
        for x, y in zip(a, b, strict=True)
    ]
    ssim = [
        float(structural_similarity(x, y, channel_axis=2, data_range=255))  # type: ignore[no-untyped-call]
        for x, y in zip(a, b, strict=True)
    ]
    return float(np.mean(psnr)), float(np.mean(ssim))


def _condition(
    clean: npt.NDArray[np.uint8],
    clean_emb: npt.NDArray[np.float32],
    ids: npt.NDArray[Any],
    probes: npt.NDArray[np.uint8],
    shipped: float,
    emb: npt.NDArray[np.float32] | None = None,
) -> dict[str, float]:
    """The figures of one condition; `emb`: the probes' embeddings when not SFace's own."""
    emb = _embed(probes) if emb is None else emb
    genuine, impostor = _scores(emb, clean_emb, ids)
    out = _verification(genuine, impostor, shipped)
    out["identity_cosine"] = float(np.mean(np.sum(emb * clean_emb, axis=1)))
    out["psnr"], out["ssim"] = _fidelity(probes, clean)
    return out


def recovered_at_loss(
    rows: dict[str, dict[str, Any]], kind: str, loss: float
) -> dict[str, float] | None:
    """Auto's recovery where `kind` costs `loss` TAR points (0-1), between severities.

    Another synthesiser's severity 3 is not ours, but its loss on clean TAR can be matched:
    degraded and auto TAR are interpolated linearly in the loss between the two measured
    severities (clean counts as severity 0) that bracket `loss`. Returns the bracketing
    severities, the interpolated TARs and the share recovered; None when `loss` is
    beyond the heaviest measured severity or the losses do not rise with severity.
    """
    clean = float(rows["clean"]["degraded"]["tar"])
    points = [(0, 0.0, float(rows["clean"]["auto"]["tar"]))]
    severities = sorted(int(k.split("/")[1]) for k in rows if k.startswith(f"{kind}/"))
    for severity in severities:
        row = rows[f"{kind}/{severity}"]
        points.append((severity, clean - float(row["degraded"]["tar"]), float(row["auto"]["tar"])))
    for (s0, l0, a0), (s1, l1, a1) in itertools.pairwise(points):
        if l0 <= loss <= l1 and l1 > l0:
            t = (loss - l0) / (l1 - l0)
            auto = a0 + t * (a1 - a0)
            return {"from_severity": s0, "to_severity": s1, "degraded_tar": clean - loss,
                    "auto_tar": auto, "recovered": (auto - (clean - loss)) / loss}  # fmt: skip
    return None


def bootstrap_recovered(
    embeddings: Mapping[str, npt.NDArray[Any]],
    kind: str,
    loss: float,
    *,
    draws: int = 1000,
    seed: int = 0,
) -> dict[str, float] | None:
    """A person-level bootstrap of :func:`recovered_at_loss`: how sure the recovery is.

    TAR at FMR 1e-3 rests on the few highest impostor scores, and a set of 6-10 people
    gives few of them. Each draw takes as many people as the set has, with replacement,
    and recomputes every condition's TAR (degraded and auto) on the genuine pairs of the
    people drawn and the impostor pairs between different people drawn, then the
    recovery at `loss`. `embeddings`: :attr:`WeatherEvaluation.embeddings` (or its saved
    ``.npz``). Returns the median and the 5th and 95th percentiles of the recovery over
    the draws where it was defined, and that share of draws; None when none was.
    """
    from facescope.match.metrics import threshold_at_fmr

    missing = [k for k in ("identity", "gallery", "clean:degraded", "clean:auto")
               if k not in embeddings]  # fmt: skip
    if missing:
        raise WeatherError(f"the embeddings lack {missing}: save them with save_embeddings")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise WeatherError(f"draws must be a positive int, got {draws!r}")
    ids = np.asarray(embeddings["identity"]).astype(str)
    gallery = np.asarray(embeddings["gallery"], np.float32)
    if not np.all(np.isfinite(gallery)) or len(gallery) != len(ids):
        raise WeatherError("the gallery embeddings must be finite, one per identity")
    people = sorted(set(ids.tolist()))
    members = [np.flatnonzero(ids == p) for p in people]
    measured = [
        k.split(":")[0] for k in embeddings if k.startswith(f"{kind}/") and k.endswith(":auto")
    ]
    keys = ["clean", *sorted(measured, key=lambda k: int(k.split("/")[1]))]
    if len(keys) == 1:
        return None
    sims = {(k, m): np.asarray(embeddings[f"{k}:{m}"], np.float32) @ gallery.T
            for k in keys for m in ("degraded", "auto")}  # fmt: skip
    rng = np.random.default_rng(seed)
    got: list[float] = []
    for _ in range(draws):
        drawn = rng.integers(0, len(people), len(people))
        rows: dict[str, dict[str, Any]] = {}
        for key in keys:
            rows[key] = {}
            for method in ("degraded", "auto"):
                sim = sims[key, method]
                genuine, impostor = [], []
                for a, p in enumerate(drawn):
                    block = sim[np.ix_(members[p], members[p])]
                    genuine.append(block[~np.eye(len(members[p]), dtype=bool)])
                    others = [members[q] for b, q in enumerate(drawn) if b != a and q != p]
                    if others:
                        impostor.append(sim[np.ix_(members[p], np.concatenate(others))].ravel())
                if not impostor:
                    break
                g, i = np.concatenate(genuine), np.concatenate(impostor)
                rows[key][method] = {"tar": float((g >= threshold_at_fmr(i, FMR)).mean())}
        if any(len(r) < 2 for r in rows.values()):
            continue
        found = recovered_at_loss(rows, kind, loss)
        if found is not None:
            got.append(found["recovered"])
    if not got:
        return None
    lo, mid, hi = np.percentile(got, [5, 50, 95])
    return {"median": float(mid), "low": float(lo), "high": float(hi),
            "defined": len(got) / draws}  # fmt: skip


@dataclass
class WeatherEvaluation:
    """Per condition ("clean", "rain/3", ...), the figures of the module docstring."""

    name: str
    crops: int
    people: int
    shipped_threshold: float
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The embeddings behind the rows, for :func:`bootstrap_recovered`: "gallery" (the
    #: clean crops), "identity", and "<condition>:<method>" probes ("degraded", "auto").
    embeddings: dict[str, npt.NDArray[Any]] = field(default_factory=dict, repr=False)

    def save_embeddings(self, path: str | Path) -> Path:
        """Write :attr:`embeddings` as an ``.npz`` (no pickles) and return its path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        arrays = {k: v.astype(str) if k == "identity" else v for k, v in self.embeddings.items()}
        np.savez_compressed(out, **arrays)  # type: ignore[arg-type]
        return out

    @property
    def clean_tar(self) -> float:
        return float(self.rows["clean"]["degraded"]["tar"])

    def recovered(self, key: str) -> float | None:
        """Share of the TAR lost to the weather that ``auto`` gave back (None: nothing lost)."""
        row = self.rows[key]
        lost = self.clean_tar - row["degraded"]["tar"]
        if lost <= 0.005:
            return None
        return float((row["auto"]["tar"] - row["degraded"]["tar"]) / lost)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "crops": self.crops,
            "people": self.people,
            "fmr": FMR,
            "shipped_threshold": self.shipped_threshold,
            "rows": self.rows,
            "recovered_by_auto": {k: self.recovered(k) for k in self.rows if k != "clean"},
        }

    def markdown(self) -> str:
        """The summary table (TAR @ FMR 1e-3), as printed by the benchmark."""
        clean = self.rows["clean"]
        rows = [row for key, row in self.rows.items() if key != "clean"]
        optional = [c for c in OPTIONAL_CONDITIONS if any(c in row for row in rows)]
        on_clean = "".join(f", {c} on clean {clean[c]['tar']:.3f}" for c in optional if c in clean)
        lines = [
            f"{self.name}: {self.crops} probe crops of {self.people} people; clean TAR "
            f"{self.clean_tar:.3f}, auto on clean {clean['auto']['tar']:.3f} "
            f"(touched {clean['auto_touched']:.0%}){on_clean}",
            "",
            "| kind/severity | degraded | classical | "
            + "".join(f"{c.replace('_', ' + ')} | " for c in optional)
            + "auto | recovered by auto | detected | "
            "FMR @ shipped (degraded / auto) | identity cos degraded / auto | "
            "PSNR degraded / auto |",
            "|" + " --- |" * (9 + len(optional)),
        ]
        for key, row in self.rows.items():
            if key == "clean":
                continue
            d, a, c = row["degraded"], row["auto"], row.get("classical")
            back = self.recovered(key)
            extra = "".join(f"{row[o]['tar']:.3f} | " if o in row else " | " for o in optional)
            lines.append(
                f"| {key} | {d['tar']:.3f} | {'' if c is None else format(c['tar'], '.3f')} | "
                f"{extra}{a['tar']:.3f} | {'' if back is None else format(back, '+.0%')} | "
                f"{row['detected']:.0%} | {d['fmr_at_shipped']:.2%} / {a['fmr_at_shipped']:.2%} | "
                f"{d['identity_cosine']:.3f} / {a['identity_cosine']:.3f} | "
                f"{d['psnr']:.1f} / {a['psnr']:.1f} |"
            )
        return "\n".join(lines)


def evaluate_weather(
    crops: npt.NDArray[np.uint8],
    identities: Sequence[str] | npt.NDArray[Any],
    *,
    kinds: Sequence[str] | None = None,
    severities: Sequence[int] = (1, 3, 5),
    name: str = "dataset",
    progress: Progress | None = None,
) -> WeatherEvaluation:
    """Recognition under each kind and severity of weather, with and without restoration.

    `crops`: (n, 112, 112, 3) aligned RGB face crops; `identities`: who each one is (at
    least two people, and some with two crops or more).
    """
    from facescope.match.thresholds import load_calibration
    from facescope.pipeline import adapted_ok, embed_restored
    from facescope.restoration.auto import learned_ready, restore_image
    from facescope.restoration.detectors import shipped_detectors
    from facescope.weather.synth import KINDS, degrade

    chosen = list(KINDS if kinds is None else kinds)
    unknown = [k for k in chosen if k not in KINDS]
    if unknown:
        raise WeatherError(f"unknown weather kind(s) {unknown}; known: {', '.join(KINDS)}")
    clean = np.asarray(crops)
    if clean.ndim != 4 or clean.shape[1:] != (112, 112, 3) or clean.dtype != np.uint8:
        raise WeatherError(f"crops must be (n, 112, 112, 3) uint8, got {clean.shape} {clean.dtype}")
    ids = np.asarray(identities)
    if len(ids) != len(clean):
        raise WeatherError(f"{len(ids)} identities for {len(clean)} crops")
    if len(set(ids.tolist())) < 2 or len(set(ids.tolist())) == len(ids):
        raise WeatherError("weather evaluation needs at least two people and repeat photos")
    shipped = load_calibration().for_model("sface").threshold(FMR)
    detectors = shipped_detectors()
    clean_emb = _embed(clean)
    result = WeatherEvaluation(name, len(clean), len(set(ids.tolist())), float(shipped))
    total, step = 1 + len(chosen) * len(severities), 0

    with_adapted = adapted_ok("sface")

    def gated(images: npt.NDArray[np.uint8]) -> tuple[list[Any], float, npt.NDArray[np.float32]]:
        start = time.perf_counter()
        done = [restore_image(c, "auto", detectors=detectors, adapted=with_adapted)
                for c in images]  # fmt: skip
        emb = embed_restored(done, "sface").vectors
        return done, 1000 * (time.perf_counter() - start) / len(images), emb

    def network(images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        from facescope.embed.sface_weather import adapted_features
        from facescope.pipeline import normalise

        return normalise(adapted_features(images), "sface").vectors

    with_learned = learned_ready()

    def learned(images: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], float]:
        start = time.perf_counter()
        out = np.stack([restore_image(c, "learned").image for c in images])
        return out, 1000 * (time.perf_counter() - start) / len(images)

    result.embeddings["gallery"] = clean_emb
    result.embeddings["identity"] = ids
    done, ms, emb = gated(clean)
    result.embeddings["clean:degraded"] = clean_emb
    result.embeddings["clean:auto"] = emb
    result.rows["clean"] = {
        "degraded": _condition(clean, clean_emb, ids, clean, shipped),
        "auto": _condition(clean, clean_emb, ids, np.stack([d.image for d in done]), shipped, emb),
        "auto_touched": float(np.mean([bool(d.applied) or d.adapted for d in done])),
        "auto_ms": ms,
    }
    if with_learned:
        fixed, _ = learned(clean)
        result.rows["clean"]["learned"] = _condition(clean, clean_emb, ids, fixed, shipped)
    if with_adapted:
        result.rows["clean"]["adapted"] = _condition(clean, clean_emb, ids, clean, shipped,
                                                     network(clean))  # fmt: skip
    step += 1
    if progress is not None:
        progress(step, total)
    for kind in chosen:
        for severity in severities:
            degraded = np.stack([degrade(c, kind, severity, seed=i) for i, c in enumerate(clean)])
            key = f"{kind}/{severity}"
            probes = result.embeddings[f"{key}:degraded"] = _embed(degraded)
            row: dict[str, Any] = {
                "degraded": _condition(clean, clean_emb, ids, degraded, shipped, probes)
            }
            method = CLASSICAL.get(kind)
            if method is not None:
                start = time.perf_counter()
                fixed = np.stack([restore_image(c, method).image for c in degraded])
                row["classical_ms"] = 1000 * (time.perf_counter() - start) / len(clean)
                row["classical"] = _condition(clean, clean_emb, ids, fixed, shipped)
                row["classical_method"] = method
                if with_adapted:
                    row["classical_adapted"] = _condition(clean, clean_emb, ids, fixed, shipped,
                                                          network(fixed))  # fmt: skip
            if with_learned:
                fixed, row["learned_ms"] = learned(degraded)
                row["learned"] = _condition(clean, clean_emb, ids, fixed, shipped)
            if with_adapted:
                row["adapted"] = _condition(clean, clean_emb, ids, degraded, shipped,
                                            network(degraded))  # fmt: skip
            done, row["auto_ms"], emb = gated(degraded)
            result.embeddings[f"{key}:auto"] = emb
            restored = np.stack([d.image for d in done])
            row["auto"] = _condition(clean, clean_emb, ids, restored, shipped, emb)
            row["detected"] = float(np.mean(
                [kind in (d.assessment.present if d.assessment else ()) for d in done]
            ))  # fmt: skip
            row["auto_applied"] = sorted({s for d in done for s in d.applied}
                                         | ({"adapted"} if any(d.adapted for d in done)
                                            else set()))  # fmt: skip
            result.rows[key] = row
            step += 1
            if progress is not None:
                progress(step, total)
    return result


def dataset_crops(
    source: str | Path, *, per_identity: int = 20, progress: Progress | None = None
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[Any], list[tuple[str, str]]]:
    """(aligned crops, identities, skipped (path, reason)) of a labelled dataset.

    The dataset is what ``facescope eval verify`` reads (a folder per identity, a folder
    with ``labels.csv``, or a CSV). Each photo's largest face is aligned (a 112x112
    photo is taken as an aligned crop); at most `per_identity` photos per person.
    """
    from facescope.errors import InvalidImageError
    from facescope.evaluate.datasets import load_dataset
    from facescope.io import load_image
    from facescope.pipeline import aligned_crops, find_faces, largest

    dataset = load_dataset(source)
    taken: dict[str, int] = {}
    plan = []
    for path, who in zip(dataset.paths, dataset.identities, strict=True):
        if taken.get(who, 0) < per_identity:
            taken[who] = taken.get(who, 0) + 1
            plan.append((path, who))
    crops, ids, skipped = [], [], []
    for k, (path, who) in enumerate(plan):
        try:
            rgb = load_image(path)
            face = largest(find_faces(rgb))
        except InvalidImageError as exc:
            skipped.append((str(path), str(exc)))
            continue
        if len(face) == 0:
            skipped.append((str(path), "no face found"))
        else:
            crops.append(aligned_crops(rgb, face)[0])
            ids.append(who)
        if progress is not None:
            progress(k + 1, len(plan))
    if not crops:
        raise WeatherError(f"{source}: no face found in any photo")
    return np.asarray(crops, np.uint8), np.asarray(ids), skipped


def figure(evaluation: WeatherEvaluation) -> bytes:
    """TAR against severity for each kind: degraded, classical and auto (PNG)."""
    from facescope.report.figures import png, pyplot

    plt = pyplot()
    kinds = sorted({k.split("/")[0] for k in evaluation.rows if k != "clean"})
    cols = min(4, len(kinds))
    rows = -(-len(kinds) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, kind in zip(axes.ravel(), kinds, strict=False):
        keys = sorted((k for k in evaluation.rows if k.startswith(kind + "/")),
                      key=lambda k: int(k.split("/")[1]))  # fmt: skip
        sev = [int(k.split("/")[1]) for k in keys]
        for part, style in (("degraded", "o-"), ("classical", "s--"), ("adapted", "d-."),
                            ("auto", "^-")):  # fmt: skip
            values = [evaluation.rows[k][part]["tar"] for k in keys if part in evaluation.rows[k]]
            if len(values) == len(sev):
                ax.plot(sev, values, style, label=part)
        ax.axhline(evaluation.clean_tar, color="grey", lw=0.8, ls=":")
        ax.set_title(kind)
        ax.set_ylim(0, 1)
        ax.set_xticks(sev)
    for ax in axes.ravel()[len(kinds) :]:
        ax.axis("off")
    axes[0][0].set_ylabel("TAR @ FMR 1e-3")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    data = png(fig)
    plt.close(fig)
    return data


def write_weather_report(evaluation: WeatherEvaluation, folder: str | Path) -> Path:
    """``index.html`` (table and figure) and ``metrics.json`` in `folder`."""
    from facescope.report.html import Section, table, write_report

    headers = [
        "condition", "TAR degraded", "TAR classical", "TAR learned", "TAR adapted", "TAR auto",
        "recovered", "detected",
        "FMR @ shipped", "identity cos (auto)", "PSNR (auto)", "ms/face auto",
    ]  # fmt: skip
    body = []
    for key, row in evaluation.rows.items():
        c = row.get("classical")
        back = None if key == "clean" else evaluation.recovered(key)
        body.append([
            key, row["degraded"]["tar"], None if c is None else c["tar"],
            row["learned"]["tar"] if "learned" in row else None,
            row["adapted"]["tar"] if "adapted" in row else None, row["auto"]["tar"],
            None if back is None else f"{back:+.0%}", f"{row.get('detected', 0.0):.0%}",
            f"{row['degraded']['fmr_at_shipped']:.3%}", row["auto"]["identity_cosine"],
            row["auto"]["psnr"], row["auto_ms"],
        ])  # fmt: skip
    section = Section(
        "Recognition in synthetic weather",
        paragraphs=[
            f"{evaluation.crops} probe crops of {evaluation.people} people, SFace; each probe "
            "degraded and compared with every clean crop. TAR at FMR 1e-3 from each "
            "condition's own impostors; 'auto' restores only what the detectors find.",
        ],
        tables=[table(headers, body)],
        figures=[("TAR against severity", figure(evaluation))],
    )
    return write_report(folder, f"Weather: {evaluation.name}", [section], evaluation.to_dict())


__all__ = [
    "CLASSICAL",
    "FMR",
    "OPTIONAL_CONDITIONS",
    "WeatherEvaluation",
    "bootstrap_recovered",
    "dataset_crops",
    "evaluate_weather",
    "figure",
    "recovered_at_loss",
    "write_weather_report",
]
