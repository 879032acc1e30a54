"""Fit several small models at once on the CPU, one torch thread each.

A table's autoencoder and densities are small networks on batches of a few
hundred to a few thousand rows: their operations are too short to gain from
torch's intra-op threads (here a density trained 15-20% faster and the
autoencoder 25% faster on one thread than on two). So `CANCE` fits its two
independent tracks (the autoencoder and its density; the table's own
coordinates, their density and the neighbours) side by side in two Python
threads, one torch thread each (torch releases the GIL inside its kernels).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
U = TypeVar("U")


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``n`` for the block (it is process-wide)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_side_by_side(fits: Sequence[Callable[[], T]], device: str = "cpu") -> list[T]:
    """``[fit() for fit in fits]``, in parallel threads when that is faster.

    Parallel when the models train on the CPU, there is more than one of them
    and torch may use more than one thread; each then runs on one thread of
    its own. Results come back in order; the first exception is raised. Each
    fit must draw its random numbers from its own generators (the densities
    do), so the result does not depend on how the threads interleave.
    """
    import torch

    threads = torch.get_num_threads()
    if len(fits) < 2 or threads < 2 or str(device) != "cpu":
        return [fit() for fit in fits]
    with torch_threads(1), ThreadPoolExecutor(min(len(fits), threads)) as pool:
        futures = [pool.submit(fit) for fit in fits]
        return [f.result() for f in futures]


def cpu_workers(device: str = "cpu") -> int:
    """Threads for independent pieces of CPU work: torch's thread count (1 off the CPU)."""
    import torch

    return torch.get_num_threads() if str(device) == "cpu" else 1


def map_in_order(fn: Callable[[T], U], items: Iterable[T], workers: int) -> Iterator[U]:
    """``fn(item)`` for each item, ``workers`` at a time in threads with one torch
    thread each, yielded in the items' order (at most ``2 * workers`` pending, so
    memory stays bounded on a long stream). One worker: no threads at all. An
    exception is raised where its item's result would have been yielded."""
    if workers < 2:
        yield from (fn(item) for item in items)
        return
    with torch_threads(1), ThreadPoolExecutor(workers) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
