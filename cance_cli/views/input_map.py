"""The table itself as a feature map: standardised columns in principal coordinates.

Density estimation on the input needs a full-rank covariance, which real
tables often lack (constant or duplicated columns). The map standardises each
column with the training mean and standard deviation, rotates to principal
axes and keeps the directions whose singular value is at least 1e-4 of the
largest (at most ``max_components`` of them, and at most half the rows).
Rotation does not change distances, so the k-nearest-neighbour view uses the
same coordinates.

Two readers take different shares of those coordinates. The input density
reads the first ``max_components`` (what a density of a few thousand rows can
model); with ``residual=True`` it also reads ``p_rest``, the length of the
standardised row outside them (the input's own "reconstruction error"). The
neighbour view reads every kept direction when ``all_directions=True`` (a
distance needs no model, and on a wide table or an embedding the minor
directions are where a new kind of row shows), else the density's.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
from sklearn.utils._param_validation import Interval

from cance_cli.data.dataset import flat_rows
from cance_cli.errors import DataError
from cance_cli.io.provenance import array_fingerprint
from cance_cli.parts import Part

STAGE = "input-map"
RELATIVE_RANK_TOL = 1e-4
INPUT_RESIDUAL = False  # the input density's p_rest coordinate (docs/defaults.md, "Views": measured, see there)
NEIGHBOURS_EVERY_DIRECTION = False  # a table's neighbour view in every direction (docs/defaults.md, "Views")
# An experiment switch (docs/benchmarks.md, "Dequantised input density": measured, not adopted): the input
# density trains on dequantised rows (a column of integer training values, MIN to MAX levels of them, gets
# uniform noise one lattice step wide), so it models how rows spread over the lattice, not the lattice.
DEQUANTIZE = False
DEQUANTIZE_MAX_LEVELS = 32
DEQUANTIZE_MIN_LEVELS = 2  # 3: leave two-valued (binary, one-hot) columns as they are
# An experiment switch (CIFAR-10 issue): an embedding's neighbour view on its columns as given (unit rows: the
# cosine geometry), not standardised per column. See docs/benchmarks.md, "Embeddings' neighbours".
EMBEDDING_COLUMNS_STANDARDISED = True


def dequantized(X, seed: int) -> np.ndarray:
    """``X``'s rows with every lattice column (integer values, ``DEQUANTIZE_MIN_LEVELS`` to
    ``DEQUANTIZE_MAX_LEVELS`` distinct) spread over its cell: value + U(-step/2, step/2), step the smallest gap
    between its values."""
    rows = np.array(flat_rows(X), dtype=np.float64)
    rng = np.random.default_rng(seed)
    for j in range(rows.shape[1]):
        levels = np.unique(rows[:, j])
        if DEQUANTIZE_MIN_LEVELS <= len(levels) <= DEQUANTIZE_MAX_LEVELS and np.all(levels == np.round(levels)):
            step = float(np.min(np.diff(levels)))
            rows[:, j] += rng.uniform(-step / 2, step / 2, len(rows))
    return rows


class InputCoordinates(Part):
    """Standardise, rotate to principal axes, drop degenerate directions.

    Attributes
    ----------
    mean_, scale_ : ndarray (width,), the training columns' mean and std (0 -> 1)
    components_ : ndarray (k, width), the kept principal axes (the neighbour view's; the density's are the
        first ``n_density_``)
    """

    STAGE, KIND = STAGE, "feature_map"
    _parameter_constraints = {"max_components": [Interval(Integral, 1, None, closed="left")],
                              "residual": ["boolean"], "all_directions": ["boolean"], "standardise": ["boolean"]}

    def __init__(self, max_components: int = 64, residual: bool = False, all_directions: bool = False,
                 standardise: bool = True):
        self.max_components = max_components
        self.residual = residual
        self.all_directions = all_directions
        self.standardise = standardise

    def fit(self, X, y=None) -> InputCoordinates:
        self.check_params()
        rows = flat_rows(X)
        if len(rows) < 3:
            raise DataError(f"{len(rows)} rows cannot fit the input view; give at least 3.")
        self.mean_ = rows.mean(axis=0)
        std = rows.std(axis=0) if self.standardise else np.ones(rows.shape[1])  # off: the columns' own scale
        self.scale_ = np.where(std > 1e-12, std, 1.0)
        _, sv, vt = np.linalg.svd((rows - self.mean_) / self.scale_, full_matrices=False)
        keep = int(np.sum(sv > sv[0] * RELATIVE_RANK_TOL)) if sv[0] > 0 else 0
        if keep == 0:
            raise DataError("Every column is constant on the training rows; nothing to learn from.")
        # At most half as many directions as rows: a table with fewer rows than columns (50 x 200) still leaves
        # its density more rows than dimensions after the validation split, instead of failing the fit.
        usable = min(keep, max(1, len(rows) // 2))
        self.n_density_ = min(usable, self.max_components)
        self.components_ = vt[: usable if self.all_directions else self.n_density_]
        self.has_rest_ = bool(self.residual and self.n_density_ < keep)
        self.input_width_ = rows.shape[1]
        self.fingerprint_ = array_fingerprint(rows.astype(np.float32))
        return self

    @property
    def n_components_(self) -> int:
        """Coordinates of :meth:`transform` (the neighbour view's)."""
        return int(self.components_.shape[0])

    @property
    def columns(self) -> list[str]:
        """Names of :meth:`density_coordinates`' columns."""
        return [f"p_{i}" for i in range(self.n_density_)] + (["p_rest"] if self.has_rest_ else [])

    def _centred(self, X) -> np.ndarray:
        rows = flat_rows(X)
        if rows.shape[1] != self.input_width_:
            raise DataError(f"The rows have {rows.shape[1]} columns but the input view was fitted on "
                            f"{self.input_width_}; pass the training columns.")
        return (rows - self.mean_) / self.scale_

    def transform(self, X) -> np.ndarray:
        """Every kept principal coordinate: what the neighbour view measures distances in."""
        return self._centred(X) @ self.components_.T

    def density_coordinates(self, X) -> np.ndarray:
        """What the input density reads: the first ``n_density_`` coordinates (and ``p_rest``)."""
        centred = self._centred(X)
        P = centred @ self.components_[: self.n_density_].T
        if not self.has_rest_:
            return P
        # |row|^2 - |kept part|^2 is the squared length outside the kept (orthonormal) directions
        rest = np.sqrt(np.maximum((centred ** 2).sum(axis=1) - (P ** 2).sum(axis=1), 0.0))
        return np.column_stack([P, rest])

    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return ({"mean": self.mean_, "scale": self.scale_, "components": self.components_},
                {"input_width": self.input_width_, "fingerprint": self.fingerprint_, "has_rest": self.has_rest_,
                 "n_density": self.n_density_})

    def set_state(self, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.mean_, self.scale_, self.components_ = tensors["mean"], tensors["scale"], tensors["components"]
        w = self.input_width_ = int(meta["input_width"])
        if self.mean_.shape != (w,) or self.scale_.shape != (w,) or self.components_.ndim != 2 \
                or self.components_.shape[1] != w:
            raise ValueError("shapes")
        self.fingerprint_ = str(meta["fingerprint"])
        self.has_rest_ = bool(meta.get("has_rest", False))  # maps written before the residual had none
        # maps written before all_directions: the density read every kept direction
        self.n_density_ = int(meta.get("n_density", self.components_.shape[0]))
        if not 1 <= self.n_density_ <= self.components_.shape[0]:
            raise ValueError("n_density")
