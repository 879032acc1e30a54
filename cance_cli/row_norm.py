"""Rows scaled to unit length: the cosine geometry of frozen-feature embeddings.

A model decides once, at fit, whether its rows are scaled (``CANCE(row_norm=...)``, recorded in the model
folder's schema) and scales every row it reads the same way afterwards. ``auto`` scales embedding tables
(tables given to the PCA feature map): on CIFAR-10 embeddings the PCA's composite density and the neighbour
view both rank better on unit-length rows (docs/defaults.md, "PCA").
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from cance_cli.data.dataset import Dataset
from cance_cli.errors import ConfigError


def decide(row_norm: str, feature_map: str, X) -> str:
    """``"unit"`` or ``"none"`` for a model with these parameters fitted on ``X``."""
    is_table = X.kind == "table" if isinstance(X, Dataset) else np.ndim(X) == 2
    if row_norm == "unit" and not is_table:
        raise ConfigError("`row_norm` unit scales table rows (embeddings); images keep their pixels: use auto or "
                          "none.")
    return "unit" if row_norm == "unit" or (row_norm == "auto" and feature_map == "pca" and is_table) else "none"


def unit_rows(X):
    """``X`` (a table Dataset or a 2-D array) with every row divided by its length; a zero row stays zero."""
    rows = np.asarray(X.x if isinstance(X, Dataset) else X, dtype=np.float32)
    norms = np.linalg.norm(rows.astype(np.float64), axis=1, keepdims=True)
    unit = (rows / np.maximum(norms, 1e-12)).astype(np.float32)
    return replace(X, x=unit) if isinstance(X, Dataset) else unit
