"""`cance features`: composite feature table from an autoencoder or a PCA of embeddings."""

from __future__ import annotations

from pathlib import Path

import typer

from cance_cli.cli._common import (
    DEVICE_HELP,
    JSON_HELP,
    LABEL_HELP,
    NO_LABEL_OPTION,
    SPLIT_HELP,
    SPLIT_SEED_HELP,
    TEST_FRACTION_HELP,
    handle_errors,
    print_json,
    read_options,
    stdout_console,
)


@handle_errors
def features(
    data: str = typer.Argument(..., help="Source the autoencoder was trained on, or an embedding table for --pca."),
    ae: Path = typer.Option(None, "--ae", help="Checkpoint written by `cance train-ae`."),
    pca: int = typer.Option(None, "--pca", help="Fit a PCA with this many components on the table's normal rows."),
    pca_model: Path = typer.Option(None, "--pca-model", help="Reuse a PCA written by --pca-out (e.g. on test rows)."),
    pca_out: Path = typer.Option(None, "--pca-out",
                                 help="Where to save the fitted PCA (default: OUT.pca.safetensors); written only "
                                      "once the feature table is."),
    columns: str = typer.Option(None, help="Embedding columns, names or patterns, e.g. 'e_*' (default: all numeric)."),
    whiten: bool = typer.Option(False, "--whiten", help="Scale PCA components to unit variance."),
    out: Path = typer.Option(Path("feats.parquet"), "--out", "-o", help="Parquet table to write."),
    split: str = typer.Option(None, help=SPLIT_HELP),
    test_fraction: float = typer.Option(None, help=TEST_FRACTION_HELP + " Default: the checkpoint's."),
    split_seed: int = typer.Option(None, help=SPLIT_SEED_HELP + " Default: the checkpoint's, else 0."),
    normal: str = typer.Option(
        None, help="Normal classes for the is_anomaly column (default: those of the checkpoint or table)."),
    label_col: str = typer.Option(None, help=LABEL_HELP + " Default: the one used in training, or 'label'."),
    no_label: bool = NO_LABEL_OPTION,
    batch_size: int = typer.Option(1024, help="Rows per inference batch."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    engine: str = typer.Option("local", help="local (this process) or ray (with --ae on a Parquet file, folder or "
                                             "glob: Ray Data, --out is then a folder; needs the ray extra)."),
    workers: int = typer.Option(None, help="--engine ray: actors (default: half the CPUs here)."),
    by_position: bool = typer.Option(False, "--by-position", help="Match a table's columns to a model that "
                                     "records no column names by their order (refused otherwise)."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Write one row per input: id, label, is_anomaly, z_0..z_{d-1}, recon_error and cos_dissim.

    Example: cance features ../shared/data/mnist --split test --ae ae3.safetensors --out test3.parquet
    PCA path: cance features emb-train.parquet --pca 32 --pca-out pca.safetensors --out train.parquet
    Table columns are matched by name against the checkpoint's recorded input schema; unlabelled data
    (no label column) gets features without is_anomaly, ready for `cance score`.
    """
    from cance_cli import validate
    from cance_cli.errors import ConfigError
    from cance_cli.features import compute_features

    validate.at_least("--batch-size", batch_size, 1)
    modes = [m for m in (ae, pca, pca_model) if m is not None]
    if len(modes) != 1:
        raise ConfigError("Give exactly one of --ae (autoencoder), --pca K (fit a PCA) or --pca-model FILE.")
    if pca is not None:
        validate.at_least("--pca", pca, 1)
        pca_out = pca_out or out.with_suffix(".pca.safetensors")
    elif pca_out is not None:
        raise ConfigError("--pca-out saves a PCA fitted with --pca K; drop it or give --pca.")
    if engine not in ("local", "ray"):
        raise ConfigError(f"--engine must be local or ray, got {engine!r}.")
    if engine == "ray":
        from cance_cli.data import parse_normal
        from cance_cli.features import features_with_ray

        if ae is None:
            raise ConfigError("--engine ray computes features with --ae; fit a PCA locally.")
        if workers is not None:
            validate.at_least("--workers", workers, 1)
        doc = features_with_ray(data, ae, out, normal=parse_normal(normal), label_col=None if no_label else
                                (label_col or "label"), device=device, workers=workers, verbose=not quiet)
        if json_out:
            print_json(doc)
        else:
            stdout_console().print(f"wrote {doc['rows']} rows x {doc['latent'] + 2} features from {doc['files']} "
                                   f"file(s) to {out}/ (Ray)")
        return
    from cance_cli.runtime.progress import progress_bar

    read = read_options(split, test_fraction, split_seed, label_col, no_label, columns)
    def bar(n_batches: int):
        return progress_bar(n_batches, "features", not quiet and n_batches > 4)

    doc = compute_features(data, out, ae=ae, pca=pca, pca_model=pca_model, pca_out=pca_out, whiten=whiten,
                           normal=normal, read=read, batch_size=batch_size, device=device, progress=bar,
                           by_position=by_position)
    if json_out:
        print_json(doc)
    else:
        stdout_console().print(f"wrote {doc['rows']} rows x {doc['latent'] + 2} features to {out}"
                               + (f"; PCA saved to {doc['pca_out']}" if doc.get("pca_out") else ""))
