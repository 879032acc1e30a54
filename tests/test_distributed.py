"""Data-parallel training under torchrun (gloo, 2 CPU processes) agrees with one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cance_cli.runtime import distributed
from tests.conftest import cli


def _torchrun(*args, cwd) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc_per_node 2 --no-python cance ARGS` on this interpreter."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "--no-python",
           sys.executable, "-m", "cance_cli", *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _summary(stdout: str) -> dict:
    """The one JSON document on stdout (a second rank printing would make two)."""
    assert stdout.count('"world_size"') == 1, stdout
    return json.loads(stdout[stdout.index("{"):])


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1200, 8)) @ rng.normal(size=(8, 8))
    path = folder / "rows.csv"
    np.savetxt(path, x, delimiter=",", header=",".join(f"f{j}" for j in range(8)), comments="", fmt="%.6g")
    return path


def test_shards_cover_every_row_once_per_epoch():
    index = np.arange(100, 203)
    for epoch in (0, 1):
        parts = [distributed.shard(index, 7, epoch, distributed.Group(r, 2)) for r in range(2)]
        assert len(parts[0]) == len(parts[1]) == 52  # padded to equal shares: every rank runs the same steps
        assert set(np.concatenate(parts)) == set(index)
    again = distributed.shard(index, 7, 0, distributed.Group(0, 2))
    assert np.array_equal(again, distributed.shard(index, 7, 0, distributed.Group(0, 2)))
    assert not np.array_equal(again, distributed.shard(index, 7, 1, distributed.Group(0, 2)))
    assert distributed.local_batch_size(128, distributed.Group(0, 2)) == 64
    assert distributed.local_batch_size(5, distributed.Group(0, 2)) == 3


def test_single_process_without_a_launcher(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with distributed.launched_group("cpu") as group:
        assert group == distributed.SINGLE and group.is_main and not group.active


def test_torchrun_train_ae_agrees_with_one_process(table, tmp_path):
    from cance_cli.io.checkpoints import load_checkpoint
    from cance_cli.training.autoencoder import ConstrainedAutoencoder

    ae_args = ["train-ae", table, "--latent", 3, "--epochs", 4, "--decoder-epochs", 2, "--batch-size", 128,
               "--seed", 3, "--device", "cpu", "--json", "-q"]
    single = cli(*ae_args, "--out", tmp_path / "ae1.safetensors")
    assert single.exit_code == 0, single.output
    one = json.loads(single.stdout)
    run = _torchrun(*ae_args, "--out", "ae2.safetensors", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    two = _summary(run.stdout)
    assert two["world_size"] == 2 and one["world_size"] == 1
    for stage in ("stage1", "stage2"):  # global-batch norms and penalty, other shuffles: close, not equal
        assert two[stage]["val_loss"] == pytest.approx(one[stage]["val_loss"], rel=0.05)
    t1, m1 = load_checkpoint(tmp_path / "ae1.safetensors", "autoencoder", {})
    t2, m2 = load_checkpoint(tmp_path / "ae2.safetensors", "autoencoder", {})
    assert {k: v.shape for k, v in t1.items()} == {k: v.shape for k, v in t2.items()}
    assert set(m1) == set(m2) and m2["world_size"] == 2
    ConstrainedAutoencoder.load(tmp_path / "ae2.safetensors")  # loads like any checkpoint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ae1.safetensors", "ae2.safetensors"]  # rank 0 alone wrote


@pytest.mark.slow  # a second torchrun group: about 20 s (the autoencoder's torchrun test above stays in CI)
def test_torchrun_fit_nce_agrees_with_one_process(table, tmp_path):
    from cance_cli.training.nce import NCEDensity

    assert cli("train-ae", table, "--latent", 3, "--epochs", 2, "--decoder-epochs", 1, "--seed", 3, "--device", "cpu",
               "--out", tmp_path / "ae1.safetensors", "-q").exit_code == 0
    features = tmp_path / "feats.parquet"
    assert cli("features", table, "--ae", tmp_path / "ae1.safetensors", "--out", features, "--no-label",
               "-q").exit_code == 0
    nce_args = ["fit-nce", features, "--epochs", 6, "--seed", 3, "--device", "cpu", "--json", "-q"]
    single = cli(*nce_args, "--out", tmp_path / "n1.safetensors")
    assert single.exit_code == 0, single.output
    one = json.loads(single.stdout)
    # With the neighbour view, which rank 0 alone fits (it alone writes the checkpoint).
    run = _torchrun(*nce_args, "--knn", 5, "--out", "n2.safetensors", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    two = _summary(run.stdout)
    assert two["method"] == "CANCE+kNN" and two["neighbours"]["training_rows"] == one["n_train"] + one["n_val"]
    # The noise statistics merge exactly: the fitted Gaussians are the same.
    assert two["validation_nll"]["gaussian"] == pytest.approx(one["validation_nll"]["gaussian"], rel=1e-9)
    assert two["val_loss"] == pytest.approx(one["val_loss"], rel=0.05)
    d1, d2 = NCEDensity.load(tmp_path / "n1.safetensors"), NCEDensity.load(tmp_path / "n2.safetensors")
    assert d1.neighbours_ is None and d2.neighbours_.k == 5
    np.testing.assert_allclose(d1.whitener_.mean.numpy(), d2.whitener_.mean.numpy(), rtol=1e-9)
    # Only rank 0 wrote: the checkpoints and nothing else (no second writer's temporary files).
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["ae1.safetensors", "feats.parquet", "n1.safetensors", "n2.safetensors"])


def test_ray_input_is_parquet_files_named_as_such(tmp_path):
    """No Ray needed: the engine's reader takes a Parquet file, a folder of them or a glob; a CSV gets one sentence
    naming the way out."""
    from cance_cli.engines.ray_data import input_files
    from cance_cli.errors import DataError

    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="`engine` local"):
        input_files(tmp_path / "rows.csv")
    (tmp_path / "p").mkdir()
    for name in ("b.parquet", "a.parquet", "notes.txt"):
        (tmp_path / "p" / name).write_bytes(b"")
    assert [os.path.basename(f) for f in input_files(tmp_path / "p")] == ["a.parquet", "b.parquet"]


def test_ray_scores_a_folder_like_the_local_engine(tmp_path):
    pytest.importorskip("ray.data", reason="the ray extra is not installed (pip install 'cance[ray]')")
    import pyarrow.parquet as pq

    from cance_cli.engines.ray_data import MANIFEST, read_scores
    from tests.test_pipeline_cli import write_features

    whole = tmp_path / "feats.parquet"
    write_features(whole, n=900)
    nce = tmp_path / "nce.safetensors"
    assert cli("fit-nce", whole, "--epochs", 3, "--out", nce, "-q").exit_code == 0
    parts = tmp_path / "parts"
    parts.mkdir()
    table = pq.read_table(whole)
    for i, (a, b) in enumerate([(0, 300), (300, 650), (650, 900)]):  # three files, unequal sizes
        pq.write_table(table.slice(a, b - a).replace_schema_metadata(table.schema.metadata),
                       parts / f"part-{i}.parquet")
    local = []
    for i in range(3):
        assert cli("score", parts / f"part-{i}.parquet", "--nce", nce, "--out", tmp_path / f"local-{i}.parquet",
                   "-q").exit_code == 0
        local.append(pq.read_table(tmp_path / f"local-{i}.parquet"))
    result = cli("score", parts, "--nce", nce, "--engine", "ray", "--workers", 2, "--out", tmp_path / "ray",
                 "-q", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 900
    ray_scores = read_scores(tmp_path / "ray")
    local_ids = np.concatenate([t.column("id").to_numpy() for t in local])
    np.testing.assert_array_equal(ray_scores.column("id").to_numpy(), local_ids)  # input order kept
    # Equal to float tolerance: the float32 network sees other batch compositions.
    np.testing.assert_allclose(ray_scores.column("score").to_numpy(),
                               np.concatenate([t.column("score").to_numpy() for t in local]), rtol=1e-6)
    assert (tmp_path / "ray" / MANIFEST).exists()
    # A folder that is not an earlier score folder is refused before any work, in one sentence.
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    refused = cli("score", parts, "--nce", nce, "--engine", "ray", "--out", busy, "-q")
    assert refused.exit_code == 2 and "other files" in refused.output
    assert (busy / "notes.txt").read_text() == "mine"


def test_ray_predict_matches_local_predict(tmp_path):
    pytest.importorskip("ray.data", reason="the ray extra is not installed (pip install 'cance[ray]')")
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cance_cli.engines.ray_data import read_scores

    rng = np.random.default_rng(5)
    x = rng.normal(size=(600, 4))
    x[-30:] += 5
    table = pa.table({"id": np.arange(600), **{f"c{j}": x[:, j] for j in range(4)},
                      "label": np.r_[np.zeros(570, int), np.ones(30, int)]})
    pq.write_table(table.slice(0, 400), tmp_path / "fit.parquet")
    folder = tmp_path / "new"
    folder.mkdir()
    pq.write_table(table.slice(400, 100), folder / "a.parquet")
    pq.write_table(table.slice(500, 100), folder / "b.parquet")
    assert cli("fit", tmp_path / "fit.parquet", "--normal", 0, "--nce-epochs", 5, "--out", tmp_path / "model",
               "-q").exit_code == 0
    local = []
    for name in ("a", "b"):
        assert cli("predict", folder / f"{name}.parquet", "--model", tmp_path / "model", "--out",
                   tmp_path / f"{name}-scores.parquet", "-q").exit_code == 0
        local.append(pq.read_table(tmp_path / f"{name}-scores.parquet"))
    result = cli("predict", folder, "--model", tmp_path / "model", "--engine", "ray", "--workers", 2, "--out",
                 tmp_path / "ray", "-q", "--json")
    assert result.exit_code == 0, result.output
    ray_rows = read_scores(tmp_path / "ray")
    expected = pa.concat_tables(local)
    for col in ("id", "is_anomaly", "is_flagged"):
        np.testing.assert_array_equal(ray_rows.column(col).to_numpy(), expected.column(col).to_numpy())
    np.testing.assert_allclose(ray_rows.column("score").to_numpy(), expected.column("score").to_numpy(), rtol=1e-6)
    assert json.loads(result.stdout)["flagged"] == int(expected.column("is_flagged").to_numpy().sum())


def test_ray_features_match_local_features_and_refuse_nan(tmp_path):
    pytest.importorskip("ray.data", reason="the ray extra is not installed (pip install 'cance[ray]')")
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cance_cli.engines.ray_data import read_scores

    rng = np.random.default_rng(2)
    x = rng.normal(size=(500, 6))
    table = pa.table({"id": np.arange(500), **{f"c{j}": x[:, j] for j in range(6)},
                      "label": np.r_[np.zeros(450, int), np.ones(50, int)]})
    pq.write_table(table, tmp_path / "all.parquet")
    ae = tmp_path / "ae.safetensors"
    assert cli("train-ae", tmp_path / "all.parquet", "--normal", 0, "--latent", 2, "--epochs", 2, "--decoder-epochs",
               1, "--out", ae, "-q").exit_code == 0
    local = tmp_path / "local.parquet"
    assert cli("features", tmp_path / "all.parquet", "--ae", ae, "--normal", 0, "--out", local, "-q").exit_code == 0
    result = cli("features", tmp_path / "all.parquet", "--ae", ae, "--normal", 0, "--engine", "ray", "--workers", 2,
                 "--out", tmp_path / "ray", "-q")
    assert result.exit_code == 0, result.output
    got, want = read_scores(tmp_path / "ray"), pq.read_table(local)
    for col in ("id", "is_anomaly"):
        np.testing.assert_array_equal(got.column(col).to_numpy(), want.column(col).to_numpy())
    for col in ("z_0", "z_1", "recon_error", "cos_dissim"):
        np.testing.assert_allclose(got.column(col).to_numpy(), want.column(col).to_numpy(), rtol=1e-5, atol=1e-6)
    part = sorted((tmp_path / "ray").glob("*.parquet"))[0]
    from cance_cli.io.tables import table_meta

    assert table_meta(pq.read_schema(part))["checkpoint_sha256"]  # each part carries its provenance
    x[7, 3] = np.nan
    pq.write_table(pa.table({"id": np.arange(500), **{f"c{j}": x[:, j] for j in range(6)}}), tmp_path / "nan.parquet")
    bad = cli("features", tmp_path / "nan.parquet", "--ae", ae, "--engine", "ray", "--out", tmp_path / "bad", "-q")
    assert bad.exit_code == 2 and "NaN" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow  # two torchrun groups: about 25 s (the autoencoder/NCE torchrun test stays in CI)
def test_torchrun_train_nae_writes_one_checkpoint_and_mpdr_refuses(table, tmp_path):
    from cance_cli.training.autoencoder import ConstrainedAutoencoder

    run = _torchrun("train-nae", table, "--steps", 6, "--latent", 3, "--batch-size", 32, "--device", "cpu",
                    "--out", "nae.safetensors", "--json", "-q", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert _summary(run.stdout)["world_size"] == 2
    ae = ConstrainedAutoencoder.load(tmp_path / "nae.safetensors")  # an autoencoder checkpoint of stage nae
    assert ae.meta_["stage"] == "nae" and ae.meta_["nae"]["world_size"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nae.safetensors"]
    refused = _torchrun("train-mpdr", table, "--steps", 2, "--latent", 3, "--device", "cpu", "--out", "m.safetensors",
                        "-q", cwd=tmp_path)
    assert refused.returncode != 0 and "runs as one process" in refused.stderr
    assert not (tmp_path / "m.safetensors").exists()


def _batch_norm_rank(rank: int, world: int, init_file: str, out_dir: str) -> None:
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        x = torch.randn(8 * world, 3, generator=torch.Generator().manual_seed(0))[rank * 8:(rank + 1) * 8]
        bn = torch.nn.BatchNorm1d(3)
        x.requires_grad_(True)
        with distributed.global_batch_norm(bn):
            y = bn(x)
        (y * torch.arange(3.0)).sum().backward()
        torch.save({"y": y.detach(), "grad": x.grad, "running_var": bn.running_var},
                   f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_cpu_batch_norm_uses_the_global_batch(tmp_path):
    """Two ranks' batch norm equals one batch norm over both ranks' rows (values and gradients)."""
    import torch
    import torch.multiprocessing as mp

    mp.spawn(_batch_norm_rank, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    parts = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    x = torch.randn(16, 3, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    bn = torch.nn.BatchNorm1d(3)
    y = bn(x)
    (y * torch.arange(3.0)).sum().backward()
    torch.testing.assert_close(torch.cat([p["y"] for p in parts]), y.detach(), rtol=1e-5, atol=1e-5)
    # Each rank's loss term is its own rows': the sum over ranks is the one-process loss.
    torch.testing.assert_close(torch.cat([p["grad"] for p in parts]), x.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(parts[0]["running_var"], bn.running_var, rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # Spark starts a JVM: about 40 s here
def test_spark_map_in_arrow_recipe_scores_like_the_local_engine(tmp_path):
    """The recipe of docs/distributed.md: Spark's mapInArrow with the local engine's BatchScorer."""
    pytest.importorskip("pyspark", reason="pyspark is not installed")
    import shutil

    if shutil.which("java") is None:
        pytest.skip("Spark needs a Java runtime, and there is none on PATH")
    import pyarrow.parquet as pq
    from pyspark.sql import SparkSession
    from pyspark.sql.types import DoubleType, LongType, StructField, StructType

    from tests.test_pipeline_cli import write_features

    feats = write_features(tmp_path / "feats.parquet", n=600)
    nce = tmp_path / "nce.safetensors"
    assert cli("fit-nce", feats, "--epochs", 2, "--out", nce, "-q").exit_code == 0
    assert cli("score", feats, "--nce", nce, "--out", tmp_path / "local.parquet", "-q").exit_code == 0
    spark = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
    try:
        schema = StructType([StructField("id", LongType()), StructField("score", DoubleType())])
        checkpoint = str(nce)

        def score_partition(batches):
            from cance_cli.pipeline import BatchScorer

            scorer = BatchScorer(checkpoint)
            for batch in batches:
                yield from scorer(batch).select(["id", "score"]).to_batches()

        got = spark.read.parquet(str(feats)).mapInArrow(score_partition, schema).toPandas().sort_values("id")
    finally:
        spark.stop()
    want = pq.read_table(tmp_path / "local.parquet").to_pandas().sort_values("id")
    np.testing.assert_array_equal(got["id"].to_numpy(), want["id"].to_numpy())
    np.testing.assert_allclose(got["score"].to_numpy(), want["score"].to_numpy(), rtol=1e-6)
