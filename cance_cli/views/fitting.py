"""Fitting and scoring a model's views: the part of :class:`~cance_cli.estimator.CANCE` that fits each
chosen view's models (side by side where that is faster), calibrates them and scores rows by view."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from cance_cli.views.fusion import choose_views, combine, robust_scale

log = logging.getLogger("cance")
ILL_CONDITIONED = 1e3  # latent covariance condition number above which a warning is logged


class ViewFitting:
    """Mixin of :class:`~cance_cli.estimator.CANCE`: ``_fit_views`` sets ``views_``, the view models
    (``density_``, ``input_map_``, ``input_density_``, ``knn_``), ``calibration_`` and
    ``decision_scores_``; ``view_scores`` scores rows by every view."""

    def _fit_views(self, X) -> None:
        """Fit every chosen view; set ``decision_scores_`` (training rows) and ``calibration_``."""
        kind, width = self.settings_["kind"], int(self.n_features_in_)
        # LatNCE (features="latent") is a variant of the composite density: auto keeps to that view.
        spec = "composite" if self.views == "auto" and self.features == "latent" else self.views
        self.views_, reason = choose_views(spec, kind, width, self.feature_map)
        self.settings_["rule"] = [*self.settings_["rule"], reason]
        if "composite" not in self.views_:
            # (parameter, its `cance fit` option)
            unused = [(name, option) for name, option, value in (
                ("latent", "--latent", self.latent), ("ae_hidden", "--hidden", self.ae_hidden),
                ("ae_epochs", "--epochs", self.ae_epochs), ("decoder_epochs", "--decoder-epochs", self.decoder_epochs),
                ("ae_batch_size", "--batch-size", self.ae_batch_size)) if value is not None]
            if unused:
                views = "+".join(self.views_)
                log.warning("autoencoder settings given but unused (%s; %s in `cance fit`): the views of this table "
                            "(%s) have no autoencoder; views='composite+%s' (--views composite+%s) adds it.",
                            ", ".join(n for n, _ in unused), ", ".join(o for _, o in unused), views, views, views)
        self.autoencoder_ = self.pca_ = self.density_ = None
        self.input_map_ = self.input_density_ = self.knn_ = None
        side_by_side = self._views_side_by_side()  # judged with torch's own thread count
        with self._table_threads():
            training = self._fit_view_models(X, side_by_side)
        for density in (self.density_, self.input_density_):
            if density is not None:
                self._warn_about_density(density)
        self.calibration_ = {v: robust_scale(s) for v, s in training.items()}
        self.decision_scores_ = combine(training, self.calibration_)

    def _table_threads(self):
        """One torch thread per model trained at a time for a table on the CPU (docs/defaults.md,
        "Threads"): its networks are small MLPs whose steps gain little from more threads, and several
        threads per step on a machine another process keeps busy wait on each other (measured 3-10x
        slower). Images keep torch's own setting."""
        import contextlib

        from cance_cli.runtime.concurrent import torch_threads
        from cance_cli.training.common import resolve_device

        if self.settings_["kind"] == "table" and resolve_device(self.device).type == "cpu":
            return torch_threads(1)
        return contextlib.nullcontext()

    def _fit_view_models(self, X, side_by_side: bool) -> dict[str, np.ndarray]:
        """Fit each chosen view's models; return each view's scores of the training rows.

        The composite view (feature map + density) and the input density are
        independent fits of about the same cost. On a CPU they run side by side,
        one torch thread each: the input density in a forked child where the
        system can fork (two Python threads contend for the interpreter between
        torch calls), else in a second thread. The child fits nothing but that
        density (torch on one thread; the neighbours' scikit-learn search, whose
        OpenMP threads a forked child cannot use, stays in the parent).
        """
        from cance_cli.runtime import concurrent
        from cance_cli.runtime.progress import progress_bar

        P = D = D_fit = None  # the neighbour view's coordinates, the input density's
        if "input" in self.views_ or "knn" in self.views_:
            from cance_cli.views import input_map

            # An embedding's neighbours are found in every usable direction (docs/defaults.md, "PCA"); the
            # input density reads at most 64, what it can model.
            every = self.feature_map == "pca" or input_map.NEIGHBOURS_EVERY_DIRECTION
            standardise = self.feature_map != "pca" or input_map.EMBEDDING_COLUMNS_STANDARDISED
            self.input_map_ = input_map.InputCoordinates(residual=input_map.INPUT_RESIDUAL, all_directions=every,
                                                         standardise=standardise).fit(X)
            P = self.input_map_.transform(X) if "knn" in self.views_ else None
            D = self.input_map_.density_coordinates(X) if "input" in self.views_ else None
            D_fit = D  # what the input density trains on (dequantised rows under the experiment switch)
            if D is not None and input_map.DEQUANTIZE:
                D_fit = self.input_map_.density_coordinates(input_map.dequantized(X, self.seed))
        verbose = not side_by_side  # one bar for both, below: two live bars cannot share a terminal
        composite_rows: dict[str, np.ndarray] = {}  # the feature map's training rows, scored below

        def composite() -> None:
            if "composite" in self.views_:
                C, cols = self._drop_collinear(*self._fit_feature_map(X, verbose))
                self.density_ = self._density(verbose=verbose).fit(C, columns=cols)
                composite_rows["C"] = C

        def input_density() -> None:
            if "input" in self.views_:
                self.input_density_ = self._fit_input_density(D_fit, verbose)

        def neighbours() -> None:
            if "knn" in self.views_:
                from cance_cli.views.knn import KNNDistance

                self.knn_ = KNNDistance(self.knn, seed=self.seed).fit(P)

        if not side_by_side:
            for fit in (composite, input_density, neighbours):
                fit()
        else:
            with progress_bar(1, "fit (2 views' models side by side)", self.verbose) as advance:
                if concurrent.can_fork():
                    concurrent.beside_in_child(lambda: (composite(), neighbours()),
                                               lambda folder: self._fit_input_density_to(D_fit, folder),
                                               self._load_input_density)
                else:
                    concurrent.run_side_by_side([composite, lambda: (input_density(), neighbours())], "cpu", 2)
                advance()
        training = {}
        if self.density_ is not None:
            training["composite"] = self.density_.score_samples(composite_rows["C"])
        if self.input_density_ is not None:
            training["input"] = self.input_density_.score_samples(D)
        if self.knn_ is not None:
            training["knn"] = self.knn_.training_scores_
        return training

    def _fit_feature_map(self, X, verbose: bool = True) -> tuple[np.ndarray, list[str]]:
        from cance_cli.training.autoencoder import ConstrainedAutoencoder

        s = self.settings_
        if self.feature_map == "autoencoder":
            self.autoencoder_ = ConstrainedAutoencoder(
                latent=s["latent"], lam=self.lam, epochs=s["ae_epochs"], decoder_epochs=s["decoder_epochs"],
                batch_size=s["ae_batch_size"], hidden=None if s["hidden"] is None else tuple(s["hidden"]),
                seed=self.seed, device=self.device, verbose=self.verbose and verbose).fit(X)
            self._warn_about_autoencoder()
        elif self.feature_map == "pca":
            self.pca_ = self._fit_pca(X)
            s["latent"] = self.pca_.n_components
        return self._select(*self._composite(X))

    def _fit_pca(self, X):
        from cance_cli.pca import PCAFeatureMap

        if self.pca != "auto":
            return PCAFeatureMap(int(self.pca)).fit(X)
        fmap = PCAFeatureMap.fit_auto(X)
        self.settings_["rule"] = [*self.settings_["rule"], f"PCA components: fewest explaining 90% of the "
                                  f"variance, clip to [2, min(64, width - 1)] = {fmap.n_components}; the error "
                                  f"columns against all {fmap.n_error_components_} of them"]
        return fmap

    def _warn_about_autoencoder(self) -> None:
        ae = self.autoencoder_
        if ae.latent_condition_number_ is not None and ae.latent_condition_number_ > ILL_CONDITIONED:
            log.warning("the latent covariance is ill-conditioned (condition number %.3g): the latent is wider than "
                        "the data supports; a smaller latent helps.", ae.latent_condition_number_)
        stage1 = ae.history_["stage1"]
        if len(stage1["train"]) > 1 and stage1["best_epoch"] == len(stage1["train"]) - 1:
            log.warning("the autoencoder's best validation epoch is its last (%d): it may be under-trained; more "
                        "epochs may help.", len(stage1["train"]))

    def _drop_collinear(self, C: np.ndarray, cols: list[str]) -> tuple[np.ndarray, list[str]]:
        """The composite columns without those that repeat an earlier one up to scale (|correlation| >
        0.9999). Measured on L2-normalised CIFAR-10 embeddings: the PCA's error and dissimilarity columns
        were one (0.99999) and the density over both ranked the classes in reverse (AUROC 0.26 against 0.80
        without the repeat; docs/benchmarks.md, "CIFAR-10"). The density keeps the names of the columns it
        reads (``density_.columns_``, in its checkpoint); scoring selects them by name."""
        from cance_cli.nce.stats import collinear_columns

        dropped = collinear_columns(C)
        if not dropped:
            return C, cols
        reason = ", ".join(f"{cols[j]} (|correlation| {r:.6f} with {cols[i]})" for j, i, r in dropped)
        self.settings_["rule"] = [*self.settings_["rule"], f"composite density without the repeated column(s) "
                                  f"{reason}: a density over collinear columns can rank rows in reverse"]
        log.warning("the composite density leaves out %s: one up to scale with a column it keeps.", reason)
        keep = [k for k in range(len(cols)) if k not in {j for j, _, _ in dropped}]
        return C[:, keep], [cols[k] for k in keep]

    def _fit_input_density(self, D: np.ndarray, verbose: bool):
        return self._density(augment=False, verbose=verbose).fit(D, columns=self.input_map_.columns)

    def _fit_input_density_to(self, D: np.ndarray, folder: Path) -> None:
        """The forked child's part: fit the input density, save it for the parent."""
        from cance_cli.io.model_layout import STAGE_FILES
        from cance_cli.registry import save_part

        save_part(self._fit_input_density(D, verbose=False), folder / STAGE_FILES["input_density"])

    def _load_input_density(self, folder: Path) -> None:
        from cance_cli.io.model_layout import STAGE_FILES
        from cance_cli.registry import load_part

        self.input_density_ = load_part(folder / STAGE_FILES["input_density"], "cpu", kind="density")

    def _views_side_by_side(self) -> bool:
        """The composite view beside the input density: on a CPU that torch may use with
        more than one thread, outside a torchrun group, when both are chosen."""
        from cance_cli.runtime import distributed
        from cance_cli.runtime.concurrent import cpu_workers
        from cance_cli.training.common import resolve_device

        both = "composite" in self.views_ and "input" in self.views_
        return both and resolve_device(self.device).type == "cpu" and cpu_workers("cpu") > 1 \
            and not distributed.current().active

    def view_scores(self, X) -> dict[str, np.ndarray]:
        """Each view's own score of each row (before combination); higher = more anomalous."""
        check_is_fitted(self, "views_")
        X = self._inputs(X, reset=False)
        out: dict[str, np.ndarray] = {}
        if self.density_ is not None:
            out["composite"] = self.density_.score_samples(self._select(*self._composite(X))[0])
        if self.input_map_ is not None:
            if self.input_density_ is not None:
                out["input"] = self.input_density_.score_samples(self.input_map_.density_coordinates(X))
            if self.knn_ is not None:
                out["knn"] = self.knn_.score_samples(self.input_map_.transform(X))
        return out

    def _density(self, augment: bool = True, verbose: bool = True):
        """A new density of the kind ``density`` names: cance's NCE density with the settings chosen, or a
        registered density with its own defaults (cance's NCE settings do not apply to it)."""
        from cance_cli.training.nce import NCEDensity

        if self.density != "nce":
            from cance_cli.registry import part_class

            return part_class(self.density)()
        s = self.settings_
        return NCEDensity(ratio=self.ratio, hidden=s["nce_hidden"], epochs=s["nce_epochs"],
                          batch_size=s["nce_batch_size"],
                          augment=augment and self.augment and self.features == "composite",
                          learn_noise=self.learn_noise, seed=self.seed, device=self.device,
                          verbose=self.verbose and verbose)

    @staticmethod
    def _warn_about_density(d) -> None:
        if not isinstance(getattr(d, "history_", None), dict):  # a registered density keeps no NCE history
            return
        if len(d.history_["train"]) > 1 and d.history_["best_epoch"] == len(d.history_["train"]) - 1:
            log.warning("the density's best validation epoch is its last (%d): more NCE epochs may help.",
                        len(d.history_["train"]))
        val = getattr(d, "validation_nll_", None)
        if val and val["density"] >= val["gaussian"]:
            log.warning("the NCE density does not beat its own Gaussian on validation rows (NLL %.4g vs %.4g); "
                        "the Gaussian is as good here.", val["density"], val["gaussian"])
