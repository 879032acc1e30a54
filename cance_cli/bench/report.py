"""Markdown tables and ROC figures from benchmark result rows.

Tables have one row per split and one column per method; a cell is the mean
± std over seeds, the best mean of a row is bold, and two closing rows give
the mean over splits and the average rank (1 = best; ties share the mean
rank). Only splits every method finished enter the closing rows.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

from cance_cli.data.dataset import natural_key


def _cells(rows: list[dict[str, Any]], metric: str):
    cells: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        cells[str(r["split"])][r["method"]].append(float(r[metric]))
    return cells


def _fmt(values: list[float], digits: int) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def summary_table(rows: list[dict[str, Any]], metric: str = "auroc", methods: list[str] | None = None,
                  digits: int = 3, higher_is_better: bool = True) -> str:
    """Markdown table of ``metric``: splits x methods, best bold, mean and average-rank rows."""
    if not rows:
        return "_no results yet_"
    cells = _cells(rows, metric)
    methods = methods or list(dict.fromkeys(r["method"] for r in rows))
    methods = [m for m in methods if any(cells[s].get(m) for s in cells)]
    seeds = defaultdict(set)
    for r in rows:
        seeds[str(r["split"])].add(int(r["seed"]))
    sign = 1.0 if higher_is_better else -1.0
    lines = ["| split | seeds | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    complete, ranks = [], []
    for split in sorted(cells, key=natural_key):
        means = {m: np.mean(cells[split][m]) for m in methods if cells[split].get(m)}
        best = max(sign * v for v in means.values())
        texts = []
        for m in methods:
            if m not in means:
                texts.append("-")
                continue
            text = _fmt(cells[split][m], digits)
            texts.append(f"**{text}**" if sign * means[m] == best else text)
        lines.append(f"| {split} | {len(seeds[split])} | " + " | ".join(texts) + " |")
        if len(means) == len(methods):
            complete.append(split)
            ranks.append(rankdata([-sign * means[m] for m in methods]))
    if complete:
        avg = {m: float(np.mean([np.mean(cells[s][m]) for s in complete])) for m in methods}
        best = max(sign * v for v in avg.values())
        texts = [f"**{avg[m]:.{digits}f}**" if sign * avg[m] == best else f"{avg[m]:.{digits}f}" for m in methods]
        lines.append(f"| **mean ({len(complete)})** | | " + " | ".join(texts) + " |")
        mean_rank = np.mean(ranks, axis=0)
        texts = [f"**{r:.2f}**" if r == mean_rank.min() else f"{r:.2f}" for r in mean_rank]
        lines.append("| **avg rank** | | " + " | ".join(texts) + " |")
    return "\n".join(lines)


def timing_table(rows: list[dict[str, Any]], methods: list[str] | None = None) -> str:
    """Mean wall seconds per split (fit + score) of each method, and the total."""
    if not rows:
        return "_no results yet_"
    methods = methods or list(dict.fromkeys(r["method"] for r in rows))
    per: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        per[r["method"]].append(float(r["seconds"]))
    methods = [m for m in methods if per.get(m)]
    lines = ["| | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods),
             "| mean s / split | " + " | ".join(f"{np.mean(per[m]):.1f}" for m in methods) + " |",
             "| total s | " + " | ".join(f"{np.sum(per[m]):.0f}" for m in methods) + " |"]
    return "\n".join(lines)


def roc_figure(scores_table: str | Path, out: str | Path, title: str, methods: list[str] | None = None) -> Path:
    """One PNG with the ROC curve of every method in a bench score table."""
    import pyarrow.parquet as pq
    from sklearn.metrics import roc_auc_score, roc_curve

    from cance_cli.io.paths import atomic_path
    from cance_cli.plots import pyplot

    table = pq.read_table(scores_table)
    y = table.column("is_anomaly").to_numpy().astype(bool)
    names = methods or [c for c in table.column_names if c not in ("id", "is_anomaly")]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    colours = plt.get_cmap("tab20").colors  # 20 distinct colours; the default cycle repeats after 10
    for i, name in enumerate(names):
        s = table.column(name).to_numpy()
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, lw=1.2, color=colours[(2 * i) % 20 + (2 * i) // 20], ls="-" if i < 10 else "--",
                label=f"{name} ({roc_auc_score(y, s):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(fontsize=6.5, loc="lower right")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(out)
