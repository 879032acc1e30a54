"""Why a row scored high: per-row, per-input-column attributions of a fitted table model.

The attribution of input column ``j`` to a row's score is what the score loses when that column alone is put
back to its typical normal value (the training median of a number, the most frequent level of a category,
the mean hour / weekday / month of a date), all other columns as they are:

    drop_j = score(row) - score(row with column j typical)

It is computed with the model itself (every view and their combination, nothing approximated), in the
user's columns (a category's level columns are one column), and it is exactly the question an analyst asks
("would this row look normal if this one value were usual?"). A column's *share* is its positive drop over
the row's excess above the typical normal score (the median training score), scaled down where the drops
together exceed the excess, so that the shares of a row sum to at most 1. Interactions are not split: two
columns that are only unusual together each get the drop of removing that combination.

Cost: one scoring of ``1 + columns`` rows per explained row, which is why `cance predict --explain` explains
the flagged rows only unless asked for all.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cance_cli.errors import DataError

EXPLAIN_BATCH = 65_536  # scored rows (explained rows x (1 + columns)) per call: memory stays flat


# ---------------------------------------------------------------------- fit time


NORMAL_RANGE = (5.0, 95.0)  # percentiles of the training rows shown as a number's normal range


REFERENCE_IMAGES = 10_000  # training images the typical image is the median of (seeded sample)


def reference_rows(est, train) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(typical row, (2, D) normal range) of the training rows ``train`` as the fitted ``est`` reads them:
    encoded table rows, or images flattened in [0, 1]; (None, None) for precomputed features."""
    from cance_cli.data.dataset import as_storage

    if est.feature_map == "precomputed":
        return None, None
    x, scale, kind = as_storage(train)
    if kind == "image":
        rows = np.random.default_rng(est.seed).permutation(len(x))[:REFERENCE_IMAGES]
        x = np.asarray(x[np.sort(rows)], dtype=np.float32).reshape(len(rows), -1) * np.float32(scale)
        return np.median(x, axis=0).astype(np.float64), np.percentile(x, NORMAL_RANGE, axis=0).astype(np.float64)
    return typical_row(x, est.encoding_), np.percentile(np.asarray(x, dtype=np.float64), NORMAL_RANGE, axis=0)


def typical_row(x: np.ndarray, encoding) -> np.ndarray:
    """The encoded typical normal row of the training rows ``x``: each column's median, a category as its
    most frequent level, a date's (sin, cos) pairs put back on the circle, indicators off."""
    typical = np.median(np.asarray(x, dtype=np.float64), axis=0)
    for plan, cols in zip(*_plans_and_columns(encoding, x.shape[1])):
        if plan is None:
            continue
        if plan.kind == "category":
            typical[cols] = 0.0
            typical[cols[0]] = 1.0  # levels are kept most frequent first
        elif plan.kind == "datetime":
            for p in range(len(plan.parts)):
                s, c = typical[cols[2 * p]], typical[cols[2 * p + 1]]
                r = math.hypot(s, c) or 1.0
                typical[cols[2 * p]], typical[cols[2 * p + 1]] = (s / r, c / r) if s or c else (0.0, 1.0)
            if plan.indicator:
                typical[cols[-1]] = 0.0
        elif plan.indicator:
            typical[cols[0]], typical[cols[1]] = plan.fill, 0.0
    return typical


def _plans_and_columns(encoding, width: int) -> tuple[list, list[np.ndarray]]:
    """(plan or None, encoded column indices) per input column that has encoded columns."""
    if encoding is None:
        return [None] * width, [np.array([j]) for j in range(width)]
    plans, groups, start = [], [], 0
    for plan in encoding.plans:
        n = len(plan.output_names())
        if n:
            plans.append(plan)
            groups.append(np.arange(start, start + n))
        start += n
    return plans, groups


# ---------------------------------------------------------------------- attributions


def column_groups(est) -> tuple[list[str], list[np.ndarray]]:
    """The model's input columns (a raw table's own columns, a category counted once) and the encoded
    columns of each."""
    encoding = getattr(est, "encoding_", None)
    plans, groups = _plans_and_columns(encoding, int(est.n_features_in_))
    if encoding is not None:
        return [p.name for p in plans], groups
    names = getattr(est, "feature_names_in_", None)
    return ([str(n) for n in names] if names is not None else [f"x{j}" for j in range(len(groups))]), groups


SYMMETRIC = False  # also the gain of each column alone on the typical row (see score_drops); a switch measured


def score_drops(est, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(score (N,), combined attribution (N, columns), each view's (N, columns)) of the encoded rows ``x``:
    the drop of putting each column back to typical; with :data:`SYMMETRIC`, its mean with the gain of
    putting the row's value of the column alone into the typical row (the first and last orders of a
    Shapley value)."""
    from cance_cli.views.fusion import combine

    typical = require_explainable(est)
    _, groups = column_groups(est)
    m = len(groups)
    parts = 2 * m + 2 if SYMMETRIC else m + 1
    x = np.asarray(x, dtype=np.float32)
    n = len(x)
    scores = np.empty(n)
    drops = np.empty((n, m))
    view_drops = {v: np.empty((n, m)) for v in est.views_} if len(est.views_) > 1 else {}
    step = max(1, EXPLAIN_BATCH // parts)
    for start in range(0, n, step):
        rows = x[start:start + step]
        b = len(rows)
        block = np.repeat(rows[None], parts, axis=0)  # (parts, b, D): the rows, then one column typical each
        for j, cols in enumerate(groups):
            block[j + 1][:, cols] = typical[cols]
        if SYMMETRIC:  # then the typical row with one column of the row each, then the typical row
            block[m + 1:] = typical
            for j, cols in enumerate(groups):
                block[m + 1 + j][:, cols] = rows[:, cols]
        views = est.view_scores(_encoded_rows(est, block.reshape(parts * b, -1)))
        views["(combined)"] = combine(views, est.calibration_)
        for v, s in views.items():
            s = np.asarray(s, dtype=np.float64).reshape(parts, b)
            a = (s[0] - s[1:m + 1]).T
            if SYMMETRIC:
                a = (a + (s[m + 1:2 * m + 1] - s[-1]).T) / 2
            if v == "(combined)":
                scores[start:start + b], drops[start:start + b] = s[0], a
            elif v in view_drops:
                view_drops[v][start:start + b] = a
    return scores, drops, view_drops


PARTS = ("latent", "reconstruction", "cosine")  # the paper's three parts of a composite feature [z, e, d]


def composite_parts(est, x: np.ndarray) -> np.ndarray | None:
    """(N, 3): how much the composite view's score drops when the latent, the reconstruction error or the
    cosine dissimilarity of each encoded row's composite feature is put back to the typical row's; None for
    a model without that view (or with the latent alone)."""
    if est.density_ is None or est.features != "composite" or est.feature_map == "precomputed":
        return None
    typical = require_explainable(est)
    rows = est._inputs(_encoded_rows(est, np.vstack([typical, x]).astype(np.float32)), reset=False)
    c, _ = est._select(*est._composite(rows))
    reference, c = c[0], c[1:]
    latent = c.shape[1] - 2
    spans = (slice(0, latent), slice(latent, latent + 1), slice(latent + 1, latent + 2))
    block = np.repeat(c[None], 4, axis=0)
    for i, span in enumerate(spans):
        block[i + 1][:, span] = reference[span]
    s = np.asarray(est.density_.score_samples(block.reshape(4 * len(c), -1)), dtype=np.float64).reshape(4, -1)
    return (s[0] - s[1:]).T


def _encoded_rows(est, x: np.ndarray):
    """Encoded rows as the estimator scores them (no second encoding)."""
    from cance_cli.data import Dataset

    names = getattr(est, "feature_names_in_", None)
    return Dataset(x=x, y=None, ids=np.arange(len(x)), kind="table", source="explained rows", split="all",
                   feature_names=None if names is None else [str(n) for n in names])


def require_explainable(est) -> np.ndarray:
    """The model's typical encoded row, or a DataError saying why this model cannot be explained."""
    typical = getattr(est, "typical_", None)
    if est.settings_.get("kind") != "table":
        raise DataError("explanations by column are for models fitted on tables; for an image model draw anomaly "
                        "maps with `explain_maps` DIR (CANCE.explain_maps).")
    if typical is None:
        raise DataError("this model was written before cance kept the typical normal row that explanations "
                        "need; fit it again with this version.")
    return typical


def shares(drops: np.ndarray, excess: np.ndarray) -> np.ndarray:
    """Each column's share of the row's excess score: positive drops over max(excess, their sum), 0 for a row
    not above the typical normal score. A row's shares sum to at most 1."""
    positive = np.clip(drops, 0.0, None)
    denominator = np.maximum(np.asarray(excess, dtype=np.float64), positive.sum(axis=1))
    out = np.zeros_like(positive)
    above = denominator > 0
    out[above] = positive[above] / denominator[above, None]
    out[np.asarray(excess) <= 0] = 0.0
    return out


GREEDY = True  # each next reason with the reasons before it already put back (see top_reasons)


def top_reasons(est, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(score (N,), the k most responsible columns (N, k), their shares (N, k), and per view of a model of
    several views the column whose return lowers that view's own score most (N,)) of the encoded rows ``x``.

    With :data:`GREEDY` (the default) the reasons are found one after the other: the i-th is the column whose
    return to typical lowers the score most once the reasons before it are already typical, and its share is
    that drop. The drops of a row add up along that path (score minus the score with all k put back), so two
    shifted columns are both found even where the model's score is dominated by one of them. Without it,
    every column's drop is measured once from the row itself (k times cheaper)."""
    x = np.asarray(x, dtype=np.float32)
    scores, drops, view_drops = score_drops(est, x)
    per_view = {v: np.argmax(d, axis=1) for v, d in view_drops.items()}
    excess = scores - typical_score(est)
    if not GREEDY or k == 1:
        top = top_columns(drops, k)
        return scores, top, shares(drops, excess)[np.arange(len(x))[:, None], top], per_view
    typical = require_explainable(est)
    _, groups = column_groups(est)
    top, path = np.zeros((len(x), k), dtype=np.int64), np.zeros((len(x), k))
    current, rows = x.copy(), np.arange(len(x))
    for i in range(k):
        if i:  # the row's score now is known (the last drop taken off), and the reasons found are not rescored
            drops = _remaining_drops(est, current, scores - path[:, :i].sum(axis=1), top[:, :i], groups, typical)
        drops[rows[:, None], top[:, :i]] = -np.inf  # already put back
        top[:, i] = np.argmax(drops, axis=1)
        path[:, i] = drops[rows, top[:, i]]
        for j in np.unique(top[:, i]):
            current[np.ix_(top[:, i] == j, groups[j])] = typical[groups[j]]
    return scores, top, shares(path, excess), per_view


def _remaining_drops(est, current: np.ndarray, base: np.ndarray, done: np.ndarray, groups, typical) -> np.ndarray:
    """(N, columns): the drop from ``base`` (the rows' scores) of putting each column not in ``done`` back to
    typical in the encoded rows ``current``; -inf for the columns in ``done``."""
    from cance_cli.views.fusion import combine

    n, m = len(current), len(groups)
    todo = np.ones((n, m), dtype=bool)
    todo[np.arange(n)[:, None], done] = False
    row, col = np.nonzero(todo)
    drops = np.full((n, m), -np.inf)
    for start in range(0, len(row), EXPLAIN_BATCH):
        r, c = row[start:start + EXPLAIN_BATCH], col[start:start + EXPLAIN_BATCH]
        block = current[r]
        for j in np.unique(c):
            block[np.ix_(c == j, groups[j])] = typical[groups[j]]
        drops[r, c] = base[r] - combine(est.view_scores(_encoded_rows(est, block)), est.calibration_)
    return drops


def top_columns(drops: np.ndarray, k: int) -> np.ndarray:
    """(N, k) indices of the columns with the largest drops, largest first (ties by column order)."""
    order = np.argsort(-drops, axis=1, kind="stable")
    return order[:, :k]


# ---------------------------------------------------------------------- values in the user's terms


def typical_values(est) -> list[str]:
    """The typical normal value of each input column, as text."""
    plans, groups = _plans_and_columns(getattr(est, "encoding_", None), int(est.n_features_in_))
    typical = require_explainable(est)
    return [_describe(plan, typical[cols]) for plan, cols in zip(plans, groups)]


def normal_ranges(est) -> list[str]:
    """What training rows held in each input column, as text: a number's 5-95th percentile range, a
    category's most frequent levels and their shares."""
    plans, groups = _plans_and_columns(getattr(est, "encoding_", None), int(est.n_features_in_))
    lo, hi = est.normal_range_
    out = []
    for plan, cols in zip(plans, groups):
        if plan is None or plan.kind == "number":
            out.append(f"{lo[cols[0]]:.6g} to {hi[cols[0]]:.6g}")
        elif plan.kind == "category":
            out.append(", ".join(f"{lv} {share:.0%}" for lv, share in zip(plan.levels[:3], plan.shares[:3]))
                       + (", ..." if len(plan.levels) > 3 or plan.other else ""))
        else:
            out.append("")
    return out


def encoded_values(est, x: np.ndarray, j: int) -> list[str]:
    """Input column ``j`` of the encoded rows ``x``, as text (read back from the encoding: a category never
    seen at fit shows as the level it was encoded as)."""
    plans, groups = _plans_and_columns(getattr(est, "encoding_", None), int(est.n_features_in_))
    return [_describe(plans[j], row) for row in np.asarray(x, dtype=np.float64)[:, groups[j]]]


def _describe(plan, block: np.ndarray) -> str:
    from cance_cli.data.encoding import MISSING, OTHER

    if plan is None or plan.kind == "number":
        return MISSING if plan is not None and plan.indicator and block[1] > 0.5 else f"{block[0]:.6g}"
    if plan.kind == "boolean":
        return MISSING if plan.indicator and block[1] > 0.5 else str(bool(block[0] > 0.5))
    if plan.kind == "category":
        levels = list(plan.levels) + ([OTHER] if plan.other else [])
        return levels[int(np.argmax(block[:len(levels)]))]
    if plan.indicator and block[-1] > 0.5:
        return MISSING
    from cance_cli.data.encoding import DATE_PARTS

    parts = []
    for p, part in enumerate(plan.parts):
        angle = math.atan2(block[2 * p], block[2 * p + 1]) % (2 * math.pi)
        parts.append(f"{part} {angle / (2 * math.pi) * DATE_PARTS[part]:.3g}")
    return ", ".join(parts)


def cell_text(column, rows: np.ndarray) -> list[str]:
    """Cells of an Arrow column at ``rows`` as text (an empty cell as (missing))."""
    from cance_cli.data.encoding import MISSING

    out = []
    for v in column.take(rows).to_pylist():
        out.append(MISSING if v is None or (isinstance(v, str) and not v.strip())
                   else f"{v:.6g}" if isinstance(v, float) else str(v))
    return out


def explanation_columns(est, x: np.ndarray, k: int, raw=None) -> dict[str, Any]:
    """The explanation of the encoded rows ``x``: ``why_i`` (input column), ``why_i_share``, ``why_i_value``
    (the row's value, from the Arrow table ``raw`` of the same rows when given) and ``why_i_typical`` for
    i = 1..k, plus ``score`` and, with a composite view, ``why_part``. Lists and arrays, one entry per row."""
    names, _ = column_groups(est)
    k = max(1, min(int(k), len(names)))
    scores, top, share, per_view = top_reasons(est, x, k)
    typical = typical_values(est)
    out: dict[str, Any] = {"score": scores}
    parts = composite_parts(est, x) if len(x) else None
    if parts is not None:
        out["why_part"] = [PARTS[i] for i in np.argmax(parts, axis=1)]
    for view, column in per_view.items():
        out[f"why_{view}"] = [names[j] for j in column]
    for i in range(k):
        column = top[:, i]
        values = np.empty(len(x), dtype=object)
        for j in np.unique(column):
            rows = np.flatnonzero(column == j)
            if raw is not None and names[j] in raw.column_names:
                values[rows] = cell_text(raw.column(names[j]), rows)
            else:
                values[rows] = encoded_values(est, x[rows], int(j))
        out[f"why_{i + 1}"] = [names[j] for j in column]
        out[f"why_{i + 1}_share"] = share[:, i]
        out[f"why_{i + 1}_value"] = values.tolist()
        out[f"why_{i + 1}_typical"] = [typical[j] for j in column]
    return out


def typical_score(est) -> float:
    """The typical normal score: the median of the training rows' scores."""
    stats = est.score_stats_
    return float(stats.get("median", stats["mean"]))


def explanation_names(k: int) -> list[str]:
    """The column names ``explanation_columns`` adds for ``k`` reasons, in order."""
    return [f"why_{i}{suffix}" for i in range(1, k + 1) for suffix in ("", "_share", "_value", "_typical")]


def explanation_fields(est, k: int) -> list:
    """The Arrow fields of :func:`explanation_arrays`, in order."""
    import pyarrow as pa

    part = [pa.field("why_part", pa.string())] if "composite" in est.views_ and est.features == "composite" \
        and est.feature_map != "precomputed" else []
    views = [pa.field(f"why_{v}", pa.string()) for v in est.views_] if len(est.views_) > 1 else []
    reasons = [pa.field(n, pa.float64() if n.endswith("_share") else pa.string()) for n in explanation_names(k)]
    return part + views + reasons


def explanation_arrays(est, x: np.ndarray, k: int, explained: np.ndarray, raw=None) -> dict[str, Any]:
    """Arrow columns of :func:`explanation_columns` for the rows ``x``, filled where ``explained`` (a bool
    mask) and null elsewhere; ``raw``: the Arrow table of the same rows, for the values as given."""
    import pyarrow as pa

    k = max(1, min(int(k), len(column_groups(est)[0])))
    rows = np.flatnonzero(explained)
    done = explanation_columns(est, x[rows], k, None if raw is None else raw.take(rows)) if len(rows) else {}
    unexplained = ~np.asarray(explained, dtype=bool)
    # Each explained row's position among the explained ones, null elsewhere: one vectorised take per column.
    where = pa.array(np.cumsum(~unexplained) - 1, pa.int64(), mask=unexplained)
    return {f.name: pa.array(done.get(f.name, []), f.type).take(where) for f in explanation_fields(est, k)}


class Explaining:
    """The estimator's ``explain``: attributions in the user's columns (see the module docstring)."""

    def explain(self, X, k: int = 3):
        """A pandas DataFrame, one row per row of ``X``: ``score``, ``is_flagged`` and, for i = 1..k,
        ``why_i`` (the input column most responsible, first), ``why_i_share`` (its share of the row's score
        above the typical normal score; a row's shares sum to at most 1), ``why_i_value`` (the row's value)
        and ``why_i_typical`` (the typical normal value); for a model with the composite view, ``why_part``:
        which of the composite feature's parts (latent, reconstruction, cosine) drove that view's score most;
        for a model of several views, ``why_<view>``: the column that view's own score blames most. Every row
        of ``X`` is explained."""
        import pandas as pd
        from sklearn.utils.validation import check_is_fitted

        from cance_cli.data import Dataset
        from cance_cli.data.encoding import as_arrow_table

        check_is_fitted(self, "views_")
        if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
            raise DataError(f"k must be a whole number >= 1, got {k!r}.")
        require_explainable(self)
        raw = X.raw if isinstance(X, Dataset) else as_arrow_table(X, always=False)
        ds = self._inputs(X, reset=False)
        x = ds.x if isinstance(ds, Dataset) else np.asarray(ds)
        cols = explanation_columns(self, x.reshape(len(x), -1), k, raw=raw)
        frame = pd.DataFrame({"score": cols.pop("score")})
        frame["is_flagged"] = (frame["score"] > self.threshold_).astype(np.int64)
        for name, values in cols.items():
            frame[name] = values
        return frame

    def explain_maps(self, X) -> dict[str, np.ndarray | None]:
        """Per-pixel anomaly maps ``(N, H, W)`` of images ``X`` (``(N, [C,] H, W)`` in [0, 1], or a Dataset):
        ``occlusion`` (the score lost when each patch is put back to the typical image) and, on the
        autoencoder path, ``reconstruction`` (squared error per pixel); see :mod:`cance_cli.explain_images`."""
        from cance_cli.explain_images import as_images, image_maps

        return image_maps(self, as_images(self, X))
