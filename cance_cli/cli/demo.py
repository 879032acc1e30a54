"""`cance demo`: the whole pipeline on scikit-learn's bundled digits."""

from __future__ import annotations

from pathlib import Path

import typer

from cance_cli.cli._common import JSON_HELP, SEED_HELP, handle_errors, print_json, stdout_console

DEMO_AE = {"latent": 8, "lam": 0.01, "epochs": 60, "decoder_epochs": 20, "batch_size": 32, "device": "cpu"}
DEMO_NCE = {"ratio": 10.0, "epochs": 60, "batch_size": 64, "device": "cpu"}


METHOD_LINES = (
    "Error  = the autoencoder's reconstruction error alone (the usual baseline)",
    "Gauss  = a Gaussian fitted to the composite features [z, recon_error, cos_dissim]",
    "LatNCE = the NCE density on the latent z alone",
    "CNCE   = the NCE density on the composite features",
    "CANCE  = CNCE plus augmentation, so unusually small errors never look anomalous (the method)",
)


def _has_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


@handle_errors
def demo(
    out_dir: Path = typer.Option(Path("cance-demo"), "--out", "-o", help="Folder for every artifact of the run."),
    old_out_dir: Path | None = typer.Option(None, "--out-dir", hidden=True),  # the name before session 19
    classes: str = typer.Option("0,1,2,3,4,5,6,7,8,9", help="Digits to take in turn as the normal class."),
    seed: int = typer.Option(0, help=SEED_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """One-class anomaly detection on the bundled 8x8 digits: Error, Gauss, LatNCE, CNCE and CANCE AUROCs.

    Example: cance demo --out demo-run
    """
    import torch

    from cance_cli.bench.one_class import METHODS, run_class, summarise
    from cance_cli.data import load_data, parse_normal
    from cance_cli.errors import ConfigError
    from cance_cli.runtime.progress import progress_bar

    # The demo's networks are tiny: one thread is several times faster than two
    # (measured: 8 s vs 68 s per digit with another job on the second core).
    torch.set_num_threads(1)
    from cance_cli import validate

    validate.at_least("--seed", seed, 0)
    out_dir = old_out_dir or out_dir
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} is a file; give a folder (it is created if missing).")
    train, test = load_data("builtin:digits", "train"), load_data("builtin:digits", "test")
    chosen = parse_normal(classes) or []
    unknown = sorted(set(chosen) - set(train.label_values()), key=str)
    if unknown:
        raise ConfigError(f"--classes names {', '.join(unknown)}, but the digits are 0-9; pick from those.")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"Cannot create --out {out_dir} ({exc.strerror}); choose another folder.") from None
    rows = []
    with progress_bar(len(chosen), "demo", True) as advance:
        for cls in chosen:
            rows += run_class(train, test, [cls], out_dir / f"digit-{cls}", DEMO_AE, DEMO_NCE, seed, reuse=False)
            advance(f"digit {cls}")
    table = summarise(rows)
    if json_out:
        print_json({"out_dir": str(out_dir), "auroc": table, "rows": rows})
        return
    from rich.table import Table

    view = Table(title=f"one-class AUROC on builtin:digits (artifacts in {out_dir}/)")
    view.add_column("normal digit")
    for m in METHODS:
        view.add_column(m, justify="right")
    for cls, per in table.items():
        best = max(per.values())
        cells = [f"[bold]{per[m]:.3f}[/]" if per[m] == best else f"{per[m]:.3f}" for m in METHODS]
        view.add_row(cls, *cells, end_section=cls == chosen[-1])
    console = stdout_console()
    console.print(view)
    for line in METHOD_LINES:
        console.print(line, markup=False, highlight=False)
    # Point at the digit where the density gains most over reconstruction error.
    digit = max(chosen, key=lambda c: table[c]["CANCE"] - table[c]["Error"])
    gain = table[digit]["CANCE"] - table[digit]["Error"]
    folder = out_dir / f"digit-{digit}"
    plot = f" --plot {out_dir}/roc-digit-{digit}.png" if _has_matplotlib() else ""
    console.print(f"Digit {digit}: CANCE {table[digit]['CANCE']:.3f} vs Error {table[digit]['Error']:.3f} "
                  f"({gain:+.3f}). Compare them:", highlight=False)
    console.print(f"  cance evaluate {folder}/scores-CANCE.parquet {folder}/scores-Error.parquet{plot}",
                  markup=False, highlight=False, soft_wrap=True)
