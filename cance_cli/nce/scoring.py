"""Scoring with a fitted NCE density, without scikit-learn.

:class:`DensityScoring` holds what turns composite-feature rows into negative
log-likelihoods (whitening, the density network, the floor on reconstruction
columns); the estimator :class:`~cance_cli.training.nce.NCEDensity` inherits
it, and :class:`LoadedDensity` is the same scoring rebuilt from a checkpoint
alone. `cance score` uses the latter: it never imports scikit-learn, whose
import (with SciPy's stats) took 1.5-2.2 s of the command's start-up here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cance_cli.errors import DataError
from cance_cli.io.checkpoints import build_matching, load_checkpoint, rebuilding

STAGE = "nce"
# Whitened coordinates beyond this are scored in float64 (their squares near float32's limit).
FLOAT32_SAFE = 1e15
# Scoring runs the network on chunks of about this many activations per layer (2 MB of
# float32): measured on a 2-core CPU, 4,096 x 128 ran at twice the speed of 16,384 x 128.
NETWORK_CHUNK_VALUES = 2**19
# Metadata fields a density checkpoint must carry, with their JSON types.
REQUIRED_META = {"params": dict, "columns": list, "recon_columns": list, "modes": dict, "augment_applied": bool,
                 "fingerprint": str, "summary": dict, "history": dict}


def check_rows(C, what: str = "feature table") -> np.ndarray:
    """``C`` as a finite 2-D float64 array, or a DataError naming the first bad row."""
    C = np.asarray(C, dtype=np.float64)
    if C.ndim != 2:
        raise DataError(f"Expected a 2-D {what} (rows x columns), got shape {C.shape}.")
    if not np.isfinite(C).all():
        row = int(np.argwhere(~np.isfinite(C))[0][0])
        raise DataError(f"The {what} contains NaN or infinite values (first in row {row}); drop or fix those rows.")
    return C


class DensityScoring:
    """Scoring methods over the fitted parts ``whitener_``, ``noise_``, ``density_``,
    ``columns_``, ``recon_columns_``, ``modes_``, ``augment_applied_``, ``device_``
    and the network width ``hidden`` (``neighbours_``, the optional neighbour
    view of `fit-nce --knn`, is applied by the scorer, not here). Scores are negative log-likelihoods:
    **higher = more anomalous**."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "density_"):
            raise RuntimeError(f"This {type(self).__name__} is not fitted yet; call fit() or load().")

    def _checked(self, C) -> np.ndarray:
        """Rows as finite float64 of the fitted width (a clear error otherwise)."""
        self._check_fitted()
        C = check_rows(C)
        if C.shape[1] != len(self.columns_):
            raise DataError(f"The rows have {C.shape[1]} columns but the density was fitted on "
                            f"{len(self.columns_)}; pass the same feature columns.")
        return C

    def _whiten_batches(self, C: np.ndarray, batch_size: int):
        """Whitened batches of rows already passed through :meth:`_checked`."""
        import torch

        for start in range(0, len(C), batch_size):
            yield self.whitener_(torch.tensor(C[start:start + batch_size], dtype=torch.float64,
                                              device=self.device_))

    def score_samples(self, C, batch_size: int = 16384, floor: bool | None = None) -> np.ndarray:
        """Estimated negative log-likelihood of each row; higher = more anomalous.

        ``floor`` (default: on for models fitted with augmentation) scores
        reconstruction columns below their mode as if they were at the mode.
        Rows are centred in float64 (exact offsets whatever the columns'
        scale), whitened and scored in float32; a row whose whitened
        coordinates are beyond float32's comfortable range (|u| > 1e15, far
        outside any training data) is scored again entirely in float64, so
        every finite row gets a finite score. At most ``batch_size`` rows at a
        time, and fewer when the network is wide: its activations are kept to
        about 2 MB (4,096 rows at width 128), which ran twice as fast here as
        16,384 rows (``docs/benchmarks.md``, scoring throughput).
        """
        return self.score_checked_rows(self._checked(C), batch_size, floor)

    def score_checked_rows(self, C: np.ndarray, batch_size: int = 16384, floor: bool | None = None) -> np.ndarray:
        """:meth:`score_samples` of rows the caller has already checked: a finite
        float64 array of the fitted width (the scorer's record batches are checked
        as they are read; a second pass over a million rows cost about 50 ms here)."""
        import torch

        from cance_cli.models.density import standard_normal_log_prob

        if floor is None:
            floor = self.augment_applied_
        self.density_.eval()
        w = self.whitener_
        log_det = float(w.log_det)
        out = np.empty(len(C))
        step = max(1, min(batch_size, NETWORK_CHUNK_VALUES // self.hidden))
        with torch.inference_mode():
            matrix64 = w.matrix64().T
            matrix32 = matrix64.float()
            # The floor: reconstruction columns below their mode m score as at m. The augmentation
            # only guarantees that the density at low error is above the noise density; the floor
            # makes "an unusually small error never looks less normal than a typical one" exact.
            # Applied as a lower bound on the centred rows (-inf where there is none): no copy of C.
            lower = torch.full((len(self.columns_),), -math.inf, dtype=torch.float64, device=self.device_)
            if floor:
                for k in self.recon_columns_:
                    lower[k] = self.modes_[self.columns_[k]] - w.mean[k]
            for start in range(0, len(C), step):
                centred = torch.from_numpy(C[start:start + step]).to(self.device_) - w.mean
                if floor:
                    centred = torch.maximum(centred, lower)
                u = centred.float() @ matrix32
                log_p = standard_normal_log_prob(u).double() + self.density_.scoring_correction(u).double()
                far = ~(u.abs().amax(dim=1) <= FLOAT32_SAFE)  # also true for inf and NaN
                if bool(far.any()):
                    log_p[far] = self.density_.log_density64(centred[far] @ matrix64)
                out[start:start + len(centred)] = (log_det - log_p).cpu().numpy()
        return out

    def gaussian_score(self, C, batch_size: int = 65536) -> np.ndarray:
        """Negative log-density under the fitted Gaussian N(mu, S) (the "Gauss" baseline)."""
        import torch

        from cance_cli.models.density import standard_normal_log_prob

        log_det = float(self.whitener_.log_det)
        with torch.no_grad():
            parts = [(log_det - standard_normal_log_prob(u.double())).cpu().numpy()
                     for u in self._whiten_batches(self._checked(C), batch_size)]
        return np.concatenate(parts) if parts else np.zeros(0)

    def noise_log_prob(self, C) -> np.ndarray:
        """log p_n(c; alpha) of the (learned) noise, in feature space."""
        import torch

        log_det = float(self.whitener_.log_det)
        with torch.no_grad():
            return np.concatenate([(self.noise_.log_prob(u).double() - log_det).cpu().numpy()
                                   for u in self._whiten_batches(self._checked(C), 65536)])

    @property
    def noise_scale_(self) -> np.ndarray:
        return self.noise_.scale.detach().cpu().numpy()


def rebuild_parts(tensors: dict[str, np.ndarray], meta: dict[str, Any], dev) -> dict[str, Any]:
    """The fitted modules and column facts of a density checkpoint, on ``dev``."""
    import torch

    from cance_cli.models.density import DensityNet
    from cance_cli.nce.noise import LearnedGaussianNoise, Whitener

    params = meta["params"]
    dim = len(meta["columns"])
    if tensors["whitener.mean"].shape != (dim,) or tensors["whitener.chol"].shape != (dim, dim):
        raise ValueError("whitener shapes")  # before np.eye(dim): the metadata alone must not size an allocation
    # Build with the right shapes, then load the stored buffers into them.
    whitener = Whitener(tensors["whitener.mean"], np.eye(dim))
    whitener.load_state_dict({k.split(".", 1)[1]: torch.from_numpy(v)
                              for k, v in tensors.items() if k.startswith("whitener.")})
    noise = LearnedGaussianNoise(dim, learn=params["learn_noise"])
    with torch.no_grad():
        noise.alpha.copy_(torch.from_numpy(tensors["noise.alpha"]))
    stored = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith("density.")}
    if not 1 <= int(params["layers"]) <= len(stored):
        raise ValueError("layers")  # more layers than stored tensors: refused before building them
    density = build_matching(lambda: DensityNet(dim, params["hidden"], params["layers"]), stored)
    density.load_state_dict({k.split(".", 1)[1]: torch.from_numpy(v)
                             for k, v in tensors.items() if k.startswith("density.")})
    for module in (whitener, noise, density):
        module.to(dev)
    density.eval()
    return {"whitener_": whitener, "noise_": noise, "density_": density, "device_": dev,
            "columns_": meta["columns"], "recon_columns_": meta["recon_columns"], "modes_": meta["modes"],
            "augment_applied_": meta["augment_applied"], "fingerprint_": meta["fingerprint"],
            "neighbours_": _neighbours(tensors, meta.get("neighbours"), dim)}


def _neighbours(tensors: dict[str, np.ndarray], meta: dict[str, Any] | None, dim: int):
    """The neighbour view stored with a density, if any: imported only then (it needs scikit-learn,
    which a plain density's `cance score` never imports)."""
    if meta is None:
        return None
    from cance_cli.nce.neighbours import FeatureNeighbours

    return FeatureNeighbours.from_checkpoint(tensors, meta, dim)


class LoadedDensity(DensityScoring):
    """A fitted density read from a `fit-nce` checkpoint, for scoring only.

    Same scores as ``NCEDensity.load(path)`` (the same modules and methods),
    without scikit-learn. ``meta_`` is the checkpoint's metadata.
    """

    @classmethod
    def load(cls, path, device="cpu") -> LoadedDensity:
        """``device``: where to score, a ``torch.device`` or its name (``cpu``, ``cuda:0``)."""
        import torch

        device = torch.device(device)
        tensors, meta = load_checkpoint(path, STAGE, REQUIRED_META)
        scorer = cls()
        with rebuilding(path):
            parts = rebuild_parts(tensors, meta, device)
            scorer.hidden = int(meta["params"]["hidden"])
        for name, value in parts.items():
            setattr(scorer, name, value)
        scorer.meta_ = meta
        return scorer
