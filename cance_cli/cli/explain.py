"""`cance explain`: an HTML report of the highest-scoring rows and the columns behind each score."""

from __future__ import annotations

from pathlib import Path

import typer

from cance_cli.cli._common import (
    DEVICE_HELP,
    JSON_HELP,
    LABEL_HELP,
    NO_LABEL_OPTION,
    SPLIT_OPTION,
    handle_errors,
    print_json,
    read_options,
    stdout_console,
)


@handle_errors
def explain(
    data: str = typer.Argument(..., help="Rows to score and explain: the same kind of table the model was fitted "
                                         "on."),
    model: Path = typer.Option(..., "--model", "-m", help="Model folder written by `cance fit`."),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="HTML report to write."),
    top: int = typer.Option(20, "--top", help="Explain this many of the highest-scoring rows."),
    split: str = SPLIT_OPTION,
    label_col: str = typer.Option(None, help=LABEL_HELP + " Default: the one used in training."),
    no_label: bool = NO_LABEL_OPTION,
    device: str = typer.Option("auto", help=DEVICE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Write a report of the N highest-scoring rows: per row a bar chart of each column's share of the score,
    the row's value beside the typical value and the training range (one HTML file, images embedded).

    Example: cance explain new.csv --model model/ --top 20 --out report.html
    Per row in the score table instead: cance predict new.csv --model model/ --explain 3
    """
    from cance_cli.explain_report import write_report
    from cance_cli.runtime.progress import progress_bar

    def bar(n_steps: int):
        return progress_bar(n_steps, "explain", not quiet and n_steps > 1)

    read = read_options(split, None, None, label_col, no_label)
    doc = write_report(data, model, out, top=top, read=read, device=device, progress=bar)
    if json_out:
        print_json(doc)
    else:
        stdout_console().print(f"wrote {out}: the {doc['explained']} highest-scoring of {doc['rows']} rows, "
                               f"{doc['flagged']} flagged (score > {doc['threshold']:.4g})")
