"""Pieces every subcommand shares: error mapping, output helpers, option types."""

from __future__ import annotations

import functools
import json
import sys
from typing import Any

import typer

from cance_cli.errors import CanceError

SEED_HELP = "Random seed; the same seed gives the same result on the same device."
DEVICE_HELP = "auto (CUDA when present), cpu or cuda."
JSON_HELP = "Print machine-readable JSON on stdout instead of a table."
NORMAL_HELP = "Classes treated as normal, e.g. 3 or 0,1 (training keeps only those)."
SPLIT_HELP = "Split to read where the source has one: train, test or all."
LABEL_HELP = "Label column of a Parquet/CSV table."


def handle_errors(func):
    """Turn a CanceError into one sentence on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except CanceError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted; no output was written.", err=True)
            raise typer.Exit(130) from None

    return wrapper


def print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=float) + "\n")


def stdout_console():
    from rich.console import Console

    return Console()


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
