"""CANCE as a scikit-learn estimator: fit on normal data, score new rows.

    python examples/python_api.py

One-class detection on scikit-learn's bundled 8x8 digits: digit 0 normal,
every other digit an anomaly. Higher scores mean more anomalous.
"""

from __future__ import annotations

import sys
import tempfile

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from cance_cli import CANCE


def main(ae_epochs: int | None = None, threshold_folds: int | str = "auto") -> float:
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, test_size=0.3, random_state=0, stratify=y)
    normal = x_train[y_train == 0]  # train on normal rows only

    # A plain table of 64 columns: the sizes (latent, epochs, views) come from its shape.
    model = CANCE(seed=0, ae_epochs=ae_epochs, threshold_folds=threshold_folds).fit(normal)
    scores = model.score_samples(x_test)  # higher = more anomalous
    flagged = model.predict(x_test)  # 1 = above the threshold (set from out-of-fold scores)
    auroc = roc_auc_score(y_test != 0, scores)
    print(f"AUROC {auroc:.3f}; flagged {flagged.mean():.1%} of the test rows "
          f"({np.mean(y_test != 0):.1%} are anomalies)")

    # A fitted model is a folder of safetensors checkpoints and a manifest (no pickle).
    with tempfile.TemporaryDirectory() as folder:
        model.save(folder)
        again = CANCE.load(folder)
        assert np.allclose(again.score_samples(x_test), scores)
    return auroc


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else None)
