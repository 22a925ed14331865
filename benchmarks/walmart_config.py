"""Write a store-level Walmart data file and a transfercast config for it, outside the repo.

The Walmart files stay in ``../shared/data/walmart``; this script aggregates the departments to
one weekly series per store (with the store's ``Type``, ``Size`` and the ``IsHoliday`` flag),
writes it with a config to ``--output`` (default ``/tmp/transfercast-walmart``), and prints the
commands to run, e.g.::

    python benchmarks/walmart_config.py --targets 3 17 33 --history 26
    transfercast similarity /tmp/transfercast-walmart/config.toml --origin 2011-10-28
    transfercast compare /tmp/transfercast-walmart/config.toml
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd

from transfercast.cli import to_toml

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = Path(
    os.environ.get("TRANSFERCAST_WALMART", HERE.parent.parent / "shared/data/walmart")
)


def store_frame(data_dir: Path) -> pd.DataFrame:
    """Weekly sales per store with ``Type``, ``Size`` and ``IsHoliday``."""
    if not (data_dir / "train.csv.zip").exists():
        sys.exit(f"Walmart data not found in {data_dir} (use --data-dir or TRANSFERCAST_WALMART)")
    train = pd.read_csv(data_dir / "train.csv.zip", parse_dates=["Date"])
    frame = train.groupby(["Store", "Date"], as_index=False).agg(
        Weekly_Sales=("Weekly_Sales", "sum"), IsHoliday=("IsHoliday", "max")
    )
    frame = frame.merge(pd.read_csv(data_dir / "stores.csv"), on="Store", how="left")
    frame["IsHoliday"] = frame["IsHoliday"].astype(int)
    return frame


def walmart_config(
    targets: list[int],
    history: int = 26,
    horizon: int = 13,
    windows: int = 3,
    candidates: list[str] | None = None,
    data_file: str = "walmart_stores.csv",
) -> dict:
    """A config mapping: ``targets`` are new stores with ``history`` weeks, horizon 13."""
    cfg: dict = {
        "data": {
            "path": data_file,
            "series": ["Store"],
            "time": "Date",
            "target": "Weekly_Sales",
            "freq": "W-FRI",
            "domain": "Store",
            "static": ["Type", "Size"],
            "known": ["IsHoliday"],
        },
        "task": {"targets": targets, "horizon": horizon, "target_history": history},
        "evaluate": {"windows": windows, "step": horizon},
        "strategy": {"name": "auto"},
        "output": {"dir": "results"},
    }
    if candidates:
        cfg["strategy"]["candidates"] = candidates
        cfg["strategies"] = {"auto": {"candidates": [c for c in candidates if c != "auto"]}}
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--output", type=Path, default=Path("/tmp/transfercast-walmart"))
    ap.add_argument("--targets", type=int, nargs="+", default=[3, 17, 33])
    ap.add_argument("--history", type=int, default=26)
    ap.add_argument("--candidates", default="")
    args = ap.parse_args()
    out = args.output.resolve()
    if HERE.parent in out.parents or out == HERE.parent:
        sys.exit("--output must lie outside the repository (the Walmart data is not committed)")
    out.mkdir(parents=True, exist_ok=True)
    store_frame(args.data_dir).to_csv(out / "walmart_stores.csv", index=False)
    cands = [c for c in args.candidates.split(",") if c] or None
    (out / "config.toml").write_text(
        to_toml(walmart_config(args.targets, args.history, candidates=cands))
    )
    print(f"wrote {out / 'walmart_stores.csv'} and {out / 'config.toml'}")
    print(f"transfercast similarity {out / 'config.toml'} --origin 2011-10-28")


if __name__ == "__main__":
    main()
