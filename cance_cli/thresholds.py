"""Where a model's threshold comes from: out-of-fold scores of the training rows (docs/defaults.md,
"Threshold"), so that it flags the stated share of *new* normal rows. A model scores the rows it was
fitted on lower than new ones (measured: 10-29 % of new normal rows above a 10 % in-sample quantile), and
each fold model scores on a scale of its own, so an out-of-fold score is read as its level among its own
fold model's training scores, and the threshold is read off the full model's at that level."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger("cance")

CROSSFIT_FOLDS = 5  # threshold_folds="auto": folds of the cross-fit below CROSSFIT_LARGE rows
CROSSFIT_LARGE = 10_000  # training rows from which 2 folds are used (5 measured up to 9,285; 2 to bound the cost)
RULES = ("scores", "centred", "levels")
THRESHOLD_RULE = "levels"  # which of RULES sets the threshold (docs/defaults.md, "Threshold")
LEVELS_MIN_ROWS_ABOVE = 10  # the levels rule reads its quantile off at least this many training scores above it
CROSSFIT_MIN = 40  # fewer training rows: no cross-fit (fold models of a handful of rows say nothing)


def crossfit_folds(setting: int | str, n_rows: int) -> int:
    """Folds of the cross-fit for ``n_rows`` training rows under ``setting`` ("auto" or a number; 0 or 1:
    none)."""
    if setting != "auto":
        return int(setting) if int(setting) >= 2 else 0
    if n_rows < CROSSFIT_MIN:
        return 0
    return CROSSFIT_FOLDS if n_rows < CROSSFIT_LARGE else 2


@contextmanager
def _fold_warnings_silenced():
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


@dataclass(frozen=True)
class OutOfFold:
    """Each training row's out-of-fold score, its level (where that score falls among the fold model's
    scores of its own training rows; 0: below all of them, 1: above all; ties count half) and the median of
    those scores (the fold model's centre)."""

    scores: np.ndarray
    levels: np.ndarray
    centres: np.ndarray  # the median of the fold model's scores of its own training rows, per row


def _levels(own: np.ndarray, scores: np.ndarray) -> np.ndarray:
    ranked = np.sort(own)
    below = np.searchsorted(ranked, scores, "left") + np.searchsorted(ranked, scores, "right")
    return below / (2.0 * len(ranked))


def threshold_of(out: OutOfFold, training_scores: np.ndarray, level: float, rule: str | None = None) -> float:
    """The threshold meant to flag ``level`` of new normal rows, for a model whose training rows scored
    ``training_scores``, by ``rule`` (default THRESHOLD_RULE):

    - ``scores``: the (1 - level) quantile of the pooled out-of-fold scores;
    - ``centred``: the same after each fold model's scores are shifted so that its own training rows' median
      is the model's (offsets between fits removed, scale kept);
    - ``levels``: the (1 - level) quantile of the out-of-fold levels, read off the model's own training
      scores (each fold model compared with itself: offset and scale removed). It falls back to ``scores``
      when fewer than LEVELS_MIN_ROWS_ABOVE training scores lie above that quantile (read off a handful of
      extreme scores it is unstable: Ionosphere, 112 rows, read at 0.978, flagged 17.7 % for 10 %).
    """
    rule = rule or THRESHOLD_RULE
    raw = float(np.quantile(out.scores, 1 - level))
    if rule == "scores":
        return raw
    if rule == "centred":  # each fold's scores shifted by its own centre, placed at the model's centre
        return float(np.quantile(out.scores - out.centres, 1 - level) + np.median(training_scores))
    if levels_fall_back(out, len(training_scores), level):
        return raw
    return float(np.quantile(training_scores, levels_quantile(out, level)))


def rule_in_effect(out: OutOfFold, n_training: int, level: float) -> str:
    """THRESHOLD_RULE, or ``scores`` where the ``levels`` rule falls back to it."""
    if THRESHOLD_RULE == "levels" and levels_fall_back(out, n_training, level):
        return "scores"
    return THRESHOLD_RULE


def levels_fall_back(out: OutOfFold, n_training: int, level: float) -> bool:
    """Whether the ``levels`` rule gives way to ``scores``: too few training scores above its read-off point."""
    return (1.0 - levels_quantile(out, level)) * n_training < LEVELS_MIN_ROWS_ABOVE


def levels_quantile(out: OutOfFold, level: float) -> float:
    """Where the ``levels`` rule reads the threshold off the model's training scores (a quantile level)."""
    return float(np.quantile(out.levels, 1 - level))


def out_of_fold_scores(estimator, X, folds: int, take: Callable[[Any, np.ndarray], Any]) -> OutOfFold | None:
    """Each row's score by a copy of ``estimator`` (same parameters, its own sizes) fitted on the other
    folds, and its level among that copy's scores of its own training rows (``decision_scores_``);
    ``take(X, rows)`` selects rows. The folds are drawn with the estimator's seed. None, with a
    warning, when a fold's rows are too few for the model (the full fit had just enough)."""
    from sklearn.base import clone

    from cance_cli.errors import DataError
    from cance_cli.runtime.progress import progress_bar

    order = np.random.default_rng(estimator.seed).permutation(len(X))
    scores, levels, centres = np.empty(len(X)), np.empty(len(X)), np.empty(len(X))
    with progress_bar(folds, f"threshold ({folds}-fold cross-fit)", estimator.verbose) as advance:
        for part in np.array_split(order, folds):
            part = np.sort(part)
            rest = np.setdiff1d(order, part)
            model = clone(estimator).set_params(threshold_folds=0, fpr=None, verbose=False)
            try:
                with _fold_warnings_silenced():  # the full fit already said them once; each fold would repeat them
                    scores[part] = model.fit(take(X, rest)).score_samples(take(X, part))
                levels[part] = _levels(model.decision_scores_, scores[part])
                centres[part] = np.median(model.decision_scores_)
            except DataError as exc:
                log.warning("the threshold comes from the training rows' own scores (it flags more new normal "
                            "rows than it states): %d of %d rows are too few to cross-fit it (%s)", len(rest),
                            len(X), str(exc).split(";")[0])
                return None
            advance()
    return OutOfFold(scores, levels, centres)


def repeated_rows_note(training_scores: np.ndarray, threshold: float, level: float) -> dict[str, float] | None:
    """Where one score is shared by a share of the training rows at least ``level`` (repeated rows score
    alike), no threshold can flag ``level`` of rows like them: a whole block falls on one side. Returns that
    largest block's share and the share of training rows above ``threshold`` (what such rows get, since a
    repeated row scores the same when it comes again), else None. Measured on kdd-probe, whose 60,593 normal
    rows hold 53 distinct ones (65 % one row): 3.8-31 % of new normal rows flagged for a stated 10 %."""
    scores = np.asarray(training_scores, dtype=np.float64)
    _, counts = np.unique(scores, return_counts=True)
    largest = float(counts.max() / len(scores))
    if largest < level:
        return None
    return {"largest_block": largest, "training_share_above": float(np.mean(scores > threshold))}
