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
