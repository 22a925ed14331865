"""How well does ``auto`` pick? Synthetic sales at several relatedness levels.

For each relatedness, a comparison of the candidate strategies and ``auto`` (same candidates)
over 5 target stores x 3 rolling origins (horizon 13). Prints, per relatedness: mean WAPE of
each strategy, auto's WAPE relative to the best single strategy and to ``target_only``, the
share of (target, origin) cells where auto chose a transfer strategy, and auto's mean regret
against the best single strategy in hindsight per cell.

    python benchmarks/auto_selection.py                       # relatedness 0, 0.5, 1
    python benchmarks/auto_selection.py --relatedness 1 --history 26
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd

import transfercast as tc
from transfercast.config import parse_config
from transfercast.datasets import synthetic_config, synthetic_sales
from transfercast.evaluation import selection_regret

os.environ.setdefault("TRANSFERCAST_THREADS", "1")  # the documented figures ran on one thread

SAFE = {"target_only", "naive"}
SAVE_DIR = ""  # set by --save: a folder for the per-cell scores and selections


def run(
    relatedness: float, history: int, candidates: list[str], seed: int, auto: dict | None = None
) -> dict[str, object]:
    """One comparison; returns the figures of one table row."""
    frame = synthetic_sales(relatedness=relatedness, seed=seed)
    raw = synthetic_config("unused.csv", frame.attrs["targets"], target_history=history, windows=3)
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    start = time.perf_counter()
    params = {"auto": {"candidates": candidates, **(auto or {})}}
    comp = tc.compare(task, [*candidates, "auto"], params=params)
    seconds = time.perf_counter() - start
    if SAVE_DIR:
        stem = f"{SAVE_DIR}/r{relatedness}_h{history}"
        comp.scores.to_csv(f"{stem}_scores.csv", index=False)
        comp.selection.to_csv(f"{stem}_selection.csv", index=False)
        comp.forecasts.to_csv(f"{stem}_forecasts.csv", index=False)
    board = comp.leaderboard().set_index("strategy")
    singles = board.drop(index="auto")
    best = singles["wape"].idxmin()
    chosen = comp.selection["chosen"]
    transfer = chosen.map(lambda c: any(p not in SAFE for p in c.split("+")))
    regret = selection_regret(comp.scores)
    row: dict[str, object] = {"relatedness": relatedness, "history": history}
    row.update({f"wape_{s}": board.loc[s, "wape"] for s in board.index})
    row.update(
        best_single=best,
        auto_vs_best=board.loc["auto", "wape"] / singles.loc[best, "wape"],
        auto_vs_target_only=board.loc["auto", "wape"] / board.loc["target_only", "wape"],
        transfer_share=float(transfer.mean()),
        mean_regret=float(regret["regret"].mean()),
        seconds=seconds,
    )
    return row


def markdown(table: pd.DataFrame) -> str:
    """A markdown table (three decimals)."""
    cells = table.map(lambda v: f"{v:.3f}" if isinstance(v, float) else str(v))
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells.to_numpy().tolist()]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--relatedness", type=float, nargs="*", default=[0.0, 0.5, 1.0])
    ap.add_argument("--history", type=int, nargs="*", default=[13, 26])
    ap.add_argument("--candidates", default="target_only,source_only,pooled")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--auto", default="{}", help='auto parameters as JSON, e.g. {"method": "meta"}')
    ap.add_argument("--save", default="", help="folder for per-cell scores and selections")
    args = ap.parse_args()
    global SAVE_DIR
    SAVE_DIR = args.save
    if SAVE_DIR:
        Path(SAVE_DIR).mkdir(parents=True, exist_ok=True)
    registered = set(tc.strategies())
    candidates = [c for c in args.candidates.split(",") if c in registered]
    rows = []
    for h in args.history:
        for r in args.relatedness:
            rows.append(run(r, h, candidates, args.seed, json.loads(args.auto)))
            print(pd.DataFrame(rows[-1:]).round(3).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print("\nsummary (mean WAPE over 5 targets x 3 origins):")
    print(table.round(3).to_string(index=False))
    print("\nmarkdown:")
    print(markdown(table))


if __name__ == "__main__":
    main()
