"""The Normalized Autoencoder (NAE): the energy is the reconstruction error, trained so
that samples of the model's own distribution get high energy (``../shared/NAE-MPDR.md``).

Each step: negatives from a latent Langevin chain on the sphere (started from a
replay buffer of earlier chain ends, or uniformly on the sphere), decoded, then a
short input-space chain clamped to the inputs' range (``sampling="on-manifold"``, the
reference's); for the ablation of the NAE paper, ``"cd"`` runs the input chain from the
step's positive rows and ``"pcd"`` from a replay buffer of earlier input-chain ends (or
uniform noise in the inputs' box), each for ``latent_steps + input_steps`` steps. The loss is
``mean E(x+) - mean E(x-) + gamma * mean E(x-)^2 + l2 * |encoder weights|^2``.
The autoencoder (spherical latent, ``arch="reference"``) is pre-trained first, or
given. The result is an autoencoder checkpoint of stage ``nae``: `cance features`
reads it, its ``recon_error`` column is the NAE energy.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from cance_cli import validate
from cance_cli.data.dataset import as_storage
from cance_cli.errors import ConfigError
from cance_cli.runtime import distributed
from cance_cli.runtime.progress import progress_bar
from cance_cli.training.autoencoder import ConstrainedAutoencoder
from cance_cli.training.common import seed_everything, torch_generator
from cance_cli.training.energy_base import EnergyAutoencoderModel
from cance_cli.training.optim import Adam
from cance_cli.training.trainer import fit_steps

log = logging.getLogger("cance")

# The references' schedule (GPU-sized) and the reduced default that finishes on 2 CPU cores.
SCHEDULES: dict[str, dict[str, Any]] = {
    "reduced": {"nh": 4, "ae_epochs": 2, "steps": 150, "latent_steps": 10, "input_steps": 10, "lr": 1e-4},
    "reference": {"nh": 8, "ae_epochs": 100, "steps": 17_600, "latent_steps": 10, "input_steps": 50, "lr": 1e-5},
}
SAMPLINGS = ("on-manifold", "cd", "pcd")
LOG_EVERY = 10  # history_ records every 10th step and the last
SNAPSHOT_ROWS = 16  # negatives kept per snapshot (``negative_snapshots_``)


class NormalizedAutoencoder(EnergyAutoencoderModel):
    """NAE on images in [0, 1] (or standardised table rows).

    Parameters
    ----------
    schedule : {"reduced", "reference"}
        Fills every size left as None (see :data:`SCHEDULES`).
    latent, nh, ae_epochs, steps, lr : the autoencoder's latent and channel unit,
        pre-training epochs, NAE steps and NAE learning rate (Adam).
    batch_size : int
        Positive rows per step; as many negative chains.
    gamma, l2 : weights of the squared negative energy and of the encoder's squared weights.
    latent_steps, latent_step, latent_noise : the sphere chain.
    input_steps, input_step, input_grad_clip, input_noise : the input chain.
    buffer_size, buffer_reuse : replay buffer of latent chain ends (input chain ends for ``pcd``).
    sampling : {"on-manifold", "cd", "pcd"}
        Where the negative chains start (see the module docstring); on-manifold is the method.
    seed, device, verbose : as elsewhere.

    Attributes
    ----------
    autoencoder_ : ConstrainedAutoencoder (arch reference), trained by the NAE objective
    history_ : dict of lists per logged step: positive and negative energy, loss, buffer use, and the
        negatives' energy where their chain started (``negative_start``: the decoded latent start, or the
        input chain's start) and after the latent chain (``negative_latent``; the start for cd / pcd)
    negative_snapshots_ : dict step -> array, the first 16 negatives at steps 1, 10, 30, 100, 300, ... and
        the last (kept in memory for figures, not in the checkpoint)
    """

    def __init__(self, schedule: str = "reduced", latent: int = 32, nh: int | None = None,
                 ae_epochs: int | None = None, steps: int | None = None, lr: float | None = None,
                 batch_size: int = 128, gamma: float = 1.0, l2: float = 1e-4, latent_steps: int | None = None,
                 latent_step: float = 0.2, latent_noise: float = 0.05, input_steps: int | None = None,
                 input_step: float = 10.0, input_grad_clip: float = 0.01, input_noise: float = 0.05,
                 buffer_size: int = 10_000, buffer_reuse: float = 0.95, sampling: str = "on-manifold",
                 seed: int = 0, device: str = "auto", verbose: bool = False):
        self.schedule = schedule
        self.latent = latent
        self.nh = nh
        self.ae_epochs = ae_epochs
        self.steps = steps
        self.lr = lr
        self.batch_size = batch_size
        self.gamma = gamma
        self.l2 = l2
        self.latent_steps = latent_steps
        self.latent_step = latent_step
        self.latent_noise = latent_noise
        self.input_steps = input_steps
        self.input_step = input_step
        self.input_grad_clip = input_grad_clip
        self.input_noise = input_noise
        self.buffer_size = buffer_size
        self.buffer_reuse = buffer_reuse
        self.sampling = sampling
        self.seed = seed
        self.device = device
        self.verbose = verbose

    SCHEDULES = SCHEDULES
    STAGE = "nae"
    SUPPORTS_DATA_PARALLEL = True
    NAME = "the NAE"

    def check_params(self) -> None:
        super().check_params()
        validate.at_least("`buffer_size`", self.buffer_size, 1)
        validate.fraction("buffer_reuse", self.buffer_reuse)
        if self.sampling not in SAMPLINGS:
            raise ConfigError(f"`sampling` must be one of {', '.join(SAMPLINGS)}, got {self.sampling!r}.")

    # ------------------------------------------------------------------ fit

    def fit(self, X, y=None, autoencoder: ConstrainedAutoencoder | None = None) -> NormalizedAutoencoder:
        """Pre-train (or take ``autoencoder``, of ``arch="reference"``), then run the NAE steps on ``X``."""
        import torch

        from cance_cli.models.reference_ae import sphere
        from cance_cli.sampling.langevin import input_chain, sphere_chain
        from cance_cli.sampling.replay import ReplayBuffer
        from cance_cli.training.energy_losses import nae_loss, reconstruction_energy, squared_weights

        self.check_params()
        s = self.settings_ = self.settings()
        seed_everything(self.seed)
        autoencoder = self._starting_autoencoder(X, autoencoder)
        ae = self.autoencoder_ = autoencoder
        model, dev = ae.model_, ae.device_
        stored, scale, _ = as_storage(X)
        rows = np.arange(len(stored))
        low, high = self._input_bounds(ae, stored, scale, dev)
        # Under torchrun each rank draws its share of the step's rows and of the negative
        # chains with its own seeds (rank 0's are a single process's), keeps its own replay
        # buffer, and the gradients are averaged: the step sees batch_size rows in all.
        group = distributed.current()
        # Never more rows a step than the data has: a batch of 100,000 on 600 images drew 100,000 rows and as
        # many negative chains (22.9 GB) before the kernel stopped it.
        batch = self.batch_size_ = min(distributed.local_batch_size(self.batch_size, group), len(stored))
        rank_seed = distributed.rank_seed(self.seed, group)
        gen = torch_generator(rank_seed)
        dev_gen = torch.Generator(device=dev).manual_seed(rank_seed + 1)
        buffer = ReplayBuffer(max(1, self.buffer_size // group.world_size), self.buffer_reuse, rank_seed)
        opt = Adam(model.parameters(), lr=s["lr"])
        energy = lambda x: reconstruction_energy(model, x)  # noqa: E731
        latent_energy = lambda z: reconstruction_energy(model, model.decode(z))  # noqa: E731
        fresh = lambda n: sphere(torch.randn(n, ae.latent, generator=dev_gen, device=dev))  # noqa: E731
        self.history_ = {"step": [], "positive": [], "negative": [], "negative_start": [], "negative_latent": [],
                         "loss": [], "buffer_share": []}
        self.negative_snapshots_ = {}
        snapshot_at = {1, 10, 30, 100, 300, 1000, 3000, 10_000, s["steps"]}
        last_good = {k: v.detach().clone() for k, v in model.state_dict().items()}
        started = time.perf_counter()
        model.train()
        chain_noise = lambda k: self.input_noise if k < 2 else self.input_noise / k  # noqa: E731

        def negatives(x_pos, logged: bool):
            """(negatives, energy at the chain's start, energy after the latent chain, rows from the buffer); the
            two diagnostic energies only on a step the history records (else None: two passes saved)."""
            start = after_latent = None
            if self.sampling == "on-manifold":
                z0, reused = buffer.starts(batch, fresh)
                z = sphere_chain(latent_energy, z0, s["latent_steps"], self.latent_step, self.latent_noise, dev_gen)
                buffer.push(z)
                with torch.no_grad():
                    x0 = model.decode(z)
                    if logged:
                        start, after_latent = energy(model.decode(sphere(z0))), energy(x0)
                steps = s["input_steps"]
            else:  # the ablation: an input chain as long as both chains of the method, from data or a buffer
                x0, reused = (x_pos, 0) if self.sampling == "cd" else buffer.starts(batch, uniform_box)
                if logged:
                    with torch.no_grad():
                        start = after_latent = energy(x0)
                steps = s["latent_steps"] + s["input_steps"]
            x_neg = input_chain(energy, x0, steps, self.input_step, self.input_grad_clip, noise=chain_noise,
                                generator=dev_gen, low=low, high=high)
            if self.sampling == "pcd":
                buffer.push(x_neg)
            return x_neg, start, after_latent, reused

        input_shape = tuple(ae._to_tensor(stored[:1], scale).shape[1:])

        def uniform_box(n):  # pcd's fresh chains: uniform noise in the inputs' box
            return low + (high - low) * torch.rand((n, *input_shape), generator=dev_gen, device=dev)

        def step_loss(step: int):
            pick = rows[torch.randint(len(rows), (batch,), generator=gen).numpy()]
            x_pos = ae._to_tensor(stored[np.sort(pick)], scale)
            logged = step % LOG_EVERY == 0 or step == s["steps"] - 1  # the steps fit_steps records
            x_neg, start, after_latent, reused = negatives(x_pos, logged)
            if step + 1 in snapshot_at:
                self.negative_snapshots_[step + 1] = x_neg[:SNAPSHOT_ROWS].detach().cpu().numpy()
            e_pos, e_neg = energy(x_pos), energy(x_neg)
            loss = nae_loss(e_pos, e_neg, self.gamma) + self.l2 * squared_weights(model.encoder)
            record = lambda: {"step": step + 1, "positive": float(e_pos.detach().mean()),  # noqa: E731
                              "negative": float(e_neg.detach().mean()), "negative_start": float(start.mean()),
                              "negative_latent": float(after_latent.mean()), "loss": float(loss.detach()),
                              "buffer_share": reused / batch}
            return loss, record, f"E+ {float(e_pos.detach().mean()):.4f} E- {float(e_neg.detach().mean()):.4f}"

        def keep_last_good(step: int) -> None:  # divergence guard: keep the last finite weights
            model.load_state_dict(last_good)
            log.warning("the NAE loss became non-finite at step %d; the weights of step %d are kept.", step + 1, step)

        def remember() -> None:
            nonlocal last_good
            last_good = {k: v.detach().clone() for k, v in model.state_dict().items()}

        with progress_bar(s["steps"], "train-nae", self.verbose) as advance:
            # the energy is evaluated through encode/decode, not forward: gradients are averaged by hand
            fit_steps(s["steps"], step_loss, opt, self.history_, advance, on_diverge=keep_last_good,
                      average=list(model.parameters()), after_step=remember, group=group, every=LOG_EVERY)
        model.eval()
        self.world_size_ = group.world_size
        self.fit_seconds_ = time.perf_counter() - started
        return self

    # ------------------------------------------------------------------ scores and persistence

    def score_samples(self, X, batch_size: int = 1024) -> np.ndarray:
        """The NAE energy (reconstruction error) per row: higher = more anomalous."""
        return self._reconstruction_errors(X, batch_size)
