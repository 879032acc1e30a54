"""Training and scoring for the DAGMM baseline (Zong et al., 2018).

Objective: reconstruction MSE + ``lambda_energy`` x mean sample energy +
``lambda_cov`` x sum of inverse diagonal covariance entries (keeps the
mixture from collapsing onto a point). Mixture weights, means and covariances
come from the estimation network's soft memberships, per batch while
training and over all training rows for scoring. Score = sample energy
(negative log-likelihood under the mixture): higher = more anomalous.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cance_cli.errors import ConfigError
from cance_cli.training.common import resolve_device, seed_everything, torch_generator
from cance_cli.training.optim import Adam
from cance_cli.training.trainer import epoch_order, fit_epochs


def gmm_params(feature, gamma):
    """Mixture weights ``(K,)``, means ``(K, D)`` and covariances ``(K, D, D)``
    from features ``(N, D)`` and soft memberships ``gamma`` ``(N, K)``."""
    nk = gamma.sum(0).clamp_min(1e-12)
    phi = nk / len(feature)
    mu = gamma.T @ feature / nk[:, None]
    diff = feature[:, None, :] - mu[None]
    cov = (gamma[:, :, None, None] * diff[..., :, None] * diff[..., None, :]).sum(0) / nk[:, None, None]
    return phi, mu, cov


def _cholesky(cov, eps: float):
    """Cholesky factors with a diagonal jitter that grows until it succeeds."""
    import torch

    eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    for jitter in (eps, eps * 100, eps * 1e4):
        chol, info = torch.linalg.cholesky_ex(cov + jitter * eye)
        if not bool(info.any()):
            return chol
    raise FloatingPointError("DAGMM covariance is not positive definite; lower the latent size or n_gmm.")


def gmm_energy(feature, phi, mu, cov, eps: float = 1e-6):
    """Sample energy ``-log sum_k phi_k N(feature; mu_k, cov_k)`` per row."""
    import torch

    chol = _cholesky(cov, eps)
    diff = (feature[:, None, :] - mu[None]).unsqueeze(-1)  # N K D 1
    sol = torch.linalg.solve_triangular(chol.expand(len(feature), *chol.shape), diff, upper=False).squeeze(-1)
    maha = (sol ** 2).sum(-1)
    logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    d = feature.shape[1]
    log_comp = torch.log(phi.clamp_min(1e-12)) - 0.5 * (maha + logdet + d * math.log(2 * math.pi))
    return -torch.logsumexp(log_comp, dim=1)


class DAGMM:
    """Deep autoencoding Gaussian mixture model, a baseline detector.

    Parameters
    ----------
    latent : int
        Latent size of the compression network.
    n_gmm : int
        Mixture components.
    lambda_energy, lambda_cov : float
        Weights of the energy and covariance terms (the paper's 0.1 and 0.005).
    epochs, batch_size, lr : training settings (Adam).
    hidden : tuple of int, optional
        Compression-network widths (tables) or channels (images).
    val_fraction : float
        Held-out share of the training rows; the epoch with the lowest
        validation objective is kept.
    seed, device : as elsewhere.

    Attributes
    ----------
    model_ : DAGMMNet
    phi_, mu_, cov_ : mixture fitted on all training rows.
    """

    def __init__(self, latent: int = 1, n_gmm: int = 4, lambda_energy: float = 0.1, lambda_cov: float = 0.005,
                 epochs: int = 30, batch_size: int = 1024, lr: float = 1e-3, hidden: tuple[int, ...] | None = None,
                 val_fraction: float = 0.1, seed: int = 0, device: str = "auto"):
        self.latent = latent
        self.n_gmm = n_gmm
        self.lambda_energy = lambda_energy
        self.lambda_cov = lambda_cov
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.hidden = hidden
        self.val_fraction = val_fraction
        self.seed = seed
        self.device = device

    def _objective(self, x):
        import torch
        import torch.nn.functional as F

        x_hat, feature, gamma = self.model_(x)
        phi, mu, cov = gmm_params(feature, gamma)
        energy = gmm_energy(feature, phi, mu, cov)
        inv_diag = (1.0 / torch.diagonal(cov, dim1=-2, dim2=-1).clamp_min(1e-12)).sum()
        return F.mse_loss(x_hat, x) + self.lambda_energy * energy.mean() + self.lambda_cov * inv_diag

    def fit(self, X: np.ndarray, y=None) -> DAGMM:
        """Train on normal rows ``(N, F)`` (standardised) or images ``(N, C, H, W)`` in [0, 1]."""
        import torch

        from cance_cli.data.dataset import train_val_indices
        from cance_cli.models.autoencoder import default_config
        from cance_cli.models.dagmm import DAGMMNet

        if self.n_gmm < 1 or self.latent < 1:
            raise ConfigError("DAGMM needs latent >= 1 and n_gmm >= 1.")
        X = np.asarray(X, dtype=np.float32)
        seed_everything(self.seed)
        self.device_ = resolve_device(self.device)
        kind = "image" if X.ndim == 4 else "table"
        config: dict[str, Any] = default_config(X.shape[1:], self.latent, self.hidden, kind)
        self.model_ = DAGMMNet(config, self.n_gmm).to(self.device_)
        train_idx, val_idx = train_val_indices(len(X), self.val_fraction, self.seed)
        gen = torch_generator(self.seed)
        opt = Adam(self.model_.parameters(), lr=self.lr)
        data = torch.from_numpy(X)

        def train_epoch(epoch: int) -> float:
            self.model_.train()
            order, batch_size = epoch_order(train_idx, gen, self.seed, epoch, self.batch_size)
            total, count = 0.0, 0
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                if len(idx) < 2:
                    continue
                loss = self._objective(data[idx].to(self.device_))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total, count = total + float(loss.detach()) * len(idx), count + len(idx)
            return total / max(count, 1)

        def validate(_: float) -> float:
            self.model_.eval()
            with torch.no_grad():
                check = val_idx if len(val_idx) else train_idx
                return float(self._objective(data[check[:8192]].to(self.device_)))

        self.history_: dict[str, Any] = {}
        self.best_epoch_ = fit_epochs(self.epochs, train_epoch, validate, self.model_, self.history_).epoch
        self.model_.eval()
        feature, gamma = self._features(X)
        self.phi_, self.mu_, self.cov_ = gmm_params(feature, gamma)
        return self

    def _features(self, X: np.ndarray, batch_size: int = 4096):
        import torch

        feats, gammas = [], []
        with torch.no_grad():
            for start in range(0, len(X), batch_size):
                _, feature, gamma = self.model_(torch.from_numpy(np.asarray(X[start:start + batch_size],
                                                                            dtype=np.float32)).to(self.device_))
                feats.append(feature.double())
                gammas.append(gamma.double())
        return torch.cat(feats), torch.cat(gammas)

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """Sample energy per row; higher = more anomalous."""
        feature, _ = self._features(X)
        return gmm_energy(feature, self.phi_, self.mu_, self.cov_).cpu().numpy()
