"""Losses of the energy-based detectors (pure functions over tensors)."""

from __future__ import annotations

import torch
from torch import nn


def reconstruction_energy(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """E(x): mean squared reconstruction error per row (the NAE's energy, temperature 1)."""
    _, x_hat = model(x)
    return ((x - x_hat) ** 2).flatten(1).mean(dim=1)


def nae_loss(positive: torch.Tensor, negative: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """mean E(x+) - mean E(x-) + gamma * mean E(x-)^2 (negatives are detached samples)."""
    return positive.mean() - negative.mean() + gamma * (negative**2).mean()


def squared_weights(module: nn.Module) -> torch.Tensor:
    """Sum of squared weights (the references' L2 penalty on the encoder)."""
    return sum((p**2).sum() for p in module.parameters())
