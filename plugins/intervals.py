"""The built-in interval method ``replay_conformal``: quantiles of the scaled errors
``(actual - forecast) / scale`` that the strategy made on the source domains replayed as new
targets (:mod:`transfercast.replay`) at the target's history length, per horizon step, with
the split-conformal correction (:func:`transfercast.intervals.calibrate`). Errors are measured
in units of each series' level times its history's volatility to a power learnt on the
replays (:class:`transfercast.intervals.Scale`), and scaled by the target's own backtest as far
as the replays fail to stand for the target (:func:`own_scale`).

A series of a selling target that has not sold up to the origin (forecast before launch, its
level estimated by the level model) is calibrated on the replays at history 0 instead, where
the replayed domains are forecast before launch too (:func:`launch_calibration`).

The replays are those ``auto`` uses with its default shape (``folds``, ``cuts`` and ``seed``),
shared through the origin's tables: a strategy already replayed for such an ``auto`` costs
nothing more (an ``auto`` configured with another shape replays apart from them). A
strategy that built its own replays while fitting (:meth:`transfercast.Strategy.
replayed_forecasts`, e.g. ``auto``'s blend) is calibrated on those. A third-party strategy
gets intervals without any code of its own.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

import transfercast
from transfercast.data import DataWarning, period_text
from transfercast.intervals import (
    Calibration,
    Scale,
    blend_detail,
    calibrate,
    errors_needed,
    qcol,
    scaled_errors,
)
from transfercast.replay import (
    NAIVE,
    inner_backtest,
    own_share,
    replay_history,
    replay_pvalue,
    replays,
)
from transfercast.task import plain
from transfercast.uncertainty import with_volatility

METHOD = "replay_conformal"


class ReplayConformal:
    """Calibrated quantiles of one strategy's relative errors, applied to a target's forecasts;
    ``launch`` (if any) calibrates the rows of series forecast before launch."""

    def __init__(self, calibration: Calibration, strategy: str, launch: Calibration | None = None):
        self.calibration = calibration
        self.strategy = strategy
        self.launch = launch

    def apply(self, forecasts: pd.DataFrame) -> pd.DataFrame:
        """``forecasts`` (with ``level``, ``step``, ``volatility`` and ``observed``) with one
        ``q<level>`` column per level: rows of a series with no observed period by the
        launch calibration where there is one."""
        vol = forecasts["volatility"].to_numpy() if "volatility" in forecasts else None
        level, step = forecasts["level"].to_numpy(), forecasts["step"].to_numpy()
        out = self.calibration.apply(forecasts, self.strategy, level, step, volatility=vol)
        if self.launch is None or "observed" not in forecasts:
            return out
        new = (forecasts["observed"] == 0).to_numpy()
        if new.any():
            launched = self.launch.apply(forecasts[new], self.strategy, level[new], step[new])
            cols = [qcol(q) for q in self.launch.quantiles]
            out.loc[new, cols] = launched[cols].to_numpy()
        return out

    def to_json(self) -> dict[str, Any]:
        """The calibration tables, for the model bundle."""
        launch = {"launch": self.launch.to_json()} if self.launch is not None else {}
        return {"strategy": self.strategy, **self.calibration.to_json(), **launch}

    @classmethod
    def from_json(cls, state: dict[str, Any]) -> ReplayConformal:
        launch = Calibration.from_json(state["launch"]) if "launch" in state else None
        return cls(Calibration.from_json(state), state["strategy"], launch)


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
        n = replay_history(tables, domain)
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
    over the same first steps, at least 1, raised to the share the replays hand over to it
    (:func:`transfercast.replay.own_share`: its errors count only as far as the replays fail
    to stand for the target)."""
    mine = scaled_errors(own[own["candidate"] == name], scale).abs().dropna()
    steps = int(own["step"].max()) if len(mine) else 0
    theirs = replayed[(replayed["candidate"] == name) & (replayed["step"] <= steps)]
    theirs = scaled_errors(theirs, scale).abs().dropna()
    if not len(mine) or not len(theirs) or theirs.mean() <= 0 or mine.mean() <= 0:
        return 1.0
    share = own_share(int(own["ds"].nunique()), replay_pvalue(replayed, own, name))
    return float(max(1.0, mine.mean() / theirs.mean()) ** share)  # it widens, never narrows


@transfercast.hookimpl(trylast=True)
def transfercast_intervals(
    method: str, quantiles: list[float], strategy: Any, tables: Any, domain: Any, cache: Any
) -> ReplayConformal | None:
    if method != METHOD:
        return None
    replayed, own = evidence(strategy, tables, domain, cache)
    n = replay_history(tables, domain)
    panel = tables.data.panel
    replayed, own = with_volatility(replayed, panel, n), with_volatility(own, panel, n)
    cal = calibrate(replayed[replayed["candidate"] == strategy.name], quantiles, tables.horizon)
    if strategy.name not in cal.table:  # no replay could be scored: no quantiles, not a guess
        uncalibrated(cal, strategy.name, tables, domain, n)
    else:
        few_errors(cal, strategy.name)
    scale = cal.volatility.get(strategy.name)
    cal.widen(strategy.name, own_scale(replayed, own, strategy.name, scale))
    launch = launch_calibration(strategy, tables, domain, cache, quantiles) if n else None
    return ReplayConformal(cal, strategy.name, launch)


def launch_calibration(
    strategy: Any, tables: Any, domain: Any, cache: Any, quantiles: list[float]
) -> Calibration | None:
    """The calibration of a selling target's series that have not sold up to the origin, from
    the replays at history 0 (every replayed domain forecast before launch); ``None`` when the
    target has no such series. A blend of members (``auto``: ``members_`` and ``weights_``)
    is calibrated on the same blend of its members' replays. A strategy (or member) that
    cannot forecast before launch (``target_only``) stands on the naive level's replays there:
    the level model's forecast, which its forecast of such a series is scaled by. No scored
    replay gives NaN quantiles, not a guess."""
    if not np.isin(tables.data.target_rows[domain], tables.prelaunch).any():
        return None
    members = getattr(strategy, "members_", None)
    weights = getattr(strategy, "weights_", None)
    blend = members is not None and weights is not None
    named = {m.name: m.clone() for m in members} if blend else {strategy.name: strategy.clone()}
    detail = replays(tables, 0, named, cache).detail
    naive = detail[is_naive(detail)]
    missing = [name for name in named if name not in set(detail["candidate"])]
    detail = pd.concat([detail, *(naive.assign(candidate=name) for name in missing)])
    if blend:
        detail = blend_detail(detail, dict(zip(named, weights, strict=True)), strategy.name)
    detail = detail[detail["candidate"] == strategy.name]
    cal = calibrate(detail.drop(columns="volatility", errors="ignore"), quantiles, tables.horizon)
    if strategy.name not in cal.table:
        uncalibrated(cal, strategy.name, tables, domain, 0)
    return cal


def few_errors(cal: Calibration, name: str) -> None:
    """Warn when the outermost quantile levels rest on fewer replayed errors than their
    conformal correction needs (:func:`transfercast.intervals.errors_needed`); one text per
    strategy and level, so that a comparison says it once."""
    outer = min(cal.quantiles, key=lambda t: 1 - max(t, 1 - t))
    need, have = errors_needed(outer), min(cal.samples.get(name, [0]))
    if 0 < have < need:
        warnings.warn(
            f"the quantile {outer:g} of '{name}' rests on fewer replayed errors than the {need} "
            f"its conformal correction needs: the most extreme error stands in, and the "
            f"interval it bounds covers less than its nominal level (more source domains, or a "
            f"shorter horizon, give more)",
            DataWarning,
            stacklevel=3,
        )


def uncalibrated(cal: Calibration, name: str, tables: Any, domain: Any, n: int) -> None:
    """Give ``cal`` NaN quantiles for ``name`` (no replay at history ``n`` could be scored)
    and warn, naming the target domain, the history and the strategy."""
    cal.table[name] = np.full((tables.horizon, len(cal.quantiles)), np.nan)
    cal.samples[name] = [0] * tables.horizon
    panel, src = tables.data.panel, tables.data.source_rows
    why = (
        "one source domain: a replayed domain needs others as its sources"
        if len(pd.unique(panel.domains[src])) < 2
        else f"a replayed source needs {n} periods before a cut point and {tables.horizon} "
        f"after it, before the origin"
    )
    warnings.warn(
        f"target domain {plain(domain)!r}: no source replay at {n} periods of history could "
        f"be scored at the origin {period_text(tables.data.origin)} ({why}): the quantiles of "
        f"'{name}' are NaN",
        DataWarning,
        stacklevel=2,
    )


@transfercast.hookimpl(trylast=True)
def transfercast_load_intervals(method: str, state: dict[str, Any]) -> ReplayConformal | None:
    return ReplayConformal.from_json(state) if method == METHOD else None
