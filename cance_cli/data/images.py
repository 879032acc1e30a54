"""Readers of image sources: MNIST-style idx files, CIFAR-10 python batches, folders of image files.

Each returns a :class:`~cance_cli.data.dataset.Dataset` of uint8 images (scaled to [0, 1] batch by batch).
"""

from __future__ import annotations

import gzip
import math
import pickle
import struct
from pathlib import Path

import numpy as np

from cance_cli.data.dataset import Dataset
from cance_cli.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


# --------------------------------------------------------------------------- idx (MNIST)


def find_idx(folder: Path, split: str, what: str) -> Path | None:
    prefix = "train" if split == "train" else "t10k"
    ndim = 3 if what == "images" else 1
    for sep in ("-", "."):
        for gz in (".gz", ""):
            candidate = folder / f"{prefix}-{what}{sep}idx{ndim}-ubyte{gz}"
            if candidate.exists():
                return candidate
    return None


def read_idx(path: Path) -> np.ndarray:
    """Parse an idx file (gzip-compressed or raw) into an array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise DataError(f"Cannot read idx file {path}: {exc}; re-download it.") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path} is not an idx file (bad magic number); check the file.")
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise DataError(f"{path} has an unknown idx element type 0x{data[2]:02x}.")
    ndim = data[3]
    if ndim == 0 or len(data) < 4 + 4 * ndim:
        raise DataError(f"{path} has a short or empty idx header; the file is truncated, so re-download it.")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    expected = math.prod(shape)  # Python integers: a header's product can exceed int64 (np.prod wraps around)
    itemsize = np.dtype(dtypes[data[2]]).itemsize
    if (len(data) - 4 - 4 * ndim) % itemsize:
        raise DataError(f"{path} is truncated mid-value; re-download it.")
    arr = np.frombuffer(data, dtype=dtypes[data[2]], offset=4 + 4 * ndim)
    if arr.size != expected:
        raise DataError(f"{path} is truncated or damaged: its header declares {expected} values, the file holds "
                        f"{arr.size}; re-download it.")
    return arr.reshape(shape)


def load_idx_dir(folder: Path, split: str) -> Dataset:
    parts = ["train", "test"] if split == "all" else [split]
    xs, ys, ids = [], [], []
    offset = 0
    for part in parts:
        img_path = find_idx(folder, part, "images")
        if img_path is None:
            prefix = "train" if part == "train" else "t10k"
            raise DataError(f"{folder} has no {part} images (expected {prefix}-images-idx3-ubyte[.gz]).")
        x = read_idx(img_path)
        lab_path = find_idx(folder, part, "labels")
        y = read_idx(lab_path).astype(np.int64) if lab_path is not None else None
        if y is not None and len(y) != len(x):
            raise DataError(f"{lab_path} has {len(y)} labels for {len(x)} images; the files do not match.")
        xs.append(x[:, None, :, :])
        ys.append(y)
        ids.append(np.arange(len(x), dtype=np.int64) + offset)
        offset += len(x)
    y_all = None if any(y is None for y in ys) else np.concatenate(ys)
    return Dataset(
        x=np.concatenate(xs), y=y_all, ids=np.concatenate(ids), kind="image",
        source=str(folder), split=split, pixel_scale=1.0 / 255.0,
    )


# --------------------------------------------------------------------------- CIFAR-10


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that builds only plain containers and numpy arrays.

    CIFAR-10's "python version" batches are pickles; refusing every other
    global means a crafted file cannot run code.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            found = super().find_class(module, name)
            return _empty_reconstruct(found) if name == "_reconstruct" else found
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _empty_reconstruct(reconstruct):
    """numpy's ``_reconstruct`` for the only call a real pickle makes: an empty array that ``__setstate__``
    then fills from bytes the file holds. Any other shape would allocate memory the file never fills
    (a 189-byte pickle declaring 2,000 images gave 2,000 uninitialised ones)."""
    def guarded(subtype, shape, dtype):
        if tuple(np.atleast_1d(shape)) != (0,):
            raise pickle.UnpicklingError(f"an array declared with shape {shape} but no data")
        return reconstruct(subtype, shape, dtype)

    return guarded


CIFAR_IMAGE_BYTES = 3 * 32 * 32


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            batch = _ArrayOnlyUnpickler(fh, encoding="bytes").load()
        data = batch[b"data"]
        labels = np.asarray(batch.get(b"labels", batch.get(b"fine_labels")), dtype=np.int64)
        if not isinstance(data, np.ndarray):
            raise ValueError("no image array")
        data = np.asarray(data, dtype=np.uint8)
    except Exception as exc:
        raise DataError(f"{path} is not a CIFAR-10 python batch ({exc}); check the file.") from None
    if data.ndim != 2 or data.shape[1] != CIFAR_IMAGE_BYTES or len(data) == 0 or labels.shape != (len(data),) \
            or data.nbytes > path.stat().st_size:
        raise DataError(f"{path} is not a CIFAR-10 python batch (its image array has shape {data.shape} for "
                        f"{labels.size} labels in a {path.stat().st_size}-byte file; expected N x 3072 with N labels); "
                        "check the file.")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar_dir(folder: Path, split: str) -> Dataset:
    names = {
        "train": sorted(folder.glob("data_batch_*")),
        "test": [folder / "test_batch"] if (folder / "test_batch").exists() else [],
    }
    files = names["train"] + names["test"] if split == "all" else names[split]
    if not files:
        raise DataError(f"{folder} has no CIFAR-10 {split} batches (data_batch_N / test_batch).")
    xs, ys = zip(*(_read_cifar_batch(f) for f in files))
    x = np.concatenate(xs)
    return Dataset(
        x=x, y=np.concatenate(ys), ids=np.arange(len(x), dtype=np.int64), kind="image",
        source=str(folder), split=split, pixel_scale=1.0 / 255.0,
    )


# --------------------------------------------------------------------------- image folder


def _open_image(Image, path: Path, mode: str | None = None):
    """Open (and decode) one image; a file that is not one becomes one sentence."""
    try:
        img = Image.open(path)
        return img.convert(mode) if mode else img
    except Exception:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, ...
        raise DataError(f"{path} is not a readable image although its name says so; remove or replace it.") \
            from None


def load_image_folder(folder: Path, split: str) -> Dataset:
    try:
        from PIL import Image
    except ImportError:
        raise DataError("Reading image folders needs Pillow; run `pip install 'cance[images]'`.") from None
    roots = [folder]
    has_splits = (folder / "train").is_dir() and (folder / "test").is_dir()
    if has_splits:
        roots = [folder / "train", folder / "test"] if split == "all" else [folder / split]
    files: list[tuple[Path, str]] = []
    for root in roots:
        for cls_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            files += [
                (f, cls_dir.name)
                for f in sorted(cls_dir.rglob("*"))
                if f.suffix.lower() in IMAGE_SUFFIXES
            ]
    if not files:
        raise DataError(f"{folder} has class sub-folders but no PNG/JPEG images in them.")
    first = _open_image(Image, files[0][0])
    mode = "RGB" if first.mode in ("RGB", "RGBA", "P", "CMYK") else "L"
    size = first.size
    arrays = []
    for path, _ in files:
        img = _open_image(Image, path, mode)
        if img.size != size:
            raise DataError(
                f"{path} is {img.size[0]}x{img.size[1]} but the first image is {size[0]}x{size[1]}; "
                "resize the folder's images to one size."
            )
        arr = np.asarray(img, dtype=np.uint8)
        arrays.append(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
    labels = np.array([cls for _, cls in files])
    if all(lbl.lstrip("-").isdigit() for lbl in labels):
        labels = labels.astype(np.int64)
    ids = np.array([str(p.relative_to(folder)) for p, _ in files])
    return Dataset(
        x=np.stack(arrays), y=labels, ids=ids, kind="image", source=str(folder),
        split=split if has_splits else "all", pixel_scale=1.0 / 255.0,
    )
