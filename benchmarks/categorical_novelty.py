"""`cance fit` on raw categorical tables against PyOD detectors on one-hot encodings (raw-tables issue).

    python benchmarks/categorical_novelty.py [--seeds 0,1,2] [--tables cmc,bank] [--methods ...] \
        [--out docs/results/categorical/results.jsonl]

The six tables of ``../shared/data/categorical-dev/`` (README there), the ADBench novelty protocol: per
seed, tables above 20,000 rows are reduced (seeded, stratified) to 20,000; half the normal rows train; the
other normal rows and every anomaly test; AUROC and AUPRC.

- ``CANCE``: the user's path, nothing prepared: the training and test rows are written as Parquet
  exactly as read (strings, integer codes), `cance fit` defaults (library call ``fit_model``) and
  ``predict_table``. The model encodes the columns itself.
- ``CANCE-threshold`` (not in the default list): the same with the default threshold (cross-fitted);
  its rows add ``flagged_normal``, the share of the test split's normal rows it flags (stated: 10 %).
- Peers, the way a PyOD user prepares such a table: every feature column one-hot encoded
  (``pandas.get_dummies`` of the column as text, over the whole reduced table), then standardised with the
  training rows' mean and std (as the numeric protocol does); KNN, IsolationForest, ECOD, AutoEncoder with
  the defaults of `cance bench`.

Each (table, seed, method) is one JSON line, appended; a line already in ``--out`` is not rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("CANCE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
TABLES = {"cmc": ("class_numberofchildren", "1"), "bank": ("y", "yes"), "kdd-probe": ("class", "1"),
          "kdd-u2r": ("class", "1"), "aid362": ("Outcome", "Active"), "w7a": ("class", "1")}
PEERS = ("KNN", "IsolationForest", "ECOD", "AutoEncoder")
MAX_ROWS = 20_000


def split_rows(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(kept rows, train rows, test rows) as positions in the table, the protocol's split."""
    from cance_cli.bench.novelty import _stratified_cap

    rng = np.random.default_rng(seed)
    kept = _stratified_cap(y, rng, MAX_ROWS)
    normal = rng.permutation(kept[y[kept] == 0])
    train = np.sort(normal[: len(normal) // 2])
    test = np.setdiff1d(kept, train)
    return kept, train, test


def cance_scores(table, label: str, train, test, seed: int, work: Path, options: dict,
                 threshold: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """The test rows' scores (and, with ``threshold``, which of them the default threshold flags)."""
    import pyarrow.parquet as pq

    from cance_cli.estimator import CANCE
    from cance_cli.fit_predict import fit_model, predict_table

    features = table.drop([label])
    if CODES:  # an experiment: integer columns of few distinct values given as text (categories)
        features = _codes_as_text(features, train)
    pq.write_table(features.take(train), work / "train.parquet")
    pq.write_table(features.take(test), work / "test.parquet")
    # threshold_folds=0 unless the threshold is measured: AUROC does not depend on it (the cross-fit costs 2-5 fits)
    folds = {} if threshold else {"threshold_folds": 0}
    fit_model(work / "train.parquet", work / "model", CANCE(seed=seed, verbose=False, **folds, **options))
    predict_table(work / "test.parquet", work / "model", work / "scores.parquet")
    scores = pq.read_table(work / "scores.parquet").column("score").to_numpy()
    if not threshold:
        return scores, None
    info = json.loads((work / "model" / "manifest.json").read_text())["threshold"]
    return scores, {rule: scores > t for rule, t in info.get("by_rule", {"default": info["value"]}).items()}


CODES = 0  # the variant codes=K: integer columns with 3..K distinct training values as text
BOTH = False  # the variant codes+number=K: such columns as text beside the number


def _codes_as_text(features, train):
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, name in enumerate(features.column_names):
        column = features.column(i)
        if pa.types.is_integer(column.type) and 3 <= len(pc.unique(column.take(train))) <= CODES:
            if BOTH:
                features = features.append_column(f"{name}#code", pc.cast(column, pa.string()))
            else:
                features = features.set_column(i, name, pc.cast(column, pa.string()))
    return features


def peer_scores(name: str, table, label: str, kept, train, test, seed: int) -> np.ndarray:
    import pandas as pd

    from cance_cli.bench.baselines import make_detector

    frame = table.drop([label]).to_pandas().iloc[kept].astype(str)
    onehot = pd.get_dummies(frame).to_numpy(dtype=np.float64)
    position = {row: i for i, row in enumerate(kept)}
    tr, te = onehot[[position[r] for r in train]], onehot[[position[r] for r in test]]
    mean, std = tr.mean(axis=0), tr.std(axis=0)
    std[std == 0] = 1.0
    det = make_detector(name, tr.shape[1], seed).fit(((tr - mean) / std).astype(np.float32))
    return det.score_samples(((te - mean) / std).astype(np.float32))


HALF = {"cmc": "A", "kdd-probe": "A", "kdd-u2r": "A", "bank": "B", "aid362": "B", "w7a": "B"}


def report(path: Path) -> None:
    """Per-table mean AUROC over the seeds, mean and average rank (per table and seed) of CANCE and the
    peers, overall and per half (A: cmc and the kdd siblings; B: bank, aid362, w7a); variants apart."""
    from scipy.stats import rankdata

    rows = [json.loads(line) for line in path.read_text().splitlines()]
    methods = ["CANCE", *PEERS]
    auroc: dict[tuple[str, int], dict[str, float]] = {}
    for r in rows:
        auroc.setdefault((r["table"], r["seed"]), {})[r["method"]] = r["auroc"]
    print("| table | " + " | ".join(methods) + " |\n|---|" + "---|" * len(methods))
    ranks: dict[str, list] = {}
    for table in TABLES:
        runs = [v for (t, _), v in auroc.items() if t == table and all(m in v for m in methods)]
        if not runs:
            continue
        print(f"| {table} ({HALF[table]}) | " + " | ".join(f"{np.mean([v[m] for v in runs]):.3f}" for m in methods)
              + " |")
        for v in runs:
            for m, k in zip(methods, rankdata([-v[m] for m in methods])):
                for group in ("all", HALF[table]):
                    ranks.setdefault(group, []).append((m, k, v[m]))
    for group, label in (("all", "all"), ("A", "half A"), ("B", "half B")):
        got = ranks.get(group, [])
        print(f"| {label}: mean AUROC / avg rank | " + " | ".join(
            f"{np.mean([a for n, _, a in got if n == m]):.3f} / {np.mean([k for n, k, _ in got if n == m]):.2f}"
            for m in methods) + " |")
    variants = sorted({r["method"] for r in rows} - set(methods))
    for variant in variants:
        for table in TABLES:
            mine = [r["auroc"] for r in rows if r["method"] == variant and r["table"] == table]
            base = [r["auroc"] for r in rows if r["method"] == "CANCE" and r["table"] == table]
            if mine:
                print(f"{variant} {table}: {np.mean(mine):.4f} (CANCE {np.mean(base):.4f}, {len(mine)} seeds)")


def main() -> None:
    import pyarrow.csv as pacsv
    import torch
    from sklearn.metrics import average_precision_score, roc_auc_score

    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--methods", default="CANCE," + ",".join(PEERS))
    parser.add_argument("--variant", default="default",
                        help="default, rarity, input-rest, knn-all, input-rest+knn-all, codes=K, "
                             "codes+number=K, views=V, set:PARAM=VALUE;PARAM=VALUE, "
                             "ae:dropout=P;noise=S;PARAM=VALUE, switch:MODULE.NAME=VALUE;...")
    parser.add_argument("--out", type=Path, default=Path("docs/results/categorical/results.jsonl"))
    parser.add_argument("--report", action="store_true", help="print the tables of --out and stop")
    args = parser.parse_args()
    if args.report:
        return report(args.out)
    torch.set_num_threads(1)
    options = {}
    if args.variant.startswith("views="):  # an experiment: other views than the rule's
        options["views"] = args.variant.split("=", 1)[1]
    elif args.variant.startswith("set:"):  # an experiment: estimator parameters, set:latent=16;views=composite
        for pair in args.variant[4:].split(";"):
            key, value = pair.split("=", 1)
            options[key] = int(value) if value.lstrip("-").isdigit() else value
    elif args.variant == "rarity":  # an experiment: categories with a -log(share) column as well
        from cance_cli.data import encoding

        encoding.RARITY = True
    elif args.variant in ("input-rest", "knn-all", "input-rest+knn-all"):  # experiments on wide tables: the
        from cance_cli.views import input_map  # input density's p_rest coordinate; neighbours in every direction

        input_map.INPUT_RESIDUAL = "input-rest" in args.variant
        input_map.NEIGHBOURS_EVERY_DIRECTION = "knn-all" in args.variant
    elif args.variant.startswith(("codes=", "codes+number=")):  # an experiment: integer codes as categories
        global CODES, BOTH
        CODES, BOTH = int(args.variant.split("=", 1)[1]), args.variant.startswith("codes+number")
    elif args.variant.startswith("ae:"):  # experiments on the autoencoder: ae:dropout=0.2;noise=0.1;ae_epochs=30
        from cance_cli.models import autoencoder as ae_module
        from cance_cli.training import autoencoder as ae_training

        for pair in args.variant[3:].split(";"):
            key, value = pair.split("=", 1)
            if key == "dropout":
                ae_module.MLP_DROPOUT = float(value)
            elif key == "noise":
                ae_training.INPUT_NOISE = float(value)
            else:
                options[key] = int(value) if value.lstrip("-").isdigit() else value
    elif args.variant.startswith("switch:"):  # experiment switches: switch:views.input_map.DEQUANTIZE=true;...
        from with_switches import set_switch

        for setting in args.variant[7:].split(";"):
            set_switch(setting)
    elif args.variant != "default":
        parser.error(f"unknown variant {args.variant!r} (see --help)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            r = json.loads(line)
            done.add((r["table"], r["seed"], r["method"]))
    for name in args.tables.split(","):
        label, anomaly = TABLES[name]
        table = pacsv.read_csv(DATA / "categorical-dev" / f"{name}.csv.gz")
        y = (np.asarray(table.column(label).cast("string").to_pylist()) == anomaly).astype(int)
        for seed in map(int, args.seeds.split(",")):
            kept, train, test = split_rows(y, seed)
            for method in args.methods.split(","):
                tag = method if method != "CANCE" or args.variant == "default" else f"CANCE[{args.variant}]"
                if (name, seed, tag) in done:
                    continue
                start = time.perf_counter()
                flagged = None
                if method in ("CANCE", "CANCE-threshold"):
                    with tempfile.TemporaryDirectory() as work:
                        scores, flagged = cance_scores(table, label, train, test, seed, Path(work), options,
                                                       threshold=method == "CANCE-threshold")
                else:
                    scores = peer_scores(method, table, label, kept, train, test, seed)
                extra = {} if flagged is None else {  # the default threshold states 10 % of new normal rows
                    "flagged_normal": {rule: float(f[y[test] == 0].mean()) for rule, f in flagged.items()},
                    "stated": 0.1, "normal_test_rows": int((y[test] == 0).sum())}
                row = {"table": name, "seed": seed, "method": tag, **extra,
                       "auroc": float(roc_auc_score(y[test], scores)),
                       "auprc": float(average_precision_score(y[test], scores)),
                       "seconds": round(time.perf_counter() - start, 1), "train_rows": len(train),
                       "test_rows": len(test), "date": str(date.today()), "machine": platform.node()}
                print(json.dumps(row), flush=True)
                with args.out.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
