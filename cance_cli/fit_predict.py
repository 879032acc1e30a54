"""`cance fit` and `cance predict` as library calls: data in, model folder or flags out.

Both read data with the same readers and input contract as the stage
commands (reserved columns, labels, seeded single-table splits, columns by
name) and write the same artifact formats.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from cance_cli.columns import is_anomaly
from cance_cli.data import load_data, parse_normal
from cance_cli.data.roles import label_like_columns
from cance_cli.errors import ArtifactError
from cance_cli.estimator import CANCE
from cance_cli.features import id_array, id_type, named_table
from cance_cli.io.paths import check_output
from cance_cli.io.tables import identity_columns, table_writer
from cance_cli.model import check_model_folder, refuse_output_inside_model
from cance_cli.model_input import PREDICT_BATCH, given_rows, read_for_model
from cance_cli.views.fusion import combine


def fit_model(data, out, estimator: CANCE, *, normal: str | None = None, read: dict[str, Any] | None = None,
              option_names: dict[str, str] | None = None, plot=None) -> CANCE:
    """Fit ``estimator`` on the normal rows of ``data`` and write the model folder ``out``.

    ``read`` holds the reading options of :func:`~cance_cli.data.load_data`; ``option_names`` maps the
    estimator's parameters to the names a refusal should use (the CLI's options). What was recorded about
    the data (source, columns left out and why) is kept as ``estimator.fit_record_``. ``plot``: a PNG of
    the training rows' scores and the threshold.
    """
    read = {k: v for k, v in (read or {}).items() if v is not None}
    estimator.check_params(option_names)  # every parameter, before any data is read
    check_model_folder(out, inputs=[data])
    _check_plot(plot, data, out)
    normal_classes = parse_normal(normal)
    user_label = read.pop("label_col", None)
    ds = load_data(data, read.pop("split", None), user_label, read.pop("columns", None), encode=True, **read)
    if normal_classes is None and ds.y is not None and len(classes := np.unique(ds.y)) > 1:
        # Legitimate (unsupervised, the threshold allows for contamination), but often a forgotten --normal.
        logging.getLogger("cance").warning(
            "%s has %d label values (%s) and no `normal` was given: every row trains the model, anomalies "
            "included; give `normal` to train on the normal class only.", ds.source, len(classes),
            ", ".join(map(str, classes[:5])) + (", ..." if len(classes) > 5 else ""))
    labels = label_like_columns(ds)
    if labels:
        logging.getLogger("cance").warning(
            "%s look%s like a label (two values, one rare) but %s used as a feature; name the label with "
            "`label_col` (and the normal class with `normal`), or leave it out with `exclude`.",
            ", ".join(repr(c) for c in labels), "s" if len(labels) == 1 else "", "is" if len(labels) == 1 else "are")
    train = ds.subset(ds.normal_mask(normal_classes))
    estimator.fit(train)
    label_col = (user_label or "label") if ds.kind == "table" and ds.y is not None else None
    estimator.fit_record_ = {
        "source": ds.source, "split": ds.split, "normal_classes": normal_classes, "label_col": label_col,
        **(ds.split_info or {}), "data_fingerprint": train.fingerprint(), "n_train_rows": len(train),
        "not_features": ds.not_features, "id_like": ds.id_like or {}, "id_col": ds.id_column,
        "input_columns": None if estimator.encoding_ is None else estimator.encoding_.input_columns,
    }
    estimator.save(out, estimator.fit_record_)
    if plot is not None:
        from cance_cli.plots import score_histogram

        score_histogram(estimator.decision_scores_, estimator.threshold_, plot,
                        f"training rows of {Path(str(data)).name}")
    return estimator


def _check_plot(plot, data, model) -> None:
    """A ``--plot`` path: a writable .png outside the model folder, before any work."""
    if plot is None:
        return
    refuse_output_inside_model(plot, model, "`plot`")
    check_output(plot, inputs=[data], option="`plot`", writes="png")
    if Path(plot).suffix.lower() != ".png":
        raise ArtifactError(f"`plot` {plot} must name a .png file; name it {Path(plot).with_suffix('.png').name}.")
    from cance_cli.plots import pyplot

    pyplot()  # matplotlib is there, or say so now


def predict_table(data, model, out, *, threshold: float | None = None, read: dict[str, Any] | None = None,
                  device: str = "cpu", progress=None, by_position: bool = False,
                  keep: list[str] | None = None, plot=None, explain: int = 0,
                  explain_all: bool = False, explain_maps=None) -> dict[str, Any]:
    """Score every row of ``data`` with the model folder ``model``; write ``out``.

    Columns: ``id``, ``label`` and ``is_anomaly`` when the data has labels,
    ``score`` (higher = more anomalous), ``is_flagged`` (score above the
    model's threshold, or ``threshold``) and, for a model of several views,
    ``score_<view>`` (each view's own score); then the input columns ``keep`` names (``["all"]``: every
    input column not already written), as they were read. ``out`` ending in ``.csv`` is written as CSV
    (without the provenance a Parquet table carries). ``progress(n_batches)`` returns a context manager
    yielding a per-batch callback. ``plot``: a PNG histogram of the scores with the threshold. ``explain``:
    the ``k`` input columns most responsible for each flagged row's score (every row's with ``explain_all``),
    as ``why_i``, ``why_i_share``, ``why_i_value``, ``why_i_typical`` (:mod:`cance_cli.explain`);
    ``explain_maps``: a folder for anomaly-map overlays of each flagged image (every image's with
    ``explain_all``), named in a ``map_file`` column (:mod:`cance_cli.explain_images`).
    """
    import pyarrow as pa

    from cance_cli import validate

    if threshold is not None:
        validate.finite("`threshold`", threshold)
    refuse_output_inside_model(out, model)
    check_output(out, inputs=[data, model], writes="table")
    _check_plot(plot, data, model)
    if plot is not None and Path(plot).resolve() == Path(out).resolve():
        raise ArtifactError(f"`out` and `plot` name the same file {out}; give them different names.")
    if keep and not named_table(data):
        raise ArtifactError(f"`keep` carries columns of a CSV or Parquet table, and {data} is not one; drop `keep`.")
    if keep and (read or {}).get("split") in ("train", "test"):
        raise ArtifactError("`keep` carries the input's columns row for row, which a carved `split` reorders; "
                            "drop `split` or `keep`.")
    est = CANCE.load(model, device=device)  # reads and checks the manifest once
    if explain:
        from cance_cli.explain import require_explainable

        require_explainable(est)
    if explain_maps is not None:
        _check_map_folder(explain_maps, est, model)
    manifest = est.manifest_
    ds, carved = read_for_model(data, est, model, read, by_position)
    report = ds.encoding_report
    cut = float(est.threshold_ if threshold is None else threshold)
    normal = manifest.get("normal_classes") if ds.y is not None else None
    fields = [pa.field("id", id_type(ds))]
    if ds.y is not None:
        kind = ds.y.dtype
        fields.append(pa.field("label", pa.int64() if np.issubdtype(kind, np.integer) else
                               pa.float64() if np.issubdtype(kind, np.floating) else pa.string()))
    if normal:
        fields.append(pa.field("is_anomaly", pa.int8()))
    fields += [pa.field("score", pa.float64()), pa.field("is_flagged", pa.int8())]
    # a raw table: say which rows were filled in
    listed = named_table(data) and not by_position and est.encoding_ is not None and not est.encoding_.is_plain
    if listed:
        fields.append(pa.field("imputed_cells", pa.int32()))
    several = len(est.views_) > 1  # then each view's own score goes in a column too, for inspection
    if several:
        fields += [pa.field(f"score_{v}", pa.float64()) for v in est.views_]
    if explain:
        from cance_cli.explain import column_groups, explanation_arrays, explanation_fields

        explain = min(explain, len(column_groups(est)[0]))
        fields += explanation_fields(est, explain)
        # The values shown as given: a raw table's cells (text, dates, empty cells); numbers read back from x.
        raw_cells = est.encoding_ is not None and not est.encoding_.is_plain
        given = given_rows(data, column_groups(est)[0]) if named_table(data) and not carved and raw_cells else None
    if explain_maps is not None:
        fields.append(pa.field("map_file", pa.string()))
    kept = None
    if keep:
        table = _kept_columns(data, keep, [f.name for f in fields])
        fields += [table.schema.field(c) for c in table.column_names]
        kept = {c: table.column(c).combine_chunks() for c in table.column_names}  # once; batches slice it
    doc = {"stage": "scores", "method": "CANCE", "score_kind": "model", "model": str(model),
           "manifest_sha256": est.manifest_sha256_, "source": ds.source, "split": ds.split,
           "threshold": cut, "threshold_source": "--threshold" if threshold is not None else manifest["threshold"],
           "normal_classes": normal}
    n_batches = -(-len(ds) // PREDICT_BATCH)
    flagged = 0
    every_score = [] if plot is not None else None
    with (progress(n_batches) if progress else contextlib.nullcontext()) as advance, \
            table_writer(out, pa.schema(fields), doc) as writer:
        for start in range(0, len(ds), PREDICT_BATCH):
            part = ds.subset(np.arange(start, min(start + PREDICT_BATCH, len(ds))))
            views = est.view_scores(part)
            scores = combine(views, est.calibration_)
            cols: dict[str, Any] = {"id": id_array(ds, part.ids)}
            if ds.y is not None:
                cols["label"] = part.y
            if normal:
                cols["is_anomaly"] = is_anomaly(part.y, normal)
            cols["score"], cols["is_flagged"] = scores, (scores > cut).astype(np.int8)
            if listed:
                cols["imputed_cells"] = report.imputed_cells[start:start + len(part)].astype(np.int32)
            if several:
                cols.update({f"score_{v}": s for v, s in views.items()})
            if explain:
                chosen = np.ones(len(part), dtype=bool) if explain_all else scores > cut
                cols.update(explanation_arrays(est, part.x.reshape(len(part), -1), explain, chosen,
                                               None if given is None else given.slice(start, len(part))))
            if explain_maps is not None:
                from cance_cli.explain_images import draw_maps

                chosen = np.ones(len(part), dtype=bool) if explain_all else scores > cut
                cols["map_file"] = pa.array(draw_maps(est, part, chosen, cols["id"].to_pylist(),
                                                      np.arange(start, start + len(part)), explain_maps),
                                            pa.string())
            if kept is not None:
                cols.update({c: values.slice(start, len(part)) for c, values in kept.items()})
            flagged += int(cols["is_flagged"].sum())
            if every_score is not None:
                every_score.append(scores)
            writer.write(cols)
            if advance:
                advance()
    doc = {"table": str(out), "rows": writer.rows, "flagged": flagged, "threshold": cut}
    if plot is not None:
        from cance_cli.plots import score_histogram

        score_histogram(np.concatenate(every_score), cut, plot, f"scores of {Path(str(data)).name}")
        doc["plot"] = str(plot)
    if report is not None:
        doc.update(imputed_rows=report.imputed_rows, unseen_levels=report.unseen)
        if report.imputed_rows:
            first = id_array(ds, ds.ids[np.flatnonzero(report.imputed_cells)[:5]]).to_pylist()
            logging.getLogger("cance").warning(
                "%d of %d rows had missing cells, filled as in training (ids %s%s)%s.", report.imputed_rows,
                len(ds), ", ".join(map(str, first)), ", ..." if report.imputed_rows > 5 else "",
                "; the imputed_cells column lists them" if listed else "")
        if report.unseen:
            logging.getLogger("cance").warning(
                "categories never seen in training (encoded as (other) or the rarest training level): %s.",
                ", ".join(f"{c}: {k} cells" for c, k in report.unseen.items()))
    return doc


def _check_map_folder(folder, est, model) -> None:
    """An ``--explain-maps`` folder: for an image model, outside the model folder, holding nothing but overlays
    (a user's own file of the same name is never overwritten); created now if missing."""
    import re

    from cance_cli.explain_images import require_image_model

    require_image_model(est)
    refuse_output_inside_model(folder, model, "`explain_maps`")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ArtifactError(f"`explain_maps` {folder} is a file; give a folder for the PNG overlays.")
    if not folder.parent.is_dir():
        raise ArtifactError(f"`explain_maps` {folder}: its parent folder does not exist; create it first.")
    other = [p.name for p in folder.iterdir() if not re.fullmatch(r"\d{6}_[A-Za-z0-9_.-]*\.png", p.name)] \
        if folder.is_dir() else []
    if other:
        raise ArtifactError(f"`explain_maps` {folder} holds other files ({', '.join(sorted(other)[:3])}); give a new "
                            "or empty folder, or one of earlier overlays only.")
    folder.mkdir(exist_ok=True)


def _kept_columns(data, keep: list[str], written: list[str]):
    """The input columns ``--keep`` names, as an Arrow table of every row (``all``: every column not already
    written); a name the table lacks, or one that would repeat a written column, is refused."""
    from cance_cli.data.sources import read_arrow_table

    table = read_arrow_table(Path(str(data)))
    names = [c for c in table.column_names if c not in written] if keep == ["all"] else keep
    missing = [c for c in names if c not in table.column_names]
    if missing:
        raise ArtifactError(f"`keep` names {', '.join(repr(c) for c in missing)}, which {data} does not have; "
                            "fix the names, or give `keep` all.")
    clash = [c for c in names if c in written]
    if clash:
        raise ArtifactError(f"`keep` names {', '.join(repr(c) for c in clash)}, which the scores already hold as "
                            "their own columns; leave them out of `keep`.")
    return table.select(names)


class ModelBatchScorer:
    """Scores Arrow batches of a table with a model folder of `cance fit`: the
    batch function `cance predict --engine ray` runs in each actor (the model is
    loaded once). Returns ``id`` and the label column (when the batch has
    them), ``is_anomaly`` (when the model knows the normal classes), ``score``,
    ``is_flagged`` and, for a model of several views, ``score_<view>``: the
    columns of the local `cance predict`.
    """

    def __init__(self, model, threshold: float | None = None, device: str = "cpu"):
        from cance_cli import validate

        if threshold is not None:
            validate.finite("`threshold`", threshold)
        self.model = str(model)
        self.est = CANCE.load(model, device=device)
        manifest = self.est.manifest_
        self.columns = list((manifest.get("schema") or {}).get("columns") or [])
        self.encoding = self.est.encoding_ if self.est.encoding_ is not None and not self.est.encoding_.is_plain \
            else None  # a raw table's model reads the table's own columns and encodes them
        if self.encoding is not None:
            self.columns = self.encoding.input_columns
        if not self.columns:
            raise ArtifactError(f"{model} was fitted on images or unnamed columns; `engine` ray scores Parquet "
                                "tables by column name, so use `engine` local.")
        self.label_col = manifest.get("label_col")
        self.normal = manifest.get("normal_classes")
        self.threshold = float(self.est.threshold_ if threshold is None else threshold)
        self.threshold_source = "--threshold" if threshold is not None else manifest["threshold"]

    def check_table(self, path, schema) -> None:
        """Refuse a table without the model's columns, or with non-numeric ones."""
        import pyarrow.types as pat

        from cance_cli.io.tables import require_columns

        require_columns(path, schema, self.columns, "give the columns the model was fitted on.")
        for c in [] if self.encoding is not None else self.columns:
            t = schema.field(c).type
            if not (pat.is_integer(t) or pat.is_floating(t) or pat.is_boolean(t)):
                raise ArtifactError(f"{path}: column '{c}' holds {t} values; `engine` ray reads numeric columns "
                                    "only, so use `engine` local for this table.")

    def provenance(self, source) -> dict[str, Any]:
        return {"stage": "scores", "method": "CANCE", "score_kind": "model", "model": self.model,
                "manifest_sha256": self.est.manifest_sha256_, "source": str(source),
                "threshold": self.threshold, "threshold_source": self.threshold_source,
                "normal_classes": self.normal}

    def __call__(self, batch):
        import pyarrow as pa

        rows = batch.select(self.columns)
        if self.encoding is not None:
            rows = self.encoding.transform(rows, "a batch")[0]
        views = self.est.view_scores(rows if self.encoding is not None else rows.to_pandas())
        scores = combine(views, self.est.calibration_)
        cols = identity_columns(batch, self.label_col, self.normal)
        cols["score"] = pa.array(scores, pa.float64())
        cols["is_flagged"] = pa.array((scores > self.threshold).astype(np.int8))
        if len(views) > 1:
            cols.update({f"score_{v}": pa.array(s, pa.float64()) for v, s in views.items()})
        return pa.table(cols)


def predict_with_ray(source, model, out, *, threshold: float | None = None, device: str = "cpu",
                     workers: int | None = None, batch_size: int = 16384, verbose: bool = True) -> dict[str, Any]:
    """`cance predict` on Ray: Parquet tables (a file, folder or glob) scored by a
    model folder of `cance fit`, one model per actor, into the folder ``out``."""
    from cance_cli.engines.ray_data import check_output_folder, flagged_rows, input_files, map_parquet, require_ray
    from cance_cli.io.tables import open_table

    refuse_output_inside_model(out, model)
    require_ray()
    files = input_files(source)
    out = check_output_folder(out, files)
    scorer = ModelBatchScorer(model, threshold, "cpu")  # reads and checks the model folder once here
    for f in files:
        scorer.check_table(f, open_table(f).schema_arrow)
    names = open_table(files[0]).schema_arrow.names
    columns = [c for c in ("id", scorer.label_col) if c and c in names] + scorer.columns
    rows, manifest = map_parquet(files, out, ModelBatchScorer,
                                 {"model": str(model), "threshold": threshold, "device": device}, columns,
                                 scorer.provenance(source), workers=workers, batch_size=batch_size, verbose=verbose)
    flagged = sum(int(flagged_rows(p)) for p in sorted(out.glob("*.parquet")))
    return {"table": str(out), "rows": rows, "flagged": flagged, "threshold": scorer.threshold, "engine": "ray",
            "files": len(files)}
