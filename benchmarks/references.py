"""The reference forecasts of the benchmarks: what a user would reach for without transfercast.

- ``mlforecast_global``: a global LightGBM trained with mlforecast on the source series of one
  origin (lags up to a year, rolling means, calendar features, per-series standard scaling,
  the task's static and known columns) and applied to the target series with
  ``predict(new_df=...)``;
- ``naive`` (last value), ``naive_mean`` (mean of the last 8 periods of a weekly series, of the
  last season of a shorter-season one) and ``seasonal_naive`` (same period a season back; the
  last value where the target history does not reach back that far).

Frequency, horizon and season length come from the task (its ``freq``, ``horizon`` and
``features.season_length``), so the same code serves weekly and quarterly panels. Each reference
sees the data cut at the origin only (``task.at_origin``); actuals are read for scoring.
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from transfercast.metrics import score
from transfercast.task import OriginData, TransferTask

REFERENCES = ["mlforecast_global", "naive", "naive_mean", "seasonal_naive"]
#: transfercast's registered model-free strategies, for which these references stand in the
#: benchmark tables (``naive`` there is the recent level, here the last value)
MODEL_FREE = ("naive", "last_value", "seasonal_naive")


def fitted_strategies(names: list[str]) -> list[str]:
    """``names`` less the model-free strategies: the benchmarks' default strategy list."""
    return [n for n in names if n not in MODEL_FREE]


def name_clash(strategies: list[str], refs: list[str]) -> str | None:
    """The one-line refusal of a strategy named as a reference too (one name would hold the
    scores of two forecasts), or ``None``."""
    clash = sorted(set(strategies) & set(refs))
    if not clash:
        return None
    return (
        f"--strategies {clash[0]} is also a --references name: drop it from one of them "
        '(--references "" runs none)'
    )


WEEKLY_LAGS = [1, 2, 3, 4, 8, 13, 26, 52]


def season_of(task: TransferTask) -> int:
    """Periods in a year for ``task`` (its features' ``season_length``)."""
    return int(task.features.season_length)


def default_lags(season: int) -> list[int]:
    """mlforecast lags: the weekly set for a 52-period season, else every lag of one season
    plus two seasons back."""
    if season >= 52:
        return list(WEEKLY_LAGS)
    return [*range(1, season + 1), 2 * season]


def mean_window(season: int) -> int:
    """Periods averaged by ``naive_mean``: 8 weeks for weekly data, one season otherwise."""
    return 8 if season >= 52 else season


class MLForecastReference:
    """A global LightGBM fitted with mlforecast on the source series of one origin."""

    def __init__(
        self,
        task: TransferTask,
        origin: pd.Timestamp,
        seed: int = 0,
        prediction_intervals: Any = None,
    ):
        import lightgbm as lgb
        from mlforecast import MLForecast
        from mlforecast.lag_transforms import RollingMean
        from mlforecast.target_transforms import LocalStandardScaler

        season = season_of(task)
        data = task.at_origin(origin)
        self.horizon = task.horizon
        self.static = self._static(task)
        train = self._frame(data.panel, data.source_rows)
        threads = int(os.environ.get("TRANSFERCAST_THREADS", "0")) or (os.cpu_count() or 1)
        weekly = season >= 52
        rolling = [RollingMean(4), RollingMean(13)] if weekly else [RollingMean(season)]
        calendar = ["week", "month"] if weekly else ["quarter"] if season == 4 else ["month"]
        self.model = MLForecast(
            models={
                "lgbm": lgb.LGBMRegressor(
                    n_estimators=300,
                    learning_rate=0.05,
                    num_leaves=31,
                    verbose=-1,
                    random_state=seed,
                    n_jobs=threads,
                )
            },
            freq=task.freq,
            lags=default_lags(season),
            lag_transforms={1: rolling},
            date_features=calendar,
            target_transforms=[LocalStandardScaler()],
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.fit(
                train,
                static_features=list(self.static.columns.drop("unique_id")),
                prediction_intervals=prediction_intervals,
            )

    @staticmethod
    def _static(task: TransferTask) -> pd.DataFrame:
        """Static columns as numbers: text columns become the codes of their sorted values."""
        st = task.panel.static.copy()
        for col in st.columns:
            if pd.api.types.is_numeric_dtype(st[col]):
                st[col] = st[col].astype(float)
            else:
                cats = sorted(st[col].dropna().astype(str).unique())
                st[col] = st[col].astype(str).map({c: i for i, c in enumerate(cats)}).astype(float)
        st.insert(0, "unique_id", task.panel.ids)
        return st

    def _frame(self, panel: Any, rows: np.ndarray) -> pd.DataFrame:
        long = panel.to_frame(rows).drop(columns=["domain"])
        return long.merge(self.static, on="unique_id", how="left")

    def forecast(
        self,
        data: OriginData,
        rows: np.ndarray,
        level: list[int] | None = None,
        transfer_conformal: str | None = None,
    ) -> pd.DataFrame:
        """Forecasts (``unique_id``, ``ds``, ``forecast``) of ``rows`` from ``data``'s origin;
        with ``level`` (the model fitted with ``prediction_intervals``), mlforecast's conformal
        intervals too, as quantile columns (``lo-80`` -> ``q0.1``) with ``q0.5`` the point."""
        h = self.horizon
        new = self._frame(data.panel, rows)
        o = data.origin_idx
        uids = data.panel.ids[rows]
        future = pd.DataFrame(
            {
                "unique_id": np.repeat(uids, h),
                "ds": np.tile(data.panel.times[o + 1 : o + 1 + h], len(uids)),
            }
        )
        tidx = data.panel.times.get_indexer(future["ds"])
        ridx = pd.Index(data.panel.ids).get_indexer(future["unique_id"])
        for col, arr in data.panel.known.items():
            future[col] = arr[ridx, tidx]
        with warnings.catch_warnings():  # long lags are missing for short histories, as intended
            warnings.simplefilter("ignore")
            out = self.model.predict(
                h,
                new_df=new,
                X_df=future if data.panel.known else None,
                level=level,
                transfer_conformal=transfer_conformal,
            )
        out = out.rename(columns={"lgbm": "forecast"})
        cols = ["unique_id", "ds", "forecast"]
        for lv in level or []:
            lo, hi = (100 - lv) / 200, 1 - (100 - lv) / 200
            out[f"q{lo:g}"] = out[f"lgbm-lo-{lv}"]
            out[f"q{hi:g}"] = out[f"lgbm-hi-{lv}"]
            cols += [f"q{lo:g}", f"q{hi:g}"]
        if level:
            out["q0.5"] = out["forecast"]
            cols.append("q0.5")
        return out[cols]


def simple_forecasts(
    data: OriginData, rows: np.ndarray, kind: str, horizon: int = 13, season: int = 52
) -> pd.DataFrame:
    """Naive (last value), naive_mean (mean of the last :func:`mean_window` periods) or seasonal
    naive (``season`` periods back, falling back to naive where the history does not reach)."""
    Y = data.panel.Y
    o = data.origin_idx
    steps = np.arange(1, horizon + 1)
    window = mean_window(season)
    frames = []
    for r in rows:
        hist = Y[r, : o + 1]
        obs = hist[~np.isnan(hist)]
        last = obs[-1] if len(obs) else np.nan
        if kind == "naive":
            fc = np.full(horizon, last)
        elif kind == "naive_mean":
            fc = np.full(horizon, obs[-window:].mean() if len(obs) else np.nan)
        elif kind == "seasonal_naive":
            back = o + steps - season
            fc = np.where(back >= 0, hist[np.clip(back, 0, o)], np.nan)
            fc = np.where(np.isnan(fc), last, fc)
        else:
            raise ValueError(f"unknown reference {kind!r}; known: {', '.join(REFERENCES)}")
        frames.append(
            pd.DataFrame(
                {"unique_id": data.panel.ids[r], "ds": data.panel.times[o + steps], "forecast": fc}
            )
        )
    return pd.concat(frames, ignore_index=True)


def reference_scores(
    task: TransferTask,
    origin: pd.Timestamp,
    ml: MLForecastReference | None,
    names: list[str],
    forecasts: list[pd.DataFrame] | None = None,
) -> list[dict]:
    """Scores of the reference forecasts for every target domain of ``task`` at ``origin``
    (rows shaped like :func:`transfercast.evaluation.compare`'s scores); the forecasts
    themselves (with actuals) are appended to ``forecasts`` when given."""
    data = task.at_origin(origin)
    rows_out = []
    for target, rows in data.target_rows.items():
        history = data.panel.to_frame(rows)
        actual = task.actuals(origin, rows)
        for name in names:
            start = time.perf_counter()
            if name == "mlforecast_global":
                if ml is None:
                    continue
                fc = ml.forecast(data, rows)
            else:
                fc = simple_forecasts(data, rows, name, task.horizon, season_of(task))
            seconds = time.perf_counter() - start
            fc = fc.merge(actual, on=["unique_id", "ds"], how="left")
            if forecasts is not None:
                forecasts.append(fc.assign(strategy=name, origin=origin))
            rows_out.append(
                {
                    "target": target,
                    "strategy": name,
                    "origin": origin,
                    **score(fc, history),
                    "fit_seconds": np.nan,
                    "predict_seconds": seconds,
                    "status": "ok",
                    "error": "",
                }
            )
    return rows_out
