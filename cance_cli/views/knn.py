"""Distance to the k-th nearest training row, as an anomaly score.

``score_samples`` is log(distance + 1e-12) (a log-density estimate up to sign
and scale: the k-NN density is proportional to distance^-F), higher = more
anomalous. The training rows' own scores leave the row itself out, so they
are distributed like scores of new normal rows. Above ``max_rows`` training
rows a seeded sample of that many is kept: the cost of scoring a row is
bounded, and the rows left out are scored against the sample like new rows.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
from sklearn.utils._param_validation import Interval

from cance_cli.errors import DataError
from cance_cli.parts import Part

STAGE = "knn"


class KNNDistance(Part):
    """k-th nearest-neighbour distance to the training rows.

    Attributes
    ----------
    rows_ : ndarray (N, k_dims) float32, the training rows
    training_scores_ : ndarray (N,), leave-one-out scores of the training rows
    """

    STAGE, KIND = STAGE, "view"
    _parameter_constraints = {"k": [Interval(Integral, 1, None, closed="left")],
                              "max_rows": [Interval(Integral, 2, None, closed="left")],
                              "seed": [Interval(Integral, 0, None, closed="left")]}

    def __init__(self, k: int = 5, max_rows: int = 20_000, seed: int = 0):
        self.k = k
        self.max_rows = max_rows
        self.seed = seed

    def fit(self, rows: np.ndarray, score_left_out: bool = True) -> KNNDistance:
        """Keep the training rows (a seeded sample above ``max_rows``) and score them.

        ``training_scores_`` has one leave-one-out score per row; with
        ``score_left_out=False`` only the kept rows are scored (enough for a
        calibration, and on millions of rows far cheaper).
        """
        self.check_params()
        rows = np.asarray(rows, dtype=np.float32)
        if len(rows) < self.k + 1:
            raise DataError(f"{len(rows)} training rows are too few for the {self.k}-nearest-neighbour view; "
                            f"give at least {self.k + 1}.")
        kept = np.arange(len(rows))
        if len(rows) > self.max_rows:
            kept = np.sort(np.random.default_rng(self.seed).choice(len(rows), self.max_rows, replace=False))
        self.rows_ = rows[kept]
        self._index = None
        # A kept row's nearest neighbour is itself: ask for k + 1 (the last is the k-th other row).
        kept_scores = self._log_kth(self.rows_, self.k + 1)
        if not score_left_out:
            self.training_scores_ = kept_scores
            return self
        scores = np.empty(len(rows))
        scores[kept] = kept_scores
        left_out = np.setdiff1d(np.arange(len(rows)), kept)
        if len(left_out):
            scores[left_out] = self._log_kth(rows[left_out], self.k)
        self.training_scores_ = scores
        return self

    def _neighbours(self):
        from sklearn.neighbors import NearestNeighbors

        if getattr(self, "_index", None) is None:
            self._index = NearestNeighbors(n_neighbors=self.k).fit(self.rows_)
        return self._index

    def _log_kth(self, rows: np.ndarray, k: int, batch_size: int = 8192) -> np.ndarray:
        index = self._neighbours()
        out = [index.kneighbors(rows[i:i + batch_size], n_neighbors=k)[0][:, -1]
               for i in range(0, len(rows), batch_size)]
        return np.log(np.concatenate(out).astype(np.float64) + 1e-12) if out else np.zeros(0)

    def score_samples(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != self.rows_.shape[1]:
            raise DataError(f"The rows have shape {rows.shape} but the neighbour view holds rows of width "
                            f"{self.rows_.shape[1]}.")
        return self._log_kth(rows, self.k)

    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"rows": self.rows_, "training_scores": self.training_scores_}, {}

    def set_state(self, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.rows_ = np.asarray(tensors["rows"], dtype=np.float32)
        self.training_scores_ = np.asarray(tensors["training_scores"], dtype=np.float64)
        if self.rows_.ndim != 2 or len(self.rows_) <= self.k or self.training_scores_.ndim != 1:
            raise ValueError("shapes")
        self._index = None

    @classmethod
    def from_arrays(cls, rows, training_scores, **params) -> KNNDistance:
        """A fitted view from its stored rows and training scores (ValueError if they do not fit)."""
        est = cls(**params)
        est.set_state({"rows": rows, "training_scores": training_scores}, {})
        return est
