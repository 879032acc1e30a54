"""Loss terms of the constrained autoencoder."""

from __future__ import annotations

import torch


def covariance_penalty(z: torch.Tensor) -> torch.Tensor:
    """Mean squared off-diagonal entry of the batch covariance of ``z``.

    ``z`` is ``(batch, d)``; the covariance is the unbiased sample covariance.
    Penalising it decorrelates the latent coordinates so that a Gaussian over
    them has a well-conditioned covariance.
    """
    n, d = z.shape
    if d < 2 or n < 2:
        return z.new_zeros(())
    centred = z - z.mean(dim=0, keepdim=True)
    cov = centred.T @ centred / (n - 1)
    off = cov - torch.diag(torch.diagonal(cov))
    return (off**2).sum() / (d * (d - 1))


def latent_conditioning(z) -> tuple[float, float]:
    """Condition number of the covariance of ``z`` and its largest |off-diagonal correlation|."""
    import numpy as np

    z = np.asarray(z, dtype=np.float64)
    cov = np.cov(z, rowvar=False)
    cov = np.atleast_2d(cov)
    cond = float(np.linalg.cond(cov))
    std = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
    corr = cov / np.outer(std, std)
    np.fill_diagonal(corr, 0.0)
    return cond, float(np.abs(corr).max()) if corr.size > 1 else 0.0
