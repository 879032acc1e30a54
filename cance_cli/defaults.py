"""Data-aware default settings: sizes and schedules chosen from the data's shape.

When the user gives no size, :func:`choose_settings` picks the autoencoder's
latent width, hidden widths, epochs and batch size and the density's epochs
from the kind of data (table or image), its row count N and width F. The
rule, and the measurements behind it, are written in ``docs/defaults.md``;
every chosen value is reported (``CANCE.settings_``, the model manifest and
`cance fit`'s output) with the reason.
"""

from __future__ import annotations

import math
from typing import Any

# Images: the one-class MNIST / Fashion-MNIST settings (about 6,000 training
# images, 30 + 10 epochs, NCE 100 epochs), with epochs scaled down on larger
# training sets so the number of optimizer steps stays about the same.
IMAGE_REFERENCE_ROWS = 6_000
# Density: about this many optimizer steps at batch 256 (100 epochs of 6,000 rows),
# and the width of its network. Tables get a narrower, shorter density: on the
# development tables it scored as well (docs/defaults.md, "Density size for
# tables") in a quarter of the time, which is what `cance fit`'s seconds are.
NCE_STEP_BUDGET = {"image": 2_400, "table": 1_200}
NCE_HIDDEN = {"image": 128, "table": 64}
NCE_BATCH = 256


def _clip(value: float, low: int, high: int) -> int:
    return int(min(max(round(value), low), high))


# An epoch of any epoch-trained model (autoencoder, NCE density) visits at most this many training rows, a
# fresh seeded draw each epoch, so the training cost stops growing with N (docs/defaults.md, "Large tables");
# no development table or image set reaches it (the largest trains on 60,000).
EPOCH_MAX_ROWS = 200_000


def nce_epochs_for(n_rows: int, family: str = "image", batch_size: int = NCE_BATCH) -> int:
    """Density epochs for ``n_rows`` training rows: about the family's step budget,
    clip(budget / batches per epoch, 10, 100) (100 up to 6,144 rows at batch 256)."""
    return _clip(NCE_STEP_BUDGET[family] / max(1, math.ceil(n_rows / batch_size)), 10, 100)


def choose_settings(kind: str, n_rows: int, sample_shape: tuple[int, ...],
                    density_family: str | None = None) -> dict[str, Any]:
    """Settings for ``n_rows`` training samples of shape ``sample_shape``.

    ``density_family`` picks the NCE density's width and step budget: ``table``
    (64, 1,200 steps) or ``image`` (128, 2,400; also embeddings through a PCA);
    by default the kind's own.

    Returns the keys ``latent``, ``hidden`` (None = the architecture's own
    width rule), ``ae_epochs``, ``decoder_epochs``, ``ae_batch_size``,
    ``nce_epochs``, ``nce_batch_size``, ``nce_hidden`` (the density network's
    width) and ``rule`` (one line per choice).
    """
    width = int(math.prod(sample_shape))
    batch = 128 if n_rows < 50_000 else 1024
    family = density_family or ("table" if kind == "table" else "image")
    budget, nce_hidden = NCE_STEP_BUDGET[family], NCE_HIDDEN[family]
    nce_epochs = nce_epochs_for(n_rows, family)
    if kind == "table":
        latent = _clip(width // 8, 2, 8)
        latent = min(latent, width)
        ae_epochs, decoder_epochs = 10, 3
        rule = [f"table of F = {width} columns, N = {n_rows} rows",
                f"latent = clip(F // 8, 2, 8) = {latent}",
                "autoencoder epochs 10 + 3 (longer training lets the autoencoder reconstruct anomalies too)",
                f"batch {batch} (1024 from 50,000 rows)"]
    else:
        latent = 32 if width >= 28 * 28 else min(8, width)
        ae_epochs = _clip(30 * IMAGE_REFERENCE_ROWS / max(n_rows, 1), 3, 30)
        decoder_epochs = max(1, _clip(ae_epochs / 3, 1, 10))
        rule = [f"images of shape {tuple(sample_shape)}, N = {n_rows}",
                f"latent = {latent} (32 from 28x28 pixels, else 8)",
                f"autoencoder epochs = clip(30 x 6000 / N, 3, 30) = {ae_epochs}, decoder epochs = {decoder_epochs}",
                f"batch {batch} (1024 from 50,000 rows)"]
    rule.append(f"NCE epochs = clip({budget} / batches per epoch, 10, 100) = {nce_epochs}, density width "
                f"{nce_hidden} ({'tables' if family == 'table' else 'images and embeddings'})")
    if n_rows > EPOCH_MAX_ROWS:
        rule.append(f"an epoch visits {EPOCH_MAX_ROWS:,} of the N rows, freshly drawn each epoch "
                    f"(N > {EPOCH_MAX_ROWS:,})")
    return {"latent": latent, "hidden": None, "ae_epochs": ae_epochs, "decoder_epochs": decoder_epochs,
            "ae_batch_size": batch, "nce_epochs": nce_epochs, "nce_batch_size": NCE_BATCH, "nce_hidden": nce_hidden,
            "rule": rule}
