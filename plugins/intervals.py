"""The built-in interval method ``replay_conformal``: quantiles of the relative errors
``(actual - forecast) / level`` that the strategy made on the source domains replayed as new
targets (:mod:`transfercast.replay`) at the target's history length, per horizon step, with
the split-conformal correction (:func:`transfercast.intervals.calibrate`).

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
from transfercast.intervals import Calibration, calibrate
from transfercast.replay import history_length, replays

METHOD = "replay_conformal"


class ReplayConformal:
    """Calibrated quantiles of one strategy's relative errors, applied to a target's forecasts."""

    def __init__(self, calibration: Calibration, strategy: str):
        self.calibration = calibration
        self.strategy = strategy

    def apply(self, forecasts: pd.DataFrame) -> pd.DataFrame:
        """``forecasts`` (with ``level`` and ``step``) with one ``q<level>`` column per level."""
        return self.calibration.apply(
            forecasts, self.strategy, forecasts["level"].to_numpy(), forecasts["step"].to_numpy()
        )

    def to_json(self) -> dict[str, Any]:
        """The calibration table, for the model bundle."""
        return {"strategy": self.strategy, **self.calibration.to_json()}

    @classmethod
    def from_json(cls, state: dict[str, Any]) -> ReplayConformal:
        return cls(Calibration.from_json(state), state["strategy"])


def replay_errors(strategy: Any, tables: Any, domain: Any, cache: Any) -> pd.DataFrame:
    """The strategy's replayed forecasts at the target's origin and history length."""
    own = strategy.replayed_forecasts()
    if own is not None:
        return own.assign(candidate=strategy.name)
    n = history_length(tables, domain)
    rep = replays(tables, n, {strategy.name: strategy.clone()}, cache)
    return rep.detail[rep.detail["candidate"] == strategy.name]


@transfercast.hookimpl(trylast=True)
def transfercast_intervals(
    method: str, quantiles: list[float], strategy: Any, tables: Any, domain: Any, cache: Any
) -> ReplayConformal | None:
    if method != METHOD:
        return None
    detail = replay_errors(strategy, tables, domain, cache)
    cal = calibrate(detail, quantiles, tables.horizon)
    if strategy.name not in cal.table:  # no replay could be scored: no quantiles, not a guess
        cal.table[strategy.name] = np.full((tables.horizon, len(cal.quantiles)), np.nan)
        cal.samples[strategy.name] = [0] * tables.horizon
    return ReplayConformal(cal, strategy.name)


@transfercast.hookimpl(trylast=True)
def transfercast_load_intervals(method: str, state: dict[str, Any]) -> ReplayConformal | None:
    return ReplayConformal.from_json(state) if method == METHOD else None
