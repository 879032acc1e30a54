"""Fit several small models at once on the CPU, one torch thread each.

A table's autoencoder and densities are small networks on batches of a few
hundred to a few thousand rows: their operations are too short to gain from
torch's intra-op threads (here a density trained 15-20% faster and the
autoencoder 25% faster on one thread than on two). So `CANCE` fits its two
independent densities (the autoencoder's composite one; the table's own)
side by side, one torch thread each. Threads gain less than they could: each
training step is a few dozen short torch calls, and the Python between them
holds the GIL (two densities of a 1,000 x 20 table: 1.4 s each alone, 2.1 s
side by side in two threads, 1.45 s in two processes). Where the system can
fork (Linux), the second therefore trains in a forked child that saves it as
a safetensors checkpoint for the parent to load (`beside_in_child`);
elsewhere in a thread (`run_side_by_side`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import traceback
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from cance_cli import errors

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


def run_side_by_side(fits: Sequence[Callable[[], T]], device: str = "cpu", workers: int | None = None) -> list[T]:
    """``[fit() for fit in fits]``, in parallel threads when that is faster.

    Parallel when the models train on the CPU, there is more than one of them
    and torch may use more than one thread; each then runs on one thread of
    its own. Results come back in order; the first exception is raised. Each
    fit must draw its random numbers from its own generators (the densities
    do), so the result does not depend on how the threads interleave. ``workers``: the threads to use
    (default: torch's thread count, judged before a caller narrowed it).
    """
    import torch

    threads = workers or torch.get_num_threads()
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


def can_fork() -> bool:
    """Whether `beside_in_child` can run work in a forked child here: Linux, and a
    writable temporary folder for the child's checkpoints."""
    if not (hasattr(os, "fork") and sys.platform.startswith("linux")):
        return False
    try:
        tempfile.gettempdir()  # raises when no candidate folder is writable
    except OSError:
        return False
    return True


def beside_in_child(here: Callable[[], T], there: Callable[[Path], None], collect: Callable[[Path], U]) -> tuple[T, U]:
    """``(here(), collect(folder))`` with ``there(folder)`` run at the same time in a
    forked child process, one torch thread in each process.

    ``there`` saves what it fits into ``folder`` (checkpoints, not pickles) and
    ``collect`` loads it in the parent once the child has exited. ``there``
    should keep to torch and numpy: a forked child gets no threads of the
    parent's, and OpenMP code that had a thread team there (scikit-learn's
    neighbour search) can wait on it forever; every native pool is limited to
    one thread in the child as a guard. A failure in
    the child is raised in the parent: a :class:`~cance_cli.errors.CanceError`
    as the same type and sentence, anything else as a RuntimeError carrying the
    child's traceback. If ``here`` fails or is interrupted, the child is stopped.
    If the process cannot fork (no memory for the copy), ``there`` runs in a
    thread instead.
    """
    import torch

    remove_stale_track_folders()
    parent_pid = os.getpid()
    with tempfile.TemporaryDirectory(prefix=f"{TRACK_PREFIX}{parent_pid}-") as tmp:
        folder = Path(tmp)
        with torch_threads(1):
            try:
                with warnings.catch_warnings():  # Python >= 3.12 warns about forking beside torch's threads
                    warnings.simplefilter("ignore", DeprecationWarning)
                    pid = os.fork()
            except OSError:  # e.g. no memory to duplicate a large process under strict overcommit
                with ThreadPoolExecutor(1) as pool:
                    beside = pool.submit(there, folder)
                    result = here()
                    beside.result()
                return result, collect(folder)
            if pid == 0:  # the child: fit, save, leave without running the parent's exit handlers
                code = 0
                try:
                    _die_with_parent(parent_pid)
                    from threadpoolctl import threadpool_limits

                    # One thread in every native pool too: a forked child cannot use the
                    # parent's OpenMP worker threads (libgomp waits on them forever).
                    threadpool_limits(1)
                    torch.set_num_threads(1)
                    there(folder)
                except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
                    _write_failure(folder, exc)
                    code = 1
                finally:
                    os._exit(code)
            try:
                result = here()
                _, status = os.waitpid(pid, 0)
            except BaseException:  # here() failed, or an interrupt: the child must not outlive us
                _stop(pid)
                raise
        _raise_child_failure(folder, status)
        return result, collect(folder)


_FAILURE = "failure.json"
TRACK_PREFIX = "cance-track-"  # + the parent's pid: a folder whose process is dead is removed by the next run


def remove_stale_track_folders() -> None:
    """Remove the child-checkpoint folders of fits that were killed (``kill -9`` runs no clean-up)."""
    import shutil

    from cance_cli.io.paths import pid_alive

    with contextlib.suppress(OSError):
        for path in Path(tempfile.gettempdir()).glob(f"{TRACK_PREFIX}*-*"):
            pid = path.name[len(TRACK_PREFIX):].split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)) and path.is_dir() \
                    and not path.is_symlink() and path.stat().st_uid == os.getuid():
                shutil.rmtree(path, ignore_errors=True)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL this child when its parent dies, however it dies (``kill -9`` included):
    otherwise the child, re-parented to init, trains on for minutes. If the parent is already gone
    (it died between the fork and here), leave at once."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


def _write_failure(folder: Path, exc: BaseException) -> None:
    with contextlib.suppress(Exception):
        (folder / _FAILURE).write_text(json.dumps({
            "type": type(exc).__name__, "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc))}))


def _stop(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, ChildProcessError):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _raise_child_failure(folder: Path, status: int) -> None:
    if os.waitstatus_to_exitcode(status) == 0:
        return
    path = folder / _FAILURE
    if not path.exists():
        raise RuntimeError(f"The child process fitting beside this one ended with status "
                           f"{os.waitstatus_to_exitcode(status)} (a negative status is the signal that stopped it; "
                           "-9 is often the memory limit).")
    failure = json.loads(path.read_text())
    kind = getattr(errors, failure["type"], None)
    if isinstance(kind, type) and issubclass(kind, errors.CanceError):
        raise kind(failure["message"])
    if failure["type"] == "KeyboardInterrupt":
        raise KeyboardInterrupt
    raise RuntimeError(f"The child process fitting beside this one failed:\n{failure['traceback']}")
