"""Readers of a model folder beside a writer that keeps replacing it (issue 27, item 5).

    python benchmarks/reader_writer_stress.py [SECONDS]

Fits two small models, then for SECONDS (default 20) loads the folder in a loop while a thread saves
one model or the other into it; every load must score exactly as the model its threshold belongs to.
Prints the number of loads, of mixed loads and of refusals.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from cance_cli.errors import ArtifactError
from cance_cli.estimator import CANCE


def main(seconds: float = 20.0) -> None:
    x = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    fits = [CANCE(views="input", nce_epochs=2, seed=s).fit(x) for s in (0, 1)]
    expected = {round(f.threshold_, 12): f.score_samples(x[:20]) for f in fits}
    target = Path(tempfile.mkdtemp()) / "model"
    fits[0].save(target)
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            fits[i % 2].save(target)
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    loads = mixed = refused = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            try:
                est = CANCE.load(target)
            except ArtifactError:
                refused += 1
                continue
            loads += 1
            if not np.allclose(est.score_samples(x[:20]), expected[round(est.threshold_, 12)], rtol=1e-6):
                mixed += 1
    finally:
        stop.set()
        thread.join()
    print(f"{loads} loads, {mixed} mixed, {refused} refused in {seconds:.0f} s")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 20.0)
