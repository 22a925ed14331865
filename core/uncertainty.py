"""Quantile forecasts of fitted strategies: an interval method, found through the
``transfercast_intervals`` hook, is calibrated per (strategy, target domain, origin) and adds
one column per quantile level to the point forecasts.

The point forecast stays. The quantile columns are sorted per row (they never cross) and,
when every observed value of the panel up to the origin is non-negative (sales), bounded
below by 0. ``level`` (each series' recent level at the origin: the naive forecast),
``volatility`` (its history's mean absolute change over that level) and ``step`` (1 to the
horizon) are what an interval method scales and indexes its errors by.
A method whose quantiles depend on the features of the prediction rows (``quantile``: one
gradient-boosting model per level) implements ``apply_tables(tables, domain, forecasts)``,
which is called instead of ``apply(forecasts)`` when present.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from transfercast.data import DataWarning, period_text
from transfercast.errors import ConfigError
from transfercast.forecasting import OriginTables
from transfercast.intervals import check_quantiles, history_volatility, qcol
from transfercast.plugin_manager import PluginManager, get_plugin_manager
from transfercast.replay import Naive, replay_history
from transfercast.strategy import PluginError, Strategy
from transfercast.task import plain

DEFAULT_METHOD = "replay_conformal"


def calibrate_intervals(
    method: str,
    quantiles: Sequence[float],
    strategy: Strategy,
    tables: OriginTables,
    domain: Any,
    cache: Any,
    pm: PluginManager | None = None,
) -> Any:
    """The calibrated interval object of ``method`` for a fitted strategy on one target
    domain; an unknown method is a :class:`ConfigError` naming ``[forecast] method`` and
    ``interval_method``."""
    pm = pm or get_plugin_manager()
    model = pm.hook.transfercast_intervals(
        method=method,
        quantiles=check_quantiles(quantiles),
        strategy=strategy,
        tables=tables,
        domain=domain,
        cache=cache,
    )
    if model is None:
        raise ConfigError(unknown_method(method))
    return model


def load_intervals(method: str, state: dict[str, Any], pm: PluginManager | None = None) -> Any:
    """The interval object of ``method`` that a model bundle stored as ``state``."""
    pm = pm or get_plugin_manager()
    model = pm.hook.transfercast_load_intervals(method=method, state=state)
    if model is None:
        raise ConfigError(unknown_method(method))
    return model


def unknown_method(method: str) -> str:
    """The one-line error for an interval method no plugin implements."""
    return (
        f"unknown interval method '{method}' ([forecast] method; interval_method in Python): "
        f"the built-in ones are "
        f"'{DEFAULT_METHOD}' and 'quantile' (plugins add others through the "
        f"transfercast_intervals hook)"
    )


def levels_and_steps(tables: OriginTables, domain: Any, forecasts: pd.DataFrame) -> pd.DataFrame:
    """``forecasts`` (``unique_id``, ``ds``, ``forecast``) with ``level``, ``step``,
    ``volatility`` (each series' over the replays' history length up to the origin,
    :func:`~transfercast.replay.replay_history`, :func:`history_volatility`) and
    ``observed`` (how many periods of its series were observed up to the origin: 0 for a
    series forecast before launch). ``level`` is the naive level's forecast, or for a series
    whose recent periods sold nothing (level 0) the scale its features are read on (its mean
    absolute sales over its history, see :meth:`FeatureBuilder.level
    <transfercast.features.FeatureBuilder.level>`), with a
    :class:`~transfercast.data.DataWarning`."""
    naive = tables.forecast(Naive(), domain).rename(columns={"forecast": "level"})
    out = forecasts.merge(naive, on=["unique_id", "ds"], how="left")
    panel, origin = tables.data.panel, tables.data.origin_idx
    out["step"] = panel.times.get_indexer(out["ds"]) - origin
    past = panel.Y[:, : origin + 1]
    seen = (~np.isnan(past)).sum(axis=1)
    rows = pd.Index(panel.ids).get_indexer(out["unique_id"])
    out["observed"] = seen[rows]
    zero = (out["level"] == 0).to_numpy()
    if zero.any():  # sold nothing lately: no recent level; the series' scale stands in
        k = rows[zero]
        out.loc[zero, "level"] = tables.builder.level(panel, k, np.full(len(k), origin))
        quiet = out.loc[zero, "unique_id"].unique()
        warnings.warn(
            f"target domain {plain(domain)!r}: {len(quiet)} series sold nothing in the "
            f"periods before the origin {period_text(tables.data.origin)} (first {quiet[0]!r}): "
            f"their quantiles are scaled by their mean sales over their history (by the mean "
            f"level of the domain's selling series where they never sold)",
            DataWarning,
            stacklevel=3,
        )
    n = replay_history(tables, domain)
    return with_volatility(out.assign(cut=tables.data.origin), panel, n).drop(columns="cut")


def with_volatility(detail: pd.DataFrame, panel: Any, periods: int) -> pd.DataFrame:
    """``detail`` (``unique_id``, ``cut``, ``level``) with each row's ``volatility``: its
    series' over the ``periods`` periods up to its ``cut`` (:func:`history_volatility`)."""
    rows = pd.Index(panel.ids).get_indexer(detail["unique_id"])
    cuts = panel.times.get_indexer(pd.to_datetime(detail["cut"]))
    vol = history_volatility(panel.Y, rows, cuts, periods, detail["level"].to_numpy(float))
    return detail.assign(volatility=vol)


KEYS = ["unique_id", "ds"]


def add_quantiles(
    model: Any,
    quantiles: Sequence[float],
    tables: OriginTables,
    domain: Any,
    forecasts: pd.DataFrame,
    method: str | None = None,
) -> pd.DataFrame:
    """``forecasts`` of one target domain with a ``q<level>`` column per quantile level.

    The interval object's output is matched to the forecasts by ``unique_id`` and ``ds``, not
    by position (:func:`aligned_quantiles`); ``method`` names it in errors."""
    qs = check_quantiles(quantiles)
    cols = [qcol(q) for q in qs]
    framed = levels_and_steps(tables, domain, forecasts[["unique_id", "ds", "forecast"]])
    apply_tables = getattr(model, "apply_tables", None)  # methods that need the features
    applied = apply_tables(tables, domain, framed) if apply_tables else model.apply(framed)
    q = aligned_quantiles(applied, forecasts, cols, method_label(model, method))
    q = np.maximum(q, tables.floor)  # the point forecasts' floor (-inf: none)
    q = sorted_levels(q)
    out = forecasts.copy()
    for k, c in enumerate(cols):
        out[c] = q[:, k]
    return out


def sorted_levels(q: np.ndarray) -> np.ndarray:
    """Each row of quantiles sorted (they never cross); a level a method left missing stays
    missing in its own column, the others sorted among theirs (not shifted into its place)."""
    q = np.array(q, dtype=float)
    gaps = np.isnan(q)
    full = ~gaps.any(axis=1)
    q[full] = np.sort(q[full], axis=1)
    for i in np.flatnonzero(~full & ~gaps.all(axis=1)):  # a few rows, if any
        q[i, ~gaps[i]] = np.sort(q[i, ~gaps[i]])
    return q


def method_label(model: Any, method: str | None) -> str:
    """How errors name an interval method: its name, else its object's class."""
    return f"interval method '{method}'" if method else f"interval method {type(model).__name__}"


def aligned_quantiles(
    applied: Any, forecasts: pd.DataFrame, cols: list[str], label: str
) -> np.ndarray:
    """The quantile columns ``cols`` of an interval method's output ``applied``, one row per
    row of ``forecasts``, matched by ``unique_id`` and ``ds`` (the method may return its rows
    in any order). Every forecast row must appear exactly once: a :class:`PluginError` naming
    the method says which does not; a missing quantile column is a :class:`ConfigError`."""
    if not isinstance(applied, pd.DataFrame):
        raise PluginError(f"{label} returned {type(applied).__name__}, not a DataFrame")
    missing = [c for c in cols if c not in applied.columns]
    if missing:
        raise ConfigError(f"the {label} returned no column {missing[0]}")
    lost = [k for k in KEYS if k not in applied.columns]
    if lost:
        raise PluginError(
            f"{label} returned no column '{lost[0]}'; it must keep the unique_id and ds of "
            f"the forecasts it was given, which match its quantiles to them"
        )
    part = applied[[*KEYS, *cols]]
    dup = part.duplicated(KEYS)
    if dup.any():
        uid, ds = part.loc[dup, KEYS].iloc[0]
        raise PluginError(
            f"{label} returned {int(dup.sum())} duplicate rows (unique_id {uid!r}, ds {ds}); "
            f"it must return one row per forecast row"
        )
    try:
        merged = forecasts[KEYS].merge(part, on=KEYS, how="left", indicator=True)
    except (ValueError, TypeError) as exc:  # keys of other types than the forecasts'
        raise PluginError(f"{label} returned unique_id or ds that do not match: {exc}") from None
    absent = (merged["_merge"] == "left_only").to_numpy()
    if absent.any():
        uid, ds = merged.loc[absent, KEYS].iloc[0]
        raise PluginError(
            f"{label} returned no row for {int(absent.sum())} of {len(forecasts)} forecast rows "
            f"(the first: unique_id {uid!r}, ds {period_text(ds)}); it must return "
            f"every row it was given"
        )
    try:
        return merged[cols].to_numpy(float)
    except (ValueError, TypeError) as exc:
        raise PluginError(f"{label} returned quantiles that are not numbers: {exc}") from None


def forecast_quantiles(
    method: str,
    quantiles: Sequence[float],
    strategy: Strategy,
    tables: OriginTables,
    domain: Any,
    cache: Any,
    forecasts: pd.DataFrame,
    pm: PluginManager | None = None,
) -> tuple[Any, pd.DataFrame]:
    """Calibrate ``method`` for a fitted strategy on one target domain
    (:func:`calibrate_intervals`) and add its quantiles to the domain's ``forecasts``
    (:func:`add_quantiles`): the calibrated object and the forecasts."""
    model = calibrate_intervals(method, quantiles, strategy, tables, domain, cache, pm)
    return model, add_quantiles(model, quantiles, tables, domain, forecasts, method)
