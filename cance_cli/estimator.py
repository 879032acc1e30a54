"""The scikit-learn / PyOD style CANCE estimator: composite features + NCE density.

A model scores rows from one or more views (:mod:`cance_cli.views`): the NCE
density of the composite features (the paper's method), the NCE density of
the table itself, and the distance to the nearest training rows; ``views="auto"``
chooses them from the data's shape. Scores of one density view are estimated
negative log-likelihoods; several views are combined on a common scale.
Either way **higher = more anomalous**
(PyOD's convention; the opposite sign of scikit-learn's ``score_samples``).
``predict`` returns 1 for anomalies and 0 for normal rows (PyOD's and the
tables' ``is_anomaly`` convention), not scikit-learn's -1/+1.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from cance_cli import thresholds
from cance_cli.columns import composite_columns
from cance_cli.data.dataset import Dataset
from cance_cli.defaults import choose_settings
from cance_cli.errors import ConfigError, DataError
from cance_cli.estimator_params import check_cance_params
from cance_cli.explain import Explaining, reference_rows
from cance_cli.thresholds import crossfit_folds, out_of_fold_scores, threshold_of
from cance_cli.views.fitting import ViewFitting
from cance_cli.views.fusion import combine

log = logging.getLogger("cance")
# An experiment switch (quality-on-unseen-tables issue, item 4: measured, see docs/benchmarks.md): refit once
# without this share of the training rows that the first fit scored highest (anomalies hidden in training data).
TRIM_SHARE = 0.0


class CANCE(ViewFitting, Explaining, OutlierMixin, BaseEstimator):
    """Constrained autoencoder (or a PCA, or precomputed features) + NCE density.

    Every size left as ``None`` is chosen from the data's shape at ``fit``
    (:func:`cance_cli.defaults.choose_settings`); ``settings_`` reports the
    values used and why.

    Parameters
    ----------
    feature_map : {"autoencoder", "pca", "precomputed"}
        ``pca``: a PCA of the input (embedding tables) with ``pca`` components.
        ``precomputed``: ``X`` already holds composite features whose last two
        columns are the reconstruction error and cosine dissimilarity.
    latent, lam, ae_hidden, ae_epochs, decoder_epochs, ae_batch_size :
        Autoencoder settings (``ae_hidden``: conv channels or MLP widths).
    pca : int or "auto"
        Components of the PCA feature map; ``auto`` takes the fewest that
        explain 90% of the variance (2 to 64).
    row_norm : {"auto", "unit", "none"}
        ``unit``: every row scaled to unit length before anything else (the cosine geometry of frozen-feature
        embeddings); ``auto``: ``unit`` for tables with ``feature_map="pca"`` (embedding tables; measured on
        CIFAR-10, docs/defaults.md "PCA"), else ``none``. Recorded in the model; applied at predict.
    features : {"composite", "latent"}
        Fit the density on [z, e, d] or on z alone (LatNCE).
    views : str
        ``auto`` (the rule of :func:`cance_cli.views.fusion.choose_views`:
        tables of at most 16 columns -> ``input``, wider tables ->
        ``composite+input+knn``, embeddings -> ``composite+knn``, images -> ``composite``), or a
        ``+``-joined choice of ``composite``, ``input`` and ``knn``.
    knn : int
        k of the neighbour view (distance to the k-th nearest training row).
    ratio, nce_epochs, nce_batch_size, hidden, augment, learn_noise :
        NCE settings (``hidden``: width of the density network; by default
        64 for tables and 128 for images and embeddings).
    density : str
        The density of the composite and input views: ``nce`` (the paper's), or the ``STAGE`` of a
        density registered with :func:`cance_cli.registry.register` (fitted with its own defaults; the
        NCE settings above do not apply to it).
    contamination : float in (0, 0.5]
        Share of new normal rows the threshold should flag (PyOD's convention), used unless ``fpr`` is
        given. Estimated from out-of-fold scores (``threshold_folds``), never from the scores of rows a
        model was fitted on.
    fpr : float in (0, 1), optional
        The same, read as a false-positive rate on normal rows (``contamination`` is then ignored).
    threshold_folds : "auto" or int
        Folds of the cross-fit that sets the threshold: each training row is scored by a model fitted
        without its fold, and the threshold is the (1 - level) quantile of those scores; the model kept is
        fitted on every row. ``auto``: 5 folds below 10,000 training rows, 2 from there, none below 40
        (docs/defaults.md).
        ``0``: the old rules (the training rows' own scores; with ``fpr``, a hold-out of
        ``calibration_fraction`` of ``X`` not used for training).
    seed, device, verbose : as elsewhere.

    Attributes
    ----------
    views_ : list of str
        The views fitted (in the order composite, input, knn).
    autoencoder_ : ConstrainedAutoencoder or None
    pca_ : PCAFeatureMap or None
    density_ : NCEDensity or None
        The density of the composite features (None without the composite view).
    input_map_, input_density_ : InputCoordinates, NCEDensity or None
        The input view: the table in principal coordinates and its density.
    knn_ : KNNDistance or None
    calibration_ : dict
        Median and interquartile range of each view's training scores (used to combine views).
    threshold_ : float
        Scores above it are flagged.
    decision_scores_ : ndarray
        Scores of the training rows (PyOD; not kept by ``save``).
    labels_ : ndarray
        ``decision_scores_ > threshold_`` as 0/1 (PyOD; not kept by ``save``).
    score_stats_ : dict
        Min, max, mean, median and std of the training scores (``predict_proba``, ``explain``; kept).
    typical_ : ndarray or None
        The typical normal row (encoded; an image's pixels in [0, 1]), which explanations put each column or
        patch back to; ``normal_range_`` the 5th and 95th percentiles of each (shown beside explanations).
    settings_ : dict
        The sizes and schedules used, and the rule that chose them.
    threshold_info_ : dict
        How the threshold was set (method, level, rows; for the cross-fit also its folds, the ``rule`` that set
        it and ``by_rule``, the threshold of each rule of :func:`cance_cli.thresholds.threshold_of`); with a
        block of repeated training rows, ``repeated_rows`` (:func:`cance_cli.thresholds.repeated_rows_note`).
    encoding_ : TableEncoding or None
        How a table's columns (text, dates, booleans, missing cells) become the numeric columns the model
        reads (:mod:`cance_cli.data.encoding`); None for images and arrays.
    n_features_in_, feature_names_in_ : as in scikit-learn, of the encoded columns (for a raw table
        ``encoding_.input_columns`` are the columns given).
    """

    def __init__(self, feature_map: str = "autoencoder", latent: int | None = None, lam: float = 0.01,
                 ae_hidden: tuple[int, ...] | None = None, ae_epochs: int | None = None,
                 decoder_epochs: int | None = None, ae_batch_size: int | None = None, pca: int | str = "auto",
                 row_norm: str = "auto", features: str = "composite", views: str = "auto", knn: int = 5,
                 ratio: float = 10.0, nce_epochs: int | None = None,
                 nce_batch_size: int | None = None, hidden: int | None = None, augment: bool = True,
                 learn_noise: bool = True, density: str = "nce", contamination: float = 0.1, fpr: float | None = None,
                 calibration_fraction: float = 0.1, threshold_folds: int | str = "auto", seed: int = 0,
                 device: str = "auto", verbose: bool = False):
        self.feature_map = feature_map
        self.latent = latent
        self.lam = lam
        self.ae_hidden = ae_hidden
        self.ae_epochs = ae_epochs
        self.decoder_epochs = decoder_epochs
        self.ae_batch_size = ae_batch_size
        self.pca = pca
        self.row_norm = row_norm
        self.features = features
        self.views = views
        self.knn = knn
        self.ratio = ratio
        self.nce_epochs = nce_epochs
        self.nce_batch_size = nce_batch_size
        self.hidden = hidden
        self.augment = augment
        self.learn_noise = learn_noise
        self.density = density
        self.contamination = contamination
        self.fpr = fpr
        self.calibration_fraction = calibration_fraction
        self.threshold_folds = threshold_folds
        self.seed = seed
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ inputs

    def check_params(self, names: dict[str, str] | None = None) -> None:
        """Raise a ConfigError naming the first out-of-range parameter, before any work (all of them are
        checked, by :func:`cance_cli.estimator_params.check_cance_params`; ``names`` maps parameters to what
        the caller's user typed, e.g. ``{"nce_epochs": "--nce-epochs"}``)."""
        check_cance_params(self.get_params(deep=False), names)

    def _inputs(self, X, reset: bool):
        """``X`` as the feature map takes it: a Dataset, an image array, or a checked float32 table. A table
        of text, dates, booleans or missing cells (a Dataset read with ``encode=True``, a pandas DataFrame or
        an Arrow table) is encoded by ``encoding_``, learned here at fit."""
        return self._normalised_rows(self._checked_inputs(self._encoded(X, reset), reset), reset)

    def _normalised_rows(self, X, reset: bool):
        """Rows scaled to unit length where ``row_norm`` says so (decided at fit: ``row_norm_``)."""
        from cance_cli import row_norm

        if reset:
            self.row_norm_ = row_norm.decide(self.row_norm, self.feature_map, X)
        return row_norm.unit_rows(X) if getattr(self, "row_norm_", "none") == "unit" else X

    def _checked_inputs(self, X, reset: bool):
        if isinstance(X, Dataset):
            width = int(math.prod(X.sample_shape))
            if reset:
                self.n_features_in_ = width
                if X.kind == "table" and X.feature_names:
                    self.feature_names_in_ = np.asarray(X.feature_names, dtype=object)
                elif hasattr(self, "feature_names_in_"):
                    del self.feature_names_in_
            else:
                self._check_width(width)
                names = getattr(self, "feature_names_in_", None)
                if names is not None and X.feature_names and list(X.feature_names) != list(names):
                    X = _realign(X, list(names))
            return X
        if hasattr(X, "ndim") and getattr(X, "ndim", 2) > 2:  # images (N, [C,] H, W)
            arr = np.asarray(X)
            if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
                raise DataError("Input contains NaN or infinite values; clean or impute them first.")
            if reset:
                self.n_features_in_ = int(math.prod(arr.shape[1:]))
            else:
                self._check_width(int(math.prod(arr.shape[1:])))
            return arr
        names = getattr(self, "feature_names_in_", None)
        columns = getattr(X, "columns", None)
        if not reset and names is not None and columns is not None and list(columns) != list(names) \
                and set(names) <= set(map(str, columns)):
            X = X[list(names)]  # a DataFrame with the training columns in another order: realign by name
        return validate_data(self, X, reset=reset, dtype=np.float32, ensure_min_samples=2 if reset else 1)

    def _encoded(self, X, reset: bool):
        """``X`` with its columns encoded when it is a table that needs (or a model that has) an encoding."""
        from cance_cli.data.encoding import TableEncoding, as_arrow_table

        if reset:
            self.encoding_ = None
        table = X.raw if isinstance(X, Dataset) else as_arrow_table(X, always=not reset
                                                                    and getattr(self, "encoding_", None) is not None)
        if table is None:
            if reset and isinstance(X, Dataset) and X.kind == "table" and X.feature_names:
                self.encoding_ = TableEncoding.for_numbers(X.feature_names, X.x)  # fills cells missing at predict
            return X
        if reset:
            self.encoding_ = TableEncoding.fit(table)
        elif getattr(self, "encoding_", None) is None:
            raise DataError("This model was fitted on numbers only; give the numeric columns it was fitted on.")
        x, report = self.encoding_.transform(table, "X")
        names = self.encoding_.output_names
        if isinstance(X, Dataset):
            from dataclasses import replace

            return replace(X, x=x, raw=None, feature_names=names, feature_dtypes=None, encoding_report=report)
        return Dataset(x=x, y=None, ids=np.arange(len(x)), kind="table", source="X", split="all",
                       feature_names=names, encoding_report=report)

    def _check_width(self, width: int) -> None:
        if width != self.n_features_in_:
            raise DataError(f"X has {width} features, but CANCE was fitted with {self.n_features_in_}; pass data "
                            "shaped like the training data.")

    # ------------------------------------------------------------------ fit

    def fit(self, X, y=None) -> CANCE:
        """Fit on normal data ``X``: a :class:`~cance_cli.data.Dataset`, a table
        (array or DataFrame), images ``(N, [C,] H, W)`` in [0, 1], or composite
        features (``feature_map="precomputed"``). ``y`` is ignored."""
        self.check_params()
        X = self._inputs(X, reset=True)
        train, calibration = self._calibration_split(X)
        self._choose_settings(train)
        if self.row_norm_ == "unit":
            self.settings_["rule"].append(f"rows scaled to unit length (row_norm {self.row_norm}: "
                                          "the cosine geometry of embeddings)")
        # Tables only: a PCA keeps <= 64 components, and an image's pixels are not independent
        # features for a convolutional autoencoder (one-class MNIST has 6,000 images of 784 pixels).
        if len(train) < 10 * self.n_features_in_ and self.feature_map == "autoencoder" \
                and self.settings_["kind"] == "table":
            log.warning("%d training rows for %d features (fewer than 10 per feature): expect a noisy fit; "
                        "more rows, or a narrower `pca`, help.", len(train), self.n_features_in_)
        self._fit_views(train)
        if TRIM_SHARE > 0:  # robust refit: without the training rows the first fit scored highest
            kept = np.flatnonzero(self.decision_scores_ <= np.quantile(self.decision_scores_, 1 - TRIM_SHARE))
            self._fit_views(_take(train, kept))
            self.decision_scores_ = self.score_samples(train)
        d = self.decision_scores_
        self.score_stats_ = {"min": float(d.min()), "max": float(d.max()), "mean": float(d.mean()),
                             "median": float(np.median(d)), "std": float(d.std())}
        self.typical_, self.normal_range_ = reference_rows(self, train)
        self._set_threshold(calibration, train)
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(np.int64)
        return self

    def _folds(self, n_rows: int) -> int:
        """The cross-fit's folds for ``n_rows`` training rows (0: no cross-fit)."""
        return crossfit_folds(self.threshold_folds, n_rows)

    def _calibration_split(self, X):
        n = len(X)
        if self.fpr is None or self._folds(n):
            return X, None
        n_cal = max(1, int(round(n * self.calibration_fraction)))
        if n - n_cal < 4:
            raise DataError(f"{n} rows are too few to hold out {n_cal} for the `fpr` threshold; give more rows or "
                            "use `contamination`.")
        order = np.random.default_rng(self.seed).permutation(n)
        fit_idx, cal_idx = np.sort(order[n_cal:]), np.sort(order[:n_cal])
        return _take(X, fit_idx), _take(X, cal_idx)

    def _choose_settings(self, X) -> None:
        kind = X.kind if isinstance(X, Dataset) else ("image" if np.ndim(X) > 2 else "table")
        shape = X.sample_shape if isinstance(X, Dataset) else tuple(np.shape(X)[1:])
        # A PCA of embeddings or precomputed composite features: the density settings of the
        # image / embedding path (measured there), not the autoencoder-on-a-table ones.
        family = "image" if self.feature_map != "autoencoder" else None
        chosen = choose_settings(kind, len(X), shape, density_family=family)
        given = {"latent": self.latent, "hidden": self.ae_hidden, "ae_epochs": self.ae_epochs,
                 "decoder_epochs": self.decoder_epochs, "ae_batch_size": self.ae_batch_size,
                 "nce_epochs": self.nce_epochs, "nce_batch_size": self.nce_batch_size, "nce_hidden": self.hidden}
        settings = {k: (chosen[k] if v is None else v) for k, v in given.items()}
        settings["chosen"] = sorted(k for k, v in given.items() if v is None)
        settings["rule"] = chosen["rule"]
        settings["kind"] = kind
        self.settings_ = settings

    def _set_threshold(self, calibration, train) -> None:
        folds = self._folds(len(train))
        out = out_of_fold_scores(self, train, folds, _take) if folds else None
        if out is not None:
            level = self.contamination if self.fpr is None else self.fpr
            # every rule's threshold is kept, so each can be checked against new rows; the default rule's is used
            by_rule = {r: threshold_of(out, self.decision_scores_, level, r) for r in thresholds.RULES}
            self.threshold_ = by_rule[thresholds.THRESHOLD_RULE]
            self.threshold_info_ = {"method": "contamination" if self.fpr is None else "fpr", "level": level,
                                    "rows": int(len(out.scores)), "folds": folds, "scores": "out-of-fold",
                                    "rule": thresholds.rule_in_effect(out, len(self.decision_scores_), level),
                                    "by_rule": by_rule, "levels_read_at": thresholds.levels_quantile(out, level)}
        elif calibration is None:
            self.threshold_ = float(np.quantile(self.decision_scores_, 1 - self.contamination))
            self.threshold_info_ = {"method": "contamination", "level": self.contamination,
                                    "rows": int(len(self.decision_scores_))}
        else:
            cal = self.score_samples(calibration)
            self.threshold_ = float(np.quantile(cal, 1 - self.fpr))
            self.threshold_info_ = {"method": "fpr", "level": self.fpr, "rows": int(len(cal))}
        repeated = thresholds.repeated_rows_note(self.decision_scores_, self.threshold_, self.threshold_info_["level"])
        if repeated:
            self.threshold_info_["repeated_rows"] = repeated
            log.warning("%.0f %% of the training rows share one score (repeated rows), so no threshold flags exactly "
                        "%.3g %% of rows like them; %.3g %% of the training rows score above this one.",
                        100 * repeated["largest_block"], 100 * self.threshold_info_["level"],
                        100 * repeated["training_share_above"])

    # ------------------------------------------------------------------ features

    def _composite(self, X) -> tuple[np.ndarray, list[str]]:
        if self.feature_map == "precomputed":
            C = np.asarray(X, dtype=np.float64)
            if C.ndim != 2 or C.shape[1] < 3:
                raise DataError("Precomputed composite features need at least 3 columns: z..., recon_error, "
                                "cos_dissim.")
            cols = composite_columns(C.shape[1] - 2)
            return C, cols
        fmap = self.autoencoder_ if self.feature_map == "autoencoder" else self.pca_
        cols = composite_columns(fmap.latent)
        return fmap.composite_features(X).astype(np.float64), cols

    def _select(self, C: np.ndarray, cols: list[str]) -> tuple[np.ndarray, list[str]]:
        """The composite columns the density reads: z only for LatNCE; once fitted, the density's own columns
        by name (it may have left out a repeated column: ``_drop_collinear``)."""
        fitted = getattr(getattr(self, "density_", None), "columns_", None)
        if self.features == "latent":
            keep = [i for i, c in enumerate(cols) if c.startswith("z_")]
        elif fitted is not None and list(fitted) != list(cols) and set(fitted) <= set(cols):
            keep = [cols.index(c) for c in fitted]
        else:
            return C, cols
        return C[:, keep], [cols[i] for i in keep]

    # ------------------------------------------------------------------ scores

    def score_samples(self, X) -> np.ndarray:
        """Anomaly score per row, higher = more anomalous: the estimated negative
        log-likelihood with one density view, else the views combined
        (:func:`cance_cli.views.fusion.combine`)."""
        return combine(self.view_scores(X), self.calibration_)

    def decision_function(self, X) -> np.ndarray:
        """The anomaly score (PyOD's convention: higher = more anomalous; equals ``score_samples``)."""
        return self.score_samples(X)

    def predict(self, X) -> np.ndarray:
        """1 for rows scored above ``threshold_`` (anomalies), 0 for normal rows."""
        return (self.score_samples(X) > self.threshold_).astype(np.int64)

    def fit_predict(self, X, y=None) -> np.ndarray:
        """Fit on ``X`` and return its labels (``labels_``), as PyOD does."""
        return self.fit(X).labels_

    def predict_proba(self, X, method: str = "linear") -> np.ndarray:
        """``(N, 2)`` probabilities of [normal, anomalous], as PyOD computes them
        from the training scores: ``linear`` (min-max scaling) or ``unify``
        (Gaussian scaling, Kriegel et al. 2011)."""
        check_is_fitted(self, "score_stats_")
        scores = self.score_samples(X)
        t = self.score_stats_  # of the training scores (kept in the model folder)
        if method == "linear":
            p = (scores - t["min"]) / ((t["max"] - t["min"]) or 1.0)
        elif method == "unify":
            from scipy.special import erf

            p = erf((scores - t["mean"]) / ((t["std"] or 1.0) * math.sqrt(2)))
        else:
            raise ConfigError(f"method must be linear or unify, got {method!r}.")
        p = np.clip(p, 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    # ------------------------------------------------------------------ persistence

    def save(self, folder, provenance: dict[str, Any] | None = None) -> Path:
        """Write the model folder (stage checkpoints + ``manifest.json``); see :mod:`cance_cli.model`."""
        from cance_cli.model import save_estimator

        check_is_fitted(self, "views_")
        return save_estimator(self, folder, provenance or {})

    @classmethod
    def load(cls, folder, device: str = "cpu") -> CANCE:
        """Rebuild a fitted estimator from a model folder (written by ``save`` or `cance fit`)."""
        from cance_cli.model import load_estimator

        return load_estimator(cls, folder, device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags


def _take(X, index: np.ndarray):
    return X.subset(index) if isinstance(X, Dataset) else X[index]


def _realign(ds: Dataset, names: list[str]) -> Dataset:
    """A table Dataset with its columns put in the training order (by name)."""
    from dataclasses import replace

    have = list(ds.feature_names)
    missing = [n for n in names if n not in have]
    if missing:
        raise DataError(f"The data lacks column '{missing[0]}' that CANCE was fitted with; give the training "
                        "columns.")
    order = [have.index(n) for n in names]
    dtypes = [ds.feature_dtypes[i] for i in order] if ds.feature_dtypes else None
    return replace(ds, x=ds.x[:, order], feature_names=list(names), feature_dtypes=dtypes)
