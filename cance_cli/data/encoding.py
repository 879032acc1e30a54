"""How a raw table's columns become numbers inside a model.

Numbers, booleans, categories (strings, Arrow dictionaries), dates and missing cells are each turned
into numeric columns by a plan learned from the training rows (:meth:`TableEncoding.fit`), recorded as
JSON in the model's manifest and applied identically at predict (:meth:`TableEncoding.transform`), so a
user never prepares a table with pandas. The rules are written in ``docs/defaults.md``:

- number: as is; a missing cell takes the training median, and a ``NAME=(missing)`` indicator column
  is added when training had missing cells in that column.
- boolean: 0/1, missing cells as for numbers (the training mode).
- category: one 0/1 column per training level, the :data:`MAX_LEVELS` most frequent (rarer levels share
  ``NAME=(other)``). A missing cell is its own level ``(missing)``. A level never seen in training is
  counted and encoded as ``(other)``, or as the rarest training level where there is no ``(other)``: the
  row still has one level per column, as every training row had (all zeros would project onto an
  average-looking row once the input view drops the one-hot's constant sum), and that level is rare.
  (With :data:`RARITY`, a ``NAME:rarity`` = -log(share) column as well: measured, not adopted.)
- datetime (Arrow timestamp/date columns, or text dates in one format): the hour of day, weekday and
  month as sine/cosine pairs (each only where it varies in training; a calendar position, not the
  absolute time, so later rows are not anomalous for being later). Text that looks like dates in
  several formats is refused.
- a column missing or constant in every training row carries nothing and is left out (named in
  ``dropped``).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from cance_cli.errors import ArtifactError, DataError

MAX_LEVELS = 32  # level columns per categorical column; a long tail shares one (other) column
RARITY = False  # a NAME:rarity column per category: measured, not adopted (docs/defaults.md); a switch for re-measuring
MISSING = "(missing)"
OTHER = "(other)"
KINDS = ("number", "boolean", "category", "datetime", "dropped")
DATE_PARTS = {"hour": 24.0, "weekday": 7.0, "month": 12.0}
# Text dates: a value like 2024-01-05, 05/01/2024 or 5.1.2024, with an optional time.
_DATE_LIKE = re.compile(r"\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
                        r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?\s*")
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d",
                "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M:%S",
                "%m/%d/%Y %H:%M:%S")


@dataclass
class ColumnPlan:
    """How one input column becomes numeric columns (see the module docstring)."""

    name: str
    kind: str
    fill: float = 0.0  # numbers and booleans: the value a missing cell takes
    indicator: bool = False  # a NAME=(missing) column
    levels: list[str] = field(default_factory=list)  # categories with their own column
    shares: list[float] = field(default_factory=list)  # training share of each level
    other: bool = False  # a NAME=(other) column for the levels beyond MAX_LEVELS
    other_share: float = 0.0  # their mean share (the rarity of a row among them)
    unseen_share: float = 0.0  # share given to a level never seen in training (half a row)
    parts: list[str] = field(default_factory=list)  # datetime parts encoded
    date_format: str | None = None  # text dates: the strptime format
    reason: str = ""  # dropped columns: why
    rarity: bool = False  # categories: a NAME:rarity column (an experiment, see RARITY)

    def output_names(self) -> list[str]:
        n = self.name
        if self.kind in ("number", "boolean"):
            return [n] + ([f"{n}={MISSING}"] if self.indicator else [])
        if self.kind == "category":
            return [f"{n}={lv}" for lv in self.levels] + ([f"{n}={OTHER}"] if self.other else []) \
                + ([f"{n}:rarity"] if self.rarity else [])
        if self.kind == "datetime":
            return [f"{n}:{p}_{t}" for p in self.parts for t in ("sin", "cos")] \
                + ([f"{n}={MISSING}"] if self.indicator else [])
        return []


@dataclass
class EncodingReport:
    """What ``transform`` had to do to some rows, row by row: cells imputed, and per column the rows whose level
    has no column of its own (never seen at fit, or in the (other) tail)."""

    imputed_cells: np.ndarray  # (N,) int: cells of the row that were missing and filled
    unseen_rows: dict[str, np.ndarray]  # column -> (N,) bool

    @property
    def imputed_rows(self) -> int:
        return int((self.imputed_cells > 0).sum())

    @property
    def unseen(self) -> dict[str, int]:
        """Column -> cells of a level without its own column (columns with none left out)."""
        return {c: int(rows.sum()) for c, rows in self.unseen_rows.items() if rows.any()}

    def subset(self, index) -> EncodingReport:
        """The report of some rows (as :meth:`Dataset.subset` takes them)."""
        return EncodingReport(self.imputed_cells[index], {c: rows[index] for c, rows in self.unseen_rows.items()})


class TableEncoding:
    """The numeric encoding of a table's feature columns, learned from training rows."""

    def __init__(self, plans: list[ColumnPlan]):
        self.plans = plans

    # ------------------------------------------------------------------ fit

    @classmethod
    def fit(cls, table, names: list[str] | None = None) -> TableEncoding:
        """Learn the plan of each column of the Arrow ``table`` (``names``: those columns, in order)."""
        names = list(names or table.column_names)
        encoding = cls([_plan(table.column(n), n, table.num_rows) for n in names])
        seen: set[str] = set()
        clash = next((name for name in encoding.output_names if name in seen or seen.add(name)), None)
        if clash is not None:  # e.g. a column named "shop=a" beside a column "shop" with the level "a"
            raise DataError(f"two encoded columns would both be named {clash!r}; rename the input column of that "
                            "name, or leave one out with `exclude`.")
        return encoding

    @classmethod
    def for_numbers(cls, names: list[str], x: np.ndarray) -> TableEncoding:
        """The encoding of a table of numbers: each column as is, a cell missing at predict filled with the
        training median."""
        return cls([ColumnPlan(str(n), "number", fill=float(np.median(x[:, j]))) for j, n in enumerate(names)])

    @property
    def input_columns(self) -> list[str]:
        return [p.name for p in self.plans]

    @property
    def output_names(self) -> list[str]:
        return [name for p in self.plans for name in p.output_names()]

    @property
    def dropped(self) -> dict[str, str]:
        return {p.name: p.reason for p in self.plans if p.kind == "dropped"}

    @property
    def is_plain(self) -> bool:
        """Every column a number taken as is: the encoding changes nothing (tables of numbers)."""
        return all(p.kind == "number" and not p.indicator for p in self.plans)

    def describe(self) -> dict[str, str]:
        """Column -> one phrase on how it is encoded (printed by `cance fit`)."""
        out = {}
        for p in self.plans:
            if p.kind == "category":
                out[p.name] = (f"category: {len(p.levels)} level columns" + (" + (other)" if p.other else "")
                               + (" + rarity" if p.rarity else ""))
            elif p.kind == "datetime":
                out[p.name] = "date: " + (", ".join(p.parts) or "constant")
            elif p.kind == "dropped":
                out[p.name] = f"left out: {p.reason}"
            elif p.indicator:
                out[p.name] = f"{p.kind}: missing cells filled with {p.fill:.6g} + indicator"
            elif p.kind == "boolean":
                out[p.name] = "boolean: 0/1"
        return out

    # ------------------------------------------------------------------ transform

    def transform(self, table, source: str = "the table") -> tuple[np.ndarray, EncodingReport]:
        """The encoded rows of the Arrow ``table`` (float32, :attr:`output_names` columns) and a report."""
        missing = [n for n in self.input_columns if n not in table.column_names]
        if missing:
            raise DataError(f"{source} lacks column '{missing[0]}' ({len(missing)} of the {len(self.plans)} columns "
                            "the model was trained on are missing); give a table with the training columns.")
        n = table.num_rows
        parts, imputed, unseen = [], np.zeros(n, dtype=np.int64), {}
        for p in self.plans:
            block, filled, new = _apply(p, table.column(p.name), source)
            parts.append(block)
            imputed += filled
            if new is not None:
                unseen[p.name] = new
        x = np.hstack(parts) if parts else np.zeros((n, 0))
        limit = np.finfo(np.float32).max  # per column: the first one too large for float32 is named
        too_large = (np.abs(x) > limit).any(axis=0) if len(x) else np.zeros(x.shape[1], dtype=bool)
        if too_large.any():
            raise DataError(f"{source}: column '{self.output_names[int(np.argmax(too_large))]}' holds values beyond "
                            "float32's range (about 3.4e38); rescale it (e.g. take its logarithm) first.")
        return x.astype(np.float32), EncodingReport(imputed, unseen)

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> list[dict[str, Any]]:
        def kept(p: ColumnPlan, k: str, v) -> bool:  # defaults left out
            return v not in (None, "", [], False, 0.0) or k in ("name", "kind")

        return [{k: v for k, v in asdict(p).items() if kept(p, k, v)} for p in self.plans]

    @classmethod
    def from_json(cls, doc, where: str = "the manifest") -> TableEncoding:
        """Rebuild from :meth:`to_json`'s form, refusing anything malformed (a model folder is input too)."""
        bad = ArtifactError(f"{where} has a malformed column encoding; refit the model with `cance fit`.")
        if not isinstance(doc, list) or not doc:
            raise bad
        plans = []
        for item in doc:
            if not isinstance(item, dict) or not set(item) <= set(ColumnPlan.__dataclass_fields__):
                raise bad
            try:
                p = ColumnPlan(**item)
            except TypeError:
                raise bad from None
            if not (isinstance(p.name, str) and p.kind in KINDS and _is_real(p.fill) and _is_real(p.other_share)
                    and _is_real(p.unseen_share) and isinstance(p.indicator, bool) and isinstance(p.other, bool)
                    and isinstance(p.rarity, bool)
                    and _strings(p.levels) and _strings(p.parts) and set(p.parts) <= set(DATE_PARTS)
                    and isinstance(p.shares, list) and len(p.shares) == len(p.levels)
                    and all(_is_real(s) and 0 < s <= 1 for s in p.shares)
                    and (p.date_format is None or p.date_format in DATE_FORMATS)):
                raise bad
            plans.append(p)
        return cls(plans)


def _is_real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _strings(values) -> bool:
    return isinstance(values, list) and all(isinstance(v, str) for v in values)


# ---------------------------------------------------------------------- one column


def kind_of(arrow_type) -> str:
    """number, boolean, category or datetime, from the column's Arrow type."""
    import pyarrow.types as pat

    if pat.is_boolean(arrow_type):
        return "boolean"
    if pat.is_integer(arrow_type) or pat.is_floating(arrow_type) or pat.is_decimal(arrow_type):
        return "number"
    if pat.is_timestamp(arrow_type) or pat.is_date(arrow_type):
        return "datetime"
    if pat.is_string(arrow_type) or pat.is_large_string(arrow_type) or pat.is_dictionary(arrow_type):
        return "category"
    return "unsupported"


def _numbers(column) -> np.ndarray:
    """float64 values with NaN for missing cells (Arrow nulls and float NaN alike)."""
    import pyarrow.compute as pc

    return np.array(pc.cast(column, "float64").to_numpy(zero_copy_only=False), dtype=np.float64)  # a copy: filled later


def _text(column):
    """The column as Arrow strings (dictionaries decoded), an empty or blank cell as missing (a CSV reader
    gives an empty text cell as "")."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.cast(column, pa.string())
    return pc.if_else(pc.equal(pc.utf8_trim_whitespace(text), ""), pa.scalar(None, pa.string()), text)


def _plan(column, name: str, n_rows: int) -> ColumnPlan:
    import pyarrow.compute as pc

    kind = kind_of(column.type)
    if column.null_count == n_rows or kind == "category" and _text(column).null_count == n_rows:
        return ColumnPlan(name, "dropped", reason="every training cell is missing")
    if kind == "unsupported":
        raise DataError(f"column '{name}' holds {column.type} values, which cance cannot encode; leave it out with "
                        "`exclude`.")
    if kind == "category":
        fmt = _text_date_format(_text(column), name)
        if fmt is not None:
            return _plan_dates(pc.strptime(_text(column), format=fmt, unit="s", error_is_null=True), name, fmt)
        return _plan_category(_text(column), name, n_rows)
    if kind == "datetime":
        return _plan_dates(column, name, None)
    values = _numbers(column)
    if np.isinf(values).any():
        raise DataError(f"column '{name}' holds infinite values; clean them or leave the column out with `exclude`.")
    present = values[~np.isnan(values)]
    if len(present) == 0:
        return ColumnPlan(name, "dropped", reason="every training cell is missing")
    indicator = len(present) < n_rows
    fill = float(np.median(present)) if kind == "number" else float(np.mean(present) >= 0.5)
    return ColumnPlan(name, kind, fill=fill, indicator=indicator)


def _plan_category(text, name: str, n_rows: int) -> ColumnPlan:
    import pyarrow.compute as pc

    counts = pc.value_counts(pc.fill_null(text, MISSING))
    levels = counts.field("values").to_pylist()
    freq = np.asarray(counts.field("counts").to_numpy(), dtype=np.float64)
    order = np.lexsort((np.asarray(levels, dtype=object).astype(str), -freq))  # most frequent first; ties by name
    levels, freq = [levels[i] for i in order], freq[order]
    if len(levels) == 1:
        return ColumnPlan(name, "dropped", reason=f"one value in training ({levels[0]!r})")
    shares = freq / n_rows
    kept = min(len(levels), MAX_LEVELS)
    other = len(levels) > kept
    return ColumnPlan(name, "category", levels=levels[:kept], shares=[float(s) for s in shares[:kept]], other=other,
                      other_share=float(shares[kept:].mean()) if other else 0.0, unseen_share=0.5 / n_rows,
                      rarity=RARITY)


def _text_date_format(text, name: str) -> str | None:
    """The one strptime format that reads every value of a text column of dates; None for non-dates."""
    import pyarrow.compute as pc

    values = pc.drop_null(text)
    sample = values.slice(0, 200).to_pylist()
    if not sample or sum(bool(_DATE_LIKE.fullmatch(v)) for v in sample) < 0.9 * len(sample):
        return None
    failures = {}
    for fmt in DATE_FORMATS:
        parsed = pc.strptime(values, format=fmt, unit="s", error_is_null=True)
        if parsed.null_count == 0:
            return fmt
        failures[fmt] = parsed
    best = min(failures, key=lambda f: failures[f].null_count)  # the format most values are in
    read, fails = failures[best].is_null().to_pylist(), values.to_pylist()
    first = (next(v for v, bad in zip(fails, read) if not bad) if not all(read) else fails[0],
             next(v for v, bad in zip(fails, read) if bad))
    raise DataError(f"column '{name}' looks like dates but not in one format that cance reads (e.g. "
                    f"{first[0]!r} and {first[1]!r}); re-save it in one format such as ISO 8601 (2024-01-31 or "
                    "2024-01-31T08:15:00), or leave it out with `exclude`.")


def _date_parts(column) -> dict[str, np.ndarray]:
    """Hour of day (with minutes), weekday and month of each cell (NaN where missing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_date(column.type):
        column = pc.cast(column, pa.timestamp("s"))
    hour = _numbers(pc.hour(column)) + _numbers(pc.minute(column)) / 60.0
    return {"hour": hour, "weekday": _numbers(pc.day_of_week(column)), "month": _numbers(pc.month(column)) - 1}


def _plan_dates(column, name: str, fmt: str | None) -> ColumnPlan:
    parts = _date_parts(column)
    varying = [p for p, v in parts.items() if len(np.unique(v[~np.isnan(v)])) > 1]
    if not varying:
        return ColumnPlan(name, "dropped", reason="every training date falls at the same hour, weekday and month")
    return ColumnPlan(name, "datetime", parts=varying, indicator=bool(column.null_count), date_format=fmt)


def _apply(p: ColumnPlan, column, source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(encoded block, imputed cells per row, rows of a level without its own column or None) of one column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(column)
    none = np.zeros(n, dtype=np.int64)
    if p.kind == "dropped":
        return np.zeros((n, 0)), none, None
    if column.null_count == n:  # all missing (an Arrow null column): read as the fitted kind
        column = pc.cast(column, "string" if p.kind == "category" or p.date_format else
                         "timestamp[s]" if p.kind == "datetime" else "float64")
    actual = kind_of(column.type)
    expected = "category" if p.date_format else p.kind
    if actual != expected and not (expected == "number" and actual == "boolean"):
        raise DataError(f"{source}: column '{p.name}' holds {column.type} values but the model was fitted on "
                        f"{expected} values there; give the column as it was at fit.")
    if p.kind == "category":
        text = pc.fill_null(_text(column), MISSING)
        levels = pa.array(p.levels, pa.string())
        index = np.asarray(pc.fill_null(pc.index_in(text, value_set=levels), -1).to_numpy())
        block = np.zeros((n, len(p.levels) + p.other + 1))  # the last column: rarity (cut below without it)
        known = index >= 0
        block[np.flatnonzero(known), index[known]] = 1.0
        share = np.full(n, p.unseen_share)
        share[known] = np.asarray(p.shares)[index[known]]
        rest = ~known
        if p.other and rest.any():  # a training level beyond MAX_LEVELS, or one never seen
            block[rest, len(p.levels)] = 1.0
            share[rest] = max(p.other_share, p.unseen_share)
        elif rest.any() and not p.rarity:  # never seen: as the rarest training level (the row keeps one level,
            block[rest, len(p.levels) - 1] = 1.0  # as every training row has, instead of an average-looking zero)
        block[:, -1] = -np.log(share)
        return (block if p.rarity else block[:, :-1]), none, rest
    if p.kind == "datetime":
        if p.date_format:
            column = pc.strptime(_text(column), format=p.date_format, unit="s", error_is_null=True)
        values = _date_parts(column)
        cols = []
        gone = np.zeros(n, dtype=bool)
        for part in p.parts:
            angle = 2 * math.pi * values[part] / DATE_PARTS[part]
            gone |= np.isnan(angle)
            cols += [np.nan_to_num(np.sin(angle)), np.nan_to_num(np.cos(angle))]
        if p.indicator:
            cols.append(gone.astype(np.float64))
        return np.column_stack(cols), gone.astype(np.int64), None
    values = _numbers(column)
    if np.isinf(values).any():
        row = int(np.flatnonzero(np.isinf(values))[0])
        raise DataError(f"{source}: column '{p.name}' holds infinite values (first in row {row}); clean them first.")
    gone = np.isnan(values)
    values[gone] = p.fill
    cols = [values] + ([gone.astype(np.float64)] if p.indicator else [])
    return np.column_stack(cols), gone.astype(np.int64), None


def unsupported_columns(table, names: list[str]) -> list[str]:
    """``name (type)`` of each column no plan can encode (lists, structs, binary, ...)."""
    import pyarrow.types as pat

    return [f"{n} ({table.schema.field(n).type})" for n in names
            if kind_of(table.schema.field(n).type) == "unsupported" and not pat.is_null(table.schema.field(n).type)]


def as_arrow_table(X, always: bool = False):
    """``X`` (a pandas DataFrame or an Arrow table) as an Arrow table when it needs encoding (text, dates,
    missing cells) or ``always``; None for arrays and numeric frames."""
    import pyarrow as pa

    if isinstance(X, pa.Table):
        table = X
    elif hasattr(X, "columns") and hasattr(X, "dtypes") and hasattr(X, "iloc"):  # pandas, without importing it
        try:
            table = pa.Table.from_pandas(X, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
            raise DataError(f"X has a column cance cannot read ({str(exc).splitlines()[0]}); give numbers, text, "
                            "booleans or dates.") from None
        table = table.rename_columns([str(c) for c in table.column_names])
    else:
        return None
    return table if always or needs_encoding(table, table.column_names) else None


def needs_encoding(table, features: list[str]) -> bool:
    """Whether some feature column is not a plain number (text, dates, ...) or has a missing cell (a null, or
    NaN in a float column)."""
    import pyarrow.compute as pc
    import pyarrow.types as pat

    for c in features:
        kind, column = table.schema.field(c).type, table.column(c)
        if not (pat.is_integer(kind) or pat.is_floating(kind) or pat.is_boolean(kind)) or column.null_count:
            return True
        if pat.is_floating(kind) and pc.any(pc.is_nan(column)).as_py():
            return True
    return False
