from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(os.environ.get("CANCE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """Path under the shared data folder, or skip the test saying why."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not present at {path} (set CANCE_SHARED_DATA to its folder)")
    return path


@pytest.fixture(autouse=True)
def _few_threads():
    import torch

    torch.set_num_threads(1)  # the test models are tiny: one thread is faster than two


@pytest.fixture
def blobs_npz(tmp_path) -> Path:
    """A small table: class 0 is one Gaussian blob, class 1 another."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (150, 6)), rng.normal(4, 1, (30, 6))]).astype(np.float32)
    y = np.array([0] * 150 + [1] * 30)
    path = tmp_path / "blobs.npz"
    np.savez(path, x=x, y=y)
    return path


@pytest.fixture
def tiny_images_npz(tmp_path) -> Path:
    """28x28 uint8 images in two classes (bright top half vs bright bottom half)."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 40, (120, 28, 28), dtype=np.uint8)
    x[:80, :14] += 200
    x[80:, 14:] += 200
    y = np.array([0] * 80 + [1] * 40)
    path = tmp_path / "imgs.npz"
    np.savez(path, x=x, y=y)
    return path


def write_idx_images(folder: Path, n_train: int = 90, n_test: int = 60, classes: int = 3, seed: int = 0) -> Path:
    """A small MNIST-like idx folder: 28x28 grey images, class k bright in band k."""
    import gzip
    import struct

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        y = np.arange(n) % classes
        x = rng.integers(0, 40, (n, 28, 28), dtype=np.uint8)
        for k in range(classes):
            x[y == k, 9 * k:9 * k + 9] += 200
        for what, arr in (("images-idx3", x), ("labels-idx1", y)):
            header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
            with gzip.open(folder / f"{prefix}-{what}-ubyte.gz", "wb") as fh:
                fh.write(header + arr.astype(np.uint8).tobytes())
    return folder


def cli(*args):
    """Invoke the `cance` app through Typer's runner with stringified arguments."""
    from typer.testing import CliRunner

    from cance_cli.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def one_error_line(result, code: int = 2) -> str:
    """Assert the run failed with ``code`` and printed one 'Error: ...' line, no traceback."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]
