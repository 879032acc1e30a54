"""`cance fit`: the whole pipeline in one command, written as a model folder."""

from __future__ import annotations

from pathlib import Path

import typer

from cance_cli.cli._common import (
    DEVICE_HELP,
    EPOCH_NOTE,
    EXCLUDE_OPTION,
    ID_COL_HELP,
    JSON_HELP,
    LABEL_OPTION,
    NO_LABEL_OPTION,
    NORMAL_HELP,
    SEED_HELP,
    SPLIT_OPTION,
    SPLIT_SEED_OPTION,
    TEST_FRACTION_OPTION,
    handle_errors,
    parse_widths,
    print_json,
    read_options,
    stdout_console,
)

AUTO = "Default: chosen from the data's shape (see docs/defaults.md)."
# The estimator's parameters as this command's options: a refusal names what the user typed.
OPTION_NAMES = {"latent": "--latent", "lam": "--lam", "ae_hidden": "--hidden", "ae_epochs": "--epochs",
                "decoder_epochs": "--decoder-epochs", "ae_batch_size": "--batch-size", "nce_epochs": "--nce-epochs",
                "ratio": "--ratio", "views": "--views", "knn": "--knn", "contamination": "--contamination",
                "fpr": "--fpr", "pca": "--pca", "seed": "--seed", "device": "--device",
                "threshold_folds": "--threshold-folds", "row_norm": "--row-norm"}
# CANCE's defaults of the parameters this command does not set (tests/test_fit_predict.py checks they match).
FIT_DEFAULTS = {"features": "composite", "nce_batch_size": None, "hidden": None, "augment": True, "learn_noise": True,
                "density": "nce", "calibration_fraction": 0.1}


@handle_errors
def fit(
    data: str = typer.Argument(..., help="Training data: table (CSV/Parquet), .npz, .mat, image folder, idx, "
                                         "builtin:digits, or an embedding table with --pca."),
    out: Path = typer.Option(Path("model"), "--out", "-o", help="Model folder to write (replaced if it holds a "
                                                                "model)."),
    normal: str = typer.Option(None, help=NORMAL_HELP),
    pca: str = typer.Option(None, help="Use a PCA with K components (or 'auto') as the feature map instead of the "
                                       "autoencoder: for embedding tables."),
    row_norm: str = typer.Option("auto", help="Scale every row to unit length: unit, none, or auto (unit for "
                                              "embedding tables, i.e. with --pca)."),
    columns: str = typer.Option(None, help="Feature columns of a table, names or patterns, e.g. 'e_*' "
                                           "(default: every numeric non-reserved column)."),
    latent: int = typer.Option(None, help="Latent width. " + AUTO),
    hidden: str = typer.Option(None, help="Autoencoder conv channels or MLP widths, e.g. 64,32. " + AUTO),
    epochs: int = typer.Option(None, help="Autoencoder stage-1 epochs. " + AUTO + " " + EPOCH_NOTE),
    decoder_epochs: int = typer.Option(None, help="Autoencoder stage-2 epochs. " + AUTO),
    batch_size: int = typer.Option(None, help="Autoencoder batch size. " + AUTO),
    lam: float = typer.Option(0.01, help="Covariance-penalty weight."),
    nce_epochs: int = typer.Option(None, help="NCE epochs. " + AUTO + " " + EPOCH_NOTE),
    ratio: float = typer.Option(10.0, help="Noise-to-data ratio of NCE."),
    views: str = typer.Option("auto", help="What scores a row: auto, or a '+'-joined choice of composite (the "
                                           "paper's density of \\[z, e, d]), input (density of the table itself), "
                                           "knn (distance to the k-th nearest training row). " + AUTO),
    knn: int = typer.Option(5, help="k of the knn view."),
    contamination: float = typer.Option(0.1, help="Threshold: flag this share of new normal rows (estimated from "
                                                  "out-of-fold scores, see --threshold-folds)."),
    fpr: float = typer.Option(None, help="Threshold: the same, read as a false-positive rate; overrides "
                                         "--contamination."),
    threshold_folds: str = typer.Option("auto", help="Folds of the cross-fit that sets the threshold: auto (5 "
                                        "below 10,000 rows, 2 from there), a number, or 0 for the training rows' own "
                                        "scores (with --fpr: a 10% hold-out)."),
    split: str = SPLIT_OPTION,
    test_fraction: float = TEST_FRACTION_OPTION,
    split_seed: int = SPLIT_SEED_OPTION,
    label_col: str = LABEL_OPTION,
    exclude: str = EXCLUDE_OPTION,
    id_col: str = typer.Option(None, "--id-col", help=ID_COL_HELP),
    no_label: bool = NO_LABEL_OPTION,
    seed: int = typer.Option(0, help=SEED_HELP),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    plot: Path = typer.Option(None, help="Write a histogram of the training rows' scores with the threshold (PNG)."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Fit feature map, NCE density and threshold on the normal rows of DATA; write a model folder.

    Example: cance fit transactions.csv --normal 0 --out model/ && cance predict new.csv --model model/
    The folder holds the stage checkpoints (usable by `features` and `score`) and manifest.json.
    """
    from cance_cli.errors import ConfigError
    from cance_cli.estimator_params import check_cance_params

    feature_map, k = "autoencoder", "auto"
    folds: int | str = threshold_folds
    if threshold_folds != "auto":
        try:
            folds = int(threshold_folds)
        except ValueError:
            raise ConfigError(f"--threshold-folds must be auto or a whole number >= 0, got {threshold_folds!r}.") \
                from None
    if pca is not None:
        feature_map = "pca"
        if pca != "auto":
            try:
                k = int(pca)
            except ValueError:
                raise ConfigError(f"--pca must be an integer >= 1 or 'auto', got {pca!r}.") from None
    params = dict(feature_map=feature_map, pca=k, row_norm=row_norm, latent=latent,
                  ae_hidden=parse_widths("--hidden", hidden),
                  ae_epochs=epochs, decoder_epochs=decoder_epochs, ae_batch_size=batch_size, lam=lam,
                  nce_epochs=nce_epochs, ratio=ratio, views=views, knn=knn, contamination=contamination, fpr=fpr,
                  threshold_folds=folds, seed=seed, device=device, verbose=not quiet)
    # Every option before the estimator is imported (scikit-learn alone takes 2 s to import here).
    check_cance_params({**FIT_DEFAULTS, **params}, OPTION_NAMES)
    from cance_cli.estimator import CANCE
    from cance_cli.fit_predict import fit_model
    est = CANCE(**params)
    read = read_options(split, test_fraction, split_seed, label_col, no_label, columns, exclude, id_col)
    fit_model(data, out, est, normal=normal, read=read, option_names=OPTION_NAMES, plot=plot)
    s = est.settings_
    summary = {"model": str(out), "feature_map": feature_map, "views": est.views_, "threshold": est.threshold_,
               "threshold_method": est.threshold_info_,
               "settings": {key: s[key] for key in ("latent", "hidden", "ae_epochs", "decoder_epochs",
                                                   "ae_batch_size", "nce_epochs", "nce_batch_size", "nce_hidden")},
               "chosen_by_rule": s["chosen"], "rule": s["rule"],
               "flagged_training_rows": int(est.labels_.sum()), "training_rows": len(est.labels_),
               "expected_flagged_share": est.threshold_info_.get("repeated_rows", {}).get(
                   "training_share_above", est.threshold_info_["level"]),
               "not_features": est.fit_record_["not_features"], "id_like": est.fit_record_["id_like"],
               "encoded": est.encoding_.describe() if est.encoding_ is not None else {}}
    if json_out:
        print_json(summary)
        return
    console = stdout_console()
    info = est.threshold_info_
    console.print(f"model -> {out}: views {' + '.join(est.views_)}; threshold {est.threshold_:.4g} "
                  f"({info['method']} {info['level']})")
    if "repeated_rows" in info:  # a block of repeated rows lies on one side of any threshold
        share = 100 * info["repeated_rows"]["training_share_above"]
        console.print(f"  expected on new normal rows: not exactly {100 * info['level']:.3g} %: "
                      f"{100 * info['repeated_rows']['largest_block']:.0f} % of the training rows share one score "
                      f"(repeated rows, flagged all or none); {share:.3g} % of the training rows score above "
                      "the threshold")
    else:
        console.print(f"  expected on new normal rows: about {100 * info['level']:.3g} % flagged "
                      + (_crossfit_words(info) if info.get("folds") else
                         f"(calibrated on {info['rows']} held-out rows)" if info["method"] == "fpr" else
                         "or more: the threshold comes from the training rows' own scores, which a model fits "
                         "better than new rows (--threshold-folds)"))
    for line in s["rule"]:
        console.print(f"  {line}")
    if summary["not_features"]:
        id_like = summary["id_like"] or {}
        console.print("  not features (labels, ids, index, excluded): "
                      + ", ".join(repr(c) + (f" (an id: {id_like[c]})" if c in id_like else "")
                                  for c in summary["not_features"]))
    if summary["encoded"]:
        console.print("  encoded: " + "; ".join(f"{c} ({how})" for c, how in summary["encoded"].items()))
    console.print(f"next: cance predict DATA --model {out} --out scores.parquet")


def _crossfit_words(info: dict) -> str:
    """How a cross-fitted threshold was set, in one parenthesis (docs/defaults.md, "Threshold")."""
    share = f"{100 * (1 - info['level']):.3g} %"
    if info.get("rule") == "levels":
        return (f"(the threshold is read off this model's training scores at the level under which {share} of "
                f"{info['rows']} out-of-fold scores fall among their own fold model's; {info['folds']} folds)")
    return f"(the threshold is the {share} quantile of {info['rows']} out-of-fold scores, {info['folds']} folds)"
