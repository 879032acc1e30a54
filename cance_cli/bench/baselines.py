"""Baseline detectors behind one interface: ``fit(X)`` on normal rows, then
``score_samples(X)`` with **higher = more anomalous**.

Where a maintained library has the method, it is used as is: scikit-learn's
IsolationForest, LocalOutlierFactor (novelty mode), OneClassSVM and
KernelDensity (after PCA whitening, bandwidth by cross-validated
likelihood); PyOD's DeepSVDD, VAE, KNN, ECOD and AutoEncoder through the
``bench`` extra. DAGMM
has no maintained implementation and lives in :mod:`cance_cli.training.dagmm`.

Inputs are flat float rows: pixels in [0, 1] for images, standardised columns
for tables. The quadratic-cost methods (LOF, OCSVM, KDE, KNN) train on at most
``max_train`` rows drawn with the seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cance_cli.errors import ConfigError

SKLEARN = ("IsolationForest", "LOF", "OCSVM", "KDE")
PYOD = ("DeepSVDD", "VAE", "KNN", "ECOD", "AutoEncoder")
BASELINES = SKLEARN + ("DAGMM",) + PYOD
QUADRATIC = ("LOF", "OCSVM", "KDE", "KNN")


def pyod_available() -> bool:
    try:
        import pyod  # noqa: F401
    except ImportError:
        return False
    return True


class _Negated:
    """Wrap an estimator whose ``score_fn`` is higher for normal rows."""

    def __init__(self, estimator, score_fn: str):
        self.estimator = estimator
        self.score_fn = score_fn

    def fit(self, X):
        self.estimator.fit(X)
        return self

    def score_samples(self, X):
        return -getattr(self.estimator, self.score_fn)(X)


class WhitenedKDE:
    """Gaussian KDE on PCA-whitened inputs; bandwidth by 3-fold likelihood CV."""

    def __init__(self, n_components: int = 32, seed: int = 0):
        self.n_components = n_components
        self.seed = seed

    def fit(self, X):
        from sklearn.decomposition import PCA
        from sklearn.model_selection import GridSearchCV
        from sklearn.neighbors import KernelDensity

        k = int(min(self.n_components, X.shape[1], len(X) - 1))
        self.pca_ = PCA(n_components=k, whiten=True, random_state=self.seed).fit(X)
        Z = self.pca_.transform(X)
        grid = {"bandwidth": np.logspace(-1, 1, 9) * Z.std(axis=0).mean()}
        search = GridSearchCV(KernelDensity(), grid, cv=3).fit(Z[: min(len(Z), 3000)])
        self.bandwidth_ = float(search.best_params_["bandwidth"])
        self.kde_ = KernelDensity(bandwidth=self.bandwidth_).fit(Z)
        return self

    def score_samples(self, X):
        return -self.kde_.score_samples(self.pca_.transform(X))


class _PyOD:
    """A PyOD detector; its ``decision_function`` is already higher for outliers."""

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X):
        # PyOD's deep models drop the last partial batch: with fewer rows than
        # batch_size nothing would train and PyOD fails inside its loop.
        if hasattr(self.estimator, "batch_size"):
            self.estimator.batch_size = max(1, min(self.estimator.batch_size, len(X)))
        self.estimator.fit(X)
        return self

    def score_samples(self, X):
        return np.asarray(self.estimator.decision_function(X), dtype=np.float64)


def make_detector(name: str, n_features: int, seed: int, options: dict[str, Any] | None = None):
    """A fresh, unfitted baseline ``name`` for rows of width ``n_features``.

    ``options`` (per-method keyword overrides, e.g. ``{"epochs": 5}``) are
    passed to the underlying estimator.
    """
    opts = dict(options or {})
    if name == "IsolationForest":
        from sklearn.ensemble import IsolationForest

        return _Negated(IsolationForest(random_state=seed, **opts), "score_samples")
    if name == "LOF":
        from sklearn.neighbors import LocalOutlierFactor

        return _Negated(LocalOutlierFactor(novelty=True, **opts), "score_samples")
    if name == "OCSVM":
        from sklearn.svm import OneClassSVM

        return _Negated(OneClassSVM(**{"gamma": "scale", "nu": 0.1, **opts}), "decision_function")
    if name == "KDE":
        return WhitenedKDE(seed=seed, **opts)
    if name in PYOD:
        if not pyod_available():
            raise ConfigError(f"{name} needs PyOD; run `pip install 'cance[bench]'` or leave {name} out.")
        if name == "KNN":  # k = 5, largest distance (PyOD's defaults)
            from pyod.models.knn import KNN

            return _PyOD(KNN(**opts))
        if name == "ECOD":
            from pyod.models.ecod import ECOD

            return _PyOD(ECOD(**opts))
        if name == "AutoEncoder":
            from pyod.models.auto_encoder import AutoEncoder

            return _PyOD(AutoEncoder(random_state=seed, verbose=0, **opts))
        if name == "DeepSVDD":
            from pyod.models.deep_svdd import DeepSVDD

            return _PyOD(DeepSVDD(n_features=n_features, random_state=seed, verbose=0,
                                  **{"epochs": 20, "batch_size": 128, **opts}))
        from pyod.models.vae import VAE

        return _PyOD(VAE(random_state=seed, verbose=0, **{"epoch_num": 20, "batch_size": 128, **opts}))
    raise ConfigError(f"Unknown baseline '{name}'; choose from {', '.join(BASELINES)}.")
