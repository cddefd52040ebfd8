"""Conv-cut: a small expression network for in-the-wild faces, trained by facescope.

A truncated ConvNeXt feature extractor with a Detail Extraction Block and a self-attention
block, on 48x48 grey face crops (the FER2013 format), in PyTorch (the optional ``torch``
extra; imported lazily, :class:`~facescope.errors.ModelNotAvailableError` without it):

* **ConvNeXt, cut.** A 3x3 stem at 48 px, then three ConvNeXt stages at 24, 12 and 6 px
  (widths :data:`WIDTHS`, depths :data:`DEPTHS`); the fourth, lowest-resolution stage of
  ConvNeXt is cut off (at 48 px input it would be 3x3). Each block is a depthwise 7x7
  convolution, LayerNorm, a pointwise MLP (4x, GELU), layer scale and a residual;
  downsampling is LayerNorm + a 2x2 stride-2 convolution, as in ConvNeXt.
* **DEB, Detail Extraction Block.** On the 24 px features of the first stage: parallel
  depthwise 3x3 convolutions at dilation 1, 2 and 3 and a 1x1 branch, concatenated and fused
  by a 1x1 convolution (residual). Fine local cues (lid tightening, nose wrinkles, lip
  corners) are pooled to the 6x6 grid and added to the last stage's features.
* **Attention.** One pre-norm transformer block (multi-head self-attention over the 36
  feature tokens with a learned position embedding, then an MLP), mean-pooled; then
  LayerNorm and a linear classifier to the seven :data:`EXPRESSIONS` logits.

The ablations of ``scripts/fit_expression.py --ablation`` switch the DEB and the attention
off (:data:`ABLATIONS`); the variant is part of the weights' meta.

Weights are an ``.npz`` (float16 arrays ``w:<name>`` and a JSON ``meta`` with the
configuration, the data split and the training curves; read with
``allow_pickle=False``). The shipped file ``convcut.npz`` is checked against the SHA-256
pinned in ``convcut.json`` before use, like the carriers' weights of
:mod:`facescope.models.registry`; a file named by ``FACESCOPE_CONVCUT`` (or passed to
:func:`load_convcut`) is the caller's own and is checked only when a digest is given.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Final

import numpy as np
import numpy.typing as npt

from facescope.analysis.expression.labels import EXPRESSIONS
from facescope.analysis.expression.models import ExpressionModel, FloatArray, softmax
from facescope.errors import ModelFileError, ModelNotAvailableError
from facescope.models.registry import sha256_of
from facescope.models.torch_runtime import (
    load_state,
    read_weights,
    require_torch,
    state_arrays,
    write_weights,
)

#: Format tag stored in the weights' meta.
WEIGHTS_FORMAT: Final[str] = "facescope-convcut/1"
#: The manifest shipped with the package: the weights file's name and pinned SHA-256.
MANIFEST_PATH: Final[Path] = Path(__file__).with_name("convcut.json")
#: Environment variable naming conv-cut weights to use instead of the shipped ones.
CONVCUT_ENV: Final[str] = "FACESCOPE_CONVCUT"
#: Input side in pixels.
INPUT_SIZE: Final[int] = 48
#: Channels of the stem and of the three kept ConvNeXt stages (24, 12, 6 px).
STEM_WIDTH: Final[int] = 24
WIDTHS: Final[tuple[int, int, int]] = (32, 64, 128)
DEPTHS: Final[tuple[int, int, int]] = (1, 2, 2)
#: Training variants: the cut ConvNeXt alone, + the DEB, + the DEB and attention (full).
ABLATIONS: Final[tuple[str, ...]] = ("convnext", "+deb", "+attention")
#: Input normalisation of the grey crop: ``(x / 255 - MEAN) / STD``.
MEAN: Final[float] = 0.5
STD: Final[float] = 0.25


@dataclass(frozen=True)
class ConvCutConfig:
    """The network's shape (stored in the weights' meta; must match to load)."""

    stem: int = STEM_WIDTH
    widths: tuple[int, int, int] = WIDTHS
    depths: tuple[int, int, int] = DEPTHS
    deb: bool = True
    attention: bool = True
    heads: int = 4
    dropout: float = 0.2
    layer_scale: float = 1.0
    norm: str = "batch"
    stem_layers: int = 2
    init_std: float = 0.0

    @classmethod
    def for_ablation(cls, ablation: str, **kwargs: Any) -> ConvCutConfig:
        """The configuration of one of :data:`ABLATIONS`."""
        if ablation not in ABLATIONS:
            raise ValueError(f"unknown ablation {ablation!r}; known: {ABLATIONS}")
        return cls(deb=ablation != "convnext", attention=ablation == "+attention", **kwargs)

    @property
    def ablation(self) -> str:
        """The :data:`ABLATIONS` name of this configuration."""
        if self.attention:
            return "+attention"
        return "+deb" if self.deb else "convnext"

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view."""
        out = asdict(self)
        out["widths"], out["depths"] = list(self.widths), list(self.depths)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConvCutConfig:
        """Inverse of :meth:`to_dict` (raises KeyError/TypeError/ValueError on bad input)."""
        widths = tuple(int(v) for v in data["widths"])
        depths = tuple(int(v) for v in data["depths"])
        if len(widths) != 3 or len(depths) != 3:
            raise ValueError("widths and depths must have three entries")
        return cls(
            stem=int(data["stem"]),
            widths=(widths[0], widths[1], widths[2]),
            depths=(depths[0], depths[1], depths[2]),
            deb=bool(data["deb"]),
            attention=bool(data["attention"]),
            heads=int(data["heads"]),
            dropout=float(data["dropout"]),
            layer_scale=float(data["layer_scale"]),
            norm=str(data["norm"]),
            stem_layers=int(data["stem_layers"]),
            init_std=float(data["init_std"]),
        )


def _torch() -> Any:
    return require_torch("the conv-cut expression model")


def build_convcut(config: ConvCutConfig | None = None) -> Any:
    """An untrained conv-cut network (a ``torch.nn.Module``: (n, 1, 48, 48) -> (n, 7) logits).

    Parameters are initialised from torch's global generator: seed it first for a
    reproducible network.
    """
    cfg = config or ConvCutConfig()
    _torch()  # a clear error when torch is missing
    import torch

    nn = torch.nn
    functional = torch.nn.functional

    class LayerNorm2d(torch.nn.Module):  # type: ignore[misc, unused-ignore]
        """LayerNorm over the channels of an (n, c, h, w) tensor."""

        def __init__(self, channels: int) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(channels, eps=1e-6)

        def forward(self, x: Any) -> Any:
            return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def Norm2d(channels: int) -> Any:  # noqa: N802 - a layer factory
        """The 2-D normalisation: batch norm (default) or ConvNeXt's per-pixel LayerNorm."""
        return nn.BatchNorm2d(channels) if cfg.norm == "batch" else LayerNorm2d(channels)

    class ConvNeXtBlock(torch.nn.Module):  # type: ignore[misc, unused-ignore]
        def __init__(self, dim: int) -> None:
            super().__init__()
            self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
            self.norm = Norm2d(dim)
            self.pwconv1 = nn.Linear(dim, 4 * dim)
            self.pwconv2 = nn.Linear(4 * dim, dim)
            self.gamma = nn.Parameter(torch.full((dim,), cfg.layer_scale))

        def forward(self, x: Any) -> Any:
            y = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)
            y = self.pwconv2(functional.gelu(self.pwconv1(y), approximate="tanh"))
            return x + (self.gamma * y).permute(0, 3, 1, 2)

    class DetailExtractionBlock(torch.nn.Module):  # type: ignore[misc, unused-ignore]
        """Parallel small-kernel and dilated depthwise convolutions, fused (residual)."""

        def __init__(self, dim: int) -> None:
            super().__init__()
            self.branches = nn.ModuleList(
                [nn.Conv2d(dim, dim, 3, padding=d, dilation=d, groups=dim) for d in (1, 2, 3)]
            )
            self.point = nn.Conv2d(dim, dim, 1)
            self.fuse = nn.Conv2d(4 * dim, dim, 1)
            self.norm = Norm2d(dim)

        def forward(self, x: Any) -> Any:
            parts = [branch(x) for branch in self.branches] + [self.point(x)]
            return x + self.norm(self.fuse(functional.gelu(torch.cat(parts, dim=1))))

    class AttentionBlock(torch.nn.Module):  # type: ignore[misc, unused-ignore]
        def __init__(self, dim: int, tokens: int, heads: int) -> None:
            super().__init__()
            self.position = nn.Parameter(torch.zeros(1, tokens, dim))
            nn.init.trunc_normal_(self.position, std=0.02)
            self.norm1 = nn.LayerNorm(dim, eps=1e-6)
            self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
            self.norm2 = nn.LayerNorm(dim, eps=1e-6)
            self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

        def forward(self, tokens: Any) -> Any:
            x = tokens + self.position
            y = self.norm1(x)
            x = x + self.attn(y, y, y, need_weights=False)[0]
            return x + self.mlp(self.norm2(x))

    class ConvCut(torch.nn.Module):  # type: ignore[misc, unused-ignore]
        def __init__(self) -> None:
            super().__init__()
            w = cfg.widths
            self.config = cfg
            # BatchNorm, not a per-pixel LayerNorm, on the one-channel input: LayerNorm over
            # the stem's channels at each pixel blows flat regions' noise up to unit size
            stem: list[Any] = []
            for k in range(cfg.stem_layers):
                stem += [
                    nn.Conv2d(1 if k == 0 else cfg.stem, cfg.stem, 3, padding=1, bias=False),
                    nn.BatchNorm2d(cfg.stem),
                    nn.GELU(approximate="tanh"),
                ]
            self.stem = nn.Sequential(*stem)
            downs, stages = [], []
            previous = cfg.stem
            for width, depth in zip(w, cfg.depths, strict=True):
                downs.append(nn.Sequential(Norm2d(previous), nn.Conv2d(previous, width, 2, 2)))
                stages.append(nn.Sequential(*[ConvNeXtBlock(width) for _ in range(depth)]))
                previous = width
            self.downsample = nn.ModuleList(downs)
            self.stages = nn.ModuleList(stages)
            if cfg.deb:
                self.deb = DetailExtractionBlock(w[0])
                self.deb_proj = nn.Sequential(Norm2d(w[0]), nn.Conv2d(w[0], w[2], 1))
            if cfg.attention:
                side = INPUT_SIZE // 8
                self.attention = AttentionBlock(w[2], side * side, cfg.heads)
            self.norm = nn.LayerNorm(w[2], eps=1e-6)
            self.dropout = nn.Dropout(cfg.dropout)
            self.head = nn.Linear(w[2], len(EXPRESSIONS))
            if cfg.init_std > 0:
                self.apply(self._init)

        @staticmethod
        def _init(module: Any) -> None:
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=cfg.init_std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

        def features(self, x: Any) -> Any:
            """(n, 1, 48, 48) -> (n, widths[2]) pooled features."""
            x = self.stem(x)
            x = self.stages[0](self.downsample[0](x))
            detail = self.deb(x) if cfg.deb else None
            x = self.stages[1](self.downsample[1](x))
            x = self.stages[2](self.downsample[2](x))
            if detail is not None:
                x = x + self.deb_proj(functional.avg_pool2d(detail, 4))
            if cfg.attention:
                tokens = self.attention(x.flatten(2).transpose(1, 2))
                return self.norm(tokens.mean(dim=1))
            return self.norm(x.mean(dim=(2, 3)))

        def forward(self, x: Any) -> Any:
            return self.head(self.dropout(self.features(x)))

    return ConvCut()


def to_tensor(grey: npt.NDArray[np.uint8]) -> Any:
    """(n, 48, 48) uint8 crops -> the normalised (n, 1, 48, 48) float32 input tensor."""
    torch = _torch()
    x = (np.asarray(grey, np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(x[:, None]))


# ---------------------------------------------------------------- weights files


def save_convcut(model: Any, path: str | os.PathLike[str], meta: dict[str, Any]) -> Path:
    """Write the weights (float16) and ``meta`` (JSON, with format and config) to an ``.npz``.

    Returns the path written; the write is atomic (a temporary file renamed).
    """
    info = {**meta, "format": WEIGHTS_FORMAT, "config": model.config.to_dict()}
    return write_weights(path, state_arrays(model, np.float16), info)


def load_convcut(
    path: str | os.PathLike[str] | None = None, *, sha256: str | None = None
) -> tuple[Any, dict[str, Any]]:
    """(network in eval mode, its meta) from a weights file.

    Args:
        path: an ``.npz`` written by :func:`save_convcut`; None takes ``FACESCOPE_CONVCUT``,
            else the shipped file named by ``convcut.json`` (its SHA-256 checked).
        sha256: the expected hex digest of ``path`` (checked when given).

    Raises:
        ModelNotAvailableError: torch is missing, or no weights are there.
        ModelFileError: the file's SHA-256 differs, or it is not a conv-cut weights file.
    """
    _torch()
    if path is None:
        named = os.environ.get(CONVCUT_ENV)
        if named:
            path = named
        else:
            path, sha256 = shipped_weights()
    file = Path(path)
    if not file.is_file():
        raise ModelNotAvailableError(f"no conv-cut weights at {file}")
    if sha256 is not None:
        actual = sha256_of(file)
        if actual != sha256:
            raise ModelFileError(
                f"conv-cut weights {file} have SHA-256 {actual}, expected {sha256}: the file "
                "is altered or from another training; reinstall facescope or retrain with "
                "scripts/fit_expression.py"
            )
    arrays, meta = read_weights(
        file,
        WEIGHTS_FORMAT,
        error=ModelFileError,
        what="a conv-cut weights file",
        make_with="python scripts/fit_expression.py",
    )
    try:
        model = build_convcut(ConvCutConfig.from_dict(meta["config"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{file} is not a valid conv-cut weights file: {exc}") from exc
    return load_state(model, arrays, error=ModelFileError, source=f"conv-cut weights {file}"), meta


def read_manifest(path: Path = MANIFEST_PATH) -> dict[str, Any]:
    """The shipped manifest: ``file`` (name next to it) and ``sha256`` (None until shipped)."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def shipped_weights(manifest: Path = MANIFEST_PATH) -> tuple[Path, str]:
    """(path, pinned SHA-256) of the shipped weights.

    Raises:
        ModelNotAvailableError: no trained weights are shipped (yet).
    """
    info = read_manifest(manifest)
    name, digest = info.get("file"), info.get("sha256")
    path = manifest.with_name(str(name)) if name else None
    if not digest or path is None or not path.is_file():
        raise ModelNotAvailableError(
            "no trained conv-cut weights are shipped: train them with "
            "scripts/fit_expression.py --ship (docs/expressions-wild.md), or name a "
            f"weights file in {CONVCUT_ENV}"
        )
    return path, str(digest)


def ship_weights(weights: Path, manifest: Path = MANIFEST_PATH) -> dict[str, Any]:
    """Copy a weights file next to the manifest and pin its SHA-256 there; the new manifest."""
    target = manifest.with_name("convcut.npz")
    data = weights.read_bytes()
    if weights.resolve() != target.resolve():
        target.write_bytes(data)
    info = read_manifest(manifest)
    info.update(file=target.name, sha256=hashlib.sha256(data).hexdigest())
    manifest.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return info


# ---------------------------------------------------------------- prediction


def predict_logits(model: Any, grey: npt.NDArray[np.uint8], batch_size: int = 256) -> FloatArray:
    """(n, 7) logits of (n, 48, 48) uint8 grey crops (no gradient)."""
    torch = _torch()
    out = []
    with torch.inference_mode():
        for start in range(0, len(grey), batch_size):
            out.append(model(to_tensor(grey[start : start + batch_size])).numpy())
    if not out:
        return np.zeros((0, len(EXPRESSIONS)), np.float32)
    return np.asarray(np.concatenate(out), np.float32)


class ConvCutModel(ExpressionModel):
    """Conv-cut as an expression member: grey crops (any size) -> (n, 7) probabilities.

    Args:
        num_threads: torch intra-op threads while predicting.
        path: weights file (None: ``FACESCOPE_CONVCUT``, else the shipped, SHA-checked one).
    """

    name: ClassVar[str] = "convcut"
    input_size: ClassVar[int] = INPUT_SIZE

    def __init__(self, num_threads: int = 1, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(num_threads)
        self.path = path
        self._net: Any = None
        self.meta_: dict[str, Any] = {}

    def _load(self) -> None:
        self._net, self.meta_ = load_convcut(self.path)

    def _probabilities(self, batch: npt.NDArray[np.uint8]) -> FloatArray:
        torch = _torch()
        with self._lock:
            previous = torch.get_num_threads()
            torch.set_num_threads(self.num_threads)
            try:
                logits = predict_logits(self._net, batch)
            finally:
                torch.set_num_threads(previous)
        return softmax(logits)
