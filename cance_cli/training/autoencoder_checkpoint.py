"""An autoencoder's checkpoint: what :class:`~cance_cli.training.autoencoder.ConstrainedAutoencoder` saves
(weights, input scaling, schema, history) and how it is rebuilt (shapes checked before the network is built)."""

from __future__ import annotations

from typing import Any

from cance_cli.io.checkpoints import build_matching, load_checkpoint, load_state, rebuilding, save_checkpoint
from cance_cli.training.common import resolve_device

STAGE = "autoencoder"
# Metadata fields an autoencoder checkpoint must carry, with their JSON types.
REQUIRED_META = {"params": dict, "model_config": dict, "kind": str, "input_shape": list}
# Checkpoint stages an autoencoder can be read from: trained here, or by train-nae / train-mpdr.
READABLE_STAGES = (STAGE, "nae", "mpdr")


class AutoencoderCheckpoint:
    """Mixin: ``save`` and ``load`` of the constrained autoencoder."""

    def save(self, path, provenance: dict[str, Any] | None = None, stage: str = STAGE):
        """Write a safetensors checkpoint (weights on CPU, JSON metadata); ``stage``
        names what trained it last (``nae`` for train-nae)."""
        self._check_fitted()
        tensors = {f"model.{k}": v for k, v in self.model_.state_dict().items()}
        if self.input_mean_ is not None:
            tensors["input_mean"] = self.input_mean_
            tensors["input_scale"] = self.input_scale_
        meta = {
            "stage": stage,
            "params": self.stored_params(),
            "model_config": self.config_,
            "kind": self.kind_,
            "input_shape": self.input_shape_,
            "input_columns": self.input_columns_,
            "input_dtypes": self.input_dtypes_,
            "feature_columns": self.feature_columns_,
            "train_fingerprint": self.train_fingerprint_,
            "summary": self.summary(),
            "history": self.history_,
            **(provenance or {}),
        }
        return save_checkpoint(path, tensors, meta)

    @classmethod
    def load(cls, path, device: str = "cpu"):
        """Rebuild a fitted autoencoder from a checkpoint (on CPU unless told otherwise)."""
        import torch

        from cance_cli.models.autoencoder import build_autoencoder

        tensors, meta = load_checkpoint(path, READABLE_STAGES, REQUIRED_META)
        dev = resolve_device(device)
        with rebuilding(path):
            params = {k: v for k, v in meta["params"].items() if k != "hidden"}
            hidden = meta["params"].get("hidden")
            est = cls(**params, hidden=tuple(hidden) if hidden else None, device=device)
            est.check_params()
            est.device_ = dev
            est.kind_ = meta["kind"]
            est.input_shape_ = [int(s) for s in meta["input_shape"]]
            est.input_columns_ = meta.get("input_columns")
            est.input_dtypes_ = meta.get("input_dtypes")
            est.config_ = meta["model_config"]
            state = {k[len("model."):]: torch.from_numpy(v) for k, v in tensors.items() if k.startswith("model.")}
            est.model_ = build_matching(lambda: build_autoencoder(est.config_), state, path)
            load_state(est.model_, state, path)
            est.model_.to(est.device_).eval()
            est.input_mean_ = tensors.get("input_mean")
            est.input_scale_ = tensors.get("input_scale")
            if est.kind_ == "table" and (est.input_mean_ is None or est.input_scale_ is None):
                raise KeyError("input_mean")
            est.history_ = meta.get("history", {})
            summary = meta.get("summary", {})
            est.latent_condition_number_ = summary.get("latent_condition_number")
            est.latent_max_abs_corr_ = summary.get("latent_max_abs_corr")
            est.n_train_, est.n_val_ = summary.get("n_train"), summary.get("n_val")
            est.fit_seconds_ = summary.get("fit_seconds")
            est.world_size_ = summary.get("world_size", 1)
            est.train_fingerprint_ = meta.get("train_fingerprint")
        est.meta_ = meta
        return est
