"""The checks of :class:`~cance_cli.estimator.CANCE`'s parameters, importable without scikit-learn or
torch: `cance fit` refuses a bad option before the estimator is even imported (2 s of scikit-learn here)."""

from __future__ import annotations

import re
from typing import Any

from cance_cli import validate
from cance_cli.errors import ConfigError
from cance_cli.views.fusion import parse_views

FEATURE_MAPS = ("autoencoder", "pca", "precomputed")
ROW_NORMS = ("auto", "unit", "none")
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
# Sizes left to the data-shape rule when None, with their smallest value.
RULE_SIZES = (("latent", 1), ("ae_epochs", 1), ("decoder_epochs", 0), ("ae_batch_size", 2), ("nce_epochs", 1),
              ("nce_batch_size", 2), ("hidden", 1))


def check_cance_params(p: dict[str, Any], names: dict[str, str] | None = None) -> None:
    """Raise a ConfigError naming the first out-of-range parameter of ``p`` (CANCE's parameters by name);
    ``names`` maps a parameter to what the caller's user typed instead."""
    def name(param: str) -> str:
        return (names or {}).get(param, param)

    if p["feature_map"] not in FEATURE_MAPS:
        raise ConfigError(f"{name('feature_map')} must be one of {', '.join(FEATURE_MAPS)}, got "
                          f"{p['feature_map']!r}.")
    if p.get("row_norm", "auto") not in ROW_NORMS:
        raise ConfigError(f"{name('row_norm')} must be one of {', '.join(ROW_NORMS)}, got {p['row_norm']!r}.")
    if p["features"] not in ("composite", "latent"):
        raise ConfigError(f"{name('features')} must be composite or latent, got {p['features']!r}.")
    parse_views(p["views"], name("views"))
    for param, minimum in RULE_SIZES:
        if p[param] is not None:
            validate.at_least(name(param), p[param], minimum)
    validate.widths(name("ae_hidden"), p["ae_hidden"])
    validate.non_negative(name("lam"), p["lam"])
    validate.ratio(name("ratio"), p["ratio"])
    validate.at_least(name("knn"), p["knn"], 1)
    validate.fraction(name("contamination"), p["contamination"], low_open=True)
    if p["contamination"] > 0.5:
        raise ConfigError(f"{name('contamination')} must be at most 0.5, got {p['contamination']}.")
    if p["fpr"] is not None:
        validate.fraction(name("fpr"), p["fpr"], low_open=True, high_open=True)
    validate.fraction(name("calibration_fraction"), p["calibration_fraction"], low_open=True, high_open=True)
    folds = p.get("threshold_folds", "auto")
    if folds != "auto" and (isinstance(folds, bool) or not isinstance(folds, int) or folds < 0):
        raise ConfigError(f"{name('threshold_folds')} must be auto or a whole number >= 0 (0: no cross-fit), got "
                          f"{folds!r}.")
    if p["pca"] != "auto":
        validate.at_least(name("pca"), p["pca"], 1)
    validate.at_least(name("seed"), p["seed"], 0)
    if p["density"] != "nce":  # another density must be registered (the registry needs scikit-learn)
        from cance_cli.registry import densities

        if p["density"] not in densities():
            raise ConfigError(f"{name('density')} must be one of {', '.join(densities())} (registered densities), "
                              f"got {p['density']!r}.")
    for param in ("augment", "learn_noise", "verbose"):
        if not isinstance(p[param], bool) and type(p[param]).__name__ != "bool_":
            raise ConfigError(f"{name(param)} must be True or False, got {p[param]!r}.")
    if not isinstance(p["device"], str) or not DEVICE_PATTERN.fullmatch(p["device"]):
        raise ConfigError(f"{name('device')} must be auto, cpu or cuda[:N], got {p['device']!r}.")
