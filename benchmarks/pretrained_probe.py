"""Are the EfficientNet-Lite0 weights pretrained? A 1-NN probe on Fashion-MNIST embeddings.

400 test images (40 per class, seeded), embedded at each --image-sizes with the
installed ImageNet weights and with random weights; leave-one-out 1-nearest-neighbour
accuracy under cosine similarity; raw pixels for reference. One JSON line per row.

    python benchmarks/pretrained_probe.py ../shared/data/fashion-mnist --image-sizes 224 112 64 \
        --out docs/results/pretrained-probe.jsonl
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _jsonl import emit

from cance_cli.backbones import embed_batch, load_backbone
from cance_cli.data import load_data


def nn1_accuracy(e: np.ndarray, labels: np.ndarray) -> float:
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    sim = e @ e.T
    np.fill_diagonal(sim, -np.inf)
    return float((labels[sim.argmax(axis=1)] == labels).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--image-sizes", type=int, nargs="+", default=[224, 112, 64])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    ds = load_data(args.data, "test")
    y = ds.y.astype(int)
    rng = np.random.default_rng(0)
    idx = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), args.per_class, replace=False)
                                  for c in np.unique(y)]))
    x, labels = ds.subset(idx).batch(slice(None)), y[idx]
    rows = [{"weights": "raw pixels", "image_size": 28, "nn1": nn1_accuracy(x.reshape(len(x), -1), labels)}]
    for size in args.image_sizes:
        for random_init in (False, True):
            backbone = load_backbone("efficientnet-lite0", random_init=random_init, image_size=size)
            started = time.perf_counter()
            e = np.concatenate([embed_batch(backbone, x[i:i + 50], torch.device("cpu")) for i in range(0, len(x), 50)])
            rows.append({"weights": "random" if random_init else "imagenet", "image_size": size,
                         "nn1": nn1_accuracy(e, labels), "images_per_second": round(len(x) / (time.perf_counter()
                                                                                              - started), 1)})
    for row in rows:
        emit({**row, "images": len(x), "threads": torch.get_num_threads()}, args.out)


if __name__ == "__main__":
    main()
