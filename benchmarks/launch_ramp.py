"""Before launch, when some sources opened during the data: their first weeks in the level model.

Synthetic data (``transfercast.datasets.synthetic_sales``: 20 stores x 3 departments, 157
weeks, the last 5 new, 6 sources opening during the data) where every store that opens sells
``1 - ramp * exp(-age / 6)`` of its usual sales ``age`` weeks after opening: a slow start
(ramp 0.4), none (0) or an opening rush (-0.3). The new stores are forecast before launch
(``target_history = 0``, the origin the week before they open, horizon 13) by ``source_only``,
with the level model as shipped (the opened sources' first weeks as rows of their own,
:meth:`transfercast.forecasting.OriginTables.opening_levels`) and without those rows (the
level model as it was before them). Prints mean WAPE and bias over the new stores and seeds,
and the paired difference with its standard error.

    python benchmarks/launch_ramp.py                 # seeds 3-6, about 2 minutes on 2 cores
    python benchmarks/launch_ramp.py --seeds 1,2 --ramps 0.4
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd

import transfercast as tc
from transfercast.datasets import synthetic_sales
from transfercast.forecasting import OriginTables

os.environ.setdefault("TRANSFERCAST_THREADS", "1")  # the documented figures ran on one thread

KNOWN = ["price", "promo", "is_holiday"]


def _without(self: OriginTables, rows: np.ndarray, level: np.ndarray | None = None) -> np.ndarray:
    return np.full(len(rows), np.nan)


def cell(ramp: float, seed: int, opening: bool) -> pd.DataFrame:
    """``source_only``'s scores for the new stores of one data set, before launch."""
    sales = synthetic_sales(source_launches=6, launch_ramp=ramp, seed=seed)
    task = tc.TransferTask(
        sales, series=["store", "dept"], time="date", target="sales", domain="store",
        targets=sales.attrs["targets"], horizon=13, target_history=0,
        static=["store_type", "size"], known=KNOWN,
    )  # fmt: skip
    first = sales.loc[sales["store"].isin(sales.attrs["targets"]), "date"].min()
    origin = sales.loc[sales["date"] < first, "date"].max()
    shipped = OriginTables.opening_levels
    if not opening:
        OriginTables.opening_levels = _without
    try:
        return tc.compare(task, ["source_only"], origins=[origin]).scores
    finally:
        OriginTables.opening_levels = shipped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="3,4,5,6")
    ap.add_argument("--ramps", default="0.4,0,-0.3")
    args = ap.parse_args()
    start = time.perf_counter()
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ramp in [float(r) for r in args.ramps.split(",")]:
            for seed in [int(s) for s in args.seeds.split(",")]:
                for opening in (True, False):
                    s = cell(ramp, seed, opening)
                    rows.append(s.assign(ramp=ramp, seed=seed, opening=opening))
    scores = pd.concat(rows, ignore_index=True)
    failed = scores[scores["status"] != "ok"]
    if len(failed):
        raise RuntimeError(f"{len(failed)} cells failed; first: {failed['error'].iloc[0]}")
    table = scores.pivot_table(
        index=["ramp", "seed", "target"], columns="opening", values=["wape", "bias"]
    )
    out = []
    for ramp, part in table.groupby(level="ramp", sort=False):
        diff = part[("wape", True)] - part[("wape", False)]
        out.append(
            {
                "ramp": ramp,
                "wape (first weeks of opened sources)": part[("wape", True)].mean(),
                "wape (without)": part[("wape", False)].mean(),
                "difference": diff.mean(),
                "s.e.": diff.std(ddof=1) / np.sqrt(len(diff)),
                "bias (with)": part[("bias", True)].mean(),
                "bias (without)": part[("bias", False)].mean(),
            }
        )
    pd.set_option("display.width", 200)
    n = scores["target"].nunique() * len(args.seeds.split(","))
    print(f"source_only before launch, mean over {n} new stores (5 per seed), horizon 13")
    print(pd.DataFrame(out).set_index("ramp").round(3).to_string())
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
