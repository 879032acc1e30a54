"""The table contract: the names of the feature columns cance writes (the latent ``z_*`` and the two
reconstruction columns of a composite-feature table)."""

from __future__ import annotations

RECON_COLUMNS = ["recon_error", "cos_dissim"]


def latent_columns(d: int) -> list[str]:
    return [f"z_{i}" for i in range(d)]
