"""`--config FILE`: option values from a TOML file, for any subcommand.

The file may set options at its top level (they apply to the subcommand being
run) or in a table named after a subcommand (``[fit]``, ``[train-ae]``), which
applies only to that one. Keys are option names without the leading dashes
(``fpr = 0.05``, ``decoder-epochs = 5``); options given on the command line
win over the file. Every artifact records the file's path and the effective
options (``run`` in its metadata).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cance_cli.errors import ConfigError


def _pop_config(args: list[str]) -> tuple[list[str], str | None]:
    rest, path, i = [], None, 0
    while i < len(args):
        arg = args[i]
        if arg == "--config":
            if i + 1 >= len(args):
                raise ConfigError("--config needs a file name, e.g. --config cance.toml.")
            path, i = args[i + 1], i + 2
            continue
        if arg.startswith("--config="):
            path = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    return rest, path


def _read_toml(path: str) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"--config {path} does not exist; check the path.")
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"--config {path} is not valid TOML ({str(exc).splitlines()[0]}); fix the file.") from None


def apply_config(group, args: list[str]) -> tuple[list[str], dict[str, Any], str | None]:
    """Remove ``--config FILE`` from ``args``; return the remaining args and click's ``default_map``."""
    args, path = _pop_config(args)
    if path is None:
        return args, {}, None
    doc = _read_toml(path)
    command = next((a for a in args if not a.startswith("-")), None)
    if command not in group.commands:
        raise ConfigError("--config needs a subcommand to apply to, e.g. cance fit DATA --config cance.toml.")
    values = {k: v for k, v in doc.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in doc.items() if isinstance(v, dict)}
    unknown_tables = sorted(set(tables) - set(group.commands))
    if unknown_tables:
        raise ConfigError(f"--config {path} has a table [{unknown_tables[0]}], which is not a cance subcommand; "
                          "rename or remove it.")
    values.update(tables.get(command, {}))
    params = {p.name: p for p in group.commands[command].params}
    defaults: dict[str, Any] = {}
    for key, value in values.items():
        name = key.lstrip("-").replace("-", "_")
        name = {"json": "json_out"}.get(name, name)
        if name not in params or getattr(params[name], "param_type_name", "") == "argument":
            raise ConfigError(f"--config {path} sets '{key}', which is not an option of `cance {command}`; see "
                              f"`cance {command} --help`.")
        defaults[name] = value
    return args, {command: defaults}, path
