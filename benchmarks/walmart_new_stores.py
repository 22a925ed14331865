"""Walmart new stores, store x department: 8 stores open with 26 weeks of history.

The protocol of issue 25: series ``Store`` x ``Dept`` (complete series only: observed in every
week of the data), static ``Size``, known ``IsHoliday``; the new (target) stores are
33, 4, 1, 21, 13, 12, 2 and 25 with their last 26 weeks before the origin 2011-09-30; the other
37 stores are the sources; horizon 13. Prints mean WAPE and fit seconds (summed over the
targets) per strategy, and the wall seconds of ``auto`` run on its own against those of its
candidates run on their own (each with its feature tables and source models)::

    TRANSFERCAST_WALMART=/path/to/walmart python benchmarks/walmart_new_stores.py
    python benchmarks/walmart_new_stores.py --strategies target_only,source_only,auto \\
        --auto '{"candidates": ["target_only", "source_only"]}' --output /tmp/wns
    python benchmarks/walmart_new_stores.py --origin 2012-04-27 --output /tmp/wns-2012
    python benchmarks/walmart_new_stores.py --strategies l2sp --params '{"l2sp": {"members": 3}}'

The per-cell scores, the forecasts, ``auto``'s selection and its replays are written to
``--output`` (outside the repository: they hold figures from the Walmart data's actual sales);
``benchmarks/combination_bound.py`` reads the forecasts.
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

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from walmart_config import DEFAULT_DATA, HERE  # noqa: E402

import transfercast as tc  # noqa: E402
from transfercast.evaluation import gap_to_leader  # noqa: E402

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


def summary(ok: pd.DataFrame) -> pd.DataFrame:
    """Per strategy of the scored cells ``ok``: mean WAPE, summed fit seconds, cells, and the
    WAPE gap to the best strategy paired over the stores, its standard error and shared
    cells (:func:`~transfercast.evaluation.gap_to_leader`), best first."""
    table = ok.groupby("strategy").agg(
        wape=("wape", "mean"), fit_seconds=("fit_seconds", "sum"), cells=("wape", "size")
    )
    table = table.sort_values("wape")
    if len(table):
        gap = gap_to_leader(ok, table.index[0])
        table = table.join(gap.reindex(table.index))
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--strategies", default="", help="comma-separated (default: all registered)")
    ap.add_argument("--auto", default="{}", help="auto's parameters as JSON")
    ap.add_argument(
        "--params", default="{}", help='strategies\' parameters as JSON: {"l2sp": {"members": 3}}'
    )
    ap.add_argument("--output", type=Path, default=Path("/tmp/walmart_new_stores"))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--origin", default=ORIGIN, help=f"forecast origin (default {ORIGIN})")
    args = ap.parse_args()
    out = args.output.resolve()
    if HERE.parent in out.parents:
        sys.exit("--output must lie outside the repository (the Walmart data is not committed)")
    names = [s for s in args.strategies.split(",") if s] or tc.strategies()
    task = make_task(load(args.data_dir))
    params = json.loads(args.params) | {"auto": json.loads(args.auto)}
    start = time.perf_counter()
    runs, walls = [], {}
    # auto runs on its own, after its candidates, so neither reuses the other's source models:
    # the two wall times are what each costs a user who runs it alone
    auto = tc.get_plugin_manager().registry.create("auto", params["auto"])
    cands = [c for c in auto.candidate_names() if c in names]
    others = [n for n in names if n != "auto" and n not in cands]
    for label, group in (("candidates", cands), ("others", others), ("auto", ["auto"])):
        if not group or (label == "auto" and "auto" not in names):
            continue
        t0 = time.perf_counter()
        runs.append(tc.compare(task, group, params=params, origins=[args.origin], jobs=args.jobs))
        walls[label] = time.perf_counter() - t0
    wall = time.perf_counter() - start
    scores = pd.concat([c.scores for c in runs], ignore_index=True)
    selection = pd.concat([c.selection for c in runs], ignore_index=True)
    replays = pd.concat([c.replays for c in runs], ignore_index=True)
    forecasts = pd.concat([c.forecasts for c in runs], ignore_index=True)
    out.mkdir(parents=True, exist_ok=True)
    scores.to_csv(out / "scores.csv", index=False)
    forecasts.to_csv(out / "forecasts.csv", index=False)
    selection.to_csv(out / "selection.csv", index=False)
    replays.to_csv(out / "replays.csv", index=False)
    ok = scores[scores["status"] == "ok"]
    table = summary(ok)
    failed = scores[scores["status"] != "ok"]
    print(table.round(4).to_string())
    if len(failed):
        print(f"\nfailed cells: {len(failed)}; first: {failed['error'].iloc[0]}")
    if "auto" in walls and "candidates" in walls:
        fits = np.sort(ok[ok["strategy"] == "auto"]["fit_seconds"].to_numpy())[::-1]
        print(
            f"\nwall seconds, each run on its own (feature tables and source models included): "
            f"auto {walls['auto']:.0f}, its candidates ({', '.join(cands)}) "
            f"{walls['candidates']:.0f}; ratio {walls['auto'] / walls['candidates']:.2f}"
        )
        print(
            f"auto's fit seconds: the target that built the origin's replays and backtest "
            f"{fits[0]:.0f}, each further target {fits[1:].mean():.1f} on average"
        )
    if len(selection):
        print(selection[["target", "chosen", "weights"]].to_string(index=False))
        print(selection["reason"].iloc[0])
    print(f"\nwall {wall:.0f} s; files in {out}")


if __name__ == "__main__":
    main()
