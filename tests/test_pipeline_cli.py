"""fit-nce, score, evaluate and demo through the CLI runner, plus the estimator."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from cance_cli.io.tables import AtomicParquetWriter
from cance_cli.metrics import detection_metrics
from cance_cli.pipeline import read_normal_rows
from tests.conftest import cli, one_error_line

NCE = ["--epochs", "5", "--batch-size", "64", "-q"]




def write_features(path, n=400, latent=3, seed=0, anomalies=40, nan_row=None):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, latent))
    z[:anomalies] += 4
    e = np.exp(rng.normal(-6, 0.4, n))
    e[:anomalies] *= 3
    d = 2 * e * np.exp(rng.normal(0, 0.1, n))
    cols = {"id": np.arange(n), "label": np.where(np.arange(n) < anomalies, 1, 0),
            "is_anomaly": (np.arange(n) < anomalies).astype(np.int8)}
    cols.update({f"z_{i}": z[:, i].astype(np.float32) for i in range(latent)})
    cols["recon_error"], cols["cos_dissim"] = e.astype(np.float32), d.astype(np.float32)
    if nan_row is not None:
        cols["recon_error"][nan_row] = np.nan
    table = pa.table(cols)
    with AtomicParquetWriter(path, table.schema, {"stage": "features", "latent": latent}) as w:
        w.write({k: v for k, v in cols.items()})
    return path


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nce")
    feats = write_features(folder / "feats.parquet")
    nce = folder / "nce.safetensors"
    result = cli("fit-nce", feats, "--out", nce, "--json", *NCE)
    assert result.exit_code == 0, result.output
    return folder, feats, nce, json.loads(result.stdout)


def test_fit_nce_trains_on_normal_rows_and_records_columns(fitted):
    _, _, nce, summary = fitted
    assert summary["method"] == "CANCE" and summary["columns"] == 5
    assert summary["n_train"] + summary["n_val"] == 360  # the 40 anomalies are left out
    from cance_cli.io.checkpoints import read_checkpoint_meta

    meta = read_checkpoint_meta(nce)
    assert meta["stage"] == "nce" and meta["columns"] == ["z_0", "z_1", "z_2", "recon_error", "cos_dissim"]
    assert len(meta["table_sha256"]) == 64 and meta["seed"] == 0


@pytest.mark.slow  # a full default schedule: about 12 s
def test_fit_nce_without_epochs_takes_about_the_step_budget_of_cance_fit(tmp_path):
    from cance_cli.defaults import nce_epochs_for

    assert [nce_epochs_for(n) for n in (300, 6_000, 54_000, 10_000_000)] == [100, 100, 11, 10]
    feats = write_features(tmp_path / "feats.parquet")  # 360 normal rows: 45 batches of 8
    result = cli("fit-nce", feats, "--out", tmp_path / "nce.safetensors", "--json", "--batch-size", "8", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["epochs"] == nce_epochs_for(360, batch_size=8) == 53


@pytest.mark.parametrize("flags, method, n_cols, augmented", [
    (["--features", "latent"], "LatNCE", 3, False),
    (["--no-augment"], "CNCE", 5, False),
    (["--fixed-noise"], "CANCE-fixed-noise", 5, True),
])
def test_ablation_switches(fitted, flags, method, n_cols, augmented):
    folder, feats, _, _ = fitted
    result = cli("fit-nce", feats, "--out", folder / "abl.safetensors", "--json", *flags, *NCE)
    assert result.exit_code == 0, result.output
    s = json.loads(result.stdout)
    assert (s["method"], s["columns"], s["augmented"]) == (method, n_cols, augmented)
    if "--fixed-noise" in flags:
        assert s["noise_scale"] == [1.0] * 5


def test_score_streams_the_same_scores_for_any_batch_size(fitted):
    folder, feats, nce, _ = fitted
    outs = []
    for bs in (7, 1000):
        out = folder / f"s{bs}.parquet"
        assert cli("score", feats, "--nce", nce, "--out", out, "--batch-size", bs, "-q").exit_code == 0
        outs.append(pq.read_table(out))
    assert outs[0].column_names == ["id", "label", "is_anomaly", "score"]
    # Equal up to float32 rounding (BLAS blocks differently per batch size).
    np.testing.assert_allclose(outs[0].column("score").to_numpy(), outs[1].column("score").to_numpy(), rtol=1e-5)
    assert outs[0].column("id").to_pylist() == list(range(400))
    assert json.loads(outs[0].schema.metadata[b"cance"])["method"] == "CANCE"


def test_score_on_two_threads_writes_the_same_table_in_order(fitted):
    """With two torch threads, record batches are scored in two threads and written in order."""
    from cance_cli.runtime.concurrent import torch_threads

    folder, feats, nce, _ = fitted
    outs = []
    for threads in (1, 2):
        out = folder / f"threads{threads}.parquet"
        with torch_threads(threads):
            assert cli("score", feats, "--nce", nce, "--out", out, "--batch-size", 9, "-q").exit_code == 0
        outs.append(pq.read_table(out))
    assert outs[1].column("id").to_pylist() == list(range(400))
    np.testing.assert_allclose(outs[1].column("score").to_numpy(), outs[0].column("score").to_numpy(), rtol=1e-6)
    bad = write_features(folder / "nan.parquet", nan_row=123)
    with torch_threads(2):
        result = cli("score", bad, "--nce", nce, "--out", folder / "nan-scores.parquet", "--batch-size", 9, "--force")
    assert "row 123" in one_error_line(result) and not (folder / "nan-scores.parquet").exists()


def test_a_checkpoint_scores_the_same_with_or_without_its_estimator(fitted):
    """`cance score` rebuilds the density as a LoadedDensity (no scikit-learn); its
    scores are the estimator's, and the command's process never imports scikit-learn
    or pandas (1.5-2 s and 0.3-0.5 s of start-up here)."""
    import subprocess
    import sys

    from cance_cli.nce.scoring import LoadedDensity
    from cance_cli.training.nce import NCEDensity

    folder, feats, nce, _ = fitted
    table = pq.read_table(feats)
    rows = np.column_stack([table.column(c).to_numpy() for c in ("z_0", "z_1", "z_2", "recon_error", "cos_dissim")])
    loaded, estimator = LoadedDensity.load(nce), NCEDensity.load(nce)
    np.testing.assert_array_equal(loaded.score_samples(rows), estimator.score_samples(rows))
    np.testing.assert_array_equal(loaded.gaussian_score(rows), estimator.gaussian_score(rows))
    assert loaded.columns_ == estimator.columns_ and loaded.meta_ == estimator.meta_
    code = ("import sys\nfrom cance_cli.cli import app\nsys.argv = ['cance', 'score', *sys.argv[1:]]\n"
            "try:\n    app()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "assert not [m for m in sys.modules if m.startswith('sklearn')], 'scikit-learn was imported'\n"
            "assert 'pandas' not in sys.modules, 'pandas was imported'\n")
    out = folder / "no-sklearn.parquet"
    subprocess.run([sys.executable, "-c", code, str(feats), "--nce", str(nce), "--out", str(out), "-q"], check=True)
    assert pq.read_table(out).num_rows == 400


@pytest.mark.parametrize("column", [
    pa.array(np.arange(10, dtype=np.float32)).slice(3, 4),  # an offset into the buffer
    pa.array(np.arange(5, dtype=np.int8)),
    pa.array(np.zeros(0)),
    pa.chunked_array([pa.array([1.0, 2.0]), pa.array([3.0])]),
    pa.array([1.0, None]),  # nulls: through to_numpy
    pa.array([True, False]),
])
def test_numeric_values_equal_pyarrows_conversion(column):
    from cance_cli.io.tables import float64_column, numeric_values

    got, want = numeric_values(column), column.to_numpy(zero_copy_only=False)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    values = np.linspace(0, 1, 7)[::2]  # not contiguous
    assert float64_column(values).to_pylist() == values.tolist()


def test_tables_keep_dictionary_pages_for_labels_only(tmp_path):
    """Continuous floats and unique ids are written plain (a dictionary only slows
    writing and grows the file); repeated labels and flags keep their dictionary."""
    path = tmp_path / "t.parquet"
    schema = pa.schema([("id", pa.int64()), ("label", pa.string()), ("is_anomaly", pa.int8()),
                        ("score", pa.float64()), ("z_0", pa.float32())])
    n = 5000
    with AtomicParquetWriter(path, schema, {"stage": "scores"}) as writer:
        writer.write({"id": np.arange(n), "label": np.array(["a", "b"] * (n // 2)),
                      "is_anomaly": np.zeros(n, np.int8), "score": np.linspace(0, 1, n),
                      "z_0": np.linspace(-1, 1, n).astype(np.float32)})
    group = pq.ParquetFile(path).metadata.row_group(0)
    dictionary = {group.column(j).path_in_schema for j in range(group.num_columns)
                  if any("DICTIONARY" in e for e in group.column(j).encodings)}
    assert dictionary == {"label", "is_anomaly"}
    assert pq.read_table(path).column("score").to_numpy()[-1] == 1.0


def test_evaluate_matches_sklearn_and_compares_tables(fitted):
    folder, feats, nce, _ = fitted
    cli("score", feats, "--nce", nce, "--out", folder / "a.parquet", "-q")
    cli("score", feats, "--method", "error", "--out", folder / "e.parquet", "-q")
    cli("score", feats, "--nce", nce, "--method", "gauss", "--out", folder / "g.parquet", "-q")
    result = cli("evaluate", folder / "a.parquet", folder / "e.parquet", folder / "g.parquet", "--json",
                 "--plot", folder / "roc.png")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["method"] for r in rows] == ["CANCE", "Error", "Gauss"]
    t = pq.read_table(folder / "e.parquet")
    expected = roc_auc_score(t.column("is_anomaly").to_numpy(), t.column("score").to_numpy())
    assert rows[1]["auroc"] == pytest.approx(expected, abs=1e-12)
    assert (folder / "roc.png").read_bytes()[:4] == b"\x89PNG"
    only = cli("evaluate", folder / "a.parquet", "--auroc")
    assert float(only.stdout) == pytest.approx(rows[0]["auroc"], abs=1e-6)
    assert cli("evaluate", folder / "e.parquet", "--min-auroc", "1.0").exit_code == 1


def test_evaluate_reads_the_csv_scores_predict_writes(tmp_path):
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.2).astype(int)
    s = y * 2 + rng.normal(size=200)
    rows = ["id,label,is_anomaly,score,is_flagged"] + [f"r{i},{v},{v},{x},0" for i, (v, x) in enumerate(zip(y, s))]
    (tmp_path / "scores.csv").write_text("\n".join(rows) + "\n")
    result = cli("evaluate", tmp_path / "scores.csv", "--auroc")
    assert result.exit_code == 0, result.output
    assert float(result.stdout.strip()) == pytest.approx(roc_auc_score(y, s), abs=1e-6)
    (tmp_path / "unlabelled.csv").write_text("id,score\na,1.0\n")
    result = cli("evaluate", tmp_path / "unlabelled.csv")
    assert result.exit_code == 2 and "no is_anomaly column" in one_error_line(result)


def test_evaluate_keeps_table_names_readable_in_an_80_column_terminal(fitted, monkeypatch):
    folder, feats, nce, _ = fitted
    names = [folder / "pixels-pca-test-scores.parquet", folder / "pretrained-pca-test-scores.parquet"]
    cli("score", feats, "--nce", nce, "--out", names[0], "-q")
    cli("score", feats, "--method", "error", "--out", names[1], "-q")
    monkeypatch.setenv("COLUMNS", "80")
    narrow = cli("evaluate", *names)
    assert narrow.exit_code == 0, narrow.output
    assert all(name.name in narrow.stdout for name in names), narrow.stdout  # whole names, not "pixels-…"
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80
    def header(result):
        return next(line for line in result.stdout.splitlines() if "AUROC" in line)

    assert "precision" not in header(narrow) and "--json" in narrow.stdout  # the caption says where they are
    monkeypatch.setenv("COLUMNS", "200")
    assert "precision" in header(cli("evaluate", *names))

def test_f1_at_top_k_by_hand():
    y = np.array([1, 0, 1, 0, 0, 1])
    s = np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.05])
    m = detection_metrics(y, s)  # k = 3 anomalies: flags 0.9, 0.8, 0.7 -> 2 true positives
    assert m["flagged"] == 3 and m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert detection_metrics(y, s, top_k=1)["precision"] == 1.0
    assert detection_metrics(y, s, contamination=0.5)["flagged"] == 3


def test_streaming_subsample_keeps_exact_moments(tmp_path):
    feats = write_features(tmp_path / "f.parquet", n=500, anomalies=50)
    cols = ["z_0", "z_1", "z_2", "recon_error", "cos_dissim"]
    rows, moments = read_normal_rows(feats, cols, max_rows=100, seed=3)
    t = pq.read_table(feats)
    keep = t.column("is_anomaly").to_numpy() == 0
    normal = np.column_stack([t.column(c).to_numpy().astype(np.float64) for c in cols])[keep]
    assert rows.shape == (100, 5) and moments.count == 450
    np.testing.assert_allclose(moments.covariance, np.cov(normal, rowvar=False), rtol=1e-10)
    assert all(any(np.array_equal(r, n) for n in normal) for r in rows[:10])  # real normal rows


def test_bad_inputs_for_score_fit_and_evaluate(tmp_path, fitted):
    folder, feats, nce, _ = fitted
    nan_feats = write_features(tmp_path / "nan.parquet", nan_row=123)
    pq.write_table(pq.read_table(feats).drop(["recon_error"]), tmp_path / "nocol.parquet")
    cli("train-ae", "builtin:digits", "--normal", "1", "--epochs", "1", "--decoder-epochs", "0", "--latent", "2",
        "--out", tmp_path / "ae.safetensors", "-q")
    cli("score", feats, "--method", "error", "--out", tmp_path / "scores.parquet", "-q")
    pq.write_table(pq.read_table(tmp_path / "scores.parquet").drop(["is_anomaly"]), tmp_path / "nolabel.parquet")
    one_class = pq.read_table(tmp_path / "scores.parquet").filter(pa.compute.equal(
        pq.read_table(tmp_path / "scores.parquet").column("is_anomaly"), 0))
    pq.write_table(one_class, tmp_path / "allnormal.parquet")
    cases = [
        (("score", nan_feats, "--nce", nce), "NaN or infinite values (column 'recon_error', row 123)"),
        (("score", tmp_path / "nocol.parquet", "--nce", nce), "no column 'recon_error'"),
        (("score", tmp_path / "nocol.parquet", "--method", "error"), "no column 'recon_error'"),
        (("score", feats, "--nce", tmp_path / "ae.safetensors"), "stage 'autoencoder'"),
        (("score", feats), "needs --nce"),
        (("score", tmp_path / "scores.parquet", "--method", "error"), "already a score table"),
        (("fit-nce", nan_feats), "NaN or infinite"),
        (("fit-nce", tmp_path / "nocol.parquet"), "no column 'recon_error'"),
        (("fit-nce", feats, "--features", "pixels"), "--features must be"),
        (("fit-nce", feats, "--ratio", "0"), "--ratio must be a finite number in (0, 1000]"),
        (("fit-nce", tmp_path / "missing.parquet"), "does not exist"),
        (("evaluate", feats), "is a feature table"),
        (("evaluate", tmp_path / "nolabel.parquet"), "no column 'is_anomaly'"),
        (("evaluate", tmp_path / "allnormal.parquet"), "no anomalous rows"),
    ]
    for args, fragment in cases:
        out = tmp_path / "out.any"
        extra = ["--out", out] if args[0] in ("score", "fit-nce") else []
        line = one_error_line(cli(*args, *extra))
        assert fragment in line, (args, line)
        assert not out.exists()


def test_estimator_fit_predict_save_load(tmp_path):
    from cance_cli import CANCE
    from cance_cli.data import load_data

    ds = load_data("builtin:digits", "train")
    normal = ds.subset(np.flatnonzero(ds.y == 0))
    test = load_data("builtin:digits", "test")
    est = CANCE(latent=4, ae_epochs=15, decoder_epochs=3, ae_batch_size=32, nce_epochs=10, nce_batch_size=64,
                contamination=0.1, device="cpu")
    assert est.fit(normal) is est
    scores = est.score_samples(test)
    assert scores.shape == (len(test),) and roc_auc_score(test.y != 0, scores) > 0.9
    pred = est.predict(test)
    assert set(np.unique(pred)) <= {0, 1}
    np.testing.assert_array_equal(pred, (est.decision_function(test) > est.threshold_).astype(int))
    est.save(tmp_path / "model")
    back = CANCE.load(tmp_path / "model")
    np.testing.assert_array_equal(back.score_samples(test), scores)
    assert back.threshold_ == est.threshold_
    pre = CANCE(feature_map="precomputed", nce_epochs=5, device="cpu").fit(est.autoencoder_.composite_features(normal))
    assert pre.score_samples(est.autoencoder_.composite_features(test)).shape == (len(test),)


def test_demo_runs_on_one_digit(tmp_path):
    result = cli("demo", "--out", tmp_path / "demo", "--classes", "0", "--json")  # one digit: the command is tested
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout[result.stdout.index("{"):])
    assert set(doc["auroc"]["mean"]) == {"Error", "Gauss", "LatNCE", "CNCE", "CANCE"}
    assert doc["auroc"]["mean"]["CANCE"] > 0.9
    assert (tmp_path / "demo" / "digit-0" / "nce-CANCE.safetensors").exists()


def test_parquet_writer_gathers_small_batches_into_row_groups(tmp_path):
    """`cance embed` writes 64 images at a time: one row group each made a 1,280-column table
    unreadable in practice (a 117 MB footer). Row groups now hold thousands of rows."""
    from cance_cli.io.tables import ROW_GROUP_BYTES, ROW_GROUP_ROWS

    width, n = 300, 5000
    schema = pa.schema([("id", pa.int64())] + [(f"e_{i}", pa.float32()) for i in range(width)])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, width)).astype(np.float32)
    with AtomicParquetWriter(tmp_path / "emb.parquet", schema, {"stage": "embeddings"}) as w:
        for start in range(0, n, 64):
            w.write({"id": np.arange(start, min(start + 64, n)),
                     **{f"e_{i}": x[start:start + 64, i] for i in range(width)}})
        assert not (tmp_path / "emb.parquet").exists()  # appears only when complete
    meta = pq.ParquetFile(tmp_path / "emb.parquet").metadata
    per_group = min(ROW_GROUP_ROWS, ROW_GROUP_BYTES // (width * 4 + 8))
    assert meta.num_rows == n and meta.num_row_groups <= -(-n // per_group) + 1
    back = pq.read_table(tmp_path / "emb.parquet")
    assert back.column("id").to_pylist() == list(range(n))
    np.testing.assert_array_equal(back.column("e_7").to_numpy(), x[:, 7])
    assert json.loads(back.schema.metadata[b"cance"])["stage"] == "embeddings"


# ------------------------------------------------------------------ fit-nce --knn


@pytest.fixture(scope="module")
def fitted_knn(fitted):
    folder, feats, _, _ = fitted
    nce = folder / "nce-knn.safetensors"
    result = cli("fit-nce", feats, "--out", nce, "--json", "--knn", "5", *NCE)
    assert result.exit_code == 0, result.output
    return folder, feats, nce, json.loads(result.stdout)


def test_fit_nce_knn_stores_the_neighbour_view_of_the_normal_rows(fitted_knn):
    from cance_cli.io.checkpoints import load_checkpoint

    _, _, nce, summary = fitted_knn
    assert summary["method"] == "CANCE+kNN"
    view = summary["neighbours"]
    assert view["k"] == 5 and view["training_rows"] == 360  # normal rows only
    assert set(view["calibration"]) == {"composite", "knn"}
    tensors, meta = load_checkpoint(nce, "nce", {})
    assert tensors["neighbours.rows"].shape == (360, 5) and meta["neighbours"]["k"] == 5


def test_score_with_knn_combines_the_density_and_the_neighbour_distance(fitted_knn):
    from cance_cli.views.fusion import combine

    folder, feats, nce, summary = fitted_knn
    out = folder / "s-knn.parquet"
    assert cli("score", feats, "--nce", nce, "--out", out, "-q").exit_code == 0
    t = pq.read_table(out)
    assert t.column_names == ["id", "label", "is_anomaly", "score", "score_composite", "score_knn"]
    density, knn = t.column("score_composite").to_numpy(), t.column("score_knn").to_numpy()
    np.testing.assert_allclose(t.column("score").to_numpy(),
                               combine({"composite": density, "knn": knn}, summary["neighbours"]["calibration"]))
    flags = t.column("is_anomaly").to_numpy() == 1
    assert roc_auc_score(flags, knn) > 0.9 and roc_auc_score(flags, t.column("score").to_numpy()) > 0.9
    assert json.loads(t.schema.metadata[b"cance"])["method"] == "CANCE+kNN"
    evaluated = cli("evaluate", out, "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)[0]["auroc"] == pytest.approx(roc_auc_score(flags, t.column("score").to_numpy()))
    # --method gauss ignores the view: one score column.
    gauss = folder / "s-gauss.parquet"
    assert cli("score", feats, "--nce", nce, "--method", "gauss", "--out", gauss, "-q").exit_code == 0
    assert pq.read_table(gauss).column_names == ["id", "label", "is_anomaly", "score"]


def test_fit_nce_knn_keeps_the_density_of_a_plain_fit(fitted, fitted_knn):
    folder, feats, plain, _ = fitted
    _, _, with_knn, _ = fitted_knn
    outs = []
    for nce in (plain, with_knn):
        out = folder / f"cmp-{nce.stem}.parquet"
        assert cli("score", feats, "--nce", nce, "--out", out, "-q").exit_code == 0
        outs.append(pq.read_table(out))
    np.testing.assert_allclose(outs[0].column("score").to_numpy(), outs[1].column("score_composite").to_numpy())


def test_fit_nce_knn_refuses_bad_values(fitted, tmp_path):
    _, feats, _, _ = fitted
    out = tmp_path / "nce.safetensors"
    assert "--knn must be" in one_error_line(cli("fit-nce", feats, "--out", out, "--knn", "-1", *NCE))
    small = write_features(tmp_path / "small.parquet", n=8, anomalies=2)
    assert "too few for --knn 6" in one_error_line(cli("fit-nce", small, "--out", out, "--knn", "6", *NCE))
    assert not out.exists()


def test_a_damaged_neighbour_view_is_one_sentence(fitted_knn, tmp_path):
    from cance_cli.io.checkpoints import load_checkpoint, save_checkpoint

    folder, feats, nce, _ = fitted_knn
    tensors, meta = load_checkpoint(nce, "nce", {})
    tensors["neighbours.mean"] = tensors["neighbours.mean"][:2]
    bad = tmp_path / "bad.safetensors"
    save_checkpoint(bad, tensors, meta)
    line = one_error_line(cli("score", feats, "--nce", bad, "--out", tmp_path / "s.parquet", "-q"))
    assert "re-create the checkpoint" in line and not (tmp_path / "s.parquet").exists()


def test_the_neighbour_view_survives_both_loaders_and_a_refit_drops_it(fitted_knn, tmp_path):
    from cance_cli.nce.scoring import LoadedDensity
    from cance_cli.pipeline import feature_columns, open_table
    from cance_cli.training.nce import NCEDensity

    _, feats, nce, _ = fitted_knn
    rows, _ = read_normal_rows(feats, feature_columns(feats, open_table(feats).schema_arrow, "composite"), 10**6, 0)
    estimator, loaded = NCEDensity.load(nce), LoadedDensity.load(nce)
    np.testing.assert_allclose(estimator.neighbours_.scores(rows[:50]), loaded.neighbours_.scores(rows[:50]))
    estimator.set_params(epochs=1, verbose=False).fit(rows)
    assert estimator.neighbours_ is None
    estimator.save(tmp_path / "refit.safetensors")
    assert LoadedDensity.load(tmp_path / "refit.safetensors").neighbours_ is None
