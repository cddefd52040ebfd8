"""The FaceBagNet anti-spoofing CNN as one presentation-attack cue.

The network and weights are FaceBagNet "model A" (an SE-ResNeXt-18-style
encoder trained on 64x64 colour patches of CASIA-SURF) shipped as
``FaceBagNet/model/global_min_acer_model.pth`` in ``facebagnet==0.0.5``. The
carrier's own code imports imgaug (broken under numpy 2) and torchvision, so the
architecture is re-implemented here (state-dict keys unchanged) and the weights
are SHA-256 checked (:mod:`facescope.models.registry`) and loaded with
``torch.load(..., weights_only=True)``. It needs the optional ``torch`` extra.

Preprocessing follows the carrier's ``FaceAnti.detect``: the face crop is
converted to BGR (the network was trained on ``cv2.imread`` images; its first
BatchNorm's running means confirm B < G < R), resized to 112x112 with
``cv2.resize`` (bilinear), cut into the 3 x 3 grid of 64x64 patches at offsets
0, 24 and 47 px, each patch in 4 flips (none, left-right, up-down, both), scaled
to [0, 1]; the 36 patch logits are averaged and softmaxed. Class 1 is live
(CASIA-SURF's "real" label), class 0 an attack.

Unlike the carrier (whose ``detect`` never calls ``eval()``, so BatchNorm uses
batch statistics and its answers vary with the input batch), the network here
always runs in eval mode under :func:`torch.inference_mode`: the same crop gives
the same score.

Which crop: CASIA-SURF colour images are face-region crops. :func:`box_crop`
cuts the detected face box (``Faces.boxes``) with an optional margin; the default
(:data:`DEFAULT_MARGIN` = 0, the tight detector box) follows that framing. No crop
variant ranked our real samples correctly (the shared ``testdata/antispoof`` set):
every variant was inverted or at chance, and it called nearly every live and replay
frame live (``benchmarks/bench_pad_cues.py cnn``; the figures are in the README,
PAD). This is a demo-quality cue
(:file:`MODELS.md` reports AUC ~0.93 on a print-attack set): never the only cue,
never with its 0.5 threshold; calibrate it (:meth:`FaceBagNetCue.live_log_odds`
gives the unsaturated score) on data from the deployment before relying on it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facescope._lazy import Lazy
from facescope.errors import ModelFileError, ModelNotAvailableError
from facescope.models.registry import verified_path
from facescope.pad.cues import PADError

#: Registry key of the weight file.
MODEL_KEY = "facebagnet"
#: Side the face crop is resized to before patching (the carrier's RESIZE_SIZE).
RESIZE = 112
#: Side of each patch the network sees.
PATCH = 64
#: Index of the live class in the network's two logits.
LIVE_CLASS = 1
#: Smallest face crop side accepted, in pixels.
MIN_SIDE = 16
#: Margin (fraction of the box side, added on every side) used by :func:`box_crop`.
DEFAULT_MARGIN = 0.0
#: Patches per face: 3 x 3 positions x 4 flips.
PATCHES_PER_FACE = 36

_TORCH_HINT = (
    "the FaceBagNet PAD cue needs PyTorch, which is not installed; "
    "install the optional extra with: pip install 'facescope[torch]'"
)


def _patch_offsets() -> tuple[int, ...]:
    """Top-left offsets of the carrier's TTA grid: centre, and both edges clamped."""
    centre = (RESIZE - PATCH) // 2
    offsets = []
    for start in (centre, centre - PATCH, centre + PATCH):
        start = max(start, 0)
        if start + PATCH >= RESIZE:  # the carrier's off-by-one clamp, kept
            start = RESIZE - PATCH - 1
        offsets.append(start)
    return tuple(sorted(set(offsets)))


OFFSETS = _patch_offsets()  # (0, 24, 47)


def _check_face(face: object, index: int | None = None) -> npt.NDArray[np.uint8]:
    where = "" if index is None else f" (face {index})"
    if not isinstance(face, np.ndarray):
        raise PADError(f"a face crop must be a numpy array{where}, got {type(face).__name__}")
    if face.dtype != np.uint8:
        raise PADError(f"a face crop must be uint8 RGB{where}, got dtype {face.dtype}")
    if face.ndim != 3 or face.shape[2] != 3:
        raise PADError(f"a face crop must be an (H, W, 3) RGB array{where}, got shape {face.shape}")
    if min(face.shape[:2]) < MIN_SIDE:
        raise PADError(
            f"a face crop must be at least {MIN_SIDE}x{MIN_SIDE} pixels{where}, "
            f"got shape {face.shape}"
        )
    return face


def patches(face_rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """The network's input for one RGB face crop: (36, 3, 64, 64) float32 BGR in [0, 1]."""
    face = _check_face(face_rgb)
    bgr = np.ascontiguousarray(face[:, :, ::-1])
    resized = cv2.resize(bgr, (RESIZE, RESIZE))
    out = np.empty((PATCHES_PER_FACE, PATCH, PATCH, 3), np.uint8)
    k = 0
    for y in OFFSETS:
        for x in OFFSETS:
            patch = resized[y : y + PATCH, x : x + PATCH]
            for flipped in (patch, patch[:, ::-1], patch[::-1], patch[::-1, ::-1]):
                out[k] = flipped
                k += 1
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)


def box_crop(
    rgb: npt.NDArray[np.uint8], box: Sequence[float] | npt.ArrayLike, margin: float = DEFAULT_MARGIN
) -> npt.NDArray[np.uint8]:
    """Cut a face box (x1, y1, x2, y2) with ``margin`` x its width/height added on each side.

    The box is clipped to the image. ``margin=0`` is the tight detector box.

    Raises:
        PADError: the image is not an RGB uint8 array, or the box is empty after clipping.
    """
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3:
        raise PADError("box_crop needs an (H, W, 3) uint8 RGB image")
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    if not margin >= 0:
        raise PADError(f"margin must be >= 0, got {margin!r}")
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    h, w = rgb.shape[:2]
    left, top = max(0, round(x1 - dx)), max(0, round(y1 - dy))
    right, bottom = min(w, round(x2 + dx)), min(h, round(y2 + dy))
    if right - left < 1 or bottom - top < 1:
        raise PADError(f"face box {(x1, y1, x2, y2)} lies outside the {w}x{h} image")
    return np.ascontiguousarray(rgb[top:bottom, left:right])


def available() -> bool:
    """Whether PyTorch is installed and the FaceBagNet weights are present and verified."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    try:
        verified_path(MODEL_KEY)
    except ModelFileError:  # missing or altered: using the cue raises with the install hint
        return False
    return True


class FaceBagNetCue:
    """The FaceBagNet CNN scoring RGB face crops; p(live) in [0, 1], eval mode, deterministic.

    Args:
        batch_size: faces per forward pass in :meth:`live_scores` (36 patches each).
        num_threads: torch CPU threads while scoring (``None``: torch's default).

    The network is built and its weights verified on the first score, or by
    :meth:`load`.

    Raises:
        ModelNotAvailableError: PyTorch or the ``facebagnet`` carrier is missing.
        ModelFileError: the weight file's SHA-256 differs from the pinned value.
    """

    name = "facebagnet-model-a"

    def __init__(self, batch_size: int = 16, num_threads: int | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self._batch_size = batch_size
        self._threads = num_threads
        self._net: Any = None
        self._torch: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the network has been built."""
        return self._net is not None

    @property
    def network(self) -> Any:
        """The loaded ``torch.nn.Module`` (in eval mode); loads it if needed."""
        self.load()
        return self._net

    def load(self) -> None:
        """Build the network and load the verified weights (once)."""
        with self._lock:
            if self._net is not None:
                return
            try:
                import torch
            except ImportError as exc:
                raise ModelNotAvailableError(_TORCH_HINT) from exc
            path = verified_path(MODEL_KEY)
            state = torch.load(str(path), map_location="cpu", weights_only=True)
            net = _build_net(torch)
            net.load_state_dict(_net_state(state), strict=True)
            net.eval()
            for parameter in net.parameters():
                parameter.requires_grad_(False)
            self._torch = torch
            self._net = net

    def live_score(self, face_rgb: npt.NDArray[np.uint8]) -> float:
        """p(live) of one RGB uint8 face crop (H, W, 3), any size >= 16 px.

        Raises:
            PADError: the crop is not an (H, W, 3) uint8 array of at least 16x16.
        """
        return float(self.live_scores([_check_face(face_rgb)])[0])

    def live_scores(
        self, faces: Sequence[npt.NDArray[np.uint8]] | npt.NDArray[np.uint8]
    ) -> npt.NDArray[np.float64]:
        """p(live) of each RGB uint8 face crop: a list of (H, W, 3) or an (N, H, W, 3) array.

        Raises:
            PADError: a crop is invalid, or ``faces`` is neither a list nor a 4-d array.
        """
        log_odds = self.live_log_odds(faces)
        return 0.5 * (1.0 + np.tanh(0.5 * log_odds))  # the logistic function, overflow-free

    def live_log_odds(
        self, faces: Sequence[npt.NDArray[np.uint8]] | npt.NDArray[np.uint8]
    ) -> npt.NDArray[np.float64]:
        """log(p / (1 - p)) of each crop: the live minus attack logit, patch-averaged.

        The same ranking as :meth:`live_scores` without saturating near 0 and 1, for
        calibration and fusion. Same inputs and errors as :meth:`live_scores`.
        """
        items = _as_list(faces)
        checked = [_check_face(face, index) for index, face in enumerate(items)]
        if not checked:
            return np.empty(0, np.float64)
        self.load()
        return self._log_odds([patches(face) for face in checked])

    def _log_odds(self, inputs: list[npt.NDArray[np.float32]]) -> npt.NDArray[np.float64]:
        torch = self._torch
        out = np.empty(len(inputs), np.float64)
        with self._lock, torch.inference_mode():
            previous = torch.get_num_threads()
            if self._threads:
                torch.set_num_threads(self._threads)
            try:
                for start in range(0, len(inputs), self._batch_size):
                    chunk = np.concatenate(inputs[start : start + self._batch_size])
                    logits = self._net(torch.from_numpy(chunk))
                    mean = logits.double().reshape(-1, PATCHES_PER_FACE, 2).mean(dim=1)
                    # two-way softmax of the mean logits: p(live) = sigmoid(live - attack)
                    diff = mean[:, LIVE_CLASS] - mean[:, 1 - LIVE_CLASS]
                    out[start : start + len(diff)] = diff.numpy()
            finally:
                torch.set_num_threads(previous)
        return out


def _as_list(
    faces: Sequence[npt.NDArray[np.uint8]] | npt.NDArray[np.uint8],
) -> list[npt.NDArray[np.uint8]]:
    if isinstance(faces, np.ndarray):
        if faces.ndim != 4:
            raise PADError(
                f"a batch of face crops must be an (N, H, W, 3) array, got shape {faces.shape}"
            )
        return list(faces)
    if isinstance(faces, list | tuple):
        return list(faces)
    raise PADError(f"faces must be a list of crops or an array, got {type(faces).__name__}")


def _net_state(state: dict[str, Any]) -> dict[str, Any]:
    """The carrier's checkpoint keys (``module.`` prefixed, encoder duplicated) -> ours.

    The checkpoint stores each encoder stage twice (``encoder.layerN`` and
    ``convN+1``, the same modules) plus an unused ImageNet head and an identity
    head; only ``first_bn``, ``conv1``..``conv5`` and ``fc`` are needed.
    """
    keep = ("first_bn.", "conv1.", "conv2.", "conv3.", "conv4.", "conv5.", "fc.")
    stripped = {key.removeprefix("module."): value for key, value in state.items()}
    return {key: value for key, value in stripped.items() if key.startswith(keep)}


def _build_net(torch: Any) -> Any:
    """FaceBagNet model A: first BN, SE-ResNeXt (2, 2, 2, 2) x 32 groups, 2-way linear head.

    Module names match the carrier's ``FaceBagNet_model_A.Net`` (``conv1`` = the
    7x7 stem + max-pool, ``conv2``..``conv5`` = the four residual stages).
    """
    nn = torch.nn
    module: Any = nn.Module

    class SEModule(module):
        def __init__(self, channels: int, reduction: int) -> None:
            super().__init__()
            self.fc1 = nn.Conv2d(channels, channels // reduction, kernel_size=1)
            self.fc2 = nn.Conv2d(channels // reduction, channels, kernel_size=1)

        def forward(self, x: Any) -> Any:
            w = x.mean(dim=(2, 3), keepdim=True)
            return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(w))))

    class Block(module):
        """SE-ResNeXt bottleneck (type C), base width 4."""

        def __init__(self, inplanes: int, planes: int, stride: int, downsample: Any) -> None:
            super().__init__()
            groups = 32
            width = (planes * 4 // 64) * groups
            self.conv1 = nn.Conv2d(inplanes, width, kernel_size=1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(
                width, width, 3, stride=stride, padding=1, groups=groups, bias=False
            )
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, planes * 4, kernel_size=1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.se_module = SEModule(planes * 4, reduction=16)
            self.downsample = downsample

        def forward(self, x: Any) -> Any:
            out = torch.relu(self.bn1(self.conv1(x)))
            out = torch.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            residual = x if self.downsample is None else self.downsample(x)
            return torch.relu(self.se_module(out) + residual)

    def stage(inplanes: int, planes: int, stride: int) -> Any:
        downsample = None
        if stride != 1 or inplanes != planes * 4:
            downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes * 4, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * 4),
            )
        return nn.Sequential(
            Block(inplanes, planes, stride, downsample), Block(planes * 4, planes, 1, None)
        )

    class Net(module):
        def __init__(self) -> None:
            super().__init__()
            self.first_bn = nn.BatchNorm2d(3)
            self.conv1 = nn.Sequential()
            self.conv1.add_module("conv1", nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False))
            self.conv1.add_module("bn1", nn.BatchNorm2d(64))
            self.conv1.add_module("relu1", nn.ReLU(inplace=True))
            self.conv1.add_module("pool", nn.MaxPool2d(3, stride=2, ceil_mode=True))
            self.conv2 = stage(64, 64, 1)
            self.conv3 = stage(256, 128, 2)
            self.conv4 = stage(512, 256, 2)
            self.conv5 = stage(1024, 512, 2)
            self.fc = nn.Sequential(nn.Linear(2048, 2))

        def forward(self, x: Any) -> Any:
            x = self.first_bn(x)
            for layer in (self.conv1, self.conv2, self.conv3, self.conv4, self.conv5):
                x = layer(x)
            return self.fc(x.mean(dim=(2, 3)))

    return Net()


_SHARED: Lazy[FaceBagNetCue] = Lazy(FaceBagNetCue)


def shared_facebagnet() -> FaceBagNetCue:
    """The process-wide FaceBagNet cue (weights loaded on its first score)."""
    return _SHARED.get()


__all__ = [
    "DEFAULT_MARGIN",
    "LIVE_CLASS",
    "MODEL_KEY",
    "FaceBagNetCue",
    "available",
    "box_crop",
    "patches",
    "shared_facebagnet",
]
