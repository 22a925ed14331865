"""The scikit-learn-style entry point: ``TransferForecaster(strategy=...).fit(task).predict()``."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import pandas as pd

from transfercast.errors import TransfercastError
from transfercast.forecasting import OriginTables, fit_and_forecast
from transfercast.intervals import check_quantiles
from transfercast.plugin_manager import get_plugin_manager
from transfercast.source_cache import SourceCache
from transfercast.strategy import Strategy
from transfercast.task import TransferTask
from transfercast.uncertainty import DEFAULT_METHOD, forecast_quantiles


class TransferForecaster:
    """Fit one transfer strategy for every target domain of a task and forecast its horizon.

    ``strategy`` is a registered name or a :class:`Strategy` instance; ``params`` are that
    strategy's parameters (as in ``[strategies.NAME]``); ``horizon`` overrides the task's.
    ``quantiles`` (levels strictly between 0 and 1) adds quantile forecasts by
    ``interval_method`` (see :mod:`transfercast.uncertainty`); they travel with the model
    bundle.
    """

    def __init__(
        self,
        strategy: str | Strategy = "source_only",
        horizon: int | None = None,
        *,
        plugins: Sequence[str] = (),
        quantiles: Sequence[float] = (),
        interval_method: str = DEFAULT_METHOD,
        **params: Any,
    ):
        self.strategy = strategy
        self.horizon = horizon
        self.plugins = tuple(plugins)
        self.quantiles = check_quantiles(quantiles)
        self.interval_method = interval_method
        self.params = params

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters, scikit-learn style."""
        return {
            "strategy": self.strategy,
            "horizon": self.horizon,
            "plugins": self.plugins,
            "quantiles": self.quantiles,
            "interval_method": self.interval_method,
            **self.params,
        }

    def _make_strategy(self, pm: Any) -> Strategy:
        """The strategy to fit: a copy of an instance given (the caller's is never changed),
        with ``params`` set, or a new one of the registered name."""
        if isinstance(self.strategy, Strategy):
            return self.strategy.clone().set_params(**self.params) if self.params else self.strategy
        return pm.registry.create(self.strategy, self.params)

    def fit(
        self, task: TransferTask, origin: Any = None, *, executor: Any = None
    ) -> TransferForecaster:
        """Fit on all data up to ``origin`` (default: the task's origin or last period).

        ``executor(run, domains)`` runs the per-target work elsewhere (see
        :func:`transfercast.distributed.dask_executor`); by default it runs here, in turn."""
        if self.horizon is not None and self.horizon != task.horizon:
            task = copy.copy(task)
            task.horizon = int(self.horizon)
            task.__dict__.pop("panel", None)
        origin = pd.Timestamp(origin) if origin is not None else task.forecast_origin()
        # the plugins' manager, checked and active while fitting (auto looks candidates up in it)
        pm = get_plugin_manager(self.plugins)
        strategy = self._make_strategy(pm)
        tables = OriginTables(
            task, task.at_origin(origin), task.features, intervals=bool(self.quantiles)
        )
        cache = SourceCache()
        self.fitted_: dict[Any, Strategy] = {}
        self.forecasts_: dict[Any, pd.DataFrame] = {}
        targets = list(task.targets)
        if executor is not None:
            if strategy.source_spec() is not None or type(strategy).uses_source_rows:
                cache.get(strategy, tables.source)  # once, on this side, before targets run
            results = executor(lambda d: fit_and_forecast(strategy, tables, d, cache), targets)
        else:
            results = [fit_and_forecast(strategy, tables, d, cache) for d in targets]
        self.intervals_: dict[Any, Any] = {}
        for domain, result in zip(targets, results, strict=True):
            self.fitted_[domain] = result.strategy
            self.forecasts_[domain] = result.forecasts
            if self.quantiles:
                self.intervals_[domain], self.forecasts_[domain] = forecast_quantiles(
                    self.interval_method,
                    self.quantiles,
                    result.strategy,
                    tables,
                    domain,
                    cache,
                    result.forecasts,
                    pm,
                )
        self.task_, self.origin_, self.tables_ = task, origin, tables
        self.strategy_ = strategy
        return self

    def predict(self) -> pd.DataFrame:
        """Forecasts for every target series: the series key columns, the time column,
        ``forecast`` and, when quantiles were asked for, one ``q<level>`` column per level."""
        if not hasattr(self, "fitted_"):
            raise TransfercastError("TransferForecaster.predict called before fit")
        fc = pd.concat(self.forecasts_.values(), ignore_index=True)
        return to_user_columns(self.task_, fc)


def to_user_columns(task: TransferTask, frame: pd.DataFrame) -> pd.DataFrame:
    """Replace ``unique_id``/``ds`` by the user's series key columns and time column."""
    keys = task.key_frame()
    out = frame.merge(keys, on="unique_id", how="left")
    out = out.rename(columns={"ds": task.time})
    front = [*task.series, task.time]
    rest = [c for c in out.columns if c not in front and c != "unique_id"]
    return out[front + rest].reset_index(drop=True)
