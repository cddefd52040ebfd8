"""Weather from another synthesiser: does ``restore="auto"`` help beyond our own `degrade`?

The issue's acceptance uses a synthesiser we do not have. Everything in
``bench_weather.py`` degrades with :func:`facescope.weather.degrade`, which the detectors,
the learned restorer and the weather-adapted SFace were all trained on. This benchmark
degrades the same evaluation-half crops with simple OpenCV/numpy effects written
independently of it: additive Gaussian noise, a Gaussian defocus (a kind our synthesiser
does not make), an 11 px linear motion kernel at varying angles, darkness with shot noise
in linear light, a flat fog veil, drawn bright streaks, and JPEG at quality 12. It reports
SFace's TAR at FMR 1e-3 for the probes as degraded and through ``restore="auto"`` (what
``embed(..., restore="auto")`` does to an aligned crop), and how often any detector fired.

It also reports TAR with the weather-adapted SFace forced on every face (what the
detectors leave out), and, when albumentations is installed, the weather of that
third-party library (``--family``).

    python benchmarks/bench_weather_other.py [--per-identity 15] [--json FILE] \
        [--family ours|albumentations|all] [--detectors FILE]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from bench_weather import load_crops, split, subsample

Effect = Callable[[np.ndarray, int], np.ndarray]


def _noise(crop: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(crop + rng.normal(0, 18, crop.shape), 0, 255).astype(np.uint8)


def _defocus(crop: np.ndarray, seed: int) -> np.ndarray:
    return np.asarray(cv2.GaussianBlur(crop, (0, 0), 2.2), np.uint8)


def _motion(crop: np.ndarray, seed: int) -> np.ndarray:
    kernel = np.zeros((11, 11), np.float32)
    kernel[5, :] = 1
    turn = cv2.getRotationMatrix2D((5, 5), (seed * 37) % 180, 1)
    kernel = cv2.warpAffine(kernel, turn, (11, 11))
    return np.asarray(cv2.filter2D(crop, -1, kernel / kernel.sum()), np.uint8)


def _dark(crop: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    light = (crop / 255.0) ** 2.2 * 0.12  # 12% exposure, in linear light
    light = rng.poisson(light * 300) / 300 + rng.normal(0, 0.01, crop.shape)
    return np.clip(255 * np.clip(light, 0, 1) ** (1 / 2.2), 0, 255).astype(np.uint8)


def _fog(crop: np.ndarray, seed: int) -> np.ndarray:
    return np.clip(crop * 0.55 + 0.45 * 235, 0, 255).astype(np.uint8)


def _streaks(crop: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    layer = np.zeros(crop.shape[:2], np.float32)
    for _ in range(160):
        x, y = (int(v) for v in rng.integers(0, 112, 2))
        cv2.line(layer, (x, y), (x + 3, y + 14), 1.0, 1)
    layer = cv2.GaussianBlur(layer, (3, 3), 0) * 150
    return np.clip(crop + layer[..., None], 0, 255).astype(np.uint8)


def _jpeg(crop: np.ndarray, seed: int) -> np.ndarray:
    encoded = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 12])[1]
    return np.asarray(cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED), np.uint8)


EFFECTS: dict[str, Effect] = {
    "gaussian noise (sigma 18)": _noise,
    "defocus (Gaussian, sigma 2.2)": _defocus,
    "motion blur (11 px line)": _motion,
    "darkness (12% exposure, shot noise)": _dark,
    "fog veil (45%)": _fog,
    "bright streaks": _streaks,
    "JPEG quality 12": _jpeg,
}


def _albumentations() -> dict[str, Effect]:
    """Weather by albumentations (a third party's synthesiser), when it can be imported.

    Install it beside facescope without its dependencies, so that the one OpenCV stays:
    ``pip install --no-deps -r benchmarks/requirements-albumentations.txt``.
    """
    try:
        import albumentations as alb
    except ImportError:
        return {}
    made: dict[str, Callable[[], Any]] = {
        "A.RandomRain (default)": lambda: alb.RandomRain(p=1),
        "A.RandomRain (heavy)": lambda: alb.RandomRain(rain_type="heavy", p=1),
        "A.RandomSnow (bleach)": lambda: alb.RandomSnow(p=1),
        "A.RandomSnow (texture)": lambda: alb.RandomSnow(method="texture", p=1),
        "A.RandomFog": lambda: alb.RandomFog(p=1),
        "A.MotionBlur (9-13 px)": lambda: alb.MotionBlur(blur_limit=(9, 13), p=1),
        "A.dark + ISONoise": lambda: alb.Compose(
            [alb.RandomBrightnessContrast((-0.45, -0.35), (-0.3, -0.2), p=1), alb.ISONoise(p=1)]
        ),
    }

    def effect(make: Callable[[], Any]) -> Effect:
        def apply(crop: np.ndarray, seed: int) -> np.ndarray:
            out = alb.Compose([make()], seed=seed)(image=np.ascontiguousarray(crop))["image"]
            return np.asarray(out, np.uint8)

        return apply

    return {name: effect(make) for name, make in made.items()}


def tar(probes: np.ndarray, gallery: np.ndarray, ids: np.ndarray) -> float:
    """TAR at FMR 1e-3: each probe against every other clean crop."""
    from facescope.match.metrics import threshold_at_fmr
    from facescope.weather.evaluate import FMR

    sim = probes @ gallery.T
    same = ids[:, None] == ids[None, :]
    genuine, impostor = sim[same & ~np.eye(len(ids), dtype=bool)], sim[~same]
    return float((genuine >= threshold_at_fmr(impostor, FMR)).mean())


def main() -> None:
    from facescope.pipeline import adapted_ok, embed_aligned_crops, embed_restored
    from facescope.restoration.auto import Restored, restore_image
    from facescope.restoration.detectors import load_detectors, shipped_detectors

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-identity", type=int, default=15)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--detectors", type=Path, help="detectors JSON (default: the shipped)")
    parser.add_argument(
        "--family", choices=("ours", "albumentations", "all"), default="all",
        help="ours: the effects written here; albumentations: its weather (when installed)",
    )  # fmt: skip
    args = parser.parse_args()
    detectors = load_detectors(args.detectors) if args.detectors else shipped_detectors()
    network = adapted_ok("sface")
    effects = dict(EFFECTS) if args.family != "albumentations" else {}
    if args.family != "ours":
        found = _albumentations()
        if not found:
            print("albumentations is not installed: pip install --no-deps -r "
                  "benchmarks/requirements-albumentations.txt\n")  # fmt: skip
        effects |= found
    result: dict[str, dict[str, dict[str, float]]] = {}
    print(f"weather-adapted SFace available: {network}\n")
    print("| set | effect | TAR degraded | TAR auto | recovered | any detector fired "
          "| network forced | recovered |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in ("celebrities", "yale"):
        data = load_crops(name)
        if data is None:
            print(f"| {name} | not found | | | | |")
            continue
        _, evaluation = split(data.identity)
        pick = subsample(evaluation, data.identity, args.per_identity)
        clean, ids = data.crops[pick], data.identity[pick]
        gallery = embed_aligned_crops(clean).vectors

        def auto(
            crops: np.ndarray, gallery: np.ndarray = gallery, ids: np.ndarray = ids
        ) -> tuple[float, float]:
            done = [restore_image(c, "auto", detectors=detectors, adapted=network) for c in crops]
            fired = float(np.mean([bool(d.assessment and d.assessment.present) for d in done]))
            return tar(embed_restored(done).vectors, gallery, ids), fired

        clean_tar = tar(gallery, gallery, ids)
        rows = {"clean": {"degraded": clean_tar, "auto": auto(clean)[0]}}
        for effect, make in effects.items():
            bad = np.stack([make(c, i) for i, c in enumerate(clean)])
            degraded = tar(embed_aligned_crops(bad).vectors, gallery, ids)
            restored, fired = auto(bad)
            lost = clean_tar - degraded

            def share(value: float, lost: float = lost, degraded: float = degraded) -> str:
                return f"{(value - degraded) / lost:+.0%}" if lost > 0.005 else ""

            rows[effect] = {"degraded": degraded, "auto": restored, "fired": fired}
            cells = f"{degraded:.3f} | {restored:.3f} | {share(restored)} | {fired:.0%}"
            if network:  # the adapted network on every face: what detection leaves out
                forced = [Restored(c, (), None, True) for c in bad]
                rows[effect]["forced"] = tar(embed_restored(forced).vectors, gallery, ids)
                cells += f" | {rows[effect]['forced']:.3f} | {share(rows[effect]['forced'])}"
            print(f"| {name} | {effect} | {cells} |", flush=True)
        print(f"| {name} | clean | {clean_tar:.3f} | {rows['clean']['auto']:.3f} | | | | |")
        result[name] = rows
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
