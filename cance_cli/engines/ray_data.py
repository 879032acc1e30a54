"""`cance score --engine ray`: batch scoring of Parquet datasets on Ray Data.

Ray Data reads the feature table(s) (a file, a folder or a glob), runs
:class:`cance_cli.pipeline.BatchScorer` in ``map_batches`` (an actor pool: the
density is loaded once per worker, Arrow batches in and out) and writes a
folder of Parquet files. With ``RAY_ADDRESS`` set it joins that cluster;
otherwise it starts a local Ray instance for the command.

Row order: the run sets Ray Data's ``preserve_order``, so the output files,
read in name order, hold the rows in the input's order; every row also keeps
its ``id`` (and ``label`` / ``is_anomaly``), which is what to join on when
the order does not matter.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from cance_cli.errors import ArtifactError, ConfigError, DataError
from cance_cli.io.provenance import dumps, provenance_header
from cance_cli.io.tables import open_table, schema_with_meta
from cance_cli.runtime.interrupts import raise_if_interrupted

MANIFEST = "_cance_scores.json"  # beside the part files; Ray's read_parquet skips it (not .parquet)


def input_files(source: str | os.PathLike) -> list[str]:
    """The Parquet files of a file, a folder (its ``*.parquet``, sorted) or a glob."""
    text = str(source)
    path = Path(text)
    if path.is_dir():
        files = sorted(str(p) for p in path.glob("*.parquet"))
    elif any(ch in text for ch in "*?["):
        files = sorted(glob.glob(text))
    elif path.is_file():
        if path.suffix.lower() not in (".parquet", ".pq"):
            raise DataError(f"{source} is not a Parquet file, and `engine` ray reads Parquet only; convert it to "
                            "Parquet or use `engine` local.")
        files = [text]
    else:
        raise DataError(f"{source} is neither a Parquet file, a folder of them nor a glob that matches any; check "
                        "the path.")
    if not files:
        raise DataError(f"{source} holds no .parquet files; pass feature tables from `cance features`.")
    return files


def check_output_folder(out: str | os.PathLike, inputs: list[str]) -> Path:
    """The output folder must be new, or an earlier `cance score --engine ray` output (replaced)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ArtifactError(f"`out` {out} is a file; `engine` ray writes a folder of Parquet files, so name a folder.")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).exists():
        raise ArtifactError(f"`out` {out} is a folder with other files in it; name a new or empty folder.")
    resolved = out.resolve()
    for f in inputs:
        if Path(f).resolve().parent == resolved:
            raise ArtifactError(f"`out` {out} holds the input {f}; writing there would destroy it, so choose another "
                                "folder.")
    parent = resolved.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ArtifactError(f"Output folder {parent} does not exist or is not writable; choose another `out`.")
    return out


def _connect(num_cpus: int | None) -> bool:
    """Connect to Ray (RAY_ADDRESS's cluster, else a local one); True if this call started it."""
    import ray

    if ray.is_initialized():
        return False
    address = os.environ.get("RAY_ADDRESS")
    if address:  # an existing cluster
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    return True


def require_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ConfigError("`engine` ray needs Ray Data: pip install 'cance[ray]' (or ray[data]).") from None
    return ray


# A worker's one-sentence error crosses Ray as text (Ray keeps the message, not the
# exception object); the driver finds it by this marker and raises it again.
ERROR_MARK = re.compile(r"CANCE_ERROR<<(\w+)\|(.*?)>>", re.S)


def _cance_error_in(exc: BaseException):
    """The CanceError a Ray worker raised (marked by :class:`Stamped`), or None."""
    from cance_cli import errors

    found = ERROR_MARK.search(str(exc))
    if not found:
        return None
    cls = getattr(errors, found.group(1), errors.CanceError)
    return cls(found.group(2)) if isinstance(cls, type) and issubclass(cls, errors.CanceError) else None


class Stamped:
    """A batch function whose output tables carry ``doc`` in their schema metadata,
    as the local engine's tables do (Ray's ``write_parquet`` keeps it), so every
    part file is a table the next stage can check on its own."""

    def __init__(self, fn_class, fn_kwargs: dict[str, Any], doc: dict[str, Any]):
        self.fn = fn_class(**fn_kwargs)
        self.doc = doc

    def __call__(self, batch):
        from cance_cli.errors import CanceError

        try:
            table = self.fn(batch)
        except CanceError as exc:
            raise RuntimeError(f"CANCE_ERROR<<{type(exc).__name__}|{exc}>>") from None
        return table.replace_schema_metadata(schema_with_meta(table.schema, self.doc).metadata)


def map_parquet(files: list[str], out: Path, fn_class, fn_kwargs: dict[str, Any], columns: list[str],
                doc: dict[str, Any], *, workers: int | None = None, batch_size: int = 16384,
                verbose: bool = True) -> tuple[int, dict[str, Any]]:
    """Run ``fn_class(**fn_kwargs)`` (once per actor) over the Arrow batches of
    ``columns`` of ``files`` and write the results to the folder ``out``, with
    ``doc`` (plus engine details) as its manifest. Returns (rows, manifest).

    A Ray this call starts is shut down at its end (call ``ray.init()`` first to
    keep one across calls). While it runs, Ray's own messages go to stderr: its
    driver prints cluster warnings ("N worker processes have been started",
    seen on a loaded machine) to stdout, where `--json` writes its document.
    """
    ray = require_ray()
    started = _connect(num_cpus=None)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            return _map_parquet(ray, files, out, fn_class, fn_kwargs, columns, doc, workers, batch_size, verbose)
    finally:
        if started:
            with contextlib.redirect_stdout(sys.stderr):
                ray.shutdown()


def _map_parquet(ray, files: list[str], out: Path, fn_class, fn_kwargs: dict[str, Any], columns: list[str],
                 doc: dict[str, Any], workers: int | None, batch_size: int,
                 verbose: bool) -> tuple[int, dict[str, Any]]:
    workers = workers or max(1, (os.cpu_count() or 1) // 2)
    # Leave one CPU of the cluster to the read and write tasks: actors holding every CPU
    # starve them and the run stalls (seen on this 2-core machine with 2 actors).
    actor_cpus = min(1.0, max(0.1, (ray.cluster_resources().get("CPU", 1.0) - 1.0) / workers))
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = verbose
    # Quiet runs: a failed run shows only its one sentence (from the driver), not Ray's error log.
    logging.getLogger("ray.data").setLevel(logging.INFO if verbose else logging.CRITICAL)
    ds = ray.data.read_parquet(files, override_num_blocks=max(len(files), workers)).select_columns(columns)
    mapped = ds.map_batches(Stamped, fn_constructor_kwargs={"fn_class": fn_class, "fn_kwargs": fn_kwargs,
                                                            "doc": {**doc, "engine": "ray"}},
                            batch_format="pyarrow", batch_size=batch_size,
                            compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=actor_cpus)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        try:
            mapped.write_parquet(str(staging), write_page_checksum=True)  # as the local writer: damage is found
        except Exception as exc:  # a worker's one-sentence error, without Ray's wrapping
            cause = _cance_error_in(exc)
            if cause is None:
                raise
            raise cause from None
        rows = sum(open_table(p).metadata.num_rows for p in staging.glob("*.parquet"))
        manifest = {**provenance_header(), **doc, "engine": "ray", "inputs": files, "rows": rows,
                    "workers": workers, "cpus_per_worker": actor_cpus,
                    "order": "input order (preserve_order): part files in name order; join on id"}
        (staging / MANIFEST).write_text(json.dumps(json.loads(dumps(manifest)), indent=2))
        raise_if_interrupted()
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return rows, manifest


def flagged_rows(path) -> int:
    """Flagged rows of one part file."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    return int(pc.sum(pq.read_table(path, columns=["is_flagged"]).column("is_flagged")).as_py() or 0)


def read_scores(folder) -> Any:
    """A folder written with ``--engine ray`` as one ``pyarrow`` Table, part files
    in name order (the input order)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(Path(folder).glob("*.parquet"))
    if not files:
        raise ArtifactError(f"{folder} holds no Parquet part files; write it with an `engine` ray command first.")
    return pa.concat_tables([pq.read_table(f) for f in files])
