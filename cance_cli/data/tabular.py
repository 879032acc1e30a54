"""The tabular anomaly benchmarks, read from their original files.

Each reader returns ``(X, is_anomaly, feature_names)`` with ``X`` float32 and
``is_anomaly`` bool, already reduced to the rows the protocol keeps:

- Thyroid, Arrhythmia: ODDS ``.mat`` files (``y == 1`` is the anomaly).
- Abalone (UCI ``abalone.data``): rings 3 and 21 are anomalies, rings 8, 9 and
  10 normal, every other row dropped; sex is one-hot encoded.
- KDDCUP99 10% (``kddcup.data_10_percent.gz``): the "normal." traffic is the
  minority and is the anomaly class; the three categorical columns are one-hot
  encoded (118 columns in the 10% file; the DAGMM paper's 120 count the
  service levels of the full data set).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cance_cli.errors import DataError

FILES = {
    "thyroid": "thyroid.mat",
    "arrhythmia": "arrhythmia.mat",
    "abalone": "abalone.data",
    "kddcup99": "kddcup.data_10_percent.gz",
}
ABALONE_NORMAL_RINGS = (8, 9, 10)
ABALONE_ANOMALY_RINGS = (3, 21)
KDD_CATEGORICAL = (1, 2, 3)  # protocol_type, service, flag


def _path(folder: str | Path, name: str) -> Path:
    if name not in FILES:
        raise DataError(f"Unknown tabular benchmark '{name}'; choose from {', '.join(FILES)}.")
    path = Path(folder) / FILES[name]
    if not path.exists():
        raise DataError(f"{path} not found; put {FILES[name]} in {folder} (see the data README).")
    return path


def _read_mat(path: Path):
    from cance_cli.data.sources import load_mat

    ds = load_mat(path)
    return ds.x.astype(np.float32), ds.y.astype(int) == 1, list(ds.feature_names)


def _read_abalone(path: Path):
    import pyarrow.csv as pacsv

    names = ["sex", "length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight",
             "shell_weight", "rings"]
    table = pacsv.read_csv(str(path), read_options=pacsv.ReadOptions(column_names=names))
    rings = table.column("rings").to_numpy()
    keep = np.isin(rings, ABALONE_NORMAL_RINGS + ABALONE_ANOMALY_RINGS)
    sex = np.asarray(table.column("sex").to_pylist())[keep]
    numeric = np.column_stack([table.column(n).to_numpy() for n in names[1:-1]])[keep]
    onehot = np.stack([sex == s for s in ("F", "I", "M")], axis=1)
    x = np.hstack([onehot, numeric]).astype(np.float32)
    return x, np.isin(rings[keep], ABALONE_ANOMALY_RINGS), ["sex_F", "sex_I", "sex_M"] + names[1:-1]


def _read_kdd(path: Path):
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(str(path), read_options=pacsv.ReadOptions(autogenerate_column_names=True))
    cols = table.columns
    label = np.asarray(cols[-1].to_pylist())
    parts, names = [], []
    for j, col in enumerate(cols[:-1]):
        if j in KDD_CATEGORICAL:
            values = np.asarray(col.to_pylist())
            for level in sorted(set(values)):
                parts.append((values == level)[:, None])
                names.append(f"f{j}_{level}")
        else:
            parts.append(col.to_numpy().astype(np.float64)[:, None])
            names.append(f"f{j}")
    return np.hstack(parts).astype(np.float32), label == "normal.", names


def load_tabular(name: str, folder: str | Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Rows, anomaly flags and column names of benchmark ``name`` in ``folder``."""
    path = _path(folder, name)
    reader = {"thyroid": _read_mat, "arrhythmia": _read_mat, "abalone": _read_abalone, "kddcup99": _read_kdd}[name]
    try:
        x, is_anomaly, names = reader(path)
    except DataError:
        raise
    except Exception as exc:  # a truncated or foreign file: say which
        raise DataError(f"Cannot read {path} as the {name} benchmark ({exc}).") from None
    if not np.isfinite(x).all():
        raise DataError(f"{path} holds NaN or infinite values; re-obtain the file.")
    return x, is_anomaly.astype(bool), names
