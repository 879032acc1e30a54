"""A neighbour view beside a feature-table density (`cance fit-nce --knn K`).

The log distance of a row to its K-th nearest normal training row, in the
feature table's columns standardised by the training rows' mean and standard
deviation, is a second score; it is combined with the density's score as
`cance fit` combines its views (`cance_cli/views/fusion.py`): each is
standardised by the median and interquartile range of its training rows'
scores and the two are added. Measured on one-class Fashion-MNIST over the
joined autoencoder + pretrained features (docs/benchmarks.md): the density
alone 0.9484, with the neighbour view 0.9508 (3 seeds).

It is stored in the density's checkpoint (tensors ``neighbours.*``, metadata
``neighbours``), so `cance score --nce` applies it without another file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cance_cli.views.fusion import combine, robust_scale
from cance_cli.views.knn import KNNDistance

PREFIX = "neighbours."


class FeatureNeighbours:
    """K-th nearest-neighbour distance in standardised feature columns, fused with a density.

    Attributes (after ``fit``): ``mean_``, ``scale_`` (the standardisation),
    ``knn_`` (a :class:`~cance_cli.views.knn.KNNDistance` holding at most
    ``max_rows`` rows), ``calibration_`` (median and IQR of the training rows'
    density scores and of the kept rows' leave-one-out neighbour scores),
    ``training_rows_``.
    """

    def __init__(self, k: int = 5, max_rows: int = 20_000, seed: int = 0):
        self.k, self.max_rows, self.seed = k, max_rows, seed

    def fit(self, rows: np.ndarray, density_scores: np.ndarray) -> FeatureNeighbours:
        """``rows``: the normal training rows; ``density_scores``: the density's scores of them."""
        rows = np.asarray(rows, dtype=np.float64)
        self.mean_ = rows.mean(axis=0)
        scale = rows.std(axis=0)
        # A constant column carries no distance; dividing by a zero spread would make it all of it.
        self.scale_ = np.where(scale > 1e-12 * max(float(scale.max()), 1e-300), scale, 1.0)
        self.training_rows_ = len(rows)
        # The neighbour scores' calibration comes from the kept rows alone (at most max_rows, leave-one-out):
        # scoring millions of left-out rows against them would cost more than the density's fit.
        self.knn_ = KNNDistance(self.k, self.max_rows, self.seed).fit(self._standardise(rows), score_left_out=False)
        self.calibration_ = {"composite": robust_scale(density_scores),
                             "knn": robust_scale(self.knn_.training_scores_)}
        return self

    def _standardise(self, rows: np.ndarray) -> np.ndarray:
        return ((np.asarray(rows, dtype=np.float64) - self.mean_) / self.scale_).astype(np.float32)

    def scores(self, rows: np.ndarray) -> np.ndarray:
        """Log distance of each row to its k-th nearest training row (higher = more anomalous)."""
        return self.knn_.score_samples(self._standardise(rows))

    def fuse(self, density_scores: np.ndarray, knn_scores: np.ndarray) -> np.ndarray:
        """The combined score (higher = more anomalous)."""
        return combine({"composite": density_scores, "knn": knn_scores}, self.calibration_)

    # ------------------------------------------------------------ checkpoint

    def tensors(self) -> dict[str, np.ndarray]:
        return {f"{PREFIX}rows": self.knn_.rows_, f"{PREFIX}training_scores": self.knn_.training_scores_,
                f"{PREFIX}mean": self.mean_, f"{PREFIX}scale": self.scale_}

    def meta(self) -> dict[str, Any]:
        return {"k": self.k, "max_rows": self.max_rows, "seed": self.seed, "calibration": self.calibration_,
                "training_rows": self.training_rows_}

    @classmethod
    def from_checkpoint(cls, tensors: dict[str, np.ndarray], meta: dict[str, Any] | None,
                        width: int) -> FeatureNeighbours | None:
        """The view stored with a density of ``width`` columns, or None when it has none.

        Raises ``ValueError``/``KeyError`` on a damaged one (the caller's
        ``rebuilding`` context turns them into one sentence).
        """
        if meta is None:
            return None
        view = cls(int(meta["k"]), int(meta["max_rows"]), int(meta["seed"]))
        view.mean_ = np.asarray(tensors[f"{PREFIX}mean"], dtype=np.float64)
        view.scale_ = np.asarray(tensors[f"{PREFIX}scale"], dtype=np.float64)
        view.training_rows_ = int(meta.get("training_rows", len(tensors[f"{PREFIX}training_scores"])))
        view.knn_ = KNNDistance.from_arrays(tensors[f"{PREFIX}rows"], tensors[f"{PREFIX}training_scores"],
                                            k=view.k, max_rows=view.max_rows, seed=view.seed)
        calibration = meta["calibration"]
        if view.knn_.rows_.shape[1] != width or view.mean_.shape != (width,) or view.scale_.shape != (width,) \
                or not (view.scale_ > 0).all() or set(calibration) != {"composite", "knn"}:
            raise ValueError("neighbour view shapes")
        view.calibration_ = {name: {"median": float(c["median"]), "iqr": float(c["iqr"])}
                             for name, c in calibration.items()}
        view.knn_._neighbours()  # build the index now: scoring threads then only read it
        return view
