"""What role a table's column plays besides being a feature: a row identity (id-like), a label used by
mistake as a feature, or a column the user excluded."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from cance_cli.data.dataset import Dataset
from cance_cli.errors import DataError

_LABEL_NAME = re.compile(r"(label|target|class|y|outcome|is_.+)", re.IGNORECASE)
RARE_LABEL_SHARE = 0.2  # a two-valued column whose rarer value is below this share looks like a label


def label_like_columns(ds: Dataset) -> list[str]:
    """Feature columns that look like a label: named like one (label, target, class, y, outcome, is_*) and
    holding two values, one of them rare. Used as a feature, such a column gives the anomalies away in
    training (or, with `normal`, is constant there)."""
    found = []
    for j, name in enumerate(ds.feature_names or []):
        if _LABEL_NAME.fullmatch(name.strip()):
            counts = _value_counts(ds.raw.column(name)) if ds.raw is not None else np.unique(ds.x[:, j],
                                                                                             return_counts=True)[1]
            if len(counts) == 2 and counts.min() / counts.sum() < RARE_LABEL_SHARE:
                found.append(name)
    return found


def _value_counts(column) -> np.ndarray:
    import pyarrow.compute as pc

    return np.asarray(pc.value_counts(column).field("counts").to_numpy())


MIN_ROWS_FOR_ID_VALUES = 20  # judge a column an id by its values only from this many rows on
_ID_NAME = re.compile(r"(^|[_\-\s.])id$", re.IGNORECASE)
_CAMEL_ID = re.compile(r"[a-z0-9]Id$")


def excluded_columns(path: Path, names: list[str], patterns: list[str]) -> list[str]:
    """The columns ``--exclude`` names (exact names or glob patterns); a pattern matching none is refused."""
    from fnmatch import fnmatchcase

    unmatched = [p for p in patterns if not any(fnmatchcase(n, p) for n in names)]
    if unmatched:
        raise DataError(f"`exclude` names no column of {path}: {', '.join(repr(p) for p in unmatched)} (columns: "
                        f"{', '.join(names[:12])}{', ...' if len(names) > 12 else ''}); fix the names or patterns.")
    return [n for n in names if any(fnmatchcase(n, p) for p in patterns)]


def id_like_columns(table, names: list[str]) -> dict[str, str]:
    """Columns that identify rows rather than describe them, with the reason: a name ending in ``id``
    (``transaction_id``, ``userId``, ``ID``), a text column whose every value is different, or an integer
    counter (every value one more than the last). As a feature such a column makes a row's score depend on
    its identity or position. An all-different integer column that is not a counter (e.g. amounts in cents)
    stays a feature; values are judged only from :data:`MIN_ROWS_FOR_ID_VALUES` rows on."""
    import pyarrow.compute as pc
    import pyarrow.types as pat

    found = {}
    for name in names:
        column, kind = table.column(name), table.schema.field(name).type
        if _ID_NAME.search(name.strip()) or _CAMEL_ID.search(name.strip()):
            found[name] = "its name ends in id"
        elif table.num_rows < MIN_ROWS_FOR_ID_VALUES:  # a few rows are all different by chance
            continue
        elif (pat.is_string(kind) or pat.is_large_string(kind)) \
                and pc.count_distinct(column).as_py() == table.num_rows:
            found[name] = "every value is different"
        elif pat.is_integer(kind) and not column.null_count:
            values = np.asarray(column.to_numpy())
            if (np.diff(values) == 1).all():
                found[name] = "it counts rows"
    return found


# transaction_id, user-id, account.ID; camelCase userId (case-sensitive: "paid" and "valid" are not ids)
