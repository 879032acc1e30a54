"""Noise-contrastive estimation of the density of composite features.

:class:`NCEDensity` implements METHOD step 2: a Gaussian noise fitted to the
normal rows with a learned diagonal widening ``a = 1 + softplus(alpha)``, a
density network trained by NCE against it, alternating theta and alpha
updates, and augmentation of the reconstruction columns.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from cance_cli import validate
from cance_cli.columns import RECON_COLUMNS
from cance_cli.data.dataset import train_val_indices
from cance_cli.errors import ConfigError, DataError
from cance_cli.io.checkpoints import load_checkpoint, rebuilding, save_checkpoint
from cance_cli.io.provenance import array_fingerprint
from cance_cli.nce.scoring import REQUIRED_META, STAGE, DensityScoring, check_rows, rebuild_parts
from cance_cli.nce.stats import StreamingMoments, most_collinear_pair
from cance_cli.runtime import distributed
from cance_cli.runtime.progress import progress_bar
from cance_cli.training.common import resolve_device, torch_generator
from cance_cli.training.optim import adamw
from cance_cli.training.trainer import epoch_order, fit_epochs

log = logging.getLogger("cance")


class NCEDensity(DensityScoring, BaseEstimator):
    """Density of normal composite features estimated by NCE (CANCE step 2).

    Parameters
    ----------
    ratio : float
        Noise-to-data ratio nu (noise samples per data sample).
    hidden, layers : int
        Width and depth of the density network's MLP.
    epochs, batch_size, lr, weight_decay : training settings (AdamW for both
        the network and the noise scale).
    augment : bool
        Replace the reconstruction columns of half of each data batch by draws
        from truncated normals on [0, m] (needs ``recon_columns``).
    learn_noise : bool
        Learn the noise scale a (alternating maximisation); else a = 1.
    val_fraction : float
        Share of rows held out; the epoch with the lowest validation NCE loss
        against a fixed reference noise (the fitted Gaussian, fixed draws) is kept.
    seed, device, verbose : as elsewhere.

    Attributes
    ----------
    density_, noise_, whitener_ : torch modules
    noise_scale_ : ndarray, the learned a (>= 1) per whitened coordinate
    modes_ : dict, log-normal mode m per augmented column
    history_ : dict, train/val losses per epoch and the chosen epoch
    neighbours_ : :class:`~cance_cli.nce.neighbours.FeatureNeighbours` or None,
        the neighbour view `fit-nce --knn` stores with the density

    Scores are negative log-likelihoods: **higher = more anomalous**
    (the opposite sign of scikit-learn's ``score_samples``). The scoring
    methods are :class:`~cance_cli.nce.scoring.DensityScoring`'s, which
    :class:`~cance_cli.nce.scoring.LoadedDensity` shares to score a checkpoint
    without importing scikit-learn (`cance score`).
    """

    STAGE, KIND = STAGE, "density"  # the registry's facts (cance_cli.parts)

    def __init__(self, ratio: float = 10.0, hidden: int = 128, layers: int = 2, epochs: int = 100,
                 batch_size: int = 256, lr: float = 1e-3, weight_decay: float = 1e-4, augment: bool = True,
                 learn_noise: bool = True, val_fraction: float = 0.1, seed: int = 0, device: str = "auto",
                 verbose: bool = False):
        self.ratio = ratio
        self.hidden = hidden
        self.layers = layers
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.augment = augment
        self.learn_noise = learn_noise
        self.val_fraction = val_fraction
        self.seed = seed
        self.device = device
        self.verbose = verbose

    def stored_params(self) -> dict[str, Any]:
        """The parameters a checkpoint records (all but where and how verbosely it ran)."""
        return {k: v for k, v in self.get_params().items() if k not in ("device", "verbose")}

    def check_params(self, names: dict[str, str] | None = None) -> None:
        """Raise a ConfigError naming the first out-of-range parameter (or what ``names`` maps it to: the CLI
        passes its options)."""
        def name(param: str) -> str:
            return (names or {}).get(param, param)

        validate.ratio(name("ratio"), self.ratio)
        validate.at_least(name("epochs"), self.epochs, 1)
        validate.at_least(name("hidden"), self.hidden, 1)
        validate.at_least(name("layers"), self.layers, 1)
        validate.at_least(name("batch_size"), self.batch_size, 2)
        validate.positive(name("lr"), self.lr)
        validate.non_negative(name("weight_decay"), self.weight_decay)
        validate.fraction(name("val_fraction"), self.val_fraction, high_open=True)
        validate.at_least(name("seed"), self.seed, 0)

    # ------------------------------------------------------------------ fit

    def fit(self, C, y=None, columns: list[str] | None = None, recon_columns: list[int] | None = None,
            moments: StreamingMoments | None = None) -> NCEDensity:
        """Fit on normal rows ``C`` of shape ``(N, D)``.

        ``recon_columns`` are the indices of the reconstruction error and
        dissimilarity (default: columns named ``recon_error``/``cos_dissim``).
        ``moments`` may carry noise statistics gathered over more rows than
        ``C`` (a streaming pass over a large table).
        """
        import torch

        from cance_cli.models.density import DensityNet
        from cance_cli.nce.augment import lognormal_mode
        from cance_cli.nce.noise import LearnedGaussianNoise, Whitener

        self.check_params()
        C = check_rows(C)
        n, dim = C.shape
        self.neighbours_ = None  # a neighbour view belongs to one fit (`fit-nce --knn` adds it after)
        self.columns_ = list(columns) if columns is not None else [f"c_{i}" for i in range(dim)]
        if len(self.columns_) != dim:
            raise ConfigError(f"{len(self.columns_)} column names for {dim} columns.")
        if recon_columns is None:
            # recon_error, or ae.recon_error in a table of joined feature maps
            recon_columns = [i for i, c in enumerate(self.columns_)
                             if c.rsplit(".", 1)[-1] in RECON_COLUMNS]
        self.recon_columns_ = [int(i) for i in recon_columns]
        self.augment_applied_ = bool(self.augment and self.recon_columns_)
        group = self._group = distributed.current()  # torchrun: this rank of a data-parallel group
        self.device_ = distributed.local_device(resolve_device(self.device), group)
        train_idx, val_idx = train_val_indices(n, self.val_fraction, self.seed)
        if moments is None:
            # In a group each rank streams its share of the rows; the shares merge pairwise.
            mine = train_idx[group.rank::group.world_size]
            moments = StreamingMoments(dim)
            for start in range(0, len(mine), 65536):
                moments.update(C[mine[start:start + 65536]])
            if group.active:
                moments = distributed.merge_moments(moments)
        if moments.count < dim + 1:
            raise DataError(f"{moments.count} normal rows cannot fit a {dim}-dimensional density; "
                            f"give at least {dim + 1}.")
        self.n_train_, self.n_val_ = len(train_idx), len(val_idx)
        self.fingerprint_ = array_fingerprint(C.astype(np.float32))

        pair = most_collinear_pair(moments.covariance)
        if pair is not None:
            a, b, r = pair
            log.warning("the density's columns %s and %s are one up to scale (|correlation| %.6f): an NCE density "
                        "of collinear columns can rank rows wrongly (measured: an inverted ranking on L2-normalised "
                        "embeddings); drop one, or do not normalise the rows.", self.columns_[a], self.columns_[b], r)
        dev = self.device_
        self.whitener_ = Whitener(moments.mean, moments.covariance).to(dev)
        self.noise_ = LearnedGaussianNoise(dim, learn=self.learn_noise).to(dev)
        # Initialised from the density's own seed, not the process-wide generator: densities
        # fitted in parallel threads (CANCE's views) stay reproducible.
        self.density_ = DensityNet(dim, self.hidden, self.layers, generator=torch_generator(self.seed + 2)).to(dev)
        self.modes_ = {}
        for k in self.recon_columns_:
            mean, var = float(moments.mean[k]), float(moments.covariance[k, k])
            if mean <= 0:
                raise DataError(f"Column '{self.columns_[k]}' has a non-positive mean; it is not a reconstruction "
                                "error or dissimilarity.")
            self.modes_[self.columns_[k]] = lognormal_mode(mean, var)

        train = torch.tensor(C[train_idx], dtype=torch.float64, device=dev)
        val = torch.tensor(C[val_idx] if len(val_idx) else C[train_idx], dtype=torch.float64, device=dev)
        gen = torch_generator(self.seed)
        dev_gen = torch.Generator(device=dev)
        dev_gen.manual_seed(self.seed + 1)
        # Fixed reference noise for validation: comparable losses across epochs.
        ref_noise = torch.randn(int(math.ceil(self.ratio * len(val))), dim, generator=dev_gen, device=dev)
        if self.augment_applied_:
            # Validate against the target the network learns: real rows mixed with
            # artificial ones, drawn once so every epoch sees the same set.
            val = self._augment(val, dev_gen)
        val_u = self.whitener_(val)
        if group.rank > 0:  # the validation draws above are shared; training noise differs per rank
            dev_gen = torch.Generator(device=dev)
            dev_gen.manual_seed(distributed.rank_seed(self.seed, group) + 1)
        self._train_net = self.density_
        if group.active:
            from torch.nn.parallel import DistributedDataParallel

            self._train_net = DistributedDataParallel(self.density_,
                                                      device_ids=[dev.index] if dev.type == "cuda" else None)

        opt_theta = adamw(self.density_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        opt_alpha = adamw([self.noise_.alpha], lr=self.lr, weight_decay=0.0)
        self.history_ = {"train": [], "val": [], "noise_scale_max": []}
        started = time.perf_counter()
        with progress_bar(self.epochs, "fit-nce", self.verbose) as advance:
            fit_epochs(self.epochs, lambda epoch: self._epoch(train, gen, dev_gen, opt_theta, opt_alpha, epoch),
                       lambda tr: self._validation_loss(val_u, ref_noise), self, self.history_, advance,
                       on_epoch=lambda: self.history_["noise_scale_max"].append(
                           float(self.noise_.scale.detach().max())))
        del self._train_net
        self.world_size_ = group.world_size
        self.fit_seconds_ = time.perf_counter() - started
        self.density_.eval()
        self.validation_nll_ = None
        if len(val_idx):  # mean NLL of held-out normal rows: does the density beat its own Gaussian?
            rows = C[val_idx]
            self.validation_nll_ = {"density": float(np.mean(self.score_samples(rows))),
                                    "gaussian": float(np.mean(self.gaussian_score(rows)))}
        return self

    # BestState copies/restores through these two, so density and noise travel together.
    def state_dict(self) -> dict[str, Any]:
        return {"density": self.density_.state_dict(), "alpha": self.noise_.alpha.detach().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        import torch

        self.density_.load_state_dict(state["density"])
        with torch.no_grad():
            self.noise_.alpha.copy_(state["alpha"])

    def _nce_loss(self, u_data, u_noise, log_pn_data, log_pn_noise, net=None):
        """-mean log sigma(G_data) - nu * mean log(1 - sigma(G_noise)); ``net`` is the
        density network or its data-parallel wrapper (theta steps in a group)."""
        import torch
        from torch.nn.functional import softplus

        log_nu = math.log(self.ratio)
        net = self.density_ if net is None else net
        f = net(torch.cat([u_data, u_noise]))  # one pass over both: fewer, larger matrix products
        g_data = f[: len(u_data)] - log_pn_data - log_nu
        g_noise = f[len(u_data):] - log_pn_noise - log_nu
        return softplus(-g_data).mean() + self.ratio * softplus(g_noise).mean()

    def _augment(self, batch, dev_gen):
        """Replace the reconstruction columns of a random half of the rows."""
        import torch

        from cance_cli.nce.augment import sample_truncated_normal

        batch = batch.clone()
        rows = torch.randperm(len(batch), generator=dev_gen, device=batch.device)[: len(batch) // 2]
        cols = torch.tensor(self.recon_columns_, device=batch.device)
        w = self.whitener_
        # Truncated normals follow the *current* noise marginal of each column.
        marg_std = w.marginal_std(self.noise_.scale.detach())[cols]
        modes = torch.tensor([self.modes_[self.columns_[k]] for k in self.recon_columns_],
                             dtype=torch.float64, device=batch.device)
        draws = sample_truncated_normal(w.mean[cols], marg_std, torch.zeros_like(modes), modes, len(rows),
                                        generator=dev_gen)
        batch[rows[:, None], cols[None, :]] = draws
        return batch

    def _epoch(self, train, gen, dev_gen, opt_theta, opt_alpha, epoch: int = 0) -> float:
        import torch

        group = self._group
        order, batch_size = epoch_order(np.arange(len(train)), gen, self.seed, epoch, self.batch_size, group)
        order = torch.from_numpy(order).to(train.device)
        total, count = 0.0, 0
        self.density_.train()
        for start in range(0, len(order), batch_size):
            batch = train[order[start:start + batch_size]]
            if self.augment_applied_:
                batch = self._augment(batch, dev_gen)
            u_data = self.whitener_(batch)
            n_noise = max(1, int(round(self.ratio * len(batch))))

            # theta step: minimise the NCE loss, noise fixed.
            with torch.no_grad():
                u_noise = self.noise_.sample(n_noise, dev_gen)
                lp_data, lp_noise = self.noise_.log_prob(u_data), self.noise_.log_prob(u_noise)
            loss = self._nce_loss(u_data, u_noise, lp_data, lp_noise, self._train_net)
            opt_theta.zero_grad(set_to_none=True)
            loss.backward()
            opt_theta.step()
            total += float(loss.detach()) * len(batch)
            count += len(batch)

            # alpha step: maximise the same loss, density network held fixed. Its noise
            # term is estimated from as many draws as the batch has rows (the same
            # expectation, ratio-weighted in the loss): alpha is one scale per
            # coordinate and needs no ten-fold sample, and this step then costs a
            # fifth of the theta step instead of as much.
            # autograd.grad asks for alpha's gradient alone: no weight gradient is formed
            # and the network's parameters need no switching off and on.
            if self.learn_noise:
                u_noise = self.noise_.sample(min(n_noise, len(batch)), dev_gen)
                neg = -self._nce_loss(u_data, u_noise, self.noise_.log_prob(u_data), self.noise_.log_prob(u_noise))
                self.noise_.alpha.grad, = torch.autograd.grad(neg, [self.noise_.alpha])
                if group.active:  # alpha is outside the DDP module: average its gradient by hand
                    distributed.average_gradients([self.noise_.alpha])
                opt_alpha.step()
        if group.active:
            total, count = distributed.all_sum(total, count)
        return total / max(count, 1)

    def _validation_loss(self, val_u, ref_noise) -> float:
        import torch

        from cance_cli.models.density import standard_normal_log_prob

        self.density_.eval()
        with torch.no_grad():
            lp = [standard_normal_log_prob(u) for u in (val_u, ref_noise)]
            return float(self._nce_loss(val_u, ref_noise, *lp))

    # ------------------------------------------------------------------ reports

    def augmentation_report(self) -> list[dict[str, float]]:
        """Per augmented column: mode m, noise mass on [0, m], and the guaranteed
        lower bound of (augmented marginal / noise marginal) on [0, m]."""
        import torch

        from cance_cli.nce.augment import noise_mass_below

        self._check_fitted()
        out = []
        marg = self.whitener_.marginal_std(self.noise_.scale.detach())
        for k in self.recon_columns_:
            name = self.columns_[k]
            m = torch.tensor(self.modes_[name], dtype=torch.float64)
            mass = float(noise_mass_below(m, self.whitener_.mean[k].cpu(), marg[k].cpu()))
            out.append({"column": name, "mode": self.modes_[name], "mean": float(self.whitener_.mean[k]),
                        "noise_mass_0_m": mass, "min_density_ratio": 0.5 / mass if mass > 0 else float("inf")})
        return out

    def summary(self) -> dict[str, Any]:
        h = self.history_
        return {
            "best_epoch": h["best_epoch"] + 1, "epochs": len(h["train"]),
            "train_loss": h["train"][h["best_epoch"]], "val_loss": h["best_val"],
            "noise_scale": [round(float(a), 4) for a in self.noise_scale_],
            "augmented": self.augment_applied_,
            "augmentation": self.augmentation_report() if self.augment_applied_ else [],
            "n_train": self.n_train_, "n_val": self.n_val_, "fit_seconds": self.fit_seconds_,
            "validation_nll": getattr(self, "validation_nll_", None), "world_size": getattr(self, "world_size_", 1),
        }

    # ------------------------------------------------------------------ persistence

    def save(self, path, provenance: dict[str, Any] | None = None):
        self._check_fitted()
        tensors = {f"density.{k}": v for k, v in self.density_.state_dict().items()}
        tensors["noise.alpha"] = self.noise_.alpha
        for k, v in self.whitener_.state_dict().items():
            tensors[f"whitener.{k}"] = v
        neighbours = getattr(self, "neighbours_", None)
        if neighbours is not None:
            tensors.update(neighbours.tensors())
        meta = {"stage": STAGE, "params": self.stored_params(), "columns": self.columns_,
                "recon_columns": self.recon_columns_, "modes": self.modes_,
                "augment_applied": self.augment_applied_, "fingerprint": self.fingerprint_,
                "summary": self.summary(), "history": self.history_, **(provenance or {})}
        if neighbours is not None:
            meta["neighbours"] = neighbours.meta()
        return save_checkpoint(path, tensors, meta)

    @classmethod
    def load(cls, path, device: str = "cpu") -> NCEDensity:
        """Rebuild a fitted density from a checkpoint (tensors are stored on CPU)."""
        tensors, meta = load_checkpoint(path, STAGE, REQUIRED_META)
        dev = resolve_device(device)
        with rebuilding(path):
            est = cls._rebuild(tensors, meta, device, dev)
        est.meta_ = meta
        return est

    @classmethod
    def _rebuild(cls, tensors, meta, device: str, dev) -> NCEDensity:
        est = cls(**meta["params"], device=device)
        est.check_params()
        for name, value in rebuild_parts(tensors, meta, dev).items():
            setattr(est, name, value)
        est.history_ = meta["history"]
        s = meta["summary"]
        est.n_train_, est.n_val_, est.fit_seconds_ = s["n_train"], s["n_val"], s["fit_seconds"]
        est.validation_nll_ = s.get("validation_nll")
        return est
