"""Source replays: the source domains replay being new, to show what each strategy does for a
target of a given history length at a given origin.

At an origin, for a target history length ``n``, the source domains are split into ``folds``
groups (a seeded shuffle). At each cut point, each group in turn is cut to its last ``n``
periods of history and forecast over the horizon that follows the cut by every candidate (and
the naive level), with the other groups as its sources. A group is forecast as one target
domain, so each candidate is fitted ``folds x cuts`` times whatever the number of source
domains; its losses are measured per replayed domain. A candidate fitted on the target's rows
alone (``target_only``: no source model, :func:`per_domain`) is fitted on each replayed domain
alone, as on a real target: a group's rows would make it another model, and per domain its
fits are as many rows in all.

**Cut points.** The first cut lies one horizon before the origin (its horizon ends at the
origin); the second one season before the origin (``season_length`` periods, read off the
origin's feature builder), so that the replay's horizon falls in the same part of the year as
the target's; further cuts step back one horizon at a time from the first. A cut is used only
when its horizon ends at or before the origin and some source domain had ``n`` periods of
history at it (a target as old as the sources is replayed younger: :func:`replay_history`).
Everything a replay reads is therefore observed by the origin: the panel is cut at the cut
point (known covariates one horizon later) and the actuals come from the origin's own data.

**Cost.** Each source table of a replay or of the targets' own backtest holds at most
:data:`SOURCE_BUDGET` (series, anchor) pairs, each with every horizon step: where the sources
hold more, a seeded uniform sample of the pairs stands for them, from every part of the year
(:func:`~transfercast.forecasting.thin_anchors`; a short-lived series may drop out). The
replays and the backtest then cost at most five such fits per candidate whatever the panel's
size; a panel within the budget is replayed whole. A cut that weights leave out
(:func:`seasoned_cuts`) is fitted only where intervals, which read every cut, are asked for.

The result (:class:`Replays`) holds the replay table (one row per replayed domain, cut and
candidate: its WAPE and the domain's meta-features), the per-series detail (forecast, actual,
level per step) and the meta-features of each replayed domain. Each candidate's replays are
built once per origin, history length and parameters and kept on the origin's
:class:`OriginTables`, so every target of the origin, ``auto`` and the prediction intervals of
every strategy (:mod:`transfercast.intervals`) share them. :func:`target_meta` gives a target
the same meta-features. :func:`build_inner` is the targets' own backtest in the same form, and
:func:`stack_weights` the linear program that learns simplex weights from either.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from transfercast.data import DataWarning, period_text
from transfercast.errors import DataError, TransfercastError
from transfercast.features import FeatureTable
from transfercast.forecasting import OriginTables, fit_and_forecast
from transfercast.similarity import domain_auc, horizon_season, season_and_scale
from transfercast.strategy import PluginError, Strategy
from transfercast.task import OriginData

NAIVE = "naive"
SNAIVE = "seasonal_naive"
LAST = "last_value"
#: (series, anchor) pairs of the source table one replay or backtest fit reads at most: beyond
#: it, a seeded sample of them (see the module doc, Cost)
SOURCE_BUDGET = 25_000
#: meta-features of a domain, in the replay table and in :func:`target_meta`
META = [
    "history",
    "log_level",
    "volatility",
    "trend",
    "season_history",
    "season_horizon",
    "season_corr",
    "domain_auc",
]
#: a target's meta-features beside :data:`META` that the naive level's floor reads
#: (:func:`season_floor`); the meta method does not match on it
FLOOR_META = ["season_flat"]
TABLE_COLUMNS = ["origin", "n", "domain", "cut", "candidate", "wape", "fit_seconds", *META]
DETAIL_COLUMNS = [
    "domain",
    "cut",
    "candidate",
    "unique_id",
    "ds",
    "step",
    "forecast",
    "actual",
    "level",
]


def naive_ratio(table: FeatureTable) -> np.ndarray:
    """The naive level on the normalised scale: 1, or 0 where the recent level is zero (the
    table then scales by a stand-in level, :meth:`~transfercast.features.FeatureBuilder.
    fill_quiet`, and the naive forecast is the zero the series sold lately)."""
    if table.zero_level is None:
        return np.ones(len(table))
    return np.where(table.zero_level, 0.0, 1.0)


def scale_of(naive: pd.Series) -> pd.Series:
    """The level that scales a replayed series' errors, from its naive-level forecasts: the
    forecast, or NaN where it is 0 (a series whose recent periods sold nothing has no level
    to measure its errors against; its rows calibrate no interval)."""
    return naive.where(naive != 0)


class Naive(Strategy):
    """Reference: every step at the series' recent level (its mean over the level window).

    The normalised ratio 1, or 0 for a series whose recent periods sold nothing."""

    name = NAIVE
    uses_source_rows = False
    always_direct = True

    def predict(self, table: FeatureTable) -> np.ndarray:
        return naive_ratio(table)

    def save(self, directory: Path) -> dict[str, Any]:
        return {}

    @classmethod
    def load(cls, directory: Path, manifest: dict[str, Any]) -> Strategy:
        return cls()


class _FromHistory(Naive):
    """A model-free forecast read from the series' own past periods (none before launch)."""

    uses_source_rows = False
    needs_history = True


class SeasonalNaive(_FromHistory):
    """Reference: the same period one season back, or the recent level where none is held.

    The recent level stands in where the series' history does not hold that period (a history
    shorter than a season, a step beyond a season, a missing period)."""

    name = SNAIVE

    def predict(self, table: FeatureTable) -> np.ndarray:
        X = table.X
        if "sply" not in X or "growth" not in X:  # data without a within-year season
            return naive_ratio(table)
        # sply is last season's period over last season's level, growth this level over that
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = X["sply"].to_numpy(float) / X["growth"].to_numpy(float)
        return np.where(np.isfinite(ratio), ratio, naive_ratio(table))


class LastValue(_FromHistory):
    """Reference: every step at the last observed period's value (the recent level if none)."""

    name = LAST

    def predict(self, table: FeatureTable) -> np.ndarray:
        if "lag1" not in table.X:  # lags configured without the last period
            return naive_ratio(table)
        last = table.X["lag1"].to_numpy(float)  # the last period over the recent level
        return np.where(np.isfinite(last), last, naive_ratio(table))


#: the model-free candidates ``auto`` weighs besides its configured ones
BUILTIN: dict[str, type[Strategy]] = {SNAIVE: SeasonalNaive, LAST: LastValue, NAIVE: Naive}


def twins_of_naive(tables: OriginTables, n: int) -> list[str]:
    """The model-free candidates that forecast just the naive level for a target of ``n``
    periods of history: the seasonal naive where the data has no season or the history does
    not hold one and a period more (last season's level reads the period before it)."""
    season = int(tables.builder.season_length or 1)
    twins = [] if season > 1 and n > season else [SNAIVE]
    return twins if 1 in tables.builder.lags else [*twins, LAST]


@dataclass
class Replays:
    """The replays of one origin and history length (see the module doc)."""

    table: pd.DataFrame
    detail: pd.DataFrame
    meta: pd.DataFrame
    seconds: float

    def drop(self, candidates: Any = (), cuts: Any = ()) -> Replays:
        """These replays without the table rows of ``candidates`` and any row at ``cuts``."""
        if not len(candidates) and not len(cuts):
            return self
        t, d = self.table, self.detail
        keep = ~t["candidate"].isin(list(candidates)) & ~t["cut"].isin(list(cuts))
        return Replays(t[keep], d[~d["cut"].isin(list(cuts))], self.meta, self.seconds)

    def losses(self) -> pd.DataFrame:
        """WAPE by (domain, cut) row and candidate; candidates that failed anywhere dropped."""
        wide = self.table.pivot_table(
            index=["domain", "cut"], columns="candidate", values="wape", aggfunc="first"
        )
        return wide.dropna(axis=1, how="any")


def history_length(tables: OriginTables, domain: Any) -> int:
    """Periods from the target domain's first observed period to the origin."""
    first = tables.history_start(tables.data.target_rows[domain])
    return 0 if first is None else tables.data.origin_idx - first + 1


def replay_history(tables: OriginTables, domain: Any, cuts: int = 2) -> int:
    """The history length the sources replay for ``domain``: its own (:func:`history_length`);
    where no source had that much at any cut point (a target as old as the sources, forecast
    on all of its history), the longest at which the sources hold as many cut points as at any
    shorter one, so that such a target is replayed younger rather than not at all."""
    n = history_length(tables, domain)
    if n == 0 or cut_points(tables, n, cuts):
        return n
    held = sorted(m for c in _cut_order(tables, cuts) if (m := _capacity(tables, c)) >= 1)
    return held[-min(cuts, len(held))] if held else n


def _cut_order(tables: OriginTables, cuts: int) -> list[int]:
    """The candidate cut positions in the order :func:`cut_points` tries them."""
    origin, horizon = tables.data.origin_idx, tables.horizon
    season = int(tables.builder.season_length)
    order = [origin - horizon, origin - season]
    return list(dict.fromkeys(order + [origin - k * horizon for k in range(2, cuts + 2)]))


def _capacity(tables: OriginTables, c: int) -> int:
    """The longest target history panel position ``c`` can be a cut point for: the periods
    some source domain had up to it (and at most ``c``); -1 where its horizon would run past
    the origin or no source had begun."""
    src = tables.data.source_rows
    if c + tables.horizon > tables.data.origin_idx or not len(src):
        return -1
    first = tables.history_start(src, until=c)
    return -1 if first is None else min(c, c + 1 - first)


def cut_points(tables: OriginTables, n: int, cuts: int) -> list[int]:
    """Panel positions of up to ``cuts`` cut points (see the module doc), latest first."""
    held = [c for c in _cut_order(tables, cuts) if _capacity(tables, c) >= n]
    return held[:cuts]


def season_seen(tables: OriginTables, c: int) -> bool:
    """Whether the source series had been observed one season before the horizon that follows
    panel position ``c``, so that models fitted on them at ``c`` had seen that part of the
    year (always true without a season)."""
    season = int(tables.builder.season_length)
    if season <= 1:
        return True
    first = tables.history_start(tables.data.source_rows, until=c)
    return first is not None and first <= c + 1 - season


def seasoned_cuts(tables: OriginTables, cuts: list[int]) -> tuple[list[int], list[int]]:
    """Of the cut positions ``cuts``, those that stand for the origin in what the source models
    had seen, and those left out: where the sources at the origin had seen the horizon's part
    of the year (one season back), a cut whose sources had not (:func:`season_seen`) shows
    transfer at a disadvantage the origin does not have. No cut is left out when that would
    leave none."""
    if not season_seen(tables, tables.data.origin_idx):
        return list(cuts), []
    dropped = [c for c in cuts if not season_seen(tables, c)]
    if not dropped or len(dropped) == len(cuts):
        return list(cuts), []
    return [c for c in cuts if c not in dropped], dropped


def seasoned_replays(tables: OriginTables, rep: Replays) -> tuple[Replays, list[Any]]:
    """The replays at the cuts :func:`seasoned_cuts` keeps, and the cuts it leaves out (as
    times), among the cuts ``rep`` holds."""
    times = tables.data.panel.times
    held = [pd.Timestamp(c) for c in pd.unique(rep.table["cut"])] if len(rep.table) else []
    _, dropped = seasoned_cuts(tables, [int(times.get_loc(c)) for c in held])
    if not dropped:
        return rep, []
    left_out = [times[c] for c in dropped]
    return rep.drop(cuts=left_out), left_out


def domain_meta(
    tables: OriginTables, domain: Any, target: FeatureTable, similarity: bool
) -> dict[str, float]:
    """Meta-features of one target domain of ``tables`` (``target``: its training rows)."""
    panel, end = tables.data.panel, tables.data.origin_idx
    tot = panel.totals(tables.data.target_rows[domain], end).to_numpy()
    out = dict.fromkeys([*META, *FLOOR_META], float("nan"))
    out["history"] = float(len(tot))
    if len(tot) and tot.mean() > 0:
        out["log_level"] = float(np.log(tot.mean()))
        logs = np.log(np.maximum(tot, 1e-9 * tot.mean()))
        if len(tot) >= 3:
            out["volatility"] = float(np.std(np.diff(logs)))
            out["trend"] = float(np.polyfit(np.arange(len(logs)), logs, 1)[0])
    season = horizon_season(tables, domain, 0.0)
    if "seen_range" in season:
        lo, hi = season["seen_range"]
        out["season_history"] = float(hi / lo - 1) if lo > 0 else float("nan")
        out["season_horizon"] = float(season["gap"])
        out["season_flat"] = float(season.get("flat", season["gap"]))
    out["season_corr"] = season_and_scale(tables, domain)["season_corr"]
    if similarity and len(target) >= 4:
        exclude = [*tables.builder.known, *tables.builder.static_numeric]
        out["domain_auc"] = domain_auc(tables.source, target, exclude)
    return out


def target_meta(tables: OriginTables, domain: Any, similarity: bool = True) -> dict[str, float]:
    """The meta-features of a target domain at the tables' origin, as the replays measure
    them (``similarity``: the domain classifier's AUC too, the costly one)."""
    return domain_meta(tables, domain, tables.target(domain), similarity)


def _wape(forecast: np.ndarray, actual: np.ndarray) -> float:
    ok = ~np.isnan(actual) & ~np.isnan(forecast)
    denom = np.abs(actual[ok]).sum()
    return float(np.abs(forecast[ok] - actual[ok]).sum() / denom) if denom else float("nan")


@dataclass
class Layout:
    """The replay groups of one origin and history length: per (cut, group), the cut tables
    with the group as one target domain ``key``, and its members (domain -> series rows)."""

    groups: list[tuple[OriginTables, Any, dict[Any, np.ndarray]]]
    seconds: float

    def cuts(self) -> list[int]:
        """The panel positions of the cuts that hold a group, latest first."""
        return list(dict.fromkeys(fit.data.origin_idx for fit, _, _ in self.groups))

    def at(self, cut: int) -> Layout:
        """The groups of one cut."""
        return Layout([g for g in self.groups if g[0].data.origin_idx == cut], 0.0)


def build_layout(
    tables: OriginTables,
    n: int,
    folds: int,
    cuts: int,
    seed: int,
    budget: int | None = SOURCE_BUDGET,
) -> Layout:
    """The cut tables every candidate's replays are fitted on (see the module doc); each
    group's source table within ``budget`` (series, anchor) pairs."""
    start = time.perf_counter()
    panel, src = tables.data.panel, tables.data.source_rows
    domains = np.array(sorted(pd.unique(panel.domains[src]), key=str), dtype=object)
    order = domains[np.random.default_rng(seed).permutation(len(domains))]
    parts = [g for g in np.array_split(order, folds) if len(g)]
    groups = []
    for c in cut_points(tables, n, cuts):
        for k, group in enumerate(parts):
            in_group = np.isin(panel.domains[src], group)
            mask = np.zeros(panel.n_series, dtype=bool)
            mask[src[in_group]] = True
            cut = panel.cut(c, tables.horizon, target_mask=mask, target_history=n)
            has = ~np.all(np.isnan(cut.Y), axis=1)
            # n = 0: the series that had sold by the cut replay being pre-launch
            live = has if n else ~np.all(np.isnan(panel.Y[:, : c + 1]), axis=1)
            # only a domain as old at the cut as the target is now stands for it
            members = {}
            for d in group:
                r = src[in_group & (panel.domains[src] == d)]
                first = tables.history_start(r, until=c)
                if first is not None and first <= c + 1 - n and live[r].any():
                    members[d] = r[live[r]]
            sources = src[~in_group & has[src]]
            if not members or not len(sources):
                continue
            key = ("replay", k)
            targets = {key: np.concatenate(list(members.values()))}
            data = OriginData(panel.times[c], c, cut, sources, targets)
            groups.append(
                (
                    OriginTables(
                        tables.task,
                        data,
                        tables.spec,
                        parent=panel,
                        source_budget=budget,
                        dropped=tables.dropped,
                    ),
                    key,
                    members,
                )
            )
    if not groups and len(src):
        why = (
            "one source domain, and a replayed domain needs others as its sources"
            if len(domains) < 2
            else f"no source domain had {n} periods of history at a cut before it"
        )
        warnings.warn(
            f"no source replays at {period_text(tables.data.origin)}: {why}; weights learnt from "
            f"replays (auto) and replay intervals have no replayed evidence there",
            DataWarning,
            stacklevel=2,
        )
    return Layout(groups, time.perf_counter() - start)


def domain_view(fit: OriginTables, members: dict[Any, np.ndarray]) -> OriginTables:
    """The cut tables of a replay group with each replayed domain a target of its own."""
    view = copy.copy(fit)
    view.__dict__.pop("_targets", None)
    view.__dict__.pop("_source_profiles", None)
    view.data = replace(fit.data, target_rows=members)
    return view


def per_domain(strategy: Strategy) -> bool:
    """Whether ``strategy`` is replayed on each replayed domain alone rather than on its
    group: a strategy fitted on the target's rows only (no source model, no source rows),
    whose fit on a group of domains would be a different model at no saving."""
    return not strategy.reads_source_table()


def layout_meta(layout: Layout, similarity: bool) -> pd.DataFrame:
    """The meta-features of every replayed domain at every cut of ``layout``."""
    metas = []
    for fit, key, members in layout.groups:
        panel = fit.parent
        view = domain_view(fit, members)
        group_table = fit.target(key)
        uid_domain = pd.Series(panel.domains, index=panel.ids)
        uid_domain = uid_domain.reindex(group_table.keys["unique_id"]).to_numpy()
        for d in members:
            own = group_table.subset(uid_domain == d)
            metas.append(
                {"domain": d, "cut": fit.data.origin, **domain_meta(view, d, own, similarity)}
            )
    return pd.DataFrame(metas, columns=["domain", "cut", *META])


def replay_candidate(
    layout: Layout, name: str, strategy: Strategy, cache: Any
) -> tuple[list[dict[str, Any]], list[pd.DataFrame], float]:
    """One candidate forecast on every group of ``layout``: its loss rows, detail frames and
    seconds. A candidate that fails on a group has no rows there (a user error propagates)."""
    start = time.perf_counter()
    rows, details = [], []
    alone = per_domain(strategy)
    for fit, key, members in layout.groups:
        if alone:
            r, dd = _forecast_each(fit, members, name, strategy, cache)
            rows += r
            details += dd
            continue
        r, dd = _forecast_group(fit, key, {name: strategy}, cache)
        rows += [{**x, "fit_seconds": x["fit_seconds"] / len(members)} for x in r]
        details += dd
    return rows, details, time.perf_counter() - start


def _forecast_group(
    fit: OriginTables, key: Any, named: dict[str, Strategy], cache: Any
) -> tuple[list[dict[str, Any]], list[pd.DataFrame]]:
    """Fit every candidate on the target ``key`` of ``fit`` and score it per domain."""
    panel = fit.parent
    actuals = fit.actuals(key)
    series_domain = pd.Series(panel.domains, index=panel.ids)
    c, when = fit.data.origin_idx, fit.data.origin
    rows, details = [], []
    for name, strategy in named.items():
        failed: Exception | None = None
        try:
            res = fit_and_forecast(strategy, fit, key, cache)
        except PluginError as exc:  # its plugin broke the contract (a predict's length, NaN)
            failed = exc
        except DataError:  # too little data for this candidate here (a short target history)
            continue
        except TransfercastError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed candidate has no replay rows
            failed = exc
        if failed is not None:
            warnings.warn(
                f"'{name}' failed on the source replays at the cut {period_text(when)} "
                f"({type(failed).__name__}: {failed}): it has no replay rows there, and auto "
                f"leaves it out of its weights",
                DataWarning,
                stacklevel=2,
            )
            continue
        fc = res.forecasts.merge(actuals, on=["unique_id", "ds"], how="inner")
        fc = fc.dropna(subset=["actual"])
        fc["domain"] = series_domain.reindex(fc["unique_id"]).to_numpy()
        fc["candidate"], fc["cut"] = name, when
        fc["step"] = panel.times.get_indexer(fc["ds"]) - c
        details.append(fc)
        for d, g in fc.groupby("domain", sort=False):
            wape = _wape(g["forecast"].to_numpy(float), g["actual"].to_numpy(float))
            rows.append(
                {"domain": d, "cut": when, "candidate": name, "wape": wape}
                | {"fit_seconds": res.fit_seconds}
            )
    return rows, details


def _replays(
    tables: OriginTables,
    n: int,
    rows: list[dict[str, Any]],
    details: list[pd.DataFrame],
    meta: pd.DataFrame,
    seconds: float,
) -> Replays:
    detail = pd.concat(details, ignore_index=True) if details else pd.DataFrame()
    if len(detail):
        level = detail[detail["candidate"] == NAIVE][["cut", "unique_id", "ds", "forecast"]]
        level = level.assign(forecast=scale_of(level["forecast"]))
        detail = detail.merge(level.rename(columns={"forecast": "level"}), how="left")
        detail = detail[DETAIL_COLUMNS]
    else:
        detail = pd.DataFrame(columns=DETAIL_COLUMNS)
    table = pd.DataFrame(rows, columns=["domain", "cut", "candidate", "wape", "fit_seconds"])
    table = table.merge(meta, on=["domain", "cut"], how="left")
    table.insert(0, "n", n)
    table.insert(0, "origin", tables.data.origin)
    return Replays(table[TABLE_COLUMNS], detail, meta, seconds)


def inner_cut(tables: OriginTables) -> int:
    """The inner cut of the targets' own backtest: half a horizon (rounded up) before the
    origin."""
    return tables.data.origin_idx - -(-tables.horizon // 2)


def inner_fit(
    tables: OriginTables, budget: int | None = SOURCE_BUDGET
) -> tuple[OriginTables, Any] | None:
    """The tables of the targets' own backtest (every target cut at :func:`inner_cut`, the
    sources too, their table within ``budget`` (series, anchor) pairs, all targets as one
    target domain) and that domain's key; ``None`` when no target or source has history at
    the inner cut."""
    panel, src, c = tables.data.panel, tables.data.source_rows, inner_cut(tables)
    if c < 1:
        return None
    cut = panel.cut(c, tables.horizon)
    has = ~np.all(np.isnan(cut.Y), axis=1)
    members = [r[has[r]] for r in tables.data.target_rows.values() if has[r].any()]
    sources = src[has[src]]
    if not members or not len(sources):
        return None
    key = ("inner", 0)
    data = OriginData(panel.times[c], c, cut, sources, {key: np.concatenate(members)})
    tables = OriginTables(
        tables.task, data, tables.spec, parent=panel, source_budget=budget, dropped=tables.dropped
    )
    return tables, key


def _inner_candidate(
    fit: tuple[OriginTables, Any], name: str, strategy: Strategy, cache: Any
) -> tuple[list[dict[str, Any]], list[pd.DataFrame]]:
    """One candidate on the targets' own backtest: on all targets as one domain, or, for a
    strategy fitted on the target's rows alone (:func:`per_domain`), on each target domain
    alone, as at the origin (all targets' rows would make it another model)."""
    inner, key = fit
    if not per_domain(strategy):
        return _forecast_group(inner, key, {name: strategy}, cache)
    rows_all, domains = inner.data.target_rows[key], inner.data.panel.domains
    members = {d: rows_all[domains[rows_all] == d] for d in pd.unique(domains[rows_all])}
    return _forecast_each(inner, members, name, strategy, cache)


def _forecast_each(
    fit: OriginTables, members: dict[Any, np.ndarray], name: str, strategy: Strategy, cache: Any
) -> tuple[list[dict[str, Any]], list[pd.DataFrame]]:
    """:func:`_forecast_group` of one candidate on each domain of ``members`` alone."""
    view = domain_view(fit, members)
    rows: list[dict[str, Any]] = []
    details: list[pd.DataFrame] = []
    for d in members:
        r, dd = _forecast_group(view, d, {name: strategy}, cache)
        rows += r
        details += dd
    return rows, details


def build_inner(tables: OriginTables, candidates: dict[str, Strategy], cache: Any) -> Replays:
    """The target domains' own backtest, in the replays' form: every target is cut at
    :func:`inner_cut` (the sources too) and forecast by every candidate and the naive level,
    scored on its observed periods up to the origin. All targets are forecast as one target
    domain, so each candidate is fitted once per origin (kept on ``tables`` per name and
    parameters, like the replays), except one fitted on the target's rows alone, fitted on each
    target as at the origin (:func:`_inner_candidate`); ``n`` is the number of inner periods
    scored. Targets with no history at the inner cut have no rows."""
    start = time.perf_counter()
    fit = _memo(tables, "_inner_fit", "", lambda: inner_fit(tables))
    rows: list[dict[str, Any]] = []
    details: list[pd.DataFrame] = []
    for name, strategy in ({**candidates, NAIVE: Naive()} if fit else {}).items():
        part = _memo(
            tables,
            "_inner_candidates",
            _blob([name, strategy.get_params()]),
            lambda name=name, strategy=strategy: _inner_candidate(fit, name, strategy, cache),
        )
        rows += part[0]
        details += part[1]
    meta = pd.DataFrame(columns=["domain", "cut", *META])
    periods = tables.data.origin_idx - inner_cut(tables)
    return _replays(tables, periods, rows, details, meta, time.perf_counter() - start)


# -- learning weights from replays ----------------------------------------------------------
def wide_detail(detail: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """One row per (domain, cut, series, period) with each candidate's forecast and the actual;
    rows where a candidate has no forecast are dropped."""
    d = detail[detail["candidate"].isin(names)].dropna(subset=["actual", "forecast"])
    idx = ["domain", "cut", "unique_id", "ds"]
    wide = d.pivot_table(index=idx, columns="candidate", values="forecast", aggfunc="first")
    wide = wide.reindex(columns=names).join(d.groupby(idx)["actual"].first())
    return wide.dropna().reset_index()


def select_answer(pm: Any, **kwargs: Any) -> tuple[Any, str | None]:
    """The first answer that is not ``None`` of the ``transfercast_select_strategy`` plugins,
    in pluggy's call order, and the plugin that gave it (``(None, None)`` without one); a hook
    that raises is a :class:`~transfercast.strategy.PluginError` naming its plugin."""
    from transfercast.plugin_manager import each_answer

    hook, label = pm.hook.transfercast_select_strategy, "transfercast_select_strategy plugin"
    for plugin, answer in each_answer(hook, label, **kwargs):
        if answer is not None:
            return answer, plugin
    return None, None


def hook_weights(answer: Any, candidates: list[str], plugin: str | None = None) -> pd.Series:
    """The weights a ``transfercast_select_strategy`` answer gives (a candidate's name, or a
    mapping of candidates to weights), normalised to sum to 1; an answer that is neither, names
    something not among ``candidates`` (those open to this target), or holds a weight that is
    not a finite non-negative number (or only zeros) is one :class:`TransfercastError` naming
    the ``plugin``."""
    said = (
        f"transfercast_select_strategy{f' plugin {plugin!r}' if plugin else ''} returned {answer!r}"
    )
    if isinstance(answer, str):
        answer = {answer: 1.0}
    if not isinstance(answer, Mapping):
        raise TransfercastError(f"{said}: return a candidate's name or a mapping of weights")
    unknown = [str(k) for k in answer if k not in candidates]
    if unknown:
        raise TransfercastError(
            f"{said}: '{unknown[0]}' is not a candidate for this target; candidates: "
            f"{', '.join(candidates)}"
        )
    try:
        weights = pd.Series(dict(answer), dtype=float)
    except (TypeError, ValueError):
        weights = pd.Series([np.nan])
    if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise TransfercastError(f"{said}: weights must be finite numbers, >= 0, not all 0")
    return weights[weights > 0] / weights.sum()


def stack_weights(
    parts: list[tuple[pd.DataFrame, float]], names: list[str], offset: Any = None
) -> pd.Series:
    """Simplex weights of ``names`` minimising the sum over ``parts`` of share times the mean
    over its (domain, cut) groups of the weighted forecast's WAPE, plus ``offset . w`` (a loss
    per candidate added linearly; none by default).

    The problem ``min_w sum_i c_i |F_i w - y_i|`` over the simplex is a linear program with a
    row per replayed period; it is solved exactly through its dual, ``max_u -u.y + s`` subject
    to ``s <= (F^T u)_j + offset_j`` for every candidate ``j`` and ``|u_i| <= c_i``, which has
    one row per candidate: HiGHS's interior-point method then solves systems of that size
    whatever the number of rows, and its crossover ends on an exact optimal vertex. The
    weights are the dual values of the candidate rows (they sum to 1 by the dual's
    stationarity in ``s``)."""
    from scipy.optimize import linprog  # slow to import: only where weights are fitted

    F, y, c = [], [], []
    for wide, share in parts:
        if not len(wide) or share <= 0:
            continue
        denom = wide.groupby(["domain", "cut"])["actual"].transform(lambda a: np.abs(a).sum())
        groups = wide.groupby(["domain", "cut"]).ngroups
        F.append(wide[names].to_numpy(float))
        y.append(wide["actual"].to_numpy(float))
        c.append(share / (groups * np.maximum(denom.to_numpy(float), 1e-12)))
    Fm, ym, cm = np.vstack(F), np.concatenate(y), np.concatenate(c)
    k = Fm.shape[1]
    res = linprog(
        np.r_[ym, -1.0],
        A_ub=np.hstack([-Fm.T, np.ones((k, 1))]),
        b_ub=np.zeros(k) if offset is None else np.asarray(offset, float),
        bounds=[*zip(-cm, cm, strict=True), (None, None)],
        method="highs-ipm",  # interior point, then crossover to an optimal vertex
    )
    if not res.success:
        raise TransfercastError(f"auto: the stacking program failed: {res.message}")
    w = np.clip(-np.asarray(res.ineqlin.marginals, float), 0.0, None)
    w = np.where(w < 1e-6, 0.0, w)
    return pd.Series(w / w.sum(), index=names)


def weight_text(weights: Any, decimals: int = 3) -> str:
    """Weights summing to 1 as ``selection.csv`` writes them (``0.620;0.380``): rounded to
    ``decimals`` so that the printed ones sum to 1 too (the largest remainders round up)."""
    w = np.asarray(list(weights), dtype=float)
    unit = 10**decimals
    units = np.floor(w * unit + 1e-9)
    short = int(round(unit * w.sum() - units.sum()))
    order = np.argsort(-(w * unit - units), kind="stable")
    units[order[: max(short, 0)]] += 1
    return ";".join(f"{u / unit:.{decimals}f}" for u in units)


def blended_wape(wide: pd.DataFrame, weights: pd.Series) -> float:
    """Mean over (domain, cut) of the WAPE of the weighted forecast."""
    f = wide[list(weights.index)].to_numpy(float) @ weights.to_numpy(float)
    g = wide.assign(e=np.abs(f - wide["actual"]), a=wide["actual"].abs())
    per = g.groupby(["domain", "cut"])[["e", "a"]].sum()
    return float((per["e"] / per["a"]).mean())


_lock = threading.Lock()


def replays(
    tables: OriginTables,
    n: int,
    candidates: dict[str, Strategy],
    cache: Any,
    folds: int = 2,
    cuts: int = 2,
    seed: int = 0,
    similarity: bool = False,
    only: list[int] | None = None,
) -> Replays:
    """The source replays with ``n`` periods of history (the naive level added to
    ``candidates``), kept on ``tables`` (so once per origin): the layout once per
    history length, folds, cuts and seed, and each candidate's replays at each cut once per
    name and parameters on it, so ``auto`` and the prediction intervals of every strategy share
    them. ``only``: the panel positions of the cuts to replay (default: every cut), so a cut
    nobody reads is not fitted, and one asked for later is fitted then."""
    shape = [n, folds, cuts, seed]
    wanted = None if only is None else sorted(int(c) for c in only)
    full = _blob([*shape, similarity, _spec(candidates), wanted])
    with _lock:
        held = tables.__dict__.setdefault("_replays", {})
        if full in held:
            return held[full]
    layout = _memo(tables, "_layouts", _blob(shape), lambda: build_layout(tables, *shape))
    at = [c for c in layout.cuts() if wanted is None or c in wanted]
    rows: list[dict[str, Any]] = []
    details: list[pd.DataFrame] = []
    seconds = layout.seconds
    for name, strategy in {**candidates, NAIVE: Naive()}.items():
        for c in at:
            blob = _blob([*shape, name, strategy.get_params(), c])
            part = _memo(
                tables,
                "_candidates",
                blob,
                lambda name=name, strategy=strategy, c=c: replay_candidate(
                    layout.at(c), name, strategy, cache
                ),
            )
            rows += part[0]
            details += part[1]
            seconds += part[2]
    metas = [
        _memo(
            tables,
            "_metas",
            _blob([*shape, similarity, c]),
            lambda c=c: layout_meta(layout.at(c), similarity),
        )
        for c in at
    ]
    meta = pd.concat(metas, ignore_index=True) if metas else layout_meta(Layout([], 0.0), False)
    rep = _replays(tables, n, rows, details, meta, seconds)
    with _lock:
        return held.setdefault(full, rep)


def weighed_replays(
    tables: OriginTables, n: int, candidates: dict[str, Strategy], cache: Any, **shape: Any
) -> tuple[Replays, Replays, list[Any]]:
    """:func:`replays` (``shape``: its ``folds``, ``cuts``, ``seed`` and ``similarity``), those
    of them that weights read (:func:`seasoned_replays`) and the cuts these leave out (as
    times). A left-out cut is replayed only where prediction intervals will read it
    (``tables.intervals``); where the kept cuts replay nothing, every cut is kept."""
    args = (tables, n, candidates, cache)
    kept, dropped = seasoned_cuts(tables, cut_points(tables, n, shape.get("cuts", 2)))
    if dropped and not tables.intervals:
        rep = replays(*args, **shape, only=kept)
        if len(rep.table):
            return rep, rep, [tables.data.panel.times[c] for c in dropped]
    rep = replays(*args, **shape)
    return rep, *seasoned_replays(tables, rep)


def _blob(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def inner_backtest(tables: OriginTables, candidates: dict[str, Strategy], cache: Any) -> Replays:
    """:func:`build_inner`, built once per origin (kept on ``tables``) and candidate set."""
    return _memo(
        tables, "_inner", _blob(_spec(candidates)), lambda: build_inner(tables, candidates, cache)
    )


def _spec(candidates: dict[str, Strategy]) -> dict[str, Any]:
    return {name: s.get_params() for name, s in sorted(candidates.items())}


def _memo(tables: OriginTables, slot: str, blob: str, build: Any) -> Any:
    """``build()``, once per ``tables`` and stable key ``blob`` (a lock per key)."""
    key = hashlib.sha256(blob.encode()).hexdigest()[:16]
    with _lock:
        memo = tables.__dict__.setdefault(slot, {})
        locks = tables.__dict__.setdefault(f"{slot}_locks", {})
        lock = locks.setdefault(key, threading.Lock())
    with lock:
        if key not in memo:
            memo[key] = build()
    return memo[key]


def replay_order(rows: pd.DataFrame) -> pd.DataFrame:
    """Replay rows in one order, however the cells that made them ran (a resumed or extended
    comparison, other jobs): by history length, replayed domain, cut and candidate."""
    keys = [c for c in ("n", "domain", "cut", "candidate") if c in rows.columns]
    text = lambda col: col.astype(str) if col.dtype == object else col  # noqa: E731
    return rows.sort_values(keys, key=text, kind="stable", ignore_index=True)


def held_replays(tables: OriginTables) -> pd.DataFrame:
    """The replay table of every candidate replayed so far at this origin, one row per history
    length, replayed domain, cut and candidate (what ``compare`` writes to ``replays.csv``),
    with ``left_out``: whether the row's cut is one that weights leave out
    (:func:`seasoned_replays`; replayed only for prediction intervals)."""
    # not in the order of their making: where two replays of one candidate with other
    # parameters meet (a strategy's own for its intervals, auto's of it), the row kept is that
    # of the replays of the most candidates (auto's, whose selection.csv reads them), then by
    # key, however the cells ran (a resumed comparison, other jobs); with the replays that
    # remote workers made on their copies of the tables (a Dask cluster)
    kept = {**tables.__dict__.get("_remote_replays", {}), **tables.__dict__.get("_replays", {})}
    order = sorted(kept, key=lambda k: (-kept[k].table["candidate"].nunique(), k))
    held = [kept[k].table for k in order if len(kept[k].table)]
    if not held:
        return pd.DataFrame(columns=[*TABLE_COLUMNS, "left_out"])
    both = pd.concat(held, ignore_index=True)
    both = replay_order(both.drop_duplicates(["n", "domain", "cut", "candidate"]))
    times, both["left_out"] = tables.data.panel.times, False
    for rows in both.groupby("n").groups.values():
        cuts = [int(times.get_loc(pd.Timestamp(c))) for c in pd.unique(both.loc[rows, "cut"])]
        dropped = [times[c] for c in seasoned_cuts(tables, cuts)[1]]
        both.loc[rows, "left_out"] = both.loc[rows, "cut"].isin(dropped).to_numpy()
    return both


# -- how much the replays stand for a target ------------------------------------------------
def _relative_loss(detail: pd.DataFrame, candidate: str, steps: int) -> pd.Series:
    """Per (domain, cut): log of ``candidate``'s WAPE over the naive level's, over steps
    1 to ``steps``."""
    d = detail[(detail["step"] <= steps) & detail["candidate"].isin([candidate, NAIVE])]
    d = d.dropna(subset=["actual", "forecast"])
    err = (d["forecast"] - d["actual"]).abs()
    per = err.groupby([d["domain"], d["cut"], d["candidate"]]).sum().unstack("candidate")
    if candidate not in per or NAIVE not in per:
        return pd.Series(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log(per[candidate] / per[NAIVE])
    return ratio.replace([np.inf, -np.inf], np.nan).dropna()


def replay_pvalue(replayed: pd.DataFrame, own: pd.DataFrame, candidate: str) -> float:
    """How well the replayed domains stand for a target, judged on its own backtest: the
    one-sided Gaussian tail probability of the target's log loss of ``candidate`` relative to
    the naive level (over its own scored periods) among the replayed domain-cuts' log losses
    over the same first steps (their mean and standard deviation). Small when ``candidate``
    does far worse against the naive level on the target than on the replayed domains, and
    smaller the farther the target lies beyond them (a rank could not tell a target far
    outside the replays from one just past the least typical of them); 1 when there is no
    evidence (no own backtest, or fewer than three replayed domain-cuts)."""
    steps = int(own["step"].max()) if len(own) else 0
    mine = _relative_loss(own, candidate, steps)
    theirs = _relative_loss(replayed, candidate, steps).to_numpy(float)
    if not len(mine) or len(theirs) < 3:
        return 1.0
    x, mean, sd = float(mine.iloc[0]), float(theirs.mean()), float(theirs.std(ddof=1))
    if not sd > 0:
        return 1.0 if x <= mean else 0.0
    return float(0.5 * math.erfc((x - mean) / sd / math.sqrt(2.0)))  # the normal tail


def replays_kept(pvalue: float) -> float:
    """The share of its weight the replays' evidence keeps at ``pvalue``
    (:func:`replay_pvalue`): ``min(1, -e p ln p)`` below ``p = 1/e``, else 1, the reciprocal
    of the largest Bayes factor a p-value ``p`` can carry against the replays standing for the
    target (the Sellke-Bayarri-Berger bound). A typical target keeps the replays whole."""
    if pvalue >= 1.0 / math.e:
        return 1.0
    return -math.e * pvalue * math.log(pvalue) if pvalue > 0.0 else 0.0  # at most 1 here


def own_share(periods: int, pvalue: float) -> float:
    """The weight of a target's own backtest (``periods`` scored periods) against the
    replays: what the replays hand over, ``1 -`` :func:`replays_kept`. Its few periods count
    only as far as they show the target unlike the replayed domains; where they do not, the
    replays (many domains, whole horizons) decide alone."""
    return 0.0 if periods <= 0 else 1.0 - replays_kept(pvalue)


def season_floor(replay: pd.Series, meta: Mapping[str, float]) -> pd.Series:
    """What each flat forecast's (``naive``'s and ``last_value``'s) mean replayed WAPE (in
    ``replay``, by candidate) falls short of the WAPE a flat forecast makes over the target's
    horizon if the target follows the sources' seasonal index (the ``season_flat``
    meta-feature, ``flat`` of :func:`transfercast.similarity.horizon_season`; without it, the
    season gap ``season_horizon``, the least WAPE any flat forecast makes there); 0 for every
    other candidate. Replays whose horizons hold no season like the target's cannot show a
    flat forecast missing it, whichever level it holds."""
    gap = float(meta.get("season_flat", meta.get("season_horizon", np.nan)))
    floor = pd.Series(0.0, index=replay.index)
    if np.isfinite(gap):
        for name in floor.index.intersection([NAIVE, LAST]):
            floor[name] = max(0.0, gap - float(replay[name]))
    return floor


def nearest_rows(rep: Replays, losses: pd.DataFrame, meta: Mapping[str, float]) -> pd.Index:
    """The replayed (domain, cut) rows nearest to a target by standardised meta-features: the
    nearest third, at least three."""
    m = rep.meta.set_index(["domain", "cut"]).reindex(losses.index)
    cols = [c for c in META if m[c].notna().all() and np.isfinite(meta.get(c, np.nan))]
    k = max(3, int(np.ceil(len(m) / 3)))
    if not cols or len(m) <= k:
        return losses.index
    sd = m[cols].std().replace(0, 1).fillna(1)
    z = (m[cols] - m[cols].mean()) / sd
    t = (pd.Series({c: meta[c] for c in cols}) - m[cols].mean()) / sd
    dist = np.sqrt(((z - t) ** 2).sum(axis=1)).to_numpy()
    return losses.index[np.argsort(dist, kind="stable")[:k]]
