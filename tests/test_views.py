"""The views a model scores from (composite / input / knn), the shape rule that
chooses them, their combination, and their round trip through the model folder."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from cance_cli.errors import ConfigError, DataError
from cance_cli.registry import load_part, save_part
from cance_cli.views.fusion import choose_views, combine, parse_views, robust_scale
from cance_cli.views.input_map import InputCoordinates
from cance_cli.views.knn import KNNDistance
from tests.conftest import cli, one_error_line
from tests.test_fit_predict import FAST, _blobs, _csv

SMALL = {"ae_epochs": 2, "decoder_epochs": 1, "nce_epochs": 3, "hidden": 16, "device": "cpu", "threshold_folds": 0}


@pytest.mark.parametrize(("kind", "width", "fmap", "expected"), [
    ("table", 5, "autoencoder", ["input"]),
    ("table", 16, "autoencoder", ["input"]),
    ("table", 17, "autoencoder", ["composite", "input", "knn"]),
    ("table", 300, "pca", ["composite", "knn"]),
    ("image", 784, "autoencoder", ["composite"]),
])
def test_the_shape_rule_chooses_the_views(kind, width, fmap, expected):
    views, reason = choose_views("auto", kind, width, fmap)
    assert views == expected and "views" in reason


def test_given_views_are_parsed_in_canonical_order_and_checked():
    assert parse_views("knn+composite") == ["composite", "knn"]
    with pytest.raises(ConfigError, match="`views` must be"):
        parse_views("composite+lof")
    with pytest.raises(ConfigError, match="need a table"):
        choose_views("input", "image", 784, "autoencoder")
    with pytest.raises(ConfigError, match="precomputed composite features"):
        choose_views("knn", "table", 300, "precomputed")
    assert choose_views("composite+knn", "table", 1280, "pca")[0] == ["composite", "knn"]  # embeddings + neighbours


def test_input_map_drops_constant_and_duplicate_columns_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)) * [1, 100, 0.01, 1]
    x = np.column_stack([x, np.full(200, 7.0), x[:, 0]])  # a constant and a duplicated column
    m = InputCoordinates().fit(x)
    p = m.transform(x)
    assert p.shape == (200, 4)
    np.testing.assert_allclose(np.cov(p.T), np.diag(np.diag(np.cov(p.T))), atol=1e-8)  # principal axes
    save_part(m, tmp_path / "im.safetensors")
    np.testing.assert_allclose(load_part(tmp_path / "im.safetensors").transform(x), p)
    with pytest.raises(DataError, match="columns"):
        m.transform(x[:, :5])


def test_input_map_without_standardising_keeps_the_rows_own_distances(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 6)) * [1, 10, 0.1, 1, 1, 3]
    m = InputCoordinates(all_directions=True, standardise=False).fit(x)
    d = lambda a: np.linalg.norm(a[:, None] - a[None], axis=2)  # noqa: E731
    np.testing.assert_allclose(d(m.transform(x[:15])), d(x[:15]), atol=1e-8)  # the columns' own scale
    save_part(m, tmp_path / "im.safetensors")
    np.testing.assert_allclose(load_part(tmp_path / "im.safetensors").transform(x), m.transform(x))


def test_input_map_rest_coordinate_is_the_length_outside_the_kept_directions(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12))
    m = InputCoordinates(max_components=5, residual=True).fit(x)
    p = m.density_coordinates(x)
    assert p.shape == (300, 6) and m.columns[-1] == "p_rest"
    z = (x - m.mean_) / m.scale_
    outside = z - (z @ m.components_.T) @ m.components_
    np.testing.assert_allclose(p[:, 5], np.linalg.norm(outside, axis=1), rtol=1e-6)
    save_part(m, tmp_path / "im.safetensors")
    np.testing.assert_allclose(load_part(tmp_path / "im.safetensors").density_coordinates(x), p)
    # Nothing outside when every usable direction is kept: no extra coordinate.
    assert InputCoordinates(residual=True).fit(x).density_coordinates(x).shape == (300, 12)
    # The neighbour view may read every direction while the density reads 5: distances as in the table.
    every = InputCoordinates(max_components=5, all_directions=True).fit(x)
    assert every.transform(x).shape == (300, 12) and every.density_coordinates(x).shape == (300, 5)
    z = (x - x.mean(0)) / x.std(0)
    d = lambda a: np.linalg.norm(a[:, None] - a[None], axis=2)  # noqa: E731
    np.testing.assert_allclose(d(every.transform(x[:20])), d(z[:20]), atol=1e-8)
    save_part(every, tmp_path / "every.safetensors")
    back = load_part(tmp_path / "every.safetensors")
    assert back.n_density_ == 5 and back.transform(x).shape == (300, 12)


def test_knn_training_scores_leave_the_row_out_and_far_rows_score_higher(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 3)).astype(np.float32)
    knn = KNNDistance(k=5).fit(x)
    dist = np.linalg.norm(x[:, None] - x[None], axis=2)
    np.fill_diagonal(dist, np.inf)
    expected = np.log(np.sort(dist, axis=1)[:, 4] + 1e-12)
    np.testing.assert_allclose(knn.training_scores_, expected, atol=1e-4)
    far = knn.score_samples(x[:10] + 10)
    assert far.min() > knn.training_scores_.max()
    save_part(knn, tmp_path / "knn.safetensors")
    np.testing.assert_allclose(load_part(tmp_path / "knn.safetensors").score_samples(x[:10] + 10), far)
    with pytest.raises(DataError, match="too few"):
        KNNDistance(k=5).fit(x[:5])
    # Above max_rows a sample is kept; rows left out are scored against it like new rows.
    capped = KNNDistance(k=5, max_rows=100, seed=0).fit(x)
    assert len(capped.rows_) == 100 and capped.training_scores_.shape == (300,)
    left_out = ~np.isin(x, capped.rows_).all(axis=1)
    np.testing.assert_allclose(capped.training_scores_[left_out], capped.score_samples(x[left_out]), rtol=1e-6)
    # Without the left-out rows only the kept ones are scored, with the same leave-one-out scores.
    kept_only = KNNDistance(k=5, max_rows=100, seed=0).fit(x, score_left_out=False)
    np.testing.assert_array_equal(kept_only.rows_, capped.rows_)
    np.testing.assert_allclose(kept_only.training_scores_, capped.training_scores_[~left_out], rtol=1e-6)


def test_combination_puts_views_on_one_scale_and_keeps_a_single_view_raw():
    rng = np.random.default_rng(2)
    train = {"composite": rng.normal(5, 3, 500), "input": rng.normal(-20, 10, 500), "knn": rng.normal(1, 0.1, 500)}
    cal = {v: robust_scale(s) for v, s in train.items()}
    fused = combine(train, cal)
    assert abs(np.median(fused)) < 0.5  # each view centred on its training median
    # Raising any one view's score raises the combined score.
    for view in train:
        bumped = {v: s + (1.0 if v == view else 0.0) for v, s in train.items()}
        assert (combine(bumped, cal) > fused).all()
    only = {"input": train["input"]}
    np.testing.assert_array_equal(combine(only, {"input": cal["input"]}), train["input"])


def test_wide_table_fits_three_views_scores_anomalies_and_round_trips(tmp_path):
    from cance_cli import CANCE

    x, y = _blobs(n_normal=500, n_anom=40, width=20, seed=3)
    est = CANCE(**SMALL).fit(x[:400])
    assert est.views_ == ["composite", "input", "knn"] and set(est.calibration_) == set(est.views_)
    scores = est.score_samples(x[400:])
    assert roc_auc_score(y[400:], scores) > 0.95
    parts = est.view_scores(x[400:])
    np.testing.assert_allclose(combine(parts, est.calibration_), scores)
    est.save(tmp_path / "model")
    files = set(json.loads((tmp_path / "model" / "manifest.json").read_text())["files"])
    assert files == {"ae.safetensors", "nce.safetensors", "input-map.safetensors", "input-nce.safetensors",
                     "knn.safetensors"}
    np.testing.assert_allclose(CANCE.load(tmp_path / "model").score_samples(x[400:]), scores, rtol=1e-6)


@pytest.mark.parametrize("child", [True, False], ids=["forked-child", "thread"])
def test_wide_table_views_fitted_side_by_side_equal_one_after_the_other(child, monkeypatch):
    """On a CPU the two tracks (autoencoder + composite density; input density +
    neighbours) train side by side, the second in a forked child (Linux) or in a
    thread: the model is the one a sequential fit gives."""
    import torch

    from cance_cli import CANCE
    from cance_cli.runtime import concurrent
    from cance_cli.runtime.concurrent import torch_threads

    if child and not concurrent.can_fork():
        pytest.skip("forking a child process needs Linux")
    monkeypatch.setattr(concurrent, "can_fork", lambda: child)
    x, _ = _blobs(n_normal=300, n_anom=0, width=20, seed=4)
    before = torch.get_num_threads()
    with torch_threads(2):
        side_by_side = CANCE(**SMALL).fit(x)
        again = CANCE(**SMALL).fit(x)
    with torch_threads(1):  # one torch thread: the tracks run one after the other
        sequential = CANCE(**SMALL).fit(x)
    assert torch.get_num_threads() == before
    np.testing.assert_array_equal(side_by_side.decision_scores_, again.decision_scores_)
    np.testing.assert_allclose(side_by_side.decision_scores_, sequential.decision_scores_, rtol=1e-6)
    assert side_by_side.density_ is not None and side_by_side.input_density_ is not None
    np.testing.assert_allclose(side_by_side.score_samples(x[:50]), sequential.score_samples(x[:50]), rtol=1e-6)


def test_narrow_table_uses_the_input_density_alone():
    from cance_cli import CANCE

    x, y = _blobs(n_normal=400, n_anom=30, width=6, seed=4)
    est = CANCE(**SMALL).fit(x[:300])
    assert est.views_ == ["input"] and est.autoencoder_ is None and est.density_ is None
    scores = est.score_samples(x[300:])
    np.testing.assert_allclose(scores, est.input_density_.score_samples(est.input_map_.transform(x[300:])))
    assert roc_auc_score(y[300:], scores) > 0.95


def test_predict_writes_each_views_score_for_a_wide_table(tmp_path):
    x, y = _blobs(n_normal=400, n_anom=20, width=20, seed=5)
    _csv(tmp_path / "train.csv", x[:300])
    _csv(tmp_path / "test.csv", x[300:], y[300:])
    fit = cli("fit", tmp_path / "train.csv", "--out", tmp_path / "model", *FAST)
    assert fit.exit_code == 0, fit.output
    assert "views composite + input + knn" in fit.stdout
    out = tmp_path / "s.parquet"
    assert cli("predict", tmp_path / "test.csv", "--model", tmp_path / "model", "--out", out, "-q").exit_code == 0
    t = pq.read_table(out)
    assert t.column_names == ["id", "label", "score", "is_flagged", "score_composite", "score_input", "score_knn"]


def test_bad_views_option_is_one_sentence_and_exit_2(tmp_path):
    x, _ = _blobs(n_normal=100, n_anom=0, width=6)
    _csv(tmp_path / "train.csv", x)
    for extra in (["--views", "lof"], ["--views", "input+lof"], ["--knn", "0"]):
        result = cli("fit", tmp_path / "train.csv", "--out", tmp_path / "model", *extra, *FAST)
        assert result.exit_code == 2, (extra, result.output)
        one_error_line(result)
    assert not (tmp_path / "model").exists()


def test_a_format_1_model_folder_still_loads_as_the_composite_view(tmp_path):
    from cance_cli import CANCE

    x, _ = _blobs(n_normal=200, n_anom=0, width=6, seed=6)
    est = CANCE(views="composite", **SMALL).fit(x)
    est.save(tmp_path / "model")
    path = tmp_path / "model" / "manifest.json"
    doc = json.loads(path.read_text())
    for key in ("views", "calibration"):
        del doc[key]
    for key in ("input_map", "input_density", "knn"):
        del doc["stages"][key]
    doc["format_version"] = 1
    path.write_text(json.dumps(doc))
    old = CANCE.load(tmp_path / "model")
    assert old.views_ == ["composite"]
    np.testing.assert_allclose(old.score_samples(x), est.score_samples(x), rtol=1e-6)


def test_latent_only_density_keeps_to_the_composite_view():
    from cance_cli import CANCE

    x, _ = _blobs(n_normal=200, n_anom=0, width=6, seed=7)
    est = CANCE(features="latent", **SMALL).fit(x)
    assert est.views_ == ["composite"] and est.density_.columns_ == ["z_0", "z_1"]


def test_the_composite_density_leaves_out_a_column_that_repeats_another(tmp_path, caplog):
    """L2-normalised embeddings made the error and dissimilarity columns one up to scale, and the density over
    both ranked rows in reverse; the density keeps one of them, says so, and scores the same after a reload."""
    from cance_cli.estimator import CANCE

    rng = np.random.default_rng(0)
    e = 0.1 * np.exp(0.3 * rng.normal(size=800))
    C = np.c_[rng.normal(size=(800, 3)), e, 0.5 * e]  # cos_dissim = recon_error / 2
    with caplog.at_level("WARNING", logger="cance"):
        est = CANCE(feature_map="precomputed", nce_epochs=3, threshold_folds=0, device="cpu").fit(C)
    assert est.density_.columns_ == ["z_0", "z_1", "z_2", "recon_error"]
    assert "leaves out cos_dissim" in caplog.text and any("cos_dissim" in r for r in est.settings_["rule"])
    scores = est.score_samples(C[:50])
    est.save(tmp_path / "model")
    np.testing.assert_allclose(CANCE.load(tmp_path / "model").score_samples(C[:50]), scores, rtol=1e-6)
    kept = CANCE(feature_map="precomputed", nce_epochs=3, threshold_folds=0, device="cpu").fit(
        np.c_[C[:, :4], rng.gamma(2.0, 0.05, size=800)])  # a dissimilarity of its own stays
    assert kept.density_.columns_[-1] == "cos_dissim"


def test_dequantised_rows_spread_lattice_columns_over_their_cells_and_leave_the_rest():
    """The measured (not adopted) dequantisation switch of the input density (docs/benchmarks.md)."""
    from cance_cli.views.input_map import dequantized

    rng = np.random.default_rng(0)
    codes = rng.integers(1, 5, 500).astype(float)  # a lattice of step 1
    binary = rng.integers(0, 2, 500) * 2.0  # step 2
    floats = rng.normal(size=500)
    counts = rng.integers(0, 1000, 500).astype(float)  # integers, but more levels than a lattice of codes
    out = dequantized(np.column_stack([codes, binary, floats, counts]), seed=0)
    assert np.all(np.abs(out[:, 0] - codes) <= 0.5) and out[:, 0].std() > codes.std()
    assert np.all(np.abs(out[:, 1] - binary) <= 1.0) and len(np.unique(out[:, 1])) == 500
    np.testing.assert_array_equal(out[:, 2:], np.column_stack([floats, counts]))
    np.testing.assert_array_equal(out, dequantized(np.column_stack([codes, binary, floats, counts]), seed=0))
