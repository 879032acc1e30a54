"""MPDR-R: Manifold Projection-Diffusion Recovery with a reconstruction energy
(``../shared/NAE-MPDR.md``).

A projection autoencoder (spherical latent) is pre-trained, or given, and frozen.
The energy is ``s^2 * reconstruction error`` of a second autoencoder started from
the projection's weights (``s`` learned). Each step perturbs the positives on the
manifold (z_obs = normalise(enc(x) + sigma * eps), sigma ~ U[0.05, 0.3]) and draws
negatives from the recovery likelihood p(x | z_obs): a latent chain on the sphere
from z_obs (unit tangent steps), decoded by the projection, then a short input
chain. Loss: mean E(x+) - mean E(x-) + (mean reconstruction error of x-)^2 +
1e-4 |encoder weights|^2. The result is an autoencoder checkpoint of stage
``mpdr`` (its ``recon_error`` orders rows like the energy, since ``s > 0``).
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

import numpy as np

from cance_cli import validate
from cance_cli.data.dataset import as_storage
from cance_cli.errors import ConfigError
from cance_cli.runtime.progress import progress_bar
from cance_cli.training.autoencoder import ConstrainedAutoencoder
from cance_cli.training.common import seed_everything, torch_generator
from cance_cli.training.energy_base import EnergyAutoencoderModel
from cance_cli.training.optim import Adam
from cance_cli.training.trainer import fit_steps

log = logging.getLogger("cance")

SCHEDULES: dict[str, dict[str, Any]] = {
    "reduced": {"nh": 4, "ae_epochs": 2, "steps": 150, "lr": 1e-4},
    "reference": {"nh": 8, "ae_epochs": 30, "steps": 21_000, "lr": 1e-5},
}


class MPDR(EnergyAutoencoderModel):
    """MPDR-R on images in [0, 1] (or standardised table rows).

    Parameters
    ----------
    schedule : {"reduced", "reference"}
        Fills nh, ae_epochs, steps and lr when left as None.
    sigma_min, sigma_max : range of the perturbation scale.
    c, temperature : recovery likelihood weights.
    latent_steps, latent_step, latent_noise, input_steps, input_step, input_noise : the chains.
    gamma, l2 : weights of the squared negative reconstruction error and the encoder's squared weights.

    Attributes
    ----------
    projection_, autoencoder_ : ConstrainedAutoencoder (frozen projection; trained energy AE)
    scale_ : float, the learned s
    history_ : dict, energies per logged step
    """

    def __init__(self, schedule: str = "reduced", latent: int = 32, nh: int | None = None,
                 ae_epochs: int | None = None, steps: int | None = None, lr: float | None = None,
                 batch_size: int = 128, sigma_min: float = 0.05, sigma_max: float = 0.3, c: float = 1e-4,
                 temperature: float = 1.0, latent_steps: int = 5, latent_step: float = 0.1,
                 latent_noise: float = 0.02, input_steps: int = 5, input_step: float = 10.0,
                 input_noise: float = 0.005, gamma: float = 1.0, l2: float = 1e-4, seed: int = 0,
                 device: str = "auto", verbose: bool = False):
        self.schedule = schedule
        self.latent = latent
        self.nh = nh
        self.ae_epochs = ae_epochs
        self.steps = steps
        self.lr = lr
        self.batch_size = batch_size
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max
        self.c = c
        self.temperature = temperature
        self.latent_steps = latent_steps
        self.latent_step = latent_step
        self.latent_noise = latent_noise
        self.input_steps = input_steps
        self.input_step = input_step
        self.input_noise = input_noise
        self.gamma = gamma
        self.l2 = l2
        self.seed = seed
        self.device = device
        self.verbose = verbose

    SCHEDULES = SCHEDULES
    STAGE = "mpdr"
    NAME = "MPDR"

    def check_params(self) -> None:
        super().check_params()
        validate.positive("sigma_min", self.sigma_min)
        if self.sigma_max < self.sigma_min:
            raise ConfigError("sigma_max must be at least sigma_min.")

    def fit(self, X, y=None, autoencoder: ConstrainedAutoencoder | None = None) -> MPDR:
        """Pre-train the projection autoencoder (or take ``autoencoder``, of ``arch="reference"``), then train."""
        import torch

        from cance_cli.models.reference_ae import sphere
        from cance_cli.sampling.langevin import input_chain, sphere_chain
        from cance_cli.training.energy_losses import mpdr_loss, recovery_energy, squared_weights

        self.check_params()
        s = self.settings_ = self.settings()
        seed_everything(self.seed)
        projection = self._starting_autoencoder(X, autoencoder)
        self.projection_ = projection
        self.autoencoder_ = copy.deepcopy(projection)  # the energy AE starts from the projection's weights
        proj, model, dev = projection.model_, self.autoencoder_.model_, projection.device_
        for p in proj.parameters():
            p.requires_grad_(False)
        proj.eval()
        log_scale = torch.zeros((), device=dev, requires_grad=True)
        stored, scale, _ = as_storage(X)
        rows = np.arange(len(stored))
        low, high = self._input_bounds(projection, stored, scale, dev)
        gen = torch_generator(self.seed)
        dev_gen = torch.Generator(device=dev).manual_seed(self.seed + 1)
        opt = Adam([*model.parameters(), log_scale], lr=s["lr"])

        def recon(x):
            _, x_hat = model(x)
            return ((x - x_hat) ** 2).flatten(1).mean(dim=1)

        def energy(x):
            return torch.exp(2 * log_scale) * recon(x)

        self.history_ = {"step": [], "positive": [], "negative": [], "loss": [], "scale": []}
        started = time.perf_counter()
        model.train()
        # at most as many rows a step as the data has (a larger batch only repeats rows, at any memory cost)
        self.batch_size_ = min(self.batch_size, len(rows))
        def step_loss(step: int):
            pick = np.sort(rows[torch.randint(len(rows), (self.batch_size_,), generator=gen).numpy()])
            x_pos = self.autoencoder_._to_tensor(stored[pick], scale)
            n = len(x_pos)
            sigma = self.sigma_min + (self.sigma_max - self.sigma_min) * torch.rand(n, generator=dev_gen, device=dev)
            with torch.no_grad():
                z_obs = sphere(proj.encode(x_pos) + sigma[:, None] * torch.randn(
                    n, self.latent, generator=dev_gen, device=dev))

            def neg_log_p(x, z_obs=z_obs, sigma=sigma):
                return recovery_energy(energy(x), proj.encode(x), z_obs, sigma, self.c, self.temperature)

            z = sphere_chain(lambda zz: neg_log_p(proj.decode(zz)), z_obs, self.latent_steps, self.latent_step,
                             self.latent_noise, dev_gen, unit_tangent=True)
            with torch.no_grad():
                x0 = proj.decode(z)
            x_neg = input_chain(neg_log_p, x0, self.input_steps, self.input_step, grad_clip=float("inf"),
                                noise=lambda k: self.input_noise, generator=dev_gen, low=low, high=high)
            e_pos, e_neg = energy(x_pos), energy(x_neg)
            loss = mpdr_loss(e_pos, e_neg, recon(x_neg), self.gamma) + self.l2 * squared_weights(model.encoder)
            record = lambda: {"step": step + 1, "positive": float(e_pos.detach().mean()),  # noqa: E731
                              "negative": float(e_neg.detach().mean()), "loss": float(loss.detach()),
                              "scale": float(torch.exp(log_scale.detach()))}
            return loss, record, f"E+ {float(e_pos.detach().mean()):.4f} E- {float(e_neg.detach().mean()):.4f}"

        def stop(step: int) -> None:
            log.warning("the MPDR loss became non-finite at step %d; training stops there.", step + 1)

        with progress_bar(s["steps"], "train-mpdr", self.verbose) as advance:
            fit_steps(s["steps"], step_loss, opt, self.history_, advance, on_diverge=stop)
        model.eval()
        self.scale_ = float(torch.exp(log_scale.detach()))
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def score_samples(self, X, batch_size: int = 1024) -> np.ndarray:
        """The MPDR-R energy s^2 * reconstruction error per row: higher = more anomalous."""
        return self.scale_**2 * self._reconstruction_errors(X, batch_size)

    def _extra_record(self) -> dict[str, Any]:
        return {"scale": self.scale_}
