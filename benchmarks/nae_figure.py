"""The talk's blind-spot figure: outliers the plain autoencoder reconstructs, and the NAE on them.

Reads a held-out-digit run of `benchmarks/nae_holdout.py` (its pre-trained
spherical autoencoder and the NAE trained from it), scores the MNIST test split
and draws, for the held-out digit's test images that the plain autoencoder
reconstructs best (its blind spot), and for a constant-grey and a uniform-noise
image: the input, the plain autoencoder's reconstruction and the NAE's, each
with its reconstruction error and that error's percentile among the normal
test digits (100 = above every normal digit: flagged).

    python benchmarks/nae_figure.py ../shared/data/mnist --work /tmp/holdout/digit1-seed0 --digit 1 \
        --out docs/nae-blind-spot.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cance_cli.bench.protocols import ood_images
from cance_cli.data import load_data
from cance_cli.plots import pyplot
from cance_cli.training.autoencoder import ConstrainedAutoencoder


def reconstruct(ae: ConstrainedAutoencoder, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import torch

    with torch.no_grad():
        _, x_hat = ae.model_(torch.from_numpy(x))
    x_hat = x_hat.numpy()
    return x_hat, ((x - x_hat) ** 2).reshape(len(x), -1).mean(axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--work", required=True, help="a digit folder of nae_holdout.py (ae.safetensors, nae.safetensors)")
    ap.add_argument("--digit", required=True)
    ap.add_argument("--examples", type=int, default=6)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    test = load_data(args.data, "test")
    x = test.batch(slice(None))
    held_out = test.y.astype(str) == args.digit
    models = {"plain AE": ConstrainedAutoencoder.load(Path(args.work) / "ae.safetensors", device="cpu"),
              "NAE": ConstrainedAutoencoder.load(Path(args.work) / "nae.safetensors", device="cpu")}
    errors = {name: reconstruct(ae, x)[1] for name, ae in models.items()}
    # The held-out digit's images the plain autoencoder reconstructs best, then one grey and one noise image.
    blind = np.flatnonzero(held_out)[np.argsort(errors["plain AE"][held_out])[: args.examples]]
    extra = np.concatenate([ood_images("constant", test, 1, seed=3), ood_images("noise", test, 1, seed=3)])
    shown = np.concatenate([x[blind], extra])
    labels = [f"digit {args.digit}"] * len(blind) + ["constant", "noise"]
    plt = pyplot()
    fig, axes = plt.subplots(3, len(shown), figsize=(1.6 * len(shown), 5.4))
    for col, (image, label) in enumerate(zip(shown, labels)):
        axes[0, col].imshow(image[0], cmap="gray", vmin=0, vmax=1)
        axes[0, col].set_title(label, fontsize=8)
        for row, (name, ae) in enumerate(models.items(), start=1):
            x_hat, err = reconstruct(ae, image[None])
            normal_errors = errors[name][~held_out]
            pct = 100.0 * (normal_errors < err[0]).mean()
            axes[row, col].imshow(x_hat[0, 0], cmap="gray", vmin=0, vmax=1)
            axes[row, col].set_title(f"{err[0]:.4f} (p{pct:.0f})", fontsize=8,
                                     color="tab:red" if pct >= 95 else "black")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for row, name in enumerate(["input", *models], start=0):
        axes[row, 0].set_ylabel(name, fontsize=9)
    fig.suptitle(f"MNIST, digit {args.digit} held out: reconstruction error (percentile among normal test "
                 "digits; red = flagged at p95)", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
