"""Exception types the project raises for problems a user can fix.

The CLI turns every :class:`CanceError` into one sentence on stderr and a
non-zero exit code (no traceback); anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations


class CanceError(ValueError):
    """A problem with the user's input, stated as one actionable sentence.

    A ``ValueError``, so code (and scikit-learn's checks) that expect bad input
    to raise ``ValueError`` catch it too.
    """

    exit_code = 2


class DataError(CanceError):
    """The data source is missing, unreadable, or not what the stage needs."""


class ArtifactError(CanceError):
    """A checkpoint or table is missing, corrupt, or from the wrong stage."""


class ConfigError(CanceError):
    """An option value is out of range or inconsistent with the data."""


def param(parameter: str) -> str:
    """How a library message names one of its parameters: the name in backquotes. The CLI puts the option
    its user typed in its place (``cli/_common.py``, ``translate_parameters``); a Python caller reads the
    parameter's own name."""
    return f"`{parameter}`"
