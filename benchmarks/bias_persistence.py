"""Does a forecast's recent bias carry to the next horizon?  Walmart weekly sales.

The forecast is the classic retail one, the same week a year before times the year-on-year
growth of the last 8 weeks (what a model of sales over the recent level, fitted on one past
year, amounts to). At every origin it is scored over the next ``--horizon`` weeks, once as it
is and once multiplied by its own bias (actuals over forecast, summed) over the horizon that
ended at the origin, the correction a user would make from the latest observed miss. Printed:
the correlation of consecutive biases and the mean WAPE both ways, for the chain total and for
each store's total (one line per store summarised by the mean), and each origin's figures for
the chain.

    python benchmarks/bias_persistence.py [--data ../shared/data/walmart] [--horizon 13]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "walmart"
WINDOW = 8  # weeks of the growth estimate
SEASON = 52


def yoy_forecast(s: np.ndarray, t: int, horizon: int) -> np.ndarray:
    """Weeks t+1..t+horizon: the same week a year before times the last weeks' growth."""
    growth = s[t - WINDOW + 1 : t + 1].sum() / s[t - WINDOW + 1 - SEASON : t + 1 - SEASON].sum()
    return s[t + 1 - SEASON : t + 1 + horizon - SEASON] * growth


def origins_table(s: np.ndarray, dates: pd.DatetimeIndex, horizon: int) -> pd.DataFrame:
    """One row per origin: bias of the forecast made there, of the one made a horizon before,
    and WAPE without and with that earlier bias applied."""
    first = SEASON + WINDOW - 1 + horizon
    rows = []
    for t in range(first, len(s) - horizon):
        actual = s[t + 1 : t + 1 + horizon]
        fc = yoy_forecast(s, t, horizon)
        prev = yoy_forecast(s, t - horizon, horizon)
        prev_bias = s[t - horizon + 1 : t + 1].sum() / prev.sum()
        rows.append(
            {
                "origin": dates[t].date(),
                "bias": actual.sum() / fc.sum(),
                "prev_bias": prev_bias,
                "wape": np.abs(actual - fc).sum() / actual.sum(),
                "wape_corrected": np.abs(actual - fc * prev_bias).sum() / actual.sum(),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--horizon", type=int, default=13)
    args = ap.parse_args()
    sales = pd.read_csv(args.data / "train.csv.zip", parse_dates=["Date"])
    chain = sales.groupby("Date")["Weekly_Sales"].sum()
    table = origins_table(chain.to_numpy(), chain.index, args.horizon)
    pd.set_option("display.width", 120)
    print(table.round(4).to_string(index=False))
    corr = table[["bias", "prev_bias"]].corr().iloc[0, 1]
    print(
        f"\nchain total, {len(table)} origins: correlation of consecutive biases {corr:.2f}; "
        f"mean WAPE {table.wape.mean():.4f} as is, {table.wape_corrected.mean():.4f} corrected"
    )
    stores = sales.pivot_table(index="Date", columns="Store", values="Weekly_Sales", aggfunc="sum")
    per_store = []
    for store in stores.columns:
        t = origins_table(stores[store].to_numpy(), stores.index, args.horizon)
        per_store.append(
            (t[["bias", "prev_bias"]].corr().iloc[0, 1], t.wape.mean(), t.wape_corrected.mean())
        )
    c, w, wc = np.array(per_store).T
    print(
        f"{len(per_store)} store totals: correlation of consecutive biases, median "
        f"{np.median(c):.2f} (positive at {int((c > 0).sum())} stores); mean WAPE {w.mean():.4f} "
        f"as is, {wc.mean():.4f} corrected (lower at {int((wc < w).sum())} stores)"
    )


if __name__ == "__main__":
    main()
