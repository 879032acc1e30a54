"""Do image anomaly maps point at the defect? (explanations issue, "images").

    python benchmarks/explain_maps.py [--data mnist,fashion-mnist] [--normal 0] [--seed 0] [--images 200] \
        [--epochs 10] [--out docs/results/explain/maps.jsonl] [--figures docs/figures]

One-class setting: a CANCE model (`cance fit` defaults, autoencoder path, ``--epochs`` autoencoder epochs
and 100 NCE epochs: a CPU schedule) fitted on the training images of class ``--normal``. Then:

- synthetic defects: on ``--images`` held-out normal test images, a 7 x 7 square pasted at a random place
  (seeded), holding the pixels of the same place in a random test image of another class, or white where
  that is blank; the pixel-level AUROC of each map for the pasted pixels (pooled over all images), and the
  image-level AUROC of the score (defective against the untouched originals);
- a figure (PNG) of the maps of the six highest-scoring test images of other classes beside the image.

One JSON line per (data, normal class, seed), appended.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("CANCE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SIDE = 7  # pixels of a pasted square


def paste_defects(images: np.ndarray, donors: np.ndarray, rng: np.random.Generator):
    """(defective images, (N, H, W) bool mask of the pasted pixels)."""
    out = images.copy()
    n, _, h, w = images.shape
    mask = np.zeros((n, h, w), dtype=bool)
    for i in range(n):
        r, c = rng.integers(0, h - SIDE + 1), rng.integers(0, w - SIDE + 1)
        patch = donors[i, :, r:r + SIDE, c:c + SIDE]
        if patch.max() < 0.3:  # a blank place of the donor: white instead
            patch = np.ones_like(patch)
        out[i, :, r:r + SIDE, c:c + SIDE] = patch
        mask[i, r:r + SIDE, c:c + SIDE] = True
    return out, mask


def main() -> None:
    import torch
    from sklearn.metrics import roc_auc_score

    from cance_cli.data import load_data
    from cance_cli.estimator import CANCE
    from cance_cli.explain_images import as_images, occlusion_maps, overlay, reconstruction_maps

    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="mnist,fashion-mnist")
    parser.add_argument("--normal", default="0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("docs/results/explain/maps.jsonl"))
    parser.add_argument("--figures", type=Path, default=Path("docs/figures"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.figures.mkdir(parents=True, exist_ok=True)
    for name in args.data.split(","):
        normal = args.normal
        train = load_data(str(DATA / name), "train")
        test = load_data(str(DATA / name), "test")
        train = train.subset(np.flatnonzero(train.y.astype(str) == normal))
        start = time.perf_counter()
        est = CANCE(seed=args.seed, verbose=False, threshold_folds=0, ae_epochs=args.epochs).fit(train)
        fit_seconds = time.perf_counter() - start
        rng = np.random.default_rng(args.seed)
        is_normal = test.y.astype(str) == normal
        clean_rows = rng.permutation(np.flatnonzero(is_normal))[:args.images]
        donor_rows = rng.choice(np.flatnonzero(~is_normal), size=len(clean_rows), replace=False)
        clean = as_images(est, test.subset(clean_rows))
        broken, mask = paste_defects(clean, as_images(est, test.subset(donor_rows)), rng)
        start = time.perf_counter()
        maps = {"occlusion": occlusion_maps(est, broken), "reconstruction": reconstruction_maps(est, broken)}
        map_seconds = (time.perf_counter() - start) / len(broken)
        scores = est.score_samples(np.concatenate([clean, broken]))
        row = {"data": name, "normal": normal, "seed": args.seed, "images": len(clean_rows),
               "ae_epochs": args.epochs, "fit_seconds": round(fit_seconds, 1),
               "map_seconds_per_image": round(map_seconds, 4),
               "image_auroc": float(roc_auc_score(np.r_[np.zeros(len(clean)), np.ones(len(broken))], scores))}
        for kind, m in maps.items():
            row[f"pixel_auroc_{kind}"] = float(roc_auc_score(mask.ravel(), m.ravel()))
            per_image = [roc_auc_score(mask[i].ravel(), m[i].ravel()) for i in range(len(m))]
            row[f"pixel_auroc_{kind}_per_image_mean"] = float(np.mean(per_image))
        row.update(date=str(date.today()), machine=platform.node())
        print(json.dumps(row), flush=True)
        with args.out.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        # The figure: the six highest-scoring test images of other classes, image | occlusion | reconstruction.
        others = np.flatnonzero(~is_normal)
        other_scores = est.score_samples(test.subset(others))
        top = others[np.argsort(-other_scores)[:6]]
        images = as_images(est, test.subset(top))
        top_maps = [occlusion_maps(est, images), reconstruction_maps(est, images)]
        rows = [np.concatenate([overlay(images[i], None), overlay(images[i], top_maps[0][i]),
                                overlay(images[i], top_maps[1][i])], axis=1) for i in range(len(top))]
        picture = np.kron(np.concatenate(rows, axis=0), np.ones((4, 4, 1)))
        from cance_cli.plots import pyplot

        pyplot().imsave(args.figures / f"maps-{name}-normal{normal}.png", picture.clip(0, 1))


if __name__ == "__main__":
    main()
