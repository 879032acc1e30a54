"""Constrained autoencoders: a batch-norm layer without affine parameters ends
the encoder, so every latent coordinate has zero mean and unit variance.

Architectures are described by a plain JSON-able config (stored in the
checkpoint), and :func:`build_autoencoder` rebuilds the module from it.
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from cance_cli.errors import ConfigError
from cance_cli.models.base import _Autoencoder

DEFAULT_CONV_CHANNELS = (32, 64)
DEFAULT_CONV_CHANNELS_RGB = (32, 64, 128)
# An experiment switch (raw-tables issue): dropout after every hidden layer of a table's MLP, as PyOD's
# AutoEncoder has (0.2 there). Recorded in the config when set, so a checkpoint rebuilds the same module.
MLP_DROPOUT = 0.0


def default_config(input_shape: tuple[int, ...], latent: int, hidden: tuple[int, ...] | None = None,
                   kind: str = "image") -> dict[str, Any]:
    """Pick an architecture for ``input_shape``.

    Square images whose side is a multiple of 4 (28x28, 32x32, 64x64, ...) get
    a convolutional autoencoder (two stride-2 stages, three for sides that are
    multiples of 8 of at least 32); every other input is flattened into an MLP.
    Tables are standardised, so their decoder output is linear; images end in
    a sigmoid because pixels lie in [0, 1].
    """
    output = "sigmoid" if kind == "image" else "linear"
    if kind == "image" and len(input_shape) == 3:
        c, h, w = input_shape
        if h == w and h % 4 == 0 and h >= 16:
            deep = h % 8 == 0 and h >= 32
            default = DEFAULT_CONV_CHANNELS_RGB if deep else DEFAULT_CONV_CHANNELS
            channels = list(hidden) if hidden else list(default)
            if h % (2 ** len(channels)) != 0:
                raise ConfigError(f"Image side {h} is not divisible by 2^{len(channels)}; "
                                  f"give `hidden` with fewer conv stages.")
            return {"arch": "conv", "input_shape": list(input_shape), "latent": latent,
                    "channels": channels, "output": output}
    n_in = int(math.prod(input_shape))
    if hidden is None:
        hidden = (max(2 * latent, min(512, 2 * n_in)), max(latent, min(256, n_in)))
    config = {"arch": "mlp", "input_shape": list(input_shape), "latent": latent,
              "hidden": [int(h) for h in hidden], "output": output}
    if kind == "table" and MLP_DROPOUT > 0:
        config["dropout"] = float(MLP_DROPOUT)
    return config


class LatentNorm(nn.BatchNorm1d):
    """Batch norm with no learned scale or shift: the latent is standardised."""

    def __init__(self, latent: int):
        super().__init__(latent, affine=False)


class ConvAutoencoder(_Autoencoder):
    """Stride-2 conv encoder (BN + LeakyReLU), linear to latent, mirrored decoder."""

    def __init__(self, input_shape: list[int], latent: int, channels: list[int], output: str = "sigmoid"):
        super().__init__()
        c_in, side, _ = input_shape
        self.input_shape = tuple(input_shape)
        small = side // (2 ** len(channels))
        self._bottom = (channels[-1], small, small)
        enc: list[nn.Module] = []
        prev = c_in
        for ch in channels:
            enc += [nn.Conv2d(prev, ch, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(ch), nn.LeakyReLU(0.2)]
            prev = ch
        self.encoder = nn.Sequential(*enc, nn.Flatten(), nn.Linear(prev * small * small, latent), LatentNorm(latent))
        dec: list[nn.Module] = [
            nn.Linear(latent, prev * small * small, bias=False),
            nn.BatchNorm1d(prev * small * small),
            nn.LeakyReLU(0.2),
            nn.Unflatten(1, self._bottom),
        ]
        rev = list(reversed(channels))
        for ch_from, ch_to in zip(rev[:-1], rev[1:]):
            dec += [nn.ConvTranspose2d(ch_from, ch_to, 4, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(ch_to), nn.LeakyReLU(0.2)]
        dec.append(nn.ConvTranspose2d(rev[-1], c_in, 4, stride=2, padding=1))
        if output == "sigmoid":
            dec.append(nn.Sigmoid())
        self.decoder = nn.Sequential(*dec)


class MLPAutoencoder(_Autoencoder):
    """Fully connected autoencoder for rows (or small, flattened images)."""

    def __init__(self, input_shape: list[int], latent: int, hidden: list[int], output: str = "linear",
                 dropout: float = 0.0):
        super().__init__()
        self.input_shape = tuple(input_shape)
        n_in = int(math.prod(input_shape))
        drop = [nn.Dropout(dropout)] if dropout > 0 else []
        enc: list[nn.Module] = [nn.Flatten()]
        prev = n_in
        for h in hidden:
            enc += [nn.Linear(prev, h), nn.BatchNorm1d(h), nn.LeakyReLU(0.2), *drop]
            prev = h
        self.encoder = nn.Sequential(*enc, nn.Linear(prev, latent), LatentNorm(latent))
        dec: list[nn.Module] = []
        prev = latent
        for h in reversed(hidden):
            dec += [nn.Linear(prev, h), nn.BatchNorm1d(h), nn.LeakyReLU(0.2), *drop]
            prev = h
        dec.append(nn.Linear(prev, n_in))
        if output == "sigmoid":
            dec.append(nn.Sigmoid())
        dec.append(nn.Unflatten(1, self.input_shape))
        self.decoder = nn.Sequential(*dec)


def reference_config(input_shape: tuple[int, ...], latent: int, hidden: tuple[int, ...] | None,
                     kind: str) -> dict[str, Any]:
    """The NAE / MPDR references' autoencoder (spherical latent, no normalisation layers):
    their conv net for 1 x 28 x 28 images (``hidden`` = (nh,), default 8), an MLP otherwise."""
    from cance_cli.models.reference_ae import INPUT_SHAPE

    if kind == "image" and tuple(input_shape) == INPUT_SHAPE:
        nh = int(hidden[0]) if hidden else 8
        if hidden and len(hidden) != 1:
            raise ConfigError("`arch` reference on 28x28 images takes `hidden` NH (one number, the channel unit; "
                              "the references use 8).")
        return {"arch": "reference", "input_shape": list(input_shape), "latent": latent, "nh": nh}
    if kind == "image":
        raise ConfigError(f"`arch` reference is defined for 1 x 28 x 28 images (or tables), not images of shape "
                          f"{tuple(input_shape)}.")
    n_in = int(math.prod(input_shape))
    widths = [int(h) for h in hidden] if hidden else [max(64, 2 * n_in), max(32, n_in)]
    return {"arch": "spherical-mlp", "input_shape": list(input_shape), "latent": latent, "hidden": widths,
            "output": "linear"}


def build_autoencoder(config: dict[str, Any]) -> nn.Module:
    """Instantiate the module a config describes."""
    if config["arch"] in ("reference", "spherical-mlp"):
        from cance_cli.models.reference_ae import SphericalConvAutoencoder, SphericalMLPAutoencoder

        if config["arch"] == "reference":
            return SphericalConvAutoencoder(config["latent"], config["nh"])
        return SphericalMLPAutoencoder(config["input_shape"], config["latent"], config["hidden"], config["output"])
    if config["arch"] == "conv":
        return ConvAutoencoder(config["input_shape"], config["latent"], config["channels"], config["output"])
    if config["arch"] == "mlp":
        return MLPAutoencoder(config["input_shape"], config["latent"], config["hidden"], config["output"],
                              config.get("dropout", 0.0))
    raise ValueError(f"unknown autoencoder architecture {config['arch']!r}")
