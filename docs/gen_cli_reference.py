"""Write docs/reference/cli.md from the Typer app itself (never copied by hand).

    python docs/gen_cli_reference.py            # rewrite the page
    python docs/gen_cli_reference.py --check    # exit 1 if the page is out of date (tests run this)
"""

from __future__ import annotations

import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parent / "reference" / "cli.md"


def _commands(group):
    for name, command in group.commands.items():
        if getattr(command, "hidden", False):
            continue
        yield name, command


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("\\[", "[").replace("|", "\\|")


def render() -> str:
    import typer

    try:
        from typer import _click as click
    except ImportError:  # pragma: no cover - older typer depends on click
        import click
    from cance_cli.cli import app

    group = typer.main.get_command(app)
    out = ["# Command-line reference", "",
           "Generated from the Typer app by `python docs/gen_cli_reference.py`; `cance COMMAND --help` prints the",
           "same. Every command also takes `--config FILE.toml` (options from a file; the command line wins).", ""]
    out += [f"- [`cance {name}`](#cance-{name}): {_cell((c.help or '').strip().splitlines()[0])}"
            for name, c in _commands(group)]
    for name, command in _commands(group):
        context = click.Context(command, info_name=f"cance {name}")
        arguments = [p for p in command.params if p.param_type_name == "argument"]
        usage = " ".join([f"cance {name}", "[OPTIONS]", *(p.name.upper() + ("..." if p.nargs == -1 else "")
                                                         for p in arguments)])
        about = (command.help or "").strip().replace("\\[", "[")
        out += ["", f"## cance {name}", "", "```", usage, "```", "", about, ""]
        rows = []
        for p in command.params:
            if getattr(p, "hidden", False) or p.name == "help":
                continue
            record = p.get_help_record(context) if p.param_type_name == "option" else \
                (p.name.upper(), getattr(p, "help", "") or "")
            if record:
                rows.append(f"| `{_cell(record[0])}` | {_cell(record[1])} |")
        if rows:
            out += ["| option | what it does |", "|---|---|", *rows]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        if not PAGE.is_file() or PAGE.read_text() != text:
            sys.exit("docs/reference/cli.md is out of date: run python docs/gen_cli_reference.py")
    else:
        PAGE.write_text(text)
