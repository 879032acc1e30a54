"""`cance join`: several feature maps' composite features side by side in one table."""

from __future__ import annotations

from pathlib import Path

import typer

from cance_cli.cli._common import JSON_HELP, handle_errors, print_json, stdout_console


@handle_errors
def join(
    tables: list[Path] = typer.Argument(..., help="Feature tables from `cance features` of the same rows "
                                                  "(e.g. one from --ae, one from --pca)."),
    names: str = typer.Option(None, help="Comma list, one prefix per table (default: ae / pca from each feature "
                                         "map, else v1, v2, ...)."),
    out: Path = typer.Option(Path("joined.parquet"), "--out", "-o", help="Feature table to write."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Write id, label, is_anomaly and every table's z_*, recon_error and cos_dissim, prefixed by its name.

    Example: cance join ae-train.parquet pca-train.parquet --out both-train.parquet, then
    cance fit-nce both-train.parquet: one density over both feature maps (score a test table joined the same way).
    """
    from cance_cli.feature_join import join_feature_tables

    doc = join_feature_tables(tables, out, names.split(",") if names else None)
    if json_out:
        print_json(doc)
    else:
        parts = ", ".join(f"{p['name']} ({p['latent']} latents)" for p in doc["parts"])
        stdout_console().print(f"wrote {doc['rows']} rows x {doc['columns']} features ({parts}) to {out}")
