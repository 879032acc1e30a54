"""The constrained autoencoder as a scikit-learn style estimator.

Training is decoupled into two stages (METHOD step 1a):

1. encoder and decoder minimise ``MSE + lam * covariance_penalty(z)``;
2. the encoder is frozen in eval mode (its batch-norm running statistics
   fixed) and only the decoder is trained further on the MSE.

Each stage keeps the weights of its lowest validation loss.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from cance_cli import validate
from cance_cli.columns import composite_columns
from cance_cli.data.dataset import Dataset, as_storage, schema_of, train_val_indices
from cance_cli.errors import ConfigError, DataError
from cance_cli.io.provenance import array_fingerprint
from cance_cli.runtime import distributed
from cance_cli.runtime.progress import progress_bar
from cance_cli.training.autoencoder_checkpoint import READABLE_STAGES, REQUIRED_META, STAGE, AutoencoderCheckpoint  # noqa: F401
from cance_cli.training.common import (
    BestState,
    bf16_on_cuda,
    memory_guard,
    resolve_device,
    seed_everything,
    torch_generator,
)
from cance_cli.training.losses import covariance_penalty, latent_conditioning
from cance_cli.training.optim import Adam
from cance_cli.training.trainer import epoch_order, fit_epochs

ARCHES = ("constrained", "reference")
# An experiment switch (raw-tables issue): a table's stage 1 reconstructs each row from a copy with Gaussian
# noise of this standard deviation (the columns are standardised), a denoising autoencoder.
INPUT_NOISE = 0.0


class ConstrainedAutoencoder(AutoencoderCheckpoint, BaseEstimator):
    """Autoencoder with a standardised, decorrelated latent (CANCE step 1a).

    Parameters
    ----------
    latent : int
        Latent dimension d.
    lam : float
        Weight of the covariance penalty (mean squared off-diagonal entry of
        the batch covariance of z).
    epochs, decoder_epochs : int
        Epochs of stage 1 (both parts) and stage 2 (decoder only).
    batch_size, lr : int, float
        Mini-batch size and Adam learning rate.
    val_fraction : float
        Share of the (normal) training rows held out for model selection.
    hidden : tuple of int, optional
        Conv channels (images) or MLP widths (tables); a default otherwise.
        With ``arch="reference"`` on 28x28 images: (nh,), the channel unit.
    arch : {"constrained", "reference"}
        ``constrained``: the paper's autoencoder (batch-normed latent). ``reference``:
        the NAE / MPDR references' autoencoder with a spherical latent
        (:mod:`cance_cli.models.reference_ae`); use it with ``lam=0``.
    seed : int
        Seeds initialisation, shuffling and the validation split.
    device : str
        ``auto``, ``cpu`` or ``cuda``.
    verbose : bool
        Show a progress bar on stderr.

    Attributes
    ----------
    model_ : torch.nn.Module
    config_ : dict
        Architecture description (rebuilds ``model_``).
    history_ : dict
        Per-stage lists of train and validation losses and the chosen epochs.
    latent_condition_number_, latent_max_abs_corr_ : float
        Conditioning of the latent covariance on the training rows.
    input_mean_, input_scale_ : ndarray or None
        Standardisation of table inputs (None for images).
    """

    STAGE, KIND = STAGE, "feature_map"  # the registry's facts (cance_cli.parts)

    def __init__(self, latent: int = 32, lam: float = 0.01, epochs: int = 30, decoder_epochs: int = 10,
                 batch_size: int = 128, lr: float = 1e-3, val_fraction: float = 0.1,
                 hidden: tuple[int, ...] | None = None, arch: str = "constrained", seed: int = 0,
                 device: str = "auto", verbose: bool = False):
        self.latent = latent
        self.arch = arch
        self.lam = lam
        self.epochs = epochs
        self.decoder_epochs = decoder_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.val_fraction = val_fraction
        self.hidden = hidden
        self.seed = seed
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ params

    def stored_params(self) -> dict[str, Any]:
        """The parameters a checkpoint records (all but where and how verbosely it ran)."""
        return {k: v for k, v in self.get_params().items() if k not in ("device", "verbose")}

    def check_params(self, names: dict[str, str] | None = None) -> None:
        """Raise a ConfigError naming the first out-of-range parameter (or what ``names`` maps it to: the CLI
        passes its options)."""
        def name(param: str) -> str:
            return (names or {}).get(param, param)

        validate.at_least(name("latent"), self.latent, 1)
        validate.non_negative(name("lam"), self.lam)
        validate.at_least(name("epochs"), self.epochs, 1)
        validate.at_least(name("decoder_epochs"), self.decoder_epochs, 0)
        validate.at_least(name("batch_size"), self.batch_size, 2)  # batch norm needs two rows
        validate.positive(name("lr"), self.lr)
        validate.fraction(name("val_fraction"), self.val_fraction, high_open=True)
        validate.widths(name("hidden"), self.hidden)
        validate.at_least(name("seed"), self.seed, 0)
        if self.arch not in ARCHES:
            raise ConfigError(f"{name('arch')} must be one of {', '.join(ARCHES)}, got {self.arch!r}.")

    # ------------------------------------------------------------------ inputs

    def _to_tensor(self, stored: np.ndarray, scale: float):
        import torch

        x = np.asarray(stored, dtype=np.float32)
        if scale != 1.0:
            x = x * np.float32(scale)
        if self.kind_ == "table":
            x = (x - self.input_mean_) / self.input_scale_
        return torch.from_numpy(np.ascontiguousarray(x)).to(self.device_)

    def _batches(self, stored: np.ndarray, scale: float, index: np.ndarray, batch_size: int):
        for start in range(0, len(index), batch_size):
            yield self._to_tensor(stored[index[start:start + batch_size]], scale)

    def check_input(self, X) -> None:
        """Raise a clear error if ``X`` does not match the training inputs' shape."""
        self._check_fitted()
        self._check_input_shape(*as_storage(X)[::2])
        recorded = getattr(self, "input_columns_", None)
        if recorded and isinstance(X, Dataset) and X.feature_names and list(X.feature_names) != list(recorded):
            diff = next(i for i, (a, b) in enumerate(zip(X.feature_names, recorded)) if a != b)
            raise DataError(f"Column {diff} of the data is '{X.feature_names[diff]}' but the autoencoder was trained "
                            f"with '{recorded[diff]}' there; select the training columns by name (cance features "
                            "does) or retrain.")

    def _check_input_shape(self, stored: np.ndarray, kind: str) -> None:
        shape = tuple(int(s) for s in stored.shape[1:])
        if shape != tuple(self.input_shape_) or kind != self.kind_:
            raise DataError(
                f"The data has {kind} samples of shape {shape}, but the autoencoder was trained on "
                f"{self.kind_} samples of shape {tuple(self.input_shape_)}; use matching data or retrain."
            )

    # ------------------------------------------------------------------ fit

    def fit(self, X, y=None) -> ConstrainedAutoencoder:
        """Train on ``X`` (all rows are taken as normal).

        ``X`` is a :class:`~cance_cli.data.Dataset`, ``(N, F)`` rows, or
        ``(N, C, H, W)`` / ``(N, H, W)`` images already scaled to [0, 1].
        """

        from cance_cli.models.autoencoder import build_autoencoder, default_config, reference_config

        self.check_params()
        stored, scale, kind = as_storage(X)
        seed_everything(self.seed)
        self._group = distributed.current()  # torchrun: this rank of a data-parallel group
        self.device_ = distributed.local_device(resolve_device(self.device), self._group)
        self.kind_ = kind
        self.input_shape_ = [int(s) for s in stored.shape[1:]]
        self.input_columns_, self.input_dtypes_ = schema_of(X)
        train_idx, val_idx = train_val_indices(len(stored), self.val_fraction, self.seed)
        self.input_mean_ = self.input_scale_ = None
        if kind == "table":
            rows = np.asarray(stored[train_idx], dtype=np.float64)
            self.input_mean_ = rows.mean(axis=0).astype(np.float32)
            std = rows.std(axis=0)
            self.input_scale_ = np.where(std > 1e-12, std, 1.0).astype(np.float32)
        n_inputs = int(np.prod(self.input_shape_))
        if self.latent > n_inputs:
            raise ConfigError(f"`latent` {self.latent} is wider than the {n_inputs} input values, so the "
                              f"autoencoder would not compress; choose `latent` <= {n_inputs}.")
        configure = reference_config if self.arch == "reference" else default_config
        self.config_ = configure(tuple(self.input_shape_), self.latent, self.hidden, kind)
        hint = "choose smaller `hidden` widths or `batch_size`."
        with memory_guard(hint):
            self.model_ = build_autoencoder(self.config_).to(self.device_)
        self.train_fingerprint_ = array_fingerprint(np.asarray(stored))
        self.n_train_, self.n_val_ = len(train_idx), len(val_idx)

        gen = torch_generator(self.seed)
        # Mixed precision on CUDA (bfloat16 autocast of the stage-1 forward pass; losses,
        # validation and the saved weights stay float32); never on CPU.
        self.mixed_precision_ = "bfloat16" if self.device_.type == "cuda" and bf16_on_cuda() else None
        started = time.perf_counter()
        total = self.epochs + self.decoder_epochs
        self.history_ = {"stage1": {"train": [], "val": []}, "stage2": {"train": [], "val": []}}
        with memory_guard(hint), progress_bar(total, "train-ae", self.verbose) as advance:
            # Stage 1: encoder + decoder, MSE + lam * covariance penalty.
            self._train_stage(1, self.epochs, self.model_.parameters(), stored, scale, train_idx, val_idx, gen,
                              advance)
            # Stage 2: encoder frozen (eval mode, BN statistics fixed); decoder on MSE.
            encoder = self.model_.encoder
            encoder.eval()
            for p in encoder.parameters():
                p.requires_grad_(False)
            self._train_stage(2, self.decoder_epochs, self.model_.decoder.parameters(), stored, scale, train_idx,
                              val_idx, gen, advance)
            for p in encoder.parameters():
                p.requires_grad_(True)
        self.model_.eval()
        self.world_size_ = self._group.world_size
        self.fit_seconds_ = time.perf_counter() - started
        z = self.transform_stored(stored, scale, train_idx)
        self.latent_condition_number_, self.latent_max_abs_corr_ = latent_conditioning(z)
        return self

    def _train_stage(self, stage: int, epochs: int, params, stored, scale, train_idx, val_idx, gen,
                     advance) -> None:
        """Train one stage; keep (and restore) the weights of its lowest validation loss."""

        history = self.history_[f"stage{stage}"]
        select_on = val_idx if len(val_idx) else train_idx
        best = BestState()
        if stage == 2 and epochs:  # stage 2 may not beat stage 1's decoder
            best.update(self._evaluate(stored, scale, select_on, stage), -1, self.model_)
        opt = Adam(params, lr=self.lr)
        runner = self._data_parallel(self.model_ if stage == 1 else self.model_.decoder)
        trained = self.model_ if stage == 1 else self.model_.decoder  # after a SyncBatchNorm conversion
        # On CPU torch has no SyncBatchNorm: batch norms all-reduce their statistics instead.
        def train_epoch(epoch: int) -> float:
            trained.train()
            tr = self._run_epoch(stored, scale, train_idx, gen, opt, stage, runner, epoch)
            if self._group.active:  # every rank evaluates and selects with rank 0's batch-norm statistics
                distributed.broadcast_module_buffers(self.model_)
            return tr

        with (distributed.global_batch_norm(trained) if self._group.active and self.device_.type != "cuda"
              else contextlib.nullcontext()):
            fit_epochs(epochs, train_epoch,
                       lambda tr: self._evaluate(stored, scale, val_idx, stage) if len(val_idx) else tr,
                       self.model_, history, advance, lambda tr, va: f"stage {stage} train {tr:.5f} val {va:.5f}",
                       best=best, first_epoch=self.epochs if stage == 2 else 0)

    def _data_parallel(self, module):
        """``module`` wrapped in DistributedDataParallel in a torchrun group (gradients
        averaged over the ranks; on CUDA the batch norms become SyncBatchNorm), else itself."""
        if not self._group.active:
            return module
        import torch
        from torch.nn.parallel import DistributedDataParallel

        if self.device_.type == "cuda" and module is self.model_:
            # SyncBatchNorm: batch statistics over the global batch (CUDA only in torch;
            # on CPU _train_stage uses distributed.global_batch_norm: docs/distributed.md).
            module = self.model_ = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model_)
        ids = [self.device_.index] if self.device_.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    def _run_epoch(self, stored, scale, index, gen, opt, stage: int, runner=None, epoch: int = 0) -> float:
        import torch
        import torch.nn.functional as F

        group = self._group
        runner = runner if runner is not None else (self.model_ if stage == 1 else self.model_.decoder)
        order, batch_size = epoch_order(index, gen, self.seed, epoch, self.batch_size, group)
        total, count = 0.0, 0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            if len(idx) < 2:  # batch norm cannot train on one row (ranks hold equal shares: all skip together)
                continue
            x = self._to_tensor(stored[idx], scale)
            if stage == 1:
                noisy = x
                if INPUT_NOISE > 0 and self.kind_ == "table":  # denoising: reconstruct x from a corrupted copy
                    noisy = x + INPUT_NOISE * torch.randn(x.shape, generator=gen, device="cpu").to(x.device)
                with (torch.autocast("cuda", dtype=torch.bfloat16) if self.mixed_precision_
                      else contextlib.nullcontext()):
                    z, x_hat = runner(noisy)
                z, x_hat = z.float(), x_hat.float()  # losses in float32
                loss = F.mse_loss(x_hat, x)
                if self.lam > 0:
                    # The penalty of the global batch: every rank's latents, gradients to its own.
                    loss = loss + self.lam * covariance_penalty(distributed.gather_rows(z) if group.active else z)
            else:
                with torch.no_grad():
                    z = self.model_.encoder(x)
                loss = F.mse_loss(runner(z), x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        if group.active:
            total, count = distributed.all_sum(total, count)
        return total / max(count, 1)

    def _evaluate(self, stored, scale, index, stage: int) -> float:
        """Validation loss in eval mode: MSE (+ lam x penalty on all latents in stage 1)."""
        import torch

        self.model_.eval()
        sq, n_el, zs = 0.0, 0, []
        with torch.no_grad():
            for x in self._batches(stored, scale, index, 1024):
                z, x_hat = self.model_(x)
                sq += float(((x_hat - x) ** 2).sum())
                n_el += x.numel()
                zs.append(z)
        loss = sq / max(n_el, 1)
        if stage == 1 and self.lam > 0:
            loss += self.lam * float(covariance_penalty(torch.cat(zs)))
        return loss

    # ------------------------------------------------------------------ inference

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError("This ConstrainedAutoencoder is not fitted yet; call fit() or load().")

    def transform_stored(self, stored, scale, index=None, batch_size: int = 1024) -> np.ndarray:
        import torch

        index = np.arange(len(stored)) if index is None else index
        self.model_.eval()
        with torch.no_grad():
            return np.concatenate([self.model_.encode(x).cpu().numpy()
                                   for x in self._batches(stored, scale, index, batch_size)])

    def transform(self, X, batch_size: int = 1024) -> np.ndarray:
        """Latent codes z, shape ``(N, latent)``."""
        self._check_fitted()
        stored, scale, kind = as_storage(X)
        self._check_input_shape(stored, kind)
        return self.transform_stored(stored, scale, batch_size=batch_size)

    def iter_composite(self, X, batch_size: int = 1024):
        """Yield ``(start, z, recon_error, cos_dissim)`` per batch of ``X``.

        Error and dissimilarity are measured in the space the autoencoder
        sees: pixels in [0, 1], or standardised table columns.
        """
        import torch
        import torch.nn.functional as F

        self._check_fitted()
        stored, scale, kind = as_storage(X)
        self._check_input_shape(stored, kind)
        self.model_.eval()
        with torch.no_grad():
            for start in range(0, len(stored), batch_size):
                x = self._to_tensor(stored[start:start + batch_size], scale)
                z, x_hat = self.model_(x)
                flat, flat_hat = x.flatten(1), x_hat.flatten(1)
                err = ((flat - flat_hat) ** 2).mean(dim=1)
                dissim = 1.0 - F.cosine_similarity(flat, flat_hat, dim=1, eps=1e-12)
                yield start, z.cpu().numpy(), err.cpu().numpy(), dissim.cpu().numpy()

    def composite_features(self, X, batch_size: int = 1024) -> np.ndarray:
        """``[z, recon_error, cos_dissim]`` per row, shape ``(N, latent + 2)``."""
        parts = [np.column_stack([z, e, d]) for _, z, e, d in self.iter_composite(X, batch_size)]
        return np.concatenate(parts).astype(np.float32)

    @property
    def feature_columns_(self) -> list[str]:
        return composite_columns(self.latent)

    # ------------------------------------------------------------------ persistence

    def summary(self) -> dict[str, Any]:
        """Losses per stage and latent conditioning, for reports and `json`."""
        h = self.history_
        return {
            "stage1": {"epochs": len(h["stage1"]["train"]), "best_epoch": h["stage1"]["best_epoch"] + 1,
                       "train_loss": h["stage1"]["train"][h["stage1"]["best_epoch"]],
                       "val_loss": h["stage1"]["best_val"]},
            "stage2": {"epochs": len(h["stage2"]["train"]),
                       "best_epoch": h["stage2"]["best_epoch"] + 1,
                       "train_loss": (h["stage2"]["train"][h["stage2"]["best_epoch"]]
                                      if h["stage2"]["best_epoch"] >= 0 else None),
                       "val_loss": h["stage2"]["best_val"]},
            "latent_condition_number": self.latent_condition_number_,
            "latent_max_abs_corr": self.latent_max_abs_corr_,
            "n_train": self.n_train_, "n_val": self.n_val_,
            "fit_seconds": self.fit_seconds_, "world_size": getattr(self, "world_size_", 1),
            "mixed_precision": getattr(self, "mixed_precision_", None),
        }
