"""Late fusion of several densities' scores of the same rows (`cance fuse`).

`cance join` puts several feature maps into one table for one density; late
fusion instead keeps one density per feature map and adds their scores. Each
score table is paired with a *reference*: the same density's scores of its
training table. A view's scores are standardised by the median and
interquartile range of its reference's normal rows (``is_anomaly == 0``; all
rows when the column is absent) -- the rows the density was fitted on -- and
the fused score is the mean of the standardised views, as ``cance fit``
combines its density views (:mod:`cance_cli.views.fusion`). Higher = more
anomalous.

The contract: every score table holds the same rows in the same order (same
``id`` and ``is_anomaly`` where present), and each reference was scored by the
same density (checkpoint fingerprint) as its score table; anything else is
refused with the table and what differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cance_cli.errors import ArtifactError, ConfigError, DataError
from cance_cli.io.paths import check_output, first_repeat
from cance_cli.io.tables import (
    AtomicParquetWriter,
    anomaly_flags,
    float64_column,
    numeric_values,
    open_table,
    read_columns,
    require_columns,
    table_meta,
)
from cance_cli.views.fusion import robust_scale, standardise

IDENTITY = ["id", "label", "is_anomaly"]
FUSED_KIND = "fused"
# What must agree between a score table and its reference: the density and how it scored.
SAME_DENSITY = {"checkpoint_sha256": "another density (--nce)", "score_kind": "another --method",
                "floor": "another --floor setting", "feature_map": "features of another feature map"}


class ScoreTable:
    """One table written by `cance score`: its provenance, scores and identity columns."""

    def __init__(self, path) -> None:
        import pyarrow as pa

        self.path = Path(path)
        pf = open_table(self.path)
        self.meta = table_meta(pf.schema_arrow)
        if self.meta.get("stage") != "scores":
            raise ArtifactError(f"{self.path} is not a score table; fuse tables written by `cance score`.")
        if self.meta.get("score_kind") == FUSED_KIND:
            raise ArtifactError(f"{self.path} is already fused; fuse the score tables it was made from instead.")
        require_columns(self.path, pf.schema_arrow, ["score"], "pass a table written by `cance score`.")
        present = [c for c in IDENTITY if c in pf.schema_arrow.names]
        self.table = read_columns(pf, self.path, present + ["score"])
        kind = self.table.schema.field("score").type
        if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
            raise DataError(f"{self.path}: column 'score' holds {kind} values, not numbers; re-score its feature "
                            "table with `cance score`.")
        self.scores = np.asarray(numeric_values(self.table.column("score")), dtype=np.float64)
        if not np.isfinite(self.scores).all():
            raise DataError(f"{self.path} holds {int((~np.isfinite(self.scores)).sum())} non-finite scores; "
                            "re-score its feature table.")
        self._identity: dict[str, np.ndarray | None] = {}

    def identity(self, name: str) -> np.ndarray | None:
        """The column ``name`` as an array (None when absent), converted once: every other table is compared
        against the first one's."""
        if name not in self._identity:
            if name not in self.table.schema.names:
                self._identity[name] = None
            elif name == "is_anomaly":
                self._identity[name] = anomaly_flags(self.path, self.table.column(name))
            else:
                self._identity[name] = np.asarray(self.table.column(name).to_numpy())
        return self._identity[name]

    def calibration_rows(self) -> np.ndarray:
        """The rows a reference calibrates on: its normal rows, else all."""
        flags = self.identity("is_anomaly")
        rows = self.scores if flags is None else self.scores[~flags]
        if not len(rows):
            raise DataError(f"{self.path} has no normal rows (is_anomaly == 0) to calibrate on; pass the scores of "
                            "the table the density was fitted on.")
        return rows


def _fingerprint(meta: dict[str, Any], key: str):
    # --method error has no density: the feature map's fingerprint is what ties the pair.
    return (meta.get("feature_source") or {}).get("checkpoint_sha256") if key == "feature_map" else meta.get(key)


def _check_pair(scores: ScoreTable, reference: ScoreTable) -> None:
    for key, what in SAME_DENSITY.items():
        if _fingerprint(scores.meta, key) != _fingerprint(reference.meta, key):
            raise DataError(f"{reference.path} was scored with {what} than {scores.path}; score the density's "
                            "training table with the same --nce and --method and pass that as its --reference.")


def _density_key(table: ScoreTable) -> tuple | None:
    """What identifies the density and how it scored; None when the table records no fingerprint."""
    if not any(_fingerprint(table.meta, key) for key in ("checkpoint_sha256", "feature_map")):
        return None
    return tuple(_fingerprint(table.meta, key) for key in SAME_DENSITY)


def _check_distinct(views: list[ScoreTable]) -> None:
    """Two tables of one density would count that density twice (a repeated path, a doubled glob, a copy)."""
    repeat = first_repeat([v.path for v in views], [_density_key(v) for v in views])
    if repeat is None:
        return
    earlier, later = (views[k].path for k in repeat)
    what = (f"{later} is given twice" if earlier.resolve() == later.resolve()
            else f"{earlier} and {later} were scored by the same density the same way")
    raise DataError(f"{what}; fuse one score table per density.")


def _check_aligned(first: ScoreTable, other: ScoreTable) -> None:
    if len(other.scores) != len(first.scores):
        raise DataError(f"{first.path} has {len(first.scores)} rows and {other.path} {len(other.scores)}; fuse "
                        "scores of the same rows in the same order.")
    for name in ("id", "is_anomaly"):
        a, b = first.identity(name), other.identity(name)
        if a is None or b is None:
            continue
        differ = np.flatnonzero(a != b)
        if len(differ):
            row = int(differ[0])
            x, y = np.asarray(a[row]).item(), np.asarray(b[row]).item()  # plain values, not numpy reprs
            raise DataError(f"{first.path} and {other.path} hold different rows ({name} {x!r} vs {y!r} at "
                            f"row {row}); fuse scores of the same rows in the same order.")


def fuse_score_tables(scores: list, references: list, out) -> dict[str, Any]:
    """Write ``out``: identity columns, ``score`` (the fused score) and
    ``score_1`` ... ``score_n`` (each view standardised); return a summary."""
    import pyarrow as pa

    if len(scores) < 2:
        raise ConfigError("Give at least two score tables to fuse (one per density).")
    if len(references) != len(scores):
        raise ConfigError(f"Give one --reference per score table, in the same order: got {len(scores)} score "
                          f"tables and {len(references)} references.")
    check_output(out, inputs=[*scores, *references], writes="parquet")
    views = [ScoreTable(p) for p in scores]
    refs = [ScoreTable(p) for p in references]
    for view, ref in zip(views, refs, strict=True):
        _check_pair(view, ref)
    _check_distinct(views)
    for view in views[1:]:
        _check_aligned(views[0], view)
    parts, columns = [], {}
    for i, (view, ref) in enumerate(zip(views, refs, strict=True), start=1):
        rows = ref.calibration_rows()
        cal = robust_scale(rows)
        columns[f"score_{i}"] = standardise(view.scores, cal)  # as a model's views are (views/fusion.py)
        parts.append({"column": f"score_{i}", "scores": str(view.path), "reference": str(ref.path),
                      "method": view.meta.get("method"), "checkpoint_sha256": view.meta.get("checkpoint_sha256"),
                      "calibration_rows": len(rows), **cal})
    fused = np.mean(list(columns.values()), axis=0)
    first = views[0].table
    fields = [first.schema.field(c) for c in IDENTITY if c in first.schema.names]
    fields += [pa.field(name, pa.float64()) for name in ["score", *columns]]
    meta = {"stage": "scores", "method": "fused(" + "+".join(str(p["method"]) for p in parts) + ")",
            "score_kind": FUSED_KIND, "combination": "mean of (score - reference median) / reference IQR",
            "views": parts}
    data = {c: first.column(c) for c in IDENTITY if c in first.schema.names}
    data.update({name: float64_column(values) for name, values in {"score": fused, **columns}.items()})
    with AtomicParquetWriter(out, pa.schema(fields), meta) as writer:
        writer.write_table(pa.table(data))
    return {"table": str(out), "rows": writer.rows, "views": parts}
