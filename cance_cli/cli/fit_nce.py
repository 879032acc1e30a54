"""`cance fit-nce`: noise-contrastive density on a composite feature table."""

from __future__ import annotations

from pathlib import Path

import typer

from cance_cli.cli._common import (
    DEVICE_HELP,
    EPOCH_NOTE,
    JSON_HELP,
    SEED_HELP,
    fmt,
    handle_errors,
    print_json,
    stdout_console,
)


@handle_errors
def fit_nce(
    table: Path = typer.Argument(..., help="Feature table from `cance features` (normal rows: is_anomaly == 0)."),
    out: Path = typer.Option(Path("nce.safetensors"), "--out", "-o", help="Checkpoint to write."),
    ratio: float = typer.Option(10.0, help="Noise-to-data ratio nu."),
    features: str = typer.Option("composite", help="composite (\\[z, recon_error, cos_dissim]) or latent (z only)."),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Augment reconstruction features."),
    fixed_noise: bool = typer.Option(False, "--fixed-noise", help="Keep the noise at the fitted Gaussian."),
    epochs: int = typer.Option(None, help="Training epochs; the best-validation epoch is kept (default: about "
                                          "2,400 optimizer steps, clip(2400 / batches per epoch, 10, 100): 100 "
                                          "up to 6,144 rows, 11 on 54,000). " + EPOCH_NOTE),
    batch_size: int = typer.Option(256, help="Data rows per batch (plus ratio x as many noise samples)."),
    lr: float = typer.Option(1e-3, help="AdamW learning rate (network and noise scale)."),
    hidden: int = typer.Option(128, help="Hidden width of the density network."),
    val_fraction: float = typer.Option(0.1, help="Share of normal rows held out for model selection."),
    knn: int = typer.Option(0, help="Add a neighbour view: the distance to the K-th nearest normal row in the "
                                     "standardised columns, combined with the density's score by `cance score` "
                                     "(0: the density alone, the paper's method)."),
    max_rows: int = typer.Option(2_000_000, help="Train on a seeded sample of at most this many normal rows "
                                                 "(noise statistics always use all)."),
    seed: int = typer.Option(0, help=SEED_HELP),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Fit the NCE density (learned noise scale, augmented reconstruction features) on normal rows.

    Example: cance fit-nce train3.parquet --ratio 10 --out nce3.safetensors
    Ablations: --features latent (LatNCE), --no-augment (CNCE), --fixed-noise. Beyond the paper:
    --knn 5 adds a neighbour view (docs/benchmarks.md: +0.002 AUROC on joined Fashion-MNIST features).
    """
    from cance_cli.pipeline import fit_nce_table
    from cance_cli.runtime import distributed

    with distributed.launched_group(device) as group:  # torchrun: data-parallel; only rank 0 writes and prints
        model = fit_nce_table(table, out, features=features, max_rows=max_rows, ratio=ratio, hidden=hidden,
                              epochs=epochs, batch_size=batch_size, lr=lr, augment=augment,
                              learn_noise=not fixed_noise, val_fraction=val_fraction, seed=seed, device=device, knn=knn,
                              verbose=not quiet and group.is_main, provenance={"world_size": group.world_size})
    if not group.is_main:
        return
    summary = {"checkpoint": str(out), "method": model.meta_["method"], "columns": len(model.columns_),
               **model.summary(), "neighbours": model.meta_.get("neighbours")}
    if json_out:
        print_json(summary)
        return
    console = stdout_console()
    console.print(f"{summary['method']} on {len(model.columns_)} columns -> {out}: best epoch "
                  f"{summary['best_epoch']}/{summary['epochs']}, train loss {fmt(summary['train_loss'])}, "
                  f"val loss {fmt(summary['val_loss'])}, {summary['fit_seconds']:.1f} s")
    a = model.noise_scale_
    console.print(f"learned noise scale a: min {a.min():.3f}, max {a.max():.3f}")
    if summary["neighbours"]:
        console.print(f"neighbour view: k = {knn} over {len(model.neighbours_.knn_.rows_)} training rows, "
                      "combined with the density by `cance score`")
    for row in summary["augmentation"]:
        console.print(
            f"augmentation {row['column']}: mode m = {row['mode']:.4g} (mean {row['mean']:.4g}); noise mass on "
            f"[0, m] = {row['noise_mass_0_m']:.3f}, so the augmented marginal is >= "
            f"{row['min_density_ratio']:.2f} x the noise marginal there")
