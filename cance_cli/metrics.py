"""Detection metrics. Scores follow the project convention: higher = more anomalous."""

from __future__ import annotations

import numpy as np

from cance_cli.errors import ConfigError, DataError


def top_k_flags(scores: np.ndarray, k: int) -> np.ndarray:
    """Flag exactly the ``k`` highest scores (ties broken by row order)."""
    flags = np.zeros(len(scores), dtype=bool)
    if k > 0:
        flags[np.argsort(-scores, kind="stable")[:k]] = True
    return flags


def detection_metrics(is_anomaly: np.ndarray, scores: np.ndarray, contamination: float | None = None,
                      top_k: int | None = None) -> dict[str, float]:
    """AUROC, AUPRC (average precision) and precision/recall/F1 of the anomaly
    class when the top k scores are flagged.

    k defaults to the true number of anomalies; ``contamination`` (a fraction)
    or ``top_k`` override it.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(is_anomaly).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    if len(y) != len(s):
        raise DataError(f"{len(y)} labels for {len(s)} scores.")
    if not np.isfinite(s).all():
        raise DataError("Some scores are NaN or infinite; re-score with finite features.")
    n_anom = int(y.sum())
    if n_anom == 0 or n_anom == len(y):
        which = "anomalous" if n_anom == 0 else "normal"
        raise DataError(f"The table has no {which} rows; AUROC and F1 need both classes.")
    if contamination is not None and top_k is not None:
        raise ConfigError("Give `contamination` or `top_k`, not both.")
    if contamination is not None:
        if not 0 < contamination < 1:
            raise ConfigError(f"`contamination` must be in (0, 1), got {contamination}.")
        k = int(round(contamination * len(s)))
    elif top_k is not None:
        if not 0 < top_k <= len(s):
            raise ConfigError(f"`top_k` must be in 1..{len(s)}, got {top_k}.")
        k = top_k
    else:
        k = n_anom
    flags = top_k_flags(s, k)
    tp = int((flags & y).sum())
    precision = tp / max(k, 1)
    recall = tp / n_anom
    f1 = 0.0 if tp == 0 else 2 * precision * recall / (precision + recall)
    return {"auroc": float(roc_auc_score(y, s)), "auprc": float(average_precision_score(y, s)),
            "precision": precision, "recall": recall, "f1": f1, "flagged": k,
            "n": len(s), "n_anomalies": n_anom}
