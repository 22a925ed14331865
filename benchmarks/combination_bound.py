"""How low could any weighting of the strategies go? A hindsight bound for ``auto``.

Reads a ``forecasts.csv`` (columns ``strategy``, ``origin``, ``unique_id``, ``ds``,
``forecast``, ``actual``, as ``compare`` and ``benchmarks/walmart_new_stores.py`` write it) and
prints the mean WAPE (over target domains and origins) of each strategy, of the best single
strategy per target chosen with the actuals in hand, and of the best non-negative weights summing
to 1, chosen with the actuals in hand, once for all targets and once per target. No selection
that weighs these strategies' forecasts can beat the last figure on these cells: it is the floor
of ``auto`` over the same candidates. ``--domain-of`` gives the domain of a ``unique_id``: the
part before the first ``|`` (the default, as in ``"33|1"``)::

    python benchmarks/walmart_new_stores.py --strategies target_only,source_only,pooled,\\
        boost_continue,representation,l2sp --output /tmp/wns
    python benchmarks/combination_bound.py /tmp/wns/forecasts.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from transfercast.replay import blended_wape, stack_weights


def best_weights(wide: pd.DataFrame, names: list[str]) -> tuple[float, pd.Series]:
    """The least mean WAPE over ``wide``'s (domain, cut) groups of a simplex-weighted blend of
    the ``names`` columns, and those weights (``auto``'s stacking program, exact)."""
    weights = stack_weights([(wide, 1.0)], names)
    return blended_wape(wide, weights), weights


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("forecasts", type=Path)
    ap.add_argument("--separator", default="|", help="the domain is the unique_id before it")
    args = ap.parse_args()
    f = pd.read_csv(args.forecasts)
    f["domain"] = f["unique_id"].astype(str).str.split(args.separator, regex=False).str[0]
    f["cell"] = f["domain"] + " @ " + f["origin"].astype(str)
    wide = f.pivot_table(index=["cell", "unique_id", "ds"], columns="strategy", values="forecast")
    names = [str(c) for c in wide.columns]
    wide = wide.dropna().reset_index()
    actual = f.drop_duplicates(["cell", "unique_id", "ds"]).set_index(["cell", "unique_id", "ds"])
    keys = pd.MultiIndex.from_frame(wide[["cell", "unique_id", "ds"]])
    wide["actual"] = actual["actual"].reindex(keys).to_numpy(float)
    wide = wide.assign(domain=wide["cell"], cut=0)  # the groups blended_wape averages over
    print(f"{wide['cell'].nunique()} cells (target x origin), {len(wide)} forecasts\n")
    single = {n: blended_wape(wide, pd.Series({n: 1.0})) for n in names}
    for name, value in sorted(single.items(), key=lambda kv: kv[1]):
        print(f"{name:>24} {value:.4f}")
    glob, w = best_weights(wide, names)
    weights = ", ".join(f"{n} {v:.2f}" for n, v in w.items() if v >= 0.005)
    per_cell = [best_weights(g, names)[0] for _, g in wide.groupby("cell")]
    select = [
        min(blended_wape(g, pd.Series({n: 1.0})) for n in names) for _, g in wide.groupby("cell")
    ]
    print(f"\nin hindsight: the best single strategy per cell {np.mean(select):.4f}")
    print(f"in hindsight: the best weights for all cells  {glob:.4f} ({weights})")
    print(f"in hindsight: the best weights per cell       {np.mean(per_cell):.4f}")


if __name__ == "__main__":
    main()
