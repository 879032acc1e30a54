"""Where a model's threshold comes from: out-of-fold scores of the training rows (docs/defaults.md,
"Threshold"), so that it flags the stated share of *new* normal rows. A model scores the rows it was
fitted on lower than new ones (measured: 10-29 % of new normal rows above a 10 % in-sample quantile)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import numpy as np

log = logging.getLogger("cance")

CROSSFIT_FOLDS = 5  # threshold_folds="auto": folds of the cross-fit below CROSSFIT_LARGE rows
CROSSFIT_LARGE = 10_000  # training rows from which 2 folds are used (5 measured up to 9,285; 2 to bound the cost)
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


def out_of_fold_scores(estimator, X, folds: int, take: Callable[[Any, np.ndarray], Any]) -> np.ndarray | None:
    """Each row's score by a copy of ``estimator`` (same parameters, its own sizes) fitted on the other
    folds; ``take(X, rows)`` selects rows. The folds are drawn with the estimator's seed. None, with a
    warning, when a fold's rows are too few for the model (the full fit had just enough)."""
    from sklearn.base import clone

    from cance_cli.errors import DataError
    from cance_cli.runtime.progress import progress_bar

    order = np.random.default_rng(estimator.seed).permutation(len(X))
    scores = np.empty(len(X))
    with progress_bar(folds, f"threshold ({folds}-fold cross-fit)", estimator.verbose) as advance:
        for part in np.array_split(order, folds):
            part = np.sort(part)
            rest = np.setdiff1d(order, part)
            model = clone(estimator).set_params(threshold_folds=0, fpr=None, verbose=False)
            try:
                with _fold_warnings_silenced():  # the full fit already said them once; each fold would repeat them
                    scores[part] = model.fit(take(X, rest)).score_samples(take(X, part))
            except DataError as exc:
                log.warning("the threshold comes from the training rows' own scores (it flags more new normal "
                            "rows than it states): %d of %d rows are too few to cross-fit it (%s)", len(rest),
                            len(X), str(exc).split(";")[0])
                return None
            advance()
    return scores
