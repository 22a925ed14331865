"""The built-in interval method ``replay_conformal``: quantiles of the scaled errors
``(actual - forecast) / scale`` that the strategy made on the source domains replayed as new
targets (:mod:`transfercast.replay`) at the target's history length, per horizon step, with
the split-conformal correction (:func:`transfercast.intervals.calibrate`). Errors are measured
in units of each series' level times its history's volatility to a power learnt on the
replays (:class:`transfercast.intervals.Scale`), and scaled by the target's own backtest as far
as the replays fail to stand for the target (:func:`own_scale`).

The replays are those ``auto`` uses, shared through the origin's tables: a strategy already
replayed for ``auto`` costs nothing more. A strategy that built its own replays while fitting
(:meth:`transfercast.Strategy.replayed_forecasts`, e.g. ``auto``'s blend) is calibrated on
those. A third-party strategy gets intervals without any code of its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import transfercast
from transfercast.intervals import Calibration, Scale, calibrate, scaled_errors
from transfercast.replay import (
    NAIVE,
    history_length,
    inner_backtest,
    own_share,
    replay_pvalue,
    replays,
)
from transfercast.uncertainty import with_volatility

METHOD = "replay_conformal"


class ReplayConformal:
    """Calibrated quantiles of one strategy's relative errors, applied to a target's forecasts."""

    def __init__(self, calibration: Calibration, strategy: str):
        self.calibration = calibration
        self.strategy = strategy

    def apply(self, forecasts: pd.DataFrame) -> pd.DataFrame:
        """``forecasts`` (with ``level``, ``step`` and ``volatility``) with one ``q<level>``
        column per level."""
        vol = forecasts["volatility"].to_numpy() if "volatility" in forecasts else None
        level, step = forecasts["level"].to_numpy(), forecasts["step"].to_numpy()
        return self.calibration.apply(forecasts, self.strategy, level, step, volatility=vol)

    def to_json(self) -> dict[str, Any]:
        """The calibration table, for the model bundle."""
        return {"strategy": self.strategy, **self.calibration.to_json()}

    @classmethod
    def from_json(cls, state: dict[str, Any]) -> ReplayConformal:
        return cls(Calibration.from_json(state), state["strategy"])


def is_naive(detail: pd.DataFrame) -> pd.Series:
    """Which rows of a replay detail frame are the naive level's."""
    return detail["candidate"] == NAIVE


def evidence(
    strategy: Any, tables: Any, domain: Any, cache: Any
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The strategy's replayed forecasts at the target's origin and history length, and its
    forecasts in the target's own backtest, each with the naive level's rows."""
    replayed, own = strategy.replayed_forecasts(), strategy.backtest_forecasts()
    clone, names = {strategy.name: strategy.clone()}, [strategy.name, NAIVE]
    if replayed is None:
        n = history_length(tables, domain)
        replayed = replays(tables, n, clone, cache).detail
    else:  # the strategy's own rows stand for it, whatever it called them
        replayed = replayed.assign(
            candidate=replayed["candidate"].where(is_naive(replayed), names[0])
        )
    if own is None:
        own = inner_backtest(tables, clone, cache).detail
    else:
        own = own.assign(candidate=own["candidate"].where(is_naive(own), names[0]))
    replayed = replayed[replayed["candidate"].isin(names)]
    return replayed, own[(own["domain"] == domain) & own["candidate"].isin(names)]


def own_scale(
    replayed: pd.DataFrame, own: pd.DataFrame, name: str, scale: Scale | None = None
) -> float:
    """The factor on the replays' error quantiles from the target's own backtest: the ratio
    of its mean absolute scaled error (by ``scale``, by default the level) to the replays'
    over the same first steps, raised to the share the replays hand over to it
    (:func:`transfercast.replay.own_share`: its errors count only as far as the replays fail
    to stand for the target)."""
    mine = scaled_errors(own[own["candidate"] == name], scale).abs().dropna()
    steps = int(own["step"].max()) if len(mine) else 0
    theirs = replayed[(replayed["candidate"] == name) & (replayed["step"] <= steps)]
    theirs = scaled_errors(theirs, scale).abs().dropna()
    if not len(mine) or not len(theirs) or theirs.mean() <= 0 or mine.mean() <= 0:
        return 1.0
    share = own_share(int(own["ds"].nunique()), replay_pvalue(replayed, own, name))
    return float((mine.mean() / theirs.mean()) ** share)


@transfercast.hookimpl(trylast=True)
def transfercast_intervals(
    method: str, quantiles: list[float], strategy: Any, tables: Any, domain: Any, cache: Any
) -> ReplayConformal | None:
    if method != METHOD:
        return None
    replayed, own = evidence(strategy, tables, domain, cache)
    n = history_length(tables, domain)
    panel = tables.data.panel
    replayed, own = with_volatility(replayed, panel, n), with_volatility(own, panel, n)
    cal = calibrate(replayed[replayed["candidate"] == strategy.name], quantiles, tables.horizon)
    if strategy.name not in cal.table:  # no replay could be scored: no quantiles, not a guess
        cal.table[strategy.name] = np.full((tables.horizon, len(cal.quantiles)), np.nan)
        cal.samples[strategy.name] = [0] * tables.horizon
    scale = cal.volatility.get(strategy.name)
    cal.table[strategy.name] *= own_scale(replayed, own, strategy.name, scale)
    return ReplayConformal(cal, strategy.name)


@transfercast.hookimpl(trylast=True)
def transfercast_load_intervals(method: str, state: dict[str, Any]) -> ReplayConformal | None:
    return ReplayConformal.from_json(state) if method == METHOD else None
