"""Readers for each supported kind of data source.

Each reader returns a :class:`~cance_cli.data.dataset.Dataset`; the
dispatcher :func:`load_data` picks one from the path or ``builtin:`` name.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from cance_cli import validate
from cance_cli.data.dataset import Dataset
from cance_cli.data.encoding import needs_encoding, unsupported_columns
from cance_cli.data.images import find_idx, load_cifar_dir, load_idx_dir, load_image_folder
from cance_cli.data.roles import excluded_columns, id_like_columns
from cance_cli.errors import ConfigError, DataError, param

SPLITS = ("train", "test", "all")
COMPRESSED_CSV = (".csv.gz", ".csv.bz2")  # read as CSV (Arrow decompresses by the file name)


def table_format(path) -> str | None:
    """``"csv"`` or ``"parquet"`` for a table file by its name (``x.csv.gz`` is CSV), else None."""
    name = Path(str(path)).name.lower()
    if name.endswith(".csv") or name.endswith(COMPRESSED_CSV):
        return "csv"
    return "parquet" if name.endswith((".parquet", ".pq")) else None


def load_data(spec: str, split: str | None = None, label_col: str | None = None,
              columns: list[str] | None = None, *, no_label: bool = False, default_label: str = "label",
              required_columns: list[str] | None = None, test_fraction: float | None = None,
              split_seed: int = 0, exclude: list[str] | None = None, id_col: str | None = None,
              default_id_col: str | None = None, encode: bool = False, encoding=None) -> Dataset:
    """Load ``spec`` (a path or ``builtin:NAME``) as a :class:`Dataset`.

    ``split``: ``train``/``test``/``all`` where the source has splits (default
    ``train``). A single file (table, .npz, .mat, a folder without train/test)
    holds one split, ``all``; asking it for ``train`` or ``test`` needs
    ``test_fraction``, which carves a seeded, stratified split (the same
    fraction and ``split_seed`` give the same rows in every command).

    Tables: ``label_col`` names the label column (default: ``default_label``
    when present; none with ``no_label``); ``columns`` (names or glob patterns
    such as ``e_*``) or ``required_columns`` (exact names, in this order, all
    required: a model's recorded input schema) pick the features. Reserved
    columns (``id``, ``label``, ``is_anomaly``, a pandas index) are never features, nor are id-like
    columns (see :func:`id_like_columns`) and those ``exclude`` names (names or glob patterns); ``id_col``
    names the row identity written beside the scores (``default_id_col``: the one to use when the table
    has it, e.g. the column a model was fitted with). ``encode``: feature columns that are not numbers or
    have missing cells are kept as read (``Dataset.raw``) for a model to encode, instead of refused;
    ``encoding`` (a fitted :class:`~cance_cli.data.encoding.TableEncoding`): read its input columns and
    encode them.
    """
    if split is not None and split not in SPLITS:
        raise ConfigError(f"`split` must be one of {', '.join(SPLITS)}, got {split!r}.")
    if no_label and label_col is not None:
        raise ConfigError("`label_col` and `no_label` contradict each other; give one of them.")
    if test_fraction is not None:
        validate.fraction(param("test_fraction"), test_fraction, low_open=True, high_open=True)
    validate.at_least(param("split_seed"), split_seed, 0)
    table_options = {"exclude": exclude, "id_col": id_col, "default_id_col": default_id_col, "encode": encode,
                     "encoding": encoding}
    ds = _load_source(str(spec), split or "train", label_col, columns, no_label, default_label, required_columns,
                      table_options)
    if ds.split != "all" or split in (None, "all"):
        if test_fraction is not None:
            raise ConfigError(f"`test_fraction` applies to a single table or file with `split` train|test, but "
                              f"{spec} {'already has train/test splits' if ds.split != 'all' else 'was read whole'}"
                              "; drop `test_fraction`.")
        return ds
    if test_fraction is None:
        raise ConfigError(f"{spec} is a single source without train/test splits, so `split` {split} would be "
                          "ignored; drop `split`, or add `test_fraction` F to carve a seeded split.")
    return ds.carve(split, test_fraction, split_seed)


def split_defaults(read: dict, recorded: dict) -> dict:
    """Reading options where a carved split's ``test_fraction`` and ``split_seed``
    default to those a model recorded, so ``--split test`` on the table a model
    was trained on gives exactly the rows it did not see."""
    read = dict(read)
    if read.get("split") in ("train", "test"):
        if read.get("test_fraction") is None:
            read["test_fraction"] = recorded.get("test_fraction")
        if read.get("split_seed") is None:
            read["split_seed"] = recorded.get("split_seed")
    if read.get("split_seed") is None:
        read["split_seed"] = 0
    return read


def _load_source(spec: str, split: str, label_col, columns, no_label, default_label, required_columns,
                 table_options: dict | None = None) -> Dataset:
    if spec.startswith("builtin:"):
        return _load_builtin(spec.split(":", 1)[1], split)
    path = Path(spec)
    if not path.exists():
        raise DataError(f"Data source {path} does not exist; check the path.")
    if path.is_dir():
        if find_idx(path, "train" if split == "all" else split, "images") is not None:
            return load_idx_dir(path, split)
        if (path / "data_batch_1").exists() or (path / "test_batch").exists():
            return load_cifar_dir(path, split)
        if any(p.is_dir() for p in path.iterdir()):
            return load_image_folder(path, split)
        raise DataError(
            f"{path} holds no idx files, CIFAR-10 batches or class sub-folders of images; "
            "see `cance train-ae --help` for the supported sources."
        )
    suffix = path.suffix.lower()
    if table_format(path) is not None:
        return load_table(path, label_col, columns, no_label=no_label, default_label=default_label,
                          required_columns=required_columns, **(table_options or {}))
    if suffix == ".npz":
        return load_npz(path)
    if suffix == ".mat":
        return load_mat(path)
    raise DataError(
        f"Cannot read {path}: unknown format '{suffix or 'no suffix'}'; "
        "use an idx/CIFAR/image folder, .npz, .mat, .parquet, .csv or .csv.gz."
    )


# --------------------------------------------------------------------------- npz / mat / tables


def _check_finite(x: np.ndarray, source: str) -> None:
    if np.issubdtype(x.dtype, np.floating):
        bad = ~np.isfinite(x)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise DataError(
                f"{source} contains NaN or infinite values ({int(bad.sum())} cells, first in row {row}); "
                "clean or impute them first."
            )


def _image_or_table(x: np.ndarray, y, source: str) -> Dataset:
    if x.ndim == 2:
        x = np.asarray(x, dtype=np.float32)
        _check_finite(x, source)
        return Dataset(x=x, y=y, ids=np.arange(len(x), dtype=np.int64), kind="table",
                       source=source, split="all", feature_names=[f"x_{i}" for i in range(x.shape[1])])
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)  # NHWC -> NCHW
    elif x.ndim != 4:
        raise DataError(f"{source}: x has shape {x.shape}; expected (N, F) rows or (N, [C,] H, W) images.")
    if x.dtype == np.uint8:
        scale = 1.0 / 255.0
    else:
        x = np.asarray(x, dtype=np.float32)
        _check_finite(x, source)
        if x.min() < 0 or x.max() > 1:
            raise DataError(f"{source}: float images must lie in [0, 1] (found {x.min():.3g}..{x.max():.3g}); "
                            "rescale them or store uint8.")
        scale = 1.0
    return Dataset(x=np.ascontiguousarray(x), y=y, ids=np.arange(len(x), dtype=np.int64),
                   kind="image", source=source, split="all", pixel_scale=scale)


def _labels(y) -> np.ndarray | None:
    if y is None:
        return None
    y = np.asarray(y).reshape(-1)
    if np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0):
        y = y.astype(np.int64)
    return y


def _real_numbers(x: np.ndarray) -> bool:
    """Integers, floats or booleans: complex values would lose their imaginary part without a word."""
    return bool(np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating) or x.dtype == bool)


def _label_vector(y, path: Path) -> np.ndarray | None:
    """One label per row: a (N,), (N, 1) or (1, N) array; anything wider is refused rather than flattened."""
    if y is None:
        return None
    y = np.asarray(y)
    if y.ndim > 1 and y.size != max(y.shape):
        raise DataError(f"{path}: y has shape {y.shape}; save one label per row (shape (N,)).")
    return _labels(y)


def load_npz(path: Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as npz:
            # x and y, or X and y as ADBench's and ODDS-derived files name them.
            x_name = next((n for n in ("x", "X") if n in npz.files), None)
            if x_name is None:
                raise DataError(f"{path} has no array 'x' or 'X' (found: {', '.join(npz.files)}); "
                                "save inputs as x (and labels as y).")
            if {"x", "X"} <= set(npz.files):
                raise DataError(f"{path} holds both 'x' and 'X'; keep one array of inputs.")
            x = npz[x_name]
            y_name = next((n for n in ("y", "Y") if n in npz.files), None)
            y = npz[y_name] if y_name is not None else None
    except DataError:
        raise
    except Exception as exc:  # BadZipFile, pickled objects, truncated members
        raise DataError(f"Cannot read {path} as .npz ({str(exc).splitlines()[0] if str(exc) else 'corrupt'}); "
                        "save plain arrays x and y with numpy.savez.") from None
    if not _real_numbers(x):
        raise DataError(f"{path}: x holds {x.dtype} values; save real numbers (integers, floats or booleans).")
    return _image_or_table(x, _label_vector(y, path), str(path))


def load_mat(path: Path) -> Dataset:
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
    except Exception as exc:  # MatReadError, truncated streams, HDF5 (v7.3) files, ...
        reason = str(exc).splitlines()[0] if str(exc) else "corrupt"
        raise DataError(f"Cannot read {path} as a MATLAB v5 file ({reason}); re-save it with -v7 or as .npz.") \
            from None
    if "X" not in mat:
        raise DataError(f"{path} has no variable 'X'; expected ODDS-style X (rows) and y (labels).")
    x = mat["X"]
    if hasattr(x, "toarray"):  # a sparse matrix (loadmat returns scipy.sparse for MATLAB sparse variables)
        x = x.toarray()
    x = np.asarray(x)
    if not _real_numbers(x):
        raise DataError(f"{path}: X holds {x.dtype} values; save a matrix of real numbers.")
    return _image_or_table(x, _label_vector(mat.get("y"), path), str(path))


def _pick_columns(path: Path, names: list[str], patterns: list[str]) -> list[str]:
    import fnmatch

    picked: list[str] = []
    for pattern in patterns:
        hits = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise DataError(f"{path} has no column matching '{pattern}' (columns: {', '.join(names[:12])}); "
                            "fix `columns`.")
        picked += [h for h in hits if h not in picked]
    return picked


RESERVED_COLUMNS = ("id", "label", "is_anomaly", "__index_level_0__")
# A pandas index saved with to_csv() comes back with an empty header (pyarrow) or as "Unnamed: 0" (pandas).
_UNNAMED_INDEX = re.compile(r"(Unnamed: \d+)?")


def _is_id(name: str) -> bool:
    """A row-identity column: ``id`` in any case (ID, Id), surrounding spaces ignored."""
    return name.strip().lower() == "id"


def never_features(names: list[str]) -> set[str]:
    """Identity and index columns by name: ``id`` in any case, and unnamed (pandas index) columns. A row
    number or identifier as a coordinate would make a row's score depend on where it sits in the file."""
    return {n for n in names if _is_id(n) or _UNNAMED_INDEX.fullmatch(n.strip())}


def read_arrow_table(path: Path):
    """The whole table as Arrow; every reader failure becomes one sentence."""
    try:
        if table_format(path) == "csv":
            import pyarrow.csv as pacsv

            table = pacsv.read_csv(str(path))
        else:
            import pyarrow.parquet as pq

            table = pq.read_table(str(path), page_checksum_verification=True)
        table.column_names  # noqa: B018 - decodes the header: non-UTF-8 names fail here, not later
        return table
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "utf8" in reason.lower() or "utf-8" in reason.lower() or isinstance(exc, UnicodeDecodeError):
            raise DataError(f"{path} is not valid UTF-8 text; re-save it as UTF-8 CSV or as Parquet.") from None
        raise DataError(f"Cannot read table {path} ({reason}); check that it is a complete CSV or Parquet file.") \
            from None


def pandas_index_columns(schema) -> list[str]:
    """Columns that hold a pandas index written to Parquet (never features)."""
    import json

    raw = (schema.metadata or {}).get(b"pandas")
    if raw is None:
        return []
    try:
        index = json.loads(raw).get("index_columns", [])
    except (ValueError, AttributeError):
        return []
    return [c for c in index if isinstance(c, str)]


def load_table(path: Path, label_col: str | None = None, columns: list[str] | None = None, *,
               no_label: bool = False, default_label: str = "label",
               required_columns: list[str] | None = None, exclude: list[str] | None = None,
               id_col: str | None = None, default_id_col: str | None = None, encode: bool = False,
               encoding=None) -> Dataset:
    """A CSV or Parquet table as a Dataset (see :func:`load_data` for the options)."""
    import pyarrow.compute as pc
    import pyarrow.types as pat

    table = read_arrow_table(path)
    names = table.column_names
    if encoding is not None:
        required_columns = encoding.input_columns
    if len(names) == 1 and table_format(path) == "csv":
        sep = next((c for c in ";\t|" if c in names[0]), None)
        if sep is not None:
            raise DataError(f"{path} looks {'tab' if sep == chr(9) else repr(sep)}-separated; cance reads "
                            "comma-separated CSV, so re-save it with commas or as Parquet.")
    repeated = [(name, count) for name, count in Counter(names).items() if count > 1]
    if repeated:
        raise DataError(f"{path} has {repeated[0][1]} columns named '{repeated[0][0]}'; give each column its own "
                        "name.")
    if table.num_rows == 0:
        raise DataError(f"{path} has a header but no rows; point to a table with data.")
    if label_col is not None and label_col not in names:
        raise DataError(f"{path} has no label column '{label_col}' (columns: {', '.join(names[:12])}); "
                        "fix `label_col`, or give `no_label`.")
    if label_col is None and not no_label and default_label in names:
        label_col = default_label
    if id_col is None and default_id_col in names:
        id_col = default_id_col
    if id_col is not None and id_col not in names:
        raise DataError(f"{path} has no column '{id_col}' for `id_col` (columns: {', '.join(names[:12])}); fix "
                        "the name.")
    if id_col is not None and id_col == label_col:
        raise DataError(f"`id_col` and the label column are both '{id_col}'; name two different columns.")
    reserved = (set(RESERVED_COLUMNS) | set(pandas_index_columns(table.schema)) | never_features(names)
                | ({label_col, id_col} - {None}) | set(excluded_columns(path, names, exclude or [])))
    id_like = {} if required_columns is not None or columns else id_like_columns(
        table, [n for n in names if n not in reserved])
    reserved |= set(id_like)
    y = None
    if label_col is not None:
        if pat.is_binary(table.schema.field(label_col).type):  # pyarrow's CSV reader falls back to bytes
            raise DataError(f"{path}: label column '{label_col}' is not valid UTF-8 text; re-save the table as "
                            "UTF-8.")
        y = np.asarray(table.column(label_col).to_numpy(zero_copy_only=False))
        if table.column(label_col).null_count:
            raise DataError(f"{path}: label column '{label_col}' has missing values; fill them or drop those rows.")
        y = _labels(y) if np.issubdtype(y.dtype, np.number) else y.astype(str)
    # The row identity written beside the scores: a column named id in any case (ID, Id), else the row number.
    if id_col is None:  # a column named id in any case, else the first id-like one, else the row number
        id_col = "id" if "id" in names else next(filter(_is_id, names), next(iter(id_like), None))
    ids = (np.asarray(table.column(id_col).to_numpy(zero_copy_only=False)) if id_col is not None
           else np.arange(table.num_rows, dtype=np.int64))
    if required_columns is not None:
        if label_col in required_columns:
            raise DataError(f"{path}: the label column '{label_col}' is one of the columns the model was trained on "
                            "as a feature; name the real label with `label_col`, or give `no_label`.")
        missing = [c for c in required_columns if c not in names]
        if missing:
            raise DataError(f"{path} lacks column '{missing[0]}' ({len(missing)} of the {len(required_columns)} "
                            "columns the model was trained on are missing); give a table with the training columns.")
        features = list(required_columns)
    elif columns:
        named = [c for c in columns if c in reserved]  # by its exact name, not through a wildcard
        if named:
            raise DataError(f"`columns` names '{named[0]}', a label, id or index column, which is never a feature; "
                            "rename the column if it really is one.")
        features = [c for c in _pick_columns(path, names, columns) if c not in reserved]
    else:
        features = [c for c in names if c not in reserved]
    if not features:
        raise DataError(f"{path} has no feature columns besides the reserved id/label/is_anomaly ones.")
    common = dict(y=y, ids=ids, kind="table", source=str(path), split="all",
                  id_type=table.schema.field(id_col).type if id_col is not None else None, id_column=id_col,
                  id_like=id_like, not_features=[c for c in names if c in reserved],
                  feature_dtypes=[str(table.schema.field(c).type) for c in features])
    if encoding is not None:  # a model's own encoding of its input columns
        x, report = encoding.transform(table.select(features), str(path))
        return Dataset(x=x, feature_names=encoding.output_names, encoding_report=report,
                       **{**common, "feature_dtypes": None})
    if encode and needs_encoding(table, features):
        odd = unsupported_columns(table, features)
        if odd:
            raise DataError(f"{path}: {len(odd)} column{'s hold' if len(odd) > 1 else ' holds'} values cance cannot "
                            f"encode: {', '.join(odd)}; leave {'them' if len(odd) > 1 else 'it'} out with `exclude`.")
        return Dataset(x=np.zeros((table.num_rows, 0), dtype=np.float32), feature_names=features,
                       raw=table.select(features), **common)
    # Every offending column at once: a user fixes them in one run, not one run each.
    text = [f"{c} ({table.schema.field(c).type})" for c in features
            if not (pat.is_integer(t := table.schema.field(c).type) or pat.is_floating(t) or pat.is_boolean(t))]
    if text:
        raise DataError(f"{path}: {len(text)} column{'s are' if len(text) > 1 else ' is'} not numeric: "
                        f"{', '.join(text)}; `cance fit` encodes such columns itself; for this command leave "
                        f"{'them' if len(text) > 1 else 'it'} out with `exclude`, or name the label with `label_col`.")
    missing = [f"{c} ({table.column(c).null_count})" for c in features if table.column(c).null_count]
    if missing:
        raise DataError(f"{path}: {len(missing)} column{'s have' if len(missing) > 1 else ' has'} NaN or missing "
                        f"values: {', '.join(missing)}; `cance fit` fills them itself; for this command clean or "
                        "impute them, or leave them out with `exclude`.")
    x = np.column_stack([pc.cast(table.column(c), "float64").to_numpy() for c in features])
    _check_finite(x, str(path))
    limit = np.finfo(np.float32).max  # per-column extremes: no temporary copy of the whole table
    too_large = (x.max(axis=0) > limit) | (x.min(axis=0) < -limit)
    if too_large.any():
        raise DataError(f"{path}: column '{features[int(np.argmax(too_large))]}' holds values beyond float32's range "
                        "(about 3.4e38); rescale it (e.g. take its logarithm) first.")
    x = x.astype(np.float32)
    return Dataset(x=x, feature_names=features, **common)


# --------------------------------------------------------------------------- builtin


def _load_builtin(name: str, split: str) -> Dataset:
    if name != "digits":
        raise DataError(f"Unknown builtin dataset '{name}'; the only one is builtin:digits.")
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.images.astype(np.uint8)[:, None]  # 8x8, values 0..16
    y = digits.target.astype(np.int64)
    # A fixed stratified 70/30 split so train and test never overlap.
    order = np.random.default_rng(0).permutation(len(x))
    is_test = np.zeros(len(x), dtype=bool)
    for cls in np.unique(y):
        members = order[y[order] == cls]
        is_test[members[: int(round(0.3 * len(members)))]] = True
    keep = {"train": ~is_test, "test": is_test, "all": np.ones(len(x), dtype=bool)}[split]
    idx = np.flatnonzero(keep)
    return Dataset(x=x[idx], y=y[idx], ids=idx.astype(np.int64), kind="image",
                   source="builtin:digits", split=split, pixel_scale=1.0 / 16.0)
