"""DAGMM (Zong et al., 2018): a compression network and an estimation network.

The compression network is an autoencoder; its low-dimensional feature is
[latent, relative Euclidean distance, cosine similarity] between input and
reconstruction. The estimation network maps that feature to soft memberships
of ``n_gmm`` mixture components. The compression network reuses the project's
autoencoder architectures, as the CANCE paper does for its DAGMM baseline.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cance_cli.models.autoencoder import build_autoencoder


class DAGMMNet(nn.Module):
    """``forward(x) -> (x_hat, feature, gamma)``."""

    def __init__(self, ae_config: dict[str, Any], n_gmm: int = 4, est_hidden: int = 10, dropout: float = 0.5):
        super().__init__()
        self.compression = build_autoencoder(ae_config)
        self.estimation = nn.Sequential(
            nn.Linear(ae_config["latent"] + 2, est_hidden), nn.Tanh(), nn.Dropout(dropout),
            nn.Linear(est_hidden, n_gmm), nn.Softmax(dim=1),
        )

    @staticmethod
    def reconstruction_features(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """Relative Euclidean distance and cosine similarity per row, ``(N, 2)``."""
        a, b = x.flatten(1), x_hat.flatten(1)
        rel = (a - b).norm(dim=1) / a.norm(dim=1).clamp_min(1e-8)
        cos = nn.functional.cosine_similarity(a, b, dim=1, eps=1e-8)
        return torch.stack([rel, cos], dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z, x_hat = self.compression(x)
        feature = torch.cat([z, self.reconstruction_features(x, x_hat)], dim=1)
        return x_hat, feature, self.estimation(feature)
