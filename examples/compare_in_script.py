"""Compare transfer strategies from a Python script: a DataFrame in, a leaderboard and a plot out.

    python examples/compare_in_script.py                      # the example data
    python examples/compare_in_script.py --csv my_sales.csv --targets S07,S08 --strategies ...

The data is any long-format table with one row per series and period; here the CSV of
``examples/pick_by_config`` read with pandas, as you would read your own. The script prints the
leaderboard and writes ``leaderboard.csv`` and ``comparison.png`` (mean WAPE per strategy, and
the forecasts of one target series at the latest origin) to ``--output``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

import transfercast as tc

HERE = Path(__file__).resolve().parent


def build_task(sales: pd.DataFrame, targets: list[str]) -> tc.TransferTask:
    """Name the columns' roles and the target domains; every other store is a source."""
    return tc.TransferTask(
        sales,
        series=["store", "dept"],  # the columns that identify one series
        time="date",
        target="sales",
        domain="store",  # each store is a domain
        targets=targets,  # the new stores
        horizon=8,  # forecast 8 weeks ahead
        target_history=8,  # cold start: the targets keep 8 weeks before each origin
        freq="W-FRI",
        static=["store_type", "size"],
        known=["price", "promo", "is_holiday"],
    )


def plot(comparison: tc.Comparison, path: Path) -> Path:
    """Mean WAPE per strategy, and one target series' forecasts at the latest origin."""
    board = comparison.leaderboard().sort_values("wape")
    fc = comparison.forecasts
    latest = fc[fc["origin"] == fc["origin"].max()]
    series = latest["unique_id"].iloc[0]
    one = latest[latest["unique_id"] == series]

    fig = Figure(figsize=(11, 4))
    left, right = fig.subplots(1, 2)
    left.barh(board["strategy"], board["wape"], xerr=board["wape_std"].fillna(0), capsize=3)
    left.invert_yaxis()
    left.set_xlabel("mean WAPE over targets and origins (lower is better)")
    actual = one.drop_duplicates("ds").sort_values("ds")
    right.plot(actual["ds"], actual["actual"], color="black", lw=2, label="actual")
    for name, g in one.groupby("strategy", sort=False):
        right.plot(g["ds"], g["forecast"], lw=1.2, label=name)
    right.set_title(f"{series}, forecasts from {pd.Timestamp(fc['origin'].max()).date()}")
    right.legend(fontsize=8)
    right.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def main(argv: list[str] | None = None) -> tc.Comparison:
    """Parse the arguments, compare, print and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=HERE / "pick_by_config" / "sales.csv")
    parser.add_argument("--targets", default="S07,S08", help="comma-separated target stores")
    parser.add_argument(
        "--strategies",
        default="target_only,source_only,pooled",
        help="comma-separated names (`transfercast plugins` lists them all)",
    )
    parser.add_argument("--output", type=Path, default=Path("runs/compare_in_script"))
    args = parser.parse_args(argv)

    sales = pd.read_csv(args.csv)
    task = build_task(sales, args.targets.split(","))
    origins = task.evaluation_origins()[-2:]  # the last two backtest origins
    comparison = tc.compare(task, args.strategies.split(","), origins=origins)

    board = comparison.leaderboard()
    print(board[["strategy", "wape", "wape_std", "mase", "bias", "wins"]].to_string(index=False))
    args.output.mkdir(parents=True, exist_ok=True)
    board.to_csv(args.output / "leaderboard.csv", index=False)
    print(f"plot written to {plot(comparison, args.output / 'comparison.png')}")
    return comparison


if __name__ == "__main__":
    main()
