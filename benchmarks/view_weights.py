"""A label-free weight per view, from synthetic anomalies made of held-out normal rows (quality-on-unseen-tables
issue, item 2).

    python benchmarks/view_weights.py [--seeds 0,1,2] [--tables all|NAME,...] [--work /tmp/view-weights]
    python benchmarks/view_weights.py --report [--work /tmp/view-weights] [--out docs/results/view-weights.jsonl]
    python benchmarks/view_weights.py --set ae_hidden=64,32 --work /tmp/view-weights-h64 (a variant: full models only)

Per table and seed (the novelty split of `cance bench novelty` for ``adbench-dev``, the split of
``categorical_novelty.py`` for ``categorical-dev``, the raw columns given to the model):

1. the full model: ``CANCE(views="composite+input+knn")`` on the training rows; every view's scores of the
   test rows and the model's ``calibration_`` (each view's training median and IQR);
2. a fold model, the same on a random half of the training rows; every view's scores of the other half (held-out
   normal rows) and of synthetic anomalies made from them: each held-out row with the cells of ``k`` random
   columns replaced by those of another random held-out row (``swap1``: k = 1; ``swapq``: k = ceil(F / 4)). No
   label is read: the synthetic rows are anomalous only in that their columns no longer come from one row.

The fits are saved (one ``.npz`` per table and seed under ``--work``; a finished one is skipped), and
``--report`` combines them offline under each candidate rule, so every rule is judged on the same fits:

- ``rule``: today's views rule (the input view alone up to 16 columns, else all three, combined as
  ``views.fusion.combine``);
- ``all``: all three views always, combined the same way;
- ``w:KIND``: each view's standardised score weighted by how far its AUROC on the synthetic anomalies of
  ``KIND`` lies above 0.5 (views at or below 0.5 get no weight);
- ``best:KIND``: the one view with the best AUROC on them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("CANCE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
VIEWS = ("composite", "input", "knn")
KINDS = ("swap1", "swapq")
HALF = {"annthyroid": "A", "cardio": "A", "Cardiotocography": "A", "mammography": "A", "Ionosphere": "A",
        "letter": "A", "vowels": "A", "campaign": "B", "fault": "B", "optdigits": "B", "PageBlocks": "B",
        "shuttle": "B", "SpamBase": "B", "Wilt": "B", "yeast": "B",
        "cmc": "A", "kdd-probe": "A", "kdd-u2r": "A", "bank": "B", "aid362": "B", "w7a": "B"}
CATEGORICAL = ("cmc", "kdd-probe", "kdd-u2r", "bank", "aid362", "w7a")


def swapped(rows, k: int, rng: np.random.Generator):
    """``rows`` (array or DataFrame) with ``k`` random cells of each row taken from another random row."""
    n, width = rows.shape
    donor = (np.arange(n) + rng.integers(1, n, size=n)) % n  # never the row itself
    cols = np.argsort(rng.random((n, width)), axis=1)[:, :k]
    if isinstance(rows, np.ndarray):
        out = rows.copy()
        for j in range(k):
            out[np.arange(n), cols[:, j]] = rows[donor, cols[:, j]]
        return out
    out = rows.copy()
    for c in range(width):
        hit = (cols == c).any(axis=1)
        if hit.any():
            out.iloc[np.flatnonzero(hit), c] = rows.iloc[donor[hit], c].to_numpy()
    return out


def take(rows, index):
    return rows[index] if isinstance(rows, np.ndarray) else rows.iloc[index].reset_index(drop=True)


def splits(tables: list[str], seeds: list[int]):
    """(name, seed, train rows, test rows, test labels) for every table and seed."""
    from cance_cli.bench.novelty import novelty_split, table_files

    for path in table_files(DATA / "adbench-dev"):
        for seed in seeds:
            split = novelty_split(path, seed)
            if split.name in tables:
                yield split.name, seed, split.x_train, split.x_test, split.y_test
    import pyarrow.csv as pacsv
    from categorical_novelty import TABLES, split_rows

    for name in CATEGORICAL:
        if name not in tables:
            continue
        label, anomaly = TABLES[name]
        table = pacsv.read_csv(DATA / "categorical-dev" / f"{name}.csv.gz")
        y = (np.asarray(table.column(label).cast("string").to_pylist()) == anomaly).astype(int)
        frame = table.drop([label]).to_pandas()
        for seed in seeds:
            _, train, test = split_rows(y, seed)
            yield name, seed, take(frame, train), take(frame, test), y[test]


def parse_set(pairs: list[str]) -> dict:
    """``["ae_hidden=64,32", "latent=16"]`` -> estimator parameters (a comma makes a tuple of ints)."""
    out = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        out[key] = tuple(int(v) for v in value.split(",")) if "," in value else (
            int(value) if value.lstrip("-").isdigit() else value)
    return out


def fit_one(name: str, seed: int, train, test, y_test, out: Path, params: dict) -> None:
    from cance_cli.estimator import CANCE

    start = time.perf_counter()
    make = lambda: CANCE(views="composite+input+knn", seed=seed, threshold_folds=0, verbose=False,  # noqa: E731
                         **params)
    full = make().fit(train)
    saved = {"y_test": y_test, "width": np.array(full.n_features_in_), "columns": np.array(train.shape[1])}
    for view, scores in full.view_scores(test).items():
        saved[f"test_{view}"] = scores
        saved[f"cal_{view}"] = np.array([full.calibration_[view]["median"], full.calibration_[view]["iqr"]])
    if params:  # a variant: the full model's views only
        return _save(saved, out, name, seed, start)
    rng = np.random.default_rng(seed + 1000)
    order = rng.permutation(len(train))
    fit_rows, held_rows = np.sort(order[: len(order) // 2]), np.sort(order[len(order) // 2:])
    fold = make().fit(take(train, fit_rows))
    held = take(train, held_rows)
    for view, scores in fold.view_scores(held).items():
        saved[f"held_{view}"] = scores
        saved[f"foldcal_{view}"] = np.array([fold.calibration_[view]["median"], fold.calibration_[view]["iqr"]])
    for kind, k in (("swap1", 1), ("swapq", math.ceil(train.shape[1] / 4))):
        for view, scores in fold.view_scores(swapped(held, k, rng)).items():
            saved[f"{kind}_{view}"] = scores
    _save(saved, out, name, seed, start)


def _save(saved: dict, out: Path, name: str, seed: int, start: float) -> None:
    saved["seconds"] = np.array(time.perf_counter() - start)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, **saved)
    tmp.rename(out)
    print(f"{name} seed {seed}: {saved['seconds']:.0f} s", flush=True)


def auroc(normal: np.ndarray, anomalous: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.r_[np.zeros(len(normal)), np.ones(len(anomalous))], np.r_[normal, anomalous]))


def combined(d, weights: dict[str, float]) -> np.ndarray:
    z = [w * (d[f"test_{v}"] - d[f"cal_{v}"][0]) / d[f"cal_{v}"][1] for v, w in weights.items() if w > 0]
    return np.sum(z, axis=0)


def rules(d, synthetic: bool = True) -> dict[str, dict[str, float]]:
    """Each rule's weight per view for one fit (without ``synthetic``: the rules that need no fold model)."""
    out = {"rule": {"input": 1.0} if int(d["width"]) <= 16 else {"composite": 0.25, "input": 0.25, "knn": 0.5},
           "all": {"composite": 0.25, "input": 0.25, "knn": 0.5}}
    for kind in KINDS if synthetic else ():
        syn = {v: auroc(d[f"held_{v}"], d[f"{kind}_{v}"]) for v in VIEWS}
        out[f"w:{kind}"] = {v: max(a - 0.5, 0.0) for v, a in syn.items()}
        best = max(syn, key=syn.get)
        out[f"best:{kind}"] = {best: 1.0}
    return out


def report(work: Path, out: Path | None = None) -> None:
    from sklearn.metrics import roc_auc_score

    rows = []
    for path in sorted(work.glob("*.npz")):
        name, seed = path.stem.rsplit("-", 1)
        d = dict(np.load(path))
        folds = "held_input" in d
        syn = {k: {v: round(auroc(d[f"held_{v}"], d[f"{k}_{v}"]), 3) for v in VIEWS} for k in KINDS} if folds else {}
        views = {v: roc_auc_score(d["y_test"], d[f"test_{v}"]) for v in VIEWS}
        weights = rules(d) if folds else {r: w for r, w in rules(d, synthetic=False).items()}
        got = {r: roc_auc_score(d["y_test"], combined(d, w)) for r, w in weights.items()}
        rows.append({"table": name, "seed": int(seed), **got, **{f"view:{v}": a for v, a in views.items()}})
        print(name, seed, "test", {v: round(a, 3) for v, a in views.items()}, "synthetic", syn)
    if out is not None:  # one JSON line per table and seed
        out.write_text("".join(json.dumps({"half": HALF[r["table"]], **r}) + "\n" for r in rows))
    methods = [k for k in rows[0] if k not in ("table", "seed")]
    print("| table (half) | " + " | ".join(methods) + " |")
    print("|---" * (len(methods) + 1) + "|")
    tables = sorted({r["table"] for r in rows}, key=lambda t: (t in CATEGORICAL, HALF[t], t))
    for t in tables:
        rs = [r for r in rows if r["table"] == t]
        print(f"| {t} ({HALF[t]}, {len(rs)} seeds) | " + " | ".join(f"{np.mean([r[m] for r in rs]):.4f}"
                                                            for m in methods) + " |")
    for group, members in (("numeric A", lambda t: t not in CATEGORICAL and HALF[t] == "A"),
                           ("numeric B", lambda t: t not in CATEGORICAL and HALF[t] == "B"),
                           ("categorical A", lambda t: t in CATEGORICAL and HALF[t] == "A"),
                           ("categorical B", lambda t: t in CATEGORICAL and HALF[t] == "B")):
        rs = [r for r in rows if members(r["table"])]
        if rs:
            means = {m: np.mean([np.mean([r[m] for r in rs if r["table"] == t]) for t in {r["table"] for r in rs}])
                     for m in methods}
            print(f"| {group} mean | " + " | ".join(f"{means[m]:.4f}" for m in methods) + " |")


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--tables", default="all")
    parser.add_argument("--work", type=Path, default=Path("/tmp/view-weights"))
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--out", type=Path, help="with --report: also write its rows here as JSON lines")
    parser.add_argument("--set", nargs="*", default=[], help="estimator parameters of a variant (full models only)")
    args = parser.parse_args()
    if args.report:
        return report(args.work, args.out)
    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    tables = list(HALF) if args.tables == "all" else args.tables.split(",")
    for name, seed, train, test, y_test in splits(tables, [int(s) for s in args.seeds.split(",")]):
        out = args.work / f"{name}-{seed}.npz"
        if not out.exists():
            fit_one(name, seed, train, test, y_test, out, parse_set(args.set))
    print(json.dumps({"done": str(args.work)}))


if __name__ == "__main__":
    main()
