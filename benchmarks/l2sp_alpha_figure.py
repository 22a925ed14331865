"""WAPE of ``l2sp`` against alpha on the synthetic data; writes ``docs/img/l2sp_alpha.png``.

Data: ``synthetic_sales(relatedness=1)`` (20 stores x 3 departments, 5 new stores), 13 weeks of
target history, horizon 13, 3 rolling origins. Every variant fine-tunes the same source network
(one pre-training per origin, shared through the source cache). The two ends of the curve:

- ``alpha = 0`` (and ``beta = 0``): plain fine-tuning;
- ``epochs = 0``: the source network unchanged (the limit of a very large alpha).

Also printed: a target-only network (``init = "scratch"``, same size, trained on the target rows
only) and the gradient-boosting baselines. Run::

    TRANSFERCAST_THREADS=1 python benchmarks/l2sp_alpha_figure.py [--seed 0] [--no-figure]
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
from transfercast.plugins.l2sp import L2SP
from transfercast.task import TransferTask

os.environ.setdefault("TRANSFERCAST_THREADS", "1")  # the documented figures ran on one thread

ALPHAS = [0.1, 1.0, 10.0, 100.0, 300.0, 1e3, 3e3, 1e4, 1e5]
FIGURE = Path(__file__).resolve().parents[1] / "docs" / "img" / "l2sp_alpha.png"


def variant(label: str, **params) -> L2SP:
    """An ``l2sp`` instance reported under its own name (same source spec, shared source)."""
    cls = type(f"L2SP_{label}", (L2SP,), {"name": label})
    return cls(params)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0, help="synthetic data seed")
    ap.add_argument("--no-figure", action="store_true")
    ap.add_argument("--alphas", type=str, default=None, help="comma-separated alphas")
    args = ap.parse_args()
    alphas = [float(a) for a in args.alphas.split(",")] if args.alphas else ALPHAS

    frame = synthetic_sales(relatedness=1.0, seed=args.seed)
    raw = synthetic_config(
        "unused.csv", frame.attrs["targets"], horizon=13, target_history=13, windows=3
    )
    task = TransferTask.from_config(parse_config(raw), data=frame)

    strategies = [
        variant("source_net", epochs=0),
        variant("plain_ft", alpha=0.0, beta=0.0),
        variant(
            "target_net", init="scratch", alpha=0.0, beta=0.0, epochs=1000, lr=3e-3, patience=100
        ),
        *[variant(f"l2sp_{a:g}", alpha=a) for a in alphas],
        "target_only",
        "source_only",
    ]
    start = time.perf_counter()
    comp = compare(task, strategies)
    seconds = time.perf_counter() - start
    ok = comp.scores[comp.scores["status"] == "ok"]
    if len(ok) < len(comp.scores):
        print(comp.scores[comp.scores["status"] != "ok"][["strategy", "error"]].head())
    wape = ok.groupby("strategy")["wape"].agg(["mean", "std", "count"])
    rows = []
    for name in wape.index:
        alpha = float(name.split("_", 1)[1]) if name.startswith("l2sp_") else None
        rows.append({"strategy": name, "alpha": alpha, **wape.loc[name].to_dict()})
    table = pd.DataFrame(rows).sort_values(["alpha", "strategy"], na_position="last")
    print(
        f"synthetic_sales(relatedness=1, seed={args.seed}), 13 weeks of target history, "
        f"horizon 13, {ok['origin'].nunique()} origins x {ok['target'].nunique()} targets; "
        f"{seconds:.0f} s, {comp.source_fits} source fits"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    curve = table.dropna(subset=["alpha"])
    best = curve.loc[curve["mean"].idxmin()]
    print(
        f"best alpha {best['alpha']:g}: WAPE {best['mean']:.4f}; plain fine-tuning "
        f"{wape.loc['plain_ft', 'mean']:.4f}; target-only network "
        f"{wape.loc['target_net', 'mean']:.4f}; source network "
        f"{wape.loc['source_net', 'mean']:.4f}"
    )
    if not args.no_figure:
        plot(curve, wape)


def plot(curve: pd.DataFrame, wape: pd.DataFrame) -> None:
    """WAPE against alpha (log scale) with the two ends and the target-only network as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=110)
    ax.plot(curve["alpha"], curve["mean"], "o-", color="C0", label="l2sp")
    ends = [
        ("plain_ft", "alpha = 0: plain fine-tuning", "C3", "--"),
        ("source_net", "alpha -> inf: source network", "C2", "--"),
        ("target_net", "target-only network", "C7", ":"),
    ]
    shown = [*curve["mean"], *(wape.loc[n, "mean"] for n, *_ in ends[:2])]
    top = max(shown) + 0.25 * (max(shown) - min(shown))
    for name, label, color, style in ends:
        value = wape.loc[name, "mean"]
        if value > top:  # off the scale: named in the legend with its value
            ax.plot([], [], color=color, ls=style, label=f"{label}: {value:.3f} (off scale)")
        else:
            ax.axhline(value, color=color, ls=style, label=label)
    ax.set_ylim(min(shown) - 0.25 * (max(shown) - min(shown)), top)
    ax.set_xscale("log")
    ax.set_xlabel("alpha (L2-SP strength, log scale)")
    ax.set_ylabel("mean WAPE (5 targets x 3 origins)")
    ax.set_title("l2sp on synthetic_sales, relatedness 1, 13 weeks of target history", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE)
    print(f"figure written to {FIGURE}")


if __name__ == "__main__":
    main()
