"""The scikit-learn style CANCE estimator: composite features + NCE density.

Scores are estimated negative log-likelihoods: **higher = more anomalous**.
``predict`` returns 1 for anomalies and 0 for normal rows (the ``is_anomaly``
convention of the tables), not scikit-learn's -1/+1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cance_cli.errors import ConfigError
from cance_cli.training.autoencoder import ConstrainedAutoencoder
from cance_cli.training.nce import NCEDensity


class CANCE:
    """Constrained autoencoder (or precomputed features) + NCE density.

    Parameters
    ----------
    feature_map : {"autoencoder", "precomputed"}
        ``precomputed``: ``X`` already holds composite features whose last two
        columns are the reconstruction error and cosine dissimilarity.
    latent, lam, ae_epochs, decoder_epochs, ae_batch_size : autoencoder settings.
    features : {"composite", "latent"}
        Fit the density on [z, e, d] or on z alone (LatNCE).
    ratio, nce_epochs, nce_batch_size, hidden, augment, learn_noise : NCE settings.
    contamination : float
        Expected share of anomalies; sets ``threshold_`` from training scores.
    seed, device, verbose : as elsewhere.

    Attributes
    ----------
    autoencoder_ : ConstrainedAutoencoder or None
    density_ : NCEDensity
    threshold_ : float
    """

    def __init__(self, feature_map: str = "autoencoder", latent: int = 32, lam: float = 0.01,
                 ae_epochs: int = 30, decoder_epochs: int = 10, ae_batch_size: int = 128,
                 features: str = "composite", ratio: float = 10.0, nce_epochs: int = 100,
                 nce_batch_size: int = 256, hidden: int = 128, augment: bool = True, learn_noise: bool = True,
                 contamination: float = 0.05, seed: int = 0, device: str = "auto", verbose: bool = False):
        self.feature_map = feature_map
        self.latent = latent
        self.lam = lam
        self.ae_epochs = ae_epochs
        self.decoder_epochs = decoder_epochs
        self.ae_batch_size = ae_batch_size
        self.features = features
        self.ratio = ratio
        self.nce_epochs = nce_epochs
        self.nce_batch_size = nce_batch_size
        self.hidden = hidden
        self.augment = augment
        self.learn_noise = learn_noise
        self.contamination = contamination
        self.seed = seed
        self.device = device
        self.verbose = verbose

    def _composite(self, X) -> tuple[np.ndarray, list[str]]:
        if self.feature_map == "precomputed":
            C = np.asarray(X, dtype=np.float64)
            cols = [f"z_{i}" for i in range(C.shape[1] - 2)] + ["recon_error", "cos_dissim"]
            return C, cols
        return self.autoencoder_.composite_features(X).astype(np.float64), self.autoencoder_.feature_columns_

    def _select(self, C: np.ndarray, cols: list[str]) -> tuple[np.ndarray, list[str]]:
        if self.features == "latent":
            keep = [i for i, c in enumerate(cols) if c.startswith("z_")]
            return C[:, keep], [cols[i] for i in keep]
        return C, cols

    def fit(self, X, y=None) -> CANCE:
        """Fit on normal data ``X`` (images, rows, a Dataset, or composite features)."""
        if self.feature_map not in ("autoencoder", "precomputed"):
            raise ConfigError(f"feature_map must be autoencoder or precomputed, got {self.feature_map!r}.")
        if self.features not in ("composite", "latent"):
            raise ConfigError(f"features must be composite or latent, got {self.features!r}.")
        if not 0 < self.contamination < 1:
            raise ConfigError(f"contamination must be in (0, 1), got {self.contamination}.")
        self.autoencoder_ = None
        if self.feature_map == "autoencoder":
            self.autoencoder_ = ConstrainedAutoencoder(
                latent=self.latent, lam=self.lam, epochs=self.ae_epochs, decoder_epochs=self.decoder_epochs,
                batch_size=self.ae_batch_size, seed=self.seed, device=self.device, verbose=self.verbose).fit(X)
        C, cols = self._select(*self._composite(X))
        self.density_ = NCEDensity(
            ratio=self.ratio, hidden=self.hidden, epochs=self.nce_epochs, batch_size=self.nce_batch_size,
            augment=self.augment and self.features == "composite", learn_noise=self.learn_noise,
            seed=self.seed, device=self.device, verbose=self.verbose).fit(C, columns=cols)
        self.threshold_ = float(np.quantile(self.density_.score_samples(C), 1 - self.contamination))
        return self

    def score_samples(self, X) -> np.ndarray:
        """Estimated negative log-likelihood per row; higher = more anomalous."""
        return self.density_.score_samples(self._select(*self._composite(X))[0])

    def decision_function(self, X) -> np.ndarray:
        """``score - threshold_``: positive for rows flagged as anomalous."""
        return self.score_samples(X) - self.threshold_

    def predict(self, X) -> np.ndarray:
        """1 for anomalies, 0 for normal rows."""
        return (self.decision_function(X) > 0).astype(np.int64)

    def save(self, folder) -> Path:
        """Write ``ae.safetensors`` (if any) and ``nce.safetensors`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.autoencoder_ is not None:
            self.autoencoder_.save(folder / "ae.safetensors")
        self.density_.save(folder / "nce.safetensors", {"estimator": self.get_params(),
                                                        "threshold": self.threshold_})
        return folder

    @classmethod
    def load(cls, folder, device: str = "cpu") -> CANCE:
        folder = Path(folder)
        density = NCEDensity.load(folder / "nce.safetensors", device=device)
        est = cls(**{**density.meta_["estimator"], "device": device})
        est.density_ = density
        est.threshold_ = density.meta_["threshold"]
        est.autoencoder_ = (ConstrainedAutoencoder.load(folder / "ae.safetensors", device=device)
                            if est.feature_map == "autoencoder" else None)
        return est

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "feature_map", "latent", "lam", "ae_epochs", "decoder_epochs", "ae_batch_size", "features", "ratio",
            "nce_epochs", "nce_batch_size", "hidden", "augment", "learn_noise", "contamination", "seed")}
