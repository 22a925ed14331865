"""Walmart cold start: every store is in turn a new store with a short history.

The 45 stores are split into folds; each fold in turn is the set of target (new) stores and the
other stores are the sources, so that every store is a target once. Target stores keep only
their last 13, 26 or 52 weeks before each origin; the horizon is 13 weeks. Origins: one whose
horizon holds Thanksgiving and Christmas (2011-10-28) and ones that do not (2012-04-27,
2012-07-27).

Compared: every registered transfercast strategy (``transfercast.strategies()``, or the ones
named by ``--strategies``) and, as the references a user would otherwise reach for,

- ``mlforecast_global``: a global LightGBM trained with mlforecast on the source stores (lags
  up to 52, rolling means, week/month, per-series standard scaling) and applied to the target
  stores with ``predict(new_df=...)``;
- ``naive`` (last value), ``naive_mean`` (mean of the last 8 weeks) and ``seasonal_naive``
  (same week last year; only where the target history reaches back a year, else ``naive``).

Prints mean WAPE and MASE per strategy and history length with their spread over
(target, origin) cells, the holiday-origin table, ``auto``'s regret, and writes the per-cell
scores and the summary as CSV under ``benchmarks/results/``.

    python benchmarks/walmart_cold_start.py             # full run (~15 min on 2 cores)
    python benchmarks/walmart_cold_start.py --quick     # 26 weeks of history, 2 origins
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

# One thread per model fit unless told otherwise: target models are tiny, and OpenMP threads
# on a busy machine cost far more than they save (see docs/benchmarks.md).
os.environ.setdefault("TRANSFERCAST_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

# The references live in references.py, shared with suite.py.
from references import (  # noqa: E402
    REFERENCES,
    MLForecastReference,
    fitted_strategies,
    name_clash,
    reference_scores,
)

import transfercast as tc  # noqa: E402
from transfercast.evaluation import compare  # noqa: E402
from transfercast.task import TransferTask  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = Path(
    os.environ.get("TRANSFERCAST_WALMART", HERE.parent.parent / "shared/data/walmart")
)
HOLIDAY_ORIGIN = "2011-10-28"
ORIGINS = [HOLIDAY_ORIGIN, "2012-04-27", "2012-07-27"]
HISTORIES = [13, 26, 52]
HORIZON = 13


def load_walmart(data_dir: Path, level: str = "store") -> pd.DataFrame:
    """Weekly sales per store (``level="store"``) or per store x department, with the store's
    ``Type`` and ``Size`` and the ``IsHoliday`` flag."""
    data_dir = Path(data_dir)
    if not (data_dir / "train.csv.zip").exists():
        sys.exit(f"Walmart data not found in {data_dir} (use --data-dir or TRANSFERCAST_WALMART)")
    train = pd.read_csv(data_dir / "train.csv.zip", parse_dates=["Date"])
    stores = pd.read_csv(data_dir / "stores.csv")
    if level == "store":
        frame = train.groupby(["Store", "Date"], as_index=False).agg(
            Weekly_Sales=("Weekly_Sales", "sum"), IsHoliday=("IsHoliday", "max")
        )
    else:
        frame = train
    frame = frame.merge(stores, on="Store", how="left")
    frame["IsHoliday"] = frame["IsHoliday"].astype(int)
    return frame


def make_folds(stores: list[int], k: int, seed: int = 0) -> list[list[int]]:
    """``k`` disjoint folds of stores (shuffled with ``seed``) that together cover all stores."""
    order = np.random.default_rng(seed).permutation(stores)
    return [sorted(int(s) for s in fold) for fold in np.array_split(order, k)]


def make_task(frame: pd.DataFrame, targets: list[int], history: int, level: str) -> TransferTask:
    """The transfercast task: ``targets`` are the new stores with ``history`` weeks."""
    series = ["Store"] if level == "store" else ["Store", "Dept"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TransferTask(
            frame,
            series=series,
            time="Date",
            target="Weekly_Sales",
            domain="Store",
            targets=targets,
            horizon=HORIZON,
            static=["Type", "Size"],
            known=["IsHoliday"],
            target_history=history,
        )


# -- summaries ----------------------------------------------------------------------------------
def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation and median of WAPE and mean MASE per (history, strategy)."""
    ok = scores[scores["status"] == "ok"]
    g = ok.groupby(["history", "strategy"])
    out = pd.DataFrame(
        {
            "wape": g["wape"].mean(),
            "wape_std": g["wape"].std(),
            "wape_median": g["wape"].median(),
            "mase": g["mase"].mean(),
            "mase_std": g["mase"].std(),
            "cells": g.size(),
        }
    ).reset_index()
    failed = scores[scores["status"] != "ok"].groupby(["history", "strategy"]).size()
    pairs = zip(out["history"], out["strategy"], strict=True)
    out["failed"] = [int(failed.get((h, s), 0)) for h, s in pairs]
    return out.sort_values(["history", "wape"]).reset_index(drop=True)


def regret(scores: pd.DataFrame, transfer: list[str]) -> pd.DataFrame:
    """``auto``'s regret per history: its WAPE minus the per-cell best of the candidates
    (oracle) and minus the best single candidate on average."""
    ok = scores[scores["status"] == "ok"]
    rows = []
    for hist, part in ok.groupby("history"):
        wide = part.pivot_table(index=["target", "origin"], columns="strategy", values="wape")
        cands = [c for c in transfer if c in wide and c != "auto"]
        if "auto" not in wide or not cands:
            continue
        wide = wide.dropna(subset=["auto", *cands])
        best_cell = wide[cands].min(axis=1)
        means = wide[cands].mean()
        rows.append(
            {
                "history": hist,
                "auto_wape": wide["auto"].mean(),
                "oracle_wape": best_cell.mean(),
                "regret_vs_oracle": (wide["auto"] - best_cell).mean(),
                "best_fixed": means.idxmin(),
                "best_fixed_wape": means.min(),
                "regret_vs_best_fixed": wide["auto"].mean() - means.min(),
                "cells": len(wide),
            }
        )
    return pd.DataFrame(rows)


def fmt(df: pd.DataFrame) -> str:
    """A plain-text table with 3 decimals."""
    return df.to_string(index=False, float_format=lambda v: f"{v:.3f}")


def to_markdown(df: pd.DataFrame) -> str:
    """A markdown table with 3 decimals (for docs/benchmarks.md)."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in r]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--level", choices=["store", "dept"], default="store")
    ap.add_argument("--strategies", default=None, help="comma-separated (default: all registered)")
    ap.add_argument("--references", default=",".join(REFERENCES))
    ap.add_argument("--histories", default=None, help="comma-separated weeks (default 13,26,52)")
    ap.add_argument("--origins", default=None, help="comma-separated dates")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument(
        "--stores",
        default=None,
        help="comma-separated target stores to run (default: all); the others of their folds "
        "become sources, so with --folds 45 these are cells of the one-store comparison",
    )
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--auto", default="{}", help='auto parameters as JSON, e.g. {"method": "meta"}')
    ap.add_argument("--quick", action="store_true", help="26 weeks of history, 2 origins")
    ap.add_argument("--output", type=Path, default=HERE / "results")
    ap.add_argument("--markdown", action="store_true", help="also print markdown tables")
    args = ap.parse_args(argv)

    histories = (
        [int(h) for h in args.histories.split(",")]
        if args.histories
        else ([26] if args.quick else HISTORIES)
    )
    origins = (
        args.origins.split(",")
        if args.origins
        else ([HOLIDAY_ORIGIN, "2012-04-27"] if args.quick else ORIGINS)
    )
    origins = [pd.Timestamp(o) for o in origins]
    names = args.strategies.split(",") if args.strategies else fitted_strategies(tc.strategies())
    refs = [r for r in args.references.split(",") if r]
    if clash := name_clash(names, refs):
        ap.error(clash)
    frame = load_walmart(args.data_dir, args.level)
    stores = sorted(frame["Store"].unique().tolist())
    folds = make_folds(stores, args.folds)
    if args.stores:
        try:
            keep = {int(s) for s in args.stores.split(",")}
        except ValueError:
            ap.error(f"--stores: '{args.stores}' is not a comma-separated list of store numbers")
        if unknown := keep - set(stores):
            ap.error(f"--stores: no store {', '.join(map(str, sorted(unknown)))} in the data")
        folds = [f for f in ([s for s in fold if s in keep] for fold in folds) if f]
    print(
        f"transfercast {tc.__version__}; strategies: {', '.join(names)}; references: "
        f"{', '.join(refs)}",
        flush=True,
    )
    print(
        f"{sum(map(len, folds))} target stores in {len(folds)} folds; histories {histories}; "
        f"origins {[str(o.date()) for o in origins]}; horizon {HORIZON}",
        flush=True,
    )

    all_rows: list[pd.DataFrame] = []
    extra: dict[str, list[pd.DataFrame]] = {"forecasts": [], "selection": []}
    source_fits = 0
    t0 = time.perf_counter()
    for k, fold in enumerate(folds):
        ml_models: dict[pd.Timestamp, MLForecastReference] = {}
        for hist in histories:
            task = make_task(frame, fold, hist, args.level)
            params = {"auto": json.loads(args.auto)}
            comp = compare(task, names, params=params, origins=origins, jobs=args.jobs)
            source_fits += comp.source_fits
            for key in extra:
                frame_k = getattr(comp, key)
                if len(frame_k):
                    extra[key].append(frame_k.assign(fold=k, history=hist))
            parts = [comp.scores]
            if refs:
                ref_rows, ref_fc = [], []
                for origin in origins:
                    if "mlforecast_global" in refs and origin not in ml_models:
                        ml_models[origin] = MLForecastReference(task, origin)
                    ref_rows += reference_scores(task, origin, ml_models.get(origin), refs, ref_fc)
                parts.append(pd.DataFrame(ref_rows))
                extra["forecasts"].append(
                    pd.concat(ref_fc, ignore_index=True).assign(fold=k, history=hist)
                )
            part = pd.concat(parts, ignore_index=True)
            part.insert(0, "history", hist)
            part.insert(0, "fold", k)
            all_rows.append(part)
            print(
                f"fold {k + 1}/{len(folds)} history {hist}: {len(part)} cells, "
                f"{time.perf_counter() - t0:.0f}s",
                flush=True,
            )
    scores = pd.concat(all_rows, ignore_index=True)
    scores["origin"] = pd.to_datetime(scores["origin"])
    scores["holiday"] = scores["origin"] == pd.Timestamp(HOLIDAY_ORIGIN)
    elapsed = time.perf_counter() - t0

    summary = summarise(scores)
    holiday = summarise(scores[scores["holiday"]])
    other = summarise(scores[~scores["holiday"]])
    reg = regret(scores, names)
    args.output.mkdir(parents=True, exist_ok=True)
    scores.to_csv(args.output / "walmart_scores.csv", index=False)
    summary.assign(origins="all").to_csv(args.output / "walmart_summary.csv", index=False)
    holiday.assign(origins="holiday").to_csv(
        args.output / "walmart_summary_holiday.csv", index=False
    )
    other.assign(origins="non_holiday").to_csv(
        args.output / "walmart_summary_other.csv", index=False
    )
    reg.to_csv(args.output / "walmart_auto_regret.csv", index=False)
    for key, frames_k in extra.items():  # auto's choices and every strategy's forecasts
        if frames_k:
            pd.concat(frames_k, ignore_index=True).to_csv(
                args.output / f"walmart_{key}.csv", index=False
            )

    show = print
    render = to_markdown if args.markdown else fmt
    show("\nAll origins: mean WAPE / MASE over (target store, origin) cells\n")
    show(render(summary))
    if len(holiday):
        show(f"\nHoliday origin {HOLIDAY_ORIGIN} (horizon over Thanksgiving and Christmas)\n")
        show(render(holiday))
    if len(other):
        show("\nNon-holiday origins\n")
        show(render(other))
    if len(reg):
        show(
            "\nauto's regret (WAPE points) against the per-cell oracle and the best fixed "
            "strategy\n"
        )
        show(render(reg))
    h26 = holiday[holiday["history"] == 26].set_index("strategy")["wape"]
    if len(h26):
        transfer = [s for s in names if s in h26 and s not in ("target_only", "auto")]
        best = h26[transfer].idxmin() if transfer else None
        show("\nDone-when check (26 weeks, holiday origin, mean WAPE):")
        for s in [best, "auto", "target_only", "mlforecast_global"]:
            if s is not None and s in h26:
                show(f"  {s:20s} {h26[s]:.3f}")
    show(f"\n{len(scores)} cells, {source_fits} source fits, {elapsed:.0f}s; CSV in {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
