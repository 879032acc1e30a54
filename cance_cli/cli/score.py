"""`cance score`: anomaly scores for every row of a feature table."""

from __future__ import annotations

from pathlib import Path

import typer

from cance_cli.cli._common import DEVICE_HELP, JSON_HELP, handle_errors, print_json, stdout_console


@handle_errors
def score(
    table: Path = typer.Argument(..., help="Feature table from `cance features`."),
    nce: Path = typer.Option(None, "--nce", help="Checkpoint from `cance fit-nce` (not needed for --method error)."),
    out: Path = typer.Option(Path("scores.parquet"), "--out", "-o", help="Score table to write."),
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
    from cance_cli.artifacts import open_table
    from cance_cli.pipeline import score_table
    from cance_cli.training.common import progress_bar

    validate.at_least("--batch-size", batch_size, 1)
    n_batches = -(-open_table(table).metadata.num_rows // max(batch_size, 1))
    with progress_bar(n_batches, "score", not quiet and n_batches > 4) as advance:
        doc = score_table(table, out, nce, method, batch_size, device=device, floor=floor, progress=advance,
                          force=force)
    if json_out:
        print_json(doc)
    else:
        stdout_console().print(f"wrote {doc['rows']} {doc['method']} scores to {out}")
