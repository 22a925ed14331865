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
from scipy.optimize import minimize


def wape_by_cell(pred: np.ndarray, actual: np.ndarray, cell: np.ndarray) -> float:
    """Mean over cells of sum |pred - actual| / sum |actual|."""
    frame = pd.DataFrame({"e": np.abs(pred - actual), "a": np.abs(actual), "cell": cell})
    sums = frame.groupby("cell")[["e", "a"]].sum()
    return float((sums["e"] / sums["a"]).mean())


def best_weights(X: np.ndarray, actual: np.ndarray, cell: np.ndarray) -> tuple[float, np.ndarray]:
    """The least mean WAPE of ``X @ w`` over weights on the simplex (softmax parameters,
    Nelder-Mead from equal weights) and those weights."""

    def loss(z: np.ndarray) -> float:
        w = np.exp(z - z.max())
        return wape_by_cell(X @ (w / w.sum()), actual, cell)

    res = minimize(loss, np.zeros(X.shape[1]), method="Nelder-Mead", options={"maxiter": 4000})
    w = np.exp(res.x - res.x.max())
    return float(res.fun), w / w.sum()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("forecasts", type=Path)
    ap.add_argument("--separator", default="|", help="the domain is the unique_id before it")
    args = ap.parse_args()
    f = pd.read_csv(args.forecasts)
    f["domain"] = f["unique_id"].astype(str).str.split(args.separator, regex=False).str[0]
    f["cell"] = f["domain"] + " @ " + f["origin"].astype(str)
    wide = f.pivot_table(index=["cell", "unique_id", "ds"], columns="strategy", values="forecast")
    wide = wide.dropna()
    actual = f.drop_duplicates(["cell", "unique_id", "ds"]).set_index(["cell", "unique_id", "ds"])
    y = actual["actual"].reindex(wide.index).to_numpy(float)
    cell = wide.index.get_level_values("cell").to_numpy()
    names = list(wide.columns)
    X = wide.to_numpy(float)
    print(f"{len(np.unique(cell))} cells (target x origin), {len(y)} forecasts\n")
    for k, name in sorted(enumerate(names), key=lambda kn: wape_by_cell(X[:, kn[0]], y, cell)):
        print(f"{name:>24} {wape_by_cell(X[:, k], y, cell):.4f}")
    glob, w = best_weights(X, y, cell)
    weights = ", ".join(f"{n} {v:.2f}" for n, v in zip(names, w, strict=True) if v >= 0.005)
    select, per_cell = [], []
    for c in np.unique(cell):
        m = cell == c
        select.append(min(wape_by_cell(X[m, k], y[m], cell[m]) for k in range(len(names))))
        per_cell.append(best_weights(X[m], y[m], cell[m])[0])
    print(f"\nin hindsight: the best single strategy per cell {np.mean(select):.4f}")
    print(f"in hindsight: the best weights for all cells  {glob:.4f} ({weights})")
    print(f"in hindsight: the best weights per cell       {np.mean(per_cell):.4f}")


if __name__ == "__main__":
    main()
