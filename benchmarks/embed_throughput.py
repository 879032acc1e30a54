"""Images per second of `cance embed` (random weights: speed does not depend on
them) for a backbone, at several batch sizes and input sizes, on CPU or CUDA.

    python benchmarks/embed_throughput.py --images 512 --batch-sizes 32 128 --device cpu
    python benchmarks/embed_throughput.py --backbone efficientnet-lite0 --image-sizes 224 112 64 --batch-sizes 64
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
from _jsonl import emit

from cance_cli.backbones import embed_batch, load_backbone


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--image-sizes", type=int, nargs="+", default=[224])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    x = np.random.default_rng(0).random((args.images, 1, 28, 28), dtype=np.float32)
    for size in args.image_sizes:
        model = load_backbone(args.backbone, random_init=True, image_size=size)
        model.module.to(device)
        embed_batch(model, x[:8], device)  # warm-up
        for bs in args.batch_sizes:
            measure(model, x, bs, size, device, args)


def measure(model, x, bs: int, size: int, device, args) -> None:
    """Embed every image of ``x`` in batches of ``bs``; print and append one JSON line."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for start in range(0, args.images, bs):
        embed_batch(model, x[start:start + bs], device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    row = {"backbone": args.backbone, "image_size": size, "device": str(device),
           "threads": torch.get_num_threads(), "batch_size": bs, "images": args.images,
           "images_per_second": round(args.images / wall, 1),
           "implementation": model.meta.get("implementation", "efficientnet-lite-pytorch"),
           "machine": platform.machine(), "torch": torch.__version__}
    emit(row, args.out)


if __name__ == "__main__":
    main()
