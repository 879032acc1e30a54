"""Evaluation protocols as train/test splits.

A :class:`Split` holds normal-only training rows and a labelled test set;
``normal`` names the test labels that count as normal. Every detector in a
benchmark sees the same split. Protocols (METHOD "Evaluation protocols"):

- ``one-class``: each class in turn is normal;
- ``multimodal``: a given set of classes is normal (e.g. {0,1});
- ``leave-one-out``: all classes but one are normal;
- ``corrupted``: all of the training set is normal; the clean test set is
  normal and one corrupted copy of it (per corruption) is anomalous;
- ``tabular``: half of the normal rows (drawn with the seed) train, the
  other half and every anomaly test;
- ``novelty``: the ADBench novelty protocol on every ``.npz``/``.mat`` table
  of a folder (:mod:`cance_cli.bench.novelty`);
- ``holdout``: the talk's name for leave-one-out on MNIST (train on nine
  digits, the tenth is the anomaly), with the energy-based detectors;
- ``ood``: data set against data set: train on every training image of the
  source; its test images are normal, another set of the same shape is
  anomalous (another source's test split, ``constant`` grey images or
  uniform ``noise``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from cance_cli.data.dataset import Dataset
from cance_cli.errors import ConfigError, DataError

PROTOCOLS = ("one-class", "multimodal", "leave-one-out", "corrupted", "tabular", "novelty", "holdout", "ood")
SYNTHETIC_OOD = ("constant", "noise")
DEFAULT_MULTIMODAL = (("0", "1"), ("0", "8"), ("1", "8"))


@dataclass
class Split:
    """One train/test split of a protocol.

    ``name`` identifies it within the protocol (a class, a class set, a
    corruption or a data set); ``seed`` is the split seed (only the tabular
    protocol draws one; elsewhere the split is fixed and the seed only seeds
    the detectors).
    """

    protocol: str
    name: str
    train: Dataset
    test: Dataset
    normal: list[str]
    seed: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_anomaly(self) -> np.ndarray:
        return ~np.isin(self.test.y.astype(str), self.normal)

    def describe(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "split": self.name, "normal": ",".join(self.normal),
                "split_seed": self.seed, "n_train": len(self.train), "n_test": len(self.test),
                "n_test_anomalies": int(self.is_anomaly.sum()), **self.meta}


def _relabel(ds: Dataset, y: np.ndarray) -> Dataset:
    return replace(ds, y=np.asarray(y, dtype=np.int64))


def _labels_of(train: Dataset, test: Dataset) -> list[str]:
    if train.y is None or test.y is None:
        raise DataError(f"{train.source} has no labels; class-based protocols need them.")
    return train.label_values()


def _check_classes(train: Dataset, classes) -> None:
    missing = [c for c in classes if c not in train.label_values()]
    if missing:
        raise ConfigError(f"Class {','.join(missing)} is not in {train.source} "
                          f"(classes: {','.join(train.label_values())}); pick from those.")


def _class_split(protocol: str, train: Dataset, test: Dataset, normal: list[str], name: str) -> Split:
    _check_classes(train, normal)
    train_normal = train.subset(train.normal_mask(normal))
    return Split(protocol, name, train_normal, test, list(normal))


def one_class(train: Dataset, test: Dataset, classes: list[str] | None = None) -> Iterator[Split]:
    """Each class in turn normal; the whole test set is scored."""
    for cls in classes or _labels_of(train, test):
        yield _class_split("one-class", train, test, [cls], cls)


def multimodal(train: Dataset, test: Dataset, sets=DEFAULT_MULTIMODAL) -> Iterator[Split]:
    """Each given set of classes normal in turn."""
    _labels_of(train, test)
    for normal in sets:
        yield _class_split("multimodal", train, test, list(normal), "{" + ",".join(normal) + "}")


def leave_one_out(train: Dataset, test: Dataset, classes: list[str] | None = None) -> Iterator[Split]:
    """Every class but one normal; the one left out is the anomaly."""
    labels = _labels_of(train, test)
    for cls in classes or labels:
        yield _class_split("leave-one-out", train, test, [c for c in labels if c != cls], cls)


def holdout(train: Dataset, test: Dataset, classes: list[str] | None = None) -> Iterator[Split]:
    """Leave-one-out under the talk's name: nine classes normal, the held-out one anomalous."""
    for split in leave_one_out(train, test, classes):
        yield replace(split, protocol="holdout")


def ood_images(name: str, like: Dataset, n: int, seed: int = 0) -> np.ndarray:
    """``n`` out-of-distribution images shaped like ``like``'s, in [0, 1] (float32).

    ``constant``: one grey level per image, uniform in [0, 1]; ``noise``: every
    pixel uniform in [0, 1]; anything else: a source spec whose test split is
    read (its first ``n`` images), which must have ``like``'s image shape.
    """
    shape = like.sample_shape
    rng = np.random.default_rng(seed)
    if name == "constant":
        return (rng.uniform(0, 1, (n,) + (1,) * len(shape)) * np.ones((1, *shape))).astype(np.float32)
    if name == "noise":
        return rng.uniform(0, 1, (n, *shape)).astype(np.float32)
    from cance_cli.data.sources import load_data

    other = load_data(name, "test")
    if other.kind != "image" or other.sample_shape != shape:
        raise DataError(f"{name} holds {other.kind}s of shape {other.sample_shape}, not images of shape {shape} like "
                        f"{like.source}; give a set of the same image shape, constant or noise.")
    return other.batch(slice(0, min(n, len(other))))


def ood(train: Dataset, test: Dataset, sets: list[str], max_test: int | None = None) -> Iterator[Split]:
    """Train on every training image; test the source's test images (normal, label 0)
    against each out-of-distribution set in turn (anomalous, label 1; as many images)."""
    if train.kind != "image":
        raise DataError("The ood protocol compares image data sets; give an image source.")
    clean = test if max_test is None else test.subset(np.arange(min(max_test, len(test))))
    train_all = _relabel(train, np.zeros(len(train)))
    images = clean.batch(slice(None))
    for name in sets:
        out = ood_images(name, clean, len(clean))
        label = name if name in SYNTHETIC_OOD else Path(name.rstrip("/")).name
        x = np.concatenate([images, out])
        ids = np.arange(len(x))
        test_set = Dataset(x=x, y=np.repeat([0, 1], [len(images), len(out)]).astype(np.int64), ids=ids,
                           kind="image", source=f"{clean.source} vs {label}", split="test")
        yield Split("ood", label, train_all, test_set, ["0"], 0, {"ood_set": name, "train_key": "all-train"})


def corrupted(train: Dataset, test: Dataset, corruptions: list[str] | None = None, seed: int = 0,
              max_test: int | None = None) -> Iterator[Split]:
    """Train on every training image; test clean test images (normal, label 0)
    against a corrupted copy of the same images (anomalous, label 1)."""
    from cance_cli.bench.corruptions import CORRUPTIONS, corrupt

    if train.kind != "image" or train.x.shape[1] != 1:
        raise DataError("The corrupted protocol needs grayscale images (e.g. MNIST).")
    clean = test if max_test is None else test.subset(np.arange(min(max_test, len(test))))
    train_all = _relabel(train, np.zeros(len(train)))
    images = clean.batch(slice(None))
    for name in corruptions or list(CORRUPTIONS):
        bad = corrupt(images, name, seed)
        x = np.concatenate([images, bad])
        ids = np.concatenate([clean.ids, clean.ids + (int(clean.ids.max()) + 1)])
        test_set = Dataset(x=x, y=np.repeat([0, 1], len(clean)).astype(np.int64), ids=ids, kind="image",
                           source=f"{clean.source}+{name}", split="test")
        yield Split("corrupted", name, train_all, test_set, ["0"], seed,
                    {"corruption_seed": seed, "train_key": "all-train"})


def tabular(name: str, folder: str | Path, seed: int, train_fraction: float = 0.5) -> Split:
    """Half of the normal rows (a seeded draw) train; the rest and all anomalies test."""
    from cance_cli.data.tabular import load_tabular

    x, is_anomaly, names = load_tabular(name, folder)
    normal_rows = np.flatnonzero(~is_anomaly)
    order = np.random.default_rng(seed).permutation(normal_rows)
    n_train = int(round(train_fraction * len(order)))
    train_idx = np.sort(order[:n_train])
    test_idx = np.sort(np.concatenate([order[n_train:], np.flatnonzero(is_anomaly)]))
    source = str(Path(folder) / name)

    def part(idx: np.ndarray, split: str) -> Dataset:
        return Dataset(x=x[idx], y=is_anomaly[idx].astype(np.int64), ids=idx.astype(np.int64), kind="table",
                       source=source, split=split, feature_names=names)

    return Split("tabular", name, part(train_idx, "train"), part(test_idx, "test"), ["0"], seed,
                 {"train_fraction": train_fraction})


def novelty(path: Path, seed: int, contaminated: bool = False) -> Split:
    """One table of a folder under the ADBench novelty protocol (already standardised); ``contaminated``: the
    unsupervised setting (training rows include unlabelled anomalies)."""
    from cance_cli.bench.novelty import novelty_split

    ns = novelty_split(path, seed, contaminated)
    names = [f"x_{j}" for j in range(ns.x_train.shape[1])]
    train = Dataset(x=ns.x_train, y=np.zeros(len(ns.x_train), dtype=np.int64),
                    ids=np.arange(len(ns.x_train), dtype=np.int64), kind="table", source=str(path), split="train",
                    feature_names=names)
    test = Dataset(x=ns.x_test, y=ns.y_test.astype(np.int64), ids=np.arange(len(ns.x_test), dtype=np.int64),
                   kind="table", source=str(path), split="test", feature_names=names)
    # Its own protocol name: work folders and finished rows of the two settings never mix.
    source = "adbench-unsupervised" if contaminated else "adbench-novelty"
    return Split("novelty-contaminated" if contaminated else "novelty", ns.name, train, test, ["0"], seed,
                 {"protocol_source": source, "contaminated": contaminated})


def _novelty_files(data: str, datasets: list[str] | None) -> list[Path]:
    from cance_cli.bench.novelty import dataset_name, table_files

    if not Path(data).is_dir():
        raise DataError(f"{data} is not a folder; the novelty protocol reads every .npz/.mat table in a folder.")
    files = table_files(Path(data))
    if datasets:
        known = {dataset_name(f): f for f in files}
        unknown = [d for d in datasets if d not in known]
        if unknown:
            raise ConfigError(f"No table '{unknown[0]}' in {data}; choose from {', '.join(known)}.")
        files = [known[d] for d in datasets]
    return files


def make_splits(protocol: str, data: str, classes: list[str] | None = None,
                sets: list[list[str]] | None = None, corruptions: list[str] | None = None,
                datasets: list[str] | None = None, max_test: int | None = None,
                ood_sets: list[str] | None = None, contaminated: bool = False):
    """``seed -> splits`` for ``protocol`` on ``data`` (a source spec, or the
    folder of the tabular files). Image data is read once, here. ``contaminated``: novelty's unsupervised
    setting."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"Unknown protocol '{protocol}'; choose from {', '.join(PROTOCOLS)}.")
    if contaminated and protocol != "novelty":
        raise ConfigError("`contaminated` is a setting of the novelty protocol; drop it or use novelty.")
    if protocol == "novelty":
        files = _novelty_files(data, datasets)
        return lambda seed: (novelty(path, seed, contaminated) for path in files)
    if protocol == "tabular":
        from cance_cli.data.tabular import FILES

        names = datasets or list(FILES)
        for name in names:  # fail before any training if a file is missing
            if name not in FILES:
                raise ConfigError(f"Unknown tabular data set '{name}'; choose from {', '.join(FILES)}.")
            if not (Path(data) / FILES[name]).exists():
                raise DataError(f"{Path(data) / FILES[name]} not found; point DATA at the folder holding "
                                f"{FILES[name]}.")
        return lambda seed: (tabular(name, data, seed) for name in names)

    from cance_cli.data.sources import load_data

    train, test = load_data(data, "train"), load_data(data, "test")
    if protocol == "ood":
        chosen = ood_sets or list(SYNTHETIC_OOD)
        for name in chosen:  # every set readable and of the right shape before any training
            ood_images(name, test, 1)
        return lambda seed: ood(train, test, chosen, max_test)
    if protocol != "corrupted":  # fail before any training, not at the split that names a wrong class
        _labels_of(train, test)
        _check_classes(train, [c for group in (sets or []) for c in group] + (classes or []))
    if max_test is not None and protocol != "corrupted":
        test = test.subset(np.sort(np.random.default_rng(0).permutation(len(test))[:max_test]))
    if protocol == "one-class":
        return lambda seed: one_class(train, test, classes)
    if protocol == "multimodal":
        return lambda seed: multimodal(train, test, sets or DEFAULT_MULTIMODAL)
    if protocol == "leave-one-out":
        return lambda seed: leave_one_out(train, test, classes)
    if protocol == "holdout":
        return lambda seed: holdout(train, test, classes)
    # Corruptions are drawn with a fixed seed: every detector seed sees the same anomalies.
    return lambda seed: corrupted(train, test, corruptions, 0, max_test)
