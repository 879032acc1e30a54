"""The input contract: a catalogue of bad inputs over every subcommand, each of
which must end with exit code 2 (1 only for the --min-auroc gate), exactly
one "Error: ..." line that names the problem, no traceback, and no file
created or changed; plus the behaviours the contract promises (columns by
name, unlabelled scoring, reserved columns, SIGTERM, temp files, modes).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import cli

AE = ["--latent", "3", "--epochs", "2", "--decoder-epochs", "1", "--batch-size", "32", "-q"]
NCE = ["--epochs", "2", "--batch-size", "64", "-q"]
COLUMNS = list("abcdef")


def _table(n_normal=150, n_anom=30, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0, 1, (n_normal, 6)), rng.normal(3, 1, (n_anom, 6))])
    cols = {c: x[:, j].round(4) for j, c in enumerate(COLUMNS)}
    cols["label"] = np.array([0] * n_normal + [1] * n_anom)
    return cols


def _write_csv(path: Path, cols: dict[str, np.ndarray], order: list[str] | None = None) -> Path:
    order = order or list(cols)
    lines = [",".join(order)] + [",".join(str(cols[c][i]) for c in order) for i in range(len(cols[order[0]]))]
    path.write_text("\n".join(lines) + "\n")
    return path


def _ok(result):
    assert result.exit_code == 0, result.output
    return result


def _corrupt_pages(src: Path, dst: Path) -> Path:
    """A copy of a Parquet file with its data pages overwritten and its footer intact."""
    data = bytearray(src.read_bytes())
    footer_len = struct.unpack("<I", data[-8:-4])[0]
    end = len(data) - 8 - footer_len
    for i in range(8, end):
        data[i] = (i * 37 + 11) % 256
    dst.write_bytes(bytes(data))
    return dst


def _rewrite_checkpoint(src: Path, dst: Path, tensors=None, meta=None) -> Path:
    from safetensors.numpy import load_file, save_file

    from cance_cli.io.checkpoints import read_checkpoint_meta

    arrays = load_file(str(src)) if tensors is None else tensors
    doc = read_checkpoint_meta(src) if meta is None else meta
    save_file(arrays, str(dst), metadata={"cance": json.dumps(doc)})
    return dst


@pytest.fixture(scope="module")
def w(tmp_path_factory) -> Path:
    """A folder with a trained pipeline on a 6-column table, and broken inputs of every kind."""
    from safetensors.numpy import load_file

    from cance_cli.io.checkpoints import read_checkpoint_meta

    w = tmp_path_factory.mktemp("contract")
    cols = _table()
    _write_csv(w / "t.csv", cols)
    _ok(cli("train-ae", w / "t.csv", "--normal", "0", "--out", w / "ae.safetensors", *AE))
    _ok(cli("features", w / "t.csv", "--ae", w / "ae.safetensors", "--out", w / "f.parquet", "-q"))
    _ok(cli("fit-nce", w / "f.parquet", "--out", w / "nce.safetensors", *NCE))
    _ok(cli("score", w / "f.parquet", "--nce", w / "nce.safetensors", "--out", w / "s.parquet", "-q"))
    # A second autoencoder (same width, other seed) and a wider one: features from other feature maps.
    _ok(cli("train-ae", w / "t.csv", "--normal", "0", "--out", w / "ae_b.safetensors", *AE, "--seed", "1"))
    _ok(cli("features", w / "t.csv", "--ae", w / "ae_b.safetensors", "--out", w / "f_b.parquet", "-q"))
    _ok(cli("train-ae", w / "t.csv", "--normal", "0", "--out", w / "ae5.safetensors", *AE, "--latent", "5"))
    _ok(cli("features", w / "t.csv", "--ae", w / "ae5.safetensors", "--out", w / "f5.parquet", "-q"))
    _ok(cli("train-ae", "builtin:digits", "--normal", "3", "--out", w / "img_ae.safetensors", *AE))
    _ok(cli("embed", "builtin:digits", "--backbone", "pixels", "--normal", "3", "--out", w / "emb.parquet", "-q"))
    _ok(cli("features", w / "emb.parquet", "--pca", "4", "--pca-out", w / "pca.safetensors",
            "--out", w / "pf.parquet", "-q"))
    # Broken tables.
    _corrupt_pages(w / "f.parquet", w / "corrupt.parquet")
    (w / "latin1.csv").write_bytes("a,b,\xe9t\xe9,label\n1,2,3,0\n4,5,6,1\n".encode("latin-1"))
    (w / "latin1_label.csv").write_bytes("a,b,label\n1,2,\xe9t\xe9\n4,5,0\n".encode("latin-1"))
    (w / "header.csv").write_text("a,b,c,d,e,f,label\n")
    (w / "nan.csv").write_text("a,b,label\n1,2,0\nnan,3,0\n3,4,0\n")
    (w / "text.csv").write_text("a,b,label\n1,x,0\n2,y,0\n3,z,1\n")
    (w / "semicolon.csv").write_text("a;b;label\n1;2;0\n3;4;0\n5;6;1\n")
    (w / "dupcols.csv").write_text("a,a,b,label\n1,2,3,0\n4,5,6,0\n7,8,9,1\n")
    (w / "huge.csv").write_text("a,b,label\n1,1e300,0\n2,3,0\n3,4,1\n")  # finite, but not as float32
    _write_csv(w / "narrow.csv", cols, ["a", "b", "d", "e", "f", "label"])
    t = pq.read_table(w / "f.parquet")
    flags = pa.array(np.where(t.column("is_anomaly").to_numpy() == 1, "yes", "no"))
    pq.write_table(t.set_column(t.schema.get_field_index("is_anomaly"), "is_anomaly", flags)
                   .replace_schema_metadata(t.schema.metadata), w / "strflag.parquet")
    s = pq.read_table(w / "s.parquet")
    pq.write_table(s.drop_columns(["is_anomaly", "label"]).replace_schema_metadata(s.schema.metadata),
                   w / "s_unlabelled.parquet")
    weak = s.set_column(s.schema.get_field_index("score"), "score", pa.array(np.arange(s.num_rows) % 7, pa.float64()))
    pq.write_table(weak.replace_schema_metadata(s.schema.metadata), w / "s_weak.parquet")
    pq.write_table(s.set_column(s.schema.get_field_index("is_anomaly"), "is_anomaly",
                                pa.array(s.column("is_anomaly").to_numpy().astype(str)))
                   .replace_schema_metadata(s.schema.metadata), w / "s_strflag.parquet")
    # Broken files of the other readers.
    (w / "imgs" / "0").mkdir(parents=True)
    (w / "imgs" / "0" / "a.png").write_bytes(b"this is not a PNG file")
    (w / "idx").mkdir()
    (w / "idx" / "train-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    from scipy.io import savemat

    savemat(w / "ok.mat", {"X": np.ones((20, 3)), "y": np.zeros((20, 1))})
    (w / "trunc.mat").write_bytes((w / "ok.mat").read_bytes()[:150])
    (w / "fake.mat").write_text("MATLAB 5.0 MAT-file, but not really\n")
    (w / "garbage.npz").write_bytes(b"PK\x03\x04 not a zip archive")
    (w / "notes.txt").write_text("hello\n")
    np.savez(w / "single.npz", x=np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32))
    # Broken checkpoints.
    (w / "plain.safetensors").write_bytes(b"not safetensors at all")
    meta = read_checkpoint_meta(w / "ae.safetensors")
    _rewrite_checkpoint(w / "ae.safetensors", w / "noparams.safetensors",
                        meta={k: v for k, v in meta.items() if k != "params"})
    _rewrite_checkpoint(w / "ae.safetensors", w / "badparams.safetensors",
                        meta={**meta, "params": {**meta["params"], "latent": "three"}})
    tensors = load_file(str(w / "ae.safetensors"))
    first = next(k for k in tensors if k.startswith("model.") and k.endswith("weight"))
    _rewrite_checkpoint(w / "ae.safetensors", w / "badshape.safetensors",
                        tensors={**tensors, first: np.zeros((2, 2), dtype=np.float32)})
    nce_tensors = load_file(str(w / "nce.safetensors"))
    key = next(k for k in nce_tensors if k.startswith("density.") and k.endswith("weight"))
    _rewrite_checkpoint(w / "nce.safetensors", w / "nan_nce.safetensors",
                        tensors={**nce_tensors, key: np.full_like(nce_tensors[key], np.nan)})
    nce_meta = read_checkpoint_meta(w / "nce.safetensors")
    _rewrite_checkpoint(w / "nce.safetensors", w / "nce_nocols.safetensors",
                        meta={k: v for k, v in nce_meta.items() if k != "columns"})
    return w


# (case id, argument list with "{w}" for the folder, a fragment the one error line must contain)
CASES = [
    # train-ae: options
    ("ae-missing-data", ["train-ae", "{w}/nowhere.csv"], "does not exist"),
    ("ae-latent-0", ["train-ae", "{w}/t.csv", "--latent", "0"], "--latent"),
    ("ae-latent-neg", ["train-ae", "{w}/t.csv", "--latent", "-3"], "--latent"),
    ("ae-latent-text", ["train-ae", "{w}/t.csv", "--latent", "abc"], "--latent"),
    ("ae-lam-nan", ["train-ae", "{w}/t.csv", "--lam", "nan"], "--lam"),
    ("ae-lam-inf", ["train-ae", "{w}/t.csv", "--lam", "inf"], "--lam"),
    ("ae-lam-neg", ["train-ae", "{w}/t.csv", "--lam", "-1"], "--lam"),
    ("ae-lr-nan", ["train-ae", "{w}/t.csv", "--lr", "nan"], "--lr"),
    ("ae-lr-zero", ["train-ae", "{w}/t.csv", "--lr", "0"], "--lr"),
    ("ae-lr-neg", ["train-ae", "{w}/t.csv", "--lr", "-0.001"], "--lr"),
    ("ae-epochs-0", ["train-ae", "{w}/t.csv", "--epochs", "0"], "--epochs"),
    ("ae-decoder-epochs-neg", ["train-ae", "{w}/t.csv", "--decoder-epochs", "-1"], "--decoder-epochs"),
    ("ae-batch-1", ["train-ae", "{w}/t.csv", "--batch-size", "1"], "--batch-size"),
    ("ae-hidden-neg", ["train-ae", "{w}/t.csv", "--hidden", "0,-4"], "--hidden"),
    ("ae-hidden-text", ["train-ae", "{w}/t.csv", "--hidden", "wide"], "--hidden"),
    ("ae-val-1.5", ["train-ae", "{w}/t.csv", "--val-fraction", "1.5"], "--val-fraction"),
    ("ae-val-nan", ["train-ae", "{w}/t.csv", "--val-fraction", "nan"], "--val-fraction"),
    ("ae-device", ["train-ae", "{w}/t.csv", "--device", "tpu"], "--device"),
    ("ae-unknown-option", ["train-ae", "{w}/t.csv", "--bogus"], "--bogus"),
    ("ae-split-name", ["train-ae", "{w}/t.csv", "--split", "validation"], "--split"),
    ("ae-normal-empty", ["train-ae", "{w}/t.csv", "--normal", ""], "--normal"),
    ("ae-seed-neg", ["train-ae", "{w}/t.csv", "--seed", "-1"], "--seed"),
    ("ae-latent-wider-than-input", ["train-ae", "{w}/t.csv", "--latent", "100000"], "--latent"),
    ("ae-duplicate-columns", ["train-ae", "{w}/dupcols.csv"], "2 columns named 'a'"),
    ("ae-semicolon-csv", ["train-ae", "{w}/semicolon.csv"], "';'-separated"),
    ("ae-beyond-float32", ["train-ae", "{w}/huge.csv"], "float32"),
    ("fit-columns-names-label", ["fit", "{w}/t.csv", "--columns", "a,label", "--out", "{w}/m"], "never a feature"),
    ("fit-duplicate-columns", ["fit", "{w}/dupcols.csv", "--out", "{w}/m"], "own name"),
    ("ae-split-seed-neg", ["train-ae", "{w}/t.csv", "--split", "train", "--test-fraction", "0.2",
                           "--split-seed", "-1"], "--split-seed"),
    # train-ae: outputs
    ("ae-out-dir", ["train-ae", "{w}/t.csv", "--out", "{w}"], "is a folder"),
    ("ae-out-is-input", ["train-ae", "{w}/t.csv", "--out", "{w}/t.csv"], "also an input"),
    ("ae-out-no-folder", ["train-ae", "{w}/t.csv", "--out", "{w}/nope/ae.safetensors"], "does not exist"),
    # train-ae: data
    ("ae-split-single-table", ["train-ae", "{w}/t.csv", "--split", "test"], "--test-fraction"),
    ("ae-fraction-without-split", ["train-ae", "{w}/t.csv", "--test-fraction", "0.3"], "--test-fraction"),
    ("ae-fraction-range", ["train-ae", "{w}/t.csv", "--split", "train", "--test-fraction", "1.5"],
     "--test-fraction"),
    ("ae-fraction-with-splits", ["train-ae", "builtin:digits", "--split", "train", "--test-fraction", "0.3"],
     "already has train/test splits"),
    ("ae-label-missing", ["train-ae", "{w}/t.csv", "--label-col", "nope"], "no label column 'nope'"),
    ("ae-label-and-no-label", ["train-ae", "{w}/t.csv", "--label-col", "label", "--no-label"], "--no-label"),
    ("ae-normal-absent", ["train-ae", "{w}/t.csv", "--normal", "7"], "have label 7"),
    ("ae-normal-unlabelled", ["train-ae", "{w}/t.csv", "--no-label", "--normal", "0"], "needs labels"),
    ("ae-non-utf8-csv", ["train-ae", "{w}/latin1.csv"], "UTF-8"),
    ("ae-non-utf8-label", ["train-ae", "{w}/latin1_label.csv"], "UTF-8"),
    ("ae-header-only-csv", ["train-ae", "{w}/header.csv"], "no rows"),
    ("ae-nan-csv", ["train-ae", "{w}/nan.csv"], "NaN"),
    ("ae-text-column", ["train-ae", "{w}/text.csv"], "not numeric"),
    ("ae-fake-png", ["train-ae", "{w}/imgs"], "not a readable image"),
    ("ae-idx-short-header", ["train-ae", "{w}/idx"], "idx header"),
    ("ae-truncated-mat", ["train-ae", "{w}/trunc.mat"], "MATLAB"),
    ("ae-fake-mat", ["train-ae", "{w}/fake.mat"], "MATLAB"),
    ("ae-garbage-npz", ["train-ae", "{w}/garbage.npz"], ".npz"),
    ("ae-unknown-suffix", ["train-ae", "{w}/notes.txt"], "unknown format"),
    ("ae-corrupt-parquet", ["train-ae", "{w}/corrupt.parquet"], "corrupt.parquet"),
    ("ae-builtin-unknown", ["train-ae", "builtin:cifar"], "builtin"),
    # features
    ("feat-missing-ae", ["features", "{w}/t.csv", "--ae", "{w}/none.safetensors"], "does not exist"),
    ("feat-plain-ae", ["features", "{w}/t.csv", "--ae", "{w}/plain.safetensors"], "not a readable safetensors"),
    ("feat-ae-no-params", ["features", "{w}/t.csv", "--ae", "{w}/noparams.safetensors"], "'params'"),
    ("feat-ae-bad-params", ["features", "{w}/t.csv", "--ae", "{w}/badparams.safetensors"], "re-create"),
    ("feat-ae-bad-shape", ["features", "{w}/t.csv", "--ae", "{w}/badshape.safetensors"], "re-create"),
    ("feat-ae-wrong-stage", ["features", "{w}/t.csv", "--ae", "{w}/nce.safetensors"], "stage 'nce'"),
    ("feat-missing-column", ["features", "{w}/narrow.csv", "--ae", "{w}/ae.safetensors"], "lacks column 'c'"),
    ("feat-image-ae-on-table", ["features", "{w}/t.csv", "--ae", "{w}/img_ae.safetensors"], "shape"),
    ("feat-out-is-data", ["features", "{w}/t.csv", "--ae", "{w}/ae.safetensors", "--out", "{w}/t.csv"],
     "also an input"),
    ("feat-out-is-ae", ["features", "{w}/t.csv", "--ae", "{w}/ae.safetensors", "--out", "{w}/ae.safetensors"],
     "also an input"),
    ("feat-out-dir", ["features", "{w}/t.csv", "--ae", "{w}/ae.safetensors", "--out", "{w}"], "is a folder"),
    ("feat-batch-0", ["features", "{w}/t.csv", "--ae", "{w}/ae.safetensors", "--batch-size", "0"], "--batch-size"),
    ("feat-no-map", ["features", "{w}/t.csv"], "exactly one"),
    ("feat-two-maps", ["features", "{w}/emb.parquet", "--ae", "{w}/ae.safetensors", "--pca", "3"], "exactly one"),
    ("feat-pca-0", ["features", "{w}/emb.parquet", "--pca", "0"], "--pca"),
    ("feat-pca-too-many", ["features", "{w}/emb.parquet", "--pca", "100000", "--out", "{w}/new.parquet"], "--pca"),
    ("feat-pca-out-is-input", ["features", "{w}/emb.parquet", "--pca", "3", "--pca-out", "{w}/emb.parquet"],
     "also an input"),
    ("feat-pca-out-is-out", ["features", "{w}/emb.parquet", "--pca", "3", "--pca-out", "{w}/x.parquet",
                             "--out", "{w}/x.parquet"], "same file"),
    ("feat-pca-out-without-pca", ["features", "{w}/emb.parquet", "--pca-model", "{w}/pca.safetensors",
                                  "--pca-out", "{w}/p2.safetensors"], "--pca-out"),
    ("feat-pca-model-wrong-stage", ["features", "{w}/emb.parquet", "--pca-model", "{w}/ae.safetensors"],
     "stage 'autoencoder'"),
    ("feat-pca-corrupt-table", ["features", "{w}/corrupt.parquet", "--pca", "2"], "corrupt.parquet"),
    ("feat-label-missing", ["features", "{w}/t.csv", "--ae", "{w}/ae.safetensors", "--label-col", "nope"],
     "no label column 'nope'"),
    ("feat-split-single-table", ["features", "{w}/t.csv", "--ae", "{w}/ae.safetensors", "--split", "test"],
     "--test-fraction"),
    ("feat-normal-absent", ["features", "{w}/t.csv", "--ae", "{w}/ae.safetensors", "--normal", "9"],
     "have label 9"),
    # fit-nce
    ("nce-missing-table", ["fit-nce", "{w}/none.parquet"], "does not exist"),
    ("nce-ratio-nan", ["fit-nce", "{w}/f.parquet", "--ratio", "nan"], "--ratio"),
    ("nce-ratio-inf", ["fit-nce", "{w}/f.parquet", "--ratio", "inf"], "--ratio"),
    ("nce-ratio-0", ["fit-nce", "{w}/f.parquet", "--ratio", "0"], "--ratio"),
    ("nce-ratio-neg", ["fit-nce", "{w}/f.parquet", "--ratio", "-2"], "--ratio"),
    ("nce-ratio-text", ["fit-nce", "{w}/f.parquet", "--ratio", "ten"], "--ratio"),
    ("nce-lr-nan", ["fit-nce", "{w}/f.parquet", "--lr", "nan"], "--lr"),
    ("nce-max-rows-neg", ["fit-nce", "{w}/f.parquet", "--max-rows", "-5"], "--max-rows"),
    ("nce-max-rows-0", ["fit-nce", "{w}/f.parquet", "--max-rows", "0"], "--max-rows"),
    ("nce-hidden-0", ["fit-nce", "{w}/f.parquet", "--hidden", "0"], "--hidden"),
    ("nce-epochs-0", ["fit-nce", "{w}/f.parquet", "--epochs", "0"], "--epochs"),
    ("nce-batch-1", ["fit-nce", "{w}/f.parquet", "--batch-size", "1"], "--batch-size"),
    ("nce-val-1", ["fit-nce", "{w}/f.parquet", "--val-fraction", "1"], "--val-fraction"),
    ("nce-seed-neg", ["fit-nce", "{w}/f.parquet", "--seed", "-3"], "--seed"),
    ("nce-features-bogus", ["fit-nce", "{w}/f.parquet", "--features", "both"], "--features"),
    ("nce-corrupt-pages", ["fit-nce", "{w}/corrupt.parquet"], "corrupt"),
    ("nce-out-is-input", ["fit-nce", "{w}/f.parquet", "--out", "{w}/f.parquet"], "also an input"),
    ("nce-out-dir", ["fit-nce", "{w}/f.parquet", "--out", "{w}"], "is a folder"),
    ("nce-score-table", ["fit-nce", "{w}/s.parquet"], "score table"),
    ("nce-string-flags", ["fit-nce", "{w}/strflag.parquet"], "is_anomaly"),
    ("nce-csv-input", ["fit-nce", "{w}/t.csv"], "not a readable Parquet"),
    ("nce-missing-argument", ["fit-nce"], "Missing argument"),
    # score
    ("score-out-is-table", ["score", "{w}/f.parquet", "--nce", "{w}/nce.safetensors", "--out", "{w}/f.parquet"],
     "also an input"),
    ("score-out-is-nce", ["score", "{w}/f.parquet", "--nce", "{w}/nce.safetensors", "--out",
                          "{w}/nce.safetensors"], "also an input"),
    ("score-other-latent", ["score", "{w}/f5.parquet", "--nce", "{w}/nce.safetensors", "--out", "{w}/x.parquet"],
     "'z_3'"),
    ("score-other-feature-map", ["score", "{w}/f_b.parquet", "--nce", "{w}/nce.safetensors", "--out",
                                 "{w}/x.parquet"], "another feature map"),
    ("score-nan-weights", ["score", "{w}/f.parquet", "--nce", "{w}/nan_nce.safetensors", "--out",
                           "{w}/x.parquet"], "NaN or infinite weights"),
    ("score-nce-no-columns", ["score", "{w}/f.parquet", "--nce", "{w}/nce_nocols.safetensors", "--out",
                              "{w}/x.parquet"], "'columns'"),
    ("score-corrupt-pages", ["score", "{w}/corrupt.parquet", "--nce", "{w}/nce.safetensors", "--out",
                             "{w}/x.parquet", "--force"], "corrupt"),
    ("score-method", ["score", "{w}/f.parquet", "--method", "knn"], "--method"),
    ("score-nce-missing", ["score", "{w}/f.parquet", "--method", "nce"], "--nce"),
    ("score-batch-0", ["score", "{w}/f.parquet", "--method", "error", "--batch-size", "0"], "--batch-size"),
    ("score-score-table", ["score", "{w}/s.parquet", "--method", "error", "--out", "{w}/x.parquet"],
     "already a score table"),
    ("score-string-flags", ["score", "{w}/strflag.parquet", "--method", "error", "--out", "{w}/x.parquet"],
     "is_anomaly"),
    ("score-out-dir", ["score", "{w}/f.parquet", "--method", "error", "--out", "{w}"], "is a folder"),
    ("score-nce-wrong-stage", ["score", "{w}/f.parquet", "--nce", "{w}/ae.safetensors"], "stage 'autoencoder'"),
    # fuse
    ("fuse-one-table", ["fuse", "{w}/s.parquet", "-r", "{w}/s.parquet", "--out", "{w}/x.parquet"], "at least two"),
    ("fuse-reference-count", ["fuse", "{w}/s.parquet", "{w}/s.parquet", "-r", "{w}/s.parquet", "--out",
                              "{w}/x.parquet"], "one --reference per score table"),
    ("fuse-no-reference", ["fuse", "{w}/s.parquet", "{w}/s.parquet", "--out", "{w}/x.parquet"], "--reference"),
    ("fuse-feature-table", ["fuse", "{w}/f.parquet", "{w}/s.parquet", "-r", "{w}/s.parquet", "-r", "{w}/s.parquet",
                            "--out", "{w}/x.parquet"], "not a score table"),
    ("fuse-missing-table", ["fuse", "{w}/nowhere.parquet", "{w}/s.parquet", "-r", "{w}/s.parquet", "-r",
                            "{w}/s.parquet", "--out", "{w}/x.parquet"], "does not exist"),
    ("fuse-out-is-input", ["fuse", "{w}/s.parquet", "{w}/s.parquet", "-r", "{w}/s.parquet", "-r", "{w}/s.parquet",
                           "--out", "{w}/s.parquet"], "destroy"),
    ("fuse-out-folder-missing", ["fuse", "{w}/s.parquet", "{w}/s.parquet", "-r", "{w}/s.parquet", "-r",
                                 "{w}/s.parquet", "--out", "{w}/nodir/x.parquet"], "does not exist"),
    ("fuse-same-table-twice", ["fuse", "{w}/s.parquet", "{w}/s.parquet", "-r", "{w}/s.parquet", "-r",
                               "{w}/s.parquet", "--out", "{w}/x.parquet"], "given twice"),
    # an output named as another format than the command writes
    ("fuse-out-csv", ["fuse", "{w}/s.parquet", "{w}/s.parquet", "-r", "{w}/s.parquet", "-r", "{w}/s.parquet",
                      "--out", "{w}/x.csv"], "writes a Parquet table"),
    ("score-out-csv", ["score", "{w}/f.parquet", "--method", "error", "--out", "{w}/x.csv"], "name it x.parquet"),
    ("feat-out-json", ["features", "{w}/t.csv", "--ae", "{w}/ae.safetensors", "--out", "{w}/x.json"], "Parquet"),
    ("nce-out-parquet", ["fit-nce", "{w}/f.parquet", "--out", "{w}/x.parquet"], "name it x.safetensors"),
    ("ae-out-pt", ["train-ae", "{w}/t.csv", "--out", "{w}/ae.pt"], "safetensors checkpoint"),
    ("embed-out-npz", ["embed", "builtin:digits", "--backbone", "pixels", "--out", "{w}/x.npz"], "Parquet"),
    ("fit-out-file-name", ["fit", "{w}/t.csv", "--out", "{w}/model.safetensors"], "folder"),
    # evaluate
    ("eval-feature-table", ["evaluate", "{w}/f.parquet"], "feature table"),
    ("eval-min-auroc-nan", ["evaluate", "{w}/s.parquet", "--min-auroc", "nan"], "--min-auroc"),
    ("eval-min-auroc-high", ["evaluate", "{w}/s.parquet", "--min-auroc", "1.5"], "--min-auroc"),
    ("eval-min-auroc-neg", ["evaluate", "{w}/s.parquet", "--min-auroc", "-0.1"], "--min-auroc"),
    ("eval-contamination-2", ["evaluate", "{w}/s.parquet", "--contamination", "2"], "--contamination"),
    ("eval-contamination-nan", ["evaluate", "{w}/s.parquet", "--contamination", "nan"], "--contamination"),
    ("eval-top-k-0", ["evaluate", "{w}/s.parquet", "--top-k", "0"], "--top-k"),
    ("eval-plot-is-input", ["evaluate", "{w}/s.parquet", "--plot", "{w}/s.parquet"], "also an input"),
    ("eval-plot-dir", ["evaluate", "{w}/s.parquet", "--plot", "{w}"], "is a folder"),
    ("eval-plot-pdf", ["evaluate", "{w}/s.parquet", "--plot", "{w}/roc.pdf"], "name it roc.png"),
    ("eval-corrupt", ["evaluate", "{w}/corrupt.parquet"], "corrupt"),
    ("eval-unlabelled", ["evaluate", "{w}/s_unlabelled.parquet"], "needs labels"),
    ("eval-string-flags", ["evaluate", "{w}/s_strflag.parquet"], "is_anomaly"),
    ("eval-missing", ["evaluate", "{w}/none.parquet"], "does not exist"),
    # embed, demo, bench
    ("embed-backbone", ["embed", "builtin:digits", "--backbone", "vgg", "--out", "{w}/x.parquet"], "backbone"),
    ("embed-out-is-input", ["embed", "{w}/single.npz", "--backbone", "pixels", "--out", "{w}/single.npz"],
     "also an input"),
    ("embed-weights-for-pixels", ["embed", "builtin:digits", "--backbone", "pixels", "--weights", "{w}/t.csv",
                                  "--out", "{w}/x.parquet"], "--weights"),
    ("embed-batch-0", ["embed", "builtin:digits", "--backbone", "pixels", "--batch-size", "0"], "--batch-size"),
    ("embed-split-single-file", ["embed", "{w}/single.npz", "--backbone", "pixels", "--split", "test",
                                 "--out", "{w}/x.parquet"], "--test-fraction"),
    ("demo-out-dir-file", ["demo", "--out-dir", "{w}/t.csv"], "is a file"),
    ("bench-out-file", ["bench", "one-class", "builtin:digits", "--out", "{w}/t.csv", "--quick"], "is a file"),
    ("bench-protocol", ["bench", "two-class", "builtin:digits", "--out", "{w}/bench"], "two-class"),
    ("bench-seeds-neg", ["bench", "one-class", "builtin:digits", "--out", "{w}/bench", "--seeds", "-1"],
     "--seeds"),
    ("demo-seed-neg", ["demo", "--out-dir", "{w}/demo", "--seed", "-1"], "--seed"),
    ("bench-ratio-nan", ["bench", "one-class", "builtin:digits", "--out", "{w}/bench", "--ratio", "nan"],
     "--ratio"),
]


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_catalogue_is_large_and_covers_every_subcommand():
    assert len(CASES) >= 80
    assert len({case[0] for case in CASES}) == len(CASES)
    commands = {case[1][0] for case in CASES}
    assert commands >= {"train-ae", "features", "fit-nce", "score", "fuse", "evaluate", "embed", "demo", "bench"}


@pytest.mark.parametrize("case_id,args,fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_sentence_exit_2_and_changes_nothing(w, case_id, args, fragment):
    before = _snapshot(w)
    result = cli(*[a.replace("{w}", str(w)) for a in args], *(["-q"] if args[0] in ("train-ae",) else []))
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 2, (case_id, result.exit_code, result.output)
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert fragment.lower() in lines[0].lower(), (case_id, lines[0])
    assert _snapshot(w) == before, f"{case_id} created or changed a file"


def test_min_auroc_gate_is_exit_1_with_one_line(w):
    before = _snapshot(w)
    result = cli("evaluate", w / "s_weak.parquet", "--min-auroc", "0.9", "--auroc")
    assert result.exit_code == 1
    assert float(result.output.splitlines()[0]) < 0.9
    assert result.output.splitlines()[1:] == ["Error: an AUROC is below --min-auroc 0.9."]
    assert _snapshot(w) == before


# --------------------------------------------------------------------------- behaviour the contract promises


def test_reordered_columns_give_identical_features(w, tmp_path):
    _write_csv(tmp_path / "rev.csv", _table(), list(reversed(COLUMNS)) + ["label"])
    _ok(cli("features", tmp_path / "rev.csv", "--ae", w / "ae.safetensors", "--out", tmp_path / "rev.parquet", "-q"))
    original, reordered = pq.read_table(w / "f.parquet"), pq.read_table(tmp_path / "rev.parquet")
    for name in ("z_0", "z_1", "z_2", "recon_error", "cos_dissim", "is_anomaly"):
        np.testing.assert_array_equal(original.column(name).to_numpy(), reordered.column(name).to_numpy())


def test_unlabelled_rows_score_after_labelled_training_and_evaluate_asks_for_labels(w, tmp_path):
    cols = _table(n_normal=40, n_anom=10, seed=5)
    cols.pop("label")
    _write_csv(tmp_path / "tomorrow.csv", cols)
    _ok(cli("features", tmp_path / "tomorrow.csv", "--ae", w / "ae.safetensors", "--out", tmp_path / "f.parquet",
            "-q"))
    feats = pq.read_table(tmp_path / "f.parquet")
    assert "is_anomaly" not in feats.column_names and "label" not in feats.column_names
    _ok(cli("score", tmp_path / "f.parquet", "--nce", w / "nce.safetensors", "--out", tmp_path / "s.parquet", "-q"))
    scores = pq.read_table(tmp_path / "s.parquet")
    assert scores.column_names == ["id", "score"] and scores.num_rows == 50
    assert np.isfinite(scores.column("score").to_numpy()).all()
    result = cli("evaluate", tmp_path / "s.parquet")
    assert result.exit_code == 2 and "needs labels" in result.output


def test_reserved_columns_and_pandas_index_are_never_features(tmp_path):
    from cance_cli.data import load_data

    cols = _table(n_normal=30, n_anom=5)
    table = pa.table({"__index_level_0__": np.arange(35) * 7, "row_key": np.arange(35) + 100, "id": np.arange(35),
                      "is_anomaly": (cols["label"] == 1).astype(np.int8), **cols})
    pandas_meta = {"index_columns": ["row_key", "__index_level_0__"], "columns": []}
    pq.write_table(table.replace_schema_metadata({"pandas": json.dumps(pandas_meta)}), tmp_path / "p.parquet")
    ds = load_data(str(tmp_path / "p.parquet"))
    assert ds.feature_names == COLUMNS
    assert ds.y is not None and sorted(set(ds.y.tolist())) == [0, 1]  # 'label' is the default label
    assert load_data(str(tmp_path / "p.parquet"), no_label=True).feature_names == COLUMNS


def test_train_ae_records_input_schema_and_label(w):
    from cance_cli.io.checkpoints import read_checkpoint_meta

    meta = read_checkpoint_meta(w / "ae.safetensors")
    assert meta["input_columns"] == COLUMNS and meta["input_dtypes"] == ["double"] * 6
    assert meta["label_col"] == "label" and meta["normal_classes"] == ["0"]
    assert read_checkpoint_meta(w / "img_ae.safetensors")["input_shape"] == [1, 8, 8]


def test_seeded_split_of_one_table_is_recorded_and_reused(tmp_path):
    _write_csv(tmp_path / "t.csv", _table())
    ae = tmp_path / "ae.safetensors"
    _ok(cli("train-ae", tmp_path / "t.csv", "--split", "train", "--test-fraction", "0.25", "--split-seed", "3",
            "--normal", "0", "--out", ae, *AE))
    from cance_cli.io.checkpoints import read_checkpoint_meta

    meta = read_checkpoint_meta(ae)
    assert meta["split"] == "train" and meta["test_fraction"] == 0.25 and meta["split_seed"] == 3
    parts = {}
    for split in ("train", "test"):  # the fraction and seed default to the checkpoint's
        _ok(cli("features", tmp_path / "t.csv", "--ae", ae, "--split", split, "--out", tmp_path / f"{split}.parquet",
                "-q"))
        parts[split] = pq.read_table(tmp_path / f"{split}.parquet")
    train_ids, test_ids = (set(parts[s].column("id").to_pylist()) for s in ("train", "test"))
    assert not train_ids & test_ids and len(train_ids | test_ids) == 180
    # Stratified: round(150 x 0.25) normal and round(30 x 0.25) anomalous rows.
    assert len(test_ids) == 38 + 8 and int(np.sum(parts["test"].column("is_anomaly"))) == 8


def test_outputs_respect_umask_and_stale_temp_files_are_removed(w, tmp_path):
    dead_pid = 2**22 + 12345  # above the default pid_max: never a live process
    stale = tmp_path / f".s.parquet.{dead_pid}.abc123.tmp"
    stale.write_bytes(b"left by a killed run")
    old = os.umask(0o022)
    try:
        _ok(cli("score", w / "f.parquet", "--nce", w / "nce.safetensors", "--out", tmp_path / "s.parquet", "-q"))
    finally:
        os.umask(old)
    assert (tmp_path / "s.parquet").stat().st_mode & 0o777 == 0o644
    assert not stale.exists()


def test_json_metadata_never_holds_nan(tmp_path):
    from cance_cli.io.checkpoints import read_checkpoint_meta, save_checkpoint

    save_checkpoint(tmp_path / "c.safetensors", {"w": np.zeros(2, dtype=np.float32)},
                    {"stage": "test", "value": float("nan"), "nested": [float("inf"), np.float32(1.5)]})
    raw = (tmp_path / "c.safetensors").read_bytes()
    assert b"NaN" not in raw and b"Infinity" not in raw
    meta = read_checkpoint_meta(tmp_path / "c.safetensors")
    assert meta["value"] is None and meta["nested"] == [None, 1.5]


def _big_feature_table(src: Path, dst: Path, copies: int) -> None:
    t = pq.read_table(src)
    with pq.ParquetWriter(dst, t.schema) as writer:
        for _ in range(copies):
            writer.write_table(t)


def test_sigterm_mid_score_keeps_old_output_and_leaves_no_temp_file(w, tmp_path):
    _big_feature_table(w / "f.parquet", tmp_path / "big.parquet", copies=12000)  # 2.16 M rows
    out = tmp_path / "s.parquet"
    shutil.copy(w / "s.parquet", out)
    before = out.read_bytes()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "cance_cli", "score", str(tmp_path / "big.parquet"), "--nce",
                             str(w / "nce.safetensors"), "--out", str(out), "--batch-size", "2048", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 120
    while not list(tmp_path.glob(".s.parquet.*.tmp")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "score finished before it could be interrupted; make the table larger"
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    lines = [ln for ln in err.decode().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Terminated"), err.decode()
    assert out.read_bytes() == before
    assert not list(tmp_path.glob(".s.parquet.*"))


@pytest.mark.parametrize("signum, code, word", [(signal.SIGTERM, 143, "Terminated"),
                                                  (signal.SIGINT, 130, "Interrupted")])
def test_an_interrupt_a_library_swallows_still_keeps_the_old_output(w, tmp_path, monkeypatch, signum, code, word):
    """A signal handler's exception can land inside a library that swallows it (seen: a
    SIGTERM during pyarrow's lazy pandas import); the command must still stop before it
    replaces its output, with the interrupt's one line and exit code."""
    import cance_cli.pipeline as pipeline
    from cance_cli.cli import _common

    handler = {signal.SIGTERM: _common._raise_terminated, signal.SIGINT: _common._raise_keyboard_interrupt}[signum]
    out = tmp_path / "s.parquet"
    out.write_bytes(b"older scores")
    real = pipeline.BatchScorer.__call__

    def swallowing(self, *args, **kwargs):
        try:
            handler(signum, None)  # the handler, landing inside library code...
        except BaseException:
            pass  # ...that swallows what it raised
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pipeline.BatchScorer, "__call__", swallowing)
    result = cli("score", w / "f.parquet", "--nce", w / "nce.safetensors", "--out", out)
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == code and len(lines) == 1 and lines[0].startswith(word), result.output
    assert out.read_bytes() == b"older scores" and not list(tmp_path.glob(".s.parquet.*"))
    monkeypatch.setattr(pipeline.BatchScorer, "__call__", real)
    assert cli("score", w / "f.parquet", "--nce", w / "nce.safetensors", "--out", out).exit_code == 0  # cleared


def test_a_swallowed_interrupt_stops_a_fit_at_its_next_epoch(w, tmp_path, monkeypatch):
    from cance_cli.cli import _common
    from cance_cli.training.nce import NCEDensity

    epochs = []
    real = NCEDensity._epoch

    def swallowing(self, *args, **kwargs):
        epochs.append(1)
        if len(epochs) == 1:
            try:
                _common._raise_terminated(signal.SIGTERM, None)
            except BaseException:
                pass
        return real(self, *args, **kwargs)

    monkeypatch.setattr(NCEDensity, "_epoch", swallowing)
    out = tmp_path / "nce.safetensors"
    result = cli("fit-nce", w / "f.parquet", "--epochs", 50, "--out", out, "-q")
    assert result.exit_code == 143 and result.output.startswith("Terminated"), result.output
    assert len(epochs) == 1 and not out.exists()


def test_pca_out_is_written_only_after_the_feature_table(w, tmp_path, monkeypatch):
    import cance_cli.features as features
    from cance_cli.errors import DataError

    pca_out = tmp_path / "pca.safetensors"
    pca_out.write_bytes(b"an older PCA")

    def fail(*args, **kwargs):
        raise DataError("disk full")

    monkeypatch.setattr(features, "write_feature_table", fail)
    with pytest.raises(DataError):
        features.compute_features(w / "emb.parquet", tmp_path / "f.parquet", pca=3, pca_out=pca_out)
    assert pca_out.read_bytes() == b"an older PCA"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pca.safetensors"]
