"""The cross-fitted threshold's two rules (cance_cli/thresholds.py), on synthetic scores: no model fits."""

import numpy as np

from cance_cli.thresholds import RULES, OutOfFold, _levels, threshold_of


def test_levels_place_a_score_among_the_fold_models_own_scores_with_ties_halved():
    own = np.array([1.0, 2.0, 2.0, 3.0])
    np.testing.assert_allclose(_levels(own, np.array([0.0, 2.0, 2.5, 9.0])), [0.0, 0.5, 0.75, 1.0])


def test_the_levels_rule_ignores_an_offset_between_fold_models_that_the_scores_rule_adds_up():
    """Five fold models score new rows alike up to an offset each (an NCE density's constant is learned per
    fit): pooled raw scores widen by the offsets, so their 90 % quantile flags fewer than 10 % of new rows of
    the full model; the levels and the centred scores, each fold against itself, do not see the offsets."""
    rng = np.random.default_rng(0)
    full_train = rng.normal(size=4000)  # the full model: new normal rows score like N(0.3, 1), its own rows N(0, 1)
    new_rows = rng.normal(0.3, 1.0, 20_000)
    scores, levels = [], []
    for offset in (-2.0, -1.0, 0.0, 1.0, 2.0):
        own = rng.normal(size=3200) + offset
        held = rng.normal(0.3, 1.0, 800) + offset
        scores.append(held)
        levels.append(_levels(own, held))
    centres = np.repeat([-2.0, -1.0, 0.0, 1.0, 2.0], 800)  # each fold's median own score, about its offset
    out = OutOfFold(np.concatenate(scores), np.concatenate(levels), centres)
    flagged = {rule: (new_rows > threshold_of(out, full_train, 0.1, rule)).mean() for rule in RULES}
    assert abs(flagged["levels"] - 0.1) < 0.015 and abs(flagged["centred"] - 0.1) < 0.015
    assert flagged["scores"] < 0.07


def test_the_levels_rule_falls_back_to_the_scores_when_few_training_scores_lie_above_its_quantile():
    out = OutOfFold(scores=np.arange(10.0), levels=np.full(10, 0.95), centres=np.zeros(10))
    train = np.arange(100.0)  # read at 0.95: 5 training scores above it, fewer than 10
    assert threshold_of(out, train, 0.1, "levels") == threshold_of(out, train, 0.1, "scores") == 8.1
    assert threshold_of(out, np.arange(1000.0), 0.1, "levels") == np.quantile(np.arange(1000.0), 0.95)
