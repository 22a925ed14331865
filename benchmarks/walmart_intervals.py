"""Prediction intervals on Walmart new stores: coverage and scaled quantile loss (SQL).

The protocol of ``walmart_new_stores.py`` (store x department, 8 new stores with 26 weeks of
history, horizon 13) at three origins: 2011-09-30, the holiday origin 2011-10-28 and the
ordinary origin 2012-04-27. Each strategy forecasts the quantiles 0.025, 0.1, 0.5, 0.9 and
0.975 with the default interval method (``replay_conformal``); the mlforecast reference (a
global LightGBM on the source series, ``benchmarks/references.py``) forecasts its own conformal
intervals, calibrated on the source series (``PredictionIntervals(n_windows=2, h=13,
scale_estimator="mad")``) and carried to the targets with ``transfer_conformal =
"scale_aligned"``. Prints, per origin and strategy and over all origins: mean WAPE, mean SQL,
and the coverage and mean relative width of the 80 % and 95 % intervals (over every weekly
sale of every target series)::

    TRANSFERCAST_WALMART=/path/to/walmart python benchmarks/walmart_intervals.py \\
        --strategies source_only,auto --output /tmp/wi
    # one origin per process, then one table over their folders
    python benchmarks/walmart_intervals.py --origins 2011-10-28 --output /tmp/wi_a &
    python benchmarks/walmart_intervals.py --summarise /tmp/wi_a /tmp/wi_b --output /tmp/wi
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
from references import MLForecastReference  # noqa: E402
from walmart_config import DEFAULT_DATA, HERE  # noqa: E402
from walmart_new_stores import load, make_task  # noqa: E402

import transfercast as tc  # noqa: E402
from transfercast.intervals import quantile_columns, quantile_scores  # noqa: E402

ORIGINS = ["2011-09-30", "2011-10-28", "2012-04-27"]
QS = [0.025, 0.1, 0.5, 0.9, 0.975]


def mlforecast_cells(task: tc.TransferTask, origin: pd.Timestamp) -> list[pd.DataFrame]:
    """The mlforecast reference's quantile forecasts per target domain at ``origin``."""
    from mlforecast.utils import PredictionIntervals

    ref = MLForecastReference(
        task,
        origin,
        prediction_intervals=PredictionIntervals(
            n_windows=2, h=task.horizon, scale_estimator="mad"
        ),
    )
    data = task.at_origin(origin)
    out = []
    for target, rows in data.target_rows.items():
        fc = ref.forecast(data, rows, level=[80, 95], transfer_conformal="scale_aligned")
        q = list(quantile_columns(fc).values())
        fc[q] = np.sort(np.maximum(fc[q].to_numpy(float), 0.0), axis=1)  # floored as ours are
        fc["target"] = target
        out.append(fc)
    return out


def cell_table(fc: pd.DataFrame, task: tc.TransferTask, origin: pd.Timestamp) -> pd.DataFrame:
    """Scores per target domain of one strategy's quantile forecasts (with ``actual``)."""
    data = task.at_origin(origin)
    rows = []
    for target, trows in data.target_rows.items():
        uids = set(data.panel.ids[trows])
        mine = fc[fc["unique_id"].isin(uids)]
        history = data.panel.to_frame(trows)
        s = quantile_scores(mine, history, QS)
        e = np.abs(mine["forecast"] - mine["actual"]).sum() / np.abs(mine["actual"]).sum()
        rows.append({"target": target, "wape": e, "rows": mine["actual"].notna().sum(), **s})
    return pd.DataFrame(rows)


COLUMNS = ["wape", "sql", "coverage_80", "coverage_95", "width_80", "width_95"]


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per strategy: mean WAPE and SQL over cells; coverage and width over every weekly sale."""
    w = frame["rows"]
    agg = frame.groupby("strategy")[["wape", "sql"]].mean()
    for c in COLUMNS[2:]:
        weighted = frame.assign(x=frame[c] * w).groupby("strategy")["x"].sum()
        agg[c] = weighted / frame.groupby("strategy")["rows"].sum()
    return agg[COLUMNS].sort_values("sql").round(3)


def report(cells: pd.DataFrame, out: Path) -> None:
    """Write ``cells.csv`` and print the summary per origin and over all origins."""
    cells.to_csv(out / "cells.csv", index=False)
    for origin, frame in cells.groupby("origin"):
        print(f"\norigin {pd.Timestamp(origin).date()}\n{summary(frame).to_string()}")
    print(f"\nall origins\n{summary(cells).to_string()}")


def from_files(dirs: list[Path], task: tc.TransferTask) -> pd.DataFrame:
    """The cells of earlier runs, from their ``forecasts_<origin>.csv`` and
    ``mlforecast_<origin>.csv`` files (runs split by origin over several processes)."""
    tables = []
    for d in dirs:
        for path in sorted(d.glob("forecasts_*.csv")):
            origin = pd.Timestamp(path.stem.split("_")[1])
            fc = pd.read_csv(path, parse_dates=["ds"])
            for name, part in fc.groupby("strategy"):
                tables.append(cell_table(part, task, origin).assign(strategy=name, origin=origin))
            ref = d / f"mlforecast_{origin.date()}.csv"
            if ref.exists():
                part = pd.read_csv(ref, parse_dates=["ds"])
                tables.append(
                    cell_table(part, task, origin).assign(
                        strategy="mlforecast_conformal", origin=origin
                    )
                )
    return pd.concat(tables, ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--strategies", default="source_only,auto")
    ap.add_argument("--auto", default="{}", help="auto's parameters as JSON")
    ap.add_argument("--origins", default=",".join(ORIGINS))
    ap.add_argument("--no-reference", action="store_true", help="skip the mlforecast reference")
    ap.add_argument("--output", type=Path, default=Path("/tmp/walmart_intervals"))
    ap.add_argument(
        "--summarise", type=Path, nargs="*", help="summarise earlier runs' output folders instead"
    )
    args = ap.parse_args()
    out = args.output.resolve()
    if HERE.parent in out.parents:
        sys.exit("--output must lie outside the repository (the Walmart data is not committed)")
    out.mkdir(parents=True, exist_ok=True)
    names = [s for s in args.strategies.split(",") if s]
    task = make_task(load(args.data_dir))
    if args.summarise:
        report(from_files(args.summarise, task), out)
        return
    tables = []
    start = time.perf_counter()
    for origin in [pd.Timestamp(o) for o in args.origins.split(",")]:
        comp = tc.compare(
            task, names, params={"auto": json.loads(args.auto)}, origins=[origin], quantiles=QS
        )
        comp.forecasts.to_csv(out / f"forecasts_{origin.date()}.csv", index=False)
        comp.scores.to_csv(out / f"scores_{origin.date()}.csv", index=False)
        for name, fc in comp.forecasts.groupby("strategy"):
            tables.append(cell_table(fc, task, origin).assign(strategy=name, origin=origin))
        if not args.no_reference:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = pd.concat(mlforecast_cells(task, origin), ignore_index=True)
            ref = ref.merge(comp.forecasts[["unique_id", "ds", "actual"]].drop_duplicates(),
                            on=["unique_id", "ds"], how="left")  # fmt: skip
            ref.to_csv(out / f"mlforecast_{origin.date()}.csv", index=False)
            tables.append(
                cell_table(ref, task, origin).assign(strategy="mlforecast_conformal", origin=origin)
            )
        print(f"origin {origin.date()} done after {time.perf_counter() - start:.0f} s", flush=True)
    report(pd.concat(tables, ignore_index=True), out)
    print(f"\nwall {time.perf_counter() - start:.0f} s; files in {out}")


if __name__ == "__main__":
    main()
