"""The benchmark harness: protocol splits, corruptions, baselines, DAGMM, report, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from cance_cli.bench.corruptions import CORRUPTIONS, corrupt
from cance_cli.bench.protocols import corrupted, holdout, leave_one_out, multimodal, one_class, ood, tabular
from cance_cli.bench.report import summary_table
from cance_cli.data import load_data
from cance_cli.errors import ConfigError
from tests.conftest import cli, one_error_line, shared_path, write_idx_images


@pytest.fixture(scope="module")
def digits():
    return load_data("builtin:digits", "train"), load_data("builtin:digits", "test")


# --------------------------------------------------------------------------- protocol splits


def _train_counts(split) -> dict[str, int]:
    labels, counts = np.unique(split.train.y.astype(str), return_counts=True)
    return dict(zip(labels, counts.tolist()))


def test_one_class_trains_on_its_class_only_and_tests_everything(digits):
    train, test = digits
    splits = list(one_class(train, test))
    assert [s.name for s in splits] == [str(c) for c in range(10)]
    for s in splits:
        assert _train_counts(s) == {s.name: int((train.y == int(s.name)).sum())}
        assert len(s.test) == len(test)
        assert s.is_anomaly.sum() == int((test.y != int(s.name)).sum())
    assert not set(train.ids) & set(test.ids)  # the builtin split never shares a row


def test_multimodal_and_leave_one_out_class_counts(digits):
    train, test = digits
    (s01,) = multimodal(train, test, [("0", "1")])
    assert _train_counts(s01) == {"0": int((train.y == 0).sum()), "1": int((train.y == 1).sum())}
    assert s01.is_anomaly.sum() == int((~np.isin(test.y, [0, 1])).sum())
    loo = {s.name: s for s in leave_one_out(train, test)}
    assert set(_train_counts(loo["3"])) == {str(c) for c in range(10)} - {"3"}
    assert loo["3"].is_anomaly.sum() == int((test.y == 3).sum())
    with pytest.raises(ConfigError, match="not in"):
        list(one_class(train, test, ["11"]))


def test_corrupted_protocol_pairs_clean_and_corrupted_copies(digits):
    train, test = digits
    (split,) = corrupted(train, test, ["rotate"], seed=0, max_test=50)
    assert len(split.train) == len(train) and set(_train_counts(split)) == {"0"}
    assert len(split.test) == 100 and split.is_anomaly.sum() == 50
    assert len(set(split.test.ids)) == 100
    np.testing.assert_allclose(split.test.x[:50], test.batch(slice(0, 50)))


def _tabular_checks(split, n_normal: int, n_anomalies: int) -> None:
    assert not split.train.y.any(), "training rows must all be normal"
    assert not set(split.train.ids) & set(split.test.ids), "a test row was seen in training"
    assert len(split.train) == round(0.5 * n_normal)
    assert split.is_anomaly.sum() == n_anomalies  # every anomaly is in the test set
    assert len(split.train) + len(split.test) == n_normal + n_anomalies


def test_tabular_split_is_half_the_normals_and_depends_on_the_seed():
    folder = shared_path("tabular", "thyroid.mat").parent
    a, b = tabular("thyroid", folder, 0), tabular("thyroid", folder, 1)
    _tabular_checks(a, 3679, 93)
    assert not np.array_equal(a.train.ids, b.train.ids)
    np.testing.assert_array_equal(a.train.ids, tabular("thyroid", folder, 0).train.ids)


def test_abalone_keeps_rings_3_21_against_8_9_10():
    folder = shared_path("tabular", "abalone.data").parent
    split = tabular("abalone", folder, 0)
    _tabular_checks(split, 1891, 29)  # rings 8/9/10: 568 + 689 + 634; rings 3 and 21: 15 + 14
    assert split.train.x.shape[1] == 10  # one-hot sex + 7 measurements


def test_tabular_missing_file_says_where_to_put_it(tmp_path):
    result = cli("bench", "tabular", tmp_path, "--datasets", "thyroid", "--out", tmp_path / "o")
    assert "thyroid.mat not found" in one_error_line(result)


# --------------------------------------------------------------------------- corruptions


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_each_corruption_is_deterministic_in_range_and_changes_the_image(name, digits):
    images = digits[1].batch(slice(0, 12))  # (12, 1, 8, 8) in [0, 1]
    images = np.kron(images, np.ones((1, 1, 3, 3), dtype=np.float32))  # 24x24: room for lines and shifts
    out = corrupt(images, name, seed=3)
    assert out.shape == images.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_array_equal(out, corrupt(images, name, seed=3))
    assert np.abs(out - images).mean() > 1e-3
    if name != "canny_edges":  # the only corruption without random parameters
        assert not np.array_equal(out, corrupt(images, name, seed=4))


def test_there_are_at_least_ten_corruptions_and_unknown_names_fail():
    assert len(CORRUPTIONS) >= 10
    with pytest.raises(ConfigError, match="Unknown corruption"):
        corrupt(np.zeros((1, 8, 8)), "snow")


# --------------------------------------------------------------------------- baselines and DAGMM


def _blob_with_outliers():
    rng = np.random.default_rng(0)
    train = rng.normal(0, 1, (400, 5)).astype(np.float32)
    test = np.concatenate([rng.normal(0, 1, (100, 5)), rng.normal(0, 1, (20, 5)) + 5]).astype(np.float32)
    return train, test, np.r_[np.zeros(100), np.ones(20)].astype(bool)


@pytest.mark.parametrize("name", ["IsolationForest", "LOF", "OCSVM", "KDE"])
def test_sklearn_baselines_score_outliers_higher(name):
    from sklearn.metrics import roc_auc_score

    from cance_cli.bench.baselines import make_detector

    train, test, y = _blob_with_outliers()
    scores = make_detector(name, 5, seed=0).fit(train).score_samples(test)
    assert roc_auc_score(y, scores) > 0.95


def test_pyod_baselines_say_how_to_install_when_missing(monkeypatch):
    from cance_cli.bench import baselines

    monkeypatch.setattr(baselines, "pyod_available", lambda: False)
    with pytest.raises(ConfigError, match=r"cance\[bench\]"):
        baselines.make_detector("DeepSVDD", 5, seed=0)


def test_gmm_energy_equals_the_mixture_negative_log_likelihood():
    import torch

    from cance_cli.training.dagmm import gmm_energy, gmm_params

    rng = np.random.default_rng(0)
    phi = np.array([0.3, 0.7])
    mu = np.array([[0.0, 0.0, 1.0], [3.0, -1.0, 0.5]])
    a = rng.normal(size=(2, 3, 3))
    cov = a @ a.transpose(0, 2, 1) + np.eye(3)
    x = rng.normal(size=(50, 3)) * 2
    want = -np.log(sum(p * multivariate_normal(m, c).pdf(x) for p, m, c in zip(phi, mu, cov)))
    got = gmm_energy(torch.tensor(x), torch.tensor(phi), torch.tensor(mu), torch.tensor(cov), eps=0.0)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-8)
    # Hard memberships give each component its cluster's weight, mean and (biased) covariance.
    gamma = np.zeros((50, 2))
    gamma[:20, 0] = gamma[20:, 1] = 1
    p, m, c = gmm_params(torch.tensor(x), torch.tensor(gamma))
    np.testing.assert_allclose(p.numpy(), [0.4, 0.6])
    np.testing.assert_allclose(m.numpy()[1], x[20:].mean(0))
    np.testing.assert_allclose(c.numpy()[0], np.cov(x[:20].T, bias=True))


def test_dagmm_flags_far_rows_on_a_table():
    from sklearn.metrics import roc_auc_score

    from cance_cli.training.dagmm import DAGMM

    train, test, y = _blob_with_outliers()
    det = DAGMM(latent=1, n_gmm=2, epochs=15, batch_size=64, seed=0, device="cpu").fit(train)
    scores = det.score_samples(test)
    assert np.isfinite(scores).all() and roc_auc_score(y, scores) > 0.9
    np.testing.assert_allclose(det.phi_.sum().item(), 1.0)


# --------------------------------------------------------------------------- report and CLI


def test_summary_table_bolds_the_best_and_ranks_methods():
    rows = [{"split": s, "seed": seed, "method": m, "auroc": v + 0.01 * seed}
            for s, vals in {"a": {"X": 0.9, "Y": 0.8}, "b": {"X": 0.6, "Y": 0.75}, "c": {"X": 0.9}}.items()
            for m, v in vals.items() for seed in (0, 1)]
    lines = summary_table(rows, "auroc").splitlines()
    assert lines[0] == "| split | seeds | X | Y |"
    assert lines[2] == "| a | 2 | **0.905 ± 0.005** | 0.805 ± 0.005 |"
    assert lines[4] == "| c | 2 | **0.905 ± 0.005** | - |"
    assert lines[5] == "| **mean (2)** | | 0.755 | **0.780** |"  # c lacks Y: only complete splits count
    assert lines[6] == "| **avg rank** | | **1.50** | **1.50** |"


def test_cli_bench_one_class_quick_writes_results(tmp_path):
    out = tmp_path / "run"
    result = cli("bench", "one-class", "builtin:digits", "--quick", "--classes", "3", "--methods",
                 "Error,CANCE,IsolationForest,DAGMM", "--out", out, "--roc", tmp_path / "roc.png")
    assert result.exit_code == 0, result.output
    from cance_cli.bench.run import read_results

    rows = read_results(out / "results.csv")
    assert [r["method"] for r in rows] == ["Error", "CANCE", "IsolationForest", "DAGMM"]
    assert all(0.5 < r["auroc"] <= 1 for r in rows if r["method"] != "DAGMM")
    assert (out / "runs.jsonl").exists() and (out / "results.md").exists() and (tmp_path / "roc.png").exists()
    again = cli("bench", "one-class", "builtin:digits", "--quick", "--classes", "3", "--methods",
                "Error,CANCE,IsolationForest,DAGMM", "--out", out)
    assert again.exit_code == 0 and len(read_results(out / "results.csv")) == 4  # resumed, nothing redone
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert len(runs) == 1 and runs[0]["options"]["classes"] == ["3"] and "torch" in runs[0]["versions"]
    cli("bench", "one-class", "builtin:digits", "--quick", "--classes", "4", "--methods", "Error", "--out", out)
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert [r["options"]["classes"] for r in runs] == [["3"], ["4"]]  # one record per invocation that added rows


def test_cli_bench_rejects_unknown_protocol_and_method(tmp_path):
    assert "Unknown protocol" in one_error_line(cli("bench", "few-shot", "builtin:digits", "--out", tmp_path))
    assert "Unknown method" in one_error_line(cli("bench", "one-class", "builtin:digits", "--methods", "SVDD++",
                                                  "--out", tmp_path))
    assert "--decoder-epochs must be an integer >= 0" in one_error_line(cli("bench", "one-class", "builtin:digits",
                                                                           "--decoder-epochs", "-1", "--out", tmp_path))
    # each epochs option named as typed, refused before any training (`--nce-epochs 0` was let through)
    assert "--nce-epochs must be an integer >= 1" in one_error_line(cli("bench", "novelty", "builtin:digits",
                                                                       "--nce-epochs", "0", "--out", tmp_path))


def test_corrupted_splits_train_once_and_reuse_the_models(tmp_path, digits):
    from pathlib import Path

    from cance_cli.bench.run import BenchConfig, run_protocol

    train, test = digits
    config = BenchConfig(ae={"latent": 4, "epochs": 2, "decoder_epochs": 1}, nce={"epochs": 3},
                         dagmm={"latent": 2, "n_gmm": 2, "epochs": 2, "batch_size": 64})
    rows = run_protocol(lambda seed: corrupted(train, test, ["rotate", "zigzag"], 0, 60),
                        ["Error", "CANCE", "IsolationForest"], [0], tmp_path / "out", tmp_path / "work", config,
                        "corrupted", "digits")
    assert [(r["split"], r["method"]) for r in rows] == [
        (c, m) for c in ("rotate", "zigzag") for m in ("Error", "CANCE", "IsolationForest")]
    models = list(Path(tmp_path / "work").rglob("ae.safetensors"))
    assert len(models) == 1, models  # one autoencoder for both corruptions
    assert len(list(Path(tmp_path / "work").rglob("nce-CANCE.safetensors"))) == 1
    first, second = ([r["seconds"] for r in rows if r["split"] == c and r["method"] == "CANCE"] for c in
                     ("rotate", "zigzag"))
    assert 0 < second[0] < first[0]  # the later split counts its features and scoring, not the training


@pytest.mark.slow  # reads and one-hot encodes KDDCUP99: about 12 s
def test_kddcup99_normal_traffic_is_the_anomaly_class_and_categories_are_one_hot():
    from cance_cli.data.tabular import load_tabular

    folder = shared_path("tabular", "kddcup.data_10_percent.gz").parent
    x, is_anomaly, names = load_tabular("kddcup99", folder)
    assert x.shape == (494021, 118) and is_anomaly.sum() == 97278  # "normal." rows
    for j in (1, 2, 3):  # protocol_type, service, flag: exactly one level set per row
        group = [i for i, n in enumerate(names) if n.startswith(f"f{j}_")]
        np.testing.assert_array_equal(x[:, group].sum(axis=1), 1.0)
    split = tabular("kddcup99", folder, 0)
    _tabular_checks(split, 396743, 97278)  # train on half of the attacks, test the rest + all normal traffic


def test_cli_bench_checks_every_class_set_before_training(tmp_path):
    result = cli("bench", "multimodal", "builtin:digits", "--sets", "0,1;0,42", "--methods", "Error",
                 "--out", tmp_path / "o")
    assert "Class 42 is not in" in one_error_line(result)
    # nothing ran for the valid {0,1}
    assert not (tmp_path / "o" / "results.csv").exists() and not (tmp_path / "o" / "runs.jsonl").exists()


@pytest.mark.parametrize("name", ["VAE", "DeepSVDD"])
def test_pyod_deep_baselines_train_on_fewer_rows_than_a_batch(name):
    pytest.importorskip("pyod", reason="PyOD is the optional bench extra")
    from cance_cli.bench.baselines import make_detector

    train, test, _ = _blob_with_outliers()
    option = {"epoch_num": 1} if name == "VAE" else {"epochs": 1}
    scores = make_detector(name, 5, seed=0, options=option).fit(train[:50]).score_samples(test)
    assert scores.shape == (len(test),) and np.isfinite(scores).all()


def test_invocations_sharing_an_out_folder_keep_each_others_rows(tmp_path, digits):
    from cance_cli.bench.run import BenchConfig, read_results, run_protocol, write_results

    train, test = digits
    out = tmp_path / "out"

    def splits_while_another_invocation_writes(seed):
        for i, split in enumerate(one_class(train, test, ["0", "1"])):
            if i == 1:  # another invocation (here: class 7) finished its split meanwhile
                other = dict(read_results(out / "results.csv")[0], split="7", normal="7")
                write_results(out / "results.csv", read_results(out / "results.csv") + [other])
            yield split

    rows = run_protocol(splits_while_another_invocation_writes, ["IsolationForest"], [0], out, tmp_path / "work",
                        BenchConfig(), "one-class", "digits")
    assert sorted(r["split"] for r in rows) == ["0", "1", "7"]
    assert sorted(r["split"] for r in read_results(out / "results.csv")) == ["0", "1", "7"]
    assert "| 7 |" in (out / "results.md").read_text()


def test_a_later_invocation_with_other_methods_keeps_the_earlier_scores(tmp_path, digits):
    import pyarrow.parquet as pq

    from cance_cli.bench.run import BenchConfig, read_results, run_protocol

    train, test = digits
    for method in ("IsolationForest", "OCSVM"):
        run_protocol(lambda seed: one_class(train, test, ["3"]), [method], [0], tmp_path / "out", tmp_path / "work",
                     BenchConfig(), "one-class", "digits")
    assert [r["method"] for r in read_results(tmp_path / "out" / "results.csv")] == ["IsolationForest", "OCSVM"]
    table = pq.read_table(tmp_path / "work" / "scores" / "one-class-3-s0.parquet")
    assert table.column_names == ["id", "is_anomaly", "IsolationForest", "OCSVM"]


def _novelty_folder(folder, n_normal=300, n_anom=30):
    rng = np.random.default_rng(0)
    folder.mkdir()
    for name, shift in (("1_alpha", 3.0), ("2_beta", 2.0)):
        x = np.vstack([rng.normal(10, 5, (n_normal, 4)), rng.normal(10 + 5 * shift, 5, (n_anom, 4))])
        np.savez(folder / f"{name}.npz", X=x, y=np.r_[np.zeros(n_normal), np.ones(n_anom)])
    return folder


def test_novelty_split_follows_the_adbench_protocol(tmp_path):
    from cance_cli.bench.novelty import novelty_split

    folder = _novelty_folder(tmp_path / "tables")
    s0, again, s1 = (novelty_split(folder / "1_alpha.npz", seed) for seed in (0, 0, 1))
    assert s0.name == "alpha" and len(s0.x_train) == 150  # half of the 300 normal rows
    assert len(s0.x_test) == 150 + 30 and int(s0.y_test.sum()) == 30  # the other half and every anomaly
    np.testing.assert_allclose(s0.x_train.mean(axis=0), 0, atol=1e-5)  # standardised with training statistics
    np.testing.assert_allclose(s0.x_train.std(axis=0), 1, atol=1e-4)
    np.testing.assert_array_equal(s0.x_train, again.x_train)
    assert not np.array_equal(s0.x_train, s1.x_train)
    # No training row is in the test set.
    train_rows = {tuple(np.round(r, 4)) for r in s0.x_train}
    assert not train_rows & {tuple(np.round(r, 4)) for r in s0.x_test}


def test_novelty_caps_large_tables_with_a_stratified_sample(tmp_path, monkeypatch):
    import cance_cli.bench.novelty as novelty

    monkeypatch.setattr(novelty, "MAX_ROWS", 100)
    folder = _novelty_folder(tmp_path / "tables", n_normal=900, n_anom=100)
    s = novelty.novelty_split(folder / "2_beta.npz", 0)
    assert len(s.x_train) + len(s.x_test) == 100 and int(s.y_test.sum()) == 10  # 10% anomalies kept


def test_the_contaminated_setting_trains_on_half_of_every_class_and_keeps_its_rows_apart(tmp_path):
    from cance_cli.bench.novelty import novelty_split
    from cance_cli.bench.run import read_results

    folder = _novelty_folder(tmp_path / "tables")
    s = novelty_split(folder / "1_alpha.npz", 0, contaminated=True)
    assert len(s.x_train) == 150 + 15 and len(s.x_test) == 150 + 15 and int(s.y_test.sum()) == 15
    out = tmp_path / "run"
    for extra in ([], ["--contaminated"]):  # one results folder, both settings: rows never replace each other
        result = cli("bench", "novelty", folder, "--out", out, "--methods", "IsolationForest", "--datasets", "beta",
                     *extra)
        assert result.exit_code == 0, result.output
    rows = read_results(out / "results.csv")
    assert sorted((r["protocol"], r["n_test"]) for r in rows) == [("novelty", 180), ("novelty-contaminated", 165)]
    line = one_error_line(cli("bench", "one-class", "builtin:digits", "--out", out, "--contaminated"))
    assert "--contaminated is a setting of the novelty protocol" in line


def test_cli_bench_novelty_runs_every_method_on_the_same_splits(tmp_path):
    from cance_cli.bench.run import read_results

    folder = _novelty_folder(tmp_path / "tables")
    out = tmp_path / "run"
    result = cli("bench", "novelty", folder, "--out", out, "--methods", "Error,CANCE,CANCE-fit,LOF,IsolationForest",
                 "--nce-epochs", "3", "--datasets", "beta", "--json")
    assert result.exit_code == 0, result.output
    rows = read_results(out / "results.csv")
    assert {r["method"] for r in rows} == {"Error", "CANCE", "CANCE-fit", "LOF", "IsolationForest"}
    assert min(float(r["auroc"]) for r in rows if r["method"] == "CANCE-fit") > 0.9
    assert {r["split"] for r in rows} == {"beta"} and {r["n_test"] for r in rows} == {180}
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert runs[-1]["config"]["fixed_by_user"]["nce"] == {"epochs": 3}
    line = one_error_line(cli("bench", "novelty", folder, "--out", out, "--datasets", "gamma"))
    assert "No table 'gamma'" in line
    # A later invocation with another method adds to the report; it does not shrink it.
    again = cli("bench", "novelty", folder, "--out", out, "--methods", "Gauss", "--nce-epochs", "3",
                "--datasets", "beta")
    assert again.exit_code == 0, again.output
    header = (out / "results.md").read_text().split("\n")[4]
    assert all(m in header for m in ("Error", "CANCE-fit", "LOF", "IsolationForest", "Gauss")), header


# --------------------------------------------------------------------------- the talk's protocols


def test_holdout_is_leave_one_out_under_the_talks_name(digits):
    train, test = digits
    for a, b in zip(holdout(train, test, ["1", "7"]), leave_one_out(train, test, ["1", "7"])):
        assert a.protocol == "holdout" and (a.name, a.normal, len(a.train)) == (b.name, b.normal, len(b.train))


def test_ood_splits_pit_the_test_images_against_each_set(tmp_path):
    source = write_idx_images(tmp_path / "imgs")
    other = write_idx_images(tmp_path / "other", seed=5)
    train, test = load_data(source, "train"), load_data(source, "test")
    splits = list(ood(train, test, ["constant", "noise", str(other)]))
    assert [s.name for s in splits] == ["constant", "noise", "other"]
    for split in splits:
        assert split.normal == ["0"] and len(split.train) == 90 and split.meta["train_key"] == "all-train"
        x = split.test.batch(slice(None))
        assert x.shape == (120, 1, 28, 28) and x.min() >= 0 and x.max() <= 1
        assert split.is_anomaly.sum() == 60 and not split.is_anomaly[:60].any()
        np.testing.assert_array_equal(x[:60], test.batch(slice(None)))
    constant = splits[0].test.batch(slice(60, 120)).reshape(60, -1)
    assert (constant.max(axis=1) == constant.min(axis=1)).all() and constant[:, 0].std() > 0.1
    np.testing.assert_array_equal(splits[2].test.batch(slice(60, 120)), load_data(other, "test").batch(slice(None)))


@pytest.mark.slow  # the energy detectors train twice: about 17 s
def test_cli_bench_ood_runs_the_energy_detectors_once_for_every_set(tmp_path):
    source = write_idx_images(tmp_path / "imgs", n_train=60, n_test=30)
    out = tmp_path / "out"
    result = cli("bench", "ood", source, "--quick", "--ood", "constant,noise", "--methods",
                 "Error-ref,NAE,MPDR-R,CANCE-on-NAE", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert [(r["split"], r["method"]) for r in rows] == [
        (s, m) for s in ("constant", "noise") for m in ("Error-ref", "NAE", "MPDR-R", "CANCE-on-NAE")]
    assert all(0 <= r["auroc"] <= 1 for r in rows)
    first, second = ({r["method"]: r["seconds"] for r in rows if r["split"] == s} for s in ("constant", "noise"))
    assert second["NAE"] < first["NAE"] and second["CANCE-on-NAE"] < first["CANCE-on-NAE"]  # trained once
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert runs[-1]["config"]["energy"] == {"schedule": "reduced", "steps": 2, "ae_epochs": 1}


def test_cli_bench_ood_refuses_a_set_of_another_shape_before_training(tmp_path):
    source = write_idx_images(tmp_path / "imgs", n_train=30, n_test=30)
    line = one_error_line(cli("bench", "ood", source, "--ood", "builtin:digits", "--out", tmp_path / "o"))
    assert "same image shape" in line
    line = one_error_line(cli("bench", "one-class", source, "--ood", "noise", "--out", tmp_path / "o"))
    assert "--ood" in line
    line = one_error_line(cli("bench", "holdout", source, "--schedule", "fast", "--out", tmp_path / "o"))
    assert "--schedule" in line


def test_cli_bench_energy_methods_refuse_images_other_than_28x28_by_their_own_name(tmp_path):
    line = one_error_line(cli("bench", "ood", "builtin:digits", "--quick", "--methods", "NAE,KNN",
                              "--out", tmp_path / "o"))
    assert "NAE" in line and "1 x 8 x 8" in line and "--methods" in line and "--arch" not in line
    assert not (tmp_path / "o" / "results.csv").exists() and not (tmp_path / "o" / "runs.jsonl").exists()
