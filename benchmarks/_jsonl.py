"""Result lines (every benchmark) and work-folder names (the joined-table benchmarks)."""

from __future__ import annotations

import json
import time
from pathlib import Path


def folder_class_seed(folder: Path) -> tuple[str, int]:
    """``classC-seedS`` (a `joined_views.py` work folder) -> (C, S)."""
    cls, seed = folder.name.removeprefix("class").split("-seed")
    return cls, int(seed)


def joined_density_files(folder: Path, name: str) -> tuple[Path, Path]:
    """(density checkpoint, test scores) that `joined_views.py` writes for the feature
    table ``name``: ``nce.safetensors`` / ``scores.parquet`` for ``joined`` (what the
    other scripts read), ``nce-NAME`` / ``scores-NAME`` for the others."""
    if name == "joined":
        return folder / "nce.safetensors", folder / "scores.parquet"
    return folder / f"nce-{name}.safetensors", folder / f"scores-{name}.parquet"


def emit(row: dict, out: str | Path | None) -> None:
    """Print ``row`` (with today's date) as JSON and append it to ``out`` (if given)."""
    row = {**row, "date": time.strftime("%Y-%m-%d")}
    print(json.dumps(row), flush=True)
    if out is None:
        return
    with open(out, "a") as fh:
        fh.write(json.dumps(row) + "\n")
