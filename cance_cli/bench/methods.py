"""The names of cance's own methods in a benchmark (the table's `method` column)."""

from __future__ import annotations

CANCE_METHODS = ("Error", "Gauss", "LatNCE", "CNCE", "CANCE")
PCA_METHODS = ("Error-PCA", "LatNCE-PCA", "CNCE-PCA", "CANCE-PCA")
# `cance fit` with its defaults (data-aware sizes and views), on the baselines' inputs.
FIT_METHOD = "CANCE-fit"
