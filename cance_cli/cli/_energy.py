"""The shared body of `cance train-nae` and `cance train-mpdr`: read, train, write, report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cance_cli.cli._common import print_json, stdout_console


def train_energy_model(command: str, model, data: str, out: Path, ae: Path | None, normal: str | None,
                       read: dict[str, Any], seed: int, device: str, json_out: bool, energy_note: str) -> None:
    """Fit ``model`` (NAE or MPDR) on the normal rows of ``data``, optionally from the
    autoencoder ``ae``; write the checkpoint ``out`` and print a summary."""
    from cance_cli.artifacts import check_output
    from cance_cli.data import load_data, parse_normal
    from cance_cli.training.autoencoder import ConstrainedAutoencoder

    model.check_params()
    check_output(out, inputs=[data, ae])
    start = ConstrainedAutoencoder.load(ae, device=device) if ae is not None else None
    normal_classes = parse_normal(normal)
    label_col = read.get("label_col")
    ds = load_data(data, read.get("split"), label_col, no_label=read.get("no_label", False),
                   test_fraction=read.get("test_fraction"), split_seed=read.get("split_seed", 0))
    train = ds.subset(ds.normal_mask(normal_classes))
    model.fit(train, autoencoder=start)
    model.save(out, {
        "source": ds.source, "split": ds.split, "normal_classes": normal_classes,
        "label_col": (label_col or "label") if ds.kind == "table" and ds.y is not None else None,
        **(ds.split_info or {}), "data_fingerprint": train.fingerprint(), "seed": seed,
        "device": str(model.autoencoder_.device_), "initial_autoencoder": str(ae) if ae else None,
    })
    h = model.history_
    summary = {"checkpoint": str(out), "steps": h["step"][-1] if h["step"] else 0,
               "positive_energy": h["positive"][-1] if h["positive"] else None,
               "negative_energy": h["negative"][-1] if h["negative"] else None,
               "settings": model.settings_, "fit_seconds": model.fit_seconds_}
    if json_out:
        print_json(summary)
        return
    stdout_console().print(
        f"{command} -> {out}: {summary['steps']} steps, energy of data {summary['positive_energy']:.4g}, of "
        f"negatives {summary['negative_energy']:.4g}; {summary['fit_seconds']:.1f} s\n"
        f"next: cance features DATA --ae {out} --out feats.parquet ({energy_note})")
