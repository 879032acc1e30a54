"""Output paths: checked before any work, written through a temporary file beside them and renamed."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cance_cli.errors import ArtifactError
from cance_cli.runtime.interrupts import raise_if_interrupted

TMP_SUFFIX = ".tmp"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def remove_stale_temps(target: Path) -> None:
    """Delete temporary files a killed run left beside ``target``.

    Temporary names carry the writer's pid (``.NAME.PID.XXXX.tmp``); a file
    whose writer is no longer running can never be completed.
    """
    parent = target.parent if str(target.parent) else Path(".")
    for tmp in parent.glob(f".{glob_escape(target.name)}.*{TMP_SUFFIX}"):
        pid_part = tmp.name[len(target.name) + 2:].split(".", 1)[0]
        if pid_part.isdigit() and int(pid_part) != os.getpid() and not pid_alive(int(pid_part)):
            with contextlib.suppress(OSError):
                tmp.unlink()


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def current_umask() -> int:
    """The process umask (read without changing it for good)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The finished file gets the permissions of a normally created one (0666
    less the umask), not mkstemp's 0600.
    """
    target = Path(path)
    check_output(target)
    parent = target.parent if str(target.parent) else Path(".")
    remove_stale_temps(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=TMP_SUFFIX, dir=parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        raise_if_interrupted()
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def first_repeat(paths: list, keys: list) -> tuple[int, int] | None:
    """``(i, j)``, ``i < j``, of the first input that repeats an earlier one: the same file, or the same
    non-None key (what identifies its content, e.g. a checkpoint fingerprint); None when all differ."""
    by_path: dict[Path, int] = {}
    by_key: dict[Any, int] = {}
    for j, (path, key) in enumerate(zip(paths, keys, strict=True)):
        resolved = Path(path).resolve()
        i = by_path.get(resolved, by_key.get(key) if key is not None else None)
        if i is not None:
            return i, j
        by_path[resolved] = j
        if key is not None:
            by_key[key] = j
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


# Suffixes of the two formats cance writes, and of formats a user may expect instead. A path ending in
# another format's suffix would get bytes its name misrepresents (a Parquet file called scores.csv).
OUTPUT_SUFFIXES = {"parquet": (".parquet", ".pq"), "safetensors": (".safetensors",), "png": (".png",),
                   "table": (".parquet", ".pq", ".csv"), "html": (".html", ".htm")}
FORMAT_NAMES = {"parquet": "a Parquet table", "safetensors": "a safetensors checkpoint", "png": "a PNG image",
                "table": "a Parquet or CSV table", "html": "an HTML report"}
OTHER_FORMAT_SUFFIXES = {".csv", ".tsv", ".txt", ".json", ".jsonl", ".npz", ".npy", ".mat", ".pkl", ".pickle",
                         ".pt", ".pth", ".ckpt", ".h5", ".hdf5", ".xlsx", ".png", ".pdf", ".svg", ".jpg", ".jpeg",
                         ".parquet", ".pq", ".safetensors", ".html", ".htm"}


def check_output(path: str | os.PathLike | None, inputs=(), option: str = "`out`", writes: str | None = None) -> None:
    """Refuse an output path that cannot or must not be written, before any work.

    Raises for a path that is a folder, equals one of ``inputs`` (writing it
    would destroy the input), lies in a folder that is missing or not
    writable, or (with ``writes`` = ``"parquet"``, ``"safetensors"`` or ``"png"``)
    ends in another format's suffix.
    """
    if path is None:
        return
    target = Path(path)
    refuse_dangling_link(target, option)
    if target.is_dir():
        raise ArtifactError(f"{option} {target} is a folder; give a file name inside it.")
    for item in inputs:
        if item is not None and not str(item).startswith("builtin:") and _same_file(target, Path(item)):
            raise ArtifactError(f"{option} {target} is also an input of this command; writing it would destroy "
                                "the input, so choose another file name.")
    suffix = target.suffix.lower()
    if writes is not None and suffix in OTHER_FORMAT_SUFFIXES - set(OUTPUT_SUFFIXES[writes]):
        raise ArtifactError(f"{option} {target} names a {suffix[1:]} file, but this command writes "
                            f"{FORMAT_NAMES[writes]}; name it {target.with_suffix(OUTPUT_SUFFIXES[writes][0]).name}.")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise ArtifactError(f"Output folder {parent} does not exist; create it or choose another {option}.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ArtifactError(f"Output folder {parent} is not writable; choose another {option} or fix its "
                            "permissions.")


def refuse_dangling_link(target: Path, option: str) -> None:
    """A symbolic link to nothing cannot be written through and would be replaced by a real file or folder."""
    if target.is_symlink() and not target.exists():
        raise ArtifactError(f"{option} {target} is a symbolic link to a missing path ({os.readlink(target)}); "
                            "remove the link or choose another name.")


def check_outputs(outputs: dict[str, str | os.PathLike | None], inputs=(),
                  writes: dict[str, str] | None = None) -> None:
    """:func:`check_output` for several ``{option: path}`` (``writes``: ``{option: format}``); they must also
    differ from each other."""
    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        key = Path(path).resolve()
        if key in seen:
            raise ArtifactError(f"{seen[key]} and {option} name the same file {path}; give them different names.")
        seen[key] = option
    for option, path in outputs.items():
        check_output(path, inputs, option, (writes or {}).get(option))
