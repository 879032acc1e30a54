"""Explanations: which input columns made a row's score, in the library, `cance predict --explain` and
`cance explain`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import cli, one_error_line

from cance_cli.estimator import CANCE

QUICK = {"seed": 0, "verbose": False, "threshold_folds": 0, "nce_epochs": 8, "ae_epochs": 4, "decoder_epochs": 2}


def _frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"amount": rng.normal(50, 10, n), "age": rng.normal(40, 8, n), "load": rng.normal(0, 1, n),
                         "shop": rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1]), "online": rng.random(n) < 0.4})


@pytest.fixture(scope="module")
def mixed_model():
    return CANCE(**QUICK).fit(_frame())


def test_a_shifted_column_is_named_first_with_most_of_the_excess(mixed_model):
    rows = _frame(6, seed=1)
    rows.loc[0, "amount"] = 50 + 8 * 10
    rows.loc[1, "age"] = 40 - 8 * 8
    rows.loc[2, "load"] = 8.0
    why = mixed_model.explain(rows, k=2)
    assert list(why["why_1"][:3]) == ["amount", "age", "load"]
    assert (why["why_1_share"][:3] > 0.5).all()
    assert why["why_1_value"][0] == "130" and abs(float(why["why_1_typical"][0]) - 50) < 2  # the median
    assert list(why.columns[:2]) == ["score", "is_flagged"]
    np.testing.assert_allclose(why["score"], mixed_model.score_samples(rows))


def test_two_shifted_columns_are_both_named(mixed_model):
    rows = _frame(4, seed=5)
    rows.loc[:, "amount"] = 50 + 40 * 10  # very far: it dominates the score, and restoring load alone barely
    rows.loc[:, "load"] = -4.0  # moves it; found once amount is put back (measured: 1 of 4 rows without that)
    why = mixed_model.explain(rows, k=2)
    assert all({a, b} == {"amount", "load"} for a, b in zip(why["why_1"], why["why_2"]))


def test_shares_are_fractions_that_sum_to_at_most_one(mixed_model):
    why = mixed_model.explain(_frame(50, seed=2), k=5)
    shares = why[[f"why_{i}_share" for i in range(1, 6)]].to_numpy()
    assert (shares >= 0).all() and (shares.sum(axis=1) <= 1 + 1e-9).all()
    assert set(why["why_1"]) <= {"amount", "age", "load", "shop", "online"}  # a category counted once


def test_a_category_is_explained_in_its_own_terms(mixed_model):
    rows = _frame(3, seed=3)
    rows["shop"] = ["zz", "a", "a"]  # never seen in training
    why = mixed_model.explain(rows, k=5)
    named = why.loc[0, [f"why_{i}" for i in range(1, 6)]].tolist()
    at = named.index("shop") + 1
    assert why.loc[0, f"why_{at}_value"] == "zz" and why.loc[0, f"why_{at}_typical"] == "a"


def test_k_larger_than_the_columns_is_cut_and_a_bad_k_refused(mixed_model):
    assert "why_5" in mixed_model.explain(_frame(3), k=9).columns
    assert "why_6" not in mixed_model.explain(_frame(3), k=9).columns
    with pytest.raises(Exception, match="k must be a whole number"):
        mixed_model.explain(_frame(3), k=0)


def test_arrays_and_several_views_are_explained(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 20))
    est = CANCE(**QUICK).fit(x)
    assert len(est.views_) > 1  # wide: the views are combined
    rows = x[:4].copy()
    rows[0, 7] += 9
    why = est.explain(rows, k=3)
    assert why.loc[0, "why_1"] == "x7"
    assert set(why["why_part"]) <= {"latent", "reconstruction", "cosine"}  # the paper's three parts
    assert {f"why_{v}" for v in est.views_} <= set(why.columns) and why.loc[0, "why_input"] == "x7"
    est.save(tmp_path / "m")
    again = CANCE.load(tmp_path / "m").explain(rows, k=3)
    pd.testing.assert_frame_equal(why, again)


def test_the_last_step_of_a_pipeline_explains_what_the_steps_before_give_it():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)) * [1, 10, 100, 1, 1, 1]
    pipe = make_pipeline(StandardScaler(), CANCE(**QUICK)).fit(x)
    rows = x[:3].copy()
    rows[0, 2] += 1000
    assert pipe[-1].explain(pipe[:-1].transform(rows), k=1).loc[0, "why_1"] == "x2"


# ---------------------------------------------------------------------- command line

FAST = ["--nce-epochs", "4", "--threshold-folds", "0", "-q"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explain")
    _frame().to_csv(folder / "train.csv", index=False)
    new = _frame(40, seed=4)
    new.loc[0, "amount"] = 500.0
    new.to_csv(folder / "new.csv", index=False)
    result = cli("fit", folder / "train.csv", "--out", folder / "m", *FAST)
    assert result.exit_code == 0, result.output
    return folder


def test_predict_explains_the_flagged_rows_only_unless_asked(fitted):
    out = fitted / "s.parquet"
    assert cli("predict", fitted / "new.csv", "--model", fitted / "m", "--out", out, "--explain", "2",
               "-q").exit_code == 0
    table = pq.read_table(out).to_pandas()
    assert [c for c in table.columns if c.startswith("why_")] == [
        f"why_{i}{s}" for i in (1, 2) for s in ("", "_share", "_value", "_typical")]
    assert "why_part" not in table.columns  # five columns: the input density alone has no composite parts
    flagged = table["is_flagged"] == 1
    assert table.loc[0, "why_1"] == "amount" and flagged[0]
    assert table.loc[flagged, "why_1"].notna().all() and table.loc[~flagged, "why_1"].isna().all()
    assert cli("predict", fitted / "new.csv", "--model", fitted / "m", "--out", out, "--explain", "1",
               "--explain-all", "-q").exit_code == 0
    assert pq.read_table(out).column("why_1").null_count == 0


def test_explain_all_alone_is_refused_in_one_sentence(fitted):
    result = cli("predict", fitted / "new.csv", "--model", fitted / "m", "--out", fitted / "x.parquet",
                 "--explain-all")
    assert result.exit_code == 2 and "give --explain K too" in one_error_line(result)
    assert not (fitted / "x.parquet").exists()


def test_the_report_is_one_html_file_of_the_top_rows(fitted):
    report = fitted / "report.html"
    result = cli("explain", fitted / "new.csv", "--model", fitted / "m", "--top", "3", "--out", report, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["explained"] == 3
    page = report.read_text()
    assert page.count("<section>") == 3 and page.count("data:image/png;base64,") == 3
    assert "<td>amount</td>" in page and "<script" not in page
    bad = cli("explain", fitted / "new.csv", "--model", fitted / "m", "--out", fitted / "report.csv")
    assert bad.exit_code == 2 and "html" in one_error_line(bad)


def test_a_model_without_its_typical_row_says_to_refit(fitted, tmp_path):
    import shutil

    from cance_cli.model import manifest_digest

    old = tmp_path / "old"
    shutil.copytree(fitted / "m", old)
    doc = json.loads((old / "manifest.json").read_text())
    del doc["typical_row"], doc["normal_range"]
    doc["manifest_digest"] = manifest_digest(doc)
    (old / "manifest.json").write_text(json.dumps(doc))
    assert cli("predict", fitted / "new.csv", "--model", old, "--out", tmp_path / "s.parquet", "-q").exit_code == 0
    result = cli("predict", fitted / "new.csv", "--model", old, "--out", tmp_path / "s.parquet", "--explain", "1")
    assert result.exit_code == 2 and "fit it again" in one_error_line(result)
    doc["typical_row"], doc["normal_range"] = [0.0], [[0.0], [1.0]]  # the wrong width
    doc["manifest_digest"] = manifest_digest(doc)
    (old / "manifest.json").write_text(json.dumps(doc))
    result = cli("predict", fitted / "new.csv", "--model", old, "--out", tmp_path / "s.parquet")
    assert result.exit_code == 2 and "typical row" in one_error_line(result)


# ---------------------------------------------------------------------- images


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("maps")
    result = cli("fit", "builtin:digits", "--normal", "0", "--out", folder / "m", "--epochs", "2", "--nce-epochs", "2",
                 "--threshold-folds", "0", "-q")
    assert result.exit_code == 0, result.output
    return folder


def test_image_maps_point_at_a_pasted_patch(digits_model):
    from cance_cli.data import load_data

    est = CANCE.load(digits_model / "m")
    images = load_data("builtin:digits", "test")
    x = images.x[images.y == 0][:6].astype(np.float32) * images.pixel_scale
    x[:, :, 0:2, 0:2] = 1.0  # a white corner: never ink in a 0
    maps = est.explain_maps(x)
    assert maps["occlusion"].shape == maps["reconstruction"].shape == (6, 8, 8)
    corner = maps["reconstruction"][:, 0:2, 0:2].mean()
    assert corner > maps["reconstruction"][:, 3:5, 3:5].mean()  # the reconstruction misses the pasted corner
    with pytest.raises(Exception, match="`explain_maps` DIR"):
        CANCE.load(digits_model / "m").explain(x)


def test_explain_maps_writes_an_overlay_per_flagged_image_and_the_report_shows_them(digits_model):
    out, maps = digits_model / "s.parquet", digits_model / "maps"
    result = cli("predict", "builtin:digits", "--model", digits_model / "m", "--out", out, "--explain-maps", maps,
                 "-q")
    assert result.exit_code == 0, result.output
    table = pq.read_table(out).to_pandas()
    drawn = table["map_file"].dropna()
    assert len(drawn) == int(table["is_flagged"].sum()) > 0
    assert sorted(p.name for p in maps.iterdir()) == sorted(drawn)
    (maps / "notes.txt").write_text("mine")  # a user's file: never overwritten, the folder refused
    again = cli("predict", "builtin:digits", "--model", digits_model / "m", "--out", out, "--explain-maps", maps)
    assert again.exit_code == 2 and "holds other files" in one_error_line(again)
    report = digits_model / "r.html"
    assert cli("explain", "builtin:digits", "--model", digits_model / "m", "--top", "2", "--out", report).exit_code == 0
    assert report.read_text().count("data:image/png;base64,") == 2


def test_explain_maps_on_a_table_model_is_refused(fitted):
    result = cli("predict", fitted / "new.csv", "--model", fitted / "m", "--out", fitted / "t.parquet",
                 "--explain-maps", fitted / "maps")
    assert result.exit_code == 2 and "--explain K" in one_error_line(result)
    assert not (fitted / "maps").exists() and not (fitted / "t.parquet").exists()
