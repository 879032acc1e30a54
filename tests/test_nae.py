"""The Normalized Autoencoder: samplers, replay buffer, the references' architecture,
the NAE objective on a 2-D toy, and the train-nae checkpoint through the stage commands."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cance_cli.models.reference_ae import SphericalConvAutoencoder
from cance_cli.sampling.langevin import input_chain, sphere_chain
from cance_cli.sampling.replay import ReplayBuffer
from tests.conftest import cli, one_error_line


def test_reference_autoencoder_has_the_published_shape():
    model = SphericalConvAutoencoder(latent=32, nh=8)
    assert abs(sum(p.numel() for p in model.parameters()) - 2.46e6) < 0.05e6
    with torch.no_grad():
        z, x_hat = model(torch.rand(3, 1, 28, 28))
    assert z.shape == (3, 32) and x_hat.shape == (3, 1, 28, 28)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(3))
    assert 0 <= float(x_hat.min()) and float(x_hat.max()) <= 1


def test_latent_chain_stays_on_the_sphere_and_descends():
    target = torch.nn.functional.normalize(torch.ones(1, 8), dim=1)
    energy = lambda z: ((z - target) ** 2).sum(dim=1)  # noqa: E731
    z0 = torch.nn.functional.normalize(torch.randn(64, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    z = sphere_chain(energy, z0, steps=20, step_size=0.2, noise=0.01, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(z.norm(dim=1), torch.ones(64))
    assert float(energy(z).mean()) < float(energy(z0).mean())


def test_input_chain_stays_in_its_box():
    energy = lambda x: ((x - 2.0) ** 2).flatten(1).sum(dim=1)  # noqa: E731  (pulls above 1)
    gen = torch.Generator().manual_seed(0)
    x = input_chain(energy, torch.rand(16, 1, 28, 28, generator=gen), steps=30, generator=gen)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    low, high = torch.tensor([-1.0, 0.0]), torch.tensor([1.0, 0.5])
    x = input_chain(energy, torch.zeros(16, 2), steps=30, low=low, high=high, generator=gen)
    assert (x >= low).all() and (x <= high).all()


def test_replay_buffer_caps_its_size_and_reuses_at_its_rate():
    buf = ReplayBuffer(capacity=100, reuse=0.95, seed=0)
    fresh = lambda n: torch.full((n, 3), -1.0)  # noqa: E731
    first, reused = buf.starts(10, fresh)
    assert reused == 0 and (first == -1).all()  # empty: every start is fresh
    for i in range(30):
        buf.push(torch.full((16, 3), float(i)))
    assert len(buf) == 100  # oldest rows replaced
    draws = [buf.starts(50, fresh)[1] for _ in range(200)]
    assert abs(np.mean(draws) / 50 - 0.95) < 0.01
    rows, _ = buf.starts(200, fresh)
    kept = rows[rows[:, 0] >= 0][:, 0]
    assert float(kept.min()) >= 30 - 100 / 16 - 1  # only recent pushes survive


def _ring(n=800, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    return (np.c_[np.cos(t), np.sin(t)] + 0.05 * rng.normal(size=(n, 2))).astype(np.float32)


def test_a_short_nae_run_raises_the_energy_off_the_data_manifold():
    from cance_cli.training.nae import NormalizedAutoencoder

    x = _ring()
    centre = (0.1 * np.random.default_rng(1).normal(size=(100, 2))).astype(np.float32)  # inside the ring
    nae = NormalizedAutoencoder(latent=2, ae_epochs=10, steps=80, batch_size=64, lr=1e-3, device="cpu").fit(x)
    on, off = nae.score_samples(x).mean(), nae.score_samples(centre).mean()
    assert off > 5 * on, (on, off)
    assert len(nae.history_["negative"]) > 0 and nae.history_["buffer_share"][-1] > 0.8


def test_the_ablation_samplers_start_where_they_say_and_a_wrong_one_is_refused():
    from cance_cli.errors import ConfigError
    from cance_cli.training.nae import NormalizedAutoencoder

    x = _ring(300)
    ae = NormalizedAutoencoder(latent=2, ae_epochs=2, batch_size=32, device="cpu").pretrain(x)
    runs = {s: NormalizedAutoencoder(latent=2, steps=12, batch_size=32, sampling=s, device="cpu").fit(x, autoencoder=ae)
            for s in ("cd", "pcd")}
    cd, pcd = runs["cd"].history_, runs["pcd"].history_
    # CD starts every chain at the step's positive rows; PCD draws most starts from its buffer of chain ends.
    np.testing.assert_allclose(cd["negative_start"], cd["positive"], rtol=1e-5)
    assert cd["buffer_share"][-1] == 0 and pcd["buffer_share"][-1] > 0.8
    assert sorted(runs["pcd"].negative_snapshots_) == [1, 10, 12]
    assert runs["pcd"].negative_snapshots_[12].shape == (16, 2)
    with pytest.raises(ConfigError, match="`sampling` must be one of on-manifold, cd, pcd"):
        NormalizedAutoencoder(sampling="langevin").fit(x)


def test_train_nae_checkpoint_goes_through_features_score_and_fit_nce(tmp_path):
    x = _ring(600)
    path = tmp_path / "ring.csv"
    np.savetxt(path, x, delimiter=",", header="a,b", comments="", fmt="%.5f")
    nae = tmp_path / "nae.safetensors"
    result = cli("train-nae", path, "--out", nae, "--latent", "2", "--steps", "20", "--batch-size", "32",
                 "--lr", "1e-3", "-q")
    assert result.exit_code == 0, result.output
    feats = tmp_path / "feats.parquet"
    assert cli("features", path, "--ae", nae, "--out", feats, "-q").exit_code == 0
    assert cli("score", feats, "--method", "error", "--out", tmp_path / "s.parquet", "-q").exit_code == 0
    fitted = cli("fit-nce", feats, "--out", tmp_path / "nce.safetensors", "--epochs", "2", "-q")
    assert fitted.exit_code == 0, fitted.output


def test_train_nae_refuses_a_constrained_autoencoder_and_a_bad_schedule(tmp_path):
    x = _ring(300)
    path = tmp_path / "ring.csv"
    np.savetxt(path, x, delimiter=",", header="a,b", comments="", fmt="%.5f")
    ae = tmp_path / "ae.safetensors"
    assert cli("train-ae", path, "--out", ae, "--latent", "2", "--epochs", "1", "--decoder-epochs", "0",
               "-q").exit_code == 0
    line = one_error_line(cli("train-nae", path, "--ae", ae, "--out", tmp_path / "n.safetensors", "-q"))
    assert "spherical" in line
    line = one_error_line(cli("train-nae", path, "--schedule", "fast", "--out", tmp_path / "n.safetensors"))
    assert "--schedule" in line
    assert not (tmp_path / "n.safetensors").exists()


@pytest.mark.parametrize("shape", [(1, 32, 32), (3, 28, 28)])
def test_reference_arch_is_for_28x28_grey_images(shape, tmp_path):
    from cance_cli.errors import ConfigError
    from cance_cli.training.autoencoder import ConstrainedAutoencoder

    with pytest.raises(ConfigError, match="28"):
        ConstrainedAutoencoder(arch="reference", lam=0, epochs=1, device="cpu").fit(np.random.rand(8, *shape))


def test_a_short_mpdr_run_raises_the_energy_off_the_data_manifold():
    from cance_cli.training.mpdr import MPDR

    x = _ring()
    centre = (0.1 * np.random.default_rng(1).normal(size=(100, 2))).astype(np.float32)
    from cance_cli.training.autoencoder import ConstrainedAutoencoder

    projection = ConstrainedAutoencoder(latent=2, lam=0, epochs=10, decoder_epochs=0, lr=1e-4, arch="reference",
                                        device="cpu").fit(x)
    given = {k: v.clone() for k, v in projection.model_.state_dict().items()}
    mpdr = MPDR(latent=2, steps=80, batch_size=64, lr=1e-3, device="cpu").fit(x, autoencoder=projection)
    on, off = mpdr.score_samples(x).mean(), mpdr.score_samples(centre).mean()
    # The plain autoencoder reconstructs the ring's centre better than the ring (its blind
    # spot); MPDR turns the order round.
    plain = [np.concatenate([e for _, _, e, _ in mpdr.projection_.iter_composite(rows)]).mean()
             for rows in (x, centre)]
    assert plain[1] < plain[0] and off > 1.3 * on, (plain, on, off)
    # The projection stays frozen; the energy autoencoder started from it and moved.
    for key, value in mpdr.projection_.model_.state_dict().items():
        torch.testing.assert_close(value, given[key])
    assert any(not torch.equal(v, given[k]) for k, v in mpdr.autoencoder_.model_.state_dict().items())


def test_train_mpdr_checkpoint_goes_through_features_and_refuses_a_constrained_projection(tmp_path):
    x = _ring(400)
    path = tmp_path / "ring.csv"
    np.savetxt(path, x, delimiter=",", header="a,b", comments="", fmt="%.5f")
    out = tmp_path / "mpdr.safetensors"
    result = cli("train-mpdr", path, "--out", out, "--latent", "2", "--steps", "10", "--batch-size", "32", "-q")
    assert result.exit_code == 0, result.output
    assert cli("features", path, "--ae", out, "--out", tmp_path / "f.parquet", "-q").exit_code == 0
    ae = tmp_path / "ae.safetensors"
    assert cli("train-ae", path, "--out", ae, "--latent", "2", "--epochs", "1", "--decoder-epochs", "0",
               "-q").exit_code == 0
    line = one_error_line(cli("train-mpdr", path, "--ae", ae, "--out", tmp_path / "m2.safetensors", "-q"))
    assert "spherical" in line


def test_nae_on_28x28_images_uses_the_reference_net_and_saves_a_readable_checkpoint(tmp_path):
    from cance_cli.training.autoencoder import ConstrainedAutoencoder
    from cance_cli.training.nae import NormalizedAutoencoder

    images = np.random.default_rng(0).random((64, 1, 28, 28), dtype=np.float32)
    nae = NormalizedAutoencoder(nh=2, ae_epochs=1, steps=2, batch_size=16, latent=8, device="cpu").fit(images)
    assert nae.autoencoder_.config_ == {"arch": "reference", "input_shape": [1, 28, 28], "latent": 8, "nh": 2}
    nae.save(tmp_path / "nae.safetensors")
    back = ConstrainedAutoencoder.load(tmp_path / "nae.safetensors")
    assert back.meta_["stage"] == "nae" and back.meta_["nae"]["settings"]["steps"] == 2
    np.testing.assert_allclose(nae.score_samples(images), np.concatenate(
        [e for _, _, e, _ in back.iter_composite(images)]), rtol=1e-5)
