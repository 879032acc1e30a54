"""`cance bench`: one protocol, CANCE and the usual alternatives, one table."""

from __future__ import annotations

from pathlib import Path

import typer

from cance_cli.cli._common import DEVICE_HELP, JSON_HELP, handle_errors, print_json

QUICK = {"ae": {"epochs": 3, "decoder_epochs": 1}, "nce": {"epochs": 10}, "dagmm": {"epochs": 3},
         "energy": {"steps": 2, "ae_epochs": 1},
         "baseline_options": {"DeepSVDD": {"epochs": 2}, "VAE": {"epoch_num": 2}}}


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@handle_errors
def bench(
    protocol: str = typer.Argument(..., help="one-class, multimodal, leave-one-out, corrupted, tabular, novelty "
                                             "(the ADBench novelty protocol on a folder of .npz/.mat tables), "
                                             "holdout (leave-one-out with the NAE / MPDR-R line-up) or ood "
                                             "(data set against data set)."),
    data: str = typer.Argument(..., help="Image source (idx/CIFAR/image folder/builtin:digits), or for "
                                         "tabular the folder holding thyroid.mat, arrhythmia.mat, abalone.data "
                                         "and kddcup.data_10_percent.gz."),
    out: Path = typer.Option(..., help="Folder for results.csv, results.md, runs.jsonl (and --roc)."),
    work: Path = typer.Option(None, help="Folder for every stage's artifacts (default: OUT/work)."),
    methods: str = typer.Option(None, help="Comma list (default: all that run here). CANCE family: Error, Gauss, "
                                           "LatNCE, CNCE, CANCE (the paper's stages), CANCE-fit (`cance fit` with its "
                                           "defaults, on the baselines' inputs), and Error-PCA ... CANCE-PCA for "
                                           "pixels + PCA; energy-based (holdout / ood by default): Error-ref, NAE, "
                                           "MPDR-R, CANCE-on-NAE; "
                                           "baselines: IsolationForest, LOF, OCSVM, KDE, DAGMM, DeepSVDD, VAE, "
                                           "KNN (the last three need the bench extra)."),
    seeds: str = typer.Option("0", help="Comma list of seeds, e.g. 0,1,2 (tabular: also the split seed)."),
    classes: str = typer.Option(None, help="one-class / leave-one-out: the classes to take in turn."),
    sets: str = typer.Option(None, help="multimodal: normal class sets, e.g. '0,1;0,8;1,8' (the default)."),
    corruptions: str = typer.Option(None, help="corrupted: comma list (default: all 15)."),
    datasets: str = typer.Option(None, help="tabular: comma list of thyroid, arrhythmia, abalone, kddcup99; "
                                            "novelty: table names without ADBench's number (default: all)."),
    ood: str = typer.Option(None, help="ood: comma list of out-of-distribution sets: source specs of the same "
                                       "image shape (their test split), constant (grey images) or noise "
                                       "(uniform pixels); default constant,noise."),
    schedule: str = typer.Option("reduced", help="NAE / MPDR-R schedule: reduced (2 CPU cores) or reference "
                                                 "(the papers', GPU-sized)."),
    energy_steps: int = typer.Option(None, help="NAE / MPDR-R training steps (default: the schedule's)."),
    latent: int = typer.Option(32, help="Latent size of the autoencoder / PCA (image data; tables are sized "
                                        "by rule, see runs.jsonl)."),
    ae_epochs: int = typer.Option(30, help="Autoencoder stage-1 epochs (image data)."),
    decoder_epochs: int = typer.Option(10, help="Autoencoder stage-2 (decoder-only) epochs (image data)."),
    nce_epochs: int = typer.Option(None, help="NCE epochs (default: 100 on images, by the rule of `cance fit` on "
                                              "tables; given, it applies to both)."),
    ratio: float = typer.Option(10.0, help="Noise-to-data ratio of NCE."),
    dagmm_epochs: int = typer.Option(30, help="DAGMM training epochs (image data)."),
    max_train: int = typer.Option(10000, help="Training-row cap for LOF, OCSVM, KDE and KNN."),
    quick: bool = typer.Option(False, "--quick", help="A reduced run for CI-sized checks: 2 classes / data sets, "
                                                     "3 corruptions, 1,000 test rows, a few epochs."),
    contaminated: bool = typer.Option(False, "--contaminated",
                                      help="novelty: ADBench's unsupervised setting; a stratified half of all "
                                           "rows trains, anomalies included and unlabelled, the other half tests."),
    roc: Path = typer.Option(None, help="Write the ROC curves of the first split and seed to this PNG."),
    device: str = typer.Option("cpu", help=DEVICE_HELP),
    threads: int = typer.Option(1, help="torch threads (small networks run fastest on 1)."),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Run every method on the same splits and seeds; write one table.

    Example: cance bench tabular ../shared/data/tabular --seeds 0,1,2,3,4 --out results/tabular
    """
    import torch

    from cance_cli import validate
    from cance_cli.bench.protocols import make_splits
    from cance_cli.bench.report import roc_figure, summary_table
    from cance_cli.bench.run import BenchConfig, check_methods, default_methods, run_protocol
    from cance_cli.errors import ConfigError
    from cance_cli.io.paths import check_output

    torch.set_num_threads(threads)
    try:
        seed_list = [int(s) for s in _csv(seeds) or []]
    except ValueError:
        raise ConfigError(f"--seeds must be a comma list of integers, got {seeds!r}.") from None
    chosen = check_methods(_csv(methods) or default_methods(protocol))  # before any data is read
    for option, value in (("--ae-epochs", ae_epochs), ("--nce-epochs", nce_epochs), ("--dagmm-epochs", dagmm_epochs)):
        if value is not None:  # each named as typed (`--nce-epochs 0` was let through as `0 or 1`)
            validate.at_least(option, value, 1)
    validate.at_least("--decoder-epochs", decoder_epochs, 0)
    for value in seed_list:
        validate.at_least("--seeds", value, 0)
    validate.at_least("--latent", latent, 1)
    validate.ratio("--ratio", ratio)
    validate.at_least("--max-train", max_train, 2)
    validate.at_least("--threads", threads, 1)
    for option, folder in (("--out", out), ("--work", work)):
        if folder is not None and folder.exists() and not folder.is_dir():
            raise ConfigError(f"{option} {folder} is a file; give a folder (it is created if missing).")
    check_output(roc, option="--roc", writes="png")
    config = BenchConfig(device=device, max_train=max_train)
    config.ae.update(latent=latent, epochs=ae_epochs, decoder_epochs=decoder_epochs)
    config.nce.update(ratio=ratio, epochs=nce_epochs or 100)
    if nce_epochs is not None:  # given: tables keep it too instead of the rule's
        config.fixed["nce"] = {"epochs": nce_epochs}
    config.dagmm.update(epochs=dagmm_epochs)
    if schedule not in ("reduced", "reference"):
        raise ConfigError(f"--schedule must be reduced or reference, got {schedule!r}.")
    config.energy = {"schedule": schedule}
    if energy_steps is not None:
        validate.at_least("--energy-steps", energy_steps, 1)
        config.energy["steps"] = energy_steps
        config.fixed["energy"] = {"steps": energy_steps}
    class_list, corruption_list, dataset_list = _csv(classes), _csv(corruptions), _csv(datasets)
    max_test = None
    if quick:
        for part in ("ae", "nce", "dagmm", "energy"):
            merged = {**QUICK[part], **config.fixed.get(part, {})}  # an option given beats --quick's
            getattr(config, part).update(merged)
            config.fixed[part] = merged
        config.baseline_options = QUICK["baseline_options"]
        config.max_train = min(max_train, 2000)
        max_test = 1000
        class_list = class_list or ["0", "1"]
        sets = sets or "0,1"
        corruption_list = corruption_list or ["shot_noise", "rotate", "zigzag"]
        if protocol == "tabular":
            dataset_list = dataset_list or ["thyroid", "abalone"]
    set_list = [s.split(",") for s in sets.split(";")] if sets else None
    ood_list = _csv(ood)
    if ood_list and protocol != "ood":
        raise ConfigError("--ood names the out-of-distribution sets of the ood protocol; drop it or use ood.")
    splits = make_splits(protocol, data, class_list, set_list, corruption_list, dataset_list, max_test, ood_list,
                         contaminated)
    from rich.console import Console

    err = Console(stderr=True)
    options = {"classes": class_list, "sets": set_list, "corruptions": corruption_list, "datasets": dataset_list,
               "ood": ood_list, "max_test": max_test, "quick": quick, "contaminated": contaminated}
    work = work or out / "work"
    name = "novelty-contaminated" if contaminated else protocol  # the splits' own protocol name
    rows = run_protocol(splits, chosen, seed_list, out, work, config, name, data,
                        log=lambda message: err.print(f"[dim]{message}[/]"), options=options)
    if roc is not None and rows:
        first = rows[0]
        table = work / "scores" / f"{first['protocol']}-{first['split']}-s{first['seed']}.parquet"
        if table.exists():
            roc_figure(table, roc, f"{protocol}: {first['split']}")
        else:
            err.print(f"No ROC plot: {table} is missing (scores are kept for the first seed of the run "
                      "that scored the split); rerun that split with another --work or --out.")
    if json_out:
        print_json({"protocol": name, "out": str(out), "rows": rows})
        return
    metric = "f1" if protocol == "tabular" else "auroc"
    typer.echo(f"{metric.upper()} ({name}; mean ± std over seeds; results in {out}/results.csv)")
    typer.echo(summary_table(rows, metric, chosen))
