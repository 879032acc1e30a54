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
parameters, and any checkpoint is read back by :func:`cance_cli.registry.load_part`, which finds the
class by the stage.

A new density is one class (``KIND = "density"``, a ``STAGE`` name, ``_parameter_constraints``,
``fit``, ``score_samples``, ``get_state`` / ``set_state``) and one :func:`cance_cli.registry.register`
call; then
``CANCE(density=STAGE)`` uses it for its density views and a model folder saves and loads it
(docs/design.md, "Adding a detector").
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from cance_cli.errors import ConfigError

KINDS = ("feature_map", "density", "view")

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
    ``params`` in the checkpoint's metadata): :func:`cance_cli.registry.save_part` and
    :func:`~cance_cli.registry.load_part` write and read it.
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
