"""Whitening of composite features and the learned-scale Gaussian noise.

Composite features mix unit-variance latents with reconstruction errors of
order 1e-3, so everything is done in whitened coordinates
``u = Lr^{-1} ((c - mu) / std)`` with ``Lr`` the Cholesky factor of the
correlation matrix. There the fitted Gaussian N(mu, S) is N(0, I) and the
learned noise is N(0, diag(a^2)) with ``a = 1 + softplus(alpha)`` (it can only
widen). Densities are converted back to feature space by subtracting
``log|det(diag(std) Lr)|``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from cance_cli.errors import DataError
from cance_cli.models.density import standard_normal_log_prob

INITIAL_ALPHA = -3.0


class Whitener(nn.Module):
    """Affine map from composite features to whitened coordinates."""

    def __init__(self, mean: np.ndarray, cov: np.ndarray, jitter: float = 1e-6):
        super().__init__()
        std = np.sqrt(np.clip(np.diag(cov), 0, None))
        if (std <= 0).any():
            col = int(np.argmin(std))
            raise DataError(f"Feature column {col} is constant on the training rows; drop it or check the table.")
        corr = cov / np.outer(std, std)
        corr = (corr + corr.T) / 2 + jitter * np.eye(len(std))
        try:
            chol = np.linalg.cholesky(corr)
        except np.linalg.LinAlgError:
            raise DataError("The feature covariance is singular (duplicate or linearly dependent columns); "
                            "drop redundant columns.") from None
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float64))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float64))
        self.register_buffer("chol", torch.tensor(chol, dtype=torch.float64))

    @property
    def log_det(self) -> torch.Tensor:
        """log|det| of the map from whitened to feature coordinates."""
        return torch.log(self.std).sum() + torch.log(torch.diagonal(self.chol)).sum()

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        centred = ((c.double() - self.mean) / self.std).T
        return torch.linalg.solve_triangular(self.chol, centred, upper=False).T.float()

    def matrix64(self) -> torch.Tensor:
        """W with ``u = (c - mean) @ W.T`` (float64): scoring whitens with one matrix product."""
        return torch.linalg.solve_triangular(self.chol, torch.diag(1.0 / self.std), upper=False)

    def inverse(self, u: torch.Tensor) -> torch.Tensor:
        return ((self.chol @ u.double().T).T * self.std + self.mean).float()

    def marginal_std(self, scale: torch.Tensor) -> torch.Tensor:
        """Per-feature std (feature space) of noise N(0, diag(scale^2)) in whitened space."""
        return self.std * torch.sqrt((self.chol**2) @ scale.double() ** 2)


class LearnedGaussianNoise(nn.Module):
    """N(0, diag(a^2)) in whitened space, a = 1 + softplus(alpha) >= 1."""

    def __init__(self, dim: int, learn: bool = True):
        super().__init__()
        # a starts at 1 + softplus(-3) ~ 1.05: close to the fitted Gaussian, yet where
        # softplus still has gradient (at -10 it is 5e-5 and alpha never moves).
        self.alpha = nn.Parameter(torch.full((dim,), INITIAL_ALPHA if learn else -float("inf")),
                                  requires_grad=learn)

    @property
    def scale(self) -> torch.Tensor:
        return 1.0 + F.softplus(self.alpha)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Reparameterised draws: gradients reach alpha through a * eps."""
        eps = torch.randn(n, self.alpha.numel(), generator=generator, device=self.alpha.device)
        return eps * self.scale

    def log_prob(self, u: torch.Tensor) -> torch.Tensor:
        a = self.scale
        return standard_normal_log_prob(u / a) - torch.log(a).sum()
