"""Do the similarity diagnostics tell related targets from unrelated ones?

On the synthetic data (`synthetic_sales`, relatedness 0: the targets' seasonality and price
response are their own; 1: the sources') the seasonal-profile correlation and the
domain-classifier AUC of every target are measured at the forecast origin and at each
evaluation origin, with the targets' history cut to ``--history`` weeks. Prints their range
per relatedness and origin and how many targets pass the similarity test of ``auto``'s prior
rule (``season_corr >= prior_min_season_corr`` and ``domain_auc <= prior_max_auc``, the
correlation not counted where ``season_shown`` is false): the test that decides for targets
too young for an inner backtest and that the unseen-season waiver requires. A good test
passes the related targets and fails the unrelated ones. ``flat`` counts the targets whose
weeks hold no season by the sources' index.

    python benchmarks/similarity_separation.py --history 13
"""

from __future__ import annotations

import argparse
import warnings

import pandas as pd

import transfercast as tc
from transfercast.config import parse_config
from transfercast.datasets import synthetic_config, synthetic_sales
from transfercast.plugins.auto import AutoParams, similar_enough
from transfercast.similarity import similarity


def separation(relatedness: list[float], history: int, seed: int = 0, **sales: int) -> pd.DataFrame:
    """One row per target, relatedness and origin: ``season_corr``, ``domain_auc`` and
    ``passes`` (the prior rule's similarity test with ``auto``'s default bars)."""
    bars = AutoParams()
    rows = []
    for rel in relatedness:
        frame = synthetic_sales(relatedness=rel, seed=seed, **sales)
        raw = synthetic_config(
            "unused.csv", frame.attrs["targets"], target_history=history, windows=3
        )
        task = tc.TransferTask.from_config(parse_config(raw), data=frame)
        origins = [("forecast origin", task.forecast_origin())]
        origins += [("evaluation", o) for o in task.evaluation_origins()]
        for kind, origin in origins:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                table = similarity(task, origin)
            for r in table.itertuples(index=False):
                corr, auc = float(r.season_corr), float(r.domain_auc)
                counted = corr if r.season_shown else float("nan")
                rows.append(
                    {
                        "relatedness": rel,
                        "origin": f"{pd.Timestamp(origin).date()} ({kind})",
                        "target": r.target,
                        "season_corr": corr,
                        "domain_auc": auc,
                        "season_shown": bool(r.season_shown),
                        "passes": similar_enough(auc, counted, bars),
                    }
                )
    return pd.DataFrame(rows)


def summary(cells: pd.DataFrame) -> pd.DataFrame:
    """Per relatedness and origin: the ranges of both diagnostics and the targets passing."""
    g = cells.groupby(["relatedness", "origin"], sort=False)
    out = g.agg(
        corr_min=("season_corr", "min"),
        corr_max=("season_corr", "max"),
        auc_min=("domain_auc", "min"),
        auc_max=("domain_auc", "max"),
        flat=("season_shown", lambda v: int((~v).sum())),
        passes=("passes", "sum"),
        targets=("passes", "size"),
    )
    return out.reset_index()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--relatedness", type=float, nargs="*", default=[0.0, 1.0])
    ap.add_argument("--history", type=int, default=13)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cells = separation(args.relatedness, args.history, args.seed)
    pd.set_option("display.width", 200)
    print(summary(cells).round(2).to_string(index=False))
    share = cells.groupby("relatedness")["passes"].mean()
    print("\nshare of targets passing the similarity test, all origins:")
    print(share.round(2).to_string())


if __name__ == "__main__":
    main()
