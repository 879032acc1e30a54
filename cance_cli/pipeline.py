"""The table-level stages: fit a density on a feature table, score a table,
evaluate score tables. The CLI and the benchmarks call these, so a stage's
output file is all the next stage needs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from cance_cli import validate
from cance_cli.columns import RECON_COLUMNS
from cance_cli.errors import ArtifactError, ConfigError, DataError
from cance_cli.io.checkpoints import read_checkpoint_meta
from cance_cli.io.paths import check_output
from cance_cli.io.provenance import file_sha256
from cance_cli.io.tables import (
    AtomicParquetWriter,
    anomaly_flags,
    float64_column,
    iter_batches,
    numeric_values,
    open_table,
    read_columns,
    require_columns,
    table_meta,
)
from cance_cli.nce.stats import StreamingMoments
from cance_cli.runtime import distributed
from cance_cli.runtime.concurrent import cpu_workers, map_in_order

RECON = RECON_COLUMNS
PASS_THROUGH = ["id", "label", "is_anomaly"]
READ_BATCH = 16384  # measured: ~ best rows/s at a third of the memory of 65536 (docs/benchmarks.md)


# A latent column: z_3, or ae.z_3 in a table of joined feature maps (`cance join`).
LATENT_COLUMN = re.compile(r"(?:([A-Za-z][A-Za-z0-9_-]*)\.)?z_(\d+)")


def feature_columns(path, schema, features: str = "composite") -> list[str]:
    """Columns a density is fitted on: latents ``z_*`` (+ reconstruction columns).

    In a joined table each part's columns carry its name (``ae.z_0``,
    ``pca.recon_error``): all latents part by part, then every part's
    reconstruction columns.
    """
    meta = table_meta(schema)
    if meta.get("stage") == "scores":
        raise ArtifactError(f"{path} is a score table; fit-nce and score need a feature table from `cance features`.")
    parts: dict[str, list[tuple[int, str]]] = {}
    for name in schema.names:
        if match := LATENT_COLUMN.fullmatch(name):
            parts.setdefault(match.group(1) or "", []).append((int(match.group(2)), name))
    if not parts:
        raise ArtifactError(f"{path} has no latent columns z_0, z_1, ...; pass a table from `cance features`.")
    latent = [name for found in parts.values() for _, name in sorted(found)]
    if features == "latent":
        return latent
    if features != "composite":
        raise ConfigError(f"`features` must be composite or latent, got {features!r}.")
    recon = [f"{part}.{c}" if part else c for part in parts for c in RECON]
    require_columns(path, schema, recon, "compute it with `cance features`, or use `features` latent.")
    return latent + recon


def _normal_filter(path, batch, has_flag: bool) -> np.ndarray | None:
    if not has_flag:
        return None
    return ~anomaly_flags(path, batch.column("is_anomaly"))


def _rows(path, batch, columns: list[str], offset: int) -> np.ndarray:
    # Columns are filled into a (columns, rows) block and returned transposed (a
    # column-major view): each fill is one contiguous write (0.24 s per million
    # 34-column rows on one thread here, against 0.30 s for stacking row-major).
    block = np.empty((len(columns), batch.num_rows))
    for j, c in enumerate(columns):
        block[j] = numeric_values(batch.column(c))
    rows = block.T
    bad = ~np.isfinite(rows)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(f"{path} has NaN or infinite values (column '{columns[c]}', row {offset + r}); "
                        "drop or recompute those rows.")
    return rows


def read_normal_rows(path, columns: list[str], max_rows: int, seed: int) -> tuple[np.ndarray, StreamingMoments]:
    """Stream a feature table: exact moments over all normal rows, and the rows
    themselves (a seeded random subset of ``max_rows`` if there are more).

    One pass when the normal rows fit in ``max_rows``; a second, sampling pass
    only when they do not.
    """
    pf = open_table(path)
    has_flag = "is_anomaly" in pf.schema_arrow.names
    read_cols = columns + (["is_anomaly"] if has_flag else [])

    def normal_batches():
        offset = 0
        for batch in iter_batches(pf, path, READ_BATCH, read_cols):
            rows = _rows(path, batch, columns, offset)
            keep = _normal_filter(path, batch, has_flag)
            offset += batch.num_rows
            yield rows if keep is None else rows[keep]

    # Under torchrun each rank accumulates the moments of every world_size-th batch and the
    # ranks' moments merge pairwise, as batches do; every rank keeps the same row sample.
    group = distributed.current()
    moments = StreamingMoments(len(columns))
    parts: list[np.ndarray] | None = []
    total = 0
    for i, rows in enumerate(normal_batches()):
        if i % group.world_size == group.rank:
            moments.update(rows)
        total += len(rows)
        if parts is not None:
            parts.append(rows)
            if total > max_rows:
                parts = None  # too many to keep: sample in a second pass
    if group.active:
        moments = distributed.merge_moments(moments)
    if moments.count == 0:
        raise DataError(f"{path} has no normal rows (is_anomaly == 0); check the table or `normal`.")
    if parts is None:
        chosen = np.sort(np.random.default_rng(seed).choice(moments.count, max_rows, replace=False))
        parts, seen = [], 0
        for rows in normal_batches():
            lo, hi = np.searchsorted(chosen, [seen, seen + len(rows)])
            parts.append(rows[chosen[lo:hi] - seen])
            seen += len(rows)
    return np.concatenate(parts), moments


def method_name(features: str, augment: bool, learn_noise: bool) -> str:
    """The ablation name of a density configuration (METHOD's table)."""
    if features == "latent":
        return "LatNCE"
    if augment:
        return "CANCE" if learn_noise else "CANCE-fixed-noise"
    return "CNCE" if learn_noise else "CNCE-fixed-noise"


def fit_nce_table(table, out, features: str = "composite", max_rows: int = 2_000_000,
                  provenance: dict[str, Any] | None = None, knn: int = 0, **params):
    """Fit :class:`NCEDensity` on the normal rows of a feature table; write ``out``.

    ``epochs=None`` (or absent) chooses them by the rows used, as `cance fit` does
    (:func:`cance_cli.defaults.nce_epochs_for`): 100 up to 6,144 rows, fewer on
    more so the density takes about the same number of optimizer steps.
    ``knn`` > 0 adds the neighbour view of :mod:`cance_cli.nce.neighbours`
    (the ``knn``-th nearest training row), stored in the checkpoint.
    """
    from cance_cli.defaults import nce_epochs_for
    from cance_cli.training.nce import NCEDensity

    epochs = params.pop("epochs", None)
    if epochs is not None:
        validate.at_least("`epochs`", epochs, 1)
    validate.at_least("`knn`", knn, 0)
    model = NCEDensity(**params)
    model.check_params(validate.option_names(["ratio", "epochs", "hidden", "batch_size", "lr", "val_fraction",
                                              "seed"]))  # the options of `fit-nce` (this stage's command)
    validate.at_least("`max_rows`", max_rows, 2)
    check_output(out, inputs=[table], writes="safetensors")
    pf = open_table(table)
    columns = feature_columns(table, pf.schema_arrow, features)
    seed = params.get("seed", 0)
    rows, moments = read_normal_rows(table, columns, max_rows, seed)
    if features == "latent":
        model.augment = False
    model.epochs = epochs if epochs is not None else nce_epochs_for(len(rows), batch_size=model.batch_size)
    if knn and len(rows) <= knn:
        raise DataError(f"{table} has {len(rows)} normal rows, too few for `knn` {knn}; give more rows or a "
                        "smaller `knn`.")
    model.fit(rows, columns=columns, moments=moments if len(rows) < moments.count else None)
    name = method_name(features, model.augment_applied_, model.learn_noise)
    if knn:
        name += "+kNN"
    if knn and distributed.current().is_main:  # under torchrun only rank 0's checkpoint is written
        from cance_cli.nce.neighbours import FeatureNeighbours

        model.neighbours_ = FeatureNeighbours(knn, seed=seed).fit(rows, model.score_samples(rows))
    source = table_meta(pf.schema_arrow)
    meta = {
        "method": name, "features": features, "table": str(table), "table_sha256": file_sha256(table),
        "table_rows_used": len(rows), "normal_rows": moments.count, "seed": seed,
        "feature_source": {k: source.get(k) for k in ("source", "split", "normal_classes", "checkpoint",
                                                      "checkpoint_sha256", "feature_map")},
        **(provenance or {}),
    }
    if not distributed.current().is_main:  # under torchrun only rank 0 writes
        model.meta_ = meta
        return model
    model.save(out, meta)
    model.meta_ = read_checkpoint_meta(out)
    return model


def check_feature_source(table, meta: dict[str, Any], nce, density_meta: dict[str, Any]) -> None:
    """Refuse a feature table made by another feature map than the density's.

    Both the table and the density record the SHA-256 of the feature-map
    checkpoint (autoencoder or PCA) that produced their features.
    """
    fitted = (density_meta.get("feature_source") or {}).get("checkpoint_sha256")
    current = meta.get("checkpoint_sha256")
    if fitted and current and fitted != current:
        raise ArtifactError(f"{table} was computed by another feature map than the one {nce} was fitted on "
                            "(checkpoint fingerprints differ); compute the features with the same checkpoint, "
                            "or pass `force` if you know they match.")


def _unknown_latents(table, schema, columns: list[str], nce) -> None:
    known = set(columns)
    extra = [c for c in schema.names if LATENT_COLUMN.fullmatch(c) and c not in known]
    latent_fit = [c for c in columns if LATENT_COLUMN.fullmatch(c)]
    if extra and latent_fit:
        raise ArtifactError(f"{table} has latent column '{extra[0]}' that {nce} does not know ({len(latent_fit)} "
                            f"latents fitted, {len(latent_fit) + len(extra)} in the table); the features come from "
                            "another feature map, so recompute them with the density's.")


class BatchScorer:
    """Scores record batches of a feature table: the one batch function of every engine.

    ``cance score`` calls it on each batch it streams, Ray Data's
    ``map_batches`` constructs it once per worker (the density is loaded once)
    and calls it on Arrow batches, and Spark's ``mapInArrow`` can do the same
    (``docs/distributed.md``). It returns the batch's ``id`` / ``label`` /
    ``is_anomaly`` columns, as they are, and ``score``.

    ``method``: ``nce`` (the checkpoint's density), ``gauss`` (the
    checkpoint's fitted Gaussian), or ``error`` (``recon_error`` itself, no
    checkpoint). ``floor``: score reconstruction columns below their mode as
    at the mode (default: on for densities fitted with augmentation). A
    density fitted with `fit-nce --knn` carries a neighbour view: with
    ``nce``, ``score`` is the two combined and ``score_composite`` /
    ``score_knn`` are written beside it.
    """

    def __init__(self, nce=None, method: str = "nce", floor: bool | None = None, device: str = "cpu",
                 batch_size: int = READ_BATCH):
        from cance_cli.nce.scoring import LoadedDensity
        from cance_cli.training.common import resolve_device

        if method not in ("nce", "gauss", "error"):
            raise ConfigError(f"`method` must be nce, gauss or error, got {method!r}.")
        validate.at_least("`batch_size`", batch_size, 1)
        if method != "error" and nce is None:
            raise ConfigError(f"`method` {method} needs `nce` CHECKPOINT (from `cance fit-nce`).")
        self.method, self.batch_size = method, batch_size
        # Scoring alone needs no estimator: LoadedDensity keeps scikit-learn out of `cance score`.
        self.model = None if method == "error" else LoadedDensity.load(nce, device=resolve_device(device))
        self.columns = ["recon_error"] if self.model is None else self.model.columns_
        if self.model is None:
            self.name = "Error"
        else:
            self.name = self.model.meta_.get("method", "NCE") if method == "nce" else "Gauss"
        self.floor = bool(self.model.augment_applied_ if floor is None and method == "nce" else floor)
        self.neighbours = self.model.neighbours_ if method == "nce" and self.model is not None else None

    def output_schema(self, schema):
        import pyarrow as pa

        scores = ["score"] + (["score_composite", "score_knn"] if self.neighbours is not None else [])
        return pa.schema([schema.field(c) for c in PASS_THROUGH if c in schema.names]
                         + [pa.field(name, pa.float64()) for name in scores])

    def __call__(self, batch, path="the table", offset: int = 0):
        """Score one ``pyarrow`` RecordBatch or Table; rows numbered from ``offset`` in errors."""
        import pyarrow as pa

        keep = [c for c in PASS_THROUGH if c in batch.schema.names]
        if "is_anomaly" in keep:
            anomaly_flags(path, batch.column("is_anomaly"))  # refuse before the work, not after
        rows = _rows(path, batch, self.columns, offset)
        if self.method == "error":
            scores = rows[:, 0]
        elif self.method == "gauss":
            scores = self.model.gaussian_score(rows, self.batch_size)
        else:
            scores = self.model.score_checked_rows(rows, self.batch_size, floor=self.floor)  # _rows checked them
        cols = {c: batch.column(c) for c in keep}
        if self.neighbours is not None:
            knn = self.neighbours.scores(rows)
            cols["score"] = float64_column(self.neighbours.fuse(scores, knn))
            cols["score_composite"], cols["score_knn"] = float64_column(scores), float64_column(knn)
        else:
            cols["score"] = float64_column(scores)
        return pa.table(cols)

    def check_table(self, table, schema, meta: dict[str, Any], nce, force: bool) -> None:
        """Refuse a table this scorer cannot score correctly (one sentence each)."""
        if meta.get("stage") == "scores":
            raise ArtifactError(f"{table} is already a score table; score a feature table from `cance features`.")
        if self.model is None:
            require_columns(table, schema, self.columns, "score it with `nce`, or compute it with `cance features`.")
            return
        require_columns(table, schema, self.columns, f"it was in the table {nce} was fitted on; "
                        "compute features the same way.")
        _unknown_latents(table, schema, self.columns, nce)
        if not force:
            check_feature_source(table, meta, nce, self.model.meta_)

    def provenance(self, table, meta: dict[str, Any], nce) -> dict[str, Any]:
        checkpoint = {} if self.model is None else {"checkpoint": str(nce), "checkpoint_sha256": file_sha256(nce)}
        return {"stage": "scores", "method": self.name, "score_kind": self.method, "table": str(table),
                "floor": self.floor,
                "feature_source": {k: meta.get(k) for k in ("source", "split", "normal_classes",
                                                            "checkpoint_sha256")},
                **checkpoint}


def score_table(table, out, nce=None, method: str = "nce", batch_size: int = READ_BATCH,
                device: str = "cpu", floor: bool | None = None, progress=None, force: bool = False) -> dict[str, Any]:
    """Stream ``table`` and write ``id``/``label``/``is_anomaly`` plus ``score``
    (:class:`BatchScorer` for ``method`` and ``floor``).

    ``force``: score even if the table's feature map differs from the
    density's (the checkpoint fingerprints recorded in both).
    Memory holds one record batch at a time.
    """
    scorer = BatchScorer(nce, method, floor, device, batch_size)
    check_output(out, inputs=[table, nce], writes="parquet")
    pf = open_table(table)
    schema = pf.schema_arrow
    meta = table_meta(schema)
    scorer.check_table(table, schema, meta, nce, force)
    keep = [c for c in PASS_THROUGH if c in schema.names]
    batches = iter_batches(pf, table, batch_size, keep + [c for c in scorer.columns if c not in keep])
    # On a CPU, record batches are scored in parallel threads (one torch thread each:
    # the density's operations on a few thousand rows gain little from intra-op
    # threads) and written in order.
    workers = cpu_workers("cpu" if scorer.model is None else scorer.model.device_.type)
    scored = map_in_order(lambda item: scorer(item[1], table, item[0]), _with_offsets(batches), workers)
    with AtomicParquetWriter(out, scorer.output_schema(schema), scorer.provenance(table, meta, nce)) as writer:
        for part in scored:
            writer.write_table(part)
            if progress is not None:
                progress()
    return {"table": str(out), "rows": writer.rows, "method": scorer.name}


def _with_offsets(batches):
    """``(offset of the batch's first row, batch)`` pairs."""
    offset = 0
    for batch in batches:
        yield offset, batch
        offset += batch.num_rows


def load_scores(path) -> tuple[str, np.ndarray, np.ndarray]:
    """(method name, is_anomaly, score) of a score table: Parquet, or the CSV `cance predict --out x.csv`
    writes (no provenance there: the method is the file's name)."""
    if Path(path).name.lower().endswith((".csv", ".csv.gz", ".csv.bz2")):
        return _load_csv_scores(Path(path))
    pf = open_table(path)
    meta = table_meta(pf.schema_arrow)
    if meta.get("stage") == "features":
        raise ArtifactError(f"{path} is a feature table; score it first with `cance score`.")
    require_columns(path, pf.schema_arrow, ["score"], "pass a table written by `cance score`.")
    require_columns(path, pf.schema_arrow, ["is_anomaly"],
                    "evaluation needs labels: score labelled data (a label column; `cance features --normal`).")
    t = read_columns(pf, path, ["is_anomaly", "score"])
    return meta.get("method") or Path(path).stem, anomaly_flags(path, t.column("is_anomaly")), \
        np.asarray(t.column("score").to_numpy(zero_copy_only=False), dtype=np.float64)


def _load_csv_scores(path: Path) -> tuple[str, np.ndarray, np.ndarray]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not path.is_file():
        raise DataError(f"{path} does not exist; pass a score table written by `cance predict` or `cance score`.")
    try:
        header = pacsv.open_csv(str(path)).schema.names
        missing = [c for c in ("score", "is_anomaly") if c not in header]
        if missing:
            raise DataError(f"{path} has no {' or '.join(missing)} column; evaluation needs the scores of labelled "
                            "rows (a label column when the rows were scored).")
        t = pacsv.read_csv(str(path), convert_options=pacsv.ConvertOptions(
            include_columns=["is_anomaly", "score"],
            column_types={"is_anomaly": pa.int64(), "score": pa.float64()}))
    except pa.ArrowInvalid as exc:
        raise DataError(f"{path} is not a readable score table ({str(exc).splitlines()[0]}); pass a CSV written "
                        "by `cance predict`.") from None
    return path.name.split(".")[0], anomaly_flags(path, t.column("is_anomaly")), \
        np.asarray(t.column("score").to_numpy(zero_copy_only=False), dtype=np.float64)


def evaluate_tables(paths: list, contamination: float | None = None, top_k: int | None = None,
                    plot: str | Path | None = None) -> list[dict[str, Any]]:
    """Metrics for each score table (and one ROC/histogram PNG if ``plot``)."""
    from cance_cli.metrics import detection_metrics

    if not paths:
        raise ConfigError("Give at least one score table (from `cance score`).")
    if contamination is not None:
        validate.fraction("`contamination`", contamination, low_open=True, high_open=True)
    if top_k is not None:
        validate.at_least("`top_k`", top_k, 1)
    check_output(plot, inputs=paths, option="`plot`", writes="png")
    results, curves = [], []
    for path in paths:
        name, y, s = load_scores(path)
        try:
            metrics = detection_metrics(y, s, contamination, top_k)
        except DataError as exc:
            raise DataError(f"{path}: {exc}") from None
        results.append({"table": str(path), "method": name, **metrics})
        curves.append((f"{name} [{Path(path).stem}]" if len(paths) > 1 else name, y, s))
    if plot is not None:
        from cance_cli.plots import roc_and_histograms

        roc_and_histograms(curves, plot)
    return results


def score_with_ray(source, out, nce=None, method: str = "nce", batch_size: int = 16384, device: str = "cpu",
                   floor: bool | None = None, force: bool = False, workers: int | None = None,
                   verbose: bool = True) -> dict[str, Any]:
    """`cance score` on Ray: every row of ``source`` scored by ``workers`` actors
    into the folder ``out``. Every check of the local engine runs first, on each
    input file's schema; the folder appears complete or not at all."""
    from cance_cli.engines.ray_data import check_output_folder, input_files, map_parquet, require_ray

    require_ray()
    files = input_files(source)
    out = check_output_folder(out, files)
    scorer = BatchScorer(nce, method, floor, "cpu", batch_size)  # the checks; workers load their own
    for f in files:
        schema = open_table(f).schema_arrow
        scorer.check_table(f, schema, table_meta(schema), nce, force)
    first = open_table(files[0]).schema_arrow
    keep = [c for c in PASS_THROUGH if c in first.names]
    kwargs = {"nce": str(nce) if nce else None, "method": method, "floor": floor, "device": device,
              "batch_size": batch_size}
    doc = scorer.provenance(source, table_meta(first), nce)
    rows, _ = map_parquet(files, out, BatchScorer, kwargs, keep + [c for c in scorer.columns if c not in keep], doc,
                          workers=workers, batch_size=batch_size, verbose=verbose)
    return {"table": str(out), "rows": rows, "method": scorer.name, "engine": "ray", "files": len(files)}
