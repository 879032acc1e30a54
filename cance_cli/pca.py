"""PCA as the feature map of the pretrained-network path (METHOD step 1b).

PCA is a linear autoencoder: z = the first k principal components of an
embedding, x_hat = its PCA reconstruction, and the composite feature is
[z, mean (x - x_hat)^2, 1 - cos(x, x_hat)] with the same column names as the
autoencoder path, so fit-nce, score and evaluate work unchanged.

The reconstruction may use more components than z (``error_components``):
on 1,280-wide embeddings 90 % of the variance takes 300-400 components, far
more than a density of 5,000 rows can model, and the error *outside* that
subspace is where a new kind of image shows (docs/defaults.md, "PCA").
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
PCA_AUTO_VARIANCE = 0.9  # pca="auto": the fewest components that explain this share of the variance


def pca_auto_components(explained_variance_ratio: np.ndarray, n_rows: int, width: int) -> int:
    """The rule of ``pca="auto"``: the fewest components explaining 90% of the
    variance, at least 2 and at most min(64, rows - 1, width - 1) (all of a
    table's components would reconstruct it exactly: zero error columns)."""
    return int(min(pca_auto_error_components(explained_variance_ratio, n_rows, width), 64))


def pca_auto_error_components(explained_variance_ratio: np.ndarray, n_rows: int, width: int) -> int:
    """The components the error columns of ``pca="auto"`` measure against: the fewest explaining 90% of the
    variance, unclipped (at least 2, at most rows - 1 and width - 1); docs/defaults.md, "PCA"."""
    k = int(np.searchsorted(np.cumsum(explained_variance_ratio), PCA_AUTO_VARIANCE) + 1)
    return int(min(max(k, 2), n_rows - 1, width - 1))




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
    error_components : int or None
        Components of the reconstruction x_hat that the error and cosine
        columns measure against (at least ``n_components``); None: the same
        ``n_components`` as z.

    Attributes
    ----------
    mean_, components_, explained_variance_ : ndarray
    """

    STAGE, KIND = STAGE, "feature_map"
    _parameter_constraints = {"n_components": [Interval(Integral, 1, None, closed="left")], "whiten": ["boolean"],
                              "error_components": [Interval(Integral, 1, None, closed="left"), None]}

    def __init__(self, n_components: int = 32, whiten: bool = False, error_components: int | None = None):
        self.n_components = n_components
        self.whiten = whiten
        self.error_components = error_components

    @property
    def n_error_components_(self) -> int:
        """Components of the reconstruction the error columns measure against."""
        return int(self.components_.shape[0])

    @property
    def latent(self) -> int:
        return self.n_components

    def fit(self, X, y=None) -> PCAFeatureMap:
        from sklearn.decomposition import PCA

        self.check_params()
        E = _rows(X)
        self._check_components(E)
        # error_components >= n_components (checked above): the decomposition the reconstruction needs
        pca = PCA(n_components=self.error_components or self.n_components, svd_solver="full")
        return self._keep(pca.fit(E), E)

    @classmethod
    def fit_choosing(cls, X, choose: Callable[[np.ndarray], tuple[int, int | None]],
                     whiten: bool = False) -> PCAFeatureMap:
        """Fit with the ``(n_components, error_components)`` that ``choose(shares)`` picks from every component's
        share of the variance (largest first): one decomposition, the same map as
        ``PCAFeatureMap(k, error_components=r).fit(X)``."""
        from sklearn.decomposition import PCA

        E = _rows(X)
        full = PCA(n_components=min(E.shape), svd_solver="full").fit(E)
        k, r = choose(full.explained_variance_ratio_)
        fmap = cls(k, whiten, r)
        fmap._check_components(E)
        return fmap._keep(full, E)

    @classmethod
    def fit_auto(cls, X) -> PCAFeatureMap:
        """The map of ``pca="auto"``: :func:`pca_auto_components` for z, :func:`pca_auto_error_components`
        for the error columns."""
        E = _rows(X)

        def choose(shares: np.ndarray) -> tuple[int, int]:
            return pca_auto_components(shares, *E.shape), pca_auto_error_components(shares, *E.shape)

        return cls.fit_choosing(E, choose)

    def _check_components(self, E: np.ndarray) -> None:
        # Fewer components than columns: with all of them the reconstruction is exact and the composite
        # features' error columns are zero.
        top = min(E.shape[0], E.shape[1] - 1)
        if not 1 <= self.n_components <= top:
            raise ConfigError(f"`pca` must be between 1 and {top} for {E.shape[0]} rows of width {E.shape[1]} "
                              f"(fewer components than columns), got {self.n_components}.")
        if self.error_components is not None and not self.n_components <= self.error_components <= top:
            raise ConfigError(f"error_components must be between n_components ({self.n_components}) and {top}, "
                              f"got {self.error_components}.")

    def _keep(self, pca, E: np.ndarray) -> PCAFeatureMap:
        """The first ``n_components`` of a fitted scikit-learn PCA (its full-SVD components are the same
        whatever number it was asked for)."""
        k, r = self.n_components, self.error_components or self.n_components
        # components_ holds the reconstruction's r axes; z is the first k of them
        self.mean_, self.components_ = pca.mean_, pca.components_[:r]
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
        k = self.n_components
        for start in range(0, len(X), batch_size):
            E = _rows(X, slice(start, start + batch_size))
            coords = (E - self.mean_) @ self.components_.T
            recon = coords @ self.components_ + self.mean_
            z = coords[:, :k]
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
        r = int(self.error_components or k)  # checkpoints written before error_components: r = k
        self.input_width_ = w
        if self.components_.shape != (r, w) or self.mean_.shape != (w,) or self.explained_variance_.shape != (k,):
            raise ValueError("shapes")
        self.explained_variance_ratio_ = meta.get("explained_variance_ratio")
        self.fingerprint_ = str(meta["fingerprint"])
