"""Langevin chains: on the latent sphere, and in input space clamped to [0, 1]."""

from __future__ import annotations

from collections.abc import Callable

import torch

from cance_cli.models.reference_ae import sphere

Energy = Callable[[torch.Tensor], torch.Tensor]  # a batch -> one energy per row


def _grad(energy: Energy, x: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(energy(x).sum(), x)
    return g


def sphere_chain(energy: Energy, z: torch.Tensor, steps: int, step_size: float, noise: float,
                 generator: torch.Generator | None = None, unit_tangent: bool = False) -> torch.Tensor:
    """``z <- normalise(z - step_size * g + noise * eps)``, ``steps`` times; starts on the sphere.

    ``g`` is grad E(z) (NAE), or with ``unit_tangent`` its component tangent to the
    sphere scaled to unit length (MPDR: the step length no longer depends on E's scale).
    """
    z = sphere(z.detach())
    for _ in range(steps):
        g = _grad(energy, z)
        if unit_tangent:
            g = g - (g * z).sum(dim=1, keepdim=True) * z
            g = g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)
        eps = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
        z = sphere(z - step_size * g + noise * eps).detach()
    return z


def input_noise(k: int, base: float = 0.05) -> float:
    """The references' input-chain noise: ``base`` for the first two steps, then ``base / k``."""
    return base if k < 2 else base / k


def input_chain(energy: Energy, x: torch.Tensor, steps: int, step_size: float = 10.0, grad_clip: float = 0.01,
                noise: Callable[[int], float] = input_noise, generator: torch.Generator | None = None,
                low: float | torch.Tensor = 0.0, high: float | torch.Tensor = 1.0) -> torch.Tensor:
    """``x <- clamp(x - step_size * clamp(grad E, -c, c) + s_k * eps, low, high)``, ``steps`` times
    (images: [0, 1]; tables: the training rows' range per column)."""
    x = _box(x.detach(), low, high)
    for k in range(steps):
        g = _grad(energy, x).clamp(-grad_clip, grad_clip)
        eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        x = _box(x - step_size * g + noise(k) * eps, low, high).detach()
    return x


def _box(x: torch.Tensor, low, high) -> torch.Tensor:
    if isinstance(low, torch.Tensor):
        return torch.maximum(torch.minimum(x, high), low)
    return x.clamp(low, high)
