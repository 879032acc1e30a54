"""NAE on MNIST hold-out: where the negatives start and end, and which start the method needs.

For one held-out digit and seed: the references' spherical autoencoder is pre-trained once (the
reduced schedule's, as `cance train-nae` does, kept under --work and reused), then for each
``--sampling`` (on-manifold = the method, cd = contrastive divergence from the data, pcd =
persistent CD from uniform noise) and each step multiplier of ``--budgets`` an NAE is trained from
a copy of it with `cance train-nae`'s defaults otherwise. Per run: AUROC of the energy on the
whole test split (the held-out digit positive), the energy history (positives; negatives at the
chain's start, after the latent chain and after the input chain) and a grid of negatives at
steps 1, 10, 30, 100, ... (PNG under --figures). One JSON line per run goes to --out.

    python benchmarks/nae_diagnose.py ../shared/data/mnist --digit 1 --sampling on-manifold,cd,pcd \
        --work /tmp/nae-diag --out docs/results/nae-diagnose.jsonl --figures docs/figures
"""

from __future__ import annotations

import argparse
import copy
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from _jsonl import emit
from sklearn.metrics import roc_auc_score

from cance_cli.data import load_data
from cance_cli.plots import pyplot
from cance_cli.training.autoencoder import ConstrainedAutoencoder
from cance_cli.training.nae import NormalizedAutoencoder


def draw_snapshots(snapshots: dict[int, np.ndarray], title: str, path: Path) -> None:
    """One row of negatives per recorded step."""
    plt = pyplot()
    steps = sorted(snapshots)
    cols = min(len(v) for v in snapshots.values())
    fig, axes = plt.subplots(len(steps), cols, figsize=(0.7 * cols, 0.75 * len(steps) + 0.4), squeeze=False)
    for r, step in enumerate(steps):
        for c in range(cols):
            ax = axes[r, c]
            ax.imshow(snapshots[step][c].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(f"step {step}", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def draw_energies(results: Path, path: Path) -> None:
    """Per run of ``results`` (this script's JSON lines): the energy of the positives and of the negatives where
    their chain starts, after the latent chain and after the input chain, over the training steps."""
    import json

    runs = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(runs), figsize=(3.2 * len(runs), 3.0), squeeze=False, sharey=True)
    for ax, run in zip(axes[0], runs):
        h = run["history"]
        for key, style in (("positive", "k-"), ("negative_start", "C0:"), ("negative_latent", "C1--"),
                           ("negative", "C3-")):
            ax.plot(h["step"], h[key], style, label=key.replace("_", " "))
        ax.set_yscale("log")
        extra = " ".join(f"{k}={v:g}" for k, v in (run.get("set") or {}).items())
        ax.set_title(f"{run['sampling']} x{run['budget']} {extra}\nheld-out {run['digit']}, seed {run['seed']}: "
                     f"AUROC {run['auroc']:.3f}", fontsize=8)
        ax.set_xlabel("step")
    axes[0, 0].set_ylabel("energy (mean squared error)")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?")
    ap.add_argument("--plot-energies", default=None, help="draw the energies of the runs in --out to this PNG, stop")
    ap.add_argument("--digit", default="1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sampling", default="on-manifold,cd,pcd")
    ap.add_argument("--budgets", default="1", help="comma-separated multipliers of the reduced schedule's steps")
    ap.add_argument("--set", default="", help="other NAE parameters, e.g. buffer_reuse=0.5;latent_noise=0.1")
    ap.add_argument("--steps", type=int, default=None, help="steps at budget 1 (default: the reduced schedule's)")
    ap.add_argument("--max-train", type=int, default=None, help="first N training rows (smoke runs)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", default="/tmp/nae-diag")
    ap.add_argument("--out", required=True)
    ap.add_argument("--figures", default=None, help="folder for the negatives' grids (PNG)")
    args = ap.parse_args()
    if args.plot_energies:
        return draw_energies(Path(args.out), Path(args.plot_energies))
    if not args.data:
        ap.error("give DATA (an MNIST source) or --plot-energies")
    torch.set_num_threads(args.threads)
    train, test = load_data(args.data, "train"), load_data(args.data, "test")
    normal = [str(d) for d in range(10) if str(d) != args.digit]
    rows = train.subset(train.normal_mask(normal))
    if args.max_train:
        rows = rows.subset(np.arange(len(rows)) < args.max_train)
    y = (test.y.astype(str) == args.digit).astype(int)
    folder = Path(args.work) / f"digit{args.digit}-seed{args.seed}"
    folder.mkdir(parents=True, exist_ok=True)
    ae_path = folder / "ae.safetensors"
    base = NormalizedAutoencoder(seed=args.seed, device="cpu")
    if ae_path.exists():
        ae = ConstrainedAutoencoder.load(ae_path, device="cpu")
    else:
        ae = base.pretrain(rows)
        ae.save(ae_path, {"normal_classes": normal, "seed": args.seed})
    error = roc_auc_score(y, np.concatenate([e for _, _, e, _ in ae.iter_composite(test)]))
    steps = args.steps or base.settings()["steps"]
    extra = {k: float(v) for k, v in (pair.split("=", 1) for pair in args.set.split(";") if pair)}
    for budget in map(int, args.budgets.split(",")):
        for sampling in args.sampling.split(","):
            model = NormalizedAutoencoder(sampling=sampling, steps=steps * budget, seed=args.seed, device="cpu",
                                          **extra)
            model.fit(rows, autoencoder=copy.deepcopy(ae))
            auroc = roc_auc_score(y, model.score_samples(test))
            tag = f"digit{args.digit}-seed{args.seed}-{sampling}-x{budget}" + "".join(f"-{k}{v:g}"
                                                                                      for k, v in extra.items())
            if args.figures:
                draw_snapshots(model.negative_snapshots_, f"NAE negatives ({sampling}, {steps * budget} steps), "
                               f"held-out {args.digit}, seed {args.seed}: AUROC {auroc:.3f}",
                               Path(args.figures) / f"nae-negatives-{tag}.png")
            emit({"digit": args.digit, "seed": args.seed, "sampling": sampling, "budget": budget, "set": extra,
                  "steps": steps * budget, "auroc": auroc, "error_auroc": error,
                  "fit_seconds": round(model.fit_seconds_, 1), "history": model.history_,
                  "threads": args.threads, "machine": platform.machine(), "date": str(date.today())}, args.out)
            model.save(folder / f"nae-{tag}.safetensors", {"normal_classes": normal})
            print(f"{tag}: AUROC {auroc:.4f} (plain AE {error:.4f}), {time.strftime('%H:%M:%S')}", flush=True)


if __name__ == "__main__":
    main()
