"""The CLI maps names, the library decides: each command's option defaults are its estimator's parameter
defaults (one table of parameter <-> option per command), except where an option means something else."""

from __future__ import annotations

import inspect

import pytest

# (option, why its default differs from the parameter's)
DIFFERENT = {("fit", "--pca"): "absent = the autoencoder feature map; the parameter is the PCA's size",
             ("fit-nce", "--epochs"): "absent = the step-budget rule of `cance fit`; the estimator's default is 100"}


def _options(func) -> dict[str, object]:
    out = {}
    for name, p in inspect.signature(func).parameters.items():
        decls = [d for d in (getattr(p.default, "param_decls", None) or []) if d.startswith("--")]
        out[decls[0] if decls else "--" + name.replace("_", "-")] = getattr(p.default, "default", p.default)
    return out


def _commands():
    from cance_cli.cli.fit import OPTION_NAMES, fit
    from cance_cli.cli.fit_nce import fit_nce
    from cance_cli.cli.train_ae import train_ae
    from cance_cli.estimator import CANCE
    from cance_cli.training.autoencoder import ConstrainedAutoencoder
    from cance_cli.training.nce import NCEDensity
    from cance_cli.validate import option_names

    for command, func, cls, names in (("fit", fit, CANCE, OPTION_NAMES),
                                      ("train-ae", train_ae, ConstrainedAutoencoder, None),
                                      ("fit-nce", fit_nce, NCEDensity, None)):
        params = inspect.signature(cls).parameters
        yield command, func, params, names or option_names(params)


@pytest.mark.parametrize("command", ["fit", "train-ae", "fit-nce"])
def test_option_defaults_are_the_estimators_defaults(command):
    for name, func, params, names in _commands():
        if name != command:
            continue
        options = _options(func)
        compared = 0
        for param, option in names.items():
            if option in options and param in params and (command, option) not in DIFFERENT:
                assert options[option] == params[param].default, (command, option)
                compared += 1
        assert compared >= 7
