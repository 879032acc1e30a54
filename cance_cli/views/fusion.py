"""Which views score a model's rows, and how their scores are combined.

The rule (``choose_views``), measured on the 15 development tables of
``docs/defaults.md`` ("Views"):

* tables of at most 16 columns: the ``input`` view alone. On so few columns
  the NCE density of the table itself sees everything, while the
  autoencoder's bottleneck (2 latents there) throws information away;
* wider tables: ``composite``, ``input`` and ``knn`` together;
* embedding tables (PCA feature map): ``composite`` and ``knn``, the
  neighbour distance taken in every usable direction of the standardised
  embedding (not only the first 64: the signal of a new kind of image lies
  in the minor directions; docs/defaults.md, "PCA");
* images and precomputed features: the ``composite`` view (the paper's
  method).

Combination: each view's score is standardised by the median and
interquartile range of its training rows' scores; the density views are
averaged and the neighbour view is added with the same weight as that
average. Higher = more anomalous, as for every score in cance.
"""

from __future__ import annotations

import numpy as np

from cance_cli.errors import ConfigError

VIEWS = ("composite", "input", "knn")
NARROW_TABLE = 16
DENSITY_VIEWS = ("composite", "input")


def parse_views(spec: str, name: str = "`views`") -> list[str]:
    """``"composite+input+knn"`` -> the views in canonical order; ``auto`` -> []. ``name``: what errors call it."""
    if spec == "auto":
        return []
    names = [v.strip() for v in str(spec).split("+")]
    unknown = [v for v in names if v not in VIEWS]
    if unknown or not names:
        raise ConfigError(f"{name} must be auto or a '+'-joined choice of {', '.join(VIEWS)}, got {spec!r}.")
    return [v for v in VIEWS if v in names]


def choose_views(spec: str, kind: str, width: int, feature_map: str) -> tuple[list[str], str]:
    """The views to fit and the reason (one line)."""
    given = parse_views(spec)
    if given:
        if kind != "table" and set(given) != {"composite"}:
            raise ConfigError("The input and knn views need a table; images use `views` composite.")
        if feature_map == "precomputed" and set(given) != {"composite"}:
            raise ConfigError("The input and knn views read the table itself, which precomputed composite features "
                              "are not; use `views` composite.")
        return given, f"views {'+'.join(given)} (given)"
    if kind == "table" and feature_map == "pca":
        return ["composite", "knn"], ("views: composite + knn (embeddings: the density of the PCA's [z, e, d] and "
                                      "the distance to the k-th nearest training embedding in every direction)")
    if kind != "table" or feature_map != "autoencoder":
        return ["composite"], "views: composite (images and precomputed features)"
    if width <= NARROW_TABLE:
        return ["input"], f"views: input (F = {width} <= {NARROW_TABLE}: the density of the table itself)"
    return list(VIEWS), f"views: composite + input + knn (F = {width} > {NARROW_TABLE})"


def robust_scale(training_scores: np.ndarray) -> dict[str, float]:
    """Median and interquartile range (1 where it is 0) of a view's training scores."""
    q25, med, q75 = np.percentile(np.asarray(training_scores, dtype=np.float64), [25, 50, 75])
    iqr = float(q75 - q25)
    return {"median": float(med), "iqr": iqr if iqr > 0 else 1.0}


def standardise(scores: np.ndarray, calibration: dict[str, float]) -> np.ndarray:
    """A view's scores on the common scale: (score - its training median) / its training IQR."""
    return (np.asarray(scores, dtype=np.float64) - calibration["median"]) / calibration["iqr"]


def combine(scores: dict[str, np.ndarray], calibration: dict[str, dict[str, float]]) -> np.ndarray:
    """One score per row from the views' scores (see the module docstring)."""
    if len(scores) == 1:  # one view: its own score, unscaled
        return np.asarray(next(iter(scores.values())), dtype=np.float64)
    z = {v: standardise(s, calibration[v]) for v, s in scores.items()}
    density = [z[v] for v in DENSITY_VIEWS if v in z]
    total = np.mean(density, axis=0) if density else 0.0
    return total + z["knn"] if "knn" in z else total
