"""The scikit-learn-style entry point: ``TransferForecaster(strategy=...).fit(task).predict()``."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import pandas as pd

from transfercast.data import in_task_zone, refuse_output_names
from transfercast.errors import ConfigError, DataError, TransfercastError
from transfercast.forecasting import (
    OriginTables,
    fit_and_forecast,
    warn_level_extrapolated,
    warn_unknown_future,
    warn_unseen_categories,
)
from transfercast.intervals import check_quantiles
from transfercast.plugin_manager import get_plugin_manager
from transfercast.source_cache import SourceCache
from transfercast.strategy import Strategy
from transfercast.task import TransferTask, whole_number
from transfercast.uncertainty import DEFAULT_METHOD, forecast_quantiles


class TransferForecaster:
    """Fit one transfer strategy for every target domain of a task and forecast its horizon.

    ``strategy`` is a registered name or a :class:`Strategy` instance; ``params`` are that
    strategy's parameters (as in ``[strategies.NAME]``); ``horizon`` overrides the task's.
    ``quantiles`` (levels strictly between 0 and 1) adds quantile forecasts by
    ``interval_method`` (see :mod:`transfercast.uncertainty`); they travel with the model
    bundle. ``get_params`` / ``set_params`` work as in scikit-learn.
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
        # stored as given (scikit-learn's ``clone`` checks that), checked at once
        self.strategy = strategy
        self.horizon = horizon
        self.plugins = plugins
        self.quantiles = quantiles
        self.interval_method = interval_method
        self.params = params
        self._checked()

    def _checked(self) -> tuple[int | None, tuple[str, ...], list[float]]:
        """The horizon, plugin modules and quantile levels, checked (a bad horizon is a
        :class:`ConfigError`, a bad level a ``ValueError``, each naming the value)."""
        if "params" in self.params:  # it would be taken for a strategy parameter named so
            raise ConfigError(
                "TransferForecaster: 'params' is no parameter; give the strategy's parameters "
                "as keywords (TransferForecaster('pooled', target_weight=5.0))"
            )
        return (
            check_horizon(self.horizon),
            plugin_modules(self.plugins),
            check_quantiles(self.quantiles),
        )

    def __repr__(self) -> str:
        """The constructor call, scikit-learn style: the strategy and the parameters given."""
        unset = {
            "strategy": lambda v: True,  # shown first, without its name
            "horizon": lambda v: v is None,
            "plugins": _empty,
            "quantiles": _empty,  # a level alone, as given (shown, never checked, here)
            "interval_method": lambda v: v == DEFAULT_METHOD,
        }
        params = self.get_params().items()
        given = [f"{k}={v!r}" for k, v in params if not unset.get(k, lambda v: False)(v)]
        return f"TransferForecaster({', '.join([repr(self.strategy), *given])})"

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters, scikit-learn style (``deep`` is accepted and ignored: no
        parameter is itself an estimator)."""
        return {
            "strategy": self.strategy,
            "horizon": self.horizon,
            "plugins": self.plugins,
            "quantiles": self.quantiles,
            "interval_method": self.interval_method,
            **self.params,
        }

    def set_params(self, **params: Any) -> TransferForecaster:
        """Change constructor parameters, scikit-learn style; returns self. Any key other than
        ``strategy``, ``horizon``, ``plugins``, ``quantiles`` and ``interval_method`` is a
        parameter of the strategy (validated when it is fitted) and stays until replaced: for
        another strategy with other parameters, make a new forecaster. A fitted model keeps its
        forecasts until it is fitted again."""
        names = ("strategy", "horizon", "plugins", "quantiles", "interval_method", "params")
        before = {n: getattr(self, n) for n in names}
        for name in names[:-1]:
            if name in params:
                setattr(self, name, params.pop(name))
        self.params = {**self.params, **params}
        try:
            self._checked()
        except Exception:  # a bad value: the forecaster stays as it was
            for name, value in before.items():
                setattr(self, name, value)
            raise
        return self

    def _make_strategy(self, pm: Any) -> Strategy:
        """The strategy to fit: a copy of an instance given (the caller's is never changed),
        with ``params`` set, or a new one of the registered name."""
        if isinstance(self.strategy, Strategy):
            return self.strategy.clone().set_params(**self.params) if self.params else self.strategy
        return pm.registry.create(self.strategy, self.params)

    @in_task_zone("task")
    def fit(
        self, task: TransferTask, origin: Any = None, *, executor: Any = None
    ) -> TransferForecaster:
        """Fit on all data up to ``origin`` (default: the task's origin, else the targets' last
        sale; before launch, the last period of the data).

        ``executor(run, domains)`` runs the per-target work elsewhere (see
        :func:`transfercast.distributed.dask_executor`); by default it runs here, in turn."""
        if not isinstance(task, TransferTask):
            raise ConfigError(
                f"TransferForecaster.fit: task must be a transfercast.TransferTask (built with "
                f"TransferTask(data, ...) or TransferTask.from_config(load_config(path))), not "
                f"{type(task).__name__}"
            )
        horizon, plugins, levels = self._checked()
        refuse_output_names(task.series, task.time, task.source_name, ("forecast",))
        if horizon is not None and horizon != task.horizon:
            task = copy.copy(task)
            task.horizon = horizon
            task.__dict__.pop("panel", None)
        # a date on the grid, within the data: anything else is one line naming it
        origin = task.check_origins([origin])[0] if origin is not None else task.forecast_origin()
        # the plugins' manager, checked and active while fitting (auto looks candidates up in it)
        pm = get_plugin_manager(plugins)
        strategy = self._make_strategy(pm)
        from transfercast.evaluation import check_params  # it imports this module

        check_params(type(strategy), strategy.params, task, pm, f"strategies.{strategy.name}")
        tables = OriginTables(task, task.at_origin(origin), task.features, intervals=bool(levels))
        cache = SourceCache()
        targets = list(task.targets)
        if executor is not None:
            if strategy.reads_source_table():
                cache.get(strategy, tables.source)  # once, on this side, before targets run
            results = list(
                executor(lambda d: fit_and_forecast(strategy, tables, d, cache), targets)
            )
        else:
            results = [fit_and_forecast(strategy, tables, d, cache) for d in targets]
        fitted: dict[Any, Strategy] = {}
        forecasts: dict[Any, pd.DataFrame] = {}
        intervals: dict[Any, Any] = {}
        for domain, result in zip(targets, results, strict=True):
            fitted[domain], forecasts[domain] = result.strategy, result.forecasts
            if levels:
                intervals[domain], forecasts[domain] = forecast_quantiles(
                    self.interval_method,
                    levels,
                    result.strategy,
                    tables,
                    domain,
                    cache,
                    result.forecasts,
                    pm,
                )
        # the fit's state at once: a fit that fails or is interrupted leaves the previous one
        self.fitted_, self.forecasts_, self.intervals_ = fitted, forecasts, intervals
        self.task_, self.origin_, self.tables_ = task, origin, tables
        self.strategy_, self.quantiles_, self.interval_method_ = (
            strategy,
            levels,
            self.interval_method,
        )
        warn_unknown_future(tables, task.source_name)  # after the fit: an error comes alone
        warn_unseen_categories(tables, task.source_name)
        warn_level_extrapolated(tables, task.source_name)
        return self

    @in_task_zone("self.task_")
    def predict(self) -> pd.DataFrame:
        """Forecasts for every target series: the series key columns, the time column,
        ``forecast`` and, when quantiles were asked for, one ``q<level>`` column per level."""
        if not hasattr(self, "fitted_"):
            raise TransfercastError("TransferForecaster.predict called before fit")
        fc = pd.concat(self.forecasts_.values(), ignore_index=True)
        return to_user_columns(self.task_, fc)


def _empty(value: Any) -> bool:
    """Whether a constructor value is unset: ``None`` or an empty sequence."""
    return value is None or (
        not isinstance(value, str) and hasattr(value, "__len__") and len(value) == 0
    )


def plugin_modules(plugins: Sequence[str] | str | None) -> tuple[str, ...]:
    """Plugin module names as a tuple: one name alone is one module, not its letters; ``None``
    is none."""
    if plugins is None:
        return ()
    return (plugins,) if isinstance(plugins, str) else tuple(plugins)


def in_zone(frame: pd.DataFrame, task: TransferTask | None, columns: list[str]) -> pd.DataFrame:
    """``frame`` with its ``columns`` and ``origin`` column (naive UTC times) as the times of
    the task's ``[data] timezone``, with their offset; unchanged without one (or a task)."""
    zone = getattr(task, "timezone", None)
    if not zone:
        return frame
    out = frame.copy()
    for col in [c for c in dict.fromkeys([*columns, "origin"]) if c in out.columns]:
        out[col] = pd.to_datetime(out[col]).dt.tz_localize("UTC").dt.tz_convert(zone)
    return out


def check_horizon(horizon: Any) -> int | None:
    """``horizon`` as a positive whole number of periods (``None``: the task's); anything else
    is a :class:`ConfigError` naming the value."""
    if horizon is None:
        return None
    try:
        return whole_number(horizon, "horizon", 1)
    except DataError:
        raise ConfigError(
            f"horizon {horizon!r}: give the number of periods to forecast, a whole number of "
            f"1 or more (or None for the task's horizon)"
        ) from None


def to_user_columns(task: TransferTask, frame: pd.DataFrame) -> pd.DataFrame:
    """Replace ``unique_id``/``ds`` by the user's series key columns and time column (with a
    ``[data] timezone``, its times and the origins' in that zone, with their offset)."""
    keys = task.key_frame()
    out = frame.merge(keys, on="unique_id", how="left")
    out = in_zone(out.rename(columns={"ds": task.time}), task, [task.time])
    front = [*task.series, task.time]
    rest = [c for c in out.columns if c not in front and c != "unique_id"]
    return out[front + rest].reset_index(drop=True)
