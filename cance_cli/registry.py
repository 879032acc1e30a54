"""The registry of parts (:mod:`cance_cli.parts`): every part by its checkpoint stage, and the one
reader and writer of part checkpoints."""

from __future__ import annotations

import inspect
from importlib import import_module
from pathlib import Path
from typing import Any

from cance_cli.errors import ArtifactError
from cance_cli.io.checkpoints import load_checkpoint, read_checkpoint_meta, rebuilding, save_checkpoint
from cance_cli.parts import KINDS, Part

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


def save_part(part: Any, path, provenance: dict[str, Any] | None = None) -> Path:
    """Write a fitted part as a checkpoint: its stage, parameters, ``get_state()`` and ``provenance``
    (cance's autoencoder and NCE density write their own, older form)."""
    if not isinstance(part, Part):
        return part.save(path, provenance)
    tensors, facts = part.get_state()
    return save_checkpoint(path, tensors, {"stage": part.STAGE, "params": part.get_params(deep=False), **facts,
                                           **(provenance or {})})


def _load_generic(cls: type, path) -> Part:
    tensors, meta = load_checkpoint(path, cls.STAGE, {"params": dict})
    with rebuilding(path):
        part = cls(**meta["params"])
        part.check_params()
        part.set_state(tensors, meta)
    part.meta_ = meta
    return part


def load_part(path, device: str = "cpu", kind: str | None = None, stage: str | None = None) -> Any:
    """Any part from its checkpoint, by the stage its metadata records; with ``kind`` (or ``stage``), a part of
    another kind (a neighbour view's checkpoint where a density belongs) or stage is refused."""
    found = read_checkpoint_meta(path)["stage"]
    if stage is not None and found != stage:
        raise ArtifactError(f"{path} is a checkpoint of stage '{found}', but this step needs stage '{stage}'; pass "
                            "the right file.")
    stage = found
    try:
        cls = part_class(stage)
    except KeyError:
        raise ArtifactError(f"{path} is a checkpoint of stage '{stage}', which no part of this cance knows (a "
                            "registered part that is not imported?); import or register it first.") from None
    if kind is not None and getattr(cls, "KIND", None) != kind:
        raise ArtifactError(f"{path} holds a {getattr(cls, 'KIND', stage)} where a {kind} belongs; re-create the "
                            "model with `cance fit`.")
    if issubclass(cls, Part):
        return _load_generic(cls, path)
    return cls.load(path, device=device) if "device" in inspect.signature(cls.load).parameters else cls.load(path)
