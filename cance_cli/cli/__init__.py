"""The `cance` command line: a thin Typer layer over the library.

Each subcommand lives in its own module and imports the library (and torch)
only when it runs, so `cance --help` is instant.
"""

from __future__ import annotations

import typer

from cance_cli._version import __version__
from cance_cli.cli.bench import bench
from cance_cli.cli.demo import demo
from cance_cli.cli.embed import embed
from cance_cli.cli.evaluate import evaluate
from cance_cli.cli.features import features
from cance_cli.cli.fit_nce import fit_nce
from cance_cli.cli.score import score
from cance_cli.cli.train_ae import train_ae

app = typer.Typer(
    name="cance",
    help="Unsupervised anomaly detection: constrained-autoencoder composite features + NCE density. "
         "Higher scores mean more anomalous.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cance {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Unsupervised anomaly detection with composite features and NCE."""


app.command("embed")(embed)
app.command("train-ae")(train_ae)
app.command("features")(features)
app.command("fit-nce")(fit_nce)
app.command("score")(score)
app.command("evaluate")(evaluate)
app.command("demo")(demo)
app.command("bench")(bench)


def main() -> None:
    app()
