"""The one epoch loop the epoch-trained models share (constrained autoencoder, NCE density, DAGMM).

It owns what every such fit does around its step: the order of the rows each epoch (a seeded
permutation, or under torchrun this rank's share of it, as DistributedSampler deals it), the batch
size per rank, validation after each epoch, the history, keeping the weights of the lowest validation
loss (and restoring them at the end), and the progress callback, which also stops a fit at its next
epoch after an interrupt. A model supplies only its epoch's steps and its validation loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from cance_cli import defaults
from cance_cli.runtime import distributed
from cance_cli.training.common import BestState


def epoch_order(index: np.ndarray, gen, seed: int, epoch: int, batch_size: int,
                group: distributed.Group | None = None) -> tuple[np.ndarray, int]:
    """``(rows in this epoch's order, batch size per step)``: a permutation of ``index`` drawn from
    ``gen``; in a torchrun group, this rank's share of a permutation seeded by (seed, epoch) and its share
    of the batch. Above ``defaults.EPOCH_MAX_ROWS`` rows the epoch is the permutation's first that many
    (each rank's first share of them): the training cost stops growing with N."""
    import torch

    if group is not None and group.active:
        share = math.ceil(defaults.EPOCH_MAX_ROWS / group.world_size)
        return distributed.shard(index, seed, epoch, group)[:share], distributed.local_batch_size(batch_size, group)
    return index[torch.randperm(len(index), generator=gen).numpy()][:defaults.EPOCH_MAX_ROWS], batch_size


def fit_epochs(epochs: int, train_epoch: Callable[[int], float], validate: Callable[[float], float], keep,
               history: dict[str, Any], advance: Callable[[str], None] | None = None,
               describe: Callable[[float, float], str] | None = None, best: BestState | None = None,
               on_epoch: Callable[[], None] | None = None, first_epoch: int = 0) -> BestState:
    """Run ``epochs`` epochs: ``train_epoch(epoch)`` returns the training loss, ``validate(train_loss)`` the
    validation loss; ``history['train']`` / ``['val']`` grow; the state of ``keep`` (anything with
    ``state_dict`` / ``load_state_dict``) at the lowest finite validation loss is restored at the end and
    recorded as ``history['best_epoch']`` / ``['best_val']``. ``best`` may carry a state to beat;
    ``on_epoch`` runs after validation (extra history); ``first_epoch`` numbers the epochs (a second stage
    continues the first one's)."""
    best = best if best is not None else BestState()
    history.setdefault("train", [])
    history.setdefault("val", [])
    for epoch in range(epochs):
        tr = train_epoch(first_epoch + epoch)
        va = validate(tr)
        history["train"].append(tr)
        history["val"].append(va)
        if on_epoch is not None:
            on_epoch()
        if math.isfinite(va):
            best.update(va, epoch, keep)
        if advance is not None:
            advance(describe(tr, va) if describe else f"train {tr:.4f} val {va:.4f}")
    best.restore(keep)
    history["best_epoch"], history["best_val"] = best.epoch, best.loss
    return best


def fit_steps(steps: int, step_loss: Callable[[int], tuple[Any, Callable[[], dict[str, float]], str]], opt,
              history: dict[str, list], advance: Callable[[str], None] | None = None,
              on_diverge: Callable[[int], None] | None = None, average=None, after_step=None,
              group: distributed.Group | None = None, every: int = 10) -> int:
    """The step loop of the energy models (NAE, MPDR): ``step_loss(step)`` draws the step's samples and
    returns ``(loss, record, message)``. A loss that is not finite (on any rank, under torchrun) ends training:
    ``on_diverge(step)`` says so (and may restore the last good weights). Otherwise one optimiser step
    (gradients of ``average`` averaged over the ranks when given), then ``after_step()``; every ``every``-th
    and the last step ``record()`` is appended to ``history``. Returns the number of steps taken."""
    import torch

    for step in range(steps):
        loss, record, message = step_loss(step)
        finite = bool(torch.isfinite(loss))
        if group is not None and group.active:  # every rank stops together, or none does
            finite = distributed.all_sum(0.0 if finite else 1.0)[0] == 0
        if not finite:
            if on_diverge is not None:
                on_diverge(step)
            return step
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if average is not None and group is not None and group.active:
            distributed.average_gradients(average)
        opt.step()
        if after_step is not None:
            after_step()
        if step % every == 0 or step == steps - 1:
            for key, value in record().items():
                history[key].append(value)
        if advance is not None:
            advance(message)
    return steps
