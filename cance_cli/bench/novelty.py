"""The ADBench novelty protocol on a folder of tables (``../shared/data/adbench-dev/README.md``).

For each table and seed: a seeded 50% of the normal rows train; the other
normal rows and every anomaly test; columns are standardised with the
training rows' mean and standard deviation (a zero std becomes 1). Tables of
more than 20,000 rows are first reduced to a seeded, stratified sample of
20,000 rows.

With ``contaminated=True`` (ADBench's main, unsupervised setting): a seeded half
of *every* class trains, anomalies included and unlabelled; the other half
tests. Training rows are standardised the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cance_cli.errors import DataError

MAX_ROWS = 20_000


@dataclass
class NoveltySplit:
    name: str
    seed: int
    x_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray  # 1 = anomaly


def read_xy(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``X`` and ``y`` (1 = anomaly) of an ``.npz`` (keys X/x, y) or ODDS ``.mat`` file."""
    if path.suffix == ".mat":
        from cance_cli.data.sources import load_mat

        ds = load_mat(path)
        return ds.x.astype(np.float64), np.asarray(ds.y).astype(int).ravel()
    try:
        with np.load(path, allow_pickle=False) as npz:
            x = npz["X"] if "X" in npz else npz["x"]
            y = npz["y"]
    except Exception as exc:
        raise DataError(f"Cannot read {path} as a table with X and y ({exc}).") from None
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating) or x.dtype == bool):
        raise DataError(f"{path}: X holds {x.dtype} values; the novelty protocol needs real numbers (complex or text "
                        "values would be cut or misread), so convert them first.")
    if not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool
            or np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and (y == np.round(y)).all()):
        raise DataError(f"{path}: y holds {y.dtype} values; the novelty protocol needs 0/1 labels (1 = anomaly), so "
                        "recode them.")
    return np.asarray(x, dtype=np.float64), np.asarray(y).astype(int).ravel()


def _stratified_cap(y: np.ndarray, rng: np.random.Generator, cap: int) -> np.ndarray:
    if len(y) <= cap:
        return np.arange(len(y))
    keep = []
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        keep.append(rng.choice(members, int(round(cap * len(members) / len(y))), replace=False))
    return np.sort(np.concatenate(keep))


def novelty_split(path: Path, seed: int, contaminated: bool = False) -> NoveltySplit:
    """One seeded split of one table, as the protocol states it (``contaminated``: the unsupervised setting)."""
    x, y = read_xy(path)
    if x.ndim != 2 or len(x) != len(y) or not set(np.unique(y)) <= {0, 1}:
        raise DataError(f"{path}: expected X of shape (rows, features) and y of 0/1 with one label per row.")
    if not np.isfinite(x).all():
        raise DataError(f"{path} holds NaN or infinite values; clean the table first.")
    if (y == 0).sum() < 4 or (y == 1).sum() < 1:
        raise DataError(f"{path} needs at least 4 normal rows and 1 anomaly for the novelty protocol.")
    rng = np.random.default_rng(seed)
    rows = _stratified_cap(y, rng, MAX_ROWS)
    x, y = x[rows], y[rows]
    if contaminated:  # a stratified half of all rows, anomalies included (at least one anomaly tests)
        anomalies = rng.permutation(np.flatnonzero(y == 1))
        normal = rng.permutation(np.flatnonzero(y == 0))
        train = np.sort(np.concatenate([normal[: len(normal) // 2], anomalies[: len(anomalies) // 2]]))
    else:
        normal = rng.permutation(np.flatnonzero(y == 0))
        train = np.sort(normal[: len(normal) // 2])
    test = np.setdiff1d(np.arange(len(y)), train)
    mean = x[train].mean(axis=0)
    std = x[train].std(axis=0)
    std[std == 0] = 1.0
    scale = lambda a: ((a - mean) / std).astype(np.float32)  # noqa: E731
    return NoveltySplit(dataset_name(path), seed, scale(x[train]), scale(x[test]), y[test])


def dataset_name(path: Path) -> str:
    """``2_annthyroid.npz`` -> ``annthyroid`` (ADBench's numbering dropped)."""
    head, _, rest = path.stem.partition("_")
    return rest if head.isdigit() and rest else path.stem


def table_files(folder: Path) -> list[Path]:
    """The ``.npz`` and ``.mat`` tables of a folder, in natural order."""
    from cance_cli.data.dataset import natural_key

    files = [p for p in Path(folder).iterdir() if p.suffix in (".npz", ".mat")]
    if not files:
        raise DataError(f"{folder} holds no .npz or .mat tables.")
    return sorted(files, key=lambda p: natural_key(p.stem.split("_", 1)[0]) + (p.stem,))
