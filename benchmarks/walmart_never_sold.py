"""Walmart new stores, store x department, with the departments that sold nothing lately.

Walmart's export has no row for a week without a sale. With ``--zeros`` (the default) every
series is written from its first row to the end of the data, 0 where it had no row, as
docs/faq.md advises; ``--raw`` keeps the export as it is. The 8 new stores of issue 25 keep
``--history`` weeks before each origin, the 37 others are the sources, horizon 13. Prints,
per strategy and origin, the mean over the stores of WAPE (weeks without a row counted as 0),
and, for the target series with no sale in their history, how many there are, what they were
forecast over the horizon and what they sold::

    python benchmarks/walmart_never_sold.py --history 8
    python benchmarks/walmart_never_sold.py --history 26 --origins 2012-04-27
    python benchmarks/walmart_never_sold.py --raw --strategies source_only

(12.5 GB of memory at 8 weeks with the zeros written.)
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("TRANSFERCAST_THREADS", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from walmart_config import DEFAULT_DATA  # noqa: E402
from walmart_new_stores import make_task  # noqa: E402

import transfercast as tc  # noqa: E402


def load(data_dir: Path, zeros: bool) -> pd.DataFrame:
    """Every store x department series with ``Size`` and ``IsHoliday``; with ``zeros``, each
    from its first row to the data's last week, 0 where the export has no row."""
    train = pd.read_csv(data_dir / "train.csv.zip", parse_dates=["Date"])
    holiday = train.drop_duplicates("Date").set_index("Date")["IsHoliday"].astype(int)
    sales = train[["Store", "Dept", "Date", "Weekly_Sales"]]
    if zeros:
        weeks = pd.DataFrame({"Date": np.sort(train["Date"].unique())})
        first = sales.groupby(["Store", "Dept"], as_index=False)["Date"].min()
        grid = first.rename(columns={"Date": "start"}).merge(weeks, how="cross")
        grid = grid[grid["Date"] >= grid["start"]].drop(columns="start")
        sales = grid.merge(sales, how="left", on=["Store", "Dept", "Date"]).fillna(
            {"Weekly_Sales": 0.0}
        )
    sizes = pd.read_csv(data_dir / "stores.csv")[["Store", "Size"]]
    return sales.merge(sizes, on="Store").assign(IsHoliday=lambda f: f["Date"].map(holiday))


def report(forecasts: pd.DataFrame, frame: pd.DataFrame, history: int) -> pd.DataFrame:
    """Per strategy and origin: mean WAPE over the stores, and the never-sold series."""
    frame = frame.assign(unique_id=frame["Store"].astype(str) + "|" + frame["Dept"].astype(str))
    out = []
    for (strategy, origin), cell in forecasts.groupby(["strategy", "origin"]):
        origin = pd.Timestamp(origin)
        seen = frame[
            (frame["Date"] <= origin) & (frame["Date"] > origin - pd.Timedelta(weeks=history))
        ]
        best = seen.groupby("unique_id")["Weekly_Sales"].max()
        quiet = set(best[best <= 0].index)  # rows in the history, none a sale
        cell = cell.assign(
            actual=cell["actual"].fillna(0.0), store=cell["unique_id"].str.split("|").str[0]
        )
        err = (cell["forecast"] - cell["actual"]).abs().groupby(cell["store"]).sum()
        wape = (err / cell["actual"].abs().groupby(cell["store"]).sum()).mean()
        mine = cell[cell["unique_id"].isin(quiet)]
        out.append(
            {
                "strategy": strategy,
                "origin": origin.date(),
                "wape": round(float(wape), 4),
                "never_sold": mine["unique_id"].nunique(),
                "their_forecast": round(float(mine["forecast"].sum())),
                "their_sales": round(float(mine["actual"].sum())),
            }
        )
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--history", type=int, default=8)
    ap.add_argument("--origins", default="2011-09-30,2012-04-27,2012-07-27")
    ap.add_argument("--strategies", default="source_only,pooled")
    ap.add_argument("--raw", action="store_true", help="keep the export without its zero weeks")
    args = ap.parse_args()
    frame = load(args.data_dir, zeros=not args.raw)
    task = make_task(frame, args.history)  # the new-stores protocol's task
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        result = tc.compare(
            task, strategies=args.strategies.split(","), origins=args.origins.split(",")
        )
    print(report(result.forecasts, frame, args.history).to_string(index=False))
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
