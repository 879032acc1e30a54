"""How many new normal rows the threshold flags, against the rate it states (raw-tables issue, item 4).

    python benchmarks/threshold_calibration.py [FOLDER] [--seed S]

On every table of the ADBench development suite, the novelty split (`cance bench novelty`'s: half the
normal rows train, the other normal rows and the anomalies test), `CANCE` with its defaults, once with the
default threshold (contamination 0.1 of the training rows' own scores) and once with ``fpr=0.05`` (held-out
normal rows, 10 % of the training rows). Prints, per table, the share of the test's normal rows above each
threshold: a threshold that means what it says flags 10 % and 5 % of them.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch

from cance_cli.bench.novelty import novelty_split, table_files
from cance_cli.estimator import CANCE

DEFAULT = Path(os.environ.get("CANCE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", default=DEFAULT / "adbench-dev")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rules", action="store_true", help="compare threshold rules at a stated 10 %% instead "
                        "(in-sample, 10 %% hold-out, 5-fold cross-fit)")
    parser.add_argument("--folds", type=int, default=5, help="--rules: folds of the cross-fit")
    parser.add_argument("--min-rows", type=int, default=0, help="--rules: only tables with this many training rows")
    args = parser.parse_args()
    if args.rules:
        return compare_rules(Path(args.folder), args.seed, args.folds, args.min_rows)
    torch.set_num_threads(1)
    rows = []
    print(f"{'table':16} {'contamination 0.1':>18} {'fpr 0.05':>9}")
    for path in table_files(Path(args.folder)):
        split = novelty_split(path, args.seed)
        normal = split.x_test[split.y_test == 0]
        shares = []
        for params in ({}, {"fpr": 0.05}):
            est = CANCE(seed=args.seed, threshold_folds=0, **params).fit(split.x_train)
            shares.append(float((est.score_samples(normal) > est.threshold_).mean()))
        rows.append(shares)
        print(f"{split.name:16} {shares[0]:18.3f} {shares[1]:9.3f}")
    mean = np.mean(rows, axis=0)
    worst = np.max(np.abs(np.asarray(rows) - [0.10, 0.05]), axis=0)
    print(f"{'mean':16} {mean[0]:18.3f} {mean[1]:9.3f}")
    print(f"{'worst |error|':16} {worst[0]:18.3f} {worst[1]:9.3f}")


CROSSFIT_LIMIT = 10_000  # training rows above which the cross-fit (6 fits) is not measured


def crossfit_thresholds(x: np.ndarray, training_scores: np.ndarray, level: float, seed: int,
                        folds: int = 5) -> dict[str, float]:
    """The library's cross-fit (any number of folds): the threshold of each rule (``scores``: the pooled
    out-of-fold quantile; ``levels``: its level read off the full model's ``training_scores``), same folds."""
    from cance_cli.thresholds import RULES, out_of_fold_scores, threshold_of

    out = out_of_fold_scores(CANCE(seed=seed, threshold_folds=0), x, folds, lambda rows, index: rows[index])
    return {rule: threshold_of(out, training_scores, level, rule) for rule in RULES}


def compare_rules(folder: Path, seed: int, folds: int = 5, min_rows: int = 0) -> None:
    """Share of new normal rows flagged at a stated 10 % under five rules, per table (cross-fit: ``folds``,
    its out-of-fold scores' quantile, the same after centring each fold, and of their levels)."""
    torch.set_num_threads(1)
    print(f"{'table':16} {'train':>6} {'in-sample':>9} {'hold-out':>9} {'cross-fit':>9} {'centred':>9} {'levels':>9} "
          f"{'2 sd':>6}",
          flush=True)
    for path in table_files(folder):
        split = novelty_split(path, seed)
        if len(split.x_train) < min_rows:
            continue
        normal = split.x_test[split.y_test == 0]
        full = CANCE(seed=seed, threshold_folds=0).fit(split.x_train)
        test = full.score_samples(normal)
        insample = float((test > full.threshold_).mean())
        held = CANCE(seed=seed, fpr=0.10, threshold_folds=0).fit(split.x_train)
        holdout = float((held.score_samples(normal) > held.threshold_).mean())
        cross = {"scores": float("nan"), "centred": float("nan"), "levels": float("nan")}
        if len(split.x_train) <= CROSSFIT_LIMIT:
            cross = {rule: float((test > t).mean()) for rule, t in
                     crossfit_thresholds(split.x_train, full.decision_scores_, 0.10, seed, folds).items()}
        noise = 2 * np.sqrt(0.1 * 0.9 / len(normal))  # the share's own sampling noise on this many rows
        print(f"{split.name:16} {len(split.x_train):6d} {insample:9.3f} {holdout:9.3f} {cross['scores']:9.3f} "
              f"{cross['centred']:9.3f} {cross['levels']:9.3f} {noise:6.3f}", flush=True)


if __name__ == "__main__":
    main()
