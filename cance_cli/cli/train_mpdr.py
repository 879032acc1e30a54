"""`cance train-mpdr`: MPDR-R (manifold projection-diffusion recovery, reconstruction energy)."""

from __future__ import annotations

from pathlib import Path

import typer

from cance_cli.cli._common import (
    DEVICE_HELP,
    JSON_HELP,
    LABEL_OPTION,
    NO_LABEL_OPTION,
    NORMAL_HELP,
    SEED_HELP,
    SPLIT_OPTION,
    SPLIT_SEED_OPTION,
    TEST_FRACTION_OPTION,
    handle_errors,
)


@handle_errors
def train_mpdr(
    data: str = typer.Argument(..., help="Images (idx/CIFAR/image folder/npz) or a table."),
    out: Path = typer.Option(Path("mpdr.safetensors"), "--out", "-o", help="Checkpoint to write (stage mpdr)."),
    ae: Path = typer.Option(None, "--ae", help="Projection autoencoder (trained with --arch reference) instead of "
                                               "pre-training one; it stays frozen."),
    schedule: str = typer.Option("reduced", help="reduced (2-core CPU: nh 4, 2 pre-training epochs, 150 steps) "
                                                 "or reference (30 epochs, 21,000 steps: GPU territory)."),
    steps: int = typer.Option(None, help="MPDR steps (default: the schedule's)."),
    latent: int = typer.Option(32, help="Latent dimension (on the unit sphere)."),
    batch_size: int = typer.Option(128, help="Positive rows per step, and negative chains."),
    lr: float = typer.Option(None, help="Adam learning rate of the MPDR phase (default: the schedule's)."),
    normal: str = typer.Option(None, help=NORMAL_HELP),
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
    """Train MPDR-R on the normal rows of DATA: a frozen projection autoencoder (spherical
    latent), negatives from the recovery likelihood of manifold-perturbed positives, energy
    s^2 x reconstruction error of a second autoencoder. The checkpoint is an autoencoder
    checkpoint: `cance features` reads it, and its recon_error orders rows like the energy.

    Example: cance train-mpdr ../shared/data/mnist --normal 0,1,2,3,4,5,6,7,8 --out mpdr-no9.safetensors
    """
    from cance_cli.cli._energy import train_energy_model
    from cance_cli.training.mpdr import MPDR

    model = MPDR(schedule=schedule, latent=latent, steps=steps, lr=lr, batch_size=batch_size, seed=seed,
                  device=device, verbose=not quiet)
    read = {"split": split, "test_fraction": test_fraction, "split_seed": split_seed, "label_col": label_col,
            "no_label": no_label}
    train_energy_model("train-mpdr", model, data, out, ae, normal, read, seed, device, json_out,
                       "recon_error orders rows like the energy")
