"""The autoencoder of the NAE / MPDR references: conv encoder with a spherical latent.

For 1 x 28 x 28 images (``../shared/NAE-MPDR.md``): encoder conv3x3 1->4nh,
conv3x3 4nh->8nh, maxpool, conv3x3 8nh->8nh, conv3x3 8nh->16nh, maxpool,
conv4x4 16nh->128nh, conv1x1 128nh->latent (ReLU between, none at the end, no
padding, no normalisation layers); the code is projected onto the unit sphere.
Decoder: convT4x4 latent->16nh, bilinear x2, convT3x3 16nh->8nh, convT3x3
8nh->8nh, bilinear x2, convT3x3 8nh->4nh, convT3x3 4nh->1, sigmoid. With nh = 8
(the references) it has about 2.46 M parameters.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from cance_cli.models.base import _Autoencoder

INPUT_SHAPE = (1, 28, 28)


def sphere(z: torch.Tensor) -> torch.Tensor:
    """Rows of ``z`` projected onto the unit sphere."""
    return z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)


class _Upsample(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class _SphericalAutoencoder(_Autoencoder):
    """The shared interface of :mod:`cance_cli.models.autoencoder`, with the code on the unit sphere."""

    spherical = True

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return sphere(self.encoder(x))


class SphericalMLPAutoencoder(_SphericalAutoencoder):
    """The same idea for rows (tables, 2-D toys): MLP encoder onto the unit sphere, MLP decoder.
    ``output`` bounds: ``sigmoid`` for inputs in [0, 1], else linear."""

    def __init__(self, input_shape: list[int], latent: int, hidden: list[int], output: str = "linear"):
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.latent = latent
        n_in = int(math.prod(input_shape))  # not a tensor: also builds on the meta device
        enc: list[nn.Module] = [nn.Flatten()]
        prev = n_in
        for h in hidden:
            enc += [nn.Linear(prev, h), nn.ReLU()]
            prev = h
        self.encoder = nn.Sequential(*enc, nn.Linear(prev, latent))
        dec: list[nn.Module] = []
        prev = latent
        for h in reversed(hidden):
            dec += [nn.Linear(prev, h), nn.ReLU()]
            prev = h
        dec.append(nn.Linear(prev, n_in))
        if output == "sigmoid":
            dec.append(nn.Sigmoid())
        dec.append(nn.Unflatten(1, self.input_shape))
        self.decoder = nn.Sequential(*dec)


class SphericalConvAutoencoder(_SphericalAutoencoder):
    """The references' conv net: 1 x 28 x 28 images in [0, 1] <-> a unit-norm latent."""

    def __init__(self, latent: int = 32, nh: int = 8):
        super().__init__()
        self.input_shape = INPUT_SHAPE
        self.latent = latent
        relu = nn.ReLU
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 4 * nh, 3), relu(), nn.Conv2d(4 * nh, 8 * nh, 3), relu(), nn.MaxPool2d(2),
            nn.Conv2d(8 * nh, 8 * nh, 3), relu(), nn.Conv2d(8 * nh, 16 * nh, 3), relu(), nn.MaxPool2d(2),
            nn.Conv2d(16 * nh, 128 * nh, 4), relu(), nn.Conv2d(128 * nh, latent, 1), nn.Flatten(),
        )
        self.decoder = nn.Sequential(
            nn.Unflatten(1, (latent, 1, 1)),
            nn.ConvTranspose2d(latent, 16 * nh, 4), relu(), _Upsample(),
            nn.ConvTranspose2d(16 * nh, 8 * nh, 3), relu(), nn.ConvTranspose2d(8 * nh, 8 * nh, 3), relu(), _Upsample(),
            nn.ConvTranspose2d(8 * nh, 4 * nh, 3), relu(), nn.ConvTranspose2d(4 * nh, 1, 3), nn.Sigmoid(),
        )
