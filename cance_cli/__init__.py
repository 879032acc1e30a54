"""cance: unsupervised anomaly detection with autoencoder composite features and NCE.

Heavy modules (torch) load on first use, so ``import cance_cli`` and
``cance --help`` stay fast.
"""

from __future__ import annotations

from importlib import import_module

from cance_cli._version import __version__

_LAZY = {
    "CANCE": "cance_cli.estimator",
    "NCEDensity": "cance_cli.training.nce",
    "PCAFeatureMap": "cance_cli.pca",
    "ConstrainedAutoencoder": "cance_cli.training.autoencoder",
    "load_data": "cance_cli.data",
    "Dataset": "cance_cli.data",
    "write_feature_table": "cance_cli.features",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cance_cli' has no attribute {name!r}")
