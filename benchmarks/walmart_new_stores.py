"""Walmart new stores, store x department: 8 stores open with 26 weeks of history.

The protocol of issue 25: series ``Store`` x ``Dept`` (complete series only: observed in every
week of the data), static ``Size``, known ``IsHoliday``; the new (target) stores are
33, 4, 1, 21, 13, 12, 2 and 25 with their last 26 weeks before the origin 2011-09-30; the other
37 stores are the sources; horizon 13. Prints mean WAPE and fit seconds (summed over the
targets) per strategy, and ``auto``'s fit seconds against the sum of its candidates'::

    TRANSFERCAST_WALMART=/path/to/walmart python benchmarks/walmart_new_stores.py
    python benchmarks/walmart_new_stores.py --strategies target_only,source_only,auto \\
        --auto '{"candidates": ["target_only", "source_only"]}' --output /tmp/wns

The per-cell scores, ``auto``'s selection and its replays are written to ``--output`` (outside
the repository: they hold figures from the Walmart data's actual sales).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TRANSFERCAST_THREADS", "1")

import pandas as pd  # noqa: E402
from walmart_config import DEFAULT_DATA, HERE  # noqa: E402

import transfercast as tc  # noqa: E402

TARGETS = [33, 4, 1, 21, 13, 12, 2, 25]
ORIGIN = "2011-09-30"
HISTORY = 26
HORIZON = 13


def load(data_dir: Path) -> pd.DataFrame:
    """Weekly sales per store and department, complete series only, with ``Size``."""
    if not (data_dir / "train.csv.zip").exists():
        sys.exit(f"Walmart data not found in {data_dir} (set TRANSFERCAST_WALMART)")
    train = pd.read_csv(data_dir / "train.csv.zip", parse_dates=["Date"])
    weeks = train["Date"].nunique()
    counts = train.groupby(["Store", "Dept"])["Date"].transform("nunique")
    frame = train[counts == weeks].merge(pd.read_csv(data_dir / "stores.csv"), on="Store")
    frame["IsHoliday"] = frame["IsHoliday"].astype(int)
    return frame[["Store", "Dept", "Date", "Weekly_Sales", "Size", "IsHoliday"]]


def make_task(
    frame: pd.DataFrame, history: int = HISTORY, static: tuple[str, ...] = ("Size",)
) -> tc.TransferTask:
    """The task of the protocol above (``history`` weeks of target history)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tc.TransferTask(
            frame,
            series=["Store", "Dept"],
            time="Date",
            target="Weekly_Sales",
            domain="Store",
            targets=TARGETS,
            horizon=HORIZON,
            static=list(static),
            known=["IsHoliday"],
            target_history=history,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--strategies", default="", help="comma-separated (default: all registered)")
    ap.add_argument("--auto", default="{}", help="auto's parameters as JSON")
    ap.add_argument("--output", type=Path, default=Path("/tmp/walmart_new_stores"))
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    out = args.output.resolve()
    if HERE.parent in out.parents:
        sys.exit("--output must lie outside the repository (the Walmart data is not committed)")
    names = [s for s in args.strategies.split(",") if s] or tc.strategies()
    task = make_task(load(args.data_dir))
    start = time.perf_counter()
    comp = tc.compare(
        task, names, params={"auto": json.loads(args.auto)}, origins=[ORIGIN], jobs=args.jobs
    )
    wall = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    comp.scores.to_csv(out / "scores.csv", index=False)
    comp.selection.to_csv(out / "selection.csv", index=False)
    comp.replays.to_csv(out / "replays.csv", index=False)
    ok = comp.scores[comp.scores["status"] == "ok"]
    table = ok.groupby("strategy").agg(
        wape=("wape", "mean"), fit_seconds=("fit_seconds", "sum"), cells=("wape", "size")
    )
    failed = comp.scores[comp.scores["status"] != "ok"]
    print(table.sort_values("wape").round(4).to_string())
    if len(failed):
        print(f"\nfailed cells: {len(failed)}; first: {failed['error'].iloc[0]}")
    if "auto" in table.index and len(comp.selection):
        auto = tc.get_plugin_manager().registry.create("auto", json.loads(args.auto))
        cands = [c for c in auto.candidate_names() if c in table.index]
        total = table.loc[cands, "fit_seconds"].sum()
        print(
            f"\nauto fit {table.loc['auto', 'fit_seconds']:.0f} s; its candidates "
            f"({', '.join(cands)}) {total:.0f} s; ratio "
            f"{table.loc['auto', 'fit_seconds'] / total:.2f}"
        )
        print(comp.selection[["target", "chosen", "weights"]].to_string(index=False))
        print(comp.selection["reason"].iloc[0])
    print(f"\nwall {wall:.0f} s; files in {out}")


if __name__ == "__main__":
    main()
