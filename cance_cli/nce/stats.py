"""Streaming mean and covariance with the exact pairwise merge.

Merging per-batch (count, mean, scatter) triples with Chan et al.'s update
keeps float64 accuracy on long streams, where a running sum of squares
loses precision to cancellation.
"""

from __future__ import annotations

import numpy as np


class StreamingMoments:
    """Accumulate count, mean and scatter matrix over batches of rows."""

    def __init__(self, dim: int):
        self.dim = dim
        self.count = 0
        self.mean = np.zeros(dim)
        self.scatter = np.zeros((dim, dim))

    def update(self, rows: np.ndarray) -> StreamingMoments:
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise ValueError(f"expected rows of width {self.dim}, got shape {rows.shape}")
        if len(rows) == 0:
            return self
        mean = rows.mean(axis=0)
        centred = rows - mean
        return self.merge(len(rows), mean, centred.T @ centred)

    def merge(self, count: int, mean: np.ndarray, scatter: np.ndarray) -> StreamingMoments:
        """Fold in another block's statistics (exact, order-independent up to rounding)."""
        if count == 0:
            return self
        total = self.count + count
        delta = mean - self.mean
        self.scatter = self.scatter + scatter + np.outer(delta, delta) * (self.count * count / total)
        self.mean = self.mean + delta * (count / total)
        self.count = total
        return self

    @property
    def covariance(self) -> np.ndarray:
        if self.count < 2:
            raise ValueError("covariance needs at least two rows")
        return self.scatter / (self.count - 1)


COLLINEAR = 0.9999  # |correlation| above which two density columns are one (docs/benchmarks.md, "CIFAR-10")


def _abs_correlation(covariance: np.ndarray) -> np.ndarray | None:
    sd = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    if len(sd) < 2 or not np.all(sd > 0):
        return None
    corr = np.abs(covariance / np.outer(sd, sd))
    np.fill_diagonal(corr, 0.0)
    return corr


def collinear_columns(rows: np.ndarray) -> list[tuple[int, int, float]]:
    """Columns that repeat an earlier column up to scale: ``(column, the earlier one, |correlation|)`` for
    each column whose |correlation| with an earlier kept column exceeds :data:`COLLINEAR` (the first of a
    collinear group is kept). A constant column is left to the density's own checks."""
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim != 2 or len(rows) < 3:
        return []
    corr = _abs_correlation(np.cov(rows, rowvar=False))
    if corr is None:
        return []
    dropped: list[tuple[int, int, float]] = []
    kept: list[int] = []
    for j in range(corr.shape[0]):
        match = [i for i in kept if corr[i, j] > COLLINEAR]
        if match:
            dropped.append((j, match[0], float(corr[match[0], j])))
        else:
            kept.append(j)
    return dropped


def most_collinear_pair(covariance: np.ndarray) -> tuple[int, int, float] | None:
    """The two columns of largest |correlation| when it exceeds :data:`COLLINEAR`, else None."""
    corr = _abs_correlation(covariance)
    if corr is None:
        return None
    i, j = np.unravel_index(int(np.argmax(corr)), corr.shape)
    return (int(min(i, j)), int(max(i, j)), float(corr[i, j])) if corr[i, j] > COLLINEAR else None
