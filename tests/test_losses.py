import numpy as np
import torch

from cance_cli.training.losses import covariance_penalty, latent_conditioning


def test_covariance_penalty_on_known_covariance():
    # Rows whose sample covariance is exactly [[2, 1, 0], [1, 2, 0], [0, 0, 1]] * k.
    rng = np.random.default_rng(0)
    target = np.array([[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    raw = rng.normal(size=(500, 3))
    raw -= raw.mean(0)
    whitened = raw @ np.linalg.inv(np.linalg.cholesky(np.cov(raw, rowvar=False))).T
    z = torch.tensor(whitened @ np.linalg.cholesky(target).T)
    # off-diagonal entries: 1, 1 (and four zeros) -> mean of squares over 6 = 2/6
    assert torch.isclose(covariance_penalty(z), torch.tensor(2.0 / 6, dtype=z.dtype), atol=1e-10)


def test_covariance_penalty_is_zero_for_decorrelated_latent_and_differentiable():
    z = torch.tensor(np.eye(4) * 2.0, requires_grad=True)
    z_centred_uncorrelated = torch.cat([z, -z])  # covariance is diagonal
    assert float(covariance_penalty(z_centred_uncorrelated).detach()) < 1e-12
    z2 = torch.randn(64, 5, requires_grad=True)
    covariance_penalty(z2).backward()
    assert z2.grad is not None and torch.isfinite(z2.grad).all()


def test_latent_conditioning_reports_condition_number_and_correlation():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(20000, 3)) * np.array([1.0, 1.0, 10.0])
    cond, corr = latent_conditioning(z)
    assert 90 < cond < 110
    assert corr < 0.05
