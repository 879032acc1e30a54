"""Regenerate the result tables in docs/benchmarks.md from docs/results/*.jsonl.

Tables sit between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` markers;
the prose around them is kept. Run after any benchmark:

    python benchmarks/report.py
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from cance_cli.bench.run import CANCE_METHODS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
METHODS = list(CANCE_METHODS)


def load(name: str) -> list[dict]:
    path = RESULTS / name
    return [json.loads(line) for line in open(path)] if path.exists() else []


def mean_std(values: list[float], digits: int = 3) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def ablation_table(rows: list[dict]) -> str:
    """Per normal class: mean ± std AUROC over seeds per method; best in bold."""
    if not rows:
        return "_no results yet_"
    cell: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    seeds: dict[str, set] = defaultdict(set)
    for r in rows:
        cell[r["normal"]][r["method"]].append(r["auroc"])
        seeds[r["normal"]].add(r["seed"])
    classes = sorted(cell, key=lambda c: (len(c), c))
    lines = ["| normal | seeds | " + " | ".join(METHODS) + " |", "|---|---|" + "---|" * len(METHODS)]
    per_seed_means: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for cls in classes:
        means = {m: np.mean(cell[cls][m]) for m in METHODS if cell[cls][m]}
        best = max(means.values())
        cells = []
        for m in METHODS:
            text = mean_std(cell[cls][m])
            cells.append(f"**{text}**" if m in means and means[m] == best else text)
        lines.append(f"| {cls} | {len(seeds[cls])} | " + " | ".join(cells) + " |")
    for r in rows:
        per_seed_means[r["method"]][r["seed"]].append(r["auroc"])
    complete = [c for c in classes if all(cell[c][m] for m in METHODS)]
    avg = {m: [np.mean([np.mean(cell[c][m]) for c in complete])] for m in METHODS} if complete else {}
    if avg:
        best = max(v[0] for v in avg.values())
        cells = [f"**{v[0]:.4f}**" if v[0] == best else f"{v[0]:.4f}" for v in (avg[m] for m in METHODS)]
        lines.append(f"| **mean ({len(complete)} classes)** | | " + " | ".join(cells) + " |")
        wins = sum(np.mean(cell[c]["CANCE"]) >= np.mean(cell[c]["CNCE"]) for c in complete)
        beats = sum(np.mean(cell[c]["CNCE"]) > np.mean(cell[c]["Error"]) for c in complete)
        lines.append("")
        lines.append(f"CANCE ≥ CNCE on {wins} of {len(complete)} classes; CNCE > Error on {beats} of "
                     f"{len(complete)}.")
    return "\n".join(lines)


def ae_table(rows: list[dict]) -> str:
    """Reconstruction-error AUROC, condition number and AE time per class."""
    rows = [r for r in rows if r["method"] == "Error"]
    if not rows:
        return "_no results yet_"
    by: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by[r["normal"]].append(r)
    lines = ["| normal | seeds | AUROC (recon_error) | latent condition number | AE training s |",
             "|---|---|---|---|---|"]
    aurocs, conds = [], []
    for cls in sorted(by, key=lambda c: (len(c), c)):
        rs = by[cls]
        trained = [r["ae_seconds"] for r in rs if r["ae_seconds"] > 5]  # < 5 s: reused checkpoint
        lines.append(f"| {cls} | {len(rs)} | {mean_std([r['auroc'] for r in rs])} | "
                     f"{mean_std([r['latent_condition_number'] for r in rs], 1)} | "
                     f"{mean_std(trained, 0) if trained else 'reused'} |")
        aurocs.append(np.mean([r["auroc"] for r in rs]))
        conds += [r["latent_condition_number"] for r in rs]
    lines.append(f"| **mean** | | **{np.mean(aurocs):.4f}** | max {max(conds):.1f} | |")
    return "\n".join(lines)


def lam_table(rows: list[dict]) -> str:
    if not rows:
        return "_no results yet_"
    lines = ["| λ | class | AUROC (recon_error) | condition number | max abs corr |", "|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["lam"], r["class"])):
        lines.append(f"| {r['lam']} | {r['class']} | {r['auroc_error']:.4f} | {r['condition_number']:.1f} | "
                     f"{r['max_abs_corr']:.3f} |")
    return "\n".join(lines)


def throughput_table(rows: list[dict]) -> str:
    """Whole-process seconds; where the child reported them, scoring seconds (after its imports)
    and the density's width too."""
    if not rows:
        return "_no results yet_"
    lines = ["| date | rows | batch size | density width | seconds, whole process | rows/s whole | seconds, scoring "
             "| rows/s scoring | peak RSS MB |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.get('date', '')} | {r['rows']:,} | {r['batch_size']:,} | {r.get('hidden', 128)} | "
                     f"{r['seconds']} | "
                     f"{r['rows_per_second']:,} | {r.get('scoring_seconds', '')} | "
                     f"{format(r['rows_per_second_scoring'], ',') if 'rows_per_second_scoring' in r else ''} | "
                     f"{r.get('peak_rss_mb', r.get('peak_rss_mb_max_so_far'))} |")
    return "\n".join(lines)


def generic_table(rows: list[dict], key: str = "auroc") -> str:
    """Method x class table for sweeps tagged with 'tag'."""
    if not rows:
        return "_no results yet_"
    cell: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        cell[(r.get("tag") or "default", r["normal"], r["method"])].append(r[key])
    tags = sorted({k[0] for k in cell})
    classes = sorted({k[1] for k in cell})
    methods = [m for m in METHODS if any(k[2] == m for k in cell)]
    lines = ["| setting | method | " + " | ".join(classes) + " | mean |", "|---|---|" + "---|" * (len(classes) + 1)]
    for t in tags:
        for m in methods:
            vals = [np.mean(cell[(t, c, m)]) if cell[(t, c, m)] else None for c in classes]
            shown = [f"{v:.4f}" if v is not None else "-" for v in vals]
            ok = [v for v in vals if v is not None]
            lines.append(f"| {t} | {m} | " + " | ".join(shown) + f" | {np.mean(ok):.4f} |")
    return "\n".join(lines)


def epochs_table() -> str:
    """Class 0, seed 0: the same autoencoder, NCE trained 200 vs 100 epochs."""
    lines = ["| data | NCE epochs | " + " | ".join(METHODS) + " |", "|---|---|" + "---|" * len(METHODS)]
    for data in ("mnist", "fashion"):
        for epochs, name in ((200, f"{data}-c0-nce200epochs.jsonl"), (100, f"{data}-one-class.jsonl")):
            rows = {r["method"]: r["auroc"] for r in load(name) if r["normal"] == "0" and r["seed"] == 0}
            if rows:
                lines.append(f"| {data} | {epochs} | " + " | ".join(f"{rows.get(m, float('nan')):.4f}"
                                                                 for m in METHODS) + " |")
    return "\n".join(lines)


def ratio_rows() -> list[dict]:
    """The ν sweep plus the ν = 10 runs of the main benchmark on the same classes and seed."""
    sweep = load("mnist-ratio-sweep.jsonl")
    classes = {r["normal"] for r in sweep}
    main = [dict(r, tag="ratio10") for r in load("mnist-one-class.jsonl")
            if r["seed"] == 0 and r["normal"] in classes and r["method"] == "CANCE"]
    return [r for r in sweep if r["method"] == "CANCE"] + main


def floor_table() -> str:
    rows = load("floor-ablation.jsonl")
    if not rows:
        return "_no results yet_"
    lines = ["| data | runs | CANCE with floor | CANCE without floor | max abs difference |", "|---|---|---|---|---|"]
    for data in sorted({r["data"] for r in rows}):
        rs = [r for r in rows if r["data"] == data]
        diff = max(abs(r["floor"] - r["no_floor"]) for r in rs)
        lines.append(f"| {data} | {len(rs)} | {np.mean([r['floor'] for r in rs]):.4f} | "
                     f"{np.mean([r['no_floor'] for r in rs]):.4f} | {diff:.4f} |")
    return "\n".join(lines)


def embed_table() -> str:
    rows = load("embed-throughput.jsonl")
    if not rows:
        return "_no results yet_"
    lines = ["| backbone | image size | device | threads | batch size | images | images/s |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['backbone']} | {r.get('image_size', 224)} | {r['device']} | "
              f"{r['threads']} | {r['batch_size']} | {r['images']} | {r['images_per_second']} |" for r in rows]
    return "\n".join(lines)


BENCH = RESULTS / "bench"


def bench_rows(name: str) -> list[dict]:
    from cance_cli.bench.run import read_results

    return read_results(BENCH / name / "results.csv")


def one_class_all_rows(data: str) -> list[dict]:
    """Baselines from `cance bench` plus the CANCE ablations of the one-class
    runs above (the same splits: class c normal, the whole test set)."""
    rows = [dict(r, split=r["split"]) for r in bench_rows(f"{data}-one-class")]
    for name, suffix in ((f"{data}-one-class.jsonl", ""), (f"{data}-pixels-pca.jsonl", "-PCA")):
        for r in load(name):
            if suffix and r["method"] == "Gauss":
                continue
            rows.append({"split": r["normal"], "seed": r["seed"], "method": r["method"] + suffix,
                         "auroc": r["auroc"], "f1": r["f1"],
                         "seconds": r["ae_seconds"] + r.get("feature_seconds", 0.0) + r["nce_seconds"]})
    return rows


def _order() -> list[str]:
    from cance_cli.bench.run import ALL_METHODS

    return list(ALL_METHODS)


def bench_section(rows: list[dict], metric: str = "auroc") -> str:
    from cance_cli.bench.report import summary_table

    return summary_table(rows, metric, _order()) if rows else "_no results yet_"


def bench_timing(rows: list[dict]) -> str:
    from cance_cli.bench.report import timing_table

    return timing_table(rows, _order()) if rows else "_no results yet_"


# The talk's Table 1 (MNIST hold-out, full schedule): NAE-OMI and the plain AE per held-out digit.
PUBLISHED_NAE = dict(zip("0123456789", (.989, .919, .992, .949, .949, .978, .938, .975, .929, .934)))
PUBLISHED_AE = dict(zip("0123456789", (.819, .131, .843, .734, .661, .755, .844, .542, .902, .537)))
HOLDOUT_METHODS = ("Error", "CANCE", "NAE", "CANCE-on-NAE", "MPDR-R")


def holdout_table() -> str:
    """Per held-out digit, the last run of each method (reruns of a digit replace earlier rows)."""
    last = {(r["digit"], r["method"]): r["auroc"] for r in load("nae-holdout.jsonl")}
    lines = ["| held-out digit | " + " | ".join(HOLDOUT_METHODS) + " | published (full schedule) |",
             "|---" * (len(HOLDOUT_METHODS) + 2) + "|"]
    for digit in sorted({d for d, _ in last}):
        got = {m: last[(digit, m)] for m in HOLDOUT_METHODS if (digit, m) in last}
        best = max(got.values())
        cells = [f"**{got[m]:.3f}**" if got.get(m) == best else (f"{got[m]:.3f}" if m in got else "")
                 for m in HOLDOUT_METHODS]
        published = f"NAE {PUBLISHED_NAE[digit]}, AE {PUBLISHED_AE[digit]}" + (", MPDR-R 0.971" if digit == "9" else "")
        lines.append(f"| {digit} | " + " | ".join(cells) + f" | {published} |")
    means = []
    for m in HOLDOUT_METHODS:  # over the digits this method has (their count when not all ten)
        vals = [auroc for (_, method), auroc in last.items() if method == m]
        count = "" if len(vals) == 10 else f" ({len(vals)} digit{'s' * (len(vals) > 1)})"
        means.append(f"{np.mean(vals):.3f}{count}" if vals else "")
    published_mean = f"NAE {np.mean(list(PUBLISHED_NAE.values())):.3f}, " \
                     f"AE {np.mean(list(PUBLISHED_AE.values())):.3f}"
    lines.append("| **mean** | " + " | ".join(means) + f" | {published_mean} |")
    return "\n".join(lines)


SECTIONS = {
    "bench-tabular-f1": lambda: bench_section(bench_rows("tabular"), "f1"),
    "bench-tabular-auroc": lambda: bench_section(bench_rows("tabular")),
    "bench-tabular-time": lambda: bench_timing(bench_rows("tabular")),
    "bench-mnist-one-class": lambda: bench_section(one_class_all_rows("mnist")),
    "bench-mnist-one-class-time": lambda: bench_timing(one_class_all_rows("mnist")),
    "bench-fashion-one-class": lambda: bench_section(one_class_all_rows("fashion")),
    "bench-fashion-one-class-time": lambda: bench_timing(one_class_all_rows("fashion")),
    "bench-multimodal": lambda: bench_section(bench_rows("mnist-multimodal")),
    "bench-multimodal-time": lambda: bench_timing(bench_rows("mnist-multimodal")),
    "bench-corrupted": lambda: bench_section(bench_rows("mnist-corrupted")),
    "bench-corrupted-time": lambda: bench_timing(bench_rows("mnist-corrupted")),
    "bench-corrupted-quick": lambda: bench_section(bench_rows("mnist-corrupted-quick")),
    "bench-loo": lambda: bench_section(bench_rows("fashion-leave-one-out")),
    "bench-loo-time": lambda: bench_timing(bench_rows("fashion-leave-one-out")),
    "mnist-ae": lambda: ae_table(load("mnist-one-class.jsonl")),
    "fashion-ae": lambda: ae_table(load("fashion-one-class.jsonl")),
    "mnist-ablation": lambda: ablation_table(load("mnist-one-class.jsonl")),
    "fashion-ablation": lambda: ablation_table(load("fashion-one-class.jsonl")),
    "lam-sweep": lambda: lam_table(load("mnist-lam-sweep.jsonl")),
    "throughput": lambda: throughput_table(load("score-throughput.jsonl")),
    "ratio-sweep": lambda: generic_table(ratio_rows()),
    "floor": floor_table,
    "mnist-pixels-pca": lambda: ablation_table(load("mnist-pixels-pca.jsonl")),
    "fashion-pixels-pca": lambda: ablation_table(load("fashion-pixels-pca.jsonl")),
    "embed": embed_table,
    "epochs-200": epochs_table,
    "holdout": holdout_table,
    "ood-mnist": lambda: bench_section(bench_rows("mnist-ood")),
    "ood-fashion": lambda: bench_section(bench_rows("fashion-ood")),
}


def main() -> None:
    text = DOC.read_text()
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(2), text)
    DOC.write_text(text)
    print(f"updated {DOC}")


if __name__ == "__main__":
    main()
