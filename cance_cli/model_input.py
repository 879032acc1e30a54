"""Reading rows as a fitted model reads them: its columns by name (or position), its encoding, its label,
split and identity defaults. Shared by `cance predict` and `cance explain`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cance_cli.data import load_data
from cance_cli.data.sources import split_defaults
from cance_cli.errors import ArtifactError
from cance_cli.features import named_table, unnamed_columns_message

PREDICT_BATCH = 65_536  # rows scored at a time: memory stays flat on large inputs


def read_for_model(data, est, model, read: dict[str, Any] | None, by_position: bool = False):
    """(Dataset, carved) of ``data`` read as the model ``est`` (loaded from ``model``) was fitted: its columns
    by name (or by position), its encoding, its label and split defaults; ``carved``: the rows are a carved
    `split`, not the table's own order."""
    manifest = est.manifest_
    read = {k: v for k, v in split_defaults(read or {}, manifest).items() if v is not None}
    schema = manifest["schema"]
    if schema.get("kind") == "table" and not schema.get("columns") and named_table(data) and not by_position:
        raise ArtifactError(unnamed_columns_message(model, "`model`"))
    read.pop("exclude", None)  # the model's recorded columns are the features
    if named_table(data):
        read["default_id_col"] = manifest.get("id_col")  # the identity the model was fitted with, when present
    if by_position and est.encoding_ is not None and not est.encoding_.is_plain:
        raise ArtifactError(f"{model} encodes named columns ({', '.join(est.encoding_.input_columns[:5])}, ...), so "
                            "its columns are matched by name; drop `by_position`.")
    encoding = est.encoding_ if named_table(data) and not by_position else None
    carved = read.get("split") in ("train", "test")
    ds = load_data(data, read.pop("split", None), read.pop("label_col", None),
                   required_columns=None if encoding else schema.get("columns"),
                   default_label=manifest.get("label_col") or "label", encoding=encoding, **read)
    return ds, carved


def given_rows(data, names: list[str]):
    """The model's input columns of ``data`` as read: the values shown beside explanations."""
    from cance_cli.data.sources import read_arrow_table

    table = read_arrow_table(Path(str(data)))
    return table.select([n for n in names if n in table.column_names])

