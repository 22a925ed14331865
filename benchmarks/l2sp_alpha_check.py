"""Does a huge ``alpha`` keep ``l2sp`` at the source network? A check on a Walmart slice.

L2-SP's penalty ``alpha/2 * ||w_S - w_S^0||^2`` holds the fine-tuned weights at the source
weights as alpha grows, so ``alpha = 1e9`` with ``epochs`` fine-tuning epochs must forecast what
the source network forecasts (``epochs = 0``). ``alpha = 0`` (plain fine-tuning) is printed
for contrast: it must move away.

Data: the Walmart department series (``train.csv.zip``, read from ``--data-dir`` or
``TRANSFERCAST_WALMART``) of stores 1-12 and nine departments (1-9); the target stores
(``--targets``, default 10 11 12) keep their last 26 weeks before the origin 2011-09-30, the
other stores are the sources; horizon 13. Every fine-tuning runs exactly ``--epochs`` epochs
(``valid_periods = 0``: no early stopping) from one shared pre-trained network. Printed per
variant: the maximum and mean over forecasts of ``|f - f0| / |f0|`` (``f0``: the source
network's forecast) and the ratio of sums ``sum |f - f0| / sum |f0|``. Run::

    TRANSFERCAST_THREADS=1 python benchmarks/l2sp_alpha_check.py [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("TRANSFERCAST_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from transfercast.forecasting import OriginTables, transfer_to  # noqa: E402
from transfercast.plugins.l2sp import L2SP  # noqa: E402
from transfercast.task import TransferTask  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = Path(
    os.environ.get("TRANSFERCAST_WALMART", HERE.parent.parent / "shared/data/walmart")
)
ORIGIN = "2011-09-30"
STORES = range(1, 13)
DEPARTMENTS = range(1, 10)
HORIZON = 13
HISTORY = 26


def load_slice(data_dir: Path) -> pd.DataFrame:
    """Weekly sales of stores 1-12 x departments 1-9 with ``Type``, ``Size``, ``IsHoliday``."""
    if not (data_dir / "train.csv.zip").exists():
        sys.exit(f"Walmart data not found in {data_dir} (use --data-dir or TRANSFERCAST_WALMART)")
    train = pd.read_csv(data_dir / "train.csv.zip", parse_dates=["Date"])
    train = train[train["Store"].isin(STORES) & train["Dept"].isin(DEPARTMENTS)]
    frame = train.merge(pd.read_csv(data_dir / "stores.csv"), on="Store", how="left")
    frame["IsHoliday"] = frame["IsHoliday"].astype(int)
    return frame


def make_tables(frame: pd.DataFrame, targets: list[int]) -> OriginTables:
    """The feature tables of the slice at the origin (targets keep ``HISTORY`` weeks)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task = TransferTask(
            frame,
            series=["Store", "Dept"],
            time="Date",
            target="Weekly_Sales",
            domain="Store",
            targets=targets,
            horizon=HORIZON,
            static=["Type", "Size"],
            known=["IsHoliday"],
            target_history=HISTORY,
        )
    origin = pd.Timestamp(ORIGIN)
    return OriginTables(task, task.at_origin(origin), task.features)


def forecasts(strategy: L2SP, source_net: object, tables: OriginTables) -> np.ndarray:
    """Every target store's forecasts, in a fixed order."""
    out = []
    for domain in tables.data.target_rows:
        fitted = transfer_to(strategy, source_net, tables, domain, tables.source)
        fc = tables.forecast(fitted, domain).sort_values(["unique_id", "ds"])
        out.append(fc["forecast"].to_numpy(float))
    return np.concatenate(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--targets", type=int, nargs="+", default=[10, 11, 12])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--alphas", default="1e9,0", help="comma-separated alphas to compare")
    args = ap.parse_args()
    if not set(args.targets) <= set(STORES):
        ap.error(f"--targets must be stores of the slice (1-12), got {args.targets}")
    tables = make_tables(load_slice(args.data_dir), args.targets)
    base = L2SP({"epochs": 0})
    source_net = base.fit_source(tables.source)
    f0 = forecasts(base, source_net, tables)
    print(
        f"Walmart stores 1-12 x departments 1-9, targets {args.targets}, origin {ORIGIN}, "
        f"{HISTORY} weeks of target history: {len(f0)} forecasts, "
        f"{len(tables.source)} source rows"
    )
    print(f"{'alpha':>8} {'epochs':>6} {'max rel':>10} {'mean rel':>10} {'sum rel':>10}")
    for alpha in (float(a) for a in args.alphas.split(",")):
        s = L2SP({"alpha": alpha, "epochs": args.epochs, "valid_periods": 0})
        f = forecasts(s, source_net, tables)
        rel = np.abs(f - f0) / np.maximum(np.abs(f0), 1e-9)
        total = np.abs(f - f0).sum() / np.abs(f0).sum()
        cells = (f"{100 * v:>9.3g}%" for v in (rel.max(), rel.mean(), total))
        print(f"{alpha:>8g} {args.epochs:>6} {' '.join(cells)}", flush=True)


if __name__ == "__main__":
    main()
