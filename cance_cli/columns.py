"""The table contract: the names of the feature columns cance writes (the latent ``z_*`` and the two
reconstruction columns of a composite-feature table) and the ``is_anomaly`` rule."""

from __future__ import annotations

import numpy as np

RECON_COLUMNS = ["recon_error", "cos_dissim"]


def latent_columns(d: int) -> list[str]:
    return [f"z_{i}" for i in range(d)]


def composite_columns(d: int) -> list[str]:
    """The columns of a composite feature ``[z, e, d]`` with a latent of width ``d``."""
    return latent_columns(d) + RECON_COLUMNS


def is_anomaly(labels, normal) -> np.ndarray:
    """The ``is_anomaly`` column: 1 where a row's label (compared as text) is not among the normal classes."""
    return (~np.isin(np.asarray(labels).astype(str), normal)).astype(np.int8)
