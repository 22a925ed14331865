"""How much target history is enough? WAPE per strategy as the target history grows.

On the synthetic data (``transfercast.datasets.synthetic_sales``: 12 stores x 2 departments,
3 years of weekly sales, 3 new stores) the targets keep only their last N weeks before each
origin, N in 4, 8, 13, 26, 52; horizon 13 weeks; 3 rolling origins 13 weeks apart. Run once with
``relatedness = 1`` (the new stores share the sources' seasonality and price response) and once
with ``relatedness = 0`` (they do not). Prints mean WAPE per strategy and history length; the
FAQ (docs/faq.md) quotes these figures.

    python benchmarks/history_length.py                 # ~3 min on 2 cores
    python benchmarks/history_length.py --strategies target_only,source_only
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TRANSFERCAST_THREADS", "1")

import pandas as pd  # noqa: E402

import transfercast as tc  # noqa: E402
from transfercast.config import parse_config  # noqa: E402
from transfercast.datasets import synthetic_config, synthetic_sales  # noqa: E402

HISTORIES = (4, 8, 13, 26, 52)


def run(relatedness: float, strategies: list[str], histories: tuple[int, ...]) -> pd.DataFrame:
    """Mean WAPE per strategy (columns) and target history (rows)."""
    frame = synthetic_sales(
        n_domains=12,
        series_per_domain=2,
        n_periods=157,
        n_targets=3,
        # the longest history at the first of the 3 origins: every origin holds it all
        target_periods=max(histories) + 3 * 13,
        relatedness=relatedness,
        seed=1,
    )
    rows = {}
    for n in histories:
        raw = synthetic_config(
            "unused.csv", frame.attrs["targets"], horizon=13, target_history=n, windows=3
        )
        task = tc.TransferTask.from_config(parse_config(raw), data=frame)
        board = tc.compare(task, strategies).leaderboard().set_index("strategy")
        rows[n] = board["wape"].reindex(strategies)
    table = pd.DataFrame(rows).T
    table.index.name = "target weeks"
    return table


def main() -> None:
    """Parse arguments, run both relatedness settings, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default="target_only,source_only,pooled,boost_continue")
    args = parser.parse_args()
    strategies = args.strategies.split(",")
    for relatedness in (1.0, 0.0):
        start = time.perf_counter()
        table = run(relatedness, strategies, HISTORIES)
        print(
            f"\nrelatedness {relatedness}: mean WAPE over 3 targets x 3 origins "
            f"({time.perf_counter() - start:.0f} s)"
        )
        print(table.round(3).to_string())


if __name__ == "__main__":
    main()
