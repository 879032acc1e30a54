"""Column types handled inside the model: categories, booleans, dates and missing cells, learned at fit,
recorded in the model folder and applied identically at predict; the hostile cases of the raw-tables issue."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from conftest import cli, one_error_line

from cance_cli.data.encoding import MAX_LEVELS, TableEncoding
from cance_cli.errors import ArtifactError, DataError

FAST = ["--nce-epochs", "2", "--threshold-folds", "0", "-q"]  # the cross-fit has its own tests


def _mixed(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 1, n)
    amount[rng.random(n) < 0.05] = np.nan
    return pa.table({
        "amount": amount,
        "shop": pa.array(rng.choice(["a", "b", "c", None], n, p=[0.5, 0.3, 0.15, 0.05]).tolist(), pa.string()),
        "online": pa.array([None if i % 17 == 0 else bool(i % 2) for i in range(n)], pa.bool_()),
        "when": pa.array((1_700_000_000 + rng.integers(0, 86400 * 60, n)).tolist(), pa.timestamp("s")),
        "kind": pa.array(rng.choice(["x", "y"], n).tolist()).dictionary_encode(),
    })


def test_each_column_type_is_encoded_and_the_plan_round_trips_through_json():
    table = _mixed(500)
    enc = TableEncoding.fit(table)
    again = TableEncoding.from_json(json.loads(json.dumps(enc.to_json())))
    x, report = enc.transform(table)
    assert np.array_equal(x, again.transform(table)[0])
    assert x.dtype == np.float32 and x.shape == (500, len(enc.output_names)) and np.isfinite(x).all()
    names = enc.output_names
    assert {"amount", "amount=(missing)", "shop=a", "shop=(missing)", "online",
            "online=(missing)", "when:hour_sin", "when:weekday_cos", "when:month_sin", "kind=x"} <= set(names)
    missing_amount = np.isnan(table.column("amount").to_numpy(zero_copy_only=False))
    assert (x[:, names.index("amount=(missing)")] == missing_amount).all()
    assert (x[missing_amount, names.index("amount")] == np.float32(enc.plans[0].fill)).all()
    assert report.imputed_rows == int((missing_amount | np.asarray(
        table.column("online").is_null())).sum())


def test_an_unseen_category_is_counted_and_encoded_as_the_rarest_level():
    enc = TableEncoding.fit(_mixed(400))
    new = _mixed(10, seed=1)
    new = new.set_column(1, "shop", pa.array(["zzz"] * 3 + ["a"] * 7))
    x, report = enc.transform(new)
    assert report.unseen == {"shop": 3}
    shop = enc.plans[1]
    rarest = min(zip(shop.shares, shop.levels))[1]
    levels = [enc.output_names.index(f"shop={v}") for v in shop.levels]
    assert (x[:3][:, levels].sum(axis=1) == 1).all()  # one level per row, as in training
    assert (x[:3, enc.output_names.index(f"shop={rarest}")] == 1).all()


def test_the_rarity_column_is_there_when_switched_on(monkeypatch):
    from cance_cli.data import encoding

    monkeypatch.setattr(encoding, "RARITY", True)
    enc = TableEncoding.fit(_mixed(400))
    again = TableEncoding.from_json(json.loads(json.dumps(enc.to_json())))
    assert "shop:rarity" in enc.output_names and again.output_names == enc.output_names
    new = _mixed(10, seed=1).set_column(1, "shop", pa.array(["zzz"] * 3 + ["a"] * 7))
    rarity = enc.transform(new)[0][:, enc.output_names.index("shop:rarity")]
    assert (rarity[:3] > rarity[3:].max()).all()


def test_many_distinct_strings_keep_the_width_bounded():
    rng = np.random.default_rng(0)
    values = [f"s{v}" for v in rng.integers(0, 60_000, 100_000)]  # ~48,000 distinct strings
    enc = TableEncoding.fit(pa.table({"s": values}))
    assert len(enc.output_names) == MAX_LEVELS + 1  # the most frequent levels and (other)
    assert len(json.dumps(enc.to_json())) < 5_000
    x, _ = enc.transform(pa.table({"s": values[:1000]}))
    assert x.shape == (1000, MAX_LEVELS + 1) and (x.sum(axis=1) == 1).all()


def test_all_missing_and_constant_columns_are_left_out_with_a_reason():
    table = pa.table({"empty": pa.array([None] * 50, pa.null()), "blank": [""] * 50, "same": ["k"] * 50,
                      "x": np.arange(50.0)})
    enc = TableEncoding.fit(table)
    assert enc.dropped == {"empty": "every training cell is missing", "blank": "every training cell is missing",
                           "same": "one value in training ('k')"}
    assert enc.output_names == ["x"]


def test_dates_in_several_formats_are_refused_in_one_sentence():
    with pytest.raises(DataError, match="column 'd' looks like dates but not in one format"):
        TableEncoding.fit(pa.table({"d": ["2024-01-05", "05/02/2024", "2024-03-01"] * 10}))
    enc = TableEncoding.fit(pa.table({"d": [f"2024-{m:02d}-{d:02d}" for m in range(1, 13) for d in (3, 17)]}))
    assert enc.plans[0].kind == "datetime" and enc.plans[0].date_format == "%Y-%m-%d"


def test_a_malformed_recorded_encoding_is_refused():
    good = TableEncoding.fit(_mixed(100)).to_json()
    for bad in ([], [{"name": "a", "kind": "spell"}], [{**good[1], "shares": [2.0] * len(good[1]["levels"])}],
                [{**good[0], "fill": float("nan")}], [{"name": "a", "kind": "number", "eval": "x"}],
                [{**good[3], "parts": ["epoch"]}]):
        with pytest.raises(ArtifactError, match="malformed column encoding"):
            TableEncoding.from_json(bad)


def test_a_column_of_another_type_at_predict_is_refused():
    enc = TableEncoding.fit(_mixed(100))
    new = _mixed(10).set_column(1, "shop", pa.array(np.arange(10.0)))
    with pytest.raises(DataError, match="column 'shop' holds double values but the model was fitted on category"):
        enc.transform(new)


def test_the_estimator_takes_a_raw_dataframe_and_saves_its_encoding(tmp_path):
    from cance_cli.estimator import CANCE

    frame = _mixed(300).to_pandas()
    est = CANCE(ae_epochs=2, decoder_epochs=1, nce_epochs=2, views="input+knn").fit(frame)
    assert est.encoding_.input_columns == list(frame.columns)
    scores = est.score_samples(frame.iloc[:50])
    est.save(tmp_path / "m")
    again = CANCE.load(tmp_path / "m")
    assert np.allclose(again.score_samples(frame.iloc[:50]), scores)
    assert est.predict(frame).shape == (300,)


def test_hostile_cells_through_the_cli(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    table = pa.table({"x": rng.normal(size=n), "flag": pa.array([None if i % 9 == 0 else i % 2 == 0 for i in range(n)]),
                      "gone": pa.array([None] * n, pa.float64()), "cat": rng.choice(["p", "q", "r"], n).tolist()})
    pacsv.write_csv(table, tmp_path / "t.csv")
    fitted = cli("fit", tmp_path / "t.csv", "--out", tmp_path / "m", "--json", *FAST)
    assert fitted.exit_code == 0, fitted.output
    encoded = json.loads(fitted.stdout)["encoded"]
    assert encoded["gone"] == "left out: every training cell is missing" and "indicator" in encoded["flag"]
    new = table.slice(0, 20).set_column(3, "cat", pa.array(["never"] * 20))
    pacsv.write_csv(new, tmp_path / "new.csv")
    result = cli("predict", tmp_path / "new.csv", "--model", tmp_path / "m", "--out", tmp_path / "s.csv", "--json",
                 "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["unseen_levels"] == {"cat": 20}
    pacsv.write_csv(pa.table({"d": ["2024-01-05", "05/02/2024"] * 20, "x": np.arange(40.0)}), tmp_path / "d.csv")
    line = one_error_line(cli("fit", tmp_path / "d.csv", "--out", tmp_path / "m2", *FAST))
    assert "column 'd' looks like dates" in line and "--exclude" in line


def test_the_ray_batch_function_encodes_a_raw_table_as_predict_does(tmp_path):
    """`cance predict --engine ray` runs ModelBatchScorer in each actor: the same scores as the local engine."""
    import pyarrow.parquet as pq

    from cance_cli.fit_predict import ModelBatchScorer

    table = _mixed(300)
    pq.write_table(table, tmp_path / "t.parquet")
    assert cli("fit", tmp_path / "t.parquet", "--out", tmp_path / "m", *FAST).exit_code == 0
    assert cli("predict", tmp_path / "t.parquet", "--model", tmp_path / "m", "--out", tmp_path / "s.parquet",
               "-q").exit_code == 0
    scorer = ModelBatchScorer(tmp_path / "m")
    scorer.check_table(tmp_path / "t.parquet", table.schema)
    out = scorer(table.slice(0, 100))
    local = pq.read_table(tmp_path / "s.parquet").column("score").to_numpy()[:100]
    assert np.allclose(out.column("score").to_numpy(), local)


def test_by_position_is_refused_for_a_model_of_named_encoded_columns(tmp_path):
    import pyarrow.parquet as pq

    pq.write_table(_mixed(200), tmp_path / "t.parquet")
    assert cli("fit", tmp_path / "t.parquet", "--out", tmp_path / "m", *FAST).exit_code == 0
    line = one_error_line(cli("predict", tmp_path / "t.parquet", "--model", tmp_path / "m", "--out",
                              tmp_path / "s.parquet", "--by-position"))
    assert "matched by name; drop --by-position" in line and not (tmp_path / "s.parquet").exists()


def test_encoded_names_that_would_clash_are_refused():
    with pytest.raises(DataError, match="two encoded columns would both be named 'shop=a'"):
        TableEncoding.fit(pa.table({"shop": ["a", "b"] * 10, "shop=a": np.arange(20.0)}))
