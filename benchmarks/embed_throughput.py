"""Images per second of `cance embed --backbone resnet18` (random weights: speed
does not depend on them) at several batch sizes, on CPU or CUDA.

    python benchmarks/embed_throughput.py --images 512 --batch-sizes 32 128 --device cpu
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from cance_cli.backbones import embed_batch, load_backbone


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    model = load_backbone("resnet18", random_init=True)
    model.module.to(device)
    x = np.random.default_rng(0).random((args.images, 1, 28, 28), dtype=np.float32)
    embed_batch(model, x[:8], device)  # warm-up
    for bs in args.batch_sizes:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for start in range(0, args.images, bs):
            embed_batch(model, x[start:start + bs], device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        row = {"backbone": "resnet18", "device": str(device), "threads": torch.get_num_threads(),
               "batch_size": bs, "images": args.images, "images_per_second": round(args.images / wall, 1),
               "implementation": model.meta["implementation"], "machine": platform.machine(),
               "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__}
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
