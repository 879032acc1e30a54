"""The talk's energy-based detectors in the benchmark harness (holdout and ood protocols).

One spherical autoencoder (the references' architecture) is pre-trained per
training set and seed; ``Error-ref`` is its reconstruction error (the talk's
plain autoencoder), ``NAE`` trains a copy of it by the NAE objective and
``MPDR-R`` uses another copy as its frozen projection, so the columns differ
only by the energy-based training. ``CANCE-on-NAE`` runs the paper's staged
pipeline on the NAE checkpoint: features (its ``recon_error`` is the NAE
energy), `fit-nce` with the run's NCE settings, `score`.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np

from cance_cli.errors import ConfigError

ENERGY_METHODS = ("Error-ref", "NAE", "MPDR-R", "CANCE-on-NAE")


def _trained(cache: dict, key, make):
    """``make()`` once per key (the ood splits share one training set); (model, seconds)."""
    if key[0] is not None and key in cache:
        return cache[key], 0.0
    started = time.perf_counter()
    model = make()
    if key[0] is not None:
        cache[key] = model
    return model, time.perf_counter() - started


def energy_scores(split, methods: list[str], seed: int, folder: Path, options: dict[str, Any], nce: dict[str, Any],
                  device: str, cache: dict) -> dict[str, tuple[np.ndarray, float]]:
    """Scores and seconds (training once, then scoring) of the chosen energy methods on ``split``.

    ``options``: the NAE / MPDR-R settings of the run (``schedule``, and ``steps`` /
    ``ae_epochs`` when given); ``nce``: the density settings of CANCE-on-NAE.
    """
    from cance_cli.training.mpdr import MPDR
    from cance_cli.training.nae import NormalizedAutoencoder

    train_key = split.meta.get("train_key")
    wanted = [m for m in methods if m in ENERGY_METHODS]
    out: dict[str, tuple[np.ndarray, float]] = {}
    if not wanted:
        return out
    from cance_cli.models.reference_ae import INPUT_SHAPE

    shape = tuple(split.train.sample_shape)
    if split.train.kind == "image" and shape != INPUT_SHAPE:
        raise ConfigError(f"The energy methods ({', '.join(wanted)}) use the references' network, defined for "
                          f"1 x 28 x 28 grey images, not {' x '.join(map(str, shape))}; leave them out with --methods.")
    ae, ae_seconds = _trained(cache, (train_key, seed, "reference-ae"), lambda: NormalizedAutoencoder(
        **options, seed=seed, device=device).pretrain(split.train))
    if "Error-ref" in wanted:
        started = time.perf_counter()
        error = np.concatenate([e for _, _, e, _ in ae.iter_composite(split.test)])
        out["Error-ref"] = (error, ae_seconds + time.perf_counter() - started)
    if "NAE" in wanted or "CANCE-on-NAE" in wanted:
        nae, seconds = _trained(cache, (train_key, seed, "NAE"), lambda: NormalizedAutoencoder(
            **options, seed=seed, device=device).fit(split.train, autoencoder=copy.deepcopy(ae)))
        if "NAE" in wanted:
            started = time.perf_counter()
            out["NAE"] = (nae.score_samples(split.test), ae_seconds + seconds + time.perf_counter() - started)
        if "CANCE-on-NAE" in wanted:
            here = folder / "cance-on-nae"
            density, fit_seconds = _trained(cache, (train_key, seed, "CANCE-on-NAE"),
                                            lambda: _fit_cance_on(nae, split, here, nce, seed, device))
            started = time.perf_counter()
            scores = _score_cance_on(nae, split, here, density)
            out["CANCE-on-NAE"] = (scores, ae_seconds + seconds + fit_seconds + time.perf_counter() - started)
    if "MPDR-R" in wanted:
        mpdr, seconds = _trained(cache, (train_key, seed, "MPDR-R"), lambda: MPDR(
            **options, seed=seed, device=device).fit(split.train, autoencoder=copy.deepcopy(ae)))
        started = time.perf_counter()
        out["MPDR-R"] = (mpdr.score_samples(split.test), ae_seconds + seconds + time.perf_counter() - started)
    return out


def _fit_cance_on(model, split, folder: Path, nce: dict[str, Any], seed: int, device: str) -> Path:
    """The staged CANCE pipeline's training half on an energy model's autoencoder:
    training features, then `fit-nce`; returns the density checkpoint."""
    from cance_cli.features import write_feature_table
    from cance_cli.pipeline import fit_nce_table

    folder.mkdir(parents=True, exist_ok=True)
    train, density = folder / "feats-train.parquet", folder / "nce-CANCE.safetensors"
    for path in (train, density):  # a rerun of the split writes them again
        path.unlink(missing_ok=True)
    write_feature_table(model.autoencoder_, split.train, train, split.normal)
    fit_nce_table(train, density, features="composite", **{**nce, "augment": True, "seed": seed, "device": device})
    return density


def _score_cance_on(model, split, folder: Path, density: Path) -> np.ndarray:
    """Test features of ``split`` and their scores under ``density`` (fitted once per training set)."""
    from cance_cli.features import write_feature_table
    from cance_cli.pipeline import load_scores, score_table

    folder.mkdir(parents=True, exist_ok=True)
    test, scores = folder / "feats-test.parquet", folder / "scores-CANCE-on-NAE.parquet"
    for path in (test, scores):
        path.unlink(missing_ok=True)
    write_feature_table(model.autoencoder_, split.test, test, split.normal)
    score_table(test, scores, density)
    return load_scores(scores)[2]
