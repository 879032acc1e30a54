"""What the energy-based detectors (NAE, MPDR) share: schedules, the starting
spherical autoencoder, the input box of their chains, scoring and checkpoints."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from cance_cli import validate
from cance_cli.data.dataset import as_storage
from cance_cli.errors import ConfigError
from cance_cli.training.autoencoder import ConstrainedAutoencoder

SPHERICAL_ARCHES = ("reference", "spherical-mlp")


class EnergyAutoencoderModel(BaseEstimator):
    """Base of :class:`~cance_cli.training.nae.NormalizedAutoencoder` and
    :class:`~cance_cli.training.mpdr.MPDR`. Subclasses set ``SCHEDULES``, ``STAGE``
    and ``NAME`` and fill ``autoencoder_``, ``history_``, ``settings_``, ``fit_seconds_``."""

    SUPPORTS_DATA_PARALLEL = False  # a loop that can run under torchrun sets True

    SCHEDULES: ClassVar[dict[str, dict[str, Any]]] = {}
    STAGE: ClassVar[str] = ""
    NAME: ClassVar[str] = ""

    def settings(self) -> dict[str, Any]:
        """The schedule's values for every size left as None."""
        if self.schedule not in self.SCHEDULES:
            raise ConfigError(f"`schedule` must be one of {', '.join(self.SCHEDULES)}, got {self.schedule!r}.")
        base = self.SCHEDULES[self.schedule]
        return {k: (base[k] if getattr(self, k) is None else getattr(self, k)) for k in base}

    def check_params(self) -> None:
        s = self.settings()
        validate.at_least("`latent`", self.latent, 2)
        validate.at_least("`steps`", s["steps"], 1)
        validate.at_least("`ae_epochs`", s["ae_epochs"], 1)
        validate.positive("`lr`", s["lr"])
        validate.at_least("`batch_size`", self.batch_size, 2)
        validate.non_negative("gamma", self.gamma)
        validate.non_negative("l2", self.l2)
        validate.at_least("`seed`", self.seed, 0)

    def pretrain(self, X) -> ConstrainedAutoencoder:
        """The spherical autoencoder ``fit`` would pre-train on ``X`` (pass it, or a copy, as
        ``fit(X, autoencoder=...)``: several detectors can then start from one network)."""
        self.check_params()
        self.settings_ = self.settings()
        return self._starting_autoencoder(X, None)

    def _starting_autoencoder(self, X, autoencoder: ConstrainedAutoencoder | None) -> ConstrainedAutoencoder:
        """``autoencoder`` checked (spherical latent, matching inputs), or a freshly pre-trained one."""
        s = self.settings_
        if autoencoder is None:
            stored, _, kind = as_storage(X)
            grey_28 = kind == "image" and tuple(stored.shape[1:]) in ((28, 28), (1, 28, 28))
            return ConstrainedAutoencoder(
                latent=self.latent, lam=0.0, epochs=s["ae_epochs"], decoder_epochs=0, lr=1e-4,
                batch_size=self.batch_size, hidden=(s["nh"],) if grey_28 else None, arch="reference",
                seed=self.seed, device=self.device, verbose=self.verbose).fit(X)
        if autoencoder.config_.get("arch") not in SPHERICAL_ARCHES:
            raise ConfigError(f"`ae` must be an autoencoder with a spherical latent (trained with `arch` reference); "
                              f"{self.NAME} runs its latent chain on that sphere.")
        autoencoder.check_input(X)
        return autoencoder

    @staticmethod
    def _input_bounds(ae: ConstrainedAutoencoder, stored, scale, dev):
        """The input chain's box: [0, 1] for images; the training rows' range for tables."""
        if ae.kind_ == "image":
            return 0.0, 1.0
        x = ae._to_tensor(stored, scale)
        return x.min(dim=0).values.to(dev), x.max(dim=0).values.to(dev)

    def _reconstruction_errors(self, X, batch_size: int = 1024) -> np.ndarray:
        return np.concatenate([e for _, _, e, _ in self.autoencoder_.iter_composite(X, batch_size)])

    def save(self, path, provenance: dict[str, Any] | None = None):
        """An autoencoder checkpoint of stage ``STAGE`` (readable by `cance features`)."""
        record = {"params": {k: v for k, v in self.get_params().items() if k not in ("device", "verbose")},
                  "settings": self.settings_, "history": self.history_, "fit_seconds": self.fit_seconds_,
                  "world_size": getattr(self, "world_size_", 1), **self._extra_record()}
        return self.autoencoder_.save(path, {self.STAGE: record, **(provenance or {})}, stage=self.STAGE)

    def _extra_record(self) -> dict[str, Any]:
        return {}
