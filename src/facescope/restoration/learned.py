"""The learned, identity-preserving face restorer (SFFT + DAFE), on the aligned 112 crop.

A small encoder-decoder in PyTorch (the optional ``torch`` extra) that predicts a
residual over the degraded crop:

* **SFFT, statistical facial feature transformation.** At two scales (56 and 28 px) the
  encoder's features are normalised *region by region* (eyes, brows, nose, lips, skin,
  background: the 478-point mesh's regions projected onto the ArcFace template) and given
  learned clean-face statistics per region and channel; a learned gate blends them with
  the input features. Weather shifts a face's local statistics (haze lifts the dark
  regions, rain and snow add bright texture, darkness crushes contrast); this puts them
  back region by region.
* **DAFE, degradation-agnostic feature embedding.** In training the encoder's bottleneck
  features of a degraded crop are pulled towards those of its clean version (the
  ``dafe`` loss of :mod:`facescope.weather.train`), so what the decoder reads depends on
  the face, not on the weather.
* Trained for identity, not for PSNR: reconstruction (L1), identity (cosine through
  SFace in torch, :mod:`facescope.embed.sface_torch`), DAFE and a small patch-GAN term.

Weights are shipped as ``restorer.npz`` (float16 arrays, the region map and the training
provenance as JSON; no pickles), made by ``facescope restore train`` /
``scripts/fit_restorer.py`` with a seed. Without torch the learned method is unavailable
and ``auto`` uses the classical methods only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from facescope._lazy import Lazy
from facescope.errors import ModelNotAvailableError, WeatherError
from facescope.models.shipped import shipped_or_named_exists, verified_shipped
from facescope.models.torch_runtime import require_torch, torch_available, torch_hint

#: The shipped weights (package data).
SHIPPED: Final[str] = "restorer.npz"
#: Its pinned SHA-256 (an altered file is refused).
SHIPPED_SHA256: Final[str] = "097dbe5e9ede0e18519f32d3b5b71f77b133f29dcb4462de5e50aa892f3a7a36"
#: Environment variable naming restorer weights to use instead of the shipped ones
#: (``facescope restore train --out FILE`` makes them).
RESTORER_ENV: Final[str] = "FACESCOPE_RESTORER"
#: Format tag stored in the weights file.
WEIGHTS_FORMAT: Final[str] = "facescope-restorer/1"
#: Channels at 112, 56 and 28 px.
WIDTHS: Final[tuple[int, int, int]] = (16, 32, 64)
#: Facial regions of the SFFT region map, in label order (0 = background).
REGIONS: Final[tuple[str, ...]] = ("background", "skin", "brows", "eyes", "nose", "lips")
TORCH_HINT: Final[str] = torch_hint("the learned restorer")


def _torch() -> Any:
    return require_torch("the learned restorer")


def build_restorer(region_map: npt.NDArray[np.integer[Any]]) -> Any:
    """An untrained restorer for this (112, 112) region label map (values < len(REGIONS))."""
    _torch()  # a clear error when torch is missing
    import torch

    nn = torch.nn
    functional = torch.nn.functional
    labels = np.asarray(region_map)
    if labels.shape != (112, 112) or labels.min() < 0 or labels.max() >= len(REGIONS):
        raise WeatherError(f"a region map is (112, 112) labels 0..{len(REGIONS) - 1}")

    def masks_at(size: int) -> Any:
        one_hot = np.stack([(labels == k).astype(np.float32) for k in range(len(REGIONS))])
        t = torch.from_numpy(one_hot)[None]
        pooled = functional.adaptive_avg_pool2d(t, size)[0]
        return pooled / pooled.sum(0, keepdim=True).clamp_min(1e-6)

    class ResBlock(torch.nn.Module):  # type: ignore[misc, unused-ignore]
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.a = nn.Conv2d(channels, channels, 3, padding=1)
            self.b = nn.Conv2d(channels, channels, 3, padding=1)

        def forward(self, x: Any) -> Any:
            return x + self.b(functional.leaky_relu(self.a(x), 0.2))

    class SFFT(torch.nn.Module):  # type: ignore[misc, unused-ignore]
        """Region-wise normalisation to learned clean statistics, gated."""

        def __init__(self, channels: int, size: int) -> None:
            super().__init__()
            self.register_buffer("masks", masks_at(size))
            regions = len(REGIONS)
            self.gamma = nn.Parameter(torch.ones(regions, channels))
            self.beta = nn.Parameter(torch.zeros(regions, channels))
            self.gate = nn.Conv2d(2 * channels, channels, 1)

        def forward(self, x: Any) -> Any:
            masks: Any = self.masks
            m = masks[None, :, None]  # 1, R, 1, H, W
            xr = x[:, None]  # N, 1, C, H, W
            area = m.sum((-1, -2)).clamp_min(1e-6)
            mean = (xr * m).sum((-1, -2)) / area  # N, R, C
            var = (((xr - mean[..., None, None]) ** 2) * m).sum((-1, -2)) / area
            # the floor keeps flat regions (a dark background) from being amplified
            normed = (xr - mean[..., None, None]) / torch.sqrt(var + 1e-2)[..., None, None]
            styled = normed * self.gamma[None, :, :, None, None] + self.beta[None, :, :, None, None]
            y = (styled * m).sum(1)
            g = torch.sigmoid(self.gate(torch.cat([x, y], 1)))
            return x + g * (y - x)

    w1, w2, w3 = WIDTHS

    class Restorer(torch.nn.Module):  # type: ignore[misc, unused-ignore]
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("region_map", torch.from_numpy(labels.astype(np.int64)))
            self.enc1 = nn.Sequential(nn.Conv2d(3, w1, 3, padding=1), ResBlock(w1))
            self.enc2 = nn.Sequential(nn.Conv2d(w1, w2, 3, stride=2, padding=1), ResBlock(w2))
            self.sfft2 = SFFT(w2, 56)
            self.enc3 = nn.Sequential(
                nn.Conv2d(w2, w3, 3, stride=2, padding=1), ResBlock(w3), ResBlock(w3)
            )
            self.sfft3 = SFFT(w3, 28)
            self.dec2 = nn.Sequential(nn.Conv2d(w3 + w2, w2, 3, padding=1), ResBlock(w2))
            self.dec1 = nn.Sequential(nn.Conv2d(w2 + w1, w1, 3, padding=1), ResBlock(w1))
            self.out = nn.Conv2d(w1, 3, 3, padding=1)
            nn.init.zeros_(self.out.weight)  # starts as the identity
            nn.init.zeros_(self.out.bias)  # type: ignore[arg-type, unused-ignore]

        def encode(self, x: Any) -> tuple[Any, Any, Any]:
            """Features at 112, 56 and 28 px (the last one is what DAFE aligns)."""
            f1 = self.enc1(x)
            f2 = self.sfft2(self.enc2(f1))
            f3 = self.sfft3(self.enc3(f2))
            return f1, f2, f3

        def forward(self, x: Any) -> Any:
            """x: (n, 3, 112, 112) RGB in [0, 1]; returns the restored crop, same range."""
            f1, f2, f3 = self.encode(x)
            up2 = functional.interpolate(f3, scale_factor=2, mode="bilinear", align_corners=False)
            d2 = self.dec2(torch.cat([up2, f2], 1))
            up1 = functional.interpolate(d2, scale_factor=2, mode="bilinear", align_corners=False)
            d1 = self.dec1(torch.cat([up1, f1], 1))
            return (x + self.out(d1)).clamp(0.0, 1.0)

    return Restorer()


def save_restorer(model: Any, path: str | os.PathLike[str], meta: dict[str, Any]) -> Path:
    """Write the weights (float16), the region map and `meta` (JSON) to an ``.npz``."""
    arrays = {f"w:{k}": v.detach().cpu().numpy().astype(np.float16)
              for k, v in model.state_dict().items() if k != "region_map"
              and not k.endswith(".masks")}  # fmt: skip
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    info = json.dumps({"format": WEIGHTS_FORMAT, "widths": list(WIDTHS), **meta})
    tmp = target.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, region_map=model.region_map.cpu().numpy().astype(np.uint8),
                        meta=np.array(info), **arrays)  # fmt: skip
    tmp.replace(target)
    return target


def load_restorer(path: str | os.PathLike[str] | None = None) -> tuple[Any, dict[str, Any]]:
    """(model in eval mode, its provenance) from an ``.npz`` (default: the shipped one)."""
    torch = _torch()
    try:
        if path is None:
            with verified_shipped("facescope.restoration", SHIPPED, SHIPPED_SHA256,
                                  "learned restorer") as file:  # fmt: skip
                data = dict(np.load(file, allow_pickle=False))
            where = f"the shipped {SHIPPED}"
        else:
            data = dict(np.load(path, allow_pickle=False))
            where = str(path)
    except FileNotFoundError as exc:
        raise ModelNotAvailableError(f"no learned restorer weights at {path or SHIPPED}") from exc
    except (OSError, ValueError) as exc:
        raise WeatherError(f"cannot read restorer weights {path or SHIPPED}: {exc}") from exc
    try:
        meta = json.loads(str(data["meta"]))
        if meta.get("format") != WEIGHTS_FORMAT or tuple(meta.get("widths", ())) != WIDTHS:
            raise WeatherError(f"{where} is not a {WEIGHTS_FORMAT} file of widths {WIDTHS}")
        model = build_restorer(data["region_map"])
        state = {k[2:]: torch.from_numpy(v.astype(np.float32)) for k, v in data.items()
                 if k.startswith("w:")}  # fmt: skip
        buffers = {k: v for k, v in model.state_dict().items()
                   if k == "region_map" or k.endswith(".masks")}  # fmt: skip
        model.load_state_dict({**state, **buffers}, strict=True)
    except (KeyError, RuntimeError, json.JSONDecodeError) as exc:
        raise WeatherError(f"{where} is not a valid restorer: {exc}") from exc
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, meta


_shared: Lazy[tuple[Any, dict[str, Any]]] = Lazy(
    lambda: load_restorer(os.environ.get(RESTORER_ENV) or None)
)


def shipped_restorer() -> tuple[Any, dict[str, Any]]:
    """The restorer named by ``FACESCOPE_RESTORER``, else the shipped one; loaded once."""
    return _shared.get()


def shipped_available() -> bool:
    """Whether the learned method can run here (torch installed, weights there)."""
    return torch_available() and shipped_or_named_exists(
        "facescope.restoration", SHIPPED, RESTORER_ENV
    )


def restore_learned(image: npt.NDArray[np.uint8], model: Any = None) -> npt.NDArray[np.uint8]:
    """Restore an aligned 112x112 RGB crop with the learned restorer (torch needed)."""
    torch = _torch()
    rgb = np.asarray(image)
    if rgb.shape != (112, 112, 3) or rgb.dtype != np.uint8:
        raise WeatherError(
            f"the learned restorer works on aligned (112, 112, 3) uint8 crops, got "
            f"{rgb.shape} {rgb.dtype}: align the face first (facescope.align)"
        )
    net = model if model is not None else shipped_restorer()[0]
    with torch.inference_mode():
        x = torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        y = net(x)[0].permute(1, 2, 0).numpy()
    return np.asarray(np.clip(np.rint(y * 255.0), 0, 255), np.uint8)


__all__ = [
    "REGIONS",
    "RESTORER_ENV",
    "SHIPPED",
    "TORCH_HINT",
    "WEIGHTS_FORMAT",
    "WIDTHS",
    "build_restorer",
    "load_restorer",
    "restore_learned",
    "save_restorer",
    "shipped_available",
    "shipped_restorer",
    "torch_available",
]
