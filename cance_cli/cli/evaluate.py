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
        console = stdout_console()
        console.print(_results_table(results, console.width))
        if plot is not None:
            console.print(f"plot: {plot}")
    if min_auroc is not None and any(r["auroc"] < min_auroc for r in results):
        typer.echo(f"Error: an AUROC is below --min-auroc {min_auroc}.", err=True)
        raise typer.Exit(1)


def _results_table(results: list[dict], width: int):
    """A Rich table of ``results``; when all columns do not fit ``width``, the ones that follow from the others
    (precision, recall, k, counts) are left out so the table and method names stay readable."""
    from rich.table import Table

    rows = [{"table": Path(r["table"]).name, "method": r["method"], "AUROC": f"{r['auroc']:.4f}",
             "AUPRC": f"{r['auprc']:.4f}", "F1": f"{r['f1']:.4f}", "precision": f"{r['precision']:.4f}",
             "recall": f"{r['recall']:.4f}", "k": str(r["flagged"]), "anomalies / n": f"{r['n_anomalies']} / {r['n']}"}
            for r in results]
    columns = list(rows[0])
    # Content plus Rich's padding and borders.
    needed = sum(max(len(c), *(len(r[c]) for r in rows)) + 3 for c in columns) + 1
    caption = None
    if needed > width:
        columns = ["table", "method", "AUROC", "AUPRC", "F1"]
        caption = "precision, recall, k and counts: widen the terminal or use --json"
    best = max(r["auroc"] for r in results)
    for row, r in zip(rows, results, strict=True):
        if len(results) > 1 and r["auroc"] == best:
            row["AUROC"] = f"[bold]{row['AUROC']}[/]"
    table = Table(title="evaluation (anomaly class = is_anomaly 1; F1 at the top-k scores)", caption=caption)
    for col in columns:  # names fold onto a second line; numbers never wrap
        table.add_column(col, **({"overflow": "fold"} if col in ("table", "method") else {"no_wrap": True}))
    for row in rows:
        table.add_row(*(row[c] for c in columns))
    return table
