"""Face image priors for model-inversion audits.

A prior maps latent codes to face images. The inversion search
(:mod:`facescope.privacy.invert`) only talks to the :class:`FacePrior`
protocol, so a stronger generator (a diffusion model, StyleGAN) can replace
the bundled one without touching the search.

The bundled prior is the DCGAN shipped as ``weights.tar`` in
``gan-face-generate==1.1.1`` (trained on the synthetic DigiFace-1M faces):
z ~ N(0, I) of size 100 -> a 64x64 RGB face in [-1, 1]. The network is
re-implemented here (the carrier's own code needs torchvision and wandb) and
its weights are SHA-256 checked. It needs the optional ``torch`` extra.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from facescope._lazy import Lazy
from facescope.errors import ModelNotAvailableError
from facescope.models.registry import verified_path

#: Median YuNet landmarks of DCGAN samples (found in 947 of 1,024) (right eye, left eye, nose,
#: right and left mouth corner), in the 64x64 output frame; measured by
#: ``scripts/privacy/measure_prior_landmarks.py``.
DCGAN_LANDMARKS5 = np.array(
    [[22.88, 29.85], [41.23, 29.69], [31.92, 41.12], [24.84, 50.25], [39.59, 50.32]],
    dtype=np.float32,
)


class FacePrior(Protocol):
    """A generator of face images from latent codes."""

    name: str
    latent_dim: int
    size: int
    #: (5, 2) typical landmark positions of a generated face in the output frame,
    #: used to align generated faces into a recogniser's input format.
    landmarks5: npt.NDArray[np.float32]

    def sample(self, n: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
        """Draw n latent codes from the prior's latent distribution."""
        ...

    def decode(self, z: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
        """(n, latent_dim) codes -> (n, size, size, 3) RGB uint8 faces."""
        ...


@runtime_checkable
class DifferentiablePrior(Protocol):
    """A prior whose decoder is a torch function (for gradient-based search)."""

    def decode_tensor(self, z: Any) -> Any:
        """(n, latent_dim) torch codes -> (n, 3, size, size) torch images in [0, 1]."""
        ...


class DCGANPrior:
    """The bundled DCGAN face prior (gan-face-generate 1.1.1)."""

    name = "dcgan-digiface-64"
    latent_dim = 100
    size = 64
    landmarks5 = DCGAN_LANDMARKS5

    def __init__(self, num_threads: int | None = None) -> None:
        try:
            import torch
        except ImportError as exc:
            raise ModelNotAvailableError(
                "the inversion audit's face prior needs PyTorch, which is not installed; "
                "install the optional extra with: pip install 'facescope[torch]'"
            ) from exc
        self._torch = torch
        self._net = _build_generator(torch)
        state = torch.load(str(verified_path("dcgan_faces")), map_location="cpu", weights_only=True)
        self._net.load_state_dict(state["netG_state_dict"])
        self._net.eval()
        for parameter in self._net.parameters():
            parameter.requires_grad_(False)
        self._threads = num_threads
        self._lock = threading.Lock()

    def sample(self, n: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
        return rng.standard_normal((n, self.latent_dim)).astype(np.float32)

    def decode_tensor(self, z: Any) -> Any:
        images = self._net(z.reshape(-1, self.latent_dim, 1, 1))
        return (images + 1.0) / 2.0

    def decode(self, z: npt.NDArray[np.float32], batch_size: int = 256) -> npt.NDArray[np.uint8]:
        codes = np.asarray(z, dtype=np.float32).reshape(-1, self.latent_dim)
        torch = self._torch
        out = np.empty((len(codes), self.size, self.size, 3), np.uint8)
        with self._lock, torch.inference_mode():
            previous = torch.get_num_threads()
            if self._threads:
                torch.set_num_threads(self._threads)
            try:
                for start in range(0, len(codes), batch_size):
                    chunk = torch.from_numpy(codes[start : start + batch_size])
                    images = self.decode_tensor(chunk).clamp(0.0, 1.0)
                    pixels = (images.permute(0, 2, 3, 1) * 255.0 + 0.5).to(torch.uint8)
                    out[start : start + len(chunk)] = pixels.numpy()
            finally:
                torch.set_num_threads(previous)
        return out


def _build_generator(torch: Any) -> Any:
    """The PyTorch-tutorial DCGAN generator (nz=100, ngf=64, nc=3): 1 -> 4 -> ... -> 64 px.

    Layer indices match the carrier's ``netG_state_dict`` (``main.0.weight`` ...).
    """
    nn = torch.nn
    nz, ngf, nc = 100, 64, 3
    layers: list[Any] = []
    widths = [nz, ngf * 8, ngf * 4, ngf * 2, ngf]
    for index, (width_in, width_out) in enumerate(itertools.pairwise(widths)):
        stride, padding = (1, 0) if index == 0 else (2, 1)
        layers += [
            nn.ConvTranspose2d(width_in, width_out, 4, stride, padding, bias=False),
            nn.BatchNorm2d(width_out),
            nn.ReLU(True),
        ]
    layers += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
    generator = nn.Module()
    generator.main = nn.Sequential(*layers)
    generator.forward = generator.main.forward
    return generator


_PRIOR: Lazy[DCGANPrior] = Lazy(DCGANPrior)


def default_prior() -> DCGANPrior:
    """The process-wide bundled DCGAN prior, loaded on first use."""
    return _PRIOR.get()
