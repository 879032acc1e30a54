"""`cance join`: two feature maps' composite features in one table, one density over both."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
from sklearn.metrics import roc_auc_score

from cance_cli.io.tables import AtomicParquetWriter
from tests.conftest import cli, one_error_line

NCE = ["--epochs", "5", "--batch-size", "64", "-q"]


def write_part(path, latent: int, seed: int, feature_map: str, checkpoint: str, n: int = 300, anomalies: int = 30,
               ids=None, chunk: int = 1000):
    """A feature table of one feature map: the first ``anomalies`` rows are shifted."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, latent)).astype(np.float32)
    z[:anomalies] += 3
    e = np.exp(rng.normal(-6, 0.4, n)).astype(np.float32)
    e[:anomalies] *= 3
    cols = {"id": np.arange(n) if ids is None else ids, "label": (np.arange(n) < anomalies).astype(np.int64),
            "is_anomaly": (np.arange(n) < anomalies).astype(np.int8)}
    cols.update({f"z_{i}": z[:, i] for i in range(latent)})
    cols["recon_error"], cols["cos_dissim"] = e, (2 * e * np.exp(rng.normal(0, 0.1, n))).astype(np.float32)
    import pyarrow as pa

    schema = pa.table(cols).schema
    meta = {"stage": "features", "latent": latent, "feature_map": feature_map, "checkpoint_sha256": checkpoint}
    with AtomicParquetWriter(path, schema, meta) as w:
        for start in range(0, n, chunk):  # several record batches
            w.write({k: v[start:start + chunk] for k, v in cols.items()})
    return path


def test_join_puts_both_parts_side_by_side_and_one_density_fits_and_scores_them(tmp_path):
    ae = write_part(tmp_path / "ae.parquet", 3, 0, "autoencoder", "a" * 64)
    pca = write_part(tmp_path / "pca.parquet", 2, 1, "pca", "b" * 64)
    result = cli("join", ae, pca, "--out", tmp_path / "both.parquet", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["rows"] == 300 and doc["columns"] == 9 and [p["name"] for p in doc["parts"]] == ["ae", "pca"]
    both = pq.read_table(tmp_path / "both.parquet")
    assert both.column_names == ["id", "label", "is_anomaly", "ae.z_0", "ae.z_1", "ae.z_2", "ae.recon_error",
                                 "ae.cos_dissim", "pca.z_0", "pca.z_1", "pca.recon_error", "pca.cos_dissim"]
    parts = pq.read_table(ae), pq.read_table(pca)
    np.testing.assert_array_equal(both.column("ae.z_2").to_numpy(), parts[0].column("z_2").to_numpy())
    np.testing.assert_array_equal(both.column("pca.recon_error").to_numpy(), parts[1].column("recon_error").to_numpy())
    meta = json.loads(both.schema.metadata[b"cance"])
    assert meta["feature_map"] == "joined" and [p["feature_map"] for p in meta["parts"]] == ["autoencoder", "pca"]

    nce = tmp_path / "nce.safetensors"
    fitted = cli("fit-nce", tmp_path / "both.parquet", "--out", nce, "--json", *NCE)
    assert fitted.exit_code == 0, fitted.output
    doc = json.loads(fitted.stdout)
    assert doc["method"] == "CANCE"  # the reconstruction columns of both parts are augmented
    scores = tmp_path / "scores.parquet"
    assert cli("score", tmp_path / "both.parquet", "--nce", nce, "--out", scores, "-q").exit_code == 0
    s = pq.read_table(scores)
    assert roc_auc_score(s.column("is_anomaly").to_numpy(), s.column("score").to_numpy()) > 0.9

    # A table joined from another feature map is refused by the density fitted on this one.
    other = write_part(tmp_path / "pca2.parquet", 2, 1, "pca", "c" * 64)
    assert cli("join", ae, other, "--out", tmp_path / "other.parquet", "--json").exit_code == 0
    line = one_error_line(cli("score", tmp_path / "other.parquet", "--nce", nce, "--out", tmp_path / "o.parquet"))
    assert "another feature map" in line and not (tmp_path / "o.parquet").exists()


def test_join_refuses_mismatched_rows_names_and_joined_parts(tmp_path):
    ae = write_part(tmp_path / "ae.parquet", 3, 0, "autoencoder", "a" * 64)
    shuffled = write_part(tmp_path / "shuffled.parquet", 2, 1, "pca", "b" * 64,
                          ids=np.r_[np.arange(150), np.arange(150, 300)[::-1]])
    out = tmp_path / "both.parquet"
    line = one_error_line(cli("join", ae, shuffled, "--out", out))
    assert "different rows (row 150" in line and not out.exists()
    short = write_part(tmp_path / "short.parquet", 2, 1, "pca", "b" * 64, n=200)
    assert "rows" in one_error_line(cli("join", ae, short, "--out", out))
    pca = write_part(tmp_path / "pca.parquet", 2, 1, "pca", "b" * 64)
    assert "--names" in one_error_line(cli("join", ae, pca, "--names", "x,x", "--out", out))
    assert "--names" in one_error_line(cli("join", ae, pca, "--names", "x", "--out", out))
    assert "at least two" in one_error_line(cli("join", ae, "--out", out))
    assert cli("join", ae, pca, "--out", out).exit_code == 0
    assert "joined ones" in one_error_line(cli("join", out, pca, "--out", tmp_path / "again.parquet"))
    before = ae.read_bytes()
    one_error_line(cli("join", ae, pca, "--out", ae))  # never overwrites an input
    assert ae.read_bytes() == before
    # Two parts from the same kind of feature map get v1, v2.
    same = write_part(tmp_path / "ae2.parquet", 3, 2, "autoencoder", "d" * 64)
    assert cli("join", ae, same, "--out", tmp_path / "v.parquet").exit_code == 0
    assert "v2.z_0" in pq.read_schema(tmp_path / "v.parquet").names
    # The same table twice, or a copy of it (one feature map's columns twice), adds nothing but collinearity.
    assert "same feature map" in one_error_line(cli("join", ae, ae, "--out", tmp_path / "twice.parquet"))
    copy = tmp_path / "copy.parquet"
    copy.write_bytes(ae.read_bytes())
    assert "same feature map" in one_error_line(cli("join", ae, copy, "--out", tmp_path / "twice.parquet"))
    assert not (tmp_path / "twice.parquet").exists()


def test_join_streams_parts_written_in_different_batches(tmp_path, monkeypatch):
    import cance_cli.feature_join as fj

    monkeypatch.setattr(fj, "JOIN_BATCH", 7)
    ae = write_part(tmp_path / "ae.parquet", 3, 0, "autoencoder", "a" * 64, chunk=13)
    pca = write_part(tmp_path / "pca.parquet", 2, 1, "pca", "b" * 64, chunk=50)
    doc = fj.join_feature_tables([ae, pca], tmp_path / "both.parquet")
    both = pq.read_table(tmp_path / "both.parquet")
    assert doc["rows"] == 300 and both.column("id").to_pylist() == list(range(300))
    np.testing.assert_array_equal(both.column("pca.z_1").to_numpy(), pq.read_table(pca).column("z_1").to_numpy())
