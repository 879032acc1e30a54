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


def recovery_energy(energy: torch.Tensor, z: torch.Tensor, z_obs: torch.Tensor, sigma: torch.Tensor,
                    c: float = 1e-4, temperature: float = 1.0) -> torch.Tensor:
    """-log p(x | z_obs) of MPDR's recovery likelihood, per row:
    E(x) / T + c * |z - z_obs|^2 / (2 sigma^2), with z the projection of x."""
    return energy / temperature + c * ((z - z_obs) ** 2).sum(dim=1) / (2 * sigma**2)


def mpdr_loss(positive: torch.Tensor, negative: torch.Tensor, negative_recon: torch.Tensor,
              gamma: float = 1.0) -> torch.Tensor:
    """mean E(x+) - mean E(x-) + gamma * (mean reconstruction error of the negatives)^2 (MPDR-R)."""
    return positive.mean() - negative.mean() + gamma * negative_recon.mean() ** 2
