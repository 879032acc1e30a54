"""Where in an image the score comes from: per-pixel anomaly maps of a fitted image model.

- **Occlusion map** (every image model, every view): the image is cut into square patches; a patch's value
  is what the model's score loses when that patch alone is put back to the typical normal image (the
  per-pixel median of the training images), as :mod:`cance_cli.explain` does for a table's columns. It is
  the model's own score, density included, nothing approximated; its resolution is the patch.
- **Reconstruction map** (the autoencoder path): the squared error of the autoencoder's reconstruction per
  pixel (summed over colour channels), at full resolution; the composite feature's error part is its mean.

A model fitted on embeddings of images (`cance embed`) is a table model: its input is the embedding, and
the model folder holds no backbone to map back through.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cance_cli.errors import DataError

MAP_BATCH = 8_192  # images scored per call


def patch_size(height: int, width: int) -> int:
    """The rule: about 7 patches along the shorter side, at least 2 pixels (28 px -> 4, 32 px -> 4)."""
    return max(2, min(height, width) // 7)


def require_image_model(est) -> None:
    """A DataError unless ``est`` is an image model that keeps the typical image maps compare with."""
    if est.settings_.get("kind") != "image":
        raise DataError("anomaly maps are drawn for models fitted on images; explain a table model's rows with "
                        "`explain` K (or CANCE.explain) instead.")
    if getattr(est, "typical_", None) is None:
        raise DataError("this model was written before cance kept the typical image that maps need; fit it again "
                        "with this version.")


def as_images(est, X) -> np.ndarray:
    """``X`` as float32 images ``(N, C, H, W)`` in [0, 1], checked against the model's input shape."""
    from cance_cli.data.dataset import as_storage

    require_image_model(est)
    stored, scale, _ = as_storage(X)
    images = np.asarray(stored, dtype=np.float32) * np.float32(scale)
    if int(np.prod(images.shape[1:])) != len(est.typical_):
        raise DataError(f"the images have {int(np.prod(images.shape[1:]))} values each, but the model was fitted "
                        f"on {len(est.typical_)}; give images of the training size.")
    return images


def occlusion_maps(est, images: np.ndarray, patch: int | None = None) -> np.ndarray:
    """(N, H, W): the score drop when the patch holding each pixel is put back to the typical image."""
    from cance_cli.views.fusion import combine

    n, _, h, w = images.shape
    patch = patch or patch_size(h, w)
    typical = est.typical_.reshape(images.shape[1:]).astype(np.float32)
    cells = [(r, c) for r in range(0, h, patch) for c in range(0, w, patch)]
    step = max(1, MAP_BATCH // (len(cells) + 1))
    maps = np.zeros((n, h, w))
    for start in range(0, n, step):
        some = images[start:start + step]
        block = np.repeat(some[None], len(cells) + 1, axis=0)
        for i, (r, c) in enumerate(cells):
            block[i + 1][:, :, r:r + patch, c:c + patch] = typical[:, r:r + patch, c:c + patch]
        flat = block.reshape((len(cells) + 1) * len(some), *some.shape[1:])
        scores = combine(est.view_scores(flat), est.calibration_).reshape(len(cells) + 1, len(some))
        for i, (r, c) in enumerate(cells):
            maps[start:start + len(some), r:r + patch, c:c + patch] = (scores[0] - scores[i + 1])[:, None, None]
    return maps


def reconstruction_maps(est, images: np.ndarray) -> np.ndarray | None:
    """(N, H, W): the autoencoder's squared reconstruction error per pixel; None without an autoencoder."""
    import torch

    ae = getattr(est, "autoencoder_", None)
    if ae is None:
        return None
    ae.model_.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(images), 1024):
            x = ae._to_tensor(images[start:start + 1024], 1.0)
            _, x_hat = ae.model_(x)
            out.append(((x - x_hat) ** 2).sum(dim=1).cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def overlay(image: np.ndarray, heat: np.ndarray | None) -> np.ndarray:
    """(H, W, 3) in [0, 1]: the image in grey, or with ``heat`` (scaled by its maximum, negatives as 0) laid
    over it in red: a pixel's redness is its share of the map's largest value."""
    grey = image.mean(axis=0).clip(0, 1) if heat is not None or image.shape[0] == 1 else None
    if heat is None:
        return np.repeat(grey[..., None], 3, axis=2) if grey is not None else image.transpose(1, 2, 0).clip(0, 1)
    top = float(np.max(heat))
    alpha = (np.clip(heat, 0, None) / top if top > 0 else np.zeros_like(heat))[..., None] * 0.8
    red = np.array([0.85, 0.1, 0.1])
    return np.repeat(grey[..., None], 3, axis=2) * (1 - alpha) + red * alpha


def write_overlays(images: np.ndarray, maps: dict[str, np.ndarray | None], names: list[str], folder) -> list[Path]:
    """One PNG per image in ``folder``: the image, then each map laid over it (red = more anomalous), side by
    side in the order of ``maps``, enlarged to at least 112 pixels high."""
    from cance_cli.io.paths import atomic_path
    from cance_cli.plots import pyplot

    plt = pyplot()
    folder = Path(folder)
    drawn = [m for m in maps.values() if m is not None]
    written = []
    for i, name in enumerate(names):
        path = folder / f"{name}.png"
        with atomic_path(path) as tmp:
            plt.imsave(tmp, panel(images[i], [m[i] for m in drawn]), format="png")
        written.append(path)
    return written


def panel(image: np.ndarray, heats: list[np.ndarray]) -> np.ndarray:
    """(H', W', 3): the image, then each map laid over it, side by side, enlarged to >= 112 pixels high."""
    panels = [overlay(image, None)] + [overlay(image, h) for h in heats]
    gap = np.ones((panels[0].shape[0], 2, 3))
    picture = np.concatenate([p for part in panels for p in (part, gap)][:-1], axis=1)
    zoom = max(1, -(-112 // picture.shape[0]))
    return np.kron(picture, np.ones((zoom, zoom, 1))).clip(0, 1)


def image_maps(est, images: np.ndarray) -> dict[str, np.ndarray | None]:
    """The maps of float images in [0, 1]: occlusion (every model) and reconstruction (autoencoder path)."""
    return {"occlusion": occlusion_maps(est, images), "reconstruction": reconstruction_maps(est, images)}


def map_file_names(ids: list, positions: np.ndarray) -> list[str]:
    """File names for the overlays: the image's position in the input, then its own name (a file's stem) or
    id."""
    import re

    out = []
    for position, row_id in zip(positions, ids):
        stem = Path(str(row_id)).stem if isinstance(row_id, str) else f"id{row_id}"
        out.append(f"{int(position):06d}_{re.sub(r'[^A-Za-z0-9_.-]', '_', stem)[:60]}")
    return out


def draw_maps(est, part, chosen: np.ndarray, ids: list, positions: np.ndarray, folder) -> list[str | None]:
    """Overlays of the images of the Dataset ``part`` where ``chosen``, written into ``folder`` (the image,
    its occlusion map, its reconstruction map on the autoencoder path): the file name of each row's
    overlay, None for rows not drawn."""
    rows = np.flatnonzero(chosen)
    out: list[str | None] = [None] * len(chosen)
    if not len(rows):
        return out
    images = as_images(est, part.subset(rows))
    maps = image_maps(est, images)
    names = map_file_names([ids[i] for i in rows], positions[rows])
    for i, path in zip(rows, write_overlays(images, maps, names, folder)):
        out[i] = path.name
    return out
