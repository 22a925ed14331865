"""Forecast accuracy metrics for one target domain at one origin.

WAPE, MAE, RMSE and bias pool every series and step of the domain; MASE and RMSSE (from
utilsforecast) scale each series' error by its in-sample one-step naive error over the history
the model saw, then average over series.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from utilsforecast.losses import mase as _mase
from utilsforecast.losses import rmsse as _rmsse

METRICS = ("wape", "mae", "rmse", "mase", "rmsse", "bias")


def score(
    forecasts: pd.DataFrame, history: pd.DataFrame, metrics: Iterable[str] = METRICS
) -> dict[str, float]:
    """Metrics of ``forecasts`` (``unique_id``, ``ds``, ``forecast``, ``actual``) given the
    in-sample ``history`` (``unique_id``, ``ds``, ``y``) used for MASE/RMSSE scaling.

    ``bias`` is the mean error over the mean absolute actual (positive: over-forecast).
    ``metrics`` names the ones wanted: the pooled ones always come (they cost nothing), MASE
    and RMSSE only when named (they cost most of the time of a backtest's scoring). A missing
    or infinite forecast on a row with an actual makes every metric NaN.
    """
    metrics = set(metrics)
    unknown = metrics - set(METRICS)
    if unknown:
        raise ValueError(f"unknown metric(s) {sorted(unknown)}; known: {', '.join(METRICS)}")
    df = forecasts.dropna(subset=["actual"])
    if df.empty or not np.isfinite(df["forecast"].to_numpy(float)).all():
        return dict.fromkeys(METRICS, float("nan"))
    err = df["forecast"].to_numpy() - df["actual"].to_numpy()
    denom = np.abs(df["actual"].to_numpy()).sum()
    out = {
        "wape": float(np.abs(err).sum() / denom) if denom else float("nan"),
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "bias": float(err.mean() / np.abs(df["actual"]).mean()) if denom else float("nan"),
    }
    scaled = [(name, fn) for name, fn in (("mase", _mase), ("rmsse", _rmsse)) if name in metrics]
    if not scaled:
        return out
    pred = df[["unique_id", "ds", "forecast", "actual"]].rename(columns={"actual": "y"})
    # a missing period stays NaN in the history, so that no difference spans a gap; a series
    # with fewer than two observed periods, or whose history never changed (flat, or all zero:
    # its naive error is 0), has no scale and is left out of the mean
    hist = history[["unique_id", "ds", "y"]].sort_values(["unique_id", "ds"])
    counts = hist.dropna().groupby("unique_id").size()
    scalable = counts.index[counts >= 2].intersection(pred["unique_id"].unique())
    if not len(scalable):
        out.update({name: float("nan") for name, _ in scaled})
        return out
    hist = hist[hist["unique_id"].isin(scalable)]
    pred = pred[pred["unique_id"].isin(scalable)]
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, fn in scaled:
            per_series = fn(pred, ["forecast"], 1, hist)["forecast"]
            out[name] = float(per_series.replace([np.inf, -np.inf], np.nan).mean())
    return out
