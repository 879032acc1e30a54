"""`cance fit` / `cance predict`, the model folder, and the estimator as a
scikit-learn and PyOD citizen."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from tests.conftest import cli, one_error_line

# Small settings: the checks fit dozens of times.
SMALL = {"ae_epochs": 2, "decoder_epochs": 1, "ae_batch_size": 16, "nce_epochs": 3, "nce_batch_size": 32,
         "hidden": 16, "device": "cpu", "threshold_folds": 0}  # the cross-fitted threshold has its own tests
FAST = ["--epochs", "3", "--decoder-epochs", "1", "--nce-epochs", "5", "--threshold-folds", "0", "-q"]


def _blobs(n_normal=300, n_anom=30, width=8, seed=0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0, 1, (n_normal, width)), rng.normal(4, 1, (n_anom, width))]).astype(np.float32)
    return x, np.array([0] * n_normal + [1] * n_anom)


def _csv(path, x, y=None):
    names = [f"f{j}" for j in range(x.shape[1])]
    with open(path, "w") as fh:
        fh.write(",".join(names + (["label"] if y is not None else [])) + "\n")
        for i, row in enumerate(x):
            fh.write(",".join(f"{v:.5f}" for v in row) + (f",{y[i]}" if y is not None else "") + "\n")
    return path


# --------------------------------------------------------------------------- scikit-learn


# Each expected failure with its reason: cance follows PyOD's conventions, which
# scikit-learn's outlier-detector checks do not share.
EXPECTED_FAILED_CHECKS = {
    "check_outliers_fit_predict": "predict returns 1 for anomalies and 0 for normal rows (PyOD's convention), "
                                  "not scikit-learn's -1/+1",
    "check_outliers_train": "predict returns 0/1 (PyOD), and score_samples/decision_function are higher = more "
                            "anomalous (PyOD), the opposite sign of scikit-learn's",
}


def test_check_estimator_passes_but_for_the_pyod_sign_conventions():
    from sklearn.utils.estimator_checks import check_estimator

    from cance_cli import CANCE

    results = check_estimator(CANCE(**SMALL), expected_failed_checks=EXPECTED_FAILED_CHECKS, on_fail=None)
    bad = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not bad, bad
    xfail = {r["check_name"] for r in results if r["status"] == "xfail"}
    assert xfail <= set(EXPECTED_FAILED_CHECKS)
    assert sum(r["status"] == "passed" for r in results) >= 40


def test_clone_set_params_and_not_fitted():
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    from cance_cli import CANCE

    est = CANCE(latent=3, ratio=5.0, device="cpu")
    copy = clone(est)
    assert copy.get_params() == est.get_params() and copy is not est
    assert est.set_params(ratio=7.0) is est and est.ratio == 7.0
    assert "latent" in est.get_params(deep=True)
    with pytest.raises(NotFittedError):
        est.score_samples(np.zeros((3, 4)))


def test_pipeline_fit_score_predict():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from cance_cli import CANCE

    x, y = _blobs()
    pipe = make_pipeline(StandardScaler(), CANCE(**{**SMALL, "nce_epochs": 10}))
    pipe.fit(x[y == 0])
    scores = pipe.score_samples(x)
    assert scores.shape == (len(x),) and roc_auc_score(y, scores) > 0.9
    np.testing.assert_allclose(pipe.decision_function(x), scores)
    assert set(np.unique(pipe.predict(x))) <= {0, 1}


def test_dataframe_names_are_remembered_realigned_and_checked():
    pd = pytest.importorskip("pandas", reason="pandas is not installed (the test extra brings it)")
    from cance_cli import CANCE

    x, y = _blobs(width=4)
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    est = CANCE(**SMALL).fit(frame[y == 0])
    assert list(est.feature_names_in_) == ["a", "b", "c", "d"] and est.n_features_in_ == 4
    np.testing.assert_allclose(est.score_samples(frame[["d", "c", "b", "a"]]), est.score_samples(frame))
    with pytest.raises(ValueError, match="feature names"):
        est.score_samples(frame.rename(columns={"a": "z"}))
    with pytest.raises(ValueError, match="features"):
        est.score_samples(x[:, :3])


# --------------------------------------------------------------------------- PyOD


def test_pyod_attributes_and_methods():
    from cance_cli import CANCE

    x, y = _blobs()
    est = CANCE(**{**SMALL, "contamination": 0.1})
    labels = est.fit_predict(x[y == 0])
    n = int((y == 0).sum())
    assert est.decision_scores_.shape == (n,) and labels is est.labels_
    assert abs(est.labels_.mean() - 0.1) < 0.02
    np.testing.assert_array_equal(est.labels_, (est.decision_scores_ > est.threshold_).astype(int))
    for method in ("linear", "unify"):
        proba = est.predict_proba(x, method=method)
        assert proba.shape == (len(x), 2) and np.allclose(proba.sum(axis=1), 1) and (proba >= 0).all()
        assert proba[y == 1, 1].mean() > proba[y == 0, 1].mean()


def test_switch_from_a_pyod_detector_in_five_lines():
    """The README's five lines, with PyOD's KNN swapped for CANCE."""
    x, y = _blobs(seed=3)
    X_train, X_test = x[:200], x[200:]
    from cance_cli import CANCE  # was: from pyod.models.knn import KNN

    clf = CANCE(contamination=0.1, device="cpu")  # was: clf = KNN(contamination=0.1)
    clf.fit(X_train)
    train_scores, test_scores = clf.decision_scores_, clf.decision_function(X_test)
    test_labels = clf.predict(X_test)
    assert train_scores.shape == (200,) and roc_auc_score(y[200:], test_scores) > 0.95
    assert set(np.unique(test_labels)) <= {0, 1}


# --------------------------------------------------------------------------- cance fit / predict


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fit")
    x, y = _blobs(n_normal=600, n_anom=40)
    _csv(folder / "train.csv", x[:400], y[:400])  # 400 normal rows
    _csv(folder / "test.csv", x[400:], y[400:])  # 200 normal + 40 anomalies
    model = folder / "model"
    # The paper's pipeline alone: its stage checkpoints are checked against the stage commands below.
    result = cli("fit", folder / "train.csv", "--normal", "0", "--out", model, "--fpr", "0.05", "--json",
                 "--views", "composite", *FAST)
    assert result.exit_code == 0, result.output
    return folder, model, json.loads(result.stdout[result.stdout.index("{"):])


def test_fit_writes_a_model_folder_with_manifest_and_stage_checkpoints(labelled):
    folder, model, summary = labelled
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["format"] == "cance-model" and set(manifest["files"]) == {"ae.safetensors", "nce.safetensors"}
    assert manifest["schema"]["columns"] == [f"f{j}" for j in range(8)]
    assert manifest["threshold"]["method"] == "fpr" and manifest["threshold"]["level"] == 0.05
    assert manifest["settings"]["latent"] == 2 and "latent" in manifest["settings"]["chosen"]
    assert summary["settings"]["ae_epochs"] == 3 and "ae_epochs" not in summary["chosen_by_rule"]
    # The stage checkpoints work with the stage commands.
    feats = folder / "feats.parquet"
    assert cli("features", folder / "test.csv", "--ae", model / "ae.safetensors", "--out", feats, "-q").exit_code == 0
    staged = cli("score", feats, "--nce", model / "nce.safetensors", "--out", folder / "staged.parquet", "-q")
    assert staged.exit_code == 0, staged.output


def test_predict_labelled_csv_flags_and_matches_the_api(labelled):
    from cance_cli import CANCE
    from cance_cli.data import load_data

    folder, model, _ = labelled
    out = folder / "pred.parquet"
    result = cli("predict", folder / "test.csv", "--model", model, "--out", out, "--json", "-q")
    assert result.exit_code == 0, result.output
    t = pq.read_table(out)
    assert t.column_names == ["id", "label", "is_anomaly", "score", "is_flagged"] and t.num_rows == 240
    y, s = t.column("is_anomaly").to_numpy(), t.column("score").to_numpy()
    assert roc_auc_score(y, s) > 0.95
    est = CANCE.load(model)
    np.testing.assert_allclose(est.score_samples(load_data(str(folder / "test.csv"))), s, rtol=1e-6)
    assert json.loads(result.stdout)["threshold"] == est.threshold_
    # --fpr 0.05 on held-out normal rows: about 5% of new normal rows are flagged.
    flagged_normal = t.column("is_flagged").to_numpy()[y == 0].mean()
    assert 0.0 < flagged_normal < 0.15
    override = cli("predict", folder / "test.csv", "--model", model, "--out", folder / "p2.parquet",
                   "--threshold", "-1e9", "-q")
    assert override.exit_code == 0 and pq.read_table(folder / "p2.parquet").column("is_flagged").to_numpy().all()


def test_predict_unlabelled_csv(labelled, tmp_path):
    folder, model, _ = labelled
    x, _ = _blobs(n_normal=50, n_anom=5, seed=9)
    _csv(tmp_path / "new.csv", x)
    result = cli("predict", tmp_path / "new.csv", "--model", model, "--out", tmp_path / "s.parquet", "-q")
    assert result.exit_code == 0, result.output
    t = pq.read_table(tmp_path / "s.parquet")
    assert t.column_names == ["id", "score", "is_flagged"] and t.num_rows == 55
    assert t.column("is_flagged").to_numpy()[50:].sum() >= 4  # the shifted rows are flagged


def test_fpr_flags_about_five_percent_of_held_out_normal_rows():
    from cance_cli import CANCE

    x, _ = _blobs(n_normal=4000, n_anom=0, width=6, seed=4)
    est = CANCE(**{**SMALL, "nce_epochs": 10}, fpr=0.05, calibration_fraction=0.5).fit(x[:3000])
    assert est.threshold_info_ == {"method": "fpr", "level": 0.05, "rows": 1500}
    assert abs(est.predict(x[3000:]).mean() - 0.05) < 0.03  # new normal rows


def test_the_default_threshold_comes_from_out_of_fold_scores_and_flags_the_stated_share():
    from cance_cli import CANCE

    x, _ = _blobs(n_normal=3000, n_anom=0, width=6, seed=4)
    est = CANCE(**{**SMALL, "nce_epochs": 10, "threshold_folds": "auto"}, contamination=0.1).fit(x[:1000])
    info = est.threshold_info_
    assert {k: info[k] for k in ("method", "level", "rows", "folds", "scores")} == {
        "method": "contamination", "level": 0.1, "rows": 1000, "folds": 5, "scores": "out-of-fold"}
    assert est.threshold_ == info["by_rule"][info["rule"]] and set(info["by_rule"]) == {"scores", "centred", "levels"}
    assert abs(est.predict(x[1000:]).mean() - 0.1) < 0.03  # new normal rows
    for threshold in info["by_rule"].values():  # either rule flags about the stated share here
        assert abs((est.score_samples(x[1000:]) > threshold).mean() - 0.1) < 0.03
    few = CANCE(**{**SMALL, "threshold_folds": 2}).fit(x[:60])
    assert few.threshold_info_["folds"] == 2 and few.threshold_info_["rows"] == 60


def test_a_block_of_repeated_rows_is_said_instead_of_a_share_no_threshold_can_flag(tmp_path):
    x, _ = _blobs(n_normal=100, n_anom=0, width=6, seed=5)
    x = np.concatenate([x, np.repeat(x[:1], 300, axis=0)])  # 301 of 400 rows are one row, as in KDD Cup traffic
    result = cli("fit", _csv(tmp_path / "t.csv", x), "--no-label", "--out", tmp_path / "m", *FAST, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    repeated = summary["threshold_method"]["repeated_rows"]
    assert repeated["largest_block"] == pytest.approx(301 / 400)
    assert summary["expected_flagged_share"] == repeated["training_share_above"] < 0.25  # never 10 % exactly
    assert "share one score (repeated rows)" in result.stderr
    plain = cli("fit", _csv(tmp_path / "p.csv", x[:100]), "--no-label", "--out", tmp_path / "p", *FAST)
    assert plain.exit_code == 0 and "repeated rows" not in plain.output and "about 10 % flagged" in plain.stdout


def test_the_cross_fit_does_not_repeat_the_fits_warnings_once_per_fold(caplog):
    from cance_cli import CANCE

    x, _ = _blobs(n_normal=200, n_anom=0, width=6, seed=4)
    with caplog.at_level("WARNING", logger="cance"):
        CANCE(**{**SMALL, "threshold_folds": 3}).fit(x)
    said = [r.getMessage() for r in caplog.records]
    assert said and len(said) == len(set(said)), said  # the full fit's warnings, each once


def test_model_folder_round_trips_between_api_and_cli(tmp_path):
    from cance_cli import CANCE
    from cance_cli.data import load_data

    train, test = load_data("builtin:digits", "train"), load_data("builtin:digits", "test")
    est = CANCE(latent=4, ae_epochs=5, decoder_epochs=1, nce_epochs=5, device="cpu").fit(
        train.subset(np.flatnonzero(train.y == 0)))
    est.save(tmp_path / "m", {"normal_classes": ["0"]})
    result = cli("predict", "builtin:digits", "--split", "test", "--model", tmp_path / "m", "--out",
                 tmp_path / "p.parquet", "-q")
    assert result.exit_code == 0, result.output
    t = pq.read_table(tmp_path / "p.parquet")
    np.testing.assert_allclose(t.column("score").to_numpy(), est.score_samples(test), rtol=1e-6)
    assert roc_auc_score(t.column("is_anomaly").to_numpy(), t.column("score").to_numpy()) > 0.8
    back = CANCE.load(tmp_path / "m")
    np.testing.assert_allclose(back.score_samples(test), est.score_samples(test), rtol=1e-6)
    np.testing.assert_allclose(back.predict_proba(test), est.predict_proba(test), rtol=1e-6)


def test_fit_builtin_digits_and_refusals(tmp_path):
    model = tmp_path / "digits-model"
    result = cli("fit", "builtin:digits", "--normal", "1", "--out", model, *FAST)
    assert result.exit_code == 0, result.output
    assert "latent = 8" in result.output
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    line = one_error_line(cli("fit", "builtin:digits", "--out", tmp_path / "notes", *FAST))
    assert "other files" in line and (tmp_path / "notes" / "keep.txt").read_text() == "mine"
    line = one_error_line(cli("predict", "builtin:digits", "--model", tmp_path / "none", "--out",
                              tmp_path / "p.parquet"))
    assert "does not exist" in line
    (model / "nce.safetensors").write_bytes((model / "nce.safetensors").read_bytes()[:-8] + b"\0" * 8)
    line = one_error_line(cli("predict", "builtin:digits", "--model", model, "--out", tmp_path / "p.parquet"))
    assert "changed after the model was written" in line
    line = one_error_line(cli("fit", "builtin:digits", "--fpr", "1.5", "--out", tmp_path / "m2"))
    assert "--fpr" in line
    for target in ("nce.safetensors", "manifest.json", "new.parquet"):
        line = one_error_line(cli("predict", "builtin:digits", "--model", model, "--out", model / target))
        assert "inside the model folder" in line or "also an input" in line
    line = one_error_line(cli("predict", "builtin:digits", "--model", model / "manifest.json"))
    assert "is a file, not a model folder" in line


def test_config_file_sets_options_and_is_recorded(tmp_path):
    from cance_cli.io.checkpoints import read_checkpoint_meta

    (tmp_path / "cance.toml").write_text('latent = 3\n[train-ae]\nepochs = 2\ndecoder-epochs = 1\n[fit]\nfpr = 0.1\n')
    ae = tmp_path / "ae.safetensors"
    result = cli("train-ae", "builtin:digits", "--normal", "0", "--config", tmp_path / "cance.toml", "--out", ae,
                 "--decoder-epochs", "0", "--json", "-q")
    assert result.exit_code == 0, result.output
    meta = read_checkpoint_meta(ae)
    assert meta["params"]["latent"] == 3 and meta["params"]["epochs"] == 2
    assert meta["params"]["decoder_epochs"] == 0  # the command line wins over the file
    assert meta["run"]["config_file"] == str(tmp_path / "cance.toml")
    assert meta["run"]["options"]["latent"] == 3 and meta["run"]["command"][:2] == ["cance", "train-ae"]
    (tmp_path / "bad.toml").write_text("ratio = 5\n")
    line = one_error_line(cli("train-ae", "builtin:digits", "--config", tmp_path / "bad.toml"))
    assert "'ratio', which is not an option of `cance train-ae`" in line
    (tmp_path / "broken.toml").write_text("latent = \n")
    assert "not valid TOML" in one_error_line(cli("fit", "builtin:digits", "--config", tmp_path / "broken.toml"))


def test_evaluate_json_is_always_a_list(labelled):
    folder, model, _ = labelled
    out = folder / "eval-pred.parquet"
    assert cli("predict", folder / "test.csv", "--model", model, "--out", out, "-q").exit_code == 0
    result = cli("evaluate", out, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert isinstance(doc, list) and len(doc) == 1 and doc[0]["auroc"] > 0.9


def test_fit_pca_auto_on_an_embedding_table(tmp_path):
    emb = tmp_path / "emb.parquet"
    assert cli("embed", "builtin:digits", "--backbone", "pixels", "--normal", "0", "--out", emb, "-q").exit_code == 0
    result = cli("fit", emb, "--pca", "auto", "--normal", "0", "--out", tmp_path / "m", "--nce-epochs", "5",
                 "--json", "-q")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["stages"]["feature_map"] == "pca.safetensors"
    k = manifest["settings"]["latent"]
    assert 2 <= k <= 64 and any("90%" in line for line in manifest["settings"]["rule"])
    pred = cli("predict", emb, "--model", tmp_path / "m", "--out", tmp_path / "p.parquet", "-q")
    assert pred.exit_code == 0, pred.output
    t = pq.read_table(tmp_path / "p.parquet")
    assert roc_auc_score(t.column("is_anomaly").to_numpy(), t.column("score").to_numpy()) > 0.9


def test_fit_warns_about_few_rows_per_feature(caplog):
    from cance_cli import CANCE

    x, _ = _blobs(n_normal=60, n_anom=0, width=12)
    with caplog.at_level("WARNING", logger="cance"):
        CANCE(**SMALL).fit(x)
    assert any("fewer than 10 per feature" in r.getMessage() for r in caplog.records)


def test_fit_on_images_does_not_count_pixels_as_features(caplog):
    from cance_cli import CANCE

    images = np.random.default_rng(0).random((40, 28, 28)).astype(np.float32)  # 40 rows, 784 pixels
    with caplog.at_level("WARNING", logger="cance"):
        CANCE(**SMALL).fit(images)
    assert not any("per feature" in r.getMessage() for r in caplog.records)


def test_fit_on_a_carved_split_and_predict_the_held_out_rows(tmp_path):
    x, y = _blobs(n_normal=200, n_anom=20)
    _csv(tmp_path / "all.csv", x, y)
    model = tmp_path / "m"
    fitted = cli("fit", tmp_path / "all.csv", "--split", "train", "--test-fraction", "0.3", "--normal", "0",
                 "--out", model, *FAST)
    assert fitted.exit_code == 0, fitted.output
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["test_fraction"] == 0.3 and manifest["n_train_rows"] == 140
    result = cli("predict", tmp_path / "all.csv", "--split", "test", "--model", model, "--out",
                 tmp_path / "p.parquet", "-q")
    assert result.exit_code == 0, result.output
    t = pq.read_table(tmp_path / "p.parquet")
    assert t.num_rows == 66 and int(t.column("is_anomaly").to_numpy().sum()) == 6  # 60 + 6 held out


def test_index_and_id_columns_are_never_features(tmp_path):
    """A CSV saved by pandas with its index (an unnamed first column) and an ID column: neither is a coordinate,
    so the same rows in another order get the same scores."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
    df["ID"] = np.arange(300) * 7
    df["label"] = 0
    df.to_csv(tmp_path / "train.csv")  # writes the index as a column with an empty header
    df.iloc[::-1].reset_index(drop=True).to_csv(tmp_path / "reversed.csv")  # same rows, new index and order
    result = cli("fit", tmp_path / "train.csv", "--normal", "0", "--out", tmp_path / "m", *FAST)
    assert result.exit_code == 0, result.output
    assert "not features (labels, ids, index, excluded): '', 'ID', 'label'" in result.output
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["schema"]["columns"] == list("abcd")
    for name in ("train", "reversed"):
        assert cli("predict", tmp_path / f"{name}.csv", "--model", tmp_path / "m", "--out",
                   tmp_path / f"{name}-s.parquet").exit_code == 0
    forward = pq.read_table(tmp_path / "train-s.parquet").column("score").to_numpy()
    backward = pq.read_table(tmp_path / "reversed-s.parquet").column("score").to_numpy()
    np.testing.assert_allclose(backward[::-1], forward, rtol=1e-6)
    # ... and the ID column is the scores' row identity, as a column named id would be
    ids = pq.read_table(tmp_path / "reversed-s.parquet").column("id").to_numpy()
    np.testing.assert_array_equal(ids, np.arange(300)[::-1] * 7)


def test_npz_in_adbench_naming_and_labels_without_normal_warn(tmp_path, caplog):
    """ADBench's X / y arrays are read; labelled rows without --normal train as they are, with a warning."""
    from cance_cli import CANCE
    from cance_cli.fit_predict import fit_model

    x, y = _blobs(n_normal=200, n_anom=20, width=5)
    np.savez(tmp_path / "adbench.npz", X=x, y=y)
    with caplog.at_level("WARNING", logger="cance"):
        fit_model(tmp_path / "adbench.npz", tmp_path / "m", CANCE(**SMALL))
    assert any("no `normal` was given" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level("WARNING", logger="cance"):
        fit_model(tmp_path / "adbench.npz", tmp_path / "m", CANCE(**SMALL), normal="0")
    assert not any("`normal`" in r.getMessage() for r in caplog.records)
    np.savez(tmp_path / "complex.npz", X=x + 1j, y=y)
    assert "real numbers" in one_error_line(cli("fit", tmp_path / "complex.npz", "--out", tmp_path / "c"))
    np.savez(tmp_path / "wide_y.npz", X=x, y=np.column_stack([y, y]))
    assert "one label per row" in one_error_line(cli("fit", tmp_path / "wide_y.npz", "--out", tmp_path / "c"))


def test_predict_refuses_a_feature_as_label_and_keeps_float_labels(labelled, tmp_path):
    pd = pytest.importorskip("pandas")
    folder, model, _ = labelled
    data = folder / "test.csv"
    line = one_error_line(cli("predict", data, "--model", model, "--label-col", "f0", "--out", tmp_path / "p.parquet"))
    assert "'f0' is one of the columns the model was trained on" in line
    frame = pd.read_csv(data)
    frame["grade"] = np.linspace(0.05, 0.95, len(frame))  # a float label column (e.g. a severity)
    frame.to_csv(tmp_path / "graded.csv", index=False)
    result = cli("predict", tmp_path / "graded.csv", "--model", model, "--label-col", "grade",
                 "--out", tmp_path / "g.parquet")
    assert result.exit_code == 0, result.output
    labels = pq.read_table(tmp_path / "g.parquet").column("label")
    np.testing.assert_allclose(labels.to_numpy(), frame["grade"].to_numpy())


def test_autoencoder_settings_the_views_do_not_use_are_reported(caplog):
    from cance_cli import CANCE

    x, _ = _blobs(n_normal=200, n_anom=0, width=6)  # 6 columns: the input view alone
    with caplog.at_level("WARNING", logger="cance"):
        CANCE(**{**SMALL, "latent": 3}).fit(x)
    assert any("latent, ae_epochs" in r.getMessage() and "unused" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level("WARNING", logger="cance"):
        CANCE(**{**SMALL, "latent": 3, "views": "composite+input"}).fit(x)
    assert not any("unused" in r.getMessage() for r in caplog.records)


def test_a_table_with_fewer_rows_than_columns_fits():
    """50 rows of 200 columns: the input view keeps at most half as many directions as rows."""
    from cance_cli import CANCE

    x = np.random.default_rng(0).normal(size=(50, 200)).astype(np.float32)
    est = CANCE(**SMALL).fit(x)
    assert est.input_map_.n_components_ <= 25
    assert np.isfinite(est.score_samples(x)).all()


def test_the_cli_checks_fit_options_with_the_estimators_own_defaults():
    """`cance fit` checks its options before importing the estimator, filling in CANCE's defaults for the
    parameters it does not set: they must be CANCE's."""
    import inspect

    from cance_cli.cli.fit import FIT_DEFAULTS, OPTION_NAMES
    from cance_cli.estimator import CANCE

    signature = inspect.signature(CANCE).parameters
    assert {k: signature[k].default for k in FIT_DEFAULTS} == FIT_DEFAULTS
    assert set(OPTION_NAMES) <= set(signature)


def test_the_measured_trim_switch_refits_without_the_highest_scoring_rows_and_scores_every_row(monkeypatch):
    """The robust refit measured in the unsupervised setting (docs/benchmarks.md): a switch, off by default."""
    from cance_cli import CANCE, estimator

    x, _ = _blobs(n_normal=300, n_anom=0, width=6, seed=5)
    plain = CANCE(**SMALL).fit(x)
    monkeypatch.setattr(estimator, "TRIM_SHARE", 0.2)
    trimmed = CANCE(**SMALL).fit(x)
    assert trimmed.decision_scores_.shape == (300,) and np.isfinite(trimmed.decision_scores_).all()
    np.testing.assert_allclose(trimmed.decision_scores_, trimmed.score_samples(x), rtol=1e-5, atol=1e-6)
    assert not np.allclose(trimmed.decision_scores_, plain.decision_scores_)
