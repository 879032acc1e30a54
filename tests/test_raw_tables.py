"""A user's own table: id-like columns left out and named, every offending column listed at once,
--exclude, --id-col, CSV scores and --keep."""

from __future__ import annotations

import csv
import json

import numpy as np
import pyarrow.csv as pacsv
import pytest
from conftest import cli, one_error_line


def _transactions(path, n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 1, n).round(2)
    age = rng.integers(18, 80, n).astype(float)
    age[rng.random(n) < 0.03] = np.nan
    fraud = (rng.random(n) < 0.05).astype(int)
    amount[fraud == 1] *= 8
    rows = [{"transaction_id": f"T{100000 + i}", "timestamp": f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:00:00",
             "merchant": ["shop", "cafe", "", "fuel"][i % 4], "city": ["Oslo", "Bergen", ""][i % 3],
             "is_online": ["True", "False"][i % 2], "amount": amount[i], "hour": i % 24,
             "age": "" if np.isnan(age[i]) else age[i], "balance": round(float(rng.normal(1000, 200)), 2),
             "is_fraud": fraud[i]} for i in range(n)]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


FAST = ["--nce-epochs", "2", "--threshold-folds", "0", "-q"]  # the cross-fit has its own tests


def test_the_issue_table_fits_and_predicts_with_no_preparation(tmp_path):
    """An id, an ISO timestamp, text with empty cells, True/False, an age with 3 % empty cells and a label
    not spelt label: `cance fit` then `cance predict --out s.csv --keep all`, nothing else."""
    data = _transactions(tmp_path / "raw.csv")
    fitted = cli("fit", data, "--label-col", "is_fraud", "--normal", "0", "--out", tmp_path / "m", "--json", *FAST)
    assert fitted.exit_code == 0, fitted.output
    summary = json.loads(fitted.stdout)
    assert summary["id_like"] == {"transaction_id": "its name ends in id"}
    encoded = summary["encoded"]
    assert encoded["timestamp"].startswith("date: hour, weekday")
    assert encoded["merchant"] == "category: 4 level columns"  # shop, cafe, fuel and (missing)
    assert encoded["is_online"] == "boolean: 0/1" and "indicator" in encoded["age"]
    new = _transactions(tmp_path / "new.csv", n=120, seed=1)
    out = tmp_path / "s.csv"
    result = cli("predict", new, "--model", tmp_path / "m", "--out", out, "--keep", "all", "--json", "-q")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    scores, source = pacsv.read_csv(out), pacsv.read_csv(new)
    assert scores.column("id").to_pylist() == source.column("transaction_id").to_pylist()
    missing_age = [v is None for v in source.column("age").to_pylist()]
    assert [n > 0 for n in scores.column("imputed_cells").to_pylist()] == missing_age
    assert doc["imputed_rows"] == sum(missing_age) > 0
    assert np.isfinite(np.asarray(scores.column("score").to_pylist())).all()


def test_other_commands_still_name_every_column_they_cannot_read(tmp_path):
    data = _transactions(tmp_path / "raw.csv")
    line = one_error_line(cli("train-ae", data, "--label-col", "is_fraud", "--out", tmp_path / "ae.safetensors"))
    assert "3 columns are not numeric: timestamp" in line and "merchant" in line and "city" in line, line
    assert "transaction_id" not in line and "cance fit` encodes" in line  # an id: left out, not refused
    line = one_error_line(cli("fit", data, "--exclude", "nosuch*", "--label-col", "is_fraud", "--out",
                              tmp_path / "m", *FAST))
    assert "--exclude names no column" in line and "'nosuch*'" in line


def test_a_raw_table_fits_and_predicts_to_csv_with_its_ids_and_kept_columns(tmp_path):
    data = _transactions(tmp_path / "raw.csv")
    fitted = cli("fit", data, "--label-col", "is_fraud", "--normal", "0", "--exclude", "timestamp,merchant,city,age",
                 "--out", tmp_path / "m", "--json", *FAST)
    assert fitted.exit_code == 0, fitted.output
    summary = json.loads(fitted.stdout)
    assert summary["id_like"] == {"transaction_id": "its name ends in id"}
    assert set(summary["not_features"]) == {"transaction_id", "timestamp", "merchant", "city", "age", "is_fraud"}
    new = _transactions(tmp_path / "new.csv", n=120, seed=1)
    out = tmp_path / "s.csv"
    result = cli("predict", new, "--model", tmp_path / "m", "--out", out, "--keep", "all", "-q")
    assert result.exit_code == 0, result.output
    scores = pacsv.read_csv(out)
    source = pacsv.read_csv(new)
    assert scores.column("id").to_pylist() == source.column("transaction_id").to_pylist()
    assert {"score", "is_flagged", "amount", "merchant", "timestamp"} <= set(scores.column_names)
    assert scores.column("amount").to_pylist() == source.column("amount").to_pylist()
    line = one_error_line(cli("predict", new, "--model", tmp_path / "m", "--out", out, "--keep", "nosuch"))
    assert "--keep names 'nosuch'" in line


def test_id_col_names_the_identity_and_a_counter_is_not_a_feature(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    n = 200
    table = pa.table({"row": np.arange(n), "ref": [f"r{i}" for i in range(n)], "x": rng.normal(size=n),
                      "y": rng.normal(size=n), "z": rng.normal(size=n)})
    pq.write_table(table, tmp_path / "t.parquet")
    fitted = cli("fit", tmp_path / "t.parquet", "--id-col", "ref", "--out", tmp_path / "m", "--json", *FAST)
    assert fitted.exit_code == 0, fitted.output
    assert json.loads(fitted.stdout)["id_like"] == {"row": "it counts rows"}
    assert cli("predict", tmp_path / "t.parquet", "--model", tmp_path / "m", "--out", tmp_path / "s.parquet",
               "-q").exit_code == 0
    assert pq.read_table(tmp_path / "s.parquet").column("id").to_pylist() == table.column("ref").to_pylist()


def test_a_label_used_as_a_feature_is_warned_about(tmp_path):
    data = _transactions(tmp_path / "raw.csv")
    result = cli("fit", data, "--exclude", "timestamp,merchant,city,age", "--out", tmp_path / "m", *FAST)
    assert result.exit_code == 0, result.output
    assert "Warning: 'is_fraud' looks like a label" in result.output and "--label-col" in result.output


def test_a_table_without_the_fitted_id_column_gets_row_numbers(tmp_path):
    data = _transactions(tmp_path / "raw.csv")
    assert cli("fit", data, "--label-col", "is_fraud", "--normal", "0", "--exclude", "timestamp,merchant,city,age",
               "--out", tmp_path / "m", *FAST).exit_code == 0
    table = pacsv.read_csv(_transactions(tmp_path / "new.csv", n=50, seed=2)).drop(["transaction_id"])
    pacsv.write_csv(table, tmp_path / "no-ids.csv")
    result = cli("predict", tmp_path / "no-ids.csv", "--model", tmp_path / "m", "--out", tmp_path / "s.csv", "-q")
    assert result.exit_code == 0, result.output
    assert pacsv.read_csv(tmp_path / "s.csv").column("id").to_pylist() == list(range(50))


def test_plot_draws_the_scores_and_threshold_and_is_checked_before_work(tmp_path):
    pytest.importorskip("matplotlib", reason="plots need the plot extra")
    data = _transactions(tmp_path / "raw.csv")
    assert cli("fit", data, "--label-col", "is_fraud", "--normal", "0", "--out", tmp_path / "m", "--plot",
               tmp_path / "fit.png", *FAST).exit_code == 0
    assert (tmp_path / "fit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = cli("predict", data, "--model", tmp_path / "m", "--out", tmp_path / "s.parquet", "--plot",
                 tmp_path / "scores.png", "--json", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["plot"] == str(tmp_path / "scores.png")
    assert (tmp_path / "scores.png").stat().st_size > 1000
    line = one_error_line(cli("predict", data, "--model", tmp_path / "m", "--out", tmp_path / "t.parquet",
                              "--plot", tmp_path / "m" / "p.png"))
    assert "--plot" in line and "inside the model folder" in line
    assert not (tmp_path / "t.parquet").exists()
    line = one_error_line(cli("fit", data, "--out", tmp_path / "m2", "--plot", tmp_path / "h.jpg", *FAST))
    assert "name it h.png" in line and not (tmp_path / "m2").exists()


def test_a_carved_split_reports_the_filled_cells_of_its_own_rows(tmp_path):
    data = _transactions(tmp_path / "raw.csv")
    assert cli("fit", data, "--label-col", "is_fraud", "--split", "train", "--test-fraction", "0.3", "--out",
               tmp_path / "m", *FAST).exit_code == 0
    result = cli("predict", data, "--split", "test", "--model", tmp_path / "m", "--out", tmp_path / "s.csv",
                 "--json", "-q")
    assert result.exit_code == 0, result.output
    scores, source = pacsv.read_csv(tmp_path / "s.csv"), pacsv.read_csv(data)
    age = dict(zip(source.column("transaction_id").to_pylist(), source.column("age").to_pylist()))
    filled = [n > 0 for n in scores.column("imputed_cells").to_pylist()]
    assert filled == [age[i] is None for i in scores.column("id").to_pylist()]
    assert json.loads(result.stdout)["imputed_rows"] == sum(filled)


def test_a_gzip_csv_is_read_as_the_table_it_holds(tmp_path):
    import gzip

    data = _transactions(tmp_path / "raw.csv")
    (tmp_path / "raw.csv.gz").write_bytes(gzip.compress(data.read_bytes()))
    fitted = cli("fit", tmp_path / "raw.csv.gz", "--label-col", "is_fraud", "--normal", "0", "--out", tmp_path / "m",
                 "--json", *FAST)
    assert fitted.exit_code == 0, fitted.output
    assert json.loads(fitted.stdout)["id_like"] == {"transaction_id": "its name ends in id"}
    result = cli("predict", tmp_path / "raw.csv.gz", "--model", tmp_path / "m", "--out", tmp_path / "s.csv", "-q")
    assert result.exit_code == 0, result.output
    assert pacsv.read_csv(tmp_path / "s.csv").column("id").to_pylist() == \
        pacsv.read_csv(data).column("transaction_id").to_pylist()
