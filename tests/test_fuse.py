"""`cance fuse`: one density per feature map, their scores calibrated and averaged."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.metrics import roc_auc_score

from cance_cli.io.tables import AtomicParquetWriter
from tests.conftest import cli, one_error_line
from tests.test_join import NCE, write_part


def write_scores(path, scores, checkpoint: str | None, is_anomaly=None, ids=None, kind: str = "nce",
                 feature_map: str | None = None):
    """A table as `cance score` writes it."""
    n = len(scores)
    cols = {"id": np.arange(n) if ids is None else np.asarray(ids),
            "is_anomaly": np.zeros(n, np.int8) if is_anomaly is None else np.asarray(is_anomaly, np.int8),
            "score": np.asarray(scores, np.float64)}
    meta = {"stage": "scores", "method": "CANCE", "score_kind": kind, "floor": True, "checkpoint_sha256": checkpoint,
            "feature_source": {"checkpoint_sha256": feature_map}}
    with AtomicParquetWriter(path, pa.table(cols).schema, meta) as w:
        w.write(cols)
    return path


def test_fuse_averages_views_standardised_on_their_references_normal_rows(tmp_path):
    rng = np.random.default_rng(0)
    flags = (np.arange(200) < 20).astype(np.int8)
    ref_flags = (np.arange(400) < 100).astype(np.int8)  # the training table also holds other classes
    a_ref, b_ref = rng.normal(5, 2, 400), rng.gamma(2, 10, 400)
    a, b = rng.normal(5, 2, 200), rng.gamma(2, 10, 200)
    paths = [write_scores(tmp_path / "a.parquet", a, "a" * 64, flags),
             write_scores(tmp_path / "b.parquet", b, "b" * 64, flags)]
    refs = [write_scores(tmp_path / "a-ref.parquet", a_ref, "a" * 64, ref_flags),
            write_scores(tmp_path / "b-ref.parquet", b_ref, "b" * 64, ref_flags)]
    out = tmp_path / "fused.parquet"
    result = cli("fuse", *paths, "-r", refs[0], "-r", refs[1], "--out", out, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["rows"] == 200 and [v["calibration_rows"] for v in doc["views"]] == [300, 300]

    def standardised(s, ref):
        q25, med, q75 = np.percentile(ref[ref_flags == 0], [25, 50, 75])
        return (s - med) / (q75 - q25)

    fused = pq.read_table(out)
    assert fused.column_names == ["id", "is_anomaly", "score", "score_1", "score_2"]
    np.testing.assert_allclose(fused.column("score_1").to_numpy(), standardised(a, a_ref))
    np.testing.assert_allclose(fused.column("score").to_numpy(),
                               (standardised(a, a_ref) + standardised(b, b_ref)) / 2)
    np.testing.assert_array_equal(fused.column("is_anomaly").to_numpy(), flags)
    meta = json.loads(fused.schema.metadata[b"cance"])
    assert meta["stage"] == "scores" and meta["score_kind"] == "fused" and len(meta["views"]) == 2
    assert cli("evaluate", out, "--auroc").exit_code == 0  # a fused table is a score table


def test_fused_densities_of_two_feature_maps_see_anomalies_each_map_misses(tmp_path):
    """End to end: each map shows half of the anomalies; the fused score ranks all of them high."""
    scored = {}
    for name, seed, checkpoint in (("ae", 0, "a" * 64), ("pca", 1, "b" * 64)):
        train = write_part(tmp_path / f"{name}-train.parquet", 3, seed, "autoencoder", checkpoint, n=400, anomalies=0)
        test = write_part(tmp_path / f"{name}-test.parquet", 3, seed + 10, "autoencoder", checkpoint, n=200,
                          anomalies=0)
        shifted = pq.read_table(test)  # anomalies: rows 0-39; this map shows half of them
        z0 = shifted.column("z_0").to_numpy().copy()
        z0[(0 if name == "ae" else 20):(20 if name == "ae" else 40)] += 6
        flags = (np.arange(200) < 40).astype(np.int8)
        shifted = shifted.set_column(shifted.schema.get_field_index("z_0"), "z_0", pa.array(z0))
        shifted = shifted.set_column(shifted.schema.get_field_index("is_anomaly"), "is_anomaly", pa.array(flags))
        pq.write_table(shifted, test)
        nce = tmp_path / f"{name}.safetensors"
        assert cli("fit-nce", train, "--out", nce, "--seed", "0", *NCE).exit_code == 0
        for split, table in (("train", train), ("test", test)):
            scored[name, split] = tmp_path / f"{name}-{split}-scores.parquet"
            result = cli("score", table, "--nce", nce, "--out", scored[name, split], "-q")
            assert result.exit_code == 0, result.output
    out = tmp_path / "fused.parquet"
    result = cli("fuse", scored["ae", "test"], scored["pca", "test"], "-r", scored["ae", "train"],
                 "-r", scored["pca", "train"], "--out", out)
    assert result.exit_code == 0, result.output
    flags = (np.arange(200) < 40).astype(int)
    single = [roc_auc_score(flags, pq.read_table(scored[n, "test"]).column("score").to_numpy()) for n in ("ae", "pca")]
    fused = roc_auc_score(flags, pq.read_table(out).column("score").to_numpy())
    assert max(single) < 0.85 < fused, (single, fused)


def test_fuse_refuses_what_would_score_the_wrong_rows_and_leaves_the_output_alone(tmp_path):
    s = np.linspace(0, 1, 50)
    a = write_scores(tmp_path / "a.parquet", s, "a" * 64)
    b = write_scores(tmp_path / "b.parquet", s[::-1], "b" * 64)
    a_ref = write_scores(tmp_path / "a-ref.parquet", s, "a" * 64)
    b_ref = write_scores(tmp_path / "b-ref.parquet", s, "b" * 64)
    out = tmp_path / "fused.parquet"
    out.write_bytes(b"older result")

    def error(*args):
        line = one_error_line(cli("fuse", *args, "--out", out))
        assert out.read_bytes() == b"older result"
        return line

    assert "scored with another density" in error(a, b, "-r", b_ref, "-r", a_ref)
    other_kind = write_scores(tmp_path / "b-gauss.parquet", s, "b" * 64, kind="gauss")
    assert "another --method" in error(a, other_kind, "-r", a_ref, "-r", b_ref)
    # --method error: no density, so the feature map's fingerprint ties a table to its reference.
    e_a = write_scores(tmp_path / "e-a.parquet", s, None, kind="error", feature_map="a" * 64)
    e_b = write_scores(tmp_path / "e-b.parquet", s, None, kind="error", feature_map="b" * 64)
    assert "another feature map" in error(a, e_a, "-r", a_ref, "-r", e_b)
    swapped = np.r_[np.arange(25), np.arange(49, 24, -1)]
    shuffled = write_scores(tmp_path / "b-shuffled.parquet", s, "b" * 64, ids=swapped)
    assert "different rows (id 25 vs 49 at row 25)" in error(a, shuffled, "-r", a_ref, "-r", b_ref)
    short = write_scores(tmp_path / "b-short.parquet", s[:40], "b" * 64)
    assert "50 rows" in error(a, short, "-r", a_ref, "-r", b_ref)
    assert "one --reference per score table" in error(a, b, "-r", a_ref)
    assert "at least two" in error(a, "-r", a_ref)
    all_anomalous = write_scores(tmp_path / "b-anom.parquet", s, "b" * 64, is_anomaly=np.ones(50))
    assert "no normal rows" in error(a, b, "-r", a_ref, "-r", all_anomalous)
    broken = write_scores(tmp_path / "b-nan.parquet", np.r_[s[:-1], np.nan], "b" * 64)
    assert "non-finite" in error(a, broken, "-r", a_ref, "-r", b_ref)
    text = pq.read_table(b)
    text = text.set_column(text.schema.get_field_index("score"), "score", pa.array(s.astype(str)))
    pq.write_table(text.replace_schema_metadata(pq.read_schema(b).metadata), tmp_path / "b-text.parquet")
    assert "not numbers" in error(a, tmp_path / "b-text.parquet", "-r", a_ref, "-r", b_ref)
    features = write_part(tmp_path / "features.parquet", 2, 0, "pca", "c" * 64, n=50)
    assert "not a score table" in error(a, features, "-r", a_ref, "-r", b_ref)
    assert cli("fuse", a, b, "-r", a_ref, "-r", b_ref, "--out", tmp_path / "f.parquet").exit_code == 0
    assert "already fused" in error(tmp_path / "f.parquet", b, "-r", a_ref, "-r", b_ref)
    assert "destroy" in one_error_line(cli("fuse", a, b, "-r", a_ref, "-r", b_ref, "--out", a))


def test_two_tables_of_one_density_are_refused_not_counted_twice(tmp_path):
    """A copied or re-scored table of the same density would double that density's weight."""
    rng = np.random.default_rng(1)
    a = write_scores(tmp_path / "a.parquet", rng.normal(size=30), "a" * 64)
    copy = write_scores(tmp_path / "a-again.parquet", rng.normal(size=30), "a" * 64)
    ref = write_scores(tmp_path / "ref.parquet", rng.normal(size=60), "a" * 64)
    result = cli("fuse", a, copy, "-r", ref, "-r", ref, "--out", tmp_path / "x.parquet")
    assert result.exit_code == 2
    assert "scored by the same density" in one_error_line(result)
    assert not (tmp_path / "x.parquet").exists()
    # The same density under another --method is another view.
    error = write_scores(tmp_path / "e.parquet", rng.normal(size=30), "a" * 64, kind="error")
    error_ref = write_scores(tmp_path / "e-ref.parquet", rng.normal(size=60), "a" * 64, kind="error")
    assert cli("fuse", a, error, "-r", ref, "-r", error_ref, "--out", tmp_path / "x.parquet").exit_code == 0
