import gzip
import pickle
import struct

import numpy as np
import pytest

from cance_cli.data import load_data, parse_normal, train_val_indices
from cance_cli.errors import CanceError, ConfigError, DataError
from tests.conftest import shared_path


def _write_idx(path, arr, compress):
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    (gzip.open if compress else open)(path, "wb").write(data)


@pytest.mark.parametrize("compress", [True, False])
def test_idx_folder_reads_both_splits(tmp_path, compress):
    sfx = ".gz" if compress else ""
    rng = np.random.default_rng(0)
    tr, te = rng.integers(0, 256, (7, 28, 28)), rng.integers(0, 256, (3, 28, 28))
    _write_idx(tmp_path / f"train-images-idx3-ubyte{sfx}", tr, compress)
    _write_idx(tmp_path / f"train-labels-idx1-ubyte{sfx}", np.arange(7) % 3, compress)
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{sfx}", te, compress)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{sfx}", np.array([0, 1, 2]), compress)
    train = load_data(str(tmp_path), "train")
    test = load_data(str(tmp_path), "test")
    assert train.x.shape == (7, 1, 28, 28) and test.x.shape == (3, 1, 28, 28)
    assert train.batch(slice(None)).dtype == np.float32
    np.testing.assert_allclose(train.batch(slice(0, 1))[0, 0], tr[0] / 255.0, rtol=1e-6)
    assert list(train.y) == [0, 1, 2, 0, 1, 2, 0]
    assert len(load_data(str(tmp_path), "all")) == 10


def test_real_mnist_counts():
    folder = shared_path("mnist")
    test = load_data(str(folder), "test")
    assert test.x.shape == (10000, 1, 28, 28)
    assert np.bincount(test.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_cifar_python_batches(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("data_batch_1", 4), ("data_batch_2", 3), ("test_batch", 2)):
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(range(n))}
        with open(tmp_path / name, "wb") as fh:
            pickle.dump(batch, fh, protocol=2)
    train = load_data(str(tmp_path), "train")
    assert train.x.shape == (7, 3, 32, 32) and train.kind == "image"
    assert len(load_data(str(tmp_path), "test")) == 2


def test_cifar_loader_refuses_code_in_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    with open(tmp_path / "data_batch_1", "wb") as fh:
        pickle.dump({b"data": Evil(), b"labels": [0]}, fh)
    with pytest.raises(DataError, match="not a CIFAR-10 python batch"):
        load_data(str(tmp_path), "train")


def test_image_folder_labels_from_subfolders(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    for cls in ("good", "bad"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.fromarray(np.full((12, 12), 40 * i, dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    ds = load_data(str(tmp_path))
    assert ds.x.shape == (4, 1, 12, 12)
    assert sorted(set(ds.y)) == ["bad", "good"]
    assert ds.ids[0] == "bad/0.png"
    assert ds.normal_mask(["good"]).sum() == 2


def test_npz_mat_parquet_csv_tables(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from scipy.io import savemat

    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    y = np.array([0, 0, 1, 0])
    np.savez(tmp_path / "a.npz", x=x, y=y)
    savemat(tmp_path / "a.mat", {"X": x, "y": y[:, None].astype(float)})
    pq.write_table(pa.table({"f0": x[:, 0], "f1": x[:, 1], "f2": x[:, 2], "cls": y}), tmp_path / "a.parquet")
    (tmp_path / "a.csv").write_text("f0,f1,f2,cls\n" + "\n".join(",".join(map(str, [*r, c])) for r, c in zip(x, y)))
    for name, label_col in (("a.npz", None), ("a.mat", None), ("a.parquet", "cls"), ("a.csv", "cls")):
        ds = load_data(str(tmp_path / name), label_col=label_col)
        assert ds.kind == "table" and ds.x.shape == (4, 3) and ds.x.dtype == np.float32, name
        assert list(ds.y) == [0, 0, 1, 0], name


def test_builtin_digits_has_disjoint_splits():
    train, test = load_data("builtin:digits", "train"), load_data("builtin:digits", "test")
    assert len(train) + len(test) == 1797
    assert not set(train.ids) & set(test.ids)
    assert train.sample_shape == (1, 8, 8) and train.batch(slice(None)).max() == 1.0


def _write(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: str(p / "missing.npz"), "does not exist"),
        (lambda p: _write(p / "x.xyz", "1"), "unknown format"),
        (lambda p: _write(p / "n.csv", "a,b\n1,nan\n2,3\n"), "NaN"),
        (lambda p: _write(p / "s.csv", "a,b\n1,x\n2,y\n"), "not numeric"),
        (lambda p: "builtin:iris", "Unknown builtin"),
    ],
)
def test_bad_sources_raise_clear_errors(tmp_path, make, message):
    with pytest.raises(DataError, match=message):
        load_data(make(tmp_path))


def test_missing_label_column_and_empty_normal_class(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(DataError, match="no label column 'cls'"):
        load_data(str(tmp_path / "t.csv"), label_col="cls")
    ds = load_data("builtin:digits")
    with pytest.raises(DataError, match="have label 42"):
        ds.normal_mask(["42"])
    with pytest.raises(ConfigError):
        load_data(str(tmp_path / "t.csv")).normal_mask(["1"])


def test_parse_normal_and_val_split():
    assert parse_normal("0, 1") == ["0", "1"] and parse_normal(None) is None
    tr, va = train_val_indices(100, 0.1, seed=3)
    assert len(va) == 10 and not set(tr) & set(va) and len(tr) + len(va) == 100
    np.testing.assert_array_equal(va, train_val_indices(100, 0.1, seed=3)[1])
    with pytest.raises(CanceError):
        train_val_indices(10, 1.5, 0)
