"""Prediction intervals on synthetic sales whose noise is known: coverage against nominal.

``synthetic_sales`` (20 stores x 3 departments, 5 new stores, multiplicative noise of 6 %) at
relatedness 1 (the new stores behave like the sources) and 0 (they do not), seeds 0-5; 13 weeks
of target history, horizon 13, 3 rolling origins. Every strategy forecasts the quantiles
0.025, 0.1, 0.5, 0.9 and 0.975 (``replay_conformal``). Prints, per relatedness and strategy,
the coverage of the 80 % and 95 % intervals over every forecast period of every target series,
their mean relative width, mean WAPE and mean SQL::

    python benchmarks/synthetic_intervals.py
    python benchmarks/synthetic_intervals.py --relatedness 1 --seeds 0

``--unsold``: a department of every new store (the first) has not sold up to each origin (a
product about to open in a store that sells); prints the same figures for the series that sold
and for those forecast before launch, by ``target_only``, ``source_only`` and ``pooled``, each
origin compared on its own data. ``--no-launch`` calibrates those series like the others (on
the replays at the store's history length), as before the launch calibration::

    python benchmarks/synthetic_intervals.py --unsold --relatedness 1

``--method quantile``: the engines' quantile objectives instead (``auto`` left out)::

    python benchmarks/synthetic_intervals.py --method quantile --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import pandas as pd

import transfercast as tc
from transfercast.config import parse_config
from transfercast.datasets import synthetic_config, synthetic_sales

os.environ.setdefault("TRANSFERCAST_THREADS", "1")  # the documented figures ran on one thread

QS = [0.025, 0.1, 0.5, 0.9, 0.975]
CANDIDATES = ["target_only", "source_only", "pooled"]


def forecasts(
    relatedness: float, seed: int, method: str = "replay_conformal"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The forecasts (with quantiles and actuals) and scores of one comparison (``auto`` only
    with ``replay_conformal``: the ``quantile`` method refuses it)."""
    frame = synthetic_sales(relatedness=relatedness, seed=seed)
    raw = synthetic_config("unused.csv", frame.attrs["targets"], target_history=13, windows=3)
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    params = {"auto": {"candidates": CANDIDATES}}
    names = [*CANDIDATES, "auto"] if method == "replay_conformal" else CANDIDATES
    comp = tc.compare(task, names, params=params, quantiles=QS, interval_method=method)
    return comp.forecasts, comp.scores


def unsold_forecasts(relatedness: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """As :func:`forecasts`, with the first department of every new store unsold up to each
    origin; the forecasts' ``strategy`` says ``<name> unsold`` for that department's rows."""
    frame = synthetic_sales(relatedness=relatedness, seed=seed)
    targets, dept = frame.attrs["targets"], sorted(frame["dept"].unique())[0]
    raw = synthetic_config("unused.csv", targets, target_history=13, windows=3)
    origins = tc.TransferTask.from_config(parse_config(raw), data=frame).evaluation_origins()
    fcs, scs = [], []
    for origin in origins:
        cut = frame.copy()
        late = cut["store"].isin(targets) & (cut["dept"] == dept) & (cut["date"] <= origin)
        cut.loc[late, "sales"] = float("nan")
        with warnings.catch_warnings():  # the unsold series, as intended
            warnings.simplefilter("ignore")
            task = tc.TransferTask.from_config(parse_config(raw), data=cut)
            comp = tc.compare(task, CANDIDATES, origins=[origin], quantiles=QS)
        fc = comp.forecasts
        keys = task.key_frame().set_index("unique_id")["dept"]
        unsold = fc["unique_id"].map(keys).eq(dept)  # every row is a target's
        fcs.append(fc.assign(strategy=fc["strategy"] + unsold.map({True: " unsold", False: ""})))
        scs.append(comp.scores)
    return pd.concat(fcs, ignore_index=True), pd.concat(scs, ignore_index=True)


def summary(fc: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Coverage and width over every forecast period; WAPE and SQL averaged over cells."""
    fc = fc.dropna(subset=["actual"])
    y = fc["actual"]
    fc = fc.assign(
        in80=(y >= fc["q0.1"]) & (y <= fc["q0.9"]),
        in95=(y >= fc["q0.025"]) & (y <= fc["q0.975"]),
        w80=fc["q0.9"] - fc["q0.1"],
        w95=fc["q0.975"] - fc["q0.025"],
        a=y.abs(),
    )
    g = fc.groupby("strategy")
    out = pd.DataFrame(
        {
            "coverage_80": g["in80"].mean(),
            "coverage_95": g["in95"].mean(),
            "width_80": g["w80"].sum() / g["a"].sum(),
            "width_95": g["w95"].sum() / g["a"].sum(),
            "periods": g.size(),
        }
    )
    ok = scores[scores["status"] == "ok"].groupby("strategy")
    out["wape"], out["sql"] = ok["wape"].mean(), ok["sql"].mean()
    return out.round(3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--relatedness", type=float, nargs="*", default=[1.0, 0.0])
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4, 5])
    ap.add_argument("--unsold", action="store_true", help="a department unsold up to each origin")
    ap.add_argument("--no-launch", action="store_true", help="no launch calibration (before)")
    ap.add_argument("--method", default="replay_conformal", help="replay_conformal or quantile")
    args = ap.parse_args()
    if args.no_launch:
        import transfercast.plugins.intervals as replay_conformal

        replay_conformal.launch_calibration = lambda *a, **k: None
    start = time.perf_counter()
    for rel in args.relatedness:
        if args.unsold:
            runs = [unsold_forecasts(rel, seed) for seed in args.seeds]
        else:
            runs = [forecasts(rel, seed, args.method) for seed in args.seeds]
        fc = pd.concat([r[0] for r in runs], ignore_index=True)
        sc = pd.concat([r[1] for r in runs], ignore_index=True)
        print(f"\nrelatedness {rel:g}, seeds {args.seeds}")
        print(summary(fc, sc).to_string())
        print(f"({time.perf_counter() - start:.0f} s so far)", flush=True)


if __name__ == "__main__":
    main()
