"""Feature tables for the direct and recursive formulations.

A row describes one series ``i``, one *anchor* period ``a`` (the last period whose target may be
read) and one step ``h``; its label is the target at ``a + h`` divided by the series' recent
level at ``a`` (for a series that sold nothing lately, its mean over its history, or where it
never sold the mean level of its domain's selling series at ``a``, its ``log_level`` then
missing: that scale is not its own). Every feature reads targets
only at or before ``a`` and known covariates at ``a + h`` (a forecast period without its planned
value: the series' recent mean), so a row built at the forecast origin cannot see the future.

Why hand-written: mlforecast builds lag features for a *recursive* model (or one model per step
for its direct mode) on one series table; transfer needs one table per domain with identical
columns and category vocabularies, labels scaled by a level computed at each anchor, and rows for
every (anchor, step) pair so that one model serves the whole horizon. The arithmetic below is a
few vectorised cumulative sums over the panel matrix.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from transfercast.data import category_text
from transfercast.frequency import calendar_columns, calendar_values, resolve_features
from transfercast.panel import Panel


def min_level_obs(level_window: int) -> int:
    """Observed periods a row's recent level window needs for the row to be a training row."""
    return min(4, int(level_window))


def observed_in_window(Y: np.ndarray, window: int) -> np.ndarray:
    """Per row of ``Y`` and period: how many of the ``window`` periods up to and including it
    are observed (not NaN)."""
    seen = ~np.isnan(Y)
    cum = np.cumsum(np.pad(seen, ((0, 0), (1, 0))).astype(int), axis=1)
    at = np.arange(seen.shape[1])
    return cum[:, at + 1] - cum[:, np.maximum(at + 1 - int(window), 0)]


@dataclass
class FeatureTable:
    """Features ``X``, normalised label ``y``, row ``keys`` and the ``level`` that scales them.

    ``y * level`` is the target in sales units; predictions are made on ``y``'s scale.
    ``weight`` (the level, normalised) makes a squared loss on ``y`` favour large series as the
    volume-weighted error (WAPE) does.
    """

    X: pd.DataFrame
    y: np.ndarray | None
    keys: pd.DataFrame
    level: np.ndarray
    categorical: list[str] = field(default_factory=list)
    weight: np.ndarray | None = None
    #: rows whose recent level is zero (every observed period of the window sold nothing):
    #: ``level`` is the series' mean absolute sales over its history there, or where it never
    #: sold its domain's scale (:meth:`FeatureBuilder.fill_quiet`)
    zero_level: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.X)

    def subset(self, mask: np.ndarray) -> FeatureTable:
        """The rows selected by a boolean mask or an index array."""
        mask = np.asarray(mask)
        return FeatureTable(
            X=self.X.iloc[mask].reset_index(drop=True)
            if mask.dtype != bool
            else self.X.loc[mask].reset_index(drop=True),
            y=None if self.y is None else self.y[mask],
            keys=self.keys.iloc[np.flatnonzero(mask) if mask.dtype == bool else mask].reset_index(
                drop=True
            ),
            level=self.level[mask],
            categorical=list(self.categorical),
            weight=None if self.weight is None else self.weight[mask],
            zero_level=None if self.zero_level is None else self.zero_level[mask],
        )

    @staticmethod
    def concat(tables: list[FeatureTable]) -> FeatureTable:
        """Stack tables with identical columns (categories are shared by construction)."""
        return FeatureTable(
            X=pd.concat([t.X for t in tables], ignore_index=True),
            y=None if any(t.y is None for t in tables) else np.concatenate([t.y for t in tables]),
            keys=pd.concat([t.keys for t in tables], ignore_index=True),
            level=np.concatenate([t.level for t in tables]),
            categorical=list(tables[0].categorical),
            weight=None
            if any(t.weight is None for t in tables)
            else np.concatenate([t.weight for t in tables]),
            zero_level=None
            if any(t.zero_level is None for t in tables)
            else np.concatenate([t.zero_level for t in tables]),
        )

    def time_tail(self, periods: int) -> np.ndarray:
        """A boolean mask of rows whose forecast period lies in the last ``periods`` periods."""
        ds = self.keys["ds"]
        cutoff = np.sort(ds.unique())[-periods] if ds.nunique() >= periods else ds.min()
        return (ds >= cutoff).to_numpy()

    @cached_property
    def fingerprint(self) -> str:
        """A hash of the rows, labels and row weights (what a model is fitted on): the data
        part of the source-model cache key."""
        h = hashlib.sha256()
        h.update(pd.util.hash_pandas_object(self.X, index=False).to_numpy().tobytes())
        for part in (self.y, self.weight):
            if part is not None:
                h.update(np.ascontiguousarray(part).tobytes())
        h.update(",".join(self.X.columns).encode())
        return h.hexdigest()[:16]


class _Sums:
    """Cumulative sums of a matrix (NaN as 0) and of its observation counts, for window means.

    ``rows`` limits the work to the matrix rows a table reads (one target domain's series, not
    the whole panel), so that building one small table costs in proportion to its own series;
    ``absolute`` sums ``|arr|``."""

    def __init__(self, arr: np.ndarray, rows: np.ndarray | None = None, absolute: bool = False):
        self.rows = None if rows is None else np.unique(rows)
        if self.rows is not None:
            arr = arr[self.rows]
        if absolute:
            arr = np.abs(arr)
        ok = ~np.isnan(arr)
        pad = np.zeros((arr.shape[0], 1))
        self.s = np.concatenate([pad, np.cumsum(np.where(ok, arr, 0.0), axis=1)], axis=1)
        self.c = np.concatenate([pad, np.cumsum(ok, axis=1)], axis=1)

    def window(
        self, i: np.ndarray, a: np.ndarray, w: int, first: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sum and count over periods ``(a - w, a]`` for each (row, anchor) pair, not reading
        before ``first`` (per row) when given. Periods outside the matrix count as missing: an
        anchor before the first period (``a < 0``) gets an empty window, never one wrapped
        around to the end of the data."""
        if self.rows is not None:
            i = np.searchsorted(self.rows, i)
        hi = np.clip(a + 1, 0, self.s.shape[1] - 1)
        lo = np.clip(a + 1 - w, 0, None)
        if first is not None:
            lo = np.maximum(lo, first)
        lo = np.minimum(lo, hi)
        return self.s[i, hi] - self.s[i, lo], self.c[i, hi] - self.c[i, lo]


def _take(
    arr: np.ndarray,
    i: np.ndarray,
    t: np.ndarray,
    first: np.ndarray | None = None,
    last: np.ndarray | None = None,
) -> np.ndarray:
    """``arr[i, t]`` per pair; NaN where ``t`` lies outside the matrix (a negative ``t`` never
    wraps around), before ``first`` or after ``last`` when given."""
    ok = (t >= 0) & (t < arr.shape[1])
    if first is not None:
        ok &= t >= first
    if last is not None:
        ok &= t <= last
    out = np.full(len(i), np.nan)
    out[ok] = arr[i[ok], t[ok]]
    return out


def _reads_as_numbers(values: pd.Series, observed: np.ndarray) -> bool:
    """Whether a static column is numeric: its values in the ``observed`` series (those with
    history at the origin) are all numbers or text that reads as one, and not true/false. Judged
    on those series alone, so a series that appears after an origin cannot change it."""
    if pd.api.types.is_bool_dtype(values):
        return False
    seen = values[observed].dropna()
    if not len(seen):
        return pd.api.types.is_numeric_dtype(values)
    if pd.api.types.is_numeric_dtype(seen.dtype):
        return True
    if pd.api.types.infer_dtype(seen, skipna=True) == "boolean":
        return False
    return bool(pd.to_numeric(seen, errors="coerce").notna().all())


def numeric_static(values: pd.Series) -> np.ndarray:
    """A numeric static column as floats; a value that reads as no number is missing."""
    return pd.to_numeric(values, errors="coerce").to_numpy(float)


@dataclass
class FeatureBuilder:
    """Builds feature tables from a panel with fixed columns and category vocabularies.

    ``categories`` maps each categorical column to its vocabulary, shared by every table the
    builder makes, so that source and target codes agree.
    """

    lags: list[int]
    windows: list[int]
    level_window: int
    season_length: int
    calendar: bool
    categorical_keys: list[str]
    static_numeric: list[str]
    static_categorical: list[str]
    known: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)
    min_level_obs: int = 4
    #: the calendar feature columns (:func:`~transfercast.frequency.calendar_columns`); the
    #: default is what a weekly builder had before frequencies were told apart
    calendar_features: list[str] = field(default_factory=lambda: ["week", "month"])
    #: the zone whose clock times the calendar features of hourly and shorter periods read
    #: (``[data] timezone``); ``None``: UTC
    timezone: str | None = None

    @classmethod
    def for_panel(
        cls, panel: Panel, spec, domain_column: str, timezone: str | None = None
    ) -> FeatureBuilder:
        """A builder for ``panel`` with the settings of a :class:`FeaturesConfig`; settings it
        leaves unset take the defaults of the panel's frequency. ``timezone``: see
        :attr:`timezone`."""
        spec = resolve_features(spec, panel.freq)
        cat_keys = [c for c in panel.keys.columns if c != domain_column]
        observed = ~np.all(np.isnan(panel.Y), axis=1)
        static_num, static_cat = [], []
        for col in panel.static.columns:
            if col in cat_keys or col == domain_column:
                continue
            is_num = _reads_as_numbers(panel.static[col], observed)
            (static_num if is_num else static_cat).append(col)
        categories = {}
        for col in [*cat_keys, *static_cat]:
            source = panel.keys[col] if col in panel.keys.columns else panel.static[col]
            # a missing value is no category: the models read it as missing
            categories[col] = sorted(set(category_text(source[observed])) - {None})
        return cls(
            lags=list(spec.lags),
            windows=list(spec.windows),
            level_window=spec.level_window,
            season_length=spec.season_length,
            calendar=spec.calendar,
            categorical_keys=cat_keys,
            static_numeric=static_num,
            static_categorical=static_cat,
            known=list(panel.known),
            categories=categories,
            min_level_obs=min_level_obs(spec.level_window),
            calendar_features=list(calendar_columns(panel.freq)),
            timezone=timezone,
        )

    @property
    def age_window(self) -> int:
        """Periods over which ``n_obs`` counts a series' history, and under which a target
        counts as young (:attr:`~transfercast.forecasting.OriginTables.target_age`): two
        seasons for seasonal data, the longest lag or window for data without a season."""
        if self.season_length > 1:
            return 2 * self.season_length
        return max([*self.lags, *self.windows, self.level_window])

    # -- rows ----------------------------------------------------------------------------------
    def training_rows(
        self,
        panel: Panel,
        series: np.ndarray,
        origin: int,
        horizon: int,
        window: int | None = None,
        steps: list[int] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(series, anchor, step) triples whose label is observed at or before ``origin``."""
        steps_arr = np.asarray(steps or range(1, horizon + 1))
        start = 0 if window is None else max(origin - window, 0)
        anchors = np.arange(start, origin)
        i, a, h = (g.ravel() for g in np.meshgrid(series, anchors, steps_arr, indexing="ij"))
        keep = a + h <= origin
        i, a, h = i[keep], a[keep], h[keep]
        keep = ~np.isnan(panel.Y[i, a + h])
        i, a, h = i[keep], a[keep], h[keep]
        _, count = _Sums(panel.Y, i, absolute=True).window(i, a, self.level_window)
        keep = count >= self.min_level_obs
        return i[keep], a[keep], h[keep]

    def source_table(
        self,
        panel: Panel,
        i: np.ndarray,
        a: np.ndarray,
        h: np.ndarray,
        young_age: int | None = None,
        prelaunch: bool = False,
    ) -> FeatureTable:
        """Labelled training rows of source series; with ``young_age``, every row a second time
        as if its series had begun ``min_level_obs`` to ``young_age`` periods before the anchor;
        with ``prelaunch``, every row once more as if its series began after the anchor: no lag,
        window or history feature, its recent level given (as a pre-launch target's is, by the
        level model of :mod:`transfercast.prelaunch`), the label the same.

        A source series is young only at the start of the data, so without the copies a model
        learns how young series behave from that one stretch of the calendar (and from the
        missing long lags that mark it) and applies it to a new target at any time of year. The
        copies show young series in every season. Each row's age is fixed by its series id, its
        anchor and the targets' age, so the same row gets the same age at every origin of a
        fixed ``target_history`` and in every process; copies
        that would equal their original (the series is that young anyway) are left out.

        A domain none of whose series sold anything up to the last labelled period (a store
        that closed, or never opened, with its sales written as 0) gives no rows: its zero
        labels would teach the models that domains like it sell nothing. A series of a selling
        domain that never sold (a department that sells nothing in that store) does give rows,
        read on its domain's scale with ``log_level`` missing: what such series go on to sell is
        what a target series that sold nothing in its history is forecast from. It gives no
        pre-launch copy: a pre-launch target's level is the level model's estimate for a series
        that sells.
        """
        if len(i):
            last = int((a + h).max())
            sold = np.nansum(np.abs(panel.Y[:, : last + 1]), axis=1) > 0
            dom = pd.factorize(pd.Series(panel.domains, dtype=object))[0]
            keep = (np.bincount(dom, weights=sold) > 0)[dom[i]]
            i, a, h = i[keep], a[keep], h[keep]
        young = self._young(panel, i, a, young_age)
        if prelaunch and len(i):
            table = self.build(panel, i, a, h, with_label=True)
            copies, series = [table], [i]
            if young is not None:
                keep, first = young
                copies.append(
                    self.build(panel, i[keep], a[keep], h[keep], with_label=True, first=first[keep])
                )
                series.append(i[keep])
            # as a pre-launch target: a level of its own (the level model's), not its domain's
            own = ~unsold_rows(table)
            copies.append(
                self.build(
                    panel,
                    i[own],
                    a[own],
                    h[own],
                    with_label=True,
                    first=a[own] + 1,
                    level=table.level[own],
                )
            )
            series.append(i[own])
            both = FeatureTable.concat(copies)
            # each series' rows together (its originals, then its copies), in the order of the
            # series: the same order whether the rows are built at once or a partition at a time
            order = pd.Index(pd.unique(i)).get_indexer(np.concatenate(series))
            both = both.subset(np.argsort(order, kind="stable"))
            both.weight = both.level / np.nanmean(both.level)  # over all rows, as build() does
            return both
        if young is None:
            return self.build(panel, i, a, h, with_label=True)
        # the originals (read from the first period: first = 0) and the young copies in one
        # build, in the order above: no concatenated and reordered copies of the table
        keep, first = young
        rows = [np.concatenate([x, x[keep]]) for x in (i, a, h)]
        start = np.concatenate([np.zeros(len(i), dtype=first.dtype), first[keep]])
        order = np.argsort(pd.Index(pd.unique(i)).get_indexer(rows[0]), kind="stable")
        i2, a2, h2 = (x[order] for x in rows)
        return self.build(panel, i2, a2, h2, with_label=True, first=start[order])

    def _young(
        self, panel: Panel, i: np.ndarray, a: np.ndarray, young_age: int | None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The rows that get a young copy (a mask) and each row's first period as a young
        series (see :meth:`source_table`); ``None`` when no row does."""
        lo = self.min_level_obs
        if young_age is None or young_age < lo or not len(i):
            return None
        span = young_age - lo + 1
        ids = pd.util.hash_array(panel.ids[i].astype(str).astype(object), categorize=True)
        age = lo + ((ids % span).astype(np.int64) + a) % span
        first = a - age + 1
        observed = ~np.isnan(panel.Y)
        start = np.where(observed.any(axis=1), observed.argmax(axis=1), panel.Y.shape[1])
        keep = first > start[i]
        # as for any training row: enough observations in the (shortened) level window
        _, count = _Sums(panel.Y, i, absolute=True).window(i, a, self.level_window, first)
        keep &= count >= lo
        return (keep, first) if keep.any() else None

    def prediction_rows(
        self, series: np.ndarray, origin: int, horizon: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(series, anchor, step) triples for forecasting ``horizon`` steps from ``origin``."""
        i, h = (g.ravel() for g in np.meshgrid(series, np.arange(1, horizon + 1), indexing="ij"))
        return i, np.full(len(i), origin), h

    # -- features ------------------------------------------------------------------------------
    def level(
        self,
        panel: Panel,
        i: np.ndarray,
        a: np.ndarray,
        sums: _Sums | None = None,
        first: np.ndarray | None = None,
        floor: bool = True,
    ) -> np.ndarray:
        """The series' recent level at each anchor: mean absolute target over the level window,
        falling back to the whole history where the window holds no observation; NaN with no
        history. A zero level (nothing sold lately) is, with ``floor``, replaced as
        :meth:`fill_quiet` says, so that ratios to it stay finite and free of the sales unit.
        ``sums`` are the cumulative sums of ``|panel.Y|`` over rows ``i`` when the caller
        already has them; ``first`` the first panel position each row may read (a series
        cut to the target history), none: its whole past."""
        sums = _Sums(panel.Y, i, absolute=True) if sums is None else sums
        s, c = sums.window(i, a, self.level_window, first)
        s_all, c_all = sums.window(i, a, a.max() + 1 if len(a) else 1, first)
        with np.errstate(invalid="ignore", divide="ignore"):
            lvl = np.where(c > 0, s / np.maximum(c, 1), s_all / c_all)
        return self.fill_quiet(panel, i, a, lvl, sums, first) if floor else lvl

    def fill_quiet(
        self,
        panel: Panel,
        i: np.ndarray,
        a: np.ndarray,
        lvl: np.ndarray,
        sums: _Sums,
        first: np.ndarray | None = None,
    ) -> np.ndarray:
        """``lvl`` (:meth:`level` without ``floor``) with each zero replaced by the series'
        mean absolute target over its whole history up to the anchor, or where that is zero
        too (it never sold) by :meth:`quiet_level`."""
        zero = lvl == 0
        if not zero.any():
            return lvl
        s_all, c_all = sums.window(i, a, a.max() + 1 if len(a) else 1, first)
        with np.errstate(invalid="ignore", divide="ignore"):
            history = s_all / c_all
        lvl = np.where(zero & (history > 0), history, lvl)
        never = np.flatnonzero(lvl == 0)
        if len(never):
            sub = None if first is None else np.asarray(first)[never]
            lvl[never] = self.quiet_level(panel, i[never], a[never], sub)
        return lvl

    def quiet_level(
        self, panel: Panel, i: np.ndarray, a: np.ndarray, first: np.ndarray | None = None
    ) -> np.ndarray:
        """The scale of series that have sold nothing up to their anchor: the mean recent level
        of the series of their domain that sold in the level window then, else of every selling
        series of the panel then, else 1 (nothing in the panel sold yet). Read no period after
        the anchor, nor before ``first`` (per row) when given."""
        out = np.ones(len(i))
        dom = pd.factorize(pd.Series(panel.domains[i], dtype=object))[0]
        f = np.full(len(i), -1) if first is None else np.asarray(first)
        groups = pd.DataFrame({"d": dom, "f": f}).groupby(["d", "f"]).indices
        every = np.arange(panel.n_series)
        for (_, start), idx in groups.items():
            anchors, back = np.unique(a[idx], return_inverse=True)
            mean = np.full(len(anchors), np.nan)
            for members in (np.flatnonzero(panel.domains == panel.domains[i[idx[0]]]), every):
                todo = np.isnan(mean)
                if not todo.any():
                    break
                mean[todo] = self._mean_selling(panel, members, anchors[todo], start)
            out[idx] = np.nan_to_num(mean, nan=1.0)[back]
        return out

    def _mean_selling(
        self, panel: Panel, rows: np.ndarray, anchors: np.ndarray, start: int
    ) -> np.ndarray:
        """Per anchor, the mean positive recent level of series ``rows`` (NaN where none sold
        in its level window), reading no period before ``start`` (unless negative)."""
        ii, aa = np.repeat(rows, len(anchors)), np.tile(anchors, len(rows))
        first = None if start < 0 else np.full(len(ii), start)
        s, c = _Sums(panel.Y, ii, absolute=True).window(ii, aa, self.level_window, first)
        with np.errstate(invalid="ignore", divide="ignore"):  # no whole-history fallback
            lvl = np.where(c > 0, s / np.maximum(c, 1), np.nan).reshape(len(rows), len(anchors))
        selling = np.where(np.isfinite(lvl) & (lvl > 0), lvl, np.nan)
        with warnings.catch_warnings():  # an anchor where none sold: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(selling, axis=0)

    def observed_level(self, panel: Panel, i: np.ndarray, a: np.ndarray) -> np.ndarray:
        """The recent level at each anchor where the level window holds enough observations
        (``min_level_obs``) and some sales; NaN elsewhere (a series that sold nothing lately
        shows no level to learn one from)."""
        sums = _Sums(panel.Y, i, absolute=True)
        _, count = sums.window(i, a, self.level_window)
        lvl = self.level(panel, i, a, sums, floor=False)
        return np.where((count >= self.min_level_obs) & (lvl > 0), lvl, np.nan)

    def build(
        self,
        panel: Panel,
        i: np.ndarray,
        a: np.ndarray,
        h: np.ndarray,
        *,
        with_label: bool,
        first: np.ndarray | None = None,
        level: np.ndarray | None = None,
    ) -> FeatureTable:
        """The feature table for the given (series, anchor, step) triples; with ``first``, each
        row's features read no period before ``first`` (the row's series as if it began there;
        the label is unaffected); ``level`` (per row) is the recent level of rows that have
        none of their own (no observed period), such as a pre-launch series'."""
        Yabs = panel.Y
        sums = _Sums(Yabs, i)
        abs_sums = _Sums(Yabs, i, absolute=True)  # shared by both level computations below
        raw = self.level(panel, i, a, abs_sums, first, floor=False)
        zero = raw == 0  # nothing sold lately: the naive level forecasts 0 there
        lvl = self.fill_quiet(panel, i, a, raw, abs_sums, first)
        # no sale in the whole history read: the level is the domain's scale, not the series'
        unsold = zero.copy()
        if zero.any():
            s_all, _ = abs_sums.window(i, a, a.max() + 1, first)
            unsold &= s_all == 0
        if level is not None:
            lvl = np.where(np.isnan(lvl), level, lvl)
        cols: dict[str, np.ndarray | pd.Categorical] = {"h": h.astype(float)}
        with np.errstate(invalid="ignore", divide="ignore"):
            for lag in self.lags:
                cols[f"lag{lag}"] = _take(Yabs, i, a - lag + 1, first) / lvl
            for w in self.windows:
                s, c = sums.window(i, a, w, first)
                cols[f"mean{w}"] = np.where(c >= max(1, w // 2), s / np.maximum(c, 1), np.nan) / lvl
            S = self.season_length
            if S > 1:  # same period last year; no such features without a within-year season
                prev_lvl = self.level(panel, i, a - S, abs_sums, first) if len(a) else lvl
                prev_lvl = np.where(a - S >= 0, prev_lvl, np.nan)
                # a step beyond a season would read a period after the anchor: missing
                cols["sply"] = _take(Yabs, i, a + h - S, first, last=a) / prev_lvl
                cols["growth"] = lvl / prev_lvl
            # log1p, which the trees read alike in any unit (a log would cross 0, where
            # LightGBM always places a bin edge); the networks read the log (unit_free)
            cols["log_level"] = np.where(unsold, np.nan, np.log1p(lvl))
            _, nobs = sums.window(i, a, self.age_window, first)
            cols["n_obs"] = nobs.astype(float)
        t_pos = np.clip(a + h, 0, len(panel.times) - 1)
        ds = panel.times[t_pos]
        if self.calendar:  # per grid period once, then by position
            for name in self.calendar_features:
                cols[name] = calendar_values(panel.times, name, self.timezone)[t_pos]
        for col in self.known:
            arr = panel.known[col]
            ks, kc = _Sums(arr, i).window(i, a, self.level_window, first)
            with np.errstate(invalid="ignore", divide="ignore"):
                recent = np.where(kc > 0, ks / np.maximum(kc, 1), np.nan)
            value = _take(arr, i, a + h)
            gap = np.isnan(value)
            if not with_label and gap.any():  # a forecast period without its planned value:
                # as of late, a 0/1 flag (a promotion) its usual value then, not a share of one
                flag = bool(np.all((arr == 0) | (arr == 1) | np.isnan(arr)))
                value = np.where(gap, np.round(recent) if flag else recent, value)
            cols[col] = value
            cols[f"{col}_delta"] = value - recent
        for col in self.static_numeric:
            cols[col] = numeric_static(panel.static[col])[i]
        for col in [*self.categorical_keys, *self.static_categorical]:
            source = panel.keys[col] if col in panel.keys.columns else panel.static[col]
            # codes per series once (unknown values: -1, i.e. missing), then by row
            codes = pd.Index(self.categories[col]).get_indexer(category_text(source))
            cols[col] = pd.Categorical.from_codes(codes[i], categories=self.categories[col])
        X = pd.DataFrame(cols)
        keys = pd.DataFrame(
            {
                "unique_id": panel.ids[i],
                "domain": panel.domains[i],
                "anchor": panel.times[a],
                "h": h,
                "ds": ds,
                "_i": i,
            }
        )
        y = None
        if with_label:
            with np.errstate(invalid="ignore", divide="ignore"):
                y = _take(Yabs, i, a + h) / lvl
        weight = lvl / np.nanmean(lvl) if len(lvl) else lvl
        return FeatureTable(
            X=X,
            y=y,
            keys=keys,
            level=lvl,
            categorical=[*self.categorical_keys, *self.static_categorical],
            weight=weight,
            zero_level=zero,
        )


def unsold_rows(table: FeatureTable) -> np.ndarray:
    """Rows of ``table`` whose series sold nothing in the whole history the row reads: their
    level is their domain's scale (:meth:`FeatureBuilder.quiet_level`), not their own, and
    their ``log_level`` is missing."""
    if table.zero_level is None or "log_level" not in table.X.columns:
        return np.zeros(len(table), dtype=bool)
    return table.zero_level & np.isnan(table.X["log_level"].to_numpy(float))


def unit_free(X: pd.DataFrame) -> pd.DataFrame:
    """The feature frame ``X`` as networks read it: ``log_level`` as the log of the recent
    level rather than its log1p (missing at a level of 0). A change of sales unit moves the log
    by a constant, which a network's standardised input does not see; log1p bends near one
    unit. (The features hold log1p: trees read any monotone form alike, and a log would cross
    0, where LightGBM places a bin edge whatever the data.)"""
    if "log_level" not in X.columns:
        return X
    level = np.expm1(X["log_level"].to_numpy(float))
    with np.errstate(divide="ignore", invalid="ignore"):
        return X.assign(log_level=np.log(np.where(level > 0, level, np.nan)))
