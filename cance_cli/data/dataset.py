"""The one in-memory dataset type every stage consumes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cance_cli.errors import ConfigError, DataError
from cance_cli.io.provenance import array_fingerprint


@dataclass
class Dataset:
    """Inputs with optional labels and stable ids.

    Images are kept in their stored dtype (usually uint8) and scaled to [0, 1]
    batch by batch, so a 60,000-image split costs 47 MB rather than 190 MB.

    Attributes
    ----------
    x : ndarray
        ``(N, C, H, W)`` images or ``(N, F)`` table rows.
    y : ndarray or None
        Labels (integers or strings), one per row.
    ids : ndarray
        Stable row identifiers: source index (int64) or file path (str).
    kind : {"image", "table"}
    source, split : str
        Where the rows came from, for provenance.
    feature_names : list of str or None
        Column names of a table.
    feature_dtypes : list of str or None
        Their stored (Arrow) types, recorded in checkpoints as the input schema.
    split_info : dict or None
        ``test_fraction`` and ``split_seed`` when the split was carved from one table.
    not_features : list of str or None
        A table's columns read but never used as features (label, ids, index columns), in file order.
    raw : pyarrow.Table or None
        A table's feature columns as read, when some are not numbers or have missing cells: a model
        encodes them (:class:`~cance_cli.data.encoding.TableEncoding`); ``x`` is then ``(N, 0)``.
    pixel_scale : float
        Factor that maps stored image values to [0, 1].
    """

    x: np.ndarray
    y: np.ndarray | None
    ids: np.ndarray
    kind: str
    source: str
    split: str
    feature_names: list[str] | None = None
    pixel_scale: float = 1.0
    feature_dtypes: list[str] | None = None
    split_info: dict | None = None
    not_features: list[str] | None = None
    id_type: Any = None  # the Arrow type of a table's id column, so ids are written back as they were read
    id_column: str | None = None  # the table column the ids came from (None: row numbers, paths)
    id_like: dict | None = None  # columns left out as row identities, with the reason
    raw: Any = None  # a table's feature columns as read (Arrow), when they still need encoding (x is then empty)
    encoding_report: Any = None  # what encoding did to these rows (imputed cells, unseen levels)

    def __post_init__(self) -> None:
        if len(self.x) == 0:
            raise DataError(f"{self.source} ({self.split}) holds no rows; point to a non-empty source.")
        if self.y is not None and len(self.y) != len(self.x):
            raise DataError(f"{self.source}: {len(self.y)} labels for {len(self.x)} rows; fix the label array.")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.x.shape[1:])

    def batch(self, index) -> np.ndarray:
        """Rows ``index`` as float32, images scaled to [0, 1]."""
        out = np.asarray(self.x[index], dtype=np.float32)
        if self.pixel_scale != 1.0:
            out *= np.float32(self.pixel_scale)
        return out

    def subset(self, index: np.ndarray) -> Dataset:
        """A view on some rows (labels and ids follow)."""
        return replace(
            self,
            x=self.x[index],
            y=None if self.y is None else self.y[index],
            ids=self.ids[index],
            raw=None if self.raw is None else self.raw.take(_positions(index, len(self))),
            encoding_report=None if self.encoding_report is None else self.encoding_report.subset(index),
        )

    def carve(self, split: str, test_fraction: float, seed: int) -> Dataset:
        """The ``train`` or ``test`` part of a seeded split of this (single-split) source.

        Stratified by label when there are labels, so both parts keep the
        class shares; the same fraction and seed always give the same rows.
        """
        n = len(self)
        groups = [np.arange(n)] if self.y is None else [np.flatnonzero(self.y == c) for c in np.unique(self.y)]
        rng = np.random.default_rng(seed)
        is_test = np.zeros(n, dtype=bool)
        for members in groups:
            members = rng.permutation(members)
            is_test[members[: int(round(test_fraction * len(members)))]] = True
        keep = is_test if split == "test" else ~is_test
        if not keep.any():
            raise DataError(f"`test_fraction` {test_fraction} leaves the {split} part of {self.source} empty "
                            f"({n} rows); choose a fraction nearer 0.5.")
        part = self.subset(np.flatnonzero(keep))
        return replace(part, split=split, split_info={"test_fraction": test_fraction, "split_seed": seed})

    def fingerprint(self) -> str:
        """Hash of inputs and labels, recorded in checkpoints as provenance."""
        parts = [self.x] + ([] if self.y is None else [self.y.astype(str)])
        if self.raw is not None:  # the cells as read, before encoding
            import pyarrow as pa

            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, self.raw.schema) as writer:
                writer.write_table(self.raw)
            parts.append(np.frombuffer(sink.getvalue(), dtype=np.uint8))
        return array_fingerprint(*parts)

    def label_values(self) -> list[str]:
        return [] if self.y is None else sorted({str(v) for v in self.y}, key=natural_key)

    def normal_mask(self, normal: list[str] | None) -> np.ndarray:
        """True for rows whose label is one of ``normal`` (all rows if ``normal`` is None)."""
        if normal is None:
            return np.ones(len(self), dtype=bool)
        if self.y is None:
            raise ConfigError(
                f"`normal` needs labels, but {self.source} has none; drop `normal` or give a label column."
            )
        mask = np.isin(self.y.astype(str), normal)
        if not mask.any():
            present = ", ".join(self.label_values()[:20])
            raise DataError(
                f"No rows of {self.source} ({self.split}) have label {','.join(normal)} "
                f"(labels present: {present}); pick `normal` from those."
            )
        return mask


def _positions(index, n: int) -> np.ndarray:
    """Row positions of an index (a boolean mask, a slice or positions), for Arrow's ``take``."""
    return np.arange(n)[index]


def natural_key(value: str):
    """Sort key that puts "2" before "10" and numbers before names."""
    return (0, int(value), "") if value.lstrip("-").isdigit() else (1, 0, value)


def parse_normal(spec: str | None) -> list[str] | None:
    """``"0,1"`` -> ``["0", "1"]``; None -> None (every row is normal)."""
    if spec is None:
        return None
    classes = [part.strip() for part in str(spec).split(",") if part.strip()]
    if not classes:
        raise ConfigError(f"`normal` {spec!r} names no class; use e.g. `normal` 3 or `normal` 0,1.")
    return classes


def train_val_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle ``range(n)`` with ``seed`` and carve off a validation part."""
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"`val_fraction` must be in [0, 1), got {val_fraction}.")
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n_val == 0:
        n_val = 1
    if n - n_val < 2:
        raise DataError(f"Only {n} normal training rows; at least 2 are needed after the validation split.")
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def flat_rows(X, index=slice(None), what: str = "table") -> np.ndarray:
    """Rows of an array or :class:`Dataset` (scaled as the Dataset defines) as finite
    float64 ``(N, width)``; ``what`` names the data in the error."""
    from cance_cli.errors import DataError

    X = X.batch(index) if isinstance(X, Dataset) else X[index]
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        X = X.reshape(len(X), -1)
    if not np.isfinite(X).all():
        raise DataError(f"The {what} contains NaN or infinite values; drop or fix those rows.")
    return X


def as_storage(X) -> tuple[np.ndarray, float, str]:
    """(stored array, factor to [0, 1], kind) for a Dataset or an array."""
    if isinstance(X, Dataset):
        return X.x, X.pixel_scale, X.kind
    X = np.asarray(X)
    if X.ndim < 2:
        raise DataError(f"Expected rows (N, F) or images (N, C, H, W), got an array of shape {X.shape}.")
    if np.issubdtype(X.dtype, np.floating) and not np.isfinite(X).all():
        raise DataError("Input contains NaN or infinite values; clean or impute them first.")
    kind = "table" if X.ndim == 2 else "image"
    if X.ndim == 3:
        X = X[:, None]
    return X, 1.0, kind


def schema_of(X) -> tuple[list[str] | None, list[str] | None]:
    """Column names and dtypes of a table Dataset (None for images and bare arrays)."""
    if isinstance(X, Dataset) and X.kind == "table" and X.feature_names is not None:
        dtypes = X.feature_dtypes or ["float32"] * len(X.feature_names)
        return list(X.feature_names), list(dtypes)
    return None, None
