"""AUROC of CANCE checkpoints scored with and without the reconstruction floor.

Rescores the test tables that benchmarks/one_class.py left under --work.

    python benchmarks/floor_ablation.py bench_out --out docs/results/floor-ablation.jsonl
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from cance_cli.pipeline import evaluate_tables, score_table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cance-floor-"))
    rows = []
    for nce in sorted(Path(args.work).glob("*-lat*/c*-s*/nce-CANCE.safetensors")):
        run = nce.parent
        cls, seed = run.name[1:].split("-s")
        result = {"data": run.parent.name.split("-")[0], "normal": cls, "seed": int(seed)}
        for floor in (True, False):
            out = tmp / f"{floor}.parquet"
            score_table(run / "feats-test.parquet", out, nce, floor=floor)
            result["floor" if floor else "no_floor"] = evaluate_tables([out])[0]["auroc"]
        rows.append(result)
        print(json.dumps(result), flush=True)
    with open(args.out, "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)


if __name__ == "__main__":
    main()
