"""Run a `cance` command with experiment switches set (module constants measured but not adopted).

    python benchmarks/with_switches.py models.autoencoder.MLP_DROPOUT=0.2 training.autoencoder.INPUT_NOISE=0.1 \
        -- bench novelty ../shared/data/adbench-dev --seeds 0 --methods CANCE-fit --out /tmp/x

Each ``MODULE.NAME=VALUE`` sets ``cance_cli.MODULE.NAME`` (the value read as a number when it is one,
``true``/``false`` as booleans) before the command runs in this process; forked workers inherit it. A name
that does not exist already is refused, so a typo cannot run the default silently.
"""

from __future__ import annotations

import importlib
import sys


def _value(text: str):
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def set_switch(setting: str) -> None:
    """Apply one ``MODULE.NAME=VALUE`` (``cance_cli.MODULE.NAME``, which must exist)."""
    target, value = setting.split("=", 1)
    module_name, name = target.rsplit(".", 1)
    module = importlib.import_module(f"cance_cli.{module_name}")
    if not hasattr(module, name):
        sys.exit(f"cance_cli.{module_name} has no {name}")
    setattr(module, name, _value(value))
    print(f"set cance_cli.{target} = {getattr(module, name)!r}", file=sys.stderr)


def main() -> None:
    if "--" not in sys.argv:
        sys.exit(__doc__)
    cut = sys.argv.index("--")
    for setting in sys.argv[1:cut]:
        set_switch(setting)
    from cance_cli.cli import main as cance_main

    sys.argv = ["cance", *sys.argv[cut + 1:]]
    cance_main()


if __name__ == "__main__":
    main()
