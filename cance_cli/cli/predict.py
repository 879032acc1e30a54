"""`cance predict`: scores and flags for every row, from a model folder."""

from __future__ import annotations

from pathlib import Path

import typer

from cance_cli.cli._common import (
    DEVICE_HELP,
    ID_COL_HELP,
    JSON_HELP,
    LABEL_HELP,
    NO_LABEL_OPTION,
    SPLIT_OPTION,
    SPLIT_SEED_HELP,
    TEST_FRACTION_HELP,
    handle_errors,
    print_json,
    read_options,
    stdout_console,
)


@handle_errors
def predict(
    data: str = typer.Argument(..., help="Rows to score: the same kind of data the model was fitted on."),
    model: Path = typer.Option(..., "--model", "-m", help="Model folder written by `cance fit`."),
    out: Path = typer.Option(Path("scores.parquet"), "--out", "-o", help="Score table to write: .parquet (with "
                                                                         "provenance) or .csv."),
    threshold: float = typer.Option(None, help="Flag scores above this instead of the model's threshold."),
    split: str = SPLIT_OPTION,
    test_fraction: float = typer.Option(None, help=TEST_FRACTION_HELP + " Default: the model's."),
    split_seed: int = typer.Option(None, help=SPLIT_SEED_HELP + " Default: the model's."),
    label_col: str = typer.Option(None, help=LABEL_HELP + " Default: the one used in training."),
    no_label: bool = NO_LABEL_OPTION,
    id_col: str = typer.Option(None, "--id-col", help=ID_COL_HELP + " Default: the model's."),
    keep: str = typer.Option(None, "--keep", help="Input columns to carry beside the scores, e.g. 'amount,city', "
                                                  "or 'all'."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    engine: str = typer.Option("local", help="local (this process) or ray (Ray Data over a Parquet file, folder or "
                                             "glob; --out is then a folder; needs the ray extra)."),
    workers: int = typer.Option(None, help="--engine ray: scoring actors (default: half the CPUs here)."),
    by_position: bool = typer.Option(False, "--by-position", help="Match a table's columns to a model that "
                                     "records no column names by their order (refused otherwise)."),
    plot: Path = typer.Option(None, help="Write a histogram of the scores with the threshold (PNG; --engine local)."),
    explain: int = typer.Option(0, "--explain", help="Add why_1..why_K: the K input columns most responsible for "
                                "each flagged row's score, with their share, value and typical value."),
    explain_all: bool = typer.Option(False, "--explain-all", help="With --explain or --explain-maps: explain "
                                     "every row, not only the flagged ones (one scoring per column per row)."),
    explain_maps: Path = typer.Option(None, "--explain-maps", help="Image models: write an anomaly-map overlay "
                                      "(PNG) of each flagged image into this folder."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Write id, label/is_anomaly (when labelled), score (higher = more anomalous) and is_flagged.

    Example: cance predict new.csv --model model/ --out scores.parquet
    Then: cance evaluate scores.parquet (needs labels), or filter is_flagged == 1.
    """
    from cance_cli.errors import ConfigError
    from cance_cli.fit_predict import predict_table
    from cance_cli.runtime.progress import progress_bar

    def bar(n_batches: int):
        return progress_bar(n_batches, "predict", not quiet and n_batches > 1)

    if engine not in ("local", "ray"):
        raise ConfigError(f"--engine must be local or ray, got {engine!r}.")
    if engine == "ray":
        from cance_cli import validate

        if keep or id_col or plot or explain or explain_maps:
            raise ConfigError("--keep, --id-col, --plot and --explain(-maps) are options of --engine local (Ray "
                              "writes id, labels and scores); drop them or use --engine local.")
        from cance_cli.fit_predict import predict_with_ray

        if workers is not None:
            validate.at_least("--workers", workers, 1)
        doc = predict_with_ray(data, model, out, threshold=threshold, device=device, workers=workers,
                               verbose=not quiet)
    else:
        from cance_cli import validate

        validate.at_least("--explain", explain, 0)
        if explain_all and not explain and explain_maps is None:
            raise ConfigError("--explain-all widens --explain; give --explain K too (e.g. --explain 3).")
        read = read_options(split, test_fraction, split_seed, label_col, no_label, id_col=id_col)
        kept = [c.strip() for c in keep.split(",") if c.strip()] if keep else None
        doc = predict_table(data, model, out, threshold=threshold, read=read, device=device, progress=bar,
                            by_position=by_position, keep=kept, plot=plot, explain=explain,
                            explain_all=explain_all, explain_maps=explain_maps)
    if json_out:
        print_json(doc)
    else:
        stdout_console().print(f"wrote {doc['rows']} scores to {out}; {doc['flagged']} flagged "
                               f"(score > {doc['threshold']:.4g})")
