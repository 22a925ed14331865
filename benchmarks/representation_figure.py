"""WAPE of ``representation`` and of each representation alone against the baselines; writes
``docs/img/representation.png`` and prints the table of ``docs/strategies/representation.md``.

Data: ``synthetic_sales(relatedness=1)`` (20 stores x 3 departments, 5 new stores), horizon 13,
13 weeks of target history, 3 rolling origins 13 weeks apart. Every variant shares one source
model per origin with ``source_only``. Variants:

- ``representation``: the defaults (prediction, leaves, entities; offset on);
- ``rep_prediction`` / ``rep_leaves`` / ``rep_entities`` / ``rep_embedding``: one
  representation alone, as a plain input (``offset = false``), to show what each carries;
- ``rep_all``: all four, offset on.

Run::

    TRANSFERCAST_THREADS=1 python benchmarks/representation_figure.py [--engine lightgbm]
        [--seed 0] [--history 13] [--no-figure] [--no-embedding]
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
from transfercast.plugins.representation import Representation
from transfercast.task import TransferTask

os.environ.setdefault("TRANSFERCAST_THREADS", "1")  # the documented figures ran on one thread

FIGURE = Path(__file__).resolve().parents[1] / "docs" / "img" / "representation.png"


def variant(label: str, base: type = Representation, **params):
    """A strategy instance reported under its own name (same source spec, shared source)."""
    return type(f"V_{label}", (base,), {"name": label})(params)


def strategies(engine: str, embedding: bool) -> list:
    """The baselines and the representation variants compared."""
    out = [
        variant("target_only", TargetOnly, engine=engine),
        variant("source_only", SourceOnly, engine=engine),
        variant("representation", engine=engine),
    ]
    alone = ["prediction", "leaves", "entities", *(["embedding"] if embedding else [])]
    out += [variant(f"rep_{r}", engine=engine, representations=[r], offset=False) for r in alone]
    if embedding:
        out.append(
            variant(
                "rep_all",
                engine=engine,
                representations=["prediction", "leaves", "entities", "embedding"],
            )
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="lightgbm", choices=["lightgbm", "xgboost"])
    ap.add_argument("--seed", type=int, default=0, help="synthetic data seed")
    ap.add_argument("--history", type=int, default=13, help="weeks of target history")
    ap.add_argument("--no-figure", action="store_true")
    ap.add_argument("--no-embedding", action="store_true", help="skip the torch variants")
    args = ap.parse_args()

    frame = synthetic_sales(relatedness=1.0, seed=args.seed)
    raw = synthetic_config(
        "unused.csv", frame.attrs["targets"], horizon=13, target_history=args.history, windows=3
    )
    task = TransferTask.from_config(parse_config(raw), data=frame)
    start = time.perf_counter()
    comp = compare(task, strategies(args.engine, not args.no_embedding))
    scores = comp.scores
    failed = scores[scores["status"] != "ok"]
    if len(failed):
        print(failed[["strategy", "target", "error"]].to_string())
    ok = scores[scores["status"] == "ok"]
    print(
        f"synthetic_sales(relatedness=1, seed={args.seed}), engine {args.engine}, horizon 13, "
        f"{args.history} weeks of target history, {ok['origin'].nunique()} origins x "
        f"{ok['target'].nunique()} targets; {time.perf_counter() - start:.0f} s"
    )

    table = ok.pivot_table(index="strategy", columns="origin", values="wape", aggfunc="mean")
    table.columns = [pd.Timestamp(c).date().isoformat() for c in table.columns]
    table["mean"] = ok.groupby("strategy")["wape"].mean()
    table["cells"] = ok.groupby("strategy")["wape"].size()
    base = table.loc["target_only", "mean"]
    table["vs target_only"] = table["mean"] / base - 1
    table = table.sort_values("mean")
    print("\nmean WAPE per origin (over the targets) and overall")
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    rep = table.loc["representation", "mean"]
    print(
        f"\nrepresentation {rep:.4f} vs target_only {base:.4f} ({1 - rep / base:.1%} lower), "
        f"vs source_only {table.loc['source_only', 'mean']:.4f}"
    )
    if not args.no_figure:
        plot(table, args.engine, args.history)


def plot(table: pd.DataFrame, engine: str, history: int) -> None:
    """Horizontal bars: mean WAPE per strategy, baselines in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = table.sort_values("mean", ascending=False)
    colors = [
        "0.6"
        if n in ("target_only", "source_only")
        else ("C0" if n in ("representation", "rep_all") else "C1")
        for n in t.index
    ]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    ax.barh(t.index, t["mean"], color=colors)
    for y, v in enumerate(t["mean"]):
        ax.text(v, y, f" {v:.3f}", va="center", fontsize=8)
    ax.set_xlabel("mean WAPE (5 new stores x 3 origins)")
    ax.set_title(
        f"representation on synthetic_sales (relatedness 1, {history} weeks, {engine})", fontsize=9
    )
    ax.set_xlim(0, t["mean"].max() * 1.18)
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE)
    print(f"wrote {FIGURE}")


if __name__ == "__main__":
    main()
