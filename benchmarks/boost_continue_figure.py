"""WAPE of ``boost_continue``'s modes against target history; writes the figure
``docs/img/boost_continue_history.png`` and prints the tables of its docs page.

Data: ``synthetic_sales(relatedness=1)`` (20 stores x 3 departments, 5 new stores), horizon 13,
3 rolling origins (13 weeks apart, the last one's horizon holding Thanksgiving and Christmas).
For each target history length (weeks kept before each origin) it compares ``target_only``,
``source_only``, the three modes with their defaults and ``refit_leaves`` with ``kappa = 500``
(all sharing one source model per origin). It then prints:

- the mean WAPE per strategy at 13 weeks (the issue's acceptance table), per origin too;
- the holiday check: at the origin whose horizon holds Thanksgiving and Christmas while the 13
  weeks of target history hold neither, ``add_trees`` (early-stopped) against ``source_only``,
  and ``add_trees`` without early stopping (``valid_periods = 0``) and with the calendar and
  holiday columns excluded from the added trees (``exclude_columns``).

Run::

    TRANSFERCAST_THREADS=1 python benchmarks/boost_continue_figure.py [--engine lightgbm]
        [--histories 8,13,26,39] [--seed 0] [--no-figure]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd

from transfercast.config import parse_config
from transfercast.datasets import synthetic_config, synthetic_sales
from transfercast.evaluation import compare
from transfercast.plugins.baselines import SourceOnly, TargetOnly
from transfercast.plugins.boost_continue import BoostContinue
from transfercast.task import TransferTask

os.environ.setdefault("TRANSFERCAST_THREADS", "1")  # the documented figures ran on one thread

FIGURE = Path(__file__).resolve().parents[1] / "docs" / "img" / "boost_continue_history.png"
MODES = ["add_trees", "refit_leaves", "refit_then_add"]
#: calendar and holiday columns the added trees may not use in ``add_trees_no_calendar``
NO_CALENDAR = ["week", "month", "is_holiday", "is_holiday_delta"]


def variant(label: str, base: type = BoostContinue, **params):
    """A strategy instance reported under its own name (same source spec, shared source)."""
    return type(f"V_{label}", (base,), {"name": label})(params)


def run(frame: pd.DataFrame, history: int, engine: str, extra: bool) -> pd.DataFrame:
    """Scores (one row per target x origin x strategy) at one target history length."""
    raw = synthetic_config(
        "unused.csv", frame.attrs["targets"], horizon=13, target_history=history, windows=3
    )
    task = TransferTask.from_config(parse_config(raw), data=frame)
    strategies = [
        variant("target_only", TargetOnly, engine=engine),
        variant("source_only", SourceOnly, engine=engine),
        *[variant(m, engine=engine, mode=m) for m in MODES],
        variant("refit_kappa500", engine=engine, mode="refit_leaves", kappa=500.0),
    ]
    if extra:
        strategies += [
            variant("add_trees_no_es", engine=engine, valid_periods=0),
            variant("add_trees_no_calendar", engine=engine, exclude_columns=NO_CALENDAR),
        ]
    comp = compare(task, strategies)
    ok = comp.scores[comp.scores["status"] == "ok"].copy()
    if len(ok) < len(comp.scores):
        print(comp.scores[comp.scores["status"] != "ok"][["strategy", "error"]].head())
    ok["history"] = history
    if extra:
        holiday_weeks(comp.forecasts)
    return ok


def holiday_weeks(fc: pd.DataFrame) -> None:
    """WAPE over the Thanksgiving and Christmas weeks (Nov 23-29, Dec 18-31) at the last origin."""
    ds = pd.to_datetime(fc["ds"])
    hol = ((ds.dt.month == 11) & ds.dt.day.between(23, 29)) | (
        (ds.dt.month == 12) & (ds.dt.day >= 18)
    )
    last = fc[hol & (fc["origin"] == fc["origin"].max())]
    err = (last["forecast"] - last["actual"]).abs().groupby(last["strategy"]).sum()
    wape = err / last["actual"].abs().groupby(last["strategy"]).sum()
    print(
        "WAPE over the Thanksgiving and Christmas weeks of the last origin's horizon, all "
        "targets pooled (13 weeks of history):"
    )
    print(wape.sort_values().to_string(float_format=lambda v: f"{v:.4f}"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="lightgbm", choices=["lightgbm", "xgboost"])
    ap.add_argument("--histories", default="8,13,26,39")
    ap.add_argument("--seed", type=int, default=0, help="synthetic data seed")
    ap.add_argument("--no-figure", action="store_true")
    args = ap.parse_args()
    histories = [int(h) for h in args.histories.split(",")]
    if 13 not in histories:
        histories.append(13)

    frame = synthetic_sales(relatedness=1.0, seed=args.seed)
    start = time.perf_counter()
    scores = pd.concat([run(frame, h, args.engine, extra=(h == 13)) for h in sorted(histories)])
    print(
        f"synthetic_sales(relatedness=1, seed={args.seed}), engine {args.engine}, horizon 13, "
        f"{scores['origin'].nunique()} origins x {scores['target'].nunique()} targets; "
        f"{time.perf_counter() - start:.0f} s"
    )

    curve = scores.groupby(["history", "strategy"])["wape"].mean().unstack()
    print("\nmean WAPE by weeks of target history")
    print(curve.to_string(float_format=lambda v: f"{v:.4f}"))

    at13 = scores[scores["history"] == 13]
    by_origin = at13.pivot_table(index="strategy", columns="origin", values="wape", aggfunc="mean")
    by_origin.columns = [pd.Timestamp(c).date().isoformat() for c in by_origin.columns]
    by_origin["mean"] = at13.groupby("strategy")["wape"].mean()
    base = by_origin.loc["target_only", "mean"]
    by_origin["vs target_only"] = by_origin["mean"] / base - 1
    print("\n13 weeks of target history: WAPE per origin (mean over the 5 targets)")
    print(by_origin.sort_values("mean").to_string(float_format=lambda v: f"{v:.4f}"))
    best = by_origin.loc[MODES, "mean"].idxmin()
    print(
        f"best mode {best}: {by_origin.loc[best, 'mean']:.4f} vs target_only {base:.4f} "
        f"({1 - by_origin.loc[best, 'mean'] / base:.1%} lower)"
    )

    holiday = max(at13["origin"])
    h = at13[at13["origin"] == holiday].groupby("strategy")["wape"].mean()
    print(
        f"\nholiday origin {pd.Timestamp(holiday).date()} (horizon holds Thanksgiving and "
        f"Christmas, the 13-week target history neither): source_only {h['source_only']:.4f}, "
        f"add_trees {h['add_trees']:.4f} ({h['add_trees'] / h['source_only'] - 1:+.1%}), "
        f"add_trees without early stopping {h['add_trees_no_es']:.4f} "
        f"({h['add_trees_no_es'] / h['source_only'] - 1:+.1%})"
    )
    if not args.no_figure:
        plot(curve, args.engine)


def plot(curve: pd.DataFrame, engine: str) -> None:
    """Mean WAPE against weeks of target history, one line per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=110)
    styles = {
        "target_only": ("C7", ":"),
        "source_only": ("C2", "--"),
        "add_trees": ("C0", "-"),
        "refit_leaves": ("C1", "-"),
        "refit_then_add": ("C3", "-"),
        "refit_kappa500": ("C1", "-."),
    }
    for name, (color, ls) in styles.items():
        ax.plot(curve.index, curve[name], marker="o", color=color, ls=ls, label=name)
    ax.set_xlabel("weeks of target history before each origin")
    ax.set_ylabel("mean WAPE (5 targets x 3 origins)")
    ax.set_title(
        f"boost_continue ({engine}) on synthetic_sales, relatedness 1, horizon 13", fontsize=9
    )
    ax.set_xticks(list(curve.index))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE)
    print(f"figure written to {FIGURE}")


if __name__ == "__main__":
    main()
