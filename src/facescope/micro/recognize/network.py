"""The micro-action-aware recognition network (after MOL, Shao et al., IEEE TPAMI 2025,
arXiv:2506.14511), in PyTorch (the optional ``torch`` extra), and its weights files.

Per frame, a small convolution stem (stride 4) gives features at a quarter of the crop
size; then F5C blocks extract local-global features, shared by three heads:

* **F5C block** = *FCC* then *CCC*:

  - **FCC, fully-connected convolution** (transformer-style): the channels are split in
    two halves; one half is convolved with a depth-wise kernel as tall as the feature
    map (circular padding, so every output sees the whole column), then with one as wide
    as the map (the whole row); the other half width first, then height. Each output
    thus has a global receptive field from two cheap 1-D convolutions, with learned
    positional embeddings and pre-normalisation as in a transformer, and a residual
    1x1 feed-forward (MLP) after it.
  - **CCC, channel correspondence convolution** (graph-style): every channel is a graph
    node whose feature is its whole (flattened) map; each node is joined to its k most
    similar channels (cosine), and an EdgeConv ``max_j relu(theta(f_i) + phi(f_j - f_i))``
    models the correlations among feature patterns; added back as a residual.

* **Recognition head**: the per-frame features and their frame-to-frame differences,
  stacked over time, go through a small 3-D CNN, average- and max-pooled, to the class
  logits. No key frame (onset/apex) is needed: the whole sampled sequence is read.
* **Optical-flow head**: the features of each pair of consecutive frames predict the
  flow between them at half the crop size (trained against TV-L1 / DIS targets).
* **Landmark head**: each frame's features predict the 68 landmarks (in [0, 1]).

Weights are ``.npz`` files: float32 arrays ``w:NAME`` and a JSON ``meta`` entry (format
tag, class names, architecture and input hyper-parameters, training provenance); read
with ``np.load(allow_pickle=False)``. No pretrained weights ship with facescope.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from facescope.micro.recognize.errors import MicroRecognitionError
from facescope.micro.recognize.preprocess import N_LANDMARKS, InputConfig
from facescope.models.torch_runtime import (
    load_state,
    read_weights,
    require_torch,
    state_arrays,
    torch_available,
    torch_hint,
    torch_threads,
    write_weights,
)

#: Format tag stored in the weights' meta.
WEIGHTS_FORMAT: Final[str] = "facescope-micro-recognizer/1"
TORCH_HINT: Final[str] = torch_hint("micro-expression recognition")


def _torch() -> Any:
    return require_torch("micro-expression recognition")


@dataclass(frozen=True)
class NetConfig:
    """Architecture hyper-parameters (stored in the weights' meta).

    Attributes:
        classes: class names, in label order (2 or more).
        input: the input pipeline (crop size, frames, colour, crop mode).
        width: channels of the shared features (even).
        blocks: F5C blocks.
        neighbours: k of the channel graph in CCC.
        dropout: before the classifier.
    """

    classes: tuple[str, ...]
    input: InputConfig = field(default_factory=InputConfig)
    width: int = 32
    blocks: int = 1
    neighbours: int = 4
    dropout: float = 0.3

    def __post_init__(self) -> None:
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise MicroRecognitionError(f"need 2 or more distinct classes, got {self.classes}")
        if self.width < 4 or self.width % 2:
            raise MicroRecognitionError(f"width must be even and >= 4, got {self.width}")
        if not 1 <= self.blocks <= 8:
            raise MicroRecognitionError(f"blocks must be 1..8, got {self.blocks}")
        if not 1 <= self.neighbours <= self.width:
            raise MicroRecognitionError(f"neighbours must be 1..width, got {self.neighbours}")

    @property
    def feature_size(self) -> int:
        return self.input.size // 4

    def to_dict(self) -> dict[str, Any]:
        return {"classes": list(self.classes), "input": self.input.to_dict(),
                "width": self.width, "blocks": self.blocks, "neighbours": self.neighbours,
                "dropout": self.dropout}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetConfig:
        try:
            return cls(
                classes=tuple(str(c) for c in data["classes"]),
                input=InputConfig(**data["input"]),
                width=int(data["width"]),
                blocks=int(data["blocks"]),
                neighbours=int(data["neighbours"]),
                dropout=float(data["dropout"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, MicroRecognitionError):
                raise
            raise MicroRecognitionError(f"bad architecture in the weights' meta: {exc}") from exc


def build_network(config: NetConfig) -> Any:
    """An untrained network for `config` (a ``torch.nn.Module``).

    ``forward(x)`` takes (B, T, C, S, S) float crops (see :func:`to_tensor`) and returns a
    dict: ``logits`` (B, K), ``flow`` (B, T-1, 2, S/2, S/2), ``landmarks`` (B, T, 68, 2).
    """
    _torch()  # a clear error when torch is missing
    import torch

    nn = torch.nn
    functional = torch.nn.functional
    size = config.feature_size
    width = config.width

    def norm(channels: int) -> Any:
        return nn.GroupNorm(min(8, channels), channels)

    class FCC(torch.nn.Module):  # type: ignore[misc, unused-ignore]
        """Fully-connected convolution: two global 1-D depth-wise convolutions per half."""

        def __init__(self, channels: int) -> None:
            super().__init__()
            half = channels // 2
            self.split = half
            bound = 1.0 / np.sqrt(size)

            def kernel(h: int, w: int) -> Any:
                return nn.Parameter(torch.empty(half, 1, h, w).uniform_(-bound, bound))

            self.k_a1, self.k_a2 = kernel(size, 1), kernel(1, size)  # height, then width
            self.k_b1, self.k_b2 = kernel(1, size), kernel(size, 1)  # width, then height
            self.bias = nn.Parameter(torch.zeros(4, half))
            self.pe_a = nn.Parameter(torch.randn(1, half, size, 1) * 0.02)
            self.pe_b = nn.Parameter(torch.randn(1, half, 1, size) * 0.02)
            self.norm_a, self.norm_b = norm(half), norm(half)
            self.ffn = nn.Sequential(
                norm(channels),
                nn.Conv2d(channels, 2 * channels, 1),
                nn.Hardswish(),
                nn.Conv2d(2 * channels, channels, 1),
            )

        def _global(self, x: Any, k: Any, bias: Any) -> Any:
            """A depth-wise convolution spanning the whole axis, circularly padded."""
            if k.shape[2] > 1:
                x = torch.cat([x, x[:, :, :-1]], 2)
            else:
                x = torch.cat([x, x[:, :, :, :-1]], 3)
            return functional.conv2d(x, k, bias, groups=self.split)

        def forward(self, x: Any) -> Any:
            a, b = torch.chunk(x, 2, 1)
            ya = self._global(self.norm_a(a + self.pe_a), self.k_a1, self.bias[0])
            ya = self._global(ya, self.k_a2, self.bias[1])
            yb = self._global(self.norm_b(b + self.pe_b), self.k_b1, self.bias[2])
            yb = self._global(yb, self.k_b2, self.bias[3])
            y = torch.cat([a + ya, b + yb], 1)
            return y + self.ffn(y)

    class CCC(torch.nn.Module):  # type: ignore[misc, unused-ignore]
        """Channel correspondence convolution: EdgeConv over a k-NN graph of channels."""

        def __init__(self, channels: int) -> None:
            super().__init__()
            dim = size * size
            self.k = min(config.neighbours, channels)
            self.theta = nn.Linear(dim, dim)
            self.phi = nn.Linear(dim, dim, bias=False)
            self.out = norm(channels)

        def forward(self, x: Any) -> Any:
            n, c, h, w = x.shape
            f = x.reshape(n, c, h * w)
            unit = functional.normalize(f, dim=2)
            idx = torch.matmul(unit, unit.transpose(1, 2)).topk(self.k, dim=-1).indices
            rows = torch.arange(n, device=x.device)[:, None, None]
            neighbours = f[rows, idx]  # (n, c, k, hw)
            relation = self.phi(neighbours - f[:, :, None])
            edges = functional.relu(self.theta(f)[:, :, None] + relation)
            return x + self.out(edges.max(2).values.reshape(n, c, h, w))

    class MicroNet(torch.nn.Module):  # type: ignore[misc, unused-ignore]
        def __init__(self) -> None:
            super().__init__()
            cin = config.input.channels
            self.stem = nn.Sequential(
                nn.Conv2d(cin, width // 2, 3, stride=2, padding=1),
                norm(width // 2),
                nn.ReLU(),
                nn.Conv2d(width // 2, width, 3, stride=2, padding=1),
                norm(width),
                nn.ReLU(),
            )
            self.f5c = nn.Sequential(*[nn.Sequential(FCC(width), CCC(width))
                                       for _ in range(config.blocks)])  # fmt: skip
            wide = 2 * width
            self.mer = nn.Sequential(
                nn.Conv3d(wide, wide, 3, padding=1),
                norm(wide),
                nn.ReLU(),
                nn.MaxPool3d((1, 2, 2)),
                nn.Conv3d(wide, wide, 3, padding=1),
                norm(wide),
                nn.ReLU(),
            )
            self.classifier = nn.Sequential(
                nn.Dropout(config.dropout), nn.Linear(2 * wide, len(config.classes))
            )
            self.flow = nn.Sequential(
                nn.Conv2d(wide, width, 3, padding=1),
                norm(width),
                nn.ReLU(),
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(width, width // 2, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(width // 2, 2, 3, padding=1),
            )
            half = max(1, size // 2)
            self.landmarks = nn.Sequential(
                nn.Conv2d(width, width, 3, stride=2, padding=1),
                norm(width),
                nn.ReLU(),
                nn.Flatten(),
                nn.Linear(width * half * half, 2 * N_LANDMARKS),
            )
            head: Any = self.classifier[-1]
            with torch.no_grad():
                head.weight.mul_(0.1)  # near-uniform first predictions
            last: Any = self.landmarks[-1]
            nn.init.zeros_(last.weight)
            nn.init.constant_(last.bias, 0.5)

        def features(self, x: Any) -> Any:
            """(B, T, C, S, S) -> (B, T, width, S/4, S/4) shared local-global features."""
            b, t = x.shape[:2]
            f = self.f5c(self.stem(x.flatten(0, 1)))
            return f.reshape(b, t, *f.shape[1:])

        def forward(self, x: Any) -> dict[str, Any]:
            f = self.features(x)
            b, t = f.shape[:2]
            pairs = torch.cat([f[:, :-1], f[:, 1:]], 2)  # (b, t-1, 2c, h, w)
            motion = torch.cat([f[:, 1:], f[:, 1:] - f[:, :-1]], 2).transpose(1, 2)
            z = self.mer(motion)
            pooled = torch.cat([z.mean((2, 3, 4)), z.amax((2, 3, 4))], 1)
            flow = self.flow(pairs.flatten(0, 1))
            points = self.landmarks(f.flatten(0, 1))
            return {
                "logits": self.classifier(pooled),
                "flow": flow.reshape(b, t - 1, *flow.shape[1:]),
                "landmarks": points.reshape(b, t, N_LANDMARKS, 2),
            }

    return MicroNet()


def to_tensor(crops: Any) -> Any:
    """(B, T, S, S, C) or (T, S, S, C) uint8 crops -> the network's float input."""
    torch = _torch()
    array = np.asarray(crops)
    if array.ndim == 4:
        array = array[None]
    x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    return (x.permute(0, 1, 4, 2, 3) / 255.0 - 0.5) / 0.25


def parameter_count(model: Any) -> int:
    """Trainable parameters of `model`."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


# ---- weights files --------------------------------------------------------------------------


def save_weights(
    model: Any, config: NetConfig, path: str | os.PathLike[str], meta: dict[str, Any]
) -> Path:
    """Write the weights (float32 arrays, no pickles) and a JSON meta entry to an ``.npz``."""
    arrays = state_arrays(model)
    info = {"format": WEIGHTS_FORMAT, "architecture": config.to_dict(), **meta}
    return write_weights(path, arrays, info)


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON meta of a weights file (format tag, classes, architecture, provenance)."""
    return _read(path)[1]


def _read(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    return read_weights(
        path,
        WEIGHTS_FORMAT,
        error=MicroRecognitionError,
        what="a micro-expression weights file",
        make_with="facescope micro train",
    )


def load_weights(
    path: str | os.PathLike[str], *, classes: tuple[str, ...] | None = None
) -> tuple[Any, NetConfig, dict[str, Any]]:
    """(model in eval mode, its architecture, its meta) from an ``.npz``.

    `classes`, when given, must match the file's class names (count and order).
    """
    _torch()  # a clear error when torch is missing
    arrays, meta = _read(path)
    config = NetConfig.from_dict(meta.get("architecture") or {})
    if classes is not None and tuple(classes) != config.classes:
        raise MicroRecognitionError(
            f"{path} predicts {len(config.classes)} classes {list(config.classes)}, "
            f"not {len(classes)} {list(classes)}"
        )
    model = load_state(build_network(config), arrays, error=MicroRecognitionError, source=str(path))
    return model, config, meta


__all__ = [
    "TORCH_HINT",
    "WEIGHTS_FORMAT",
    "NetConfig",
    "build_network",
    "load_weights",
    "parameter_count",
    "read_meta",
    "save_weights",
    "to_tensor",
    "torch_available",
    "torch_threads",
]
