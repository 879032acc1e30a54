"""The third hostile-input round: data loss, reads outside the model folder, crafted metadata, resources,
silent wrong results and tracebacks. Every refusal is one `Error:` line, exit 2, no traceback, and every file
that was there before is byte-identical afterwards (see docs/input-contract.md)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import cli, one_error_line

COLUMNS = [f"f{j}" for j in range(6)]


def _write_table(path: Path, n: int = 240, seed: int = 0, extra: dict | None = None) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    cols = {c: rng.normal(size=n) for c in COLUMNS}
    table = pa.table({**(extra or {}), **cols})
    if path.suffix == ".csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, str(path))
    else:
        pq.write_table(table, str(path))
    return path


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


FAST = ["--epochs", "1", "--decoder-epochs", "0", "--nce-epochs", "2", "--threshold-folds", "0", "-q"]


@pytest.fixture(scope="module")
def w(tmp_path_factory) -> Path:
    """A folder with a training table, a model folder of two views, a feature table and an AE checkpoint."""
    folder = tmp_path_factory.mktemp("hostile3")
    _write_table(folder / "train.parquet")
    result = cli("fit", folder / "train.parquet", "--out", folder / "model", "--views", "composite+input", *FAST)
    assert result.exit_code == 0, result.output
    result = cli("features", folder / "train.parquet", "--ae", folder / "model" / "ae.safetensors",
                 "--out", folder / "feats.parquet", "-q")
    assert result.exit_code == 0, result.output
    return folder


def _copy_model(w: Path, dst: Path) -> Path:
    shutil.copytree(w / "model", dst)
    return dst


def _edit_manifest(folder: Path, edit, keep_digest_valid: bool = True) -> None:
    """Rewrite a model folder's manifest; by default its digest is recomputed, as a crafted one would be."""
    from cance_cli.model import manifest_digest

    path = folder / "manifest.json"
    doc = json.loads(path.read_text())
    edit(doc)
    if keep_digest_valid:
        doc["manifest_digest"] = manifest_digest(doc)
    path.write_text(json.dumps(doc))


def _refused(args, fragment: str, folder: Path) -> None:
    before = _snapshot(folder)
    line = one_error_line(cli(*args))
    assert fragment in line, line
    assert _snapshot(folder) == before


# --------------------------------------------------------------------------- 1. data loss


def test_refit_over_a_model_folder_with_a_users_files_is_refused_and_deletes_nothing(w, tmp_path):
    model = _copy_model(w, tmp_path / "model")
    (model / "notes.txt").write_text("my notes")
    (model / "scores").mkdir()
    (model / "scores" / "s.parquet").write_bytes(b"x")
    _refused(("fit", w / "train.parquet", "--out", model, *FAST), "notes.txt, scores/", tmp_path)
    # a folder holding only what a fit writes is still replaced
    shutil.rmtree(model / "scores")
    (model / "notes.txt").unlink()
    assert cli("fit", w / "train.parquet", "--out", model, *FAST).exit_code == 0


def test_outputs_inside_the_model_folder_are_refused_by_both_engines(w, tmp_path):
    model = _copy_model(w, tmp_path / "model")
    _refused(("predict", w / "train.parquet", "--model", model, "--out", model / "sub" / "s.parquet"),
             "inside the model folder", tmp_path)
    _refused(("predict", w / "train.parquet", "--model", model, "--engine", "ray", "--out", model / "scores"),
             "inside the model folder", tmp_path)


# --------------------------------------------------------------------------- 2-4. the manifest


@pytest.mark.parametrize("case, edit, fragment", [
    ("parent path", lambda d: d["stages"].__setitem__("density", "../nce.safetensors"), "not a hashed file"),
    ("absolute files entry", lambda d: d["files"].__setitem__("/etc/passwd", {"sha256": "0" * 64}),
     "not one of a model folder's own files"),
    ("stage not hashed", lambda d: d["files"].pop("nce.safetensors"), "not a hashed file"),
    ("files entry without hash", lambda d: d["files"].__setitem__("nce.safetensors", {}), "records no SHA-256"),
    ("threshold text", lambda d: d["threshold"].__setitem__("value", "7"), "finite threshold"),
    ("threshold bool", lambda d: d["threshold"].__setitem__("value", True), "finite threshold"),
    ("iqr zero", lambda d: d["calibration"]["input"].__setitem__("iqr", 0), "calibration of view 'input'"),
    ("calibration missing", lambda d: d.__setitem__("calibration", {}), "lacks the calibration"),
    ("unknown view", lambda d: d.__setitem__("views", ["composite", "lof"]), "unknown views"),
    ("training scores", lambda d: d["training_scores"].__setitem__("std", "x"), "training score statistics"),
    ("width", lambda d: d["schema"].__setitem__("n_features_in", -1), "input width"),
    ("newer format", lambda d: d.__setitem__("format_version", 99), "format version 99"),
])
def test_a_crafted_manifest_is_refused(w, tmp_path, case, edit, fragment):
    model = _copy_model(w, tmp_path / "model")
    _edit_manifest(model, edit)
    _refused(("predict", w / "train.parquet", "--model", model, "--out", tmp_path / "s.parquet"), fragment, tmp_path)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_in_a_manifest_are_refused(w, tmp_path, literal):
    model = _copy_model(w, tmp_path / "model")
    path = model / "manifest.json"
    doc = json.loads(path.read_text())
    text = json.dumps(doc).replace(json.dumps(doc["threshold"]["value"]), literal, 1)
    path.write_text(text)
    _refused(("predict", w / "train.parquet", "--model", model, "--out", tmp_path / "s.parquet"),
             "NaN or infinite", tmp_path)


def test_an_edited_manifest_fails_its_digest(w, tmp_path):
    model = _copy_model(w, tmp_path / "model")
    _edit_manifest(model, lambda d: d["threshold"].__setitem__("value", 1e9), keep_digest_valid=False)
    _refused(("predict", w / "train.parquet", "--model", model, "--out", tmp_path / "s.parquet"),
             "does not match its digest", tmp_path)


def test_stage_files_that_are_links_are_refused_even_inside_the_folder(w, tmp_path):
    model = _copy_model(w, tmp_path / "model")
    outside = tmp_path / "elsewhere.safetensors"
    shutil.move(model / "nce.safetensors", outside)
    os.symlink(outside, model / "nce.safetensors")
    _refused(("predict", w / "train.parquet", "--model", model, "--out", tmp_path / "s.parquet"),
             "symbolic link", tmp_path)


def test_a_swapped_stage_is_refused(w, tmp_path):
    model = _copy_model(w, tmp_path / "model")
    shutil.copy(model / "input-nce.safetensors", model / "nce.safetensors")
    _refused(("predict", w / "train.parquet", "--model", model, "--out", tmp_path / "s.parquet"),
             "SHA-256 differs", tmp_path)


def test_a_model_folder_of_format_2_still_loads(w, tmp_path):
    """Folders written before the digest (format 2) load and score as before."""
    model = _copy_model(w, tmp_path / "model")

    def downgrade(doc):
        doc["format_version"] = 2
        doc.pop("manifest_digest")

    _edit_manifest(model, downgrade, keep_digest_valid=False)
    assert cli("predict", w / "train.parquet", "--model", model, "--out", tmp_path / "a.parquet", "-q").exit_code == 0
    assert cli("predict", w / "train.parquet", "--model", w / "model", "--out", tmp_path / "b.parquet",
               "-q").exit_code == 0
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "a.parquet").column("score").equals(
        pq.read_table(tmp_path / "b.parquet").column("score"))


# --------------------------------------------------------------------------- 5. readers beside a writer


def test_a_reader_never_mixes_two_models_while_a_writer_replaces_the_folder(tmp_path):
    from cance_cli.errors import ArtifactError
    from cance_cli.estimator import CANCE

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    fits = [CANCE(views="input", nce_epochs=2, seed=s).fit(x) for s in (0, 1)]
    expected = {round(f.threshold_, 12): f.score_samples(x[:20]) for f in fits}
    assert len(expected) == 2
    target = tmp_path / "model"
    fits[0].save(target)
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            fits[i % 2].save(target)
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    loads = refusals = 0
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            try:
                est = CANCE.load(target)
            except ArtifactError as exc:
                assert "kept changing" in str(exc)
                refusals += 1
                continue
            loads += 1
            np.testing.assert_allclose(est.score_samples(x[:20]), expected[round(est.threshold_, 12)], rtol=1e-6)
    finally:
        stop.set()
        thread.join()
    assert loads > 20
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "model"]
    assert leftovers == []


def test_two_writers_of_one_model_folder_take_turns(tmp_path):
    from cance_cli.estimator import CANCE

    x = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    fits = [CANCE(views="input", nce_epochs=2, seed=s).fit(x) for s in (0, 1)]
    errors: list[BaseException] = []

    def write(est):
        try:
            for _ in range(15):
                est.save(tmp_path / "model")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f,)) for f in fits]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert CANCE.load(tmp_path / "model").threshold_ in {f.threshold_ for f in fits}
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


# --------------------------------------------------------------------------- 6-8. resources


def _peak_rss_mb(args: list[str]) -> tuple[int, str, float]:
    """Run the CLI in a fresh interpreter; its exit code, stderr and peak resident memory (MB)."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so it would report the forking pytest's size
    code = ("import re, sys\nfrom cance_cli.cli import main\nsys.argv = ['cance'] + sys.argv[1:]\n"
            "try:\n    main()\nfinally:\n"
            "    peak = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
            "    sys.stderr.write('PEAK %s\\n' % peak)\n")
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=300)
    peak = int(proc.stderr.strip().splitlines()[-1].split()[1]) / 1024
    err = "\n".join(ln for ln in proc.stderr.splitlines() if not ln.startswith("PEAK"))
    return proc.returncode, err, peak


def _rewrite_checkpoint(path: Path, edit) -> None:
    from safetensors.numpy import load_file, save_file

    from cance_cli.io.checkpoints import read_checkpoint_meta

    tensors, meta = load_file(str(path)), read_checkpoint_meta(path)
    edit(meta)
    save_file(tensors, str(path), metadata={"cance": json.dumps(meta)})


@pytest.mark.parametrize("stage, edit", [
    ("nce", lambda m: m["params"].__setitem__("hidden", 30_000)),
    ("nce", lambda m: m.__setitem__("columns", [f"c{i}" for i in range(30_000)])),
    ("ae", lambda m: m["model_config"].__setitem__("hidden", [30_000, 30_000])),
])
def test_metadata_that_declares_huge_widths_is_refused_before_allocating(w, tmp_path, stage, edit):
    ckpt = tmp_path / f"{stage}.safetensors"
    shutil.copy(w / "model" / f"{stage}.safetensors", ckpt)
    _rewrite_checkpoint(ckpt, edit)
    if stage == "nce":
        args = ["score", w / "feats.parquet", "--nce", ckpt, "--out", tmp_path / "s.parquet", "--force"]
    else:
        args = ["features", w / "train.parquet", "--ae", ckpt, "--out", tmp_path / "f.parquet"]
    code, err, peak = _peak_rss_mb(args)
    assert code == 2 and err.startswith("Error: ") and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert peak < 1500, f"{peak:.0f} MB before refusing"  # a 30,000-wide layer alone is 3.6 GB


def test_a_batch_larger_than_the_data_is_clamped(tmp_path):
    from cance_cli.training.mpdr import MPDR
    from cance_cli.training.nae import NormalizedAutoencoder

    x = np.random.default_rng(0).random((40, 1, 28, 28)).astype(np.float32)
    for cls in (NormalizedAutoencoder, MPDR):
        model = cls(batch_size=100_000, steps=1, ae_epochs=1, seed=0, verbose=False).fit(x)
        assert model.batch_size_ == 40 and np.isfinite(model.score_samples(x[:5])).all()


def test_a_crafted_cifar_batch_is_refused(tmp_path):
    folder = tmp_path / "cifar"
    folder.mkdir()
    # protocol-2 pickle: {b"data": numpy _reconstruct(ndarray, (2000, 3072), b"b") with no state, b"labels": []}
    payload = (b"\x80\x02}q\x00(C\x04dataq\x01cnumpy.core.multiarray\n_reconstruct\nq\x02cnumpy\nndarray\nq\x03"
               b"M\xd0\x07M\x00\x0c\x86q\x04C\x01bq\x05\x87q\x06Rq\x07C\x06labelsq\x08]q\tu.")
    assert len(payload) < 200
    (folder / "data_batch_1").write_bytes(payload)
    _refused(("train-ae", folder, "--out", tmp_path / "ae.safetensors", "--epochs", "1"), "no data", tmp_path)
    # an array whose bytes are all there but fewer than its declared images
    import pickle

    real = pickle.dumps({b"data": np.zeros((4, 100), np.uint8), b"labels": [0, 1, 2, 3]}, protocol=2)
    (folder / "data_batch_1").write_bytes(real)
    _refused(("train-ae", folder, "--out", tmp_path / "ae.safetensors", "--epochs", "1"), "N x 3072", tmp_path)


def test_an_idx_header_whose_dimensions_overflow_is_refused(tmp_path):
    folder = tmp_path / "idx"
    folder.mkdir()
    header = struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">3I", 2**32 - 1, 2**32 - 1, 2**31)
    (folder / "train-images-idx3-ubyte").write_bytes(header + bytes(16))
    _refused(("train-ae", folder, "--out", tmp_path / "ae.safetensors"), "declares", tmp_path)


# --------------------------------------------------------------------------- 9. a killed fit's child


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the forked child is Linux only")
def test_kill_9_of_fit_takes_its_child_along_and_the_next_run_removes_its_folder(tmp_path):
    _write_table(tmp_path / "big.parquet", n=20_000)
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "cance_cli", "fit", str(tmp_path / "big.parquet"),
                             "--out", str(tmp_path / "model"), "--views", "composite+input", "-q",
                             "--device", "cpu"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    children: list[int] = []
    while time.monotonic() < deadline and not children and proc.poll() is None:
        time.sleep(0.1)
        children = _children(proc.pid)
    if not children:
        proc.kill()
        pytest.skip("the fit did not fork a child here (one torch thread, or it finished first)")
    folders = list(Path(tempfile.gettempdir()).glob(f"cance-track-{proc.pid}-*"))
    assert folders, "the child's folder is named by the parent's pid"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(c) for c in children):
        time.sleep(0.1)
    assert not any(_alive(c) for c in children), "the child outlived its killed parent"
    assert not (tmp_path / "model").exists()
    from cance_cli.runtime.concurrent import remove_stale_track_folders

    remove_stale_track_folders()  # what the next fit does first
    assert not any(f.exists() for f in folders)


# --------------------------------------------------------------------------- 10-11. silent wrong results


def test_a_damaged_parquet_page_is_refused_and_a_table_without_checksums_still_reads(w, tmp_path):
    import pyarrow.parquet as pq

    data = bytearray((w / "feats.parquet").read_bytes())
    middle = len(data) // 3
    data[middle:middle + 64] = bytes(64)
    (tmp_path / "damaged.parquet").write_bytes(bytes(data))
    _refused(("score", tmp_path / "damaged.parquet", "--nce", w / "model" / "nce.safetensors",
              "--out", tmp_path / "s.parquet"), "corrupt", tmp_path)
    plain = tmp_path / "plain.parquet"
    pq.write_table(pq.read_table(w / "feats.parquet"), plain)  # no page checksums, as other tools write
    result = cli("score", plain, "--nce", w / "model" / "nce.safetensors", "--out", tmp_path / "s.parquet", "-q")
    assert result.exit_code == 0, result.output


def test_every_accepted_id_type_is_written_back_unchanged(w, tmp_path):
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 240
    ids = {
        "float": pa.array([i + 0.5 if i % 7 else None for i in range(n)], pa.float64()),
        "text with empty cells": pa.array([f"t{i}" if i % 5 else None for i in range(n)]),
        "dates": pa.array([datetime.date(2024, 1, 1) + datetime.timedelta(days=i) for i in range(n)]),
        "timestamps": pa.array([datetime.datetime(2024, 1, 1, i % 24) if i % 9 else None for i in range(n)],
                               pa.timestamp("us")),
        "booleans": pa.array([bool(i % 2) if i % 3 else None for i in range(n)]),
    }
    for kind, column in ids.items():
        table = _write_table(tmp_path / "rows.parquet", extra={"id": column})
        out = tmp_path / "s.parquet"
        result = cli("predict", table, "--model", w / "model", "--out", out, "-q")
        assert result.exit_code == 0, (kind, result.output)
        assert pq.read_table(out).column("id").combine_chunks().equals(column), kind
        result = cli("features", table, "--ae", w / "model" / "ae.safetensors", "--out", tmp_path / "f.parquet", "-q")
        assert result.exit_code == 0, (kind, result.output)
        assert pq.read_table(tmp_path / "f.parquet").column("id").combine_chunks().equals(column), kind


# --------------------------------------------------------------------------- 12. a full disk


def _mount_small_disk(folder: Path, size_kb: int) -> bool:
    folder.mkdir()
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
                          capture_output=True)
    return done.returncode == 0


def _fill(folder: Path, leave_kb: int) -> None:
    free = shutil.disk_usage(folder).free
    with open(folder / "filler", "wb") as fh:
        fh.write(bytes(max(free - leave_kb * 1024, 0)))


def test_a_full_disk_is_one_sentence_and_older_outputs_survive(w, tmp_path):
    disk = tmp_path / "disk"
    if not _mount_small_disk(disk, 1024):
        pytest.skip("cannot mount a small tmpfs here (needs root and mount rights); "
                    "test_a_full_disk_reported_by_a_library_is_one_sentence covers the message")
    try:
        ok = cli("fit", w / "train.parquet", "--out", disk / "model", "--views", "composite+input", *FAST)
        assert ok.exit_code == 0, ok.output
        assert cli("predict", w / "train.parquet", "--model", disk / "model", "--out", disk / "s.parquet",
                   "-q").exit_code == 0
        _fill(disk, 0)
        before = _snapshot(disk)
        for args in (("fit", w / "train.parquet", "--out", disk / "model", "--views", "composite+input", *FAST),
                     # train-ae and features write through the same helpers; the library-level test below
                     # covers their message (each command here costs a fresh process: 36 s -> about 20 s).
                     ("predict", _write_table(tmp_path / "many.parquet", n=2_000), "--model", disk / "model",
                      "--out", disk / "s.parquet")):
            proc = subprocess.run([sys.executable, "-m", "cance_cli", *map(str, args)], capture_output=True,
                                  text=True, timeout=300)
            errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("Error: ")]
            assert proc.returncode == 2 and "Traceback" not in proc.stderr, (args[0], proc.stderr)
            assert len(errors) == 1 and f"disk holding {disk}" in errors[0], (args[0], proc.stderr)
            assert _snapshot(disk) == before, args[0]
            assert sorted(p.name for p in disk.iterdir()) == ["filler", "model", "s.parquet"], args[0]
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_a_full_disk_reported_by_a_library_is_one_sentence(w, tmp_path, monkeypatch):
    import safetensors.numpy

    def no_space(*args, **kwargs):
        raise RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(safetensors.numpy, "save_file", no_space)
    _refused(("train-ae", w / "train.parquet", "--out", tmp_path / "ae.safetensors", "--epochs", "1", "--latent", "2"),
             "is full", tmp_path)


def test_a_failed_allocation_is_one_sentence(w, tmp_path, monkeypatch):
    from cance_cli.estimator import CANCE

    def out_of_memory(self, *args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(CANCE, "fit", out_of_memory)
    _refused(("fit", w / "train.parquet", "--out", tmp_path / "m", "-q"), "Ran out of memory", tmp_path)


# --------------------------------------------------------------------------- 13-14. tracebacks and messages


def test_a_dangling_link_as_output_is_refused_before_any_work(w, tmp_path):
    os.symlink(tmp_path / "nowhere", tmp_path / "link")
    _refused(("fit", w / "train.parquet", "--out", tmp_path / "link", *FAST), "symbolic link", tmp_path)
    _refused(("predict", w / "train.parquet", "--model", w / "model", "--out", tmp_path / "link"), "symbolic link",
             tmp_path)


@pytest.mark.parametrize("option, value, fragment", [
    ("--nce-epochs", "0", "--nce-epochs must be"),
    ("--latent", "0", "--latent must be"),
    ("--epochs", "-1", "--epochs must be"),
    ("--batch-size", "0", "--batch-size must be"),
    ("--lam", "nan", "--lam must be"),
    ("--ratio", "0", "--ratio must be"),
    ("--ratio", "1e9", "--ratio must be"),
    ("--knn", "0", "--knn must be"),
    ("--hidden", "0,4", "--hidden must be"),
    ("--device", "gpu", "--device must be"),
])
def test_every_fit_option_is_checked_before_any_work_and_named_as_typed(w, tmp_path, monkeypatch, option, value,
                                                                         fragment):
    from cance_cli.data import sources

    def no_reading(*args, **kwargs):
        raise AssertionError("data was read before the options were checked")

    monkeypatch.setattr(sources, "_load_source", no_reading)
    narrow = _write_table(tmp_path / "narrow.csv")  # 6 columns: the views rule uses no autoencoder here
    _refused(("fit", narrow, "--out", tmp_path / "m", option, value), fragment, tmp_path)


def test_bench_novelty_refuses_text_labels_and_complex_values(tmp_path):
    folder = tmp_path / "tables"
    folder.mkdir()
    x = np.random.default_rng(0).normal(size=(40, 3))
    np.savez(folder / "1_text.npz", X=x, y=np.array(["normal"] * 35 + ["fraud"] * 5))
    _refused(("bench", "novelty", folder, "--out", tmp_path / "out"), "0/1 labels", tmp_path)
    (folder / "1_text.npz").unlink()
    np.savez(folder / "1_complex.npz", X=x + 1j, y=np.array([0] * 35 + [1] * 5))
    _refused(("bench", "novelty", folder, "--out", tmp_path / "out"), "complex", tmp_path)


# --------------------------------------------------------------------------- 15. unnamed columns


def test_a_table_checkpoint_without_column_names_is_refused_unless_by_position(tmp_path):
    from cance_cli.estimator import CANCE

    table = _write_table(tmp_path / "rows.csv")
    x = np.random.default_rng(0).normal(size=(200, 6)).astype(np.float32)
    CANCE(views="input", nce_epochs=2).fit(x).save(tmp_path / "model")  # an unnamed array: no column names
    _refused(("predict", table, "--model", tmp_path / "model", "--out", tmp_path / "s.parquet"), "--by-position",
             tmp_path)
    result = cli("predict", table, "--model", tmp_path / "model", "--out", tmp_path / "s.parquet", "--by-position",
                 "-q")
    assert result.exit_code == 0, result.output
