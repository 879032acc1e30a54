"""`cance train-nae` and `cance train-mpdr`: the energy-based detectors of the talk
"Why autoencoders fail at anomaly detection". One signature, two commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    print_json,
    read_options,
    stdout_console,
)

DOCS = {
    "nae": """Train a Normalized Autoencoder on the normal rows of DATA: negatives from a latent
    Langevin chain on the sphere (replay buffer) and a short input chain; loss
    E(x+) - E(x-) + E(x-)^2 + encoder L2. The checkpoint is an autoencoder checkpoint:
    `cance features` reads it, and its recon_error column is the NAE energy. The short
    (reduced) run is sensitive to torch's thread count: OMP_NUM_THREADS=1 reproduces the
    documented figures; the checkpoint records the count.

    Example: cance train-nae ../shared/data/mnist --normal 0,2,3,4,5,6,7,8,9 --out nae-no1.safetensors
    """,
    "mpdr": """Train MPDR-R on the normal rows of DATA: a frozen projection autoencoder (spherical
    latent), negatives from the recovery likelihood of manifold-perturbed positives, energy
    s^2 x reconstruction error of a second autoencoder. The checkpoint is an autoencoder
    checkpoint: `cance features` reads it, and its recon_error orders rows like the energy.

    Example: cance train-mpdr ../shared/data/mnist --normal 0,1,2,3,4,5,6,7,8 --out mpdr-no9.safetensors
    """,
}
NOTES = {"nae": "recon_error = NAE energy", "mpdr": "recon_error orders rows like the energy"}


def _model(kind: str, **params: Any):
    if kind == "nae":
        from cance_cli.training.nae import NormalizedAutoencoder

        return NormalizedAutoencoder(**params)
    from cance_cli.training.mpdr import MPDR

    return MPDR(**params)


def make_command(kind: str):
    """The Typer command of ``kind`` (``nae`` or ``mpdr``)."""

    @handle_errors
    def command(
        data: str = typer.Argument(..., help="Images (idx/CIFAR/image folder/npz) or a table."),
        out: Path = typer.Option(Path(f"{kind}.safetensors"), "--out", "-o",
                                 help=f"Checkpoint to write (stage {kind})."),
        ae: Path = typer.Option(None, "--ae", help="Start from this autoencoder (trained with --arch reference) "
                                                   "instead of pre-training one (MPDR: the frozen projection)."),
        schedule: str = typer.Option("reduced", help="reduced (sized for 2 CPU cores: channel unit 4, 2 "
                                                     "pre-training epochs, 150 steps) or reference (the "
                                                     "references' GPU-sized schedule)."),
        steps: int = typer.Option(None, help="Training steps (default: the schedule's)."),
        latent: int = typer.Option(32, help="Latent dimension (on the unit sphere)."),
        batch_size: int = typer.Option(128, help="Positive rows per step, and negative chains."),
        lr: float = typer.Option(None, help="Adam learning rate (default: the schedule's)."),
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
        model = _model(kind, schedule=schedule, latent=latent, steps=steps, lr=lr, batch_size=batch_size,
                       seed=seed, device=device, verbose=not quiet)
        read = read_options(split, test_fraction, split_seed, label_col, no_label)
        summary = train_energy_model(model, data, out, ae, normal, read, seed)
        if summary.pop("rank") != 0:  # under torchrun only rank 0 prints
            return
        if json_out:
            print_json(summary)
            return
        stdout_console().print(
            f"train-{kind} -> {out}: {summary['steps']} steps, energy of data {summary['positive_energy']:.4g}, "
            f"of negatives {summary['negative_energy']:.4g}; {summary['fit_seconds']:.1f} s\n"
            f"next: cance features DATA --ae {out} --out feats.parquet ({NOTES[kind]})")

    command.__doc__ = DOCS[kind]
    command.__name__ = f"train_{kind}"
    return command


def train_energy_model(model, data: str, out: Path, ae: Path | None, normal: str | None, read: dict[str, Any],
                       seed: int) -> dict[str, Any]:
    """Fit ``model`` on the normal rows of ``data`` (from the autoencoder ``ae`` if given),
    write the checkpoint ``out``; return the summary."""
    import torch

    from cance_cli.data import load_data, parse_normal
    from cance_cli.errors import ConfigError
    from cance_cli.io.paths import check_output
    from cance_cli.runtime import distributed
    from cance_cli.training.autoencoder import ConstrainedAutoencoder

    model.check_params()
    check_output(out, inputs=[data, ae], writes="safetensors")
    start = ConstrainedAutoencoder.load(ae, device=model.device) if ae is not None else None
    normal_classes = parse_normal(normal)
    read = {k: v for k, v in read.items() if v is not None}
    label_col = read.pop("label_col", None)
    ds = load_data(data, read.pop("split", None), label_col, read.pop("columns", None), **read)
    train = ds.subset(ds.normal_mask(normal_classes))
    with distributed.launched_group(model.device) as group:  # torchrun: data-parallel (train-nae)
        if group.active and not model.SUPPORTS_DATA_PARALLEL:
            raise ConfigError(f"train-{model.STAGE} runs as one process; start it without torchrun.")
        model.verbose = model.verbose and group.is_main
        model.fit(train, autoencoder=start)
    h = model.history_
    summary = {"checkpoint": str(out), "steps": h["step"][-1] if h["step"] else 0,
               "positive_energy": h["positive"][-1] if h["positive"] else None,
               "negative_energy": h["negative"][-1] if h["negative"] else None,
               "settings": model.settings_, "fit_seconds": model.fit_seconds_, "world_size": group.world_size,
               "rank": group.rank}
    if not group.is_main:  # only rank 0 writes
        return summary
    model.save(out, {
        "source": ds.source, "split": ds.split, "normal_classes": normal_classes,
        "label_col": (label_col or "label") if ds.kind == "table" and ds.y is not None else None,
        **(ds.split_info or {}), "data_fingerprint": train.fingerprint(), "seed": seed,
        "device": str(model.autoencoder_.device_), "initial_autoencoder": str(ae) if ae else None,
        # The reduced NAE's result moves with the float summation order: 0.343 on 2 threads and 0.552 on 1 for
        # the same seed (docs/benchmarks.md, NAE diagnosis); the count is part of what reproduces a run.
        "torch_threads": torch.get_num_threads(),
    })
    return summary
