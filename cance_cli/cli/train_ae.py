"""`cance train-ae`: fit the constrained autoencoder on normal rows."""

from __future__ import annotations

from pathlib import Path

import typer

from cance_cli.cli._common import (
    DEVICE_HELP,
    EPOCH_NOTE,
    JSON_HELP,
    LABEL_OPTION,
    NO_LABEL_OPTION,
    NORMAL_HELP,
    SEED_HELP,
    SPLIT_OPTION,
    SPLIT_SEED_OPTION,
    TEST_FRACTION_OPTION,
    fmt,
    handle_errors,
    parse_widths,
    print_json,
    stdout_console,
)


@handle_errors
def train_ae(
    data: str = typer.Argument(..., help="idx/CIFAR/image folder, .npz, .mat, .parquet/.csv, or builtin:digits."),
    out: Path = typer.Option(Path("ae.safetensors"), "--out", "-o", help="Checkpoint to write."),
    latent: int = typer.Option(32, help="Latent dimension d."),
    lam: float = typer.Option(0.01, help="Covariance-penalty weight (0 = batch-norm latent alone)."),
    epochs: int = typer.Option(30, help="Stage-1 epochs (encoder + decoder). " + EPOCH_NOTE),
    decoder_epochs: int = typer.Option(10, help="Stage-2 epochs (decoder only, encoder frozen)."),
    batch_size: int = typer.Option(128, help="Mini-batch size."),
    lr: float = typer.Option(1e-3, help="Adam learning rate."),
    hidden: str = typer.Option(None, help="Conv channels or MLP widths, e.g. 32,64 (--arch reference on 28x28: "
                                          "the channel unit nh, default 8)."),
    arch: str = typer.Option("constrained", help="constrained (the paper's: batch-norm latent) or reference (the "
                                                 "NAE/MPDR references': spherical latent; use --lam 0)."),
    normal: str = typer.Option(None, help=NORMAL_HELP),
    val_fraction: float = typer.Option(0.1, help="Share of normal training rows held out for model selection."),
    split: str = SPLIT_OPTION,
    test_fraction: float = TEST_FRACTION_OPTION,
    split_seed: int = SPLIT_SEED_OPTION,
    label_col: str = LABEL_OPTION,
    no_label: bool = NO_LABEL_OPTION,
    seed: int = typer.Option(0, help=SEED_HELP),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train the constrained autoencoder (batch-norm latent, covariance penalty,
    two decoupled stages) on the normal training rows of DATA.

    Example: cance train-ae ../shared/data/mnist --normal 3 --latent 32 --out ae3.safetensors
    """
    from cance_cli import validate
    from cance_cli.data import load_data, parse_normal
    from cance_cli.io.paths import check_output
    from cance_cli.runtime import distributed
    from cance_cli.training.autoencoder import ConstrainedAutoencoder

    ae = ConstrainedAutoencoder(latent=latent, lam=lam, epochs=epochs, decoder_epochs=decoder_epochs,
                                batch_size=batch_size, lr=lr, val_fraction=val_fraction,
                                hidden=parse_widths("--hidden", hidden), arch=arch, seed=seed, device=device,
                                verbose=not quiet)
    ae.check_params(validate.option_names(["latent", "lam", "epochs", "decoder_epochs", "batch_size", "lr",
                                           "val_fraction", "hidden", "arch", "seed"]))
    check_output(out, inputs=[data], writes="safetensors")
    normal_classes = parse_normal(normal)
    ds = load_data(data, split, label_col, no_label=no_label, test_fraction=test_fraction, split_seed=split_seed)
    train = ds.subset(ds.normal_mask(normal_classes))
    with distributed.launched_group(device) as group:  # torchrun: data-parallel; only rank 0 writes and prints
        ae.verbose = ae.verbose and group.is_main
        ae.fit(train)
    if not group.is_main:
        return
    ae.save(out, {
        "source": ds.source, "split": ds.split, "normal_classes": normal_classes,
        "label_col": (label_col or "label") if ds.kind == "table" and ds.y is not None else None,
        **(ds.split_info or {}),
        "data_fingerprint": train.fingerprint(), "seed": seed, "device": str(ae.device_),
        "world_size": group.world_size,
    })
    summary = {"checkpoint": str(out), **ae.summary()}
    if json_out:
        print_json(summary)
        return
    from rich.table import Table

    table = Table(title=f"train-ae -> {out}")
    for col in ("stage", "epochs", "best epoch", "train loss", "val loss"):
        table.add_column(col)
    for stage in ("stage1", "stage2"):
        s = summary[stage]
        table.add_row(stage, str(s["epochs"]), str(s["best_epoch"]), fmt(s["train_loss"]), fmt(s["val_loss"]))
    console = stdout_console()
    console.print(table)
    console.print(
        f"latent covariance: condition number {summary['latent_condition_number']:.1f}, "
        f"max |corr| {summary['latent_max_abs_corr']:.3f}; {summary['n_train']} train / "
        f"{summary['n_val']} val rows; {summary['fit_seconds']:.1f} s"
    )
