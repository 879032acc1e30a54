"""Every CLI stage and `cance fit` / `predict` give the scores recorded before the restructuring (to 1e-6)."""

from __future__ import annotations

import json

import numpy as np
from golden_scores import GOLDEN, compute


def test_scores_match_the_golden_file(tmp_path):
    expected = json.loads(GOLDEN.read_text())
    got = compute(tmp_path)
    assert set(got) == set(expected)
    for name, values in expected.items():
        np.testing.assert_allclose(got[name], values, rtol=1e-6, atol=1e-6, err_msg=name)


def test_a_model_folder_written_before_the_restructuring_scores_as_it_did(tmp_path):
    """tests/fixtures/model-format2 was written by cance at dc969bb (format 2: no manifest digest; three views);
    today's `cance predict` reads it and gives the scores that version gave."""
    from pathlib import Path

    import pyarrow.parquet as pq
    from conftest import cli

    folder = Path(__file__).parent / "fixtures" / "model-format2"
    expected = json.loads((folder / "scores.json").read_text())
    result = cli("predict", folder / "rows.parquet", "--model", folder / "model", "--out", tmp_path / "s.parquet", "-q")
    assert result.exit_code == 0, result.output
    table = pq.read_table(tmp_path / "s.parquet")
    assert set(expected) == {c for c in table.column_names if c.startswith("score")}
    for name, values in expected.items():
        np.testing.assert_allclose(table.column(name).to_numpy(), values, rtol=1e-6, atol=1e-6, err_msg=name)
