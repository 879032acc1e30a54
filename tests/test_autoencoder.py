import numpy as np
import pytest
import torch

from cance_cli.data import load_data
from cance_cli.errors import DataError
from cance_cli.models.autoencoder import ConvAutoencoder, build_autoencoder, default_config
from cance_cli.training.autoencoder import ConstrainedAutoencoder

FAST = dict(latent=4, epochs=2, decoder_epochs=2, batch_size=32, device="cpu")


@pytest.fixture(scope="module")
def digits_train():
    ds = load_data("builtin:digits", "train")
    return ds.subset(np.flatnonzero(ds.y == 0))


def test_architecture_choice_by_input_shape():
    assert default_config((1, 28, 28), 8)["arch"] == "conv"
    assert default_config((3, 32, 32), 8)["channels"] == [32, 64, 128]
    assert default_config((1, 8, 8), 8)["arch"] == "mlp"  # too small for two stride-2 stages
    assert default_config((6,), 3, kind="table") == {
        "arch": "mlp", "input_shape": [6], "latent": 3, "hidden": [12, 6], "output": "linear"}


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8), (7,)])
def test_module_shapes_and_unit_variance_latent(shape):
    kind = "table" if len(shape) == 1 else "image"
    model = build_autoencoder(default_config(shape, 5, kind=kind))
    x = torch.rand(16, *shape)
    z, x_hat = model(x)
    assert z.shape == (16, 5) and x_hat.shape == x.shape
    # Batch norm without affine parameters: zero mean, unit variance in train mode.
    torch.testing.assert_close(z.mean(0), torch.zeros(5), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.var(0, unbiased=False), torch.ones(5), atol=1e-3, rtol=0)
    assert model.encoder[-1].affine is False
    if isinstance(model, ConvAutoencoder) or kind == "image":
        assert float(x_hat.detach().min()) >= 0 and float(x_hat.detach().max()) <= 1


def test_fit_outputs_shapes_dtypes_and_summary(digits_train):
    ae = ConstrainedAutoencoder(**FAST, lam=0.1).fit(digits_train)
    assert ae.fit(digits_train) is ae
    feats = ae.composite_features(digits_train)
    assert feats.shape == (len(digits_train), 6) and feats.dtype == np.float32
    assert (feats[:, 4] >= 0).all() and (feats[:, 5] >= -1e-6).all() and (feats[:, 5] <= 2).all()
    assert ae.transform(digits_train).shape == (len(digits_train), 4)
    s = ae.summary()
    assert s["stage1"]["epochs"] == 2 and s["stage2"]["epochs"] == 2
    assert s["latent_condition_number"] >= 1 and 0 <= s["latent_max_abs_corr"] <= 1
    assert ae.feature_columns_ == ["z_0", "z_1", "z_2", "z_3", "recon_error", "cos_dissim"]


def test_recon_error_and_cos_dissim_match_direct_computation(digits_train):
    ae = ConstrainedAutoencoder(**FAST).fit(digits_train)
    x = torch.from_numpy(digits_train.batch(slice(None)))
    with torch.no_grad():
        x_hat = ae.model_(x)[1].numpy().reshape(len(x), -1)
    flat = x.numpy().reshape(len(x), -1)
    err = ((flat - x_hat) ** 2).mean(1)
    cos = (flat * x_hat).sum(1) / (np.linalg.norm(flat, axis=1) * np.linalg.norm(x_hat, axis=1))
    feats = ae.composite_features(digits_train)
    np.testing.assert_allclose(feats[:, -2], err, rtol=1e-4)
    np.testing.assert_allclose(feats[:, -1], 1 - cos, atol=1e-5)


def test_stage2_leaves_encoder_bit_identical(digits_train):
    """Stage 2 trains the decoder only: the encoder (weights and BN statistics)
    equals the one a run without stage 2 ends with."""
    only_stage1 = ConstrainedAutoencoder(**{**FAST, "decoder_epochs": 0}, seed=5).fit(digits_train)
    both = ConstrainedAutoencoder(**{**FAST, "decoder_epochs": 3}, seed=5).fit(digits_train)
    enc1, enc2 = only_stage1.model_.encoder.state_dict(), both.model_.encoder.state_dict()
    for key in enc1:
        assert torch.equal(enc1[key], enc2[key]), key
    dec1, dec2 = only_stage1.model_.decoder.state_dict(), both.model_.decoder.state_dict()
    assert any(not torch.equal(dec1[k], dec2[k]) for k in dec1)


def test_same_seed_same_features_other_seed_differs(digits_train):
    a = ConstrainedAutoencoder(**FAST, seed=1).fit(digits_train).composite_features(digits_train)
    b = ConstrainedAutoencoder(**FAST, seed=1).fit(digits_train).composite_features(digits_train)
    c = ConstrainedAutoencoder(**FAST, seed=2).fit(digits_train).composite_features(digits_train)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_save_load_round_trip_gives_identical_features(tmp_path, digits_train, blobs_npz):
    ae = ConstrainedAutoencoder(**FAST).fit(digits_train)
    ae.save(tmp_path / "ae.safetensors", {"source": "builtin:digits"})
    back = ConstrainedAutoencoder.load(tmp_path / "ae.safetensors")
    np.testing.assert_array_equal(ae.composite_features(digits_train), back.composite_features(digits_train))
    assert back.meta_["source"] == "builtin:digits" and back.meta_["stage"] == "autoencoder"
    # Tables: the standardisation travels with the checkpoint.
    table = load_data(str(blobs_npz))
    tae = ConstrainedAutoencoder(latent=2, epochs=2, decoder_epochs=1, batch_size=32).fit(table)
    tae.save(tmp_path / "t.safetensors")
    tback = ConstrainedAutoencoder.load(tmp_path / "t.safetensors")
    np.testing.assert_array_equal(tback.input_mean_, tae.input_mean_)
    np.testing.assert_array_equal(tae.composite_features(table), tback.composite_features(table))


def test_plain_arrays_and_shape_mismatch(digits_train):
    x = digits_train.batch(slice(None))[:, 0]  # (N, 8, 8) floats in [0, 1]
    ae = ConstrainedAutoencoder(**FAST).fit(x)
    assert ae.kind_ == "image" and ae.input_shape_ == [1, 8, 8]
    with pytest.raises(DataError, match="shape"):
        ae.composite_features(np.zeros((3, 1, 28, 28), dtype=np.float32))
    with pytest.raises(DataError, match="NaN"):
        ConstrainedAutoencoder(**FAST).fit(np.full((10, 3), np.nan))


def test_cpu_training_stays_float32_and_says_so():
    from cance_cli.training.autoencoder import ConstrainedAutoencoder

    x = np.random.default_rng(0).normal(size=(200, 6)).astype(np.float32)
    ae = ConstrainedAutoencoder(latent=2, epochs=1, decoder_epochs=0, device="cpu").fit(x)
    assert ae.summary()["mixed_precision"] is None  # bfloat16 autocast only on CUDA
    assert all(p.dtype.is_floating_point and p.dtype.itemsize == 4 for p in ae.model_.parameters())


def test_measured_switches_dropout_and_input_noise_train_and_round_trip(tmp_path, monkeypatch):
    """The autoencoder switches measured on the categorical tables (docs/benchmarks.md, "The autoencoder's
    regularisation"): a table's MLP with dropout records it in its config, so a saved checkpoint rebuilds the
    same module and scores the same; the denoising noise changes training, not the module."""
    from cance_cli.models import autoencoder as ae_module
    from cance_cli.training import autoencoder as ae_training

    x = np.random.default_rng(0).normal(size=(300, 12)).astype(np.float32)
    plain = ConstrainedAutoencoder(latent=3, epochs=2, decoder_epochs=1, seed=0, verbose=False).fit(x)
    monkeypatch.setattr(ae_module, "MLP_DROPOUT", 0.2)
    monkeypatch.setattr(ae_training, "INPUT_NOISE", 0.3)
    model = ConstrainedAutoencoder(latent=3, epochs=2, decoder_epochs=1, seed=0, verbose=False).fit(x)
    assert model.config_["dropout"] == 0.2 and "dropout" not in plain.config_
    assert any(isinstance(m, torch.nn.Dropout) for m in model.model_.modules())
    assert not np.allclose(model.composite_features(x), plain.composite_features(x))
    model.save(tmp_path / "ae.safetensors")
    monkeypatch.setattr(ae_module, "MLP_DROPOUT", 0.0)  # the checkpoint, not the switch, says what to build
    back = ConstrainedAutoencoder.load(tmp_path / "ae.safetensors")
    np.testing.assert_array_equal(back.composite_features(x), model.composite_features(x))
