"""Data sources behind one :class:`Dataset` interface."""

from cance_cli.data.dataset import Dataset, parse_normal, train_val_indices
from cance_cli.data.sources import load_data

__all__ = ["Dataset", "load_data", "parse_normal", "train_val_indices"]
