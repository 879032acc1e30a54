"""The scripts in examples/ run as written (with fewer epochs) and print what they promise."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(script: str, work: Path, **env: str) -> str:
    """Run ``examples/script`` with this interpreter's cance; its stdout."""
    # The scripts expand $CANCE unquoted (word splitting gives "python -m cance_cli").
    environment = {**os.environ, "CANCE": f"{sys.executable} -m cance_cli", **env}
    done = subprocess.run(["bash", str(EXAMPLES / script), str(work)], capture_output=True, text=True,
                          env=environment, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow  # about 40 s; the README's own commands (tests/test_readme.py) run the same flow in CI
def test_two_commands_fits_a_csv_and_scores_new_rows(tmp_path):
    # Shorter training than the defaults (the example runs them; 47 s here): the commands are what is tested.
    out = run_example("two_commands.sh", tmp_path / "work", FIT_OPTIONS="--nce-epochs 20 --threshold-folds 2")
    auroc = float(out.strip().splitlines()[-1].split()[-1])
    assert auroc > 0.8, out  # malignant tumours score higher than benign ones (0.97 measured)
    assert (tmp_path / "work" / "model" / "manifest.json").is_file()
    assert "why_1" in (tmp_path / "work" / "explained.csv").read_text().splitlines()[0]
    assert "<section>" in (tmp_path / "work" / "report.html").read_text()


@pytest.mark.slow  # five commands, each importing torch: about 35 s (tests/test_pipeline_cli.py covers each stage)
def test_stage_pipeline_writes_every_stage_and_compares_cance_with_error(tmp_path):
    out = run_example("stage_pipeline.sh", tmp_path / "work", EPOCHS="3", NCE_EPOCHS="5")
    names = {p.name for p in (tmp_path / "work").iterdir()}
    assert {"ae.safetensors", "train.parquet", "test.parquet", "nce.safetensors", "cance.parquet",
            "error.parquet"} <= names
    assert "CANCE" in out and "Error" in out and "AUROC" in out


def test_python_api_example_fits_scores_and_round_trips(capsys):
    spec = importlib.util.spec_from_file_location("python_api_example", EXAMPLES / "python_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Two threshold folds, not the rule's five on 124 rows: the code is what is tested (26 s -> about 12 s).
    assert module.main(ae_epochs=3, threshold_folds=2) > 0.8
    assert "AUROC" in capsys.readouterr().out
