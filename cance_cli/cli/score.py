"""`cance score`: anomaly scores for every row of a feature table."""

from __future__ import annotations

from pathlib import Path

import typer

from cance_cli.cli._common import DEVICE_HELP, JSON_HELP, handle_errors, print_json, stdout_console


@handle_errors
def score(
    table: Path = typer.Argument(..., help="Feature table from `cance features` (with --engine ray also a folder "
                                           "of them or a glob)."),
    nce: Path = typer.Option(None, "--nce", help="Checkpoint from `cance fit-nce` (not needed for --method error)."),
    out: Path = typer.Option(Path("scores.parquet"), "--out", "-o", help="Score table to write (--engine ray: a "
                                                                         "folder of Parquet files)."),
    engine: str = typer.Option("local", help="local (this process, streaming) or ray (Ray Data: the cluster at "
                                             "RAY_ADDRESS, else a local Ray instance; needs the ray extra)."),
    workers: int = typer.Option(None, help="--engine ray: scoring actors (default: half the CPUs here)."),
    method: str = typer.Option("nce", help="nce (the density), gauss (its fitted Gaussian) or error (recon_error)."),
    batch_size: int = typer.Option(16384, help="Rows per record batch; memory stays flat as the table grows."),
    floor: bool = typer.Option(None, "--floor/--no-floor",
                               help="Score recon_error/cos_dissim below their mode as at the mode "
                                    "(default: on for densities fitted with augmentation)."),
    force: bool = typer.Option(False, "--force", help="Score even if the table's feature map is not the one the "
                                                      "density was fitted on."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Write id, label, is_anomaly and score (estimated negative log-likelihood; higher = more anomalous).

    Example: cance score test3.parquet --nce nce3.safetensors --out scores3.parquet
    """
    from cance_cli import validate
    from cance_cli.errors import ConfigError
    from cance_cli.io.tables import open_table
    from cance_cli.pipeline import score_table
    from cance_cli.runtime.progress import progress_bar

    validate.at_least("--batch-size", batch_size, 1)
    if engine not in ("local", "ray"):
        raise ConfigError(f"--engine must be local or ray, got {engine!r}.")
    if engine == "ray":
        from cance_cli.pipeline import score_with_ray

        if workers is not None:
            validate.at_least("--workers", workers, 1)
        doc = score_with_ray(table, out, nce, method, batch_size, device=device, floor=floor, force=force,
                             workers=workers, verbose=not quiet)
        if json_out:
            print_json(doc)
        else:
            stdout_console().print(f"wrote {doc['rows']} {doc['method']} scores from {doc['files']} file(s) to "
                                   f"{out}/ (Ray)")
        return
    if Path(table).is_dir():
        raise ConfigError(f"{table} is a folder; score its tables with --engine ray, or pass one table.")
    n_batches = -(-open_table(table).metadata.num_rows // max(batch_size, 1))
    with progress_bar(n_batches, "score", not quiet and n_batches > 4) as advance:
        doc = score_table(table, out, nce, method, batch_size, device=device, floor=floor, progress=advance,
                          force=force)
    if json_out:
        print_json(doc)
    else:
        stdout_console().print(f"wrote {doc['rows']} {doc['method']} scores to {out}")
