import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from cance_cli.nce.augment import lognormal_mode, noise_mass_below, sample_truncated_normal
from cance_cli.nce.noise import LearnedGaussianNoise, Whitener
from cance_cli.nce.stats import StreamingMoments
from cance_cli.training.nce import NCEDensity

FAST = dict(epochs=40, batch_size=128, device="cpu")


def test_streaming_moments_equal_numpy_to_float64_precision():
    rng = np.random.default_rng(0)
    # Large offset and uneven batch sizes: a naive sum of squares would lose digits here.
    x = rng.normal(size=(10007, 5)) @ rng.normal(size=(5, 5)) + 1e4
    m = StreamingMoments(5)
    start = 0
    for size in rng.integers(1, 700, size=10_000):
        if start >= len(x):
            break
        m.update(x[start:start + size])
        start += size
    np.testing.assert_allclose(m.mean, x.mean(0), rtol=1e-14)
    np.testing.assert_allclose(m.covariance, np.cov(x, rowvar=False), rtol=1e-10, atol=1e-12)
    assert m.count == len(x)


def _random_cov(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T + d * np.eye(d) * np.linspace(0.001, 10, d)  # mixed scales, like [z, e, d]


@pytest.mark.parametrize("scale", [None, "learned"])
def test_noise_log_density_equals_scipy(scale):
    rng = np.random.default_rng(1)
    d = 4
    mean, cov = rng.normal(size=d), _random_cov(rng, d)
    w = Whitener(mean, cov, jitter=0.0).double()
    noise = LearnedGaussianNoise(d)
    if scale == "learned":
        with torch.no_grad():
            noise.alpha.copy_(torch.tensor([-1.0, 0.0, 0.5, 2.0]))
    a = noise.scale.detach().double().numpy()
    chol = np.diag(np.sqrt(np.diag(cov))) @ w.chol.numpy()  # feature-space Cholesky factor
    expected_cov = chol @ np.diag(a**2) @ chol.T
    c = rng.multivariate_normal(mean, cov, size=50)
    model = NCEDensity()
    model.whitener_, model.noise_, model.columns_, model.device_ = w, noise, list("abcd"), torch.device("cpu")
    model.density_ = None
    ours = model.noise_log_prob(c)
    np.testing.assert_allclose(ours, multivariate_normal(mean, expected_cov).logpdf(c), rtol=1e-5, atol=1e-5)
    if scale is None:  # a is 1.05 at the start; the fixed-noise variant is exactly the fitted Gaussian
        fixed = LearnedGaussianNoise(d, learn=False)
        assert torch.equal(fixed.scale, torch.ones(d))


def test_noise_scale_can_only_grow():
    noise = LearnedGaussianNoise(3)
    with torch.no_grad():
        noise.alpha.copy_(torch.tensor([-1e4, -5.0, 30.0]))
    assert (noise.scale >= 1).all()
    rng = np.random.default_rng(0)
    model = NCEDensity(**FAST).fit(rng.normal(size=(600, 3)))
    assert (model.noise_scale_ >= 1).all()
    assert all(v >= 1 for v in model.history_["noise_scale_max"])


def test_truncated_normal_samples_stay_in_range_and_mode_formula():
    gen = torch.Generator().manual_seed(0)
    loc, scale = torch.tensor([0.01, 5.0]), torch.tensor([0.02, 0.1])
    low, high = torch.zeros(2), torch.tensor([0.004, 4.0])  # second: far in the left tail
    draws = sample_truncated_normal(loc, scale, low, high, 20000, gen)
    assert (draws >= 0).all() and (draws <= high).all()
    assert torch.isfinite(draws).all()
    # Log-normal mode from its own moments: exp(mu - sigma^2).
    mu, s2 = -4.0, 0.3
    mean, var = np.exp(mu + s2 / 2), (np.exp(s2) - 1) * np.exp(2 * mu + s2)
    assert lognormal_mode(mean, var) == pytest.approx(np.exp(mu - s2), rel=1e-12)
    assert 0 < float(noise_mass_below(torch.tensor(0.004), loc[:1], scale[:1])) < 0.5


def _toy_composite(n, rng):
    """Latent z (2-D), error e ~ log-normal, dissimilarity d correlated with e."""
    z = rng.normal(size=(n, 2))
    e = np.exp(rng.normal(-6, 0.4, size=n) + 0.2 * z[:, 0])
    d = 2 * e * np.exp(rng.normal(0, 0.1, size=n))
    return np.column_stack([z, e, d])


COLS = ["z_0", "z_1", "recon_error", "cos_dissim"]


def test_augmented_samples_in_batches_stay_in_zero_to_mode():
    rng = np.random.default_rng(0)
    model = NCEDensity(**{**FAST, "epochs": 2}).fit(_toy_composite(500, rng), columns=COLS)
    batch = torch.tensor(_toy_composite(256, rng))
    out = model._augment(batch, torch.Generator().manual_seed(0))
    changed = (out[:, 2] != batch[:, 2])
    assert int(changed.sum()) == 128  # half of the batch
    for k, name in ((2, "recon_error"), (3, "cos_dissim")):
        assert (out[changed, k] >= 0).all() and (out[changed, k] <= model.modes_[name]).all()
    torch.testing.assert_close(out[:, :2], batch[:, :2])  # real latents kept


@pytest.mark.slow  # two densities of 80 epochs: about 22 s
def test_score_does_not_fall_as_error_falls_below_mode_with_augmentation():
    rng = np.random.default_rng(0)
    data = _toy_composite(3000, rng)
    fits = {aug: NCEDensity(epochs=40, batch_size=256, device="cpu", seed=0, augment=aug).fit(data, columns=COLS)
            for aug in (True, False)}
    cance, cnce = fits[True], fits[False]
    m, m_d = cance.modes_["recon_error"], cance.modes_["cos_dissim"]
    grid = np.linspace(m, 0, 40)  # recon_error falling from the mode to 0
    rows = np.column_stack([np.zeros((40, 2)), grid, np.full(40, 0.9 * m_d)])
    # Default scoring of an augmented model: never rises as the error falls.
    assert np.all(np.diff(cance.score_samples(rows)) <= 1e-9)
    # The augmentation itself already does most of the work: raw (unfloored)
    # scores rise far less towards zero error than without augmentation.
    rise = {k: f.score_samples(rows, floor=False)[-1] - f.score_samples(rows, floor=False)[0]
            for k, f in fits.items()}
    assert rise[True] < 0.5 * rise[False], rise
    assert all(r["min_density_ratio"] >= 1 for r in cance.augmentation_report())
    # CNCE has no floor by default.
    assert not np.array_equal(cnce.score_samples(rows), cnce.score_samples(rows, floor=True))


@pytest.mark.slow  # 4,000 rows x 80 epochs: about 27 s
def test_nce_recovers_a_known_gaussian_mixture():
    rng = np.random.default_rng(0)
    means = np.array([[-2.0, 0.0], [2.0, 1.0]])
    x = np.concatenate([rng.normal(means[0], [0.6, 1.0], size=(2000, 2)),
                        rng.normal(means[1], [1.0, 0.5], size=(2000, 2))])
    model = NCEDensity(epochs=80, batch_size=256, augment=False, device="cpu").fit(x)
    gx, gy = np.meshgrid(np.linspace(-3.5, 3.5, 30), np.linspace(-2, 2.5, 30))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    true = np.log(0.5 * multivariate_normal(means[0], np.diag([0.36, 1.0])).pdf(grid)
                  + 0.5 * multivariate_normal(means[1], np.diag([1.0, 0.25])).pdf(grid))
    estimated = -model.score_samples(grid)
    assert np.corrcoef(true, estimated)[0, 1] > 0.95
    # ... and the NCE density is closer to the truth than the single Gaussian it starts from.
    gauss = -model.gaussian_score(grid)
    assert np.corrcoef(true, estimated)[0, 1] > np.corrcoef(true, gauss)[0, 1]


def test_ablation_switches_and_reproducibility(tmp_path):
    rng = np.random.default_rng(0)
    data = _toy_composite(600, rng)
    fast = {**FAST, "epochs": 12}  # four fits: the switches, not the fit's quality, are tested
    fixed = NCEDensity(**fast, learn_noise=False).fit(data, columns=COLS)
    assert np.array_equal(fixed.noise_scale_, np.ones(4))
    plain = NCEDensity(**fast, augment=False).fit(data, columns=COLS)
    assert not plain.augment_applied_ and plain.summary()["augmentation"] == []
    learned = NCEDensity(**fast).fit(data, columns=COLS)
    assert learned.augment_applied_ and not np.allclose(learned.noise_scale_, 1.05, atol=1e-4)
    again = NCEDensity(**fast).fit(data, columns=COLS)
    np.testing.assert_array_equal(learned.score_samples(data), again.score_samples(data))
    learned.save(tmp_path / "n.safetensors")
    back = NCEDensity.load(tmp_path / "n.safetensors")
    np.testing.assert_array_equal(learned.score_samples(data), back.score_samples(data))
    np.testing.assert_array_equal(learned.noise_scale_, back.noise_scale_)


def test_rows_far_outside_the_training_data_score_finite_and_high():
    """A row whose whitened coordinates square past float32's range still gets a finite score."""
    from cance_cli.training.nce import NCEDensity

    rng = np.random.default_rng(0)
    C = np.column_stack([rng.normal(size=(400, 2)), np.exp(rng.normal(-4, 0.3, 400)),
                         np.exp(rng.normal(-3, 0.3, 400))])
    cols = ["z_0", "z_1", "recon_error", "cos_dissim"]
    model = NCEDensity(epochs=2, device="cpu").fit(C, columns=cols)
    far = np.array([[1e14, -1e14, 1e30, 1.0]])
    scores = model.score_samples(np.vstack([C[:5], far]))
    assert np.isfinite(scores).all() and scores[-1] > 1e40 > scores[:5].max()


def test_a_density_fit_leaves_the_process_wide_generators_alone():
    """Densities train in a thread beside the autoencoder (CANCE's views): they must draw only
    from their own seeded generators, or the autoencoder's draws would depend on timing."""
    import torch

    from cance_cli.training.nce import NCEDensity

    rng = np.random.default_rng(0)
    rows = rng.normal(size=(300, 4))
    torch.manual_seed(123)
    np.random.seed(7)
    before_torch, before_np = torch.get_rng_state(), np.random.get_state()[1].copy()
    first = NCEDensity(hidden=16, epochs=2, seed=3, device="cpu").fit(rows)
    assert torch.equal(torch.get_rng_state(), before_torch)
    np.testing.assert_array_equal(np.random.get_state()[1], before_np)
    torch.manual_seed(999)  # another global state: the same density
    second = NCEDensity(hidden=16, epochs=2, seed=3, device="cpu").fit(rows)
    np.testing.assert_array_equal(first.score_samples(rows), second.score_samples(rows))


def test_the_scoring_path_of_the_density_network_equals_its_forward():
    from cance_cli.models.density import DensityNet

    net = DensityNet(7, hidden=16, generator=torch.Generator().manual_seed(0))
    for layer in net.correction:  # the last layer starts at zero: give it weights to compare
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.normal_(layer.weight, generator=torch.Generator().manual_seed(1))
    u = torch.randn(50, 7, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        expected = net.correction(u).squeeze(1)
        kept = u.clone()
        np.testing.assert_allclose(net.scoring_correction(u).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
        assert torch.equal(u, kept)  # the in-place activations never touch the input


def test_collinear_columns_are_named_in_a_warning(caplog):
    """L2-normalised rows make the error and the dissimilarity one column up to scale; the density of such
    columns ranked rows in reverse (docs/benchmarks.md), so the fit says so instead of scoring silently."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(600, 3))
    e = np.abs(rng.normal(1, 0.2, 600))
    short = {**FAST, "epochs": 2}  # the warning comes before training
    with caplog.at_level("WARNING", logger="cance"):
        NCEDensity(**short).fit(np.column_stack([z, e, 0.5 * e]), columns=["z_0", "z_1", "z_2", "recon_error",
                                                                          "cos_dissim"])
    assert any("recon_error and cos_dissim are one up to scale" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level("WARNING", logger="cance"):
        NCEDensity(**short).fit(np.column_stack([z, e, 0.5 * e + rng.normal(0, 0.05, 600)]))
    assert not any("up to scale" in r.getMessage() for r in caplog.records)


def test_an_epoch_of_a_large_table_visits_a_fresh_draw_of_at_most_the_cap(monkeypatch):
    from cance_cli import defaults
    from cance_cli.training.trainer import epoch_order

    monkeypatch.setattr(defaults, "EPOCH_MAX_ROWS", 50)
    index = np.arange(1_000, 1_200)
    gen = torch.Generator().manual_seed(0)
    first, batch = epoch_order(index, gen, seed=0, epoch=0, batch_size=16)
    second, _ = epoch_order(index, gen, seed=0, epoch=1, batch_size=16)
    assert batch == 16 and len(first) == len(second) == 50
    assert set(first) <= set(index) and len(set(first)) == 50  # rows of the table, none twice
    assert set(first) != set(second)  # each epoch draws again
    small, _ = epoch_order(index[:40], gen, seed=0, epoch=0, batch_size=16)
    assert sorted(small) == list(index[:40])  # below the cap: every row, as before
    settings = defaults.choose_settings("table", 1_000, (5,))
    assert any("an epoch visits 50 of the N rows" in line for line in settings["rule"])
