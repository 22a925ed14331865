"""From a cut panel to forecasts: the feature tables of one origin and the multi-step forecast of
one strategy for one target domain, in the direct or the recursive formulation."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from transfercast.config import FeaturesConfig
from transfercast.data import DataWarning, category_text, period_text
from transfercast.errors import DataError, HistoryRequired
from transfercast.features import FeatureBuilder, FeatureTable, numeric_static, observed_in_window
from transfercast.frequency import resolve_features
from transfercast.panel import Panel
from transfercast.prelaunch import LevelModel
from transfercast.source_cache import SourceCache
from transfercast.strategy import PluginError, Strategy, check_prediction
from transfercast.task import OriginData, TransferTask, plain


def thin_anchors(
    i: np.ndarray, a: np.ndarray, h: np.ndarray, budget: int | None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The training triples (series, anchor, step) of at most ``budget`` (series, anchor)
    pairs: all of them within the budget, else a seeded random sample of the pairs, each with
    all its steps, in their order."""
    if budget is None or not len(i):
        return i, a, h
    key = i.astype(np.int64) * (int(a.max()) + 1) + a
    pairs = np.unique(key)
    if len(pairs) <= budget:
        return i, a, h
    chosen = np.random.default_rng(seed).choice(len(pairs), budget, replace=False)
    keep = np.isin(key, pairs[chosen])
    return i[keep], a[keep], h[keep]


def one_sided_columns(builder: FeatureBuilder, data: OriginData) -> dict[str, str]:
    """The static and known columns ``builder`` reads that have no value in the target series
    of ``data`` or none in its source series (known covariates up to the horizon, as the panel
    is cut), each with the side (``"target"``, ``"source"``) that has none."""
    panel = data.panel
    sides = {"target": [r for r in data.target_rows.values()], "source": [data.source_rows]}
    out = {}
    for col in [*builder.static_numeric, *builder.static_categorical, *builder.known]:
        for side, parts in sides.items():
            rows = np.concatenate(parts) if parts else np.array([], dtype=int)
            if not len(rows):
                continue
            if col in builder.known:
                empty = bool(np.isnan(panel.known[col][rows]).all())
            else:
                empty = bool(panel.static[col].iloc[rows].isna().all())
            if empty:
                out[col] = side
                break
    return out


def without_columns(builder: FeatureBuilder, columns: tuple[str, ...]) -> FeatureBuilder:
    """``builder`` without the static and known ``columns``."""
    if not columns:
        return builder
    return replace(
        builder,
        known=[c for c in builder.known if c not in columns],
        static_numeric=[c for c in builder.static_numeric if c not in columns],
        static_categorical=[c for c in builder.static_categorical if c not in columns],
    )


def level_peers(tables: OriginTables) -> pd.DataFrame:
    """The static columns of the source series (one row each) that
    :func:`warn_level_extrapolated` compares a pre-launch series with (a bundle keeps them:
    ``predict`` needs only the target rows)."""
    b = tables.builder
    frame = tables.series_frame(tables.data.source_rows)
    return frame[[*b.static_categorical, *b.static_numeric]].reset_index(drop=True)


def warn_level_extrapolated(
    tables: OriginTables, source: str, peers: pd.DataFrame | None = None
) -> None:
    """Warn when a series forecast before launch has a numeric static value (a store's size)
    outside the range of the source series of its kind (the same values in every categorical
    static column, a store type): its estimated level extrapolates the level model's slope,
    which the source domains cannot check. One warning per target domain. ``peers``: the
    sources' :func:`level_peers` where the tables hold no source series (a bundle's)."""
    rows, src = tables.prelaunch, tables.data.source_rows
    b = tables.builder
    if peers is None:
        peers = tables.series_frame(src) if len(src) else None
    if not len(rows) or peers is None or not len(peers) or not b.static_numeric:
        return
    frame = tables.series_frame(rows)
    kinds, warned = list(b.static_categorical), set()
    kind_of = {kind: category_text(peers[kind]) for kind in kinds}  # missing matches missing
    panel = tables.data.panel
    for col in b.static_numeric:
        for k, row in frame.iterrows():
            domain = plain(panel.domains[rows[k]])
            if domain in warned:
                continue
            same = np.ones(len(peers), dtype=bool)
            for kind in kinds:
                same &= kind_of[kind] == category_text(pd.Series([row[kind]], dtype=object))[0]
            values = peers.loc[same, col].to_numpy(float)
            values = values[np.isfinite(values)]
            of = ", ".join(f"{kind} {row[kind]!r}" for kind in kinds) or "every source"
            if not len(values):  # a kind no source has: the range of every source
                values = peers[col].to_numpy(float)
                values = values[np.isfinite(values)]
                of = "no source of its kind; every source"
            v = float(row[col])
            if not len(values) or not np.isfinite(v) or values.min() <= v <= values.max():
                continue
            warned.add(domain)
            whole = tables.is_prelaunch(panel.domains[rows[k]])
            within, _ = tables.task.unsold_note(rows[k : k + 1], tables.data.origin_idx)
            quiet = within.strip() or "yet"  # within [task] target_history, if it sold before
            who = "" if whole else f" (its series {panel.ids[rows[k]]!r}, with no sales {quiet})"
            warnings.warn(
                f"{source}: target domain {domain!r}{who} is forecast before "
                f"launch with {col} {v:g}, outside the {col} of the source series of its kind "
                f"({of}: {values.min():g} to {values.max():g}): its level is extrapolated by "
                f"the level model's slope; compare it with the levels of similar sources",
                DataWarning,
                stacklevel=3,
            )


def _shown(values: list) -> str:
    """The first three of ``values`` for a message, with "..." when there are more."""
    return f"{', '.join(repr(v) for v in values[:3])}{' ...' if len(values) > 3 else ''}"


def warn_unseen_categories(tables: OriginTables, source: str, saved: bool = False) -> None:
    """Warn, per categorical key or static column, when a target series holds a value no
    series the models learnt from had (a new department): they read it as unknown; and when
    only target series with sales have it: a model of the sources alone reads it as unknown.
    ``saved``: the models are a bundle's, fitted earlier (a new `run` may learn the value,
    where series with sales have it now)."""
    b, panel = tables.builder, tables.data.panel
    rows = np.concatenate([r for r in tables.data.target_rows.values() if len(r)] or [[]])
    rows = rows.astype(int)
    src = np.asarray(tables.data.source_rows, dtype=int)
    if len(src) and not saved:  # the source series with sales up to the origin
        src = src[~np.isnan(panel.Y[src, : tables.data.origin_idx + 1]).all(axis=1)]
    for col in [*b.categorical_keys, *b.static_categorical]:
        values = category_text(panel.keys[col] if col in panel.keys.columns else panel.static[col])
        new = sorted(set(values[rows]) - set(b.categories.get(col, [])) - {None})
        own = sorted(set(values[rows]) - set(values[src]) - set(new) - {None})
        if own and len(src) and not saved:
            warnings.warn(
                f"{source}: column '{col}' holds {_shown(own)} in the target series, which no "
                f"source series with sales has: models fitted on the sources alone (source_only) "
                f"read them as unknown, the others learn them from the targets' own rows only",
                DataWarning,
                stacklevel=3,
            )
        if new:
            shown = _shown(new)
            whose = "the model never saw" if saved else "no series with sales has"
            advice = (
                " (run `transfercast run` again to learn them where series with sales have "
                "them now)"
                if saved
                else ""
            )
            warnings.warn(
                f"{source}: column '{col}' holds {shown} in the target series, which {whose}; "
                f"the models read them as unknown{advice}",
                DataWarning,
                stacklevel=3,
            )


def warn_unknown_future(tables: OriginTables, source: str) -> None:
    """One warning naming the known columns without a value at some of the periods the target
    series are forecast for (a forecast past the data without the planned prices or
    promotions), with how many: the forecasts take the series' recent mean there."""
    panel, origin = tables.data.panel, tables.data.origin_idx
    rows = [r for r in tables.data.target_rows.values() if len(r)]
    steps = np.arange(origin + 1, min(origin + 1 + tables.horizon, len(panel.times)))
    if not rows or not len(steps):
        return
    series = np.concatenate(rows)
    cells = np.ix_(series, steps)
    # a period before a series' first row (it opens within the horizon) is not forecast
    opened = panel.opened(series[:, None], steps[None, :])
    gaps = {c: np.isnan(panel.known[c][cells]) & opened for c in tables.builder.known}
    gaps = {c: gap for c, gap in gaps.items() if gap.any()}
    if gaps:
        total = int(opened.sum())
        first_col, gap = next(iter(gaps.items()))
        r, t = np.argwhere(gap)[0]
        listed = ", ".join(f"'{c}' ({int(g.sum())} of {total})" for c, g in gaps.items())
        unsold = np.isin(series, tables.prelaunch)
        none = any(g[unsold].any() for g in gaps.values())  # no recent mean: read as missing
        warnings.warn(
            f"{source}: known columns without a value at forecast periods of the target series "
            f"after the origin {period_text(tables.data.origin)}: {listed}, first "
            f"'{first_col}' of {panel.ids[series[r]]!r} at {period_text(panel.times[steps[t]])}; "
            f"the forecasts take each series' mean over its last "
            f"{tables.builder.level_window} periods there (its usual value for a 0/1 column "
            f"such as a promotion flag: give 0 where there is none planned; give the planned "
            f"values in rows after the last sale)"
            + "; a series that has not sold yet has no such mean, and the models read it as missing"
            * none,
            DataWarning,
            stacklevel=3,
        )


@dataclass
class OriginTables:
    """Feature tables of one origin; built once and shared by every strategy and target.

    With ``source_budget``, the source table keeps at most that many (series, anchor) pairs, a
    seeded sample over every source series and anchor (:func:`thin_anchors`): the cheaper
    tables the source replays fit on. ``intervals``: prediction intervals will be asked of the
    strategies fitted on these tables (``auto`` then replays the cuts only they read).

    A static or known column without a value in the target series, or in the source series, of
    this origin's data (cut at it) shares nothing between them and is left out of the features,
    with a warning (:func:`one_sided_columns`). ``dropped`` gives that choice instead: the tables
    of a replay or an inner backtest take their origin's.
    """

    task: TransferTask
    data: OriginData
    spec: FeaturesConfig
    parent: Panel | None = None
    source_budget: int | None = None
    intervals: bool = False
    dropped: tuple[str, ...] | None = None
    builder: FeatureBuilder = field(init=False)

    def __post_init__(self) -> None:
        self.spec = resolve_features(self.spec, self.task.freq)  # a no-op for a task's own spec
        builder = FeatureBuilder.for_panel(
            self.data.panel, self.spec, self.task.domain, getattr(self.task, "timezone", None)
        )
        if self.dropped is None:
            empty = one_sided_columns(builder, self.data) if len(self.data.source_rows) else {}
            for col, side in empty.items():
                kind = "known" if col in builder.known else "static"
                if kind == "static" and side == "target" and len(self.prelaunch):
                    dom = plain(self.data.panel.domains[self.prelaunch[0]])
                    raise DataError(
                        f"{self.task.source_name}: static column '{col}' has no value in target "
                        f"domain {dom!r}, which has no sales up to the origin "
                        f"{period_text(self.data.origin)}; the level model that estimates a "
                        f"pre-launch level from the source domains needs it"
                    )
                warnings.warn(
                    f"{self.task.source_name}: {kind} column '{col}' has no values in the "
                    f"{side} domains at origin {period_text(self.data.origin)}; left out of the "
                    f"features there, as source and target share nothing through it",
                    DataWarning,
                    stacklevel=3,
                )
            self.dropped = tuple(empty)
        self.builder = without_columns(builder, self.dropped)

    @property
    def horizon(self) -> int:
        return self.task.horizon

    @property
    def steps(self) -> list[int] | None:
        """Training steps: all of the horizon (direct) or one step (recursive)."""
        return [1] if self.spec.formulation == "recursive" else None

    @cached_property
    def source(self) -> FeatureTable:
        """Training rows of all source series."""
        i, a, h = self.builder.training_rows(
            self.data.panel,
            self.data.source_rows,
            self.data.origin_idx,
            self.horizon,
            window=self.spec.source_window,
            steps=self.steps,
        )
        i, a, h = thin_anchors(i, a, h, self.source_budget)
        if not len(i) and len(self.data.source_rows):
            raise DataError(self._too_short_for_sources())
        young = self.target_age if self.spec.young_sources else None
        prelaunch = bool(len(self.prelaunch))
        return self.builder.source_table(self.data.panel, i, a, h, young, prelaunch)

    def _too_short_for_sources(self) -> str:
        """Why no source series yields a training row: the setting and the periods present."""
        Y = self.data.panel.Y[self.data.source_rows, : self.data.origin_idx + 1]
        most = int((~np.isnan(Y)).sum(axis=1).max()) if Y.size else 0
        w, lo = self.builder.level_window, self.builder.min_level_obs
        dense = int(observed_in_window(Y, w).max()) if Y.size else 0
        return (
            f"no source series has a training row up to the origin "
            f"{period_text(self.data.origin)}: "
            f"a row needs {lo} observed periods within its recent level window ([features] "
            f"level_window = {w} periods) and one to learn from after it; the source series "
            f"have at most {dense} observed in any {w} consecutive periods ({most} in all)"
        )

    @cached_property
    def target_age(self) -> int | None:
        """Periods from the oldest target series' first observation to the origin, when that
        is short enough for history-length features to tell it apart (shorter than the
        builder's :attr:`~transfercast.features.FeatureBuilder.age_window`, two seasons for
        seasonal data); ``None`` otherwise or without targets. The age up to which source rows
        are also shown young (``[features] young_sources``)."""
        rows = [r for r in self.data.target_rows.values() if len(r)]
        first = self.history_start(np.concatenate(rows)) if rows else None
        if first is None:
            return None
        age = self.data.origin_idx - first + 1
        return age if age < self.builder.age_window else None

    def history_start(self, rows: np.ndarray, until: int | None = None) -> int | None:
        """Panel position of the first period, at or before the origin (or ``until``), in which
        any of the series ``rows`` is observed; ``None`` when none is."""
        end = self.data.origin_idx if until is None else until
        Y = self.data.panel.Y[rows, : end + 1]
        seen = np.flatnonzero(~np.all(np.isnan(Y), axis=0))
        return int(seen.min()) if len(seen) else None

    # -- pre-launch targets -------------------------------------------------------------------
    @cached_property
    def prelaunch(self) -> np.ndarray:
        """Panel rows of the target series with no observed period up to the origin: series
        that have not sold yet, whose recent level :attr:`prior_level` estimates."""
        rows = [r for r in self.data.target_rows.values() if len(r)]
        if not rows:
            return np.array([], dtype=int)
        rows = np.concatenate(rows)
        Y = self.data.panel.Y[rows, : self.data.origin_idx + 1]
        return rows[np.all(np.isnan(Y), axis=1)]

    def is_prelaunch(self, domain: Any) -> bool:
        """Whether a target domain has no observed period up to the origin."""
        return bool(np.isin(self.data.target_rows[domain], self.prelaunch).all())

    def level_columns(self) -> tuple[list[str], list[str]]:
        """The categorical and numeric per-series columns the level model reads: the series
        keys other than the domain, and the static covariates. A key whose every source series
        has a value of its own (an item or series id) is left out: it says nothing about a new
        series, and its one coefficient per source series would take the others' weight."""
        b, src = self.builder, self.data.source_rows
        keys = self.data.panel.keys
        shared = [
            c
            for c in b.categorical_keys
            if len(src) < 2 or keys[c].iloc[src].nunique(dropna=False) < len(src)
        ]
        return [*shared, *b.static_categorical], list(b.static_numeric)

    def series_frame(self, rows: np.ndarray) -> pd.DataFrame:
        """The key and static columns of the panel series ``rows``, one row each."""
        panel = self.data.panel
        both = pd.concat([panel.keys, panel.static], axis=1)
        both = both.loc[:, ~both.columns.duplicated()].iloc[np.asarray(rows)]
        for col in self.builder.static_numeric:  # as the features read them (numbers stay)
            kind = both[col].dtype
            if not pd.api.types.is_numeric_dtype(kind) or pd.api.types.is_bool_dtype(kind):
                both[col] = numeric_static(both[col])
        return both.reset_index(drop=True)

    def prelaunch_domain(self) -> Any:
        """The first target domain with a pre-launch series (for messages)."""
        pre = set(self.prelaunch.tolist())
        return plain(next(d for d, r in self.data.target_rows.items() if pre & set(r.tolist())))

    @cached_property
    def level_model(self) -> LevelModel | None:
        """The level model of this origin's pre-launch series, fitted on the source series'
        recent levels at the origin and their opening levels where the data show them open
        (:meth:`opening_levels`, :mod:`transfercast.prelaunch`); ``None`` without pre-launch
        series. A model bundle sets the one it was fitted with."""
        if not len(self.prelaunch):
            return None
        categorical, numeric = self.level_columns()
        origin = period_text(self.data.origin)
        if not categorical and not numeric:
            raise DataError(
                f"target domain {self.prelaunch_domain()!r} has no sales up to the origin "
                f"{origin}: its level is estimated from the source domains by their static "
                f"covariates and series keys, and the task has none; add [data] static "
                f"columns (a store's type or size, a product's category or price)"
            )
        src = self.data.source_rows
        if not len(src):
            raise DataError(
                f"target domain {self.prelaunch_domain()!r} has no sales up to the origin "
                f"{origin}, and there are no source series to estimate its level from"
            )
        b, panel = self.builder, self.data.panel
        level = b.observed_level(panel, src, np.full(len(src), self.data.origin_idx))
        opening = self.opening_levels(src, level)
        return LevelModel.fit(self.series_frame(src), level, categorical, numeric, opening)

    def opening_levels(self, rows: np.ndarray, level: np.ndarray | None = None) -> np.ndarray:
        """Each series' level over its first ``level_window`` periods, where the data show it
        open (its first observed period comes after the data's first one, and that window lies
        at or before the origin), carried to the origin: times the ratio of the levels at the
        origin to those at the window's end of the series observed from the data's first
        period, so that the season and the market's growth in between do not count as the
        opening's. NaN elsewhere. ``level``: the series' levels at the origin, when known."""
        panel, b, origin = self.data.panel, self.builder, self.data.origin_idx
        rows = np.asarray(rows)
        observed = ~np.isnan(panel.Y[rows])
        first = np.where(observed.any(axis=1), observed.argmax(axis=1), -1)
        anchor = first + b.level_window - 1
        ok = (first > 0) & (anchor <= origin)
        mature = first == 0
        out = np.full(len(rows), np.nan)
        if not ok.any() or not mature.any():
            return out
        if level is None:
            level = b.observed_level(panel, rows, np.full(len(rows), origin))
        at_origin = np.asarray(level, float)[mature]
        ratio = {}  # per window end: the mature series' summed level at the origin over then
        for a in np.unique(anchor[ok]):
            then = b.observed_level(panel, rows[mature], np.full(int(mature.sum()), a))
            both = np.isfinite(then) & np.isfinite(at_origin)
            if both.any() and then[both].sum() > 0:
                ratio[a] = at_origin[both].sum() / then[both].sum()
        scale = np.array([ratio.get(a, np.nan) for a in anchor[ok]])
        out[ok] = b.observed_level(panel, rows[ok], anchor[ok]) * scale
        return out

    @cached_property
    def prior_level(self) -> np.ndarray:
        """The estimated recent level of each pre-launch series (by panel row; NaN for every
        other series)."""
        out = np.full(self.data.panel.n_series, np.nan)
        rows = self.prelaunch
        if not len(rows):
            return out
        model = self.level_model
        frame = self.series_frame(rows)
        for col in [*model.categorical, *model.numeric]:
            missing = frame[col].isna().to_numpy()
            if missing.any():
                k = rows[int(np.argmax(missing))]
                dom = plain(self.data.panel.domains[k])
                raise DataError(
                    f"target domain {dom!r}: static column '{col}' has no value for series "
                    f"{self.data.panel.ids[k]!r}, which has no sales up to the origin; the level "
                    f"model that estimates a pre-launch level from the source domains needs it"
                )
        for col in model.log_numeric:  # every source has it above 0: read on a log scale
            low = (frame[col].to_numpy(float) <= 0).nonzero()[0]
            if len(low):
                k = rows[int(low[0])]
                raise DataError(
                    f"target domain {plain(self.data.panel.domains[k])!r}: static column "
                    f"'{col}' is {float(frame[col].iloc[low[0]]):g} for series "
                    f"{self.data.panel.ids[k]!r}, which has no sales up to the origin; the level "
                    f"model reads '{col}' on a log scale (every source series has it above 0), "
                    f"where it has no value of 0 or below"
                )
        out[rows] = model.predict(frame)
        return out

    def _prelaunch_view(
        self, i: np.ndarray, a: np.ndarray
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``first`` and ``level`` for :meth:`FeatureBuilder.build` of prediction rows: a
        pre-launch series reads nothing up to its anchor and takes its estimated level."""
        if not len(self.prelaunch):
            return None, None
        pre = np.isin(i, self.prelaunch)
        if not pre.any():
            return None, None
        return np.where(pre, a + 1, 0), self.prior_level[i]

    def _planned(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The panel's known covariates with the horizon's missing planned values of the series
        ``rows`` filled as the direct prediction rows fill them (each series' recent mean as of
        the origin): a recursive step anchored later would read a window of fewer observed
        periods, and none beyond the level window."""
        known, origin = self.data.panel.known, self.data.origin_idx
        span = np.asarray(rows)[:, None], slice(origin + 1, origin + self.horizon + 1)
        if not any(np.isnan(known[c][span]).any() for c in self.builder.known):
            return known  # every planned value given: nothing to fill
        table = self.prediction_table(rows)
        i = table.keys["_i"].to_numpy()
        t = origin + table.keys["h"].to_numpy()
        out = dict(known)
        for col in self.builder.known:
            arr = known[col]
            gap = np.isnan(arr[i, t])
            if gap.any():
                out[col] = arr.copy()
                out[col][i[gap], t[gap]] = table.X[col].to_numpy(float)[gap]
        return out

    def prediction_table(self, rows: np.ndarray) -> FeatureTable:
        """The (direct) prediction rows of the series ``rows`` over the horizon."""
        i, a, h = self.builder.prediction_rows(rows, self.data.origin_idx, self.horizon)
        first, level = self._prelaunch_view(i, a)
        return self.builder.build(
            self.data.panel, i, a, h, with_label=False, first=first, level=level
        )

    def target(self, domain: Any) -> FeatureTable:
        """Training rows of one target domain (its truncated history only)."""
        return self._targets[domain]

    @cached_property
    def _targets(self) -> dict[Any, FeatureTable]:
        out = {}
        for dom, rows in self.data.target_rows.items():
            i, a, h = self.builder.training_rows(
                self.data.panel, rows, self.data.origin_idx, self.horizon, steps=self.steps
            )
            out[dom] = self.builder.build(self.data.panel, i, a, h, with_label=True)
        return out

    def at(self, inner_idx: int) -> OriginTables:
        """The tables of an earlier (inner) origin, cut from *this* origin's data, so that an
        inner backtest sees neither the future nor the target history dropped at this origin.
        Their horizon is the task's, as every table of the task."""
        panel = self.data.panel.cut(inner_idx, self.horizon)
        has = ~np.all(np.isnan(panel.Y), axis=1)
        targets = {d: r[has[r]] for d, r in self.data.target_rows.items() if has[r].any()}
        data = OriginData(
            panel.times[inner_idx],
            inner_idx,
            panel,
            self.data.source_rows[has[self.data.source_rows]],
            targets,
        )
        return OriginTables(
            self.task,
            data,
            self.spec,
            parent=self.data.panel,
            source_budget=self.source_budget,
            dropped=self.dropped,
        )

    def actuals(self, domain: Any) -> pd.DataFrame:
        """Observed targets over this origin's horizon (``unique_id``, ``ds``, ``actual``).

        Only for an inner origin or a replay, from the parent origin's panel, never from later
        data: the actuals after an outer origin are the scorer's (:meth:`TransferTask.actuals`),
        out of a strategy's reach."""
        rows = self.data.target_rows[domain]
        if self.parent is None:
            raise DataError(
                f"the actuals after the origin {period_text(self.data.origin)} are not readable "
                f"from its tables: a forecast made there must not see them"
            )
        return self.parent.horizon_frame(rows, self.data.origin_idx, self.horizon)

    @cached_property
    def floor(self) -> float:
        """The lowest value a forecast may take: 0 when no observed value up to the origin is
        negative (sales), else no bound (``-inf``)."""
        Y = self.data.panel.Y[:, : self.data.origin_idx + 1]
        return 0.0 if not np.any(Y[~np.isnan(Y)] < 0) else -np.inf

    def forecast(self, strategy: Strategy, domain: Any) -> pd.DataFrame:
        """Forecasts of a fitted strategy for every series of a target domain, bounded below
        by :attr:`floor` (no negative sales forecast where none was observed), from each
        series' first row on (a department or store that opens within the horizon has no
        forecast for the periods before it opens); what its ``predict`` returns is checked
        (:func:`~transfercast.strategy.check_prediction`)."""
        frame, panel = self._forecast(strategy, domain), self.data.panel
        i = pd.Index(panel.ids).get_indexer(frame["unique_id"])
        opened = panel.opened(i, panel.times.get_indexer(frame["ds"]))
        return frame if opened.all() else frame[opened].reset_index(drop=True)

    def _forecast(self, strategy: Strategy, domain: Any) -> pd.DataFrame:
        """:meth:`forecast` for every period of the horizon. A blend of fitted members (a
        strategy with ``members_`` and ``weights_``, as ``auto``) is, in the recursive
        formulation, the weighted sum of each member's own forecasts, as its weights were
        learnt on: each member fed its own forecasts, not the blend's."""
        members = getattr(strategy, "members_", None)
        weights = getattr(strategy, "weights_", None)  # l2sp's members are networks: no weights
        if self.spec.formulation == "recursive" and members and weights is not None:
            key = ["unique_id", "ds"]
            parts = [self._forecast(m, domain).sort_values(key) for m in members]
            out = parts[0][key].reset_index(drop=True)
            out["forecast"] = sum(
                w * p["forecast"].to_numpy() for w, p in zip(weights, parts, strict=True)
            )
            return out
        rows = self.data.target_rows[domain]
        panel, origin = self.data.panel, self.data.origin_idx
        if self.spec.formulation == "direct" or getattr(strategy, "always_direct", False):
            table = self.prediction_table(rows)
            yhat = _in_sales(strategy, strategy.predict(table), table)
            yhat = np.maximum(yhat, self.floor)
            return pd.DataFrame(
                {"unique_id": table.keys["unique_id"], "ds": table.keys["ds"], "forecast": yhat}
            )
        # recursive: one step at a time, each forecast written into a private copy of the panel
        work = panel.__class__(
            **{**panel.__dict__, "Y": panel.Y.copy(), "known": self._planned(rows)}
        )
        frames = []
        for step in range(1, self.horizon + 1):
            anchor = origin + step - 1
            i = np.asarray(rows)
            a = np.full(len(i), anchor)
            first, level = self._prelaunch_view(i, a)  # pre-launch: its own forecasts unread
            table = self.builder.build(
                work, i, a, np.ones(len(i), dtype=int), with_label=False, first=first, level=level
            )
            yhat = _in_sales(strategy, strategy.predict(table), table)
            yhat = np.maximum(yhat, self.floor)
            work.Y[i, anchor + 1] = yhat
            frames.append(
                pd.DataFrame(
                    {"unique_id": table.keys["unique_id"], "ds": table.keys["ds"], "forecast": yhat}
                )
            )
        return pd.concat(frames, ignore_index=True).sort_values(["unique_id", "ds"])


def _in_sales(strategy: Strategy, values: Any, table: FeatureTable) -> np.ndarray:
    """A strategy's predictions for ``table`` (ratios to each row's level) in sales: a
    :class:`PluginError` where they are not one finite number per row, or overflow once
    scaled by the level."""
    ratio = check_prediction(strategy, values, len(table))
    with np.errstate(over="ignore", invalid="ignore"):
        yhat = ratio * table.level
    bad = ~np.isfinite(yhat)
    if bad.any():
        k = int(np.argmax(bad))
        raise PluginError(
            f"strategy '{strategy.name}' predict returned {int(bad.sum())} values of "
            f"{len(table)} that are not finite once scaled by their series' level (the first "
            f"at row {k}: {ratio[k]:.6g} x {table.level[k]:.6g}); every forecast must be a "
            f"finite number"
        )
    return yhat


@dataclass
class CellResult:
    """One strategy on one target domain at one origin."""

    strategy: Strategy
    forecasts: pd.DataFrame
    fit_seconds: float
    predict_seconds: float


def transfer_to(
    strategy: Strategy,
    source_model: Any,
    tables: OriginTables,
    domain: Any,
    source: FeatureTable | None,
    cache: SourceCache | None = None,
) -> Strategy:
    """A fresh copy of ``strategy`` transferred to one target domain; a data error names the
    strategy, the domain and the origin."""
    if type(strategy).needs_history and tables.is_prelaunch(domain):
        raise HistoryRequired(
            f"strategy '{strategy.name}' needs the target's own sales history, and target "
            f"domain {plain(domain)!r} has none up to the origin {period_text(tables.data.origin)} "
            f"(pre-launch)"
        )
    fitted = strategy.clone()
    fitted.context_ = {"tables": tables, "domain": domain, "cache": cache}
    try:
        fitted.transfer(source_model, tables.target(domain), source)
    except DataError as exc:  # the same kind (HistoryRequired: a skipped cell)
        raise type(exc)(
            f"strategy '{strategy.name}', target domain {plain(domain)!r} at origin "
            f"{period_text(tables.data.origin)}: {exc}"
        ) from None
    return fitted


def fit_and_forecast(
    strategy: Strategy, tables: OriginTables, domain: Any, cache: SourceCache
) -> CellResult:
    """Fit a fresh copy of ``strategy`` for one target domain and forecast its horizon."""
    source = tables.source if strategy.reads_source_table() else None  # once per origin
    source_model = cache.get(strategy, source) if source is not None else None  # not timed
    start = time.perf_counter()
    fitted = transfer_to(strategy, source_model, tables, domain, source, cache)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    forecasts = tables.forecast(fitted, domain)
    return CellResult(fitted, forecasts, fit_s, time.perf_counter() - start)
