"""Small models and record batches processed side by side on the CPU."""

from __future__ import annotations

import threading

import pytest
import torch

from cance_cli.errors import DataError
from cance_cli.runtime.concurrent import beside_in_child, can_fork, map_in_order, run_side_by_side, torch_threads


def _fail():
    raise DataError("bad rows")


def test_side_by_side_keeps_order_raises_and_restores_threads():
    with torch_threads(2):
        assert run_side_by_side([lambda: torch.get_num_threads(), lambda: "b"]) == [1, "b"]
        assert torch.get_num_threads() == 2
        with pytest.raises(DataError, match="bad rows"):
            run_side_by_side([lambda: 1, _fail])
        assert torch.get_num_threads() == 2
        assert run_side_by_side([lambda: torch.get_num_threads()], "cpu") == [2]  # one fit: no threads
        assert run_side_by_side([lambda: 1, lambda: 2], "cuda") == [1, 2]


def test_map_in_order_yields_in_input_order_from_several_threads():
    seen = set()

    def work(i):
        seen.add(threading.get_ident())
        return i * i, torch.get_num_threads()

    with torch_threads(2):
        out = list(map_in_order(work, range(50), workers=2))
        assert torch.get_num_threads() == 2
    assert [v for v, _ in out] == [i * i for i in range(50)]
    assert {t for _, t in out} == {1} and threading.get_ident() not in seen


def test_map_in_order_raises_the_first_failing_item_in_order():
    def work(i):
        if i in (7, 30):
            raise DataError(f"row {i}")
        return i

    got = []
    with pytest.raises(DataError, match="row 7"):
        for v in map_in_order(work, range(50), workers=2):
            got.append(v)
    assert got == list(range(7))


def test_map_in_order_with_one_worker_runs_in_the_calling_thread():
    caller = threading.get_ident()
    assert list(map_in_order(lambda i: (i, threading.get_ident() == caller), range(3), workers=1)) == \
        [(0, True), (1, True), (2, True)]


fork_only = pytest.mark.skipif(not can_fork(), reason="forking a child process needs Linux")


@fork_only
def test_beside_in_child_returns_both_results_and_runs_the_child_elsewhere(tmp_path):
    import os

    parent = os.getpid()

    def there(folder):
        (folder / "pid").write_text(str(os.getpid()))
        (folder / "threads").write_text(str(torch.get_num_threads()))

    with torch_threads(2):
        here, (child, threads) = beside_in_child(
            lambda: torch.get_num_threads(), there,
            lambda folder: (int((folder / "pid").read_text()), int((folder / "threads").read_text())))
        assert torch.get_num_threads() == 2
    assert here == 1 and threads == 1 and child != parent


@fork_only
def test_beside_in_child_raises_the_childs_error_in_the_parent():
    def bad_rows(folder):
        raise DataError("bad rows in the child")

    with pytest.raises(DataError, match="^bad rows in the child$"):
        beside_in_child(lambda: 1, bad_rows, lambda folder: None)

    def bug(folder):
        return {}["missing"]

    with pytest.raises(RuntimeError, match="KeyError: 'missing'"):  # a bug keeps the child's traceback
        beside_in_child(lambda: 1, bug, lambda folder: None)

    def killed(folder):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(RuntimeError, match="ended with status -9"):
        beside_in_child(lambda: 1, killed, lambda folder: None)


def test_beside_in_child_runs_in_a_thread_when_the_process_cannot_fork(monkeypatch):
    import os

    def no_memory():
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(os, "fork", no_memory)
    here, there = beside_in_child(lambda: "here", lambda folder: (folder / "x").write_text("there"),
                                  lambda folder: (folder / "x").read_text())
    assert (here, there) == ("here", "there")


@fork_only
def test_beside_in_child_stops_the_child_when_the_parent_fails():
    import os
    import time

    started = time.perf_counter()
    with pytest.raises(DataError, match="bad rows"):
        beside_in_child(_fail, lambda folder: time.sleep(60), lambda folder: None)
    assert time.perf_counter() - started < 30  # not waiting for the child's minute
    with pytest.raises(ChildProcessError):  # and no child is left behind
        os.wait()


@fork_only
def test_wide_table_fit_after_openmp_work_in_the_parent_does_not_hang(tmp_path):
    """A forked child cannot use the parent's OpenMP threads (libgomp waits on them
    forever): a CANCE fit after scikit-learn's multi-threaded neighbour search in the
    same process still finishes (a child that searched neighbours itself hung here;
    run in a subprocess, so a hang fails the test instead of blocking it)."""
    import subprocess
    import sys

    script = """
import numpy as np
from sklearn.neighbors import NearestNeighbors
from cance_cli import CANCE
rng = np.random.default_rng(0)
rows = rng.normal(size=(1000, 20)) @ (rng.normal(size=(20, 20)) / np.sqrt(20))
NearestNeighbors(n_neighbors=5).fit(rows).kneighbors(n_neighbors=5)  # scikit-learn's OpenMP team
est = CANCE(ae_epochs=2, decoder_epochs=1, nce_epochs=2, threshold_folds=0, seed=0).fit(rows.astype(np.float32))
NearestNeighbors(n_neighbors=5).fit(rows).kneighbors(n_neighbors=5)  # the parent's team still works after
print(est.views_, np.isfinite(est.decision_scores_).all())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "['composite', 'input', 'knn'] True"
