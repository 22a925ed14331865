"""Synthetic sweep: WAPE against source-target relatedness and target history, per strategy.

``transfercast.datasets.synthetic_sales(relatedness=r)`` makes target stores that share the
sources' seasonality, holiday and price response fully (r = 1), half (0.5) or not at all (0).
For each relatedness and each target history (13, 26, 52 weeks) every strategy is compared on
the 5 target stores at 2 rolling origins (horizon 13). Transfer should help most when the
target is related and its history short, and should not hurt (much) when it is unrelated.

    python benchmarks/synthetic_sweep.py                 # ~5-10 min on 2 cores
    python benchmarks/synthetic_sweep.py --quick         # relatedness 0 and 1, history 13 and 52
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("TRANSFERCAST_THREADS", "1")

import pandas as pd  # noqa: E402

import transfercast as tc  # noqa: E402
from transfercast.config import parse_config  # noqa: E402
from transfercast.datasets import synthetic_config, synthetic_sales  # noqa: E402

HERE = Path(__file__).resolve().parent
HORIZON = 13


def run_one(relatedness: float, history: int, names: list[str], seed: int) -> pd.DataFrame:
    """Scores of every strategy for one (relatedness, history) point."""
    frame = synthetic_sales(
        n_domains=20,
        series_per_domain=3,
        n_periods=157,
        n_targets=5,
        target_periods=52 + 2 * HORIZON,
        relatedness=relatedness,
        seed=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = synthetic_config(
            "unused.csv", frame.attrs["targets"], horizon=HORIZON, target_history=history
        )
        task = tc.TransferTask.from_config(parse_config(raw), data=frame)
        end = pd.Timestamp(frame["date"].max())
        origins = [end - pd.Timedelta(weeks=HORIZON * k) for k in (2, 1)]
        comp = tc.compare(task, names, origins=origins)
    scores = comp.scores.copy()
    scores.insert(0, "history", history)
    scores.insert(0, "relatedness", relatedness)
    return scores


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--strategies", default=None, help="comma-separated (default: all)")
    ap.add_argument("--relatedness", default=None, help="default 0,0.5,1")
    ap.add_argument("--histories", default=None, help="default 13,26,52")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--output", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    names = args.strategies.split(",") if args.strategies else tc.strategies()
    rel = (
        [float(r) for r in args.relatedness.split(",")]
        if args.relatedness
        else ([0.0, 1.0] if args.quick else [0.0, 0.5, 1.0])
    )
    hist = (
        [int(h) for h in args.histories.split(",")]
        if args.histories
        else ([13, 52] if args.quick else [13, 26, 52])
    )
    print(f"strategies: {', '.join(names)}; relatedness {rel}; histories {hist}", flush=True)
    parts, t0 = [], time.perf_counter()
    for r in rel:
        for h in hist:
            parts.append(run_one(r, h, names, args.seed))
            print(f"relatedness {r} history {h}: {time.perf_counter() - t0:.0f}s", flush=True)
    scores = pd.concat(parts, ignore_index=True)
    ok = scores[scores["status"] == "ok"]
    table = ok.pivot_table(
        index=["relatedness", "history"], columns="strategy", values="wape", aggfunc="mean"
    )[[n for n in names if n in set(ok["strategy"])]]
    failed = scores[scores["status"] != "ok"]
    args.output.mkdir(parents=True, exist_ok=True)
    scores.to_csv(args.output / "synthetic_scores.csv", index=False)
    table.reset_index().to_csv(args.output / "synthetic_sweep.csv", index=False)
    print("\nMean WAPE (5 target stores x 2 origins) by relatedness and target history\n")
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    if len(failed):
        print(f"\n{len(failed)} failed cells; first: {failed['error'].iloc[0]}")
    print(f"\n{time.perf_counter() - t0:.0f}s; CSV in {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
