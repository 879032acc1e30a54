"""The `cance` command line: a thin Typer layer over the library.

Each subcommand lives in its own module and imports the library (and torch)
only when it runs, so `cance --help` is instant.
"""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

from cance_cli._version import __version__
from cance_cli.cli._common import CONFIG_FILE, INVOCATION
from cance_cli.cli.bench import bench
from cance_cli.cli.config import apply_config
from cance_cli.cli.demo import demo
from cance_cli.cli.embed import embed
from cance_cli.cli.evaluate import evaluate
from cance_cli.cli.explain import explain
from cance_cli.cli.features import features
from cance_cli.cli.fit import fit
from cance_cli.cli.fit_nce import fit_nce
from cance_cli.cli.fuse import fuse
from cance_cli.cli.join import join
from cance_cli.cli.predict import predict
from cance_cli.cli.score import score
from cance_cli.cli.train_ae import train_ae
from cance_cli.cli.train_energy import make_command as make_energy_command
from cance_cli.errors import CanceError

try:  # typer >= 0.2x ships its own copy of click
    from typer import _click as click
except ImportError:  # pragma: no cover - older typer depends on click
    import click


class OneLineErrors(TyperGroup):
    """Report usage errors (unknown option, bad number, missing argument) as
    one "Error: ..." line with exit code 2, like every other input error."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        _plain_switches(self)
        args = list(sys.argv[1:] if args is None else args)
        INVOCATION[:] = args
        CONFIG_FILE.clear()
        try:
            args, defaults, path = apply_config(self, args)
        except CanceError as exc:
            typer.echo(f"Error: {exc}", err=True)
            sys.exit(2)
        if defaults:
            extra["default_map"] = defaults
            CONFIG_FILE.append(path)
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.ClickException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `cance` alone: the help is the answer
                if exc.format_message():
                    typer.echo(exc.format_message(), err=True)
                sys.exit(exc.exit_code)
            command = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else "cance"
            message = " ".join(exc.format_message().split())
            typer.echo(f"Error: {message.rstrip('.')}; see `{command} --help`.", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("Interrupted; no output was written (older outputs are unchanged).", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


def _plain_switches(group) -> None:
    """Show an on/off switch as ``--json``, not ``--json <bool>`` (Typer's rich help gives flags a metavar)."""
    def plain_help(get_help_option):
        def wrapped(ctx):
            option = get_help_option(ctx)
            if option is not None and option.metavar is None:
                option.metavar = ""
            return option
        return wrapped

    for command in [group, *group.commands.values()]:
        for param in command.params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        command.get_help_option = plain_help(command.get_help_option)


app = typer.Typer(
    cls=OneLineErrors,
    name="cance",
    help="Unsupervised anomaly detection: constrained-autoencoder composite features + NCE density. "
         "Higher scores mean more anomalous.",
    no_args_is_help=True,
    add_completion=True,
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


app.command("fit")(fit)
app.command("predict")(predict)
app.command("explain")(explain)
app.command("embed")(embed)
app.command("train-ae")(train_ae)
app.command("train-nae")(make_energy_command("nae"))
app.command("train-mpdr")(make_energy_command("mpdr"))
app.command("features")(features)
app.command("join")(join)
app.command("fit-nce")(fit_nce)
app.command("score")(score)
app.command("fuse")(fuse)
app.command("evaluate")(evaluate)
app.command("demo")(demo)
app.command("bench")(bench)


def main() -> None:
    app()
