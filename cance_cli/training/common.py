"""Helpers shared by the training loops: seeding, devices, progress, selection."""

from __future__ import annotations

import contextlib
import copy
import random
from collections.abc import Iterator

import numpy as np

from cance_cli.errors import ConfigError


def resolve_device(device: str = "auto"):
    """``auto`` -> CUDA when present, else CPU; a clear error for an absent CUDA."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("`device` cuda was asked for but no CUDA GPU is available; use `device` cpu or auto.")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ConfigError(f"`device` must be auto, cpu or cuda[:N], got {device!r}.")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices) from one integer."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def torch_generator(seed: int):
    import torch

    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


@contextlib.contextmanager
def memory_guard(hint: str) -> Iterator[None]:
    """Turn a failed allocation (host or GPU) into a ConfigError ending with ``hint``."""
    try:
        yield
    except MemoryError:
        raise ConfigError(f"Out of memory; {hint}") from None
    except RuntimeError as exc:  # torch reports failed allocations as RuntimeError subclasses
        text = str(exc).lower()
        if "allocate" in text or "out of memory" in text:
            raise ConfigError(f"Out of memory; {hint}") from None
        raise


class BestState:
    """Keep a copy of a module's weights at its lowest validation loss."""

    def __init__(self) -> None:
        self.loss = float("inf")
        self.epoch = -1
        self.state: dict | None = None

    def update(self, loss: float, epoch: int, module) -> bool:
        if loss < self.loss:
            self.loss, self.epoch = loss, epoch
            self.state = copy.deepcopy(module.state_dict())
            return True
        return False

    def restore(self, module) -> None:
        if self.state is not None:
            module.load_state_dict(self.state)


def bf16_on_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
