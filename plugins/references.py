"""The model-free references as strategies a comparison ranks beside the transfer ones: the
recent level (``naive``), the last period (``last_value``) and the same period a season back
(``seasonal_naive``). Each forecasts from the target series' own history alone, with no model
and no source; a transfer strategy that does not beat them on a backtest adds nothing.
``auto`` weighs them already, as built-in candidates (:data:`transfercast.replay.BUILTIN`);
the registered ``seasonal_naive`` also says when no target history holds a season to read,
and ``last_value`` when the lags leave out the last period."""

from __future__ import annotations

import warnings

import numpy as np

import transfercast
from transfercast.data import DataWarning
from transfercast.features import FeatureTable
from transfercast.replay import LastValue, Naive, SeasonalNaive


class SeasonalNaiveReference(SeasonalNaive):
    """Reference: the same period one season back, or the recent level where none is held."""

    def predict(self, table: FeatureTable) -> np.ndarray:
        out = super().predict(table)
        X = table.X
        held = "sply" in X and np.isfinite(X["sply"].to_numpy(float)).any()
        if len(table) and not held:
            warnings.warn(
                "seasonal_naive: no target series holds the period a season before a forecast "
                "step (its history is shorter than a season and a period, or the data has no "
                "season): it forecasts the recent level, as naive does",
                DataWarning,
                stacklevel=2,
            )
        return out


class LastValueReference(LastValue):
    """Reference: every step at the last observed period's value (the recent level if none)."""

    def predict(self, table: FeatureTable) -> np.ndarray:
        if len(table) and "lag1" not in table.X:
            warnings.warn(
                "last_value: [features] lags leaves out 1, so no feature holds the last "
                "period: it forecasts the recent level, as naive does (add 1 to the lags)",
                DataWarning,
                stacklevel=2,
            )
        return super().predict(table)


@transfercast.hookimpl
def transfercast_register_strategies(register) -> None:
    register(Naive)
    register(LastValueReference)
    register(SeasonalNaiveReference)
