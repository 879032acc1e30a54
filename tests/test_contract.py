"""Every registered part keeps the detector contract: fit, its kind's output, save, load (the one generic
reader), identical output after loading, scikit-learn's clone, and a bad parameter refused with its name."""

from __future__ import annotations

import example_density  # noqa: F401 - registers the example density
import numpy as np
import pytest
from sklearn.base import clone

from cance_cli.errors import ConfigError
from cance_cli.parts import KINDS
from cance_cli.registry import densities, load_part, part_class, save_part, stages

# Small settings per part (fast), and one bad value of one parameter.
SETTINGS = {
    "autoencoder": ({"latent": 2, "epochs": 1, "decoder_epochs": 0, "batch_size": 32}, ("latent", 0)),
    "pca": ({"n_components": 3}, ("n_components", 0)),
    "nce": ({"epochs": 1, "hidden": 8, "augment": False}, ("ratio", 0)),
    "input-map": ({}, ("max_components", 0)),
    "knn": ({"k": 3}, ("k", 0)),
    "gaussian-example": ({}, ("shrinkage", 2.0)),
}
ROWS = np.random.default_rng(0).normal(size=(120, 6)).astype(np.float32)


def _output(part, X) -> np.ndarray:
    if part.KIND == "feature_map":
        return part.composite_features(X) if hasattr(part, "composite_features") else part.transform(X)
    return part.score_samples(X)


def _classes() -> dict[str, type]:
    """One stage per class (NAE and MPDR checkpoints are read by the autoencoder's class)."""
    seen: dict[type, str] = {}
    for stage in stages():
        seen.setdefault(part_class(stage), stage)
    return {stage: cls for cls, stage in seen.items()}


def test_every_part_is_registered_with_a_kind_and_covered_here():
    classes = _classes()
    assert set(classes) == set(SETTINGS)
    assert all(cls.KIND in KINDS and cls.STAGE == stage for stage, cls in classes.items())
    assert "gaussian-example" in densities()


@pytest.mark.parametrize("stage", list(SETTINGS))
def test_a_part_fits_saves_loads_and_scores_identically(stage, tmp_path):
    cls = part_class(stage)
    params, _ = SETTINGS[stage]
    part = cls(**params).fit(ROWS)
    before = _output(part, ROWS)
    assert before.shape[0] == len(ROWS) and np.isfinite(before).all()
    save_part(part, tmp_path / "part.safetensors")
    loaded = load_part(tmp_path / "part.safetensors")
    assert type(loaded) is cls
    np.testing.assert_allclose(_output(loaded, ROWS), before, rtol=1e-6, atol=1e-6)
    assert clone(part).get_params() == part.get_params()


@pytest.mark.parametrize("stage", list(SETTINGS))
def test_a_bad_parameter_is_refused_with_its_name_before_any_work(stage):
    params, (name, value) = SETTINGS[stage]
    with pytest.raises(ValueError, match=name) as caught:
        part_class(stage)(**{**params, name: value}).fit(ROWS)
    assert isinstance(caught.value, ConfigError)


def test_a_registered_density_serves_cance_and_its_model_folder(tmp_path):
    from cance_cli.estimator import CANCE

    est = CANCE(views="input", density="gaussian-example").fit(ROWS)
    assert type(est.input_density_).__name__ == "GaussianDensity"
    scores = est.score_samples(ROWS[:20])
    est.save(tmp_path / "model")
    np.testing.assert_allclose(CANCE.load(tmp_path / "model").score_samples(ROWS[:20]), scores, rtol=1e-6)
    with pytest.raises(ConfigError, match="density must be one of nce"):
        CANCE(density="nope").fit(ROWS)


def test_a_part_of_the_wrong_kind_is_refused_where_a_density_belongs(tmp_path):
    import shutil

    from cance_cli.errors import ArtifactError
    from cance_cli.estimator import CANCE
    from cance_cli.model import manifest_digest

    est = CANCE(views="input+knn", nce_epochs=1).fit(ROWS)
    est.save(tmp_path / "model")
    # a crafted folder whose input density is the neighbour view's checkpoint (hashes and digest made valid)
    import hashlib
    import json

    shutil.copy(tmp_path / "model" / "knn.safetensors", tmp_path / "model" / "input-nce.safetensors")
    doc = json.loads((tmp_path / "model" / "manifest.json").read_text())
    doc["files"]["input-nce.safetensors"]["sha256"] = hashlib.sha256(
        (tmp_path / "model" / "input-nce.safetensors").read_bytes()).hexdigest()
    doc["manifest_digest"] = manifest_digest(doc)
    (tmp_path / "model" / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="holds a view where a density belongs"):
        CANCE.load(tmp_path / "model")
