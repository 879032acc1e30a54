"""Figures people would rather look at than read: ROC curves and score histograms."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cance_cli.errors import ConfigError
from cance_cli.io.paths import atomic_path


def pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("Plots need matplotlib; run `pip install 'cance[plot]'` or drop --plot.") from None
    return plt


def roc_and_histograms(curves: list[tuple[str, np.ndarray, np.ndarray]], out: str | Path) -> Path:
    """One PNG: ROC curves of all score sets, then one score histogram each
    (normal vs anomalous). ``curves`` holds (name, is_anomaly, scores)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = pyplot()
    n = len(curves)
    fig, axes = plt.subplots(1, n + 1, figsize=(4.2 * (n + 1), 3.8))
    roc_ax = axes[0]
    for name, y, s in curves:
        fpr, tpr, _ = roc_curve(y, s)
        roc_ax.plot(fpr, tpr, label=f"{name} ({roc_auc_score(y, s):.3f})")
    roc_ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    roc_ax.legend(fontsize=7, loc="lower right")
    for ax, (name, y, s) in zip(axes[1:], curves):
        y = np.asarray(y).astype(bool)
        # Negative log-likelihoods span orders of magnitude in their tail, so a
        # histogram of raw scores is one spike; score ranks (as a percentile of
        # all rows) show the overlap of the two classes on one readable scale.
        rank = 100.0 * (np.argsort(np.argsort(s, kind="stable"), kind="stable") + 0.5) / len(s)
        bins = np.linspace(0, 100, 41)
        # Each class as a share of its own rows: a rare class stays visible.
        ax.hist(rank[~y], bins=bins, alpha=0.6, weights=np.full((~y).sum(), 100.0 / max((~y).sum(), 1)),
                label=f"normal ({(~y).sum()})")
        ax.hist(rank[y], bins=bins, alpha=0.6, weights=np.full(y.sum(), 100.0 / max(y.sum(), 1)),
                label=f"anomalous ({y.sum()})")
        ax.set(title=name, xlabel="score percentile (higher = more anomalous)", ylabel="% of the class")
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(out)
