"""PCA as the feature map of the pretrained-network path (METHOD step 1b).

PCA is a linear autoencoder: z = the first k principal components of an
embedding, x_hat = its PCA reconstruction, and the composite feature is
[z, mean (x - x_hat)^2, 1 - cos(x, x_hat)] with the same column names as the
autoencoder path, so fit-nce, score and evaluate work unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.utils._param_validation import Interval

from cance_cli.data.dataset import flat_rows
from cance_cli.errors import ConfigError, DataError
from cance_cli.io.provenance import array_fingerprint
from cance_cli.parts import Part

STAGE = "pca"


def _rows(X, index=slice(None)) -> np.ndarray:
    return flat_rows(X, index, what="embedding table")


class PCAFeatureMap(Part):
    """Composite features from a PCA of embeddings.

    Parameters
    ----------
    n_components : int
        k, the latent dimension.
    whiten : bool
        Divide z by the square root of each component's variance. The density
        step whitens its input anyway, so this changes only the table's scale.

    Attributes
    ----------
    mean_, components_, explained_variance_ : ndarray
    """

    STAGE, KIND = STAGE, "feature_map"
    _parameter_constraints = {"n_components": [Interval(Integral, 1, None, closed="left")], "whiten": ["boolean"]}

    def __init__(self, n_components: int = 32, whiten: bool = False):
        self.n_components = n_components
        self.whiten = whiten

    @property
    def latent(self) -> int:
        return self.n_components

    def fit(self, X, y=None) -> PCAFeatureMap:
        from sklearn.decomposition import PCA

        self.check_params()
        E = _rows(X)
        self._check_components(E)
        return self._keep(PCA(n_components=self.n_components, svd_solver="full").fit(E), E)

    @classmethod
    def fit_choosing(cls, X, choose: Callable[[np.ndarray], int], whiten: bool = False) -> PCAFeatureMap:
        """Fit with as many components as ``choose(shares)`` picks from every component's share of the variance
        (largest first): one decomposition, the same map as ``PCAFeatureMap(k).fit(X)``."""
        from sklearn.decomposition import PCA

        E = _rows(X)
        full = PCA(n_components=min(E.shape), svd_solver="full").fit(E)
        fmap = cls(choose(full.explained_variance_ratio_), whiten)
        fmap._check_components(E)
        return fmap._keep(full, E)

    def _check_components(self, E: np.ndarray) -> None:
        # Fewer components than columns: with all of them the reconstruction is exact and the composite
        # features' error columns are zero.
        top = min(E.shape[0], E.shape[1] - 1)
        if not 1 <= self.n_components <= top:
            raise ConfigError(f"--pca must be between 1 and {top} for {E.shape[0]} rows of width {E.shape[1]} "
                              f"(fewer components than columns), got {self.n_components}.")

    def _keep(self, pca, E: np.ndarray) -> PCAFeatureMap:
        """The first ``n_components`` of a fitted scikit-learn PCA (its full-SVD components are the same
        whatever number it was asked for)."""
        k = self.n_components
        self.mean_, self.components_ = pca.mean_, pca.components_[:k]
        self.explained_variance_ = pca.explained_variance_[:k]
        self.explained_variance_ratio_ = float(pca.explained_variance_ratio_[:k].sum())
        self.input_width_ = E.shape[1]
        self.fingerprint_ = array_fingerprint(E.astype(np.float32))
        return self

    def check_input(self, X) -> None:
        width = _rows(X, slice(0, 1)).shape[1]
        if width != self.input_width_:
            raise DataError(f"The embeddings have {width} columns but the PCA was fitted on {self.input_width_}; "
                            "use the same backbone and columns.")

    def iter_composite(self, X, batch_size: int = 4096):
        """Yield ``(start, z, recon_error, cos_dissim)`` per batch."""
        self.check_input(X)
        scale = np.sqrt(self.explained_variance_) if self.whiten else 1.0
        for start in range(0, len(X), batch_size):
            E = _rows(X, slice(start, start + batch_size))
            z = (E - self.mean_) @ self.components_.T
            recon = z @ self.components_ + self.mean_
            err = ((E - recon) ** 2).mean(axis=1)
            norms = np.linalg.norm(E, axis=1) * np.linalg.norm(recon, axis=1)
            dissim = 1.0 - (E * recon).sum(axis=1) / np.maximum(norms, 1e-12)
            yield start, (z / scale).astype(np.float32), err.astype(np.float32), dissim.astype(np.float32)

    def composite_features(self, X, batch_size: int = 4096) -> np.ndarray:
        return np.concatenate([np.column_stack([z, e, d]) for _, z, e, d in self.iter_composite(X, batch_size)])

    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return ({"mean": self.mean_, "components": self.components_, "explained_variance": self.explained_variance_},
                {"input_width": self.input_width_, "explained_variance_ratio": self.explained_variance_ratio_,
                 "fingerprint": self.fingerprint_})

    def set_state(self, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.mean_, self.components_ = tensors["mean"], tensors["components"]
        self.explained_variance_ = tensors["explained_variance"]
        w, k = int(meta["input_width"]), int(self.n_components)
        self.input_width_ = w
        if self.components_.shape != (k, w) or self.mean_.shape != (w,) or self.explained_variance_.shape != (k,):
            raise ValueError("shapes")
        self.explained_variance_ratio_ = meta.get("explained_variance_ratio")
        self.fingerprint_ = str(meta["fingerprint"])
