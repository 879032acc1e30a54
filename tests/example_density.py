"""A density added to cance in one file: a shrunk Gaussian (Mahalanobis distance).

This is the whole of what a new density needs (docs/design.md, "Adding a detector"): a Part with a
KIND and a STAGE, declared parameters, ``fit``, ``score_samples`` (higher = more anomalous) and its
state as named arrays; then ``register`` it. ``CANCE(density="gaussian-example")`` fits it for the
density views, and model folders save and load it.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval

from cance_cli.parts import Part
from cance_cli.registry import register


@register
class GaussianDensity(Part):
    """Negative log-likelihood under a Gaussian with covariance ``(1 - shrinkage) S + shrinkage I``."""

    STAGE, KIND = "gaussian-example", "density"
    _parameter_constraints = {"shrinkage": [Interval(Real, 0, 1, closed="both")]}

    def __init__(self, shrinkage: float = 0.1):
        self.shrinkage = shrinkage

    def fit(self, X, y=None, columns=None) -> GaussianDensity:
        self.check_params()
        X = np.asarray(X, dtype=np.float64)
        cov = np.atleast_2d(np.cov(X, rowvar=False))
        cov = (1 - self.shrinkage) * cov + self.shrinkage * np.eye(len(cov))
        self.mean_, self.precision_ = X.mean(axis=0), np.linalg.inv(cov)
        self.log_det_ = float(np.linalg.slogdet(cov)[1])
        return self

    def score_samples(self, X) -> np.ndarray:
        d = np.asarray(X, dtype=np.float64) - self.mean_
        mahalanobis = np.einsum("ij,jk,ik->i", d, self.precision_, d)
        return 0.5 * (mahalanobis + self.log_det_ + len(self.mean_) * np.log(2 * np.pi))

    def get_state(self):
        return {"mean": self.mean_, "precision": self.precision_}, {"log_det": self.log_det_}

    def set_state(self, tensors, meta) -> None:
        self.mean_, self.precision_ = tensors["mean"], tensors["precision"]
        if self.precision_.shape != (len(self.mean_), len(self.mean_)):
            raise ValueError("shapes")
        self.log_det_ = float(meta["log_det"])
