"""CMA-ES (Hansen's (mu/mu_w, lambda) evolution strategy), many problems in lockstep.

The inversion audit runs one search per target embedding; stepping them
together turns every generation into one batched call of the generator and of
the recogniser. Maximises. Parameters follow Hansen's tutorial (2016) defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass
class BatchCMAES:
    """State of `problems` independent CMA-ES runs in `dim` dimensions."""

    mean: FloatArray  # (T, D)
    sigma: FloatArray  # (T,)
    population: int
    rng: np.random.Generator

    def __post_init__(self) -> None:
        problems, dim = self.mean.shape
        lam = self.population
        mu = lam // 2
        raw = math.log(mu + 0.5) - np.log(np.arange(1, mu + 1))
        self.weights = raw / raw.sum()
        self.mu = mu
        self.mueff = 1.0 / float((self.weights**2).sum())
        n = dim
        self.cc = (4 + self.mueff / n) / (n + 4 + 2 * self.mueff / n)
        self.cs = (self.mueff + 2) / (n + self.mueff + 5)
        self.c1 = 2 / ((n + 1.3) ** 2 + self.mueff)
        self.cmu = min(
            1 - self.c1, 2 * (self.mueff - 2 + 1 / self.mueff) / ((n + 2) ** 2 + self.mueff)
        )
        self.damps = 1 + 2 * max(0.0, math.sqrt((self.mueff - 1) / (n + 1)) - 1) + self.cs
        self.chi_n = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n))
        self.pc = np.zeros((problems, dim))
        self.ps = np.zeros((problems, dim))
        self.basis = np.broadcast_to(np.eye(dim), (problems, dim, dim)).copy()
        self.scales = np.ones((problems, dim))
        self.cov = self.basis.copy()
        self.generation = 0
        self._steps: FloatArray | None = None

    def ask(self) -> FloatArray:
        """Candidates, shape (T, population, D)."""
        problems, dim = self.mean.shape
        z = self.rng.standard_normal((problems, self.population, dim))
        steps = np.einsum("tij,tkj->tki", self.basis, z * self.scales[:, None, :])
        self._steps = steps
        return np.asarray(self.mean[:, None, :] + self.sigma[:, None, None] * steps, np.float64)

    def tell(self, fitness: FloatArray) -> None:
        """Update from the candidates' fitness, shape (T, population); higher is better."""
        if self._steps is None:
            raise RuntimeError("tell() called before ask()")
        steps = self._steps
        _problems, dim = self.mean.shape
        order = np.argsort(-fitness, axis=1)[:, : self.mu]
        chosen = np.take_along_axis(steps, order[:, :, None], axis=1)  # (T, mu, D)
        step_w = np.einsum("k,tkd->td", self.weights, chosen)
        self.mean = self.mean + self.sigma[:, None] * step_w

        inv_sqrt = np.einsum("tij,tj,tkj->tik", self.basis, 1.0 / self.scales, self.basis)
        self.ps = (1 - self.cs) * self.ps + math.sqrt(
            self.cs * (2 - self.cs) * self.mueff
        ) * np.einsum("tij,tj->ti", inv_sqrt, step_w)
        self.generation += 1
        ps_norm = np.linalg.norm(self.ps, axis=1)
        hsig = (
            ps_norm / math.sqrt(1 - (1 - self.cs) ** (2 * self.generation)) / self.chi_n
            < 1.4 + 2 / (dim + 1)
        ).astype(np.float64)
        self.pc = (1 - self.cc) * self.pc + (
            hsig[:, None] * math.sqrt(self.cc * (2 - self.cc) * self.mueff) * step_w
        )
        rank_one = np.einsum("ti,tj->tij", self.pc, self.pc)
        rank_mu = np.einsum("k,tki,tkj->tij", self.weights, chosen, chosen)
        correction = ((1 - hsig) * self.cc * (2 - self.cc))[:, None, None] * self.cov
        self.cov = (
            (1 - self.c1 - self.cmu) * self.cov
            + self.c1 * (rank_one + correction)
            + self.cmu * rank_mu
        )
        self.sigma = self.sigma * np.exp((self.cs / self.damps) * (ps_norm / self.chi_n - 1))
        self.cov = (self.cov + np.transpose(self.cov, (0, 2, 1))) / 2
        eigenvalues, self.basis = np.linalg.eigh(self.cov)
        self.scales = np.sqrt(np.maximum(eigenvalues, 1e-20))
        self._steps = None
