"""Checks of numeric option values, shared by the estimators and the CLI.

Every check rejects NaN and infinity as well as out-of-range values, and
raises a :class:`~cance_cli.errors.ConfigError` that names the option, the
allowed range and the value given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from cance_cli.errors import ConfigError


def _finite(name: str, value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be {what}, got {value!r}.") from None
    if not math.isfinite(number):
        raise ConfigError(f"{name} must be {what}, got {value}.")
    return number


def finite(name: str, value) -> None:
    """Any finite number."""
    _finite(name, value, "a finite number")


def positive(name: str, value) -> None:
    """A finite number > 0 (learning rates, ratios, scales)."""
    if not _finite(name, value, "a finite number > 0") > 0:
        raise ConfigError(f"{name} must be a finite number > 0, got {value}.")


def non_negative(name: str, value) -> None:
    """A finite number >= 0 (penalty weights)."""
    if not _finite(name, value, "a finite number >= 0") >= 0:
        raise ConfigError(f"{name} must be a finite number >= 0, got {value}.")


def fraction(name: str, value, *, low_open: bool = False, high_open: bool = False) -> None:
    """A number in [0, 1], with either end excluded on request."""
    lo, hi = "(" if low_open else "[", ")" if high_open else "]"
    what = f"a number in {lo}0, 1{hi}"
    number = _finite(name, value, what)
    if number < 0 or number > 1 or (low_open and number == 0) or (high_open and number == 1):
        raise ConfigError(f"{name} must be {what}, got {value}.")


def at_least(name: str, value, minimum: int) -> None:
    """An integer >= ``minimum`` (epochs, widths, batch sizes, row caps)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value}.")


def widths(name: str, values: Iterable[int] | None) -> None:
    """Layer widths: every one an integer >= 1."""
    if values is None:
        return
    values = list(values)
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise ConfigError(f"{name} must be comma-separated integers >= 1, got {','.join(map(str, values))}.")


MAX_RATIO = 1000  # noise rows per data row: the paper uses 10; 1e9 asked for 1e9 noise rows a batch


def ratio(name: str, value) -> None:
    """NCE's noise-to-data ratio: a finite number in (0, MAX_RATIO]."""
    number = _finite(name, value, f"a finite number in (0, {MAX_RATIO}]")
    if not 0 < number <= MAX_RATIO:
        raise ConfigError(f"{name} must be a finite number in (0, {MAX_RATIO}] (noise rows per data row), got {value}.")


def option_names(params: Iterable[str]) -> dict[str, str]:
    """The CLI's option for each parameter name where the option is the name spelt as a flag
    (``batch_size`` -> ``--batch-size``): what a command passes to a library check."""
    return {p: "--" + p.replace("_", "-") for p in params}
