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
    return _save(plt, fig, out)


def score_histogram(scores: np.ndarray, threshold: float, out: str | Path, title: str) -> Path:
    """One PNG: the histogram of ``scores`` (no labels needed) with the threshold as a line and the share
    above it. The x axis spans the 0.5-99.5 percentiles and the threshold (a long tail would squeeze the
    bulk into one bar); rows beyond it are counted in the legend."""
    plt = pyplot()
    scores = np.asarray(scores, dtype=np.float64)
    low, high = np.percentile(scores, [0.5, 99.5])
    low, high = min(low, threshold), max(high, threshold)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    outside = int(((scores < low) | (scores > high)).sum())
    flagged = int((scores > threshold).sum())
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.hist(np.clip(scores, low, high), bins=60, color="#4c72b0", alpha=0.8,
            label=f"{len(scores)} rows" + (f" ({outside} beyond the axis, drawn at its ends)" if outside else ""))
    ax.axvline(threshold, color="#c44e52", lw=1.5,
               label=f"threshold {threshold:.4g}: {flagged} flagged ({100.0 * flagged / len(scores):.1f} %)")
    ax.set(title=title, xlabel="score (higher = more anomalous)", ylabel="rows")
    ax.legend(fontsize=7)
    return _save(plt, fig, out)


def _save(plt, fig, out: str | Path) -> Path:
    """Write ``fig`` as a PNG through a temporary file and a rename, then free it."""
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(out)
