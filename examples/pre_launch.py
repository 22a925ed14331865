"""Forecast stores before they open, then watch the forecast improve as their first weeks arrive.

    python examples/pre_launch.py                          # backtest at 0, 4 and 8 weeks
    transfercast compare runs/pre_launch/config.toml       # the 0-week backtest from the CLI

Synthetic weekly sales (``transfercast.datasets.synthetic_sales``): 12 stores x 2 departments,
the last 3 new. The script writes ``sales.csv`` and a ``config.toml`` with ``[task]
target_history = 0`` to ``--output``, then

1. backtests the strategies with 0, 4 and 8 weeks of the new stores' history at the same
   origins, and prints mean WAPE per strategy and history (``target_only`` is skipped at 0
   weeks, as it needs the store's own sales, and at 4, too few for one training row);
2. forecasts a store that has not sold anything yet (its rows hold only the horizon's prices,
   promotions and holidays) with ``TransferForecaster``, and prints the level the sources gave
   it next to its size.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import transfercast as tc
from transfercast.cli import to_toml
from transfercast.config import parse_config
from transfercast.datasets import synthetic_config, synthetic_sales
from transfercast.forecasting import OriginTables

HISTORIES = [0, 4, 8]
STRATEGIES = ["target_only", "source_only", "pooled", "boost_continue"]
#: small models, so that the example runs in seconds
PARAMS = {
    "target_only": {"target_params": {"num_boost_round": 40}},
    "source_only": {"source_params": {"num_boost_round": 60}},
    "pooled": {"source_params": {"num_boost_round": 60}},
    "boost_continue": {"source_params": {"num_boost_round": 60}, "rounds": 40},
}


def make_data() -> pd.DataFrame:
    """12 stores x 2 departments over 110 weeks; the last 3 open 40 weeks before the end."""
    return synthetic_sales(
        n_domains=12, series_per_domain=2, n_periods=110, n_targets=3, target_periods=40
    )


def make_config(targets: list[str], history: int) -> dict:
    """The task: horizon 8 weeks, 2 backtest origins, ``history`` weeks of target history."""
    return synthetic_config(
        "sales.csv", targets, horizon=8, target_history=history, windows=2, output_dir="results"
    )


def backtest(sales: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Mean WAPE per history (rows) and strategy (columns), at the same origins."""
    targets = sales.attrs["targets"]
    rows = {}
    for history in HISTORIES:
        task = tc.TransferTask.from_config(parse_config(make_config(targets, history)), data=sales)
        comp = tc.compare(task, names, params=PARAMS)
        ok = comp.scores[comp.scores["status"] == "ok"]
        rows[history] = ok.groupby("strategy")["wape"].mean()
        skipped = comp.scores[comp.scores["status"] == "skipped"]
        if len(skipped):
            print(f"{history} weeks: {skipped['error'].iloc[0]}")
    table = pd.DataFrame(rows).T.reindex(columns=names)
    table.index.name = "weeks of history"
    return table


def forecast_new_store(sales: pd.DataFrame) -> pd.DataFrame:
    """Forecast the last target store from no sales at all: its rows keep only the next 8
    weeks' covariates. Prints its estimated level beside its size and another store's."""
    store = sales.attrs["targets"][-1]
    dates = np.sort(sales["date"].unique())
    origin = dates[-9]
    future = sales["date"] > origin
    data = sales.assign(sales=sales["sales"].where(~future))  # the next 8 weeks: covariates
    data = data[(data["store"] != store) | future]  # the new store: nothing sold yet
    raw = make_config(sales.attrs["targets"], 0)
    del raw["task"]["target_history"]  # a real forecast: the store simply has no sales rows
    task = tc.TransferTask.from_config(parse_config(raw), data=data)
    model = tc.TransferForecaster("boost_continue", **PARAMS["boost_continue"]).fit(task)
    tables: OriginTables = model.tables_
    frame = tables.series_frame(tables.prelaunch)
    frame["estimated level"] = tables.prior_level[tables.prelaunch].round()
    print(f"\n{store} has not sold yet; its weekly level estimated from the sources:")
    print(frame.to_string(index=False))
    forecast = model.predict()
    return forecast[forecast["store"] == store]


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Write the data and the 0-week config, backtest, forecast a store before it opens."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--output", type=Path, default=Path("runs/pre_launch"))
    args = parser.parse_args(argv)
    sales = make_data()
    args.output.mkdir(parents=True, exist_ok=True)
    sales.to_csv(args.output / "sales.csv", index=False)
    raw = make_config(sales.attrs["targets"], 0)
    (args.output / "config.toml").write_text(to_toml(raw))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the future's empty sales are announced as missing
        table = backtest(sales, args.strategies.split(","))
        print("\nmean WAPE over the new stores, by weeks of history before the origin")
        print(table.round(3).to_string())
        print(forecast_new_store(sales).round(0).to_string(index=False))
    return table


if __name__ == "__main__":
    main()
