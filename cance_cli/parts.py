"""The detector contract: the parts a model is made of, their declared parameters, and the registry.

Three kinds of part:

- a **feature map** turns input rows into the features a density reads (``transform`` or
  ``composite_features``): the constrained autoencoder, the PCA, the input view's coordinates;
- a **density** scores rows, higher = more anomalous (``score_samples``): the NCE density, or any
  registered one;
- a **view** scores rows by another opinion than a density (``score_samples``): the neighbour distance.

Every part is a scikit-learn estimator that declares its parameters once, in scikit-learn's
``_parameter_constraints`` form, and checks them with :meth:`Part.check_params` at the top of ``fit``
(messages name the parameter; a caller such as the CLI passes ``names`` to name its own options
instead). A part is saved as a safetensors checkpoint whose metadata records its ``stage`` and
parameters, and any checkpoint is read back by :func:`load_part`, which finds the class by the stage.

A new density is one class (``KIND = "density"``, a ``STAGE`` name, ``_parameter_constraints``,
``fit``, ``score_samples``, ``get_state`` / ``set_state``) and one :func:`register` call; then
``CANCE(density=STAGE)`` uses it for its density views and a model folder saves and loads it
(docs/design.md, "Adding a detector").
"""

from __future__ import annotations

import inspect
import re
from importlib import import_module
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from cance_cli.errors import ArtifactError, ConfigError

KINDS = ("feature_map", "density", "view")

# The parts cance ships, by checkpoint stage: imported only when a checkpoint of theirs is read.
_BUILTIN: dict[str, tuple[str, str]] = {
    "autoencoder": ("cance_cli.training.autoencoder", "ConstrainedAutoencoder"),
    "nae": ("cance_cli.training.autoencoder", "ConstrainedAutoencoder"),  # NAE / MPDR save their autoencoder
    "mpdr": ("cance_cli.training.autoencoder", "ConstrainedAutoencoder"),
    "pca": ("cance_cli.pca", "PCAFeatureMap"),
    "nce": ("cance_cli.training.nce", "NCEDensity"),
    "input-map": ("cance_cli.views.input_map", "InputCoordinates"),
    "knn": ("cance_cli.views.knn", "KNNDistance"),
}
_REGISTERED: dict[str, type] = {}

_SKLEARN_MESSAGE = re.compile(r"The '(\w+)' parameter of \w+ must be (.*)", re.S)


def check_constraints(estimator: BaseEstimator, names: dict[str, str] | None = None) -> None:
    """Check ``estimator``'s parameters against its ``_parameter_constraints`` (scikit-learn's declared
    form); raise a ConfigError that names the parameter, or what ``names`` maps it to. NaN is refused by
    every interval, and infinity by every interval with a finite or open end."""
    from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

    try:
        validate_parameter_constraints(estimator._parameter_constraints, estimator.get_params(deep=False),
                                       caller_name=type(estimator).__name__)
    except InvalidParameterError as exc:
        found = _SKLEARN_MESSAGE.match(str(exc))
        if found is None:
            raise ConfigError(str(exc)) from None
        param, rest = found.groups()
        raise ConfigError(f"{(names or {}).get(param, param)} must be {rest}") from None


class Part(BaseEstimator):
    """Base of a part: declared parameters, a generic checkpoint form, and a kind.

    Subclasses set ``STAGE`` (the checkpoint's stage name), ``KIND`` (one of :data:`KINDS`) and
    ``_parameter_constraints``, implement ``fit`` and their kind's method, and ``get_state`` /
    ``set_state`` (named arrays and JSON-able facts of the fitted state, stored beside ``stage`` and
    ``params`` in the checkpoint's metadata). ``save`` / ``load`` follow.
    """

    STAGE: ClassVar[str]
    KIND: ClassVar[str]
    _parameter_constraints: ClassVar[dict[str, list]] = {}

    def check_params(self, names: dict[str, str] | None = None) -> None:
        """Raise a ConfigError naming the first out-of-range parameter."""
        check_constraints(self, names)

    def get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        raise NotImplementedError

    def set_state(self, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        raise NotImplementedError

    def save(self, path, provenance: dict[str, Any] | None = None) -> Path:
        from cance_cli.io.checkpoints import save_checkpoint

        tensors, facts = self.get_state()
        return save_checkpoint(path, tensors, {"stage": self.STAGE, "params": self.get_params(deep=False),
                                               **facts, **(provenance or {})})

    @classmethod
    def load(cls, path) -> Part:
        """Rebuild a fitted part from its checkpoint: the parameters, then ``set_state`` with the tensors and
        the metadata (a missing, mistyped or mis-shaped entry is one sentence)."""
        from cance_cli.io.checkpoints import load_checkpoint, rebuilding

        tensors, meta = load_checkpoint(path, cls.STAGE, {"params": dict})
        with rebuilding(path):
            part = cls(**meta["params"])
            part.check_params()
            part.set_state(tensors, meta)
        part.meta_ = meta
        return part


def register(cls: type) -> type:
    """Add a part class to the registry under its ``STAGE`` (usable as a class decorator)."""
    if getattr(cls, "KIND", None) not in KINDS or not isinstance(getattr(cls, "STAGE", None), str):
        raise TypeError(f"{cls.__name__} needs a KIND in {KINDS} and a STAGE name to be registered")
    if cls.STAGE in _BUILTIN:
        raise ValueError(f"stage {cls.STAGE!r} is one of cance's own parts")
    _REGISTERED[cls.STAGE] = cls
    return cls


def stages() -> list[str]:
    """Every part's stage name: cance's own, then the registered ones."""
    return [*_BUILTIN, *_REGISTERED]


def part_class(stage: str) -> type:
    """The class of a part by its stage name."""
    if stage in _REGISTERED:
        return _REGISTERED[stage]
    if stage in _BUILTIN:
        module, name = _BUILTIN[stage]
        return getattr(import_module(module), name)
    raise KeyError(stage)


def densities() -> list[str]:
    """Stage names of every density (``CANCE(density=...)``'s choices)."""
    return ["nce", *(s for s, c in _REGISTERED.items() if c.KIND == "density")]


def load_part(path, device: str = "cpu", kind: str | None = None) -> Any:
    """Any part from its checkpoint, by the stage its metadata records; with ``kind``, a part of another
    kind (a neighbour view's checkpoint where a density belongs) is refused."""
    from cance_cli.io.checkpoints import read_checkpoint_meta

    stage = read_checkpoint_meta(path)["stage"]
    try:
        cls = part_class(stage)
    except KeyError:
        raise ArtifactError(f"{path} is a checkpoint of stage '{stage}', which no part of this cance knows (a "
                            "registered part that is not imported?); import or register it first.") from None
    if kind is not None and getattr(cls, "KIND", None) != kind:
        raise ArtifactError(f"{path} holds a {getattr(cls, 'KIND', stage)} where a {kind} belongs; re-create the "
                            "model with `cance fit`.")
    return cls.load(path, device=device) if "device" in inspect.signature(cls.load).parameters else cls.load(path)
