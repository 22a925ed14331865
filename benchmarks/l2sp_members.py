"""``l2sp`` with one network per seed against ``members = k`` networks averaged, synthetic data.

``synthetic_sales`` (15 source stores, 5 new stores, 3 departments each; data seed ``--data-seed``)
at each ``--relatedness``, 13 weeks of target history, horizon 13, 3 rolling origins. Prints the
mean WAPE (over targets and origins) of ``l2sp`` with seeds 0 .. k-1 one at a time, their mean,
and of ``members = k`` (the mean of those same k networks' forecasts)::

    TRANSFERCAST_THREADS=1 python benchmarks/l2sp_members.py            # ~5 minutes
    python benchmarks/l2sp_members.py --relatedness 1 --members 5

The Walmart figures of docs/strategies/l2sp.md come from ``walmart_new_stores.py --strategies
l2sp --params '{"l2sp": {"members": 3}}'`` (and ``{"seed": 1}`` etc. for one network).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TRANSFERCAST_THREADS", "1")

import pandas as pd  # noqa: E402

import transfercast as tc  # noqa: E402
from transfercast.config import parse_config  # noqa: E402
from transfercast.datasets import synthetic_config, synthetic_sales  # noqa: E402


def wape(task: tc.TransferTask, params: dict) -> float:
    """Mean WAPE of ``l2sp`` with ``params`` over the task's targets and origins."""
    scores = tc.compare(task, ["l2sp"], params={"l2sp": params}).scores
    return float(scores["wape"].mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--relatedness", type=float, nargs="+", default=[1.0, 0.5])
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--data-seed", type=int, default=0)
    args = ap.parse_args()
    rows = []
    start = time.perf_counter()
    for rel in args.relatedness:
        frame = synthetic_sales(relatedness=rel, seed=args.data_seed)
        raw = synthetic_config("unused.csv", frame.attrs["targets"], target_history=13, windows=3)
        task = tc.TransferTask.from_config(parse_config(raw), data=frame)
        singles = [wape(task, {"seed": s}) for s in range(args.members)]
        row = {"relatedness": rel}
        row |= {f"seed {s}": w for s, w in enumerate(singles)}
        row["mean of one-network WAPEs"] = sum(singles) / len(singles)
        row[f"members = {args.members}"] = wape(task, {"members": args.members})
        rows.append(row)
    print(pd.DataFrame(rows).round(4).to_string(index=False))
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
