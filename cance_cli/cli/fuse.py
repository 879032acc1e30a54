"""`cance fuse`: several densities' scores of the same rows, calibrated and averaged."""

from __future__ import annotations

from pathlib import Path

import typer

from cance_cli.cli._common import JSON_HELP, handle_errors, print_json, stdout_console


@handle_errors
def fuse(
    scores: list[Path] = typer.Argument(..., help="Score tables from `cance score` of the same rows, one per "
                                                  "density (e.g. one per feature map)."),
    reference: list[Path] = typer.Option(..., "--reference", "-r",
                                         help="Per score table, in the same order: the same density's scores of "
                                              "its training table (its normal rows calibrate the view)."),
    out: Path = typer.Option(Path("fused.parquet"), "--out", "-o", help="Score table to write."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Write id, label, is_anomaly, score (the mean of the views' standardised scores; higher = more anomalous)
    and score_1 ... score_n (each view standardised by its reference's median and IQR).

    Example: cance fuse pix-test-s.parquet emb-test-s.parquet -r pix-train-s.parquet -r emb-train-s.parquet
    --out fused.parquet, then cance evaluate fused.parquet --auroc.
    """
    from cance_cli.score_fusion import fuse_score_tables

    doc = fuse_score_tables(scores, reference, out)
    if json_out:
        print_json(doc)
    else:
        stdout_console().print(f"wrote {doc['rows']} fused scores of {len(doc['views'])} views to {out}")
