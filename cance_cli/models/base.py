"""The interface every autoencoder module shares: ``encoder``, ``decoder``,
``encode``, ``decode`` and ``forward`` returning (z, reconstruction)."""

from __future__ import annotations

import torch
from torch import nn


class _Autoencoder(nn.Module):
    """Shared interface: ``encoder`` maps inputs to the code, ``decoder`` maps it back."""

    encoder: nn.Sequential
    decoder: nn.Sequential

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return z, self.decode(z)
