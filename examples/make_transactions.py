"""Write the small raw table the README's commands use: examples/data/transactions.csv (600 rows to fit on)
and examples/data/transactions-new.csv (400 rows to score). Seeded; the committed files are its output.

    python examples/make_transactions.py

Columns as a user's export has them: an id, an ISO timestamp, two text columns with empty cells, a True/False
column, an amount, an age with about 3 % empty cells, and the label ``is_fraud`` (about 5 % of rows). Fraud
is what a fraud analyst would look for: large amounts, at night, online, from a city the card is rarely used
in.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent / "data"


def transactions(n: int, seed: int, first_id: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    fraud = rng.random(n) < 0.05
    rows = []
    for i in range(n):
        hour = int(rng.choice([1, 2, 3, 4])) if fraud[i] else int(rng.normal(14, 3.5)) % 24
        amount = rng.lognormal(3.2, 0.8) * (rng.uniform(6, 15) if fraud[i] else 1.0)
        rows.append({
            "transaction_id": f"T{first_id + i}",
            "timestamp": f"2026-03-{1 + int(rng.integers(0, 28)):02d}T{hour:02d}:{int(rng.integers(0, 60)):02d}:00",
            "merchant": str(rng.choice(["grocery", "cafe", "fuel", "electronics", ""], p=[.4, .25, .2, .1, .05])),
            "city": str(rng.choice(["Lisbon", "Porto", "Faro", ""], p=[.1, .1, .75, .05]) if fraud[i]
                        else rng.choice(["Lisbon", "Porto", "Faro", ""], p=[.6, .3, .05, .05])),
            "is_online": str(bool(rng.random() < (0.9 if fraud[i] else 0.3))),
            "amount": round(float(amount), 2),
            "age": "" if rng.random() < 0.03 else int(rng.integers(18, 85)),
            "is_fraud": int(fraud[i]),
        })
    return rows


def write(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    write(HERE / "transactions.csv", transactions(600, seed=0, first_id=100000))
    write(HERE / "transactions-new.csv", transactions(400, seed=1, first_id=200000))
