"""`cance features`: composite feature table from an autoencoder or a PCA of embeddings."""

from __future__ import annotations

from pathlib import Path

import typer

from cance_cli.cli._common import (
    DEVICE_HELP,
    JSON_HELP,
    LABEL_HELP,
    SPLIT_HELP,
    handle_errors,
    print_json,
    stdout_console,
)


@handle_errors
def features(
    data: str = typer.Argument(..., help="Source the autoencoder was trained on, or an embedding table for --pca."),
    ae: Path = typer.Option(None, "--ae", help="Checkpoint written by `cance train-ae`."),
    pca: int = typer.Option(None, "--pca", help="Fit a PCA with this many components on the table's normal rows."),
    pca_model: Path = typer.Option(None, "--pca-model", help="Reuse a PCA written by --pca-out (e.g. on test rows)."),
    pca_out: Path = typer.Option(None, "--pca-out",
                                 help="Where to save the fitted PCA (default: OUT.pca.safetensors)."),
    columns: str = typer.Option(None, help="Embedding columns, names or patterns, e.g. 'e_*' (default: all numeric)."),
    whiten: bool = typer.Option(False, "--whiten", help="Scale PCA components to unit variance."),
    out: Path = typer.Option(Path("feats.parquet"), "--out", "-o", help="Parquet table to write."),
    split: str = typer.Option("train", help=SPLIT_HELP),
    normal: str = typer.Option(
        None, help="Normal classes for the is_anomaly column (default: those of the checkpoint or table)."),
    label_col: str = typer.Option(None, help=LABEL_HELP + " Default: the one used in training, or 'label'."),
    batch_size: int = typer.Option(1024, help="Rows per inference batch."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Write one row per input: id, label, is_anomaly, z_0..z_{d-1}, recon_error and cos_dissim.

    Example: cance features ../shared/data/mnist --split test --ae ae3.safetensors --out test3.parquet
    PCA path: cance features emb-train.parquet --pca 32 --pca-out pca.safetensors --out train.parquet
    """
    from cance_cli.artifacts import file_sha256, open_table, table_meta
    from cance_cli.data import load_data, parse_normal
    from cance_cli.errors import ConfigError
    from cance_cli.features import write_feature_table
    from cance_cli.training.common import progress_bar

    if batch_size < 1:
        raise ConfigError(f"--batch-size must be positive, got {batch_size}.")
    modes = [m for m in (ae, pca, pca_model) if m is not None]
    if len(modes) != 1:
        raise ConfigError("Give exactly one of --ae (autoencoder), --pca K (fit a PCA) or --pca-model FILE.")
    if ae is not None:
        from cance_cli.training.autoencoder import ConstrainedAutoencoder

        fmap = ConstrainedAutoencoder.load(ae, device=device)
        source_normal, source_label = fmap.meta_.get("normal_classes"), fmap.meta_.get("label_col")
        ds = load_data(data, split, label_col if label_col is not None else source_label)
        provenance = {"checkpoint": str(ae), "checkpoint_sha256": file_sha256(ae), "feature_map": "autoencoder"}
    else:
        from cance_cli.pca import PCAFeatureMap

        schema = open_table(data).schema_arrow
        emb_meta, names = table_meta(schema), schema.names
        label = label_col if label_col is not None else ("label" if "label" in names else None)
        picked = [c.strip() for c in columns.split(",")] if columns else None
        ds = load_data(data, split, label, picked)
        source_normal = emb_meta.get("normal_classes")
        if pca_model is not None:
            fmap = PCAFeatureMap.load(pca_model)
            model_path = pca_model
        else:
            wanted = parse_normal(normal) if normal is not None else source_normal
            rows = ds.normal_mask(wanted) if wanted and ds.y is not None else slice(None)
            fmap = PCAFeatureMap(pca, whiten=whiten).fit(ds.x[rows])
            model_path = pca_out or out.with_suffix(".pca.safetensors")
            fmap.save(model_path, {"table": str(data), "table_sha256": file_sha256(data),
                                   "columns": ds.feature_names, "normal_classes": wanted})
        provenance = {"checkpoint": str(model_path), "checkpoint_sha256": file_sha256(model_path),
                      "feature_map": "pca", "embedding": {k: emb_meta.get(k) for k in ("backbone", "weights")}}
    normal_classes = parse_normal(normal) if normal is not None else source_normal
    if ds.y is None:
        normal_classes = None  # no labels: nothing to mark
    n_batches = -(-len(ds) // batch_size)
    with progress_bar(n_batches, "features", not quiet and n_batches > 4) as advance:
        rows_written = write_feature_table(fmap, ds, out, normal_classes, batch_size,
                                           {**provenance, "data_fingerprint": ds.fingerprint()}, progress=advance)
    doc = {"table": str(out), "rows": rows_written, "latent": fmap.latent, "split": ds.split,
           "normal_classes": normal_classes, "feature_map": provenance["feature_map"]}
    if json_out:
        print_json(doc)
    else:
        stdout_console().print(f"wrote {rows_written} rows x {fmap.latent + 2} features to {out}")
