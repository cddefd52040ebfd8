"""Shared pieces of the privacy tests."""

from __future__ import annotations

from typing import Any


def conv_net(torch: Any) -> Any:
    """A small, seeded, differentiable recogniser: (n, 3, 112, 112) -> (n, 32)."""
    torch.manual_seed(0)
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 8, 5, stride=2),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(256, 32),
    ).eval()
