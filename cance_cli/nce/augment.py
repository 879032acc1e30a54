"""Augmentation of reconstruction features (METHOD step 2).

Artificial normal points keep a real latent z and draw the reconstruction
error e' (and dissimilarity d') from a normal distribution truncated to
[0, m], where m is the mode of a log-normal fitted to the training values by
moments. The truncated normal follows the *current* noise marginal of that
column, so the augmented marginal ``0.5 p_data + 0.5 q`` stays at least
``0.5 / P_noise([0, m])`` times the noise marginal on [0, m] even after the
learned noise scale has widened it.
"""

from __future__ import annotations

import math

import torch


def lognormal_mode(mean: float, var: float) -> float:
    """Mode of the log-normal with this mean and variance (moment matching)."""
    if mean <= 0:
        raise ValueError("log-normal moments need a positive mean")
    sigma2 = math.log1p(var / mean**2)
    mu_ln = math.log(mean) - sigma2 / 2
    return math.exp(mu_ln - sigma2)


def normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return torch.special.ndtr(x)


def sample_truncated_normal(loc: torch.Tensor, scale: torch.Tensor, low: torch.Tensor, high: torch.Tensor,
                            n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` draws per column from N(loc, scale^2) truncated to [low, high] (inverse CDF, float64)."""
    loc, scale, low, high = (t.double() for t in (loc, scale, low, high))
    lo_p = normal_cdf((low - loc) / scale)
    hi_p = normal_cdf((high - loc) / scale)
    uni = torch.rand(n, loc.numel(), generator=generator, dtype=torch.float64, device=loc.device)
    p = (lo_p + uni * (hi_p - lo_p)).clamp(1e-300, 1 - 1e-16)
    out = loc + scale * torch.special.ndtri(p)
    return torch.minimum(torch.maximum(out, low), high)  # guard rounding at the edges


def noise_mass_below(mode: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """P_noise([0, m]) for each column's Gaussian marginal."""
    return normal_cdf((mode - loc) / scale) - normal_cdf(-loc / scale)
