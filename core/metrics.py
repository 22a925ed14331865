"""Forecast accuracy metrics for one target domain at one origin.

WAPE, MAE, RMSE and bias pool every series and step of the domain; MASE and RMSSE (from
utilsforecast) scale each series' error by its in-sample one-step naive error over the history
the model saw, then average over series.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from utilsforecast.losses import mase as _mase
from utilsforecast.losses import rmsse as _rmsse

METRICS = ("wape", "mae", "rmse", "mase", "rmsse", "bias")


def score(forecasts: pd.DataFrame, history: pd.DataFrame) -> dict[str, float]:
    """Metrics of ``forecasts`` (``unique_id``, ``ds``, ``forecast``, ``actual``) given the
    in-sample ``history`` (``unique_id``, ``ds``, ``y``) used for MASE/RMSSE scaling.

    ``bias`` is the mean error over the mean absolute actual (positive: over-forecast).
    """
    df = forecasts.dropna(subset=["actual"])
    if df.empty or df["forecast"].isna().all():
        return dict.fromkeys(METRICS, float("nan"))
    err = df["forecast"].to_numpy() - df["actual"].to_numpy()
    denom = np.abs(df["actual"].to_numpy()).sum()
    out = {
        "wape": float(np.abs(err).sum() / denom) if denom else float("nan"),
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "bias": float(err.mean() / np.abs(df["actual"]).mean()) if denom else float("nan"),
    }
    pred = df[["unique_id", "ds", "forecast", "actual"]].rename(columns={"actual": "y"})
    hist = history[["unique_id", "ds", "y"]].dropna()
    hist = hist[hist["unique_id"].isin(pred["unique_id"].unique())]
    if hist.groupby("unique_id").size().min() < 2 or hist.empty:
        out["mase"] = out["rmsse"] = float("nan")
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        m = _mase(pred, ["forecast"], 1, hist)["forecast"].replace([np.inf, -np.inf], np.nan)
        r = _rmsse(pred, ["forecast"], 1, hist)["forecast"].replace([np.inf, -np.inf], np.nan)
    out["mase"] = float(m.mean())
    out["rmsse"] = float(r.mean())
    return out
