"""Walmart new stores before launch and in their first weeks: WAPE against weeks since launch.

The protocol of ``walmart_new_stores.py`` (series ``Store`` x ``Dept``, complete series only;
targets 33, 4, 1, 21, 13, 12, 2 and 25; the other 37 stores the sources; origin 2011-09-30,
horizon 13; known ``IsHoliday``), with the static ``Size`` and ``Type`` of each store, and the
targets' history cut to 0, 4, 8, 13 and 26 weeks before the origin. At 0 weeks every strategy
forecasts on the level that :mod:`transfercast.prelaunch` estimates from the sources.

The reference is "mean sales of the same department in stores of the same type, scaled by store
size": per department and store type, the mean over the source stores of their mean weekly sales
over the 8 weeks up to the origin divided by their size, times the target store's size (the
department's mean over every type where the type has no source store with it), flat over the
horizon. It needs no history of the target, so it is the same at every history length.

Prints mean WAPE over the targets per strategy and history, and draws WAPE against weeks since
launch (a PNG in ``--output``, outside the repository: it holds figures from Walmart's sales)::

    TRANSFERCAST_WALMART=/path/to/walmart python benchmarks/pre_launch.py --output /tmp/pl
    python benchmarks/pre_launch.py --histories 0,4,13 --strategies source_only,boost_continue
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TRANSFERCAST_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from walmart_config import DEFAULT_DATA, HERE  # noqa: E402
from walmart_new_stores import ORIGIN, TARGETS, load, make_task  # noqa: E402

import transfercast as tc  # noqa: E402

HISTORIES = [0, 4, 8, 13, 26]
STRATEGIES = ["target_only", "source_only", "pooled", "boost_continue", "representation"]
REFERENCE = "reference: dept x type per size"
WINDOW = 8  # weeks of the reference's recent mean


def load_with_type(data_dir: Path) -> pd.DataFrame:
    """:func:`walmart_new_stores.load` with each store's ``Type``."""
    frame = load(data_dir)
    types = pd.read_csv(data_dir / "stores.csv")[["Store", "Type"]]
    return frame.merge(types, on="Store")


def task_at(frame: pd.DataFrame, history: int) -> tc.TransferTask:
    """The task of the protocol with ``history`` weeks of target history (static Size, Type)."""
    return make_task(frame, history, static=("Size", "Type"))


def reference_forecasts(frame: pd.DataFrame) -> pd.DataFrame:
    """The reference's forecast of every target series: ``Store``, ``Dept``, ``forecast``,
    from the source stores' sales observed by the origin only."""
    origin = pd.Timestamp(ORIGIN)
    recent = frame[
        (frame["Date"] <= origin) & (frame["Date"] > origin - pd.Timedelta(weeks=WINDOW))
    ]
    recent = recent.assign(Weekly_Sales=recent["Weekly_Sales"].clip(lower=0))  # as scored
    src = recent[~recent["Store"].isin(TARGETS)]
    mean = src.groupby(["Store", "Dept", "Type", "Size"], as_index=False)["Weekly_Sales"].mean()
    mean["rate"] = mean["Weekly_Sales"] / mean["Size"]
    by_type = mean.groupby(["Dept", "Type"])["rate"].mean()
    by_dept = mean.groupby("Dept")["rate"].mean()
    targets = frame[frame["Store"].isin(TARGETS)][["Store", "Dept", "Type", "Size"]]
    targets = targets.drop_duplicates(["Store", "Dept"])
    rate = targets.join(by_type, on=["Dept", "Type"])["rate"]
    rate = rate.fillna(targets.join(by_dept, on="Dept")["rate"]).fillna(0.0)
    return targets.assign(forecast=rate * targets["Size"])[["Store", "Dept", "forecast"]]


def reference_wape(frame: pd.DataFrame, actuals: pd.DataFrame) -> pd.Series:
    """WAPE of the reference per target store, on ``actuals`` (``unique_id``, ``ds``,
    ``actual`` as compare scored them)."""
    ref = reference_forecasts(frame)
    ref["unique_id"] = ref["Store"].astype(str) + "|" + ref["Dept"].astype(str)
    both = actuals.merge(ref, on="unique_id")
    both["e"] = (both["forecast"] - both["actual"]).abs()
    per = both.groupby("Store")[["e", "actual"]].sum()
    return per["e"] / per["actual"]


def plot(table: pd.DataFrame, reference: float, path: Path) -> None:
    """WAPE against weeks since launch, one line per strategy, the reference dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, col in table.items():
        ax.plot(col.index, col.to_numpy(), marker="o", label=name)
    ax.axhline(reference, color="black", linestyle="--", label=REFERENCE)
    ax.set_xlabel("weeks of sales before the origin (0: not launched yet)")
    ax.set_ylabel("mean WAPE over the 8 new stores")
    ax.set_title(f"Walmart new stores, 13 weeks from {ORIGIN}")
    ax.set_xticks(list(table.index))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--histories", default=",".join(map(str, HISTORIES)))
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--output", type=Path, default=Path("/tmp/pre_launch"))
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args(argv)
    out = args.output.resolve()
    if HERE.parent in out.parents:
        sys.exit("--output must lie outside the repository (the Walmart data is not committed)")
    out.mkdir(parents=True, exist_ok=True)
    if not (args.data_dir / "train.csv.zip").exists():
        sys.exit(f"Walmart data not found in {args.data_dir} (set TRANSFERCAST_WALMART)")
    frame = load_with_type(args.data_dir)
    names = [s for s in args.strategies.split(",") if s]
    histories = [int(h) for h in args.histories.split(",") if h]
    scores, actuals = [], None
    for history in histories:
        start = time.perf_counter()
        comp = tc.compare(task_at(frame, history), names, origins=[ORIGIN], jobs=args.jobs)
        comp.scores.assign(history=history).to_csv(out / f"scores_{history}.csv", index=False)
        scores.append(comp.scores.assign(history=history))
        if actuals is None and len(comp.forecasts):
            first = comp.forecasts[comp.forecasts["strategy"] == comp.forecasts["strategy"].iloc[0]]
            actuals = first[["unique_id", "ds", "actual"]]
        skipped = comp.scores[comp.scores["status"] != "ok"]
        note = f"; {len(skipped)} cells not ok: {skipped['error'].iloc[0]}" if len(skipped) else ""
        print(f"{history} weeks: {time.perf_counter() - start:.0f} s{note}", flush=True)
    allscores = pd.concat(scores, ignore_index=True)
    ok = allscores[allscores["status"] == "ok"]
    table = ok.pivot_table(index="history", columns="strategy", values="wape", aggfunc="mean")
    table = table.reindex(index=histories, columns=[n for n in names if n in table.columns])
    ref = float(reference_wape(frame, actuals).mean()) if actuals is not None else np.nan
    shown = table.copy()
    shown[REFERENCE] = ref
    print(shown.round(4).to_string())
    plot(table, ref, out / "pre_launch.png")
    allscores.to_csv(out / "scores.csv", index=False)
    print(f"figure and scores in {out}")
    return shown


if __name__ == "__main__":
    main()
