"""MNIST-C style corruptions (Mu & Gilmer 2019), written with numpy/scipy.

MNIST-C itself cannot be downloaded here, so its corruption families are
re-implemented from their published descriptions. Every corruption maps a
stack of grayscale images ``(N, H, W)`` in [0, 1] to a stack of the same shape
and range, and is deterministic under ``seed`` (per-image parameters such as
an angle are drawn from one generator seeded once per call).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from cance_cli.errors import ConfigError

Corruption = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _per_image(images: np.ndarray, fn) -> np.ndarray:
    return np.stack([fn(i, img) for i, img in enumerate(images)])


def _affine(images: np.ndarray, matrices: list[np.ndarray]) -> np.ndarray:
    """Apply a 2x2 map per image about the image centre (bilinear, zero fill)."""
    centre = (np.array(images.shape[1:]) - 1) / 2.0

    def one(i, img):
        inv = np.linalg.inv(matrices[i])
        return ndimage.affine_transform(img, inv, offset=centre - inv @ centre, order=1, cval=0.0)

    return _per_image(images, one)


def _signed(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    return rng.uniform(lo, hi, n) * rng.choice([-1.0, 1.0], n)


def shot_noise(images, rng):
    return rng.poisson(images * 60.0) / 60.0


def impulse_noise(images, rng):
    out = images.copy()
    u = rng.random(images.shape)
    out[u < 0.05] = 0.0
    out[u > 0.95] = 1.0
    return out


def glass_blur(images, rng):
    """Blur, shuffle every pixel with a random neighbour (twice), blur again."""
    out = ndimage.gaussian_filter(images, sigma=(0, 0.7, 0.7))
    n, h, w = out.shape
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    for _ in range(2):
        dr = rng.integers(-1, 2, size=(n, h, w))
        dc = rng.integers(-1, 2, size=(n, h, w))
        src_r, src_c = np.clip(rows + dr, 0, h - 1), np.clip(cols + dc, 0, w - 1)
        out = out[np.arange(n)[:, None, None], src_r, src_c]
    return ndimage.gaussian_filter(out, sigma=(0, 0.7, 0.7))


def motion_blur(images, rng):
    """Average along a line of 7 pixels at a random angle."""
    length = 7
    angles = rng.uniform(0, np.pi, len(images))

    def one(i, img):
        kernel = np.zeros((length, length))
        c = (length - 1) / 2
        for t in np.linspace(-c, c, 4 * length):
            kernel[int(round(c + t * np.sin(angles[i]))), int(round(c + t * np.cos(angles[i])))] = 1.0
        return ndimage.convolve(img, kernel / kernel.sum(), mode="constant")

    return _per_image(images, one)


def shear(images, rng):
    s = _signed(rng, len(images), 0.3, 0.6)
    return _affine(images, [np.array([[1.0, 0.0], [k, 1.0]]) for k in s])


def scale(images, rng):
    """Shrink by 0.5-0.7 about the centre."""
    f = rng.uniform(0.5, 0.7, len(images))
    return _affine(images, [np.eye(2) * k for k in f])


def rotate(images, rng):
    theta = np.deg2rad(_signed(rng, len(images), 40, 70))
    return _affine(images, [np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) for t in theta])


def brightness(images, rng):
    return images + rng.uniform(0.35, 0.5, (len(images), 1, 1))


def translate(images, rng):
    shifts = np.stack([_signed(rng, len(images), 4, 7), _signed(rng, len(images), 4, 7)], axis=1).round()
    return _per_image(images, lambda i, img: ndimage.shift(img, shifts[i], order=0, cval=0.0))


def stripe(images, rng):
    """Invert a vertical band of 4-6 columns."""
    out = images.copy()
    w = images.shape[2]
    widths = rng.integers(4, 7, len(images))
    starts = rng.integers(0, w - 6, len(images))
    for i in range(len(images)):
        band = slice(starts[i], starts[i] + widths[i])
        out[i, :, band] = 1.0 - out[i, :, band]
    return out


def fog(images, rng):
    """Add smooth low-frequency haze, then rescale to [0, 1]."""
    haze = ndimage.gaussian_filter(rng.random(images.shape), sigma=(0, 4, 4))
    haze = (haze - haze.min(axis=(1, 2), keepdims=True)) / np.ptp(haze, axis=(1, 2), keepdims=True)
    out = images + 0.6 * haze
    return out / out.max(axis=(1, 2), keepdims=True)


def spatter(images, rng):
    """Grey splashes: thresholded smooth noise painted over the digit."""
    blobs = ndimage.gaussian_filter(rng.random(images.shape), sigma=(0, 1.5, 1.5))
    thresh = np.quantile(blobs, 0.9, axis=(1, 2), keepdims=True)
    return np.where(blobs > thresh, 0.6, images)


def _draw(images: np.ndarray, paths: list[np.ndarray], every: int = 1) -> np.ndarray:
    """Set the pixels along each image's polyline (points ``(k, 2)``) to 1."""
    out = images.copy()
    h, w = images.shape[1:]
    for i, pts in enumerate(paths):
        pixels = []
        for a, b in zip(pts[:-1], pts[1:]):
            steps = int(np.abs(b - a).max()) + 1
            pixels.append(np.linspace(a, b, steps).round().astype(int))
        line = np.concatenate(pixels)[::every]
        keep = (line[:, 0] >= 0) & (line[:, 0] < h) & (line[:, 1] >= 0) & (line[:, 1] < w)
        out[i, line[keep, 0], line[keep, 1]] = 1.0
    return out


def dotted_line(images, rng):
    """A straight line across the image, every third pixel lit."""
    h, w = images.shape[1:]
    ends = rng.uniform(0, [h - 1, w - 1, h - 1, w - 1], (len(images), 4))
    ends[:, 1], ends[:, 3] = 0, w - 1  # left edge to right edge
    return _draw(images, [e.reshape(2, 2) for e in ends], every=3)


def zigzag(images, rng):
    """A zigzag of five segments from the left to the right edge."""
    h, w = images.shape[1:]
    cols = np.linspace(0, w - 1, 6)
    return _draw(images, [np.stack([rng.uniform(2, h - 3, 6), cols], axis=1) for _ in range(len(images))])


def canny_edges(images, rng):
    """Canny edge map: smoothing, Sobel gradient, non-maximum suppression and
    hysteresis thresholds (0.1 / 0.3 of the largest gradient)."""
    del rng  # deterministic: no parameters to draw
    smooth = ndimage.gaussian_filter(images, sigma=(0, 1.0, 1.0))
    gy = ndimage.sobel(smooth, axis=1)
    gx = ndimage.sobel(smooth, axis=2)
    mag = np.hypot(gx, gy)
    # Quantise the gradient direction to 0/45/90/135 degrees and keep local maxima along it.
    direction = (np.round(np.arctan2(gy, gx) / (np.pi / 4)) % 4).astype(int)
    offsets = {0: (0, 1), 1: (1, 1), 2: (1, 0), 3: (1, -1)}
    keep = np.zeros_like(mag, dtype=bool)
    for d, (dr, dc) in offsets.items():
        ahead = np.roll(mag, (-dr, -dc), axis=(1, 2))
        behind = np.roll(mag, (dr, dc), axis=(1, 2))
        keep |= (direction == d) & (mag >= ahead) & (mag >= behind)
    peak = mag.max(axis=(1, 2), keepdims=True) + 1e-12
    strong = keep & (mag >= 0.3 * peak)
    weak = keep & (mag >= 0.1 * peak)
    out = np.zeros_like(images)
    for i in range(len(images)):
        labels, _ = ndimage.label(weak[i], structure=np.ones((3, 3)))
        connected = np.unique(labels[strong[i]])
        out[i] = np.isin(labels, connected[connected > 0])
    return out


CORRUPTIONS: dict[str, Corruption] = {
    f.__name__: f for f in (shot_noise, impulse_noise, glass_blur, motion_blur, shear, scale, rotate, brightness,
                            translate, stripe, fog, spatter, dotted_line, zigzag, canny_edges)
}


def corrupt(images: np.ndarray, name: str, seed: int = 0) -> np.ndarray:
    """Corrupted copy of ``images`` (``(N, H, W)`` or ``(N, 1, H, W)``, values in
    [0, 1]) as float32 in [0, 1]; the same ``seed`` gives the same result."""
    if name not in CORRUPTIONS:
        raise ConfigError(f"Unknown corruption '{name}'; choose from {', '.join(CORRUPTIONS)}.")
    x = np.asarray(images, dtype=np.float64)
    channel = x.ndim == 4
    if channel:
        if x.shape[1] != 1:
            raise ConfigError("Corruptions are defined for grayscale images (one channel).")
        x = x[:, 0]
    if x.ndim != 3:
        raise ConfigError(f"Expected a stack of images (N, H, W), got shape {images.shape}.")
    # One generator per (seed, corruption), so adding a corruption never changes another's draws.
    rng = np.random.default_rng([seed, list(CORRUPTIONS).index(name)])
    out = np.clip(CORRUPTIONS[name](x, rng), 0.0, 1.0).astype(np.float32)
    return out[:, None] if channel else out


def example_grid(images: np.ndarray, out, seed: int = 0, per_row: int = 6):
    """PNG: one row per corruption (plus the clean images), ``per_row`` examples each."""
    from cance_cli.io.paths import atomic_path
    from cance_cli.plots import pyplot

    plt = pyplot()
    x = np.asarray(images[:per_row], dtype=np.float32)
    rows = [("clean", x)] + [(name, corrupt(x, name, seed)) for name in CORRUPTIONS]
    fig, axes = plt.subplots(len(rows), per_row, figsize=(per_row * 0.9 + 1.4, len(rows) * 0.9))
    for r, (name, imgs) in enumerate(rows):
        for c in range(per_row):
            ax = axes[r, c]
            ax.imshow(imgs[c].reshape(imgs.shape[-2:]), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout(pad=0.2)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
