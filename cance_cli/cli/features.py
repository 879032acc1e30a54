"""`cance features`: composite feature table from a trained autoencoder."""

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
    data: str = typer.Argument(..., help="The same kind of source the autoencoder was trained on."),
    ae: Path = typer.Option(..., "--ae", help="Checkpoint written by `cance train-ae`."),
    out: Path = typer.Option(Path("feats.parquet"), "--out", "-o", help="Parquet table to write."),
    split: str = typer.Option("train", help=SPLIT_HELP),
    normal: str = typer.Option(
        None, help="Normal classes for the is_anomaly column (default: those the autoencoder was trained on)."
    ),
    label_col: str = typer.Option(None, help=LABEL_HELP + " Default: the one used in training."),
    batch_size: int = typer.Option(1024, help="Rows per inference batch."),
    device: str = typer.Option("cpu", help=DEVICE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Write one row per input of DATA: id, label, is_anomaly, z_0..z_{d-1},
    recon_error and cos_dissim.

    Example: cance features ../shared/data/mnist --split test --ae ae3.safetensors --out test3.parquet
    """
    from cance_cli.artifacts import file_sha256
    from cance_cli.data import load_data, parse_normal
    from cance_cli.errors import ConfigError
    from cance_cli.features import write_feature_table
    from cance_cli.training.autoencoder import ConstrainedAutoencoder
    from cance_cli.training.common import progress_bar

    if batch_size < 1:
        raise ConfigError(f"--batch-size must be positive, got {batch_size}.")
    model = ConstrainedAutoencoder.load(ae, device=device)
    meta = model.meta_
    normal_classes = parse_normal(normal) if normal is not None else meta.get("normal_classes")
    ds = load_data(data, split, label_col if label_col is not None else meta.get("label_col"))
    if ds.y is None:
        normal_classes = None  # no labels: nothing to mark
    n_batches = -(-len(ds) // batch_size)
    with progress_bar(n_batches, "features", not quiet and n_batches > 4) as advance:
        rows = write_feature_table(model, ds, out, normal_classes, batch_size, {
            "checkpoint": str(ae), "checkpoint_sha256": file_sha256(ae),
            "data_fingerprint": ds.fingerprint(),
        }, progress=advance)
    doc = {"table": str(out), "rows": rows, "latent": model.latent, "split": ds.split,
           "normal_classes": normal_classes}
    if json_out:
        print_json(doc)
    else:
        stdout_console().print(f"wrote {rows} rows x {model.latent + 2} features to {out}")
