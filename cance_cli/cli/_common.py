"""Pieces every subcommand shares: error mapping, output helpers, option types."""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
from typing import Any

import typer

from cance_cli.defaults import EPOCH_MAX_ROWS
from cance_cli.errors import CanceError

# Said in every --epochs help: an epoch of a large table is a draw, not every row (docs/defaults.md).
EPOCH_NOTE = f"An epoch visits at most {EPOCH_MAX_ROWS:,} rows (a fresh draw each epoch)."

SEED_HELP = "Random seed; the same seed gives the same result on the same device."
DEVICE_HELP = "auto (CUDA when present), cpu or cuda."
JSON_HELP = "Print machine-readable JSON on stdout instead of a table."
NORMAL_HELP = "Classes treated as normal, e.g. 3 or 0,1 (training keeps only those)."
SPLIT_HELP = ("train, test or all where the source has splits (default train); on a single table or file, "
              "train/test need --test-fraction.")
TEST_FRACTION_HELP = "Carve a seeded, stratified test split of this share from a single table or file."
SPLIT_SEED_HELP = "Seed of the --test-fraction split (use the same one in every command)."
LABEL_HELP = "Label column of a Parquet/CSV table (default: 'label' when present; never a feature)."
NO_LABEL_HELP = "The table has no label column (a column named 'label' is still never a feature)."

# The data-reading options that train-ae, embed, features, fit and predict share.
SPLIT_OPTION = typer.Option(None, help=SPLIT_HELP)
TEST_FRACTION_OPTION = typer.Option(None, help=TEST_FRACTION_HELP)
SPLIT_SEED_OPTION = typer.Option(0, help=SPLIT_SEED_HELP)
LABEL_OPTION = typer.Option(None, help=LABEL_HELP)
NO_LABEL_OPTION = typer.Option(False, "--no-label", help=NO_LABEL_HELP)


def read_options(split, test_fraction, split_seed, label_col, no_label, columns: str | None = None,
                 exclude: str | None = None, id_col: str | None = None) -> dict:
    """The reading options of :func:`cance_cli.data.load_data` from the shared CLI options."""
    def names(text: str | None) -> list[str] | None:
        return [c.strip() for c in text.split(",") if c.strip()] if text else None

    return {"split": split, "label_col": label_col, "no_label": no_label, "test_fraction": test_fraction,
            "split_seed": split_seed, "columns": names(columns), "exclude": names(exclude), "id_col": id_col}


EXCLUDE_OPTION = typer.Option(None, "--exclude", help="Columns that are not features, names or patterns, e.g. "
                                                     "'merchant,city,note_*' (every offending column is listed).")
ID_COL_HELP = ("The row identity written beside the scores (never a feature; default: a column named id in any "
               "case, else the row number).")


CONFIG_FILE: list[str] = []  # the --config file of this invocation, if any (set by the app)
INVOCATION: list[str] = []  # the arguments of this invocation (set by the app)


def _plain(options: dict[str, Any]) -> dict[str, Any]:
    """Option values as JSON-friendly scalars (paths as strings)."""
    return {k: (str(v) if not isinstance(v, str | int | float | bool | type(None)) else v) for k, v in options.items()}


class _StderrWarnings(logging.Handler):
    """Library warnings (logger ``cance``) as ``Warning: ...`` lines on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(f"Warning: {translate_parameters(record.getMessage())}\n")


def _route_warnings() -> None:
    logger = logging.getLogger("cance")
    if not any(isinstance(h, _StderrWarnings) for h in logger.handlers):
        logger.addHandler(_StderrWarnings(logging.WARNING))


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM."""


def _raise_terminated(signum, frame) -> None:
    from cance_cli.runtime.interrupts import record_interrupt

    record_interrupt(Terminated)
    raise Terminated()


def _raise_keyboard_interrupt(signum, frame) -> None:
    from cance_cli.runtime.interrupts import record_interrupt

    record_interrupt(KeyboardInterrupt)
    raise KeyboardInterrupt()


def _exit_interrupted(kind: type[BaseException]) -> None:
    """One line and exit 130 (SIGINT) or 143 (SIGTERM)."""
    word, code = ("Terminated", 143) if kind is Terminated else ("Interrupted", 130)
    typer.echo(f"{word}; no output was written (older outputs are unchanged).", err=True)
    raise typer.Exit(code) from None


_PARAMETER = re.compile(r"`([a-z][a-z0-9_]*)`")


def translate_parameters(message: str) -> str:
    """A library message in the running command's words: each parameter the library named
    (:func:`cance_cli.errors.param`) that is one of the command's options becomes that option
    (``label_col`` -> ``--label-col``); other backquoted words stay as they are."""
    try:  # typer >= 0.2x ships its own copy of click
        from typer._click.globals import get_current_context
    except ImportError:  # pragma: no cover - older typer depends on click
        from click import get_current_context

    context = get_current_context(silent=True)
    if context is None:
        return message
    options: dict[str, str] = {}
    for p in context.command.params:
        flags = [o for o in p.opts if o.startswith("--")]
        for name in (p.name, *(f[2:].replace("-", "_") for f in flags)):  # out_dir and out -> --out
            if flags and name:
                options.setdefault(name, flags[0])
    return _PARAMETER.sub(lambda found: options.get(found.group(1)) or found.group(0), message)


def handle_errors(func):
    """Turn a CanceError into one sentence on stderr and its exit code.

    SIGINT and SIGTERM end the command the same way: the temporary output is
    removed (the atomic writers' ``finally``), any older output stays, and one
    line says so (exit 130 / 143).
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import signal
        import threading

        _route_warnings()
        from cance_cli.io.provenance import set_run_context
        from cance_cli.runtime.interrupts import interrupted, record_interrupt

        set_run_context({"command": ["cance", *(INVOCATION or sys.argv[1:])], "options": _plain(kwargs),
                         **({"config_file": CONFIG_FILE[0]} if CONFIG_FILE else {})})
        record_interrupt(None)
        previous = {}
        if threading.current_thread() is threading.main_thread():
            # Both handlers also record the interrupt: the atomic writers refuse to commit
            # after one, even where a library swallowed the exception (see artifacts.py).
            previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_terminated)}
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where the shell ignores it
                previous[signal.SIGINT] = signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
        try:
            return func(*args, **kwargs)
        except (KeyboardInterrupt, Terminated) as exc:
            _exit_interrupted(type(exc))
        except Exception as exc:
            # An interrupt that landed inside a library can resurface as another error (a
            # half-done lazy import, measured); it is still the interrupt.
            if interrupted() is not None:
                _exit_interrupted(interrupted())
            resource = _resource_error(exc, kwargs)
            if resource is not None:
                exc = resource
            if not isinstance(exc, CanceError):
                raise
            typer.echo(f"Error: {translate_parameters(str(exc))}", err=True)
            raise typer.Exit(exc.exit_code) from None
        finally:
            set_run_context(None)
            record_interrupt(None)
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    return wrapper


_OUTPUT_OPTIONS = ("out", "out_dir", "pca_out", "plot")


def _resource_error(exc: BaseException, options: dict[str, Any]) -> CanceError | None:
    """A full disk or a failed allocation as one sentence (the atomic writers already removed
    their temporary files, so older outputs are unchanged); None for any other error."""
    import errno
    import os

    text = str(exc)
    # pyarrow and safetensors report it in their own exception types: "No space left on device (os error 28)"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT) or any(
            sign in text for sign in ("No space left on device", "Disk quota exceeded", "os error 28")):
        outputs = [str(options[k]) for k in _OUTPUT_OPTIONS if options.get(k) is not None]
        where = os.path.dirname(os.path.abspath(outputs[0])) if outputs else (exc.filename or "the output folder")
        return CanceError(f"The disk holding {where} is full (or over quota): nothing was written and older outputs "
                          "are unchanged; free some space or write elsewhere, then rerun.")
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or (
            isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text.lower())):
        return CanceError("Ran out of memory: nothing was written and older outputs are unchanged; use a smaller "
                          "--batch-size, fewer rows or a smaller model.")
    return None


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


def parse_widths(option: str, text: str | None) -> tuple[int, ...] | None:
    """``"32,64"`` -> ``(32, 64)``; every width an integer >= 1."""
    from cance_cli.errors import ConfigError

    if text is None or not text.strip():
        return None
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"{option} must be comma-separated integers >= 1, got {text!r}.") from None
    if any(v < 1 for v in values):
        raise ConfigError(f"{option} must be comma-separated integers >= 1, got {text!r}.")
    return values
