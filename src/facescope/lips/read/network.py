"""The landmark-guided lip-reading network (PyTorch, the optional ``torch`` extra) and
its weights files.

Two streams read a word sample, (T, S, S) mouth crops and (T, K, 2) lip landmarks:

* **Landmark stream: a spatio-temporal multi-graph convolutional network.** The
  landmarks (positions and frame-to-frame velocities) are nodes of three graphs
  (:mod:`facescope.lips.read.graphs`): *anatomical* (the lip contours), *left-right
  symmetry* and a *learned* K x K adjacency (softmax-normalised, trained). Each of three
  ST-MGCN blocks sums one 1x1 projection per graph of the graph-propagated features,
  then convolves each node over time (kernel 5: the temporal edges), with a residual.
* **Crop stream: a visual front-end.** A 3-D convolution (5 x 7 x 7, stride 1x2x2) and
  max-pool over the crop sequence, then three residual 2-D stages per frame at 1/4,
  1/8 and 1/16 of the crop side with widths ``w, 2w, 4w``.
* **Multi-level lip-dynamics fusion.** After each of the three stages, the matching
  ST-MGCN block's features (pooled over the nodes, per frame) modulate the crop
  stage's feature maps (FiLM: ``F * (1 + tanh(gamma)) + beta``, one gamma/beta per
  channel and frame), so the landmark dynamics guide what the front-end extracts at
  three depths. Training adds an *alignment* loss (a symmetric InfoNCE between the two
  streams' per-sample embeddings) and an auxiliary word classifier on the landmark
  stream alone (it *supervises* the graph features).
* **Back-end.** Per frame, the pooled crop features and the pooled graph features are
  concatenated, projected, and read by a 2-layer bidirectional GRU (or a dilated
  temporal conv net, ``backend="tcn"``); the mean over time goes to the word classifier.

Weights are ``.npz`` files: float32 arrays ``w:NAME`` and a JSON ``meta`` entry (format
tag, vocabulary, architecture hyper-parameters including the landmark template,
training provenance); read with ``np.load(allow_pickle=False)``. No pretrained weights
ship with facescope: train them with ``facescope lips train``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from facescope.lips.read.errors import LipReadingError
from facescope.lips.read.graphs import anatomical, mirror, symmetry
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
WEIGHTS_FORMAT: Final[str] = "facescope-lipreader/1"
BACKENDS: Final[tuple[str, ...]] = ("gru", "tcn")
TORCH_HINT: Final[str] = torch_hint("lip reading")


def _torch() -> Any:
    return require_torch("lip reading")


@dataclass(frozen=True)
class NetConfig:
    """Architecture hyper-parameters (stored in the weights' meta).

    Attributes:
        vocabulary: the words, in label order (2 or more).
        template: (K, 2) mean normalised landmark shape; it defines the graphs.
        frames: frames per sample (samples are resampled to it; LRW clips have 29).
        size: crop side in pixels (88 as ``facescope lips`` writes; a multiple of 8).
        width: front-end channels of the first stage (stages: w, 2w, 4w).
        hidden: back-end features.
        backend: ``gru`` (bidirectional GRU) or ``tcn`` (dilated temporal convolutions).
        dropout: before the classifier.
        mesh_points: the MediaPipe mesh index of each landmark (``facescope lips`` track
            files name them), or None (iBUG or other layouts); it picks the anatomical graph.
    """

    vocabulary: tuple[str, ...]
    template: tuple[tuple[float, float], ...]
    frames: int = 29
    size: int = 88
    width: int = 16
    hidden: int = 128
    backend: str = "gru"
    dropout: float = 0.3
    mesh_points: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.vocabulary) < 2 or len(set(self.vocabulary)) != len(self.vocabulary):
            raise LipReadingError(f"need 2 or more distinct words, got {list(self.vocabulary)}")
        if len(self.template) < 3 or any(len(p) != 2 for p in self.template):
            raise LipReadingError("the landmark template must be (K>=3, 2) points")
        if not 2 <= self.frames <= 1000:
            raise LipReadingError(f"frames must be 2..1000, got {self.frames}")
        if self.size < 16 or self.size % 8:
            raise LipReadingError(f"size must be a multiple of 8 and >= 16, got {self.size}")
        if not 4 <= self.width <= 256 or not 8 <= self.hidden <= 2048 or self.hidden % 2:
            raise LipReadingError("width must be 4..256 and hidden an even 8..2048")
        if self.backend not in BACKENDS:
            raise LipReadingError(f"backend must be one of {', '.join(BACKENDS)}")
        if self.mesh_points is not None and len(self.mesh_points) != len(self.template):
            raise LipReadingError(
                f"{len(self.mesh_points)} mesh indices for {len(self.template)} landmarks"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise LipReadingError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def points(self) -> int:
        return len(self.template)

    def to_dict(self) -> dict[str, Any]:
        return {"vocabulary": list(self.vocabulary),
                "template": [[x, y] for x, y in self.template],
                "frames": self.frames, "size": self.size, "width": self.width,
                "hidden": self.hidden, "backend": self.backend,
                "dropout": self.dropout,
                "mesh_points": None if self.mesh_points is None
                else list(self.mesh_points)}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetConfig:
        try:
            return cls(
                vocabulary=tuple(str(w) for w in data["vocabulary"]),
                template=tuple((float(x), float(y)) for x, y in data["template"]),
                frames=int(data["frames"]),
                size=int(data["size"]),
                width=int(data["width"]),
                hidden=int(data["hidden"]),
                backend=str(data["backend"]),
                dropout=float(data["dropout"]),
                mesh_points=None if data.get("mesh_points") is None
                else tuple(int(m) for m in data["mesh_points"]),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, LipReadingError):
                raise
            raise LipReadingError(f"bad architecture in the weights' meta: {exc}") from exc


def template_of(lips: npt.NDArray[np.floating]) -> tuple[tuple[float, float], ...]:
    """The mean shape of (N, T, K, 2) normalised landmarks, as a config template."""
    mean = np.asarray(lips, np.float64).reshape(-1, *np.shape(lips)[-2:]).mean(0)
    return tuple((round(float(x), 6), round(float(y), 6)) for x, y in mean[:, :2])


def build_network(config: NetConfig) -> Any:
    """An untrained network for `config` (a ``torch.nn.Module``).

    ``forward(crops, lips)`` takes (B, T, S, S) float crops and (B, T, K, 2) normalised
    landmarks (see :func:`to_tensors`) and returns a dict: ``logits`` (B, V) of the
    fused network, ``graph_logits`` (B, V) of the landmark stream alone, and the
    streams' embeddings ``crop_embedding`` and ``graph_embedding`` (B, 64), L2-normalised.
    """
    _torch()
    import torch

    nn = torch.nn
    functional = torch.nn.functional
    w = config.width
    widths = (w, 2 * w, 4 * w)
    template = np.asarray(config.template, np.float32)
    k = config.points

    class STMGCN(torch.nn.Module):  # type: ignore[misc, unused-ignore]
        """One spatio-temporal multi-graph block: graphs x 1x1 projections, then time."""

        def __init__(self, cin: int, cout: int, count: int) -> None:
            super().__init__()
            self.project = nn.Conv2d(cin * count, cout, 1)
            self.spatial = nn.BatchNorm2d(cout)
            self.temporal = nn.Sequential(
                nn.ReLU(), nn.Conv2d(cout, cout, (5, 1), padding=(2, 0)), nn.BatchNorm2d(cout)
            )
            self.skip = nn.Identity() if cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout))  # fmt: skip

        def forward(self, x: Any, adjacency: Any) -> Any:  # x: (B, C, T, K); (G, K, K)
            spread = torch.einsum("bctk,glk->bgctl", x, adjacency).flatten(1, 2)
            y = self.temporal(self.spatial(self.project(spread)))
            return functional.relu(y + self.skip(x))

    class Residual(torch.nn.Module):  # type: ignore[misc, unused-ignore]
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
            )  # fmt: skip
            self.skip = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))  # fmt: skip

        def forward(self, x: Any) -> Any:
            return functional.relu(self.body(x) + self.skip(x))

    class Film(torch.nn.Module):  # type: ignore[misc, unused-ignore]
        """Landmark features (B, C, T) -> per-channel, per-frame gamma and beta."""

        def __init__(self, channels: int) -> None:
            super().__init__()
            affine: Any = nn.Conv1d(channels, 2 * channels, 1)
            nn.init.zeros_(affine.weight)
            nn.init.zeros_(affine.bias)
            self.to_affine = affine

        def forward(self, maps: Any, graph: Any) -> Any:  # maps: (B*T, C, h, w)
            gamma, beta = self.to_affine(graph).transpose(1, 2).flatten(0, 1).chunk(2, 1)
            return maps * (1 + torch.tanh(gamma))[..., None, None] + beta[..., None, None]

    class TCN(torch.nn.Module):  # type: ignore[misc, unused-ignore]
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.layers = nn.ModuleList(
                nn.Sequential(
                    nn.Conv1d(channels, channels, 3, padding=d, dilation=d),
                    nn.BatchNorm1d(channels),
                    nn.ReLU(),
                )
                for d in (1, 2, 4)
            )

        def forward(self, x: Any) -> Any:  # (B, T, C)
            y = x.transpose(1, 2)
            for layer in self.layers:
                y = y + layer(y)
            return y.transpose(1, 2)

    class LipReader(torch.nn.Module):  # type: ignore[misc, unused-ignore]
        def __init__(self) -> None:
            super().__init__()
            fixed = np.stack([anatomical(template, config.mesh_points), symmetry(template)])
            self.register_buffer("graphs", torch.from_numpy(fixed))
            self.register_buffer("mirror", torch.from_numpy(mirror(template)))
            self.learned = nn.Parameter(torch.zeros(k, k))
            self.graph_in = nn.BatchNorm2d(4)
            self.gcn = nn.ModuleList(
                STMGCN(cin, cout, len(fixed) + 1)
                for cin, cout in zip((4, *widths[:-1]), widths, strict=True)
            )
            self.stem = nn.Sequential(
                nn.Conv3d(1, w, (5, 7, 7), (1, 2, 2), (2, 3, 3), bias=False),
                nn.BatchNorm3d(w), nn.ReLU(), nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            )  # fmt: skip
            self.stages = nn.ModuleList(
                Residual(cin, cout, 1 if cin == cout else 2)
                for cin, cout in zip((w, *widths[:-1]), widths, strict=True)
            )
            self.films = nn.ModuleList(Film(c) for c in widths)
            fused = 2 * widths[-1]
            self.fuse = nn.Sequential(nn.Linear(fused, config.hidden), nn.LayerNorm(config.hidden),
                                      nn.ReLU())  # fmt: skip
            if config.backend == "gru":
                self.temporal: Any = nn.GRU(config.hidden, config.hidden // 2, num_layers=2,
                                            batch_first=True, bidirectional=True)  # fmt: skip
            else:
                self.temporal = TCN(config.hidden)
            words = len(config.vocabulary)
            self.classifier = nn.Sequential(nn.Dropout(config.dropout),
                                            nn.Linear(config.hidden, words))  # fmt: skip
            self.graph_classifier = nn.Linear(widths[-1], words)
            self.crop_projection = nn.Linear(widths[-1], 64)
            self.graph_projection = nn.Linear(widths[-1], 64)

        def forward(self, crops: Any, lips: Any) -> dict[str, Any]:
            b, t = crops.shape[:2]
            velocity = torch.cat([torch.zeros_like(lips[:, :1]), lips[:, 1:] - lips[:, :-1]], 1)
            g = self.graph_in(torch.cat([lips, velocity], -1).permute(0, 3, 1, 2))  # (B,4,T,K)
            x = self.stem(crops[:, None]).transpose(1, 2).flatten(0, 1)  # (B*T, w, h, w)
            fixed: Any = self.graphs
            adjacency = torch.cat([fixed, torch.softmax(self.learned, -1)[None]], 0)
            for gcn, stage, film in zip(self.gcn, self.stages, self.films, strict=True):
                g = gcn(g, adjacency)
                x = film(stage(x), g.mean(-1))
            crop_frames = x.mean((2, 3)).reshape(b, t, -1)  # (B, T, 4w)
            graph_frames = g.mean(-1).transpose(1, 2)  # (B, T, 4w)
            z = self.fuse(torch.cat([crop_frames, graph_frames], -1))
            z = self.temporal(z)[0] if isinstance(self.temporal, nn.GRU) else self.temporal(z)
            return {
                "logits": self.classifier(z.mean(1)),
                "graph_logits": self.graph_classifier(graph_frames.mean(1)),
                "crop_embedding": functional.normalize(
                    self.crop_projection(crop_frames.mean(1)), dim=-1),
                "graph_embedding": functional.normalize(
                    self.graph_projection(graph_frames.mean(1)), dim=-1),
            }  # fmt: skip

    return LipReader()


def to_tensors(crops: npt.ArrayLike, lips: npt.ArrayLike) -> tuple[Any, Any]:
    """(B, T, S, S) uint8 crops and (B, T, K, 2) landmarks (or one sample without B) ->
    the network's float tensors (crops standardised per sample: mean 0, std 1)."""
    torch = _torch()
    c = np.asarray(crops)
    p = np.asarray(lips, np.float32)
    if c.ndim == 3:
        c, p = c[None], p[None]
    x = torch.from_numpy(np.ascontiguousarray(c, dtype=np.float32))
    mean = x.mean((1, 2, 3), keepdim=True)
    std = x.std((1, 2, 3), keepdim=True).clamp_min(4.0)
    return (x - mean) / std, torch.from_numpy(np.ascontiguousarray(p))


def parameter_count(model: Any) -> int:
    """Parameters of `model`."""
    return int(sum(p.numel() for p in model.parameters()))


# ---- weights files --------------------------------------------------------------------------


def save_weights(
    model: Any, config: NetConfig, path: str | os.PathLike[str], meta: dict[str, Any]
) -> Path:
    """Write the weights (float32 arrays, no pickles) and a JSON meta entry to an ``.npz``."""
    arrays = state_arrays(model)
    info = {**meta, "format": WEIGHTS_FORMAT, "vocabulary": list(config.vocabulary),
            "architecture": config.to_dict()}  # fmt: skip
    return write_weights(path, arrays, info)


def _read(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    return read_weights(
        path,
        WEIGHTS_FORMAT,
        error=LipReadingError,
        what="a lip-reading weights file",
        make_with="facescope lips train",
    )


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON meta of a weights file (format tag, vocabulary, architecture, provenance)."""
    return _read(path)[1]


def load_weights(
    path: str | os.PathLike[str], *, vocabulary: tuple[str, ...] | None = None
) -> tuple[Any, NetConfig, dict[str, Any]]:
    """(model in eval mode, its architecture, its meta) from an ``.npz``.

    `vocabulary`, when given, must match the file's words (count and order).
    """
    _torch()  # a clear error when torch is missing
    arrays, meta = _read(path)
    config = NetConfig.from_dict(meta.get("architecture") or {})
    if vocabulary is not None and tuple(vocabulary) != config.vocabulary:
        raise LipReadingError(
            f"{path} reads {len(config.vocabulary)} words {list(config.vocabulary)[:10]}, "
            f"not {len(vocabulary)} {list(vocabulary)[:10]}"
        )
    model = load_state(build_network(config), arrays, error=LipReadingError, source=str(path))
    return model, config, meta


__all__ = [
    "BACKENDS",
    "TORCH_HINT",
    "WEIGHTS_FORMAT",
    "NetConfig",
    "build_network",
    "load_weights",
    "parameter_count",
    "read_meta",
    "save_weights",
    "template_of",
    "to_tensors",
    "torch_available",
    "torch_threads",
]
