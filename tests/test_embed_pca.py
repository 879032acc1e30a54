"""The pretrained-network path: backbones, `cance embed`, PCA composite features."""

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from cance_cli.backbones import import_torchvision, load_backbone
from cance_cli.data import load_data
from cance_cli.errors import ArtifactError, DataError
from cance_cli.models.resnet import ResNet18
from cance_cli.pca import PCAFeatureMap
from cance_cli.registry import load_part, save_part
from tests.conftest import cli

FIXTURE = Path(__file__).parent / "fixtures" / "torchvision_resnet18_state_dict.json"



def test_in_project_resnet18_keys_and_shapes_match_torchvision():
    expected = [(k, tuple(s)) for k, s in json.loads(FIXTURE.read_text())["keys"]]
    ours = [(k, tuple(v.shape)) for k, v in ResNet18().state_dict().items()]
    assert ours == expected


def test_in_project_resnet18_equals_torchvision_where_it_imports():
    tv = import_torchvision()
    if tv is None:
        pytest.skip("torchvision does not import with this torch build (optional extra)")
    torch.manual_seed(0)
    ref = tv.models.resnet18(weights=None).eval()
    ours = ResNet18().eval()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert (ours(x) - ref(x)).abs().max() < 1e-5


def test_resnet18_embeddings_shape_and_weight_files(tmp_path):
    model = load_backbone("resnet18", random_init=True, seed=3)
    assert model.meta["weights"] == "random-init" and model.meta["seed"] == 3
    state = ResNet18().state_dict()
    state.update({k: v for k, v in model.module.state_dict().items()})  # fc is Identity after loading
    torch.save(state, tmp_path / "w.pth")
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "w.safetensors"))
    x = torch.rand(2, 1, 28, 28).numpy()
    from cance_cli.backbones import embed_batch

    ref = embed_batch(model, x, "cpu")
    assert ref.shape == (2, 512)
    for name in ("w.pth", "w.safetensors"):
        again = load_backbone("resnet18", weights=str(tmp_path / name))
        np.testing.assert_allclose(embed_batch(again, x, "cpu"), ref, rtol=1e-5, atol=1e-6)


def test_missing_and_wrong_weights_give_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(ArtifactError, match="No ResNet-18 weights.*`weights` FILE"):
        load_backbone("resnet18")
    from safetensors.torch import save_file

    save_file({"other.weight": torch.zeros(3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ArtifactError, match="does not hold ResNet-18 weights"):
        load_backbone("resnet18", weights=str(tmp_path / "other.safetensors"))
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ArtifactError, match="Cannot read weights"):
        load_backbone("resnet18", weights=str(tmp_path / "junk.pth"))
    result = cli("embed", "builtin:digits", "--weights", tmp_path / "junk.pth", "--out", tmp_path / "e.parquet")
    assert result.exit_code == 2 and "Cannot read weights" in result.output
    assert not (tmp_path / "e.parquet").exists()


def test_embed_cli_pixels_and_torchscript(tmp_path):
    out = tmp_path / "pix.parquet"
    result = cli("embed", "builtin:digits", "--backbone", "pixels", "--normal", "2", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    t = pq.read_table(out)
    ds = load_data("builtin:digits", "train")
    assert t.column_names[:3] == ["id", "label", "is_anomaly"] and t.num_columns == 3 + 64
    np.testing.assert_allclose(t.column("e_5").to_numpy(), ds.batch(slice(None)).reshape(len(ds), -1)[:, 5])
    meta = json.loads(t.schema.metadata[b"cance"])
    assert meta["stage"] == "embeddings" and meta["backbone"] == "pixels"

    tiny = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    torch.jit.trace(tiny, torch.rand(1, 3, 224, 224)).save(str(tmp_path / "tiny.pt"))
    ts_out = tmp_path / "ts.parquet"
    result = cli("embed", "builtin:digits", "--split", "test", "--backbone", f"torchscript:{tmp_path / 'tiny.pt'}",
                 "--out", ts_out, "--batch-size", "256", "--device", "cpu", "-q")
    assert result.exit_code == 0, result.output
    assert pq.read_table(ts_out).num_columns == 2 + 4  # id, label, e_0..e_3


def _embeddings(n=300, width=20, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 5)) @ rng.normal(size=(5, width)) + 0.1 * rng.normal(size=(n, width)) + 1.0)


def test_pca_composite_matches_numpy_and_round_trips(tmp_path):
    E = _embeddings()
    fmap = PCAFeatureMap(4).fit(E)
    feats = fmap.composite_features(E)
    z = (E - E.mean(0)) @ fmap.components_.T
    recon = z @ fmap.components_ + E.mean(0)
    np.testing.assert_allclose(feats[:, :4], z, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(feats[:, 4], ((E - recon) ** 2).mean(1), rtol=1e-4)
    cos = (E * recon).sum(1) / (np.linalg.norm(E, axis=1) * np.linalg.norm(recon, axis=1))
    np.testing.assert_allclose(feats[:, 5], 1 - cos, rtol=1e-3, atol=1e-7)
    save_part(fmap, tmp_path / "pca.safetensors")
    np.testing.assert_array_equal(load_part(tmp_path / "pca.safetensors").composite_features(E), feats)
    white = PCAFeatureMap(4, whiten=True).fit(E).composite_features(E)
    np.testing.assert_allclose(white[:, :4].std(0, ddof=1), 1.0, rtol=1e-3)
    np.testing.assert_allclose(white[:, 4:], feats[:, 4:], rtol=1e-5)
    with pytest.raises(DataError, match="fitted on 20"):
        fmap.composite_features(E[:, :7])


def test_pca_error_columns_can_measure_against_more_components_than_z(tmp_path):
    """pca="auto" on a wide embedding: z keeps at most 64 components, the error columns the whole 90 % subspace."""
    from safetensors.numpy import load_file, save_file

    from cance_cli.estimator import CANCE

    rng = np.random.default_rng(0)
    E = (rng.normal(size=(400, 200)) * np.linspace(1.0, 0.5, 200)).astype(np.float32)  # 90 % needs > 64
    fmap = PCAFeatureMap(4, error_components=30).fit(E)
    feats = fmap.composite_features(E)
    assert feats.shape == (400, 6) and fmap.n_error_components_ == 30
    np.testing.assert_allclose(feats[:, :4], PCAFeatureMap(4).fit(E).composite_features(E)[:, :4], atol=1e-4)
    coords = (E - E.mean(0)) @ fmap.components_.T
    np.testing.assert_allclose(feats[:, 4], ((E - coords @ fmap.components_ - E.mean(0)) ** 2).mean(1), rtol=1e-4)
    save_part(fmap, tmp_path / "pca.safetensors")
    np.testing.assert_array_equal(load_part(tmp_path / "pca.safetensors").composite_features(E), feats)
    with pytest.raises(Exception, match="error_components must be between"):
        PCAFeatureMap(4, error_components=3).fit(E)
    est = CANCE(feature_map="pca", pca="auto", nce_epochs=2, views="composite", threshold_folds=0).fit(E)
    assert est.pca_.n_components == 64 and est.pca_.n_error_components_ > 64
    assert any("error columns against all" in line for line in est.settings_["rule"])
    # A checkpoint written before error_components (z and the error from the same k axes) still loads.
    old = PCAFeatureMap(4).fit(E)
    save_part(old, tmp_path / "old.safetensors")
    tensors = load_file(tmp_path / "old.safetensors")
    with open(tmp_path / "old.safetensors", "rb") as fh:
        header = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))["__metadata__"]
    meta = json.loads(header["cance"])
    meta["params"].pop("error_components")
    save_file(tensors, tmp_path / "old.safetensors", metadata={**header, "cance": json.dumps(meta)})
    np.testing.assert_array_equal(load_part(tmp_path / "old.safetensors").composite_features(E),
                                  old.composite_features(E))


def test_pca_keeps_fewer_components_than_columns(tmp_path):
    """All components would reconstruct every row exactly: zero error columns, nothing for the density."""
    from cance_cli.errors import ConfigError
    from cance_cli.estimator import CANCE

    narrow = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)  # needs all 4 for 90 %
    with pytest.raises(ConfigError, match="between 1 and 3"):
        PCAFeatureMap(4).fit(narrow)
    est = CANCE(feature_map="pca", pca="auto", nce_epochs=2, views="composite").fit(narrow)
    assert est.pca_.n_components == 3
    assert np.isfinite(est.score_samples(narrow)).all()


def test_features_cli_pca_path_and_errors(tmp_path):
    import pyarrow as pa

    E = _embeddings(200, 12).astype(np.float32)
    cols = {"id": np.arange(200), "label": np.arange(200) % 2}
    cols.update({f"e_{i}": E[:, i] for i in range(12)})
    pq.write_table(pa.table(cols), tmp_path / "emb.parquet")
    out = tmp_path / "f.parquet"
    result = cli("features", tmp_path / "emb.parquet", "--pca", 3, "--normal", "0", "--out", out,
                 "--pca-out", tmp_path / "p.safetensors", "-q")
    assert result.exit_code == 0, result.output
    t = pq.read_table(out)
    assert t.column_names == ["id", "label", "is_anomaly", "z_0", "z_1", "z_2", "recon_error", "cos_dissim"]
    assert json.loads(t.schema.metadata[b"cance"])["feature_map"] == "pca"
    # Reuse on another table; fit-nce works on it unchanged.
    assert cli("features", tmp_path / "emb.parquet", "--pca-model", tmp_path / "p.safetensors",
               "--out", tmp_path / "g.parquet", "-q").exit_code == 0
    assert cli("fit-nce", out, "--epochs", "3", "--out", tmp_path / "n.safetensors", "-q").exit_code == 0
    narrow = {k: v for k, v in cols.items() if k not in ("e_10", "e_11")}
    pq.write_table(pa.table(narrow), tmp_path / "narrow.parquet")
    cases = [
        (("features", tmp_path / "narrow.parquet", "--pca-model", tmp_path / "p.safetensors"), "lacks column 'e_10'"),
        (("features", tmp_path / "emb.parquet", "--pca", 3, "--columns", "x_*"), "no column matching 'x_*'"),
        (("features", tmp_path / "emb.parquet", "--pca", 50), "--pca must be between 1 and"),
        (("features", tmp_path / "emb.parquet", "--pca", 3, "--ae", tmp_path / "p.safetensors"), "exactly one"),
        (("features", tmp_path / "emb.parquet", "--pca-model", tmp_path / "n.safetensors"), "stage 'nce'"),
    ]
    for args, fragment in cases:
        result = cli(*args, "--out", tmp_path / "bad.parquet")
        assert result.exit_code == 2 and fragment in result.output, (args, result.output)
        assert not (tmp_path / "bad.parquet").exists()


def test_pca_on_image_dataset_uses_scaled_pixels():
    ds = load_data("builtin:digits", "train")
    from_dataset = PCAFeatureMap(5).fit(ds).composite_features(ds)
    flat = ds.batch(slice(None)).reshape(len(ds), -1)  # pixels in [0, 1]
    np.testing.assert_allclose(from_dataset, PCAFeatureMap(5).fit(flat).composite_features(flat), rtol=1e-5,
                               atol=1e-6)


def test_features_cli_pca_of_the_pixels_of_images_without_a_source_file(tmp_path):
    """`features --pca K` on images (METHOD's PCA path on pixels), here builtin:digits,
    which is no file to hash: fitted on the normal training digits, reused on the test split."""
    pca = tmp_path / "pix.safetensors"
    fitted = cli("features", "builtin:digits", "--pca", 8, "--normal", "3", "--pca-out", pca,
                 "--out", tmp_path / "train.parquet", "-q")
    assert fitted.exit_code == 0, fitted.output
    reused = cli("features", "builtin:digits", "--pca-model", pca, "--normal", "3", "--split", "test",
                 "--out", tmp_path / "test.parquet", "-q")
    assert reused.exit_code == 0, reused.output
    test = pq.read_table(tmp_path / "test.parquet")
    assert test.num_rows == len(load_data("builtin:digits", "test")) and "z_7" in test.column_names
    meta = json.loads(pq.read_table(tmp_path / "train.parquet").schema.metadata[b"cance"])
    assert meta["feature_map"] == "pca" and meta["normal_classes"] == ["3"]


def test_whitening_the_pca_changes_nothing_downstream():
    """fit-nce standardises and whitens its input, so --whiten only rescales the table."""
    from cance_cli.training.nce import NCEDensity

    E = _embeddings(400, 12)
    scores = []
    for whiten in (False, True):
        C = PCAFeatureMap(3, whiten=whiten).fit(E).composite_features(E)
        model = NCEDensity(epochs=5, batch_size=64, device="cpu").fit(C[:300])
        # Scores differ by the constant log-Jacobian of the rescaling; rankings are identical.
        s = model.score_samples(C[300:])
        scores.append(s - s.mean())
    np.testing.assert_allclose(scores[0], scores[1], atol=1e-3)


def test_embedding_tables_are_scored_on_unit_length_rows_and_the_model_remembers_it(tmp_path):
    """`row_norm` auto scales the rows of an embedding table (the PCA feature map) to unit length at fit and at
    every later score; a row's length then no longer matters. Other tables keep their rows; images refuse it."""
    from cance_cli.errors import ConfigError
    from cance_cli.estimator import CANCE

    rng = np.random.default_rng(0)
    x = np.abs(rng.normal(size=(300, 12))).astype(np.float32)
    est = CANCE(feature_map="pca", pca=4, nce_epochs=2, threshold_folds=0, device="cpu").fit(x)
    assert est.row_norm_ == "unit" and any("unit length" in line for line in est.settings_["rule"])
    np.testing.assert_allclose(est.score_samples(3 * x[:20]), est.score_samples(x[:20]), rtol=1e-4, atol=1e-4)
    est.save(tmp_path / "model")
    back = CANCE.load(tmp_path / "model")
    assert back.manifest_["schema"]["row_norm"] == "unit"
    np.testing.assert_allclose(back.score_samples(x[:20]), est.score_samples(x[:20]), rtol=1e-6)
    plain = CANCE(feature_map="pca", pca=4, row_norm="none", nce_epochs=2, threshold_folds=0, device="cpu").fit(x)
    assert plain.row_norm_ == "none" and not np.allclose(plain.score_samples(3 * x[:20]), plain.score_samples(x[:20]))
    assert CANCE(views="input", nce_epochs=2, threshold_folds=0, device="cpu").fit(x).row_norm_ == "none"
    with pytest.raises(ConfigError, match="`row_norm` unit scales table rows"):
        CANCE(row_norm="unit", device="cpu").fit(rng.random((20, 1, 8, 8)).astype(np.float32))
    with pytest.raises(ConfigError, match="row_norm must be one of auto, unit, none"):
        CANCE(row_norm="l2").fit(x)
