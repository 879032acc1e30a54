"""`cance evaluate`: AUROC, AUPRC and F1 of one or more score tables."""

from __future__ import annotations

from pathlib import Path

import typer

from cance_cli.cli._common import JSON_HELP, handle_errors, print_json, stdout_console


@handle_errors
def evaluate(
    tables: list[Path] = typer.Argument(..., help="Score tables from `cance score` (several give a comparison)."),
    auroc: bool = typer.Option(False, "--auroc", help="Print only the AUROC, one per line (for shell pipelines)."),
    contamination: float = typer.Option(None, help="Flag this fraction of rows for F1 (default: the true count)."),
    top_k: int = typer.Option(None, help="Flag the k highest scores for F1."),
    plot: Path = typer.Option(None, help="Write ROC curves and score histograms to this PNG."),
    min_auroc: float = typer.Option(None, help="Exit with code 1 if any AUROC is below this (CI gates)."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Compare score tables against their is_anomaly column.

    Example: cance evaluate scores3.parquet error3.parquet --plot roc.png
    """
    from cance_cli import validate
    from cance_cli.pipeline import evaluate_tables

    if min_auroc is not None:
        validate.fraction("--min-auroc", min_auroc)
    results = evaluate_tables(tables, contamination, top_k, plot)
    if json_out:
        print_json(results)  # always a list, one object per table
    elif auroc:
        for r in results:
            typer.echo(f"{r['auroc']:.6f}")
    else:
        from rich.table import Table

        table = Table(title="evaluation (anomaly class = is_anomaly 1; F1 at the top-k scores)")
        for col in ("table", "method", "AUROC", "AUPRC", "F1", "precision", "recall", "k", "anomalies / n"):
            table.add_column(col)
        best = max(r["auroc"] for r in results)
        for r in results:
            mark = "bold" if len(results) > 1 and r["auroc"] == best else ""
            table.add_row(Path(r["table"]).name, r["method"], f"[{mark}]{r['auroc']:.4f}[/]" if mark
                          else f"{r['auroc']:.4f}", f"{r['auprc']:.4f}", f"{r['f1']:.4f}", f"{r['precision']:.4f}",
                          f"{r['recall']:.4f}", str(r["flagged"]), f"{r['n_anomalies']} / {r['n']}")
        stdout_console().print(table)
        if plot is not None:
            stdout_console().print(f"plot: {plot}")
    if min_auroc is not None and any(r["auroc"] < min_auroc for r in results):
        typer.echo(f"Error: an AUROC is below --min-auroc {min_auroc}.", err=True)
        raise typer.Exit(1)
