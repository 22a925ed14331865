"""The transfer task: the data, which domains are sources and targets, the origin and horizon.

It is the only object that cuts data at an origin (through :meth:`Panel.cut`); everything
downstream receives data that ends at the origin.
"""

from __future__ import annotations

import calendar
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from transfercast.config import Config, EvaluateConfig, FeaturesConfig, config_section
from transfercast.data import (
    DOMAIN,
    DS,
    UID,
    DataWarning,
    Y,
    check_static,
    daily_periods,
    has_zone,
    in_task_zone,
    naive_time,
    name_form,
    period_text,
    read_table,
    refuse_unordered_date,
    standardize,
)
from transfercast.errors import ConfigError, DataError, closest, one_line, unknown_name
from transfercast.features import min_level_obs, observed_in_window
from transfercast.frequency import (
    calendar_columns,
    current_alias,
    refuse_empty_periods,
    resolve_features,
)
from transfercast.panel import Panel


def match_domains(values: Sequence[Any], present: np.ndarray, key: str) -> list[Any]:
    """The domain values in the data that config values name (TOML gives ints or strings),
    in order; a value naming no domain, or one named twice, is a :class:`DataError`. A name
    written in another Unicode form (``Zürich`` with a combining diaeresis, as macOS tools
    write it) names the same domain."""
    if np.isscalar(values):
        values = [values]  # one domain
    by_str = {str(v): v for v in present}
    by_form = {name_form(k): v for k, v in by_str.items()}
    out = []
    for v in values:
        if isinstance(v, float) and v.is_integer() and str(v) not in by_str:
            v = int(v)  # targets = [5.0] for store 5
        if str(v) not in by_str and name_form(v) in by_form:
            v = by_form[name_form(v)]
        if str(v) not in by_str:
            raise DataError(unknown_name(f"domain in [task] {key}", v, sorted(by_str)))
        if by_str[str(v)] in out:
            raise DataError(f"[task] {key} lists domain {plain(by_str[str(v)])!r} twice")
        out.append(by_str[str(v)])
    return out


def plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (``33``, not ``np.int64(33)``), for messages."""
    return value.item() if isinstance(value, np.generic) else value


def origin_text(origin: Any) -> str:
    """An origin as cell keys and file names hold it: its date, with the time of day where it
    has one (hourly data: two origins of one day are two cells)."""
    when = pd.Timestamp(origin)
    return str(when.date()) if when == when.normalize() else when.strftime("%Y-%m-%dT%H-%M-%S")


#: characters LightGBM (JSON's) or XGBoost refuse in a feature name, each with a stand-in
ENGINE_FORBIDDEN = {'"': "'", ",": ";", ":": "-", "[": "(", "]": ")", "{": "(", "}": ")", "<": "lt"}
ENGINE_FORBIDDEN |= {"\n": " ", "\r": " ", "\t": " "}  # (LightGBM: wrong size of feature names)


def check_timezone(timezone: str | None, freq: str) -> str | None:
    """``timezone`` if it names a time zone of the tz database and ``freq``'s periods are shorter
    than a day (a date has no clock time to place in a zone); else a one-line error."""
    if timezone is None:
        return None
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(str(timezone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        near = closest(str(timezone), zoneinfo.available_timezones())
        raise ConfigError(
            f"[data] timezone {timezone!r} is not a time zone{near} (a name of the tz database, "
            f"such as 'Europe/Berlin')"
        ) from None
    if daily_periods(freq):
        raise ConfigError(
            f"[data] timezone {timezone!r}: '{freq}' periods are dates, which no time zone moves; "
            f"it applies to hourly and shorter periods"
        )
    return str(timezone)


def old_regime_suffix(start: pd.Timestamp) -> str:
    """What names a target's old regime after ``start``: its domain and each series' id with
    this appended (``"S06 (before 2021-03-05)"``)."""
    return f" (before {period_text(start)})"


def whole_number(value: Any, what: str, least: int) -> int:
    """``value`` as an int of at least ``least``; a one-line error names ``what`` otherwise
    (a fraction, text or a bool is not a whole number)."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value, ok = int(value), True
    if not ok or int(value) < least:
        raise DataError(f"{what} must be a whole number of {least} or more, got {value!r}")
    return int(value)


@dataclass
class OriginData:
    """Everything needed to forecast from one origin: the cut panel and where things are."""

    origin: pd.Timestamp
    origin_idx: int
    panel: Panel
    source_rows: np.ndarray
    target_rows: dict[Any, np.ndarray]


def _named(doms: Sequence[Any]) -> str:
    """Up to three domains by name, then how many more (``'S07', 'S08', 'S09' and 2 more``)."""
    more = f" and {len(doms) - 3} more" if len(doms) > 3 else ""
    return ", ".join(repr(plain(d)) for d in doms[:3]) + more


class SeriesNotes:
    """Warnings about series of target domains at one origin, each said once for every domain
    it concerns (a panel of many target domains gets one line, not one per domain)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.notes: dict[str, list[tuple[Any, int, str]]] = {}
        self.domains: dict[str, list[Any]] = {}

    def add(self, template: str, dom: Any, count: int, first: str) -> None:
        """Note ``count`` series of target domain ``dom`` (the first: ``first``); ``template``
        holds ``{subject}`` (who has how many series) and ``{first}``."""
        self.notes.setdefault(template, []).append((dom, count, first))

    def add_domain(self, template: str, dom: Any) -> None:
        """Note target domain ``dom`` as a whole; ``template`` holds ``{subject}`` (the
        domains named) and ``{has}``, ``{is}``, ``{it}``, ``{them}``, ``{its}`` (said of one
        domain or of several)."""
        self.domains.setdefault(template, []).append(dom)

    def warn(self, stacklevel: int = 2) -> None:
        """Issue one :class:`DataWarning` per template."""
        for template, doms in self.domains.items():
            many = len(doms) > 1
            text = template.format(
                subject=f"target domain{'s' * many} {_named(doms)}",
                has="have" if many else "has",
                its="their" if many else "its",
                it="they" if many else "it",
                them="them" if many else "it",
                **{"is": "are" if many else "is"},
            )
            warnings.warn(f"{self.source}: {text}", DataWarning, stacklevel=stacklevel + 1)
        for template, items in self.notes.items():
            doms = [plain(d) for d, _, _ in items]
            n = sum(c for _, c, _ in items)
            if len(doms) == 1:
                subject = f"target domain {doms[0]!r} has {n} series"
            else:
                subject = f"target domains {_named(doms)} have {n} series"
            text = template.format(subject=subject, first=items[0][2])
            warnings.warn(f"{self.source}: {text}", DataWarning, stacklevel=stacklevel + 1)


class TransferTask:
    """A long-format sales table plus the roles of its columns and domains.

    ``data`` has one row per series and period. ``targets`` are the domain values to forecast;
    every other domain is a source unless ``sources`` lists them explicitly. ``target_history``
    keeps only the last N target periods before each origin, to simulate a cold start.
    ``regime_start`` (a date, or a mapping of target domain to date) marks a change of regime:
    each target domain's periods before it become a source domain of its own (see
    :meth:`_split_regimes`), and a static column may then change value at the regime start (a
    remodelled store's new size or format). ``require_sources=False`` accepts data with target
    domains only (forecasting with a saved model bundle, which needs no source rows).
    """

    @in_task_zone("timezone")  # its messages give times as its files do
    def __init__(
        self,
        data: pd.DataFrame,
        *,
        series: Sequence[str] | str,
        time: str,
        target: str,
        domain: str,
        targets: Sequence[Any],
        horizon: int,
        freq: str = "W-FRI",
        sources: Sequence[Any] = (),
        static: Sequence[str] = (),
        known: Sequence[str] = (),
        origin: str | pd.Timestamp | None = None,
        target_history: int | None = None,
        regime_start: Any = None,
        features: FeaturesConfig | Mapping[str, Any] | None = None,
        evaluate: EvaluateConfig | Mapping[str, Any] | None = None,
        repair: bool = True,
        source_name: str = "data",
        require_sources: bool = True,
        timezone: str | None = None,
    ):
        if not isinstance(data, pd.DataFrame):  # a path, a dict: one line, not an AttributeError
            raise DataError(
                f"{source_name}: the data must be a pandas DataFrame, got {type(data).__name__}; "
                "read a CSV or Parquet file with transfercast.data.read_table(path)"
            )
        self.series = [series] if isinstance(series, str) else list(series)
        freq = current_alias(freq)  # "M" is "ME": pandas would warn at every date range
        refuse_empty_periods(freq)
        self.time, self.target, self.domain, self.freq = time, target, domain, freq
        #: the zone of hourly periods' clock times (``[data] timezone``); the periods are UTC
        self.timezone = check_timezone(timezone, freq)
        # one column named alone is one column, not its letters
        self.static = [static] if isinstance(static, str) else list(static)
        self.known = [known] if isinstance(known, str) else list(known)
        self.horizon = whole_number(horizon, "[task] horizon", 1)
        self.target_history = (
            None
            if target_history is None
            else whole_number(target_history, "[task] target_history", 0)
        )
        # every period count the features use, with the defaults of the frequency filled in
        features = config_section(FeaturesConfig, features, "features", source_name)
        self.features = resolve_features(features, freq)
        self.require_sources = require_sources  # False: forecasting with a saved model only
        self._refuse_feature_names(source_name)
        self.evaluate = config_section(EvaluateConfig, evaluate, "evaluate", source_name)
        self.source_name = source_name
        self.repair = repair  # read again for a source dataset on Dask (the same repairs)
        self.frame = standardize(
            data,
            series=self.series,
            time=time,
            target=target,
            domain=domain,
            freq=freq,
            static=self.static,
            known=self.known,
            source=source_name,
            repair=repair,
            static_per_series=regime_start is None,  # checked per regime after the split
            timezone=self.timezone,
        )
        #: whether the time column's values carry a UTC offset (an origin with one reads as
        #: UTC only then: on hourly data without offsets it would move by the offset)
        self.zoned = has_zone(data[time]) or self.timezone is not None
        if UID in data.columns and UID not in [*self.series, *self.static, *self.known]:
            warnings.warn(  # a Nixtla frame's own id: joins on it would match nothing
                f"{source_name}: column '{UID}' is not read: each series is named by its "
                f"[data] series columns joined by '|' ({' | '.join(self.series)}); join the "
                f"outputs on those columns",
                DataWarning,
                stacklevel=2,
            )
        present = self.frame["domain"].unique()
        self.targets = match_domains(targets, present, "targets")
        if not self.targets:
            raise DataError("[task] targets is empty: name at least one target domain")
        #: the start of the new regime of each target domain that has one; its old regime
        #: is the source domain :attr:`old_regimes` names
        self.regime_start: dict[Any, pd.Timestamp] = self._regime_starts(regime_start)
        self.old_regimes: dict[Any, str] = self._split_regimes()
        if regime_start is not None:
            hint = " (a static column may change only at [task] regime_start)"
            check_static(self.frame, self.static, source_name, hint)
        present = self.frame["domain"].unique()
        if sources:
            self.sources = match_domains(sources, present, "sources")
            overlap = set(map(str, self.sources)) & set(map(str, self.targets))
            if overlap:
                raise DataError(f"[task] domain {sorted(overlap)[0]!r} is both source and target")
            listed = set(map(str, self.sources))
            self.sources += [d for d in self.old_regimes.values() if d not in listed]
        else:
            self.sources = [d for d in present if str(d) not in set(map(str, self.targets))]
        if not self.sources and require_sources:
            raise DataError("[task] no source domains: every domain in the data is a target")
        self._check_prelaunch_static()
        self.origin: pd.Timestamp | None = None
        if origin is not None:
            self.set_origin(origin)

    def _refuse_feature_names(self, source: str) -> None:
        """A one-line error naming a series key, static or known column whose name is that of a
        feature the task builds (``h``, ``lag1``, ``week``, ``price_delta``, ...): the feature
        would overwrite the column's values, or the column the feature's."""
        f = self.features
        built = {"h": "the forecast step", "log_level": "the recent level", "n_obs": "the age"}
        built |= {f"lag{k}": "a lag" for k in f.lags} | {f"mean{w}": "a window" for w in f.windows}
        if (f.season_length or 1) > 1:
            built |= {"sply": "the same period last season", "growth": "the year's growth"}
        if f.calendar:
            built |= {c: "a calendar feature" for c in calendar_columns(self.freq)}
        built |= {f"{c}_delta": f"known column '{c}' against its recent mean" for c in self.known}
        keys = [c for c in self.series if c != self.domain]
        roles = [("series key", keys), ("static", self.static), ("known", self.known)]
        for role, columns in roles:
            for col in columns:
                if col in built:
                    raise DataError(
                        f"{source}: {role} column '{col}' has the name of a feature transfercast "
                        f"builds ({built[col]}); rename the column"
                    )
                bad = [c for c in dict.fromkeys(str(col)) if c in ENGINE_FORBIDDEN]
                if bad and self.require_sources:  # (a saved model fitted with it fits no engine)
                    fixed = str(col).translate(str.maketrans(ENGINE_FORBIDDEN))
                    shown = " ".join(repr(c)[1:-1] for c in bad)
                    raise DataError(
                        f"{source}: {role} column '{one_line(col)}': the boosting engines "
                        f"(LightGBM, XGBoost) refuse {shown} in a feature's name; rename the "
                        f"column ('{fixed}', say)"
                    )
        names = [*keys, *self.static, *self.known, *(f"{c}_delta" for c in self.known)]
        seen: dict[str, str] = {}
        for col in names:  # LightGBM writes a space as _: two such names are one feature
            other = seen.setdefault(str(col).replace(" ", "_"), str(col))
            if other != str(col) and self.require_sources:
                raise DataError(
                    f"{source}: columns '{other}' and '{col}' name one feature for LightGBM, "
                    f"which writes a space as _; rename one of them"
                )

    def set_origin(self, when: Any, what: str = "[task] origin") -> None:
        """Forecast from ``when`` (a date on the data's grid, at or before its last period, after
        every regime start); an error names it as ``what`` (the key or option it came from)."""
        self.origin = self._on_grid(when, what)
        for dom in self.regime_start:
            self._check_regime_before(dom, self.origin, "the origin")

    # -- a change of regime ----------------------------------------------------------------------
    def _regime_starts(self, regime_start: Any) -> dict[Any, pd.Timestamp]:
        """``regime_start`` as a mapping of target domain to date (one date: every target)."""
        if regime_start is None:
            return {}
        if isinstance(regime_start, Mapping):
            by_str = {str(t): t for t in self.targets}
            by_form = {name_form(t): t for t in self.targets}  # either Unicode form of a name
            starts = {}
            for key, when in regime_start.items():
                dom = by_str.get(str(key), by_form.get(name_form(key)))  # the exact name first
                if dom is None:
                    raise ConfigError(
                        unknown_name("target domain in [task] regime_start", key, by_str)
                    )
                starts[dom] = self._regime_date(when, f"[task] regime_start.{key}")
            return starts
        when = self._regime_date(regime_start, "[task] regime_start")
        return dict.fromkeys(self.targets, when)

    def _regime_date(self, when: Any, key: str) -> pd.Timestamp:
        """A regime start as a timestamp inside the data's periods, or a one-line error. Text
        must be an ISO date (``YYYY-MM-DD``): ``04/12/2020`` could be either day."""
        try:
            ts = pd.Timestamp(when)
        except (ValueError, TypeError):
            ts = pd.NaT
        if ts is pd.NaT or isinstance(when, bool | int | float):
            raise ConfigError(f"{key} {when!r} is not a date")
        refuse_unordered_date(when, ts, key, ConfigError)
        ts = self._naive(ts, key, when)
        first, last = self.frame[DS].min(), self.frame[DS].max()
        # forecasting with a saved model, the new data may hold the new regime only
        if self.require_sources and not first < ts <= last:
            side = "after the last" if ts > last else "at or before the first"
            raise ConfigError(
                f"{key} {period_text(ts)} is {side} period of the data ({period_text(first)} to "
                f"{period_text(last)}): a regime start needs periods on both sides of it"
            )
        if first < ts <= last:  # the first period of the new regime: one name however written
            ts = self.frame.loc[self.frame[DS] >= ts, DS].min()
        return ts

    def _naive(self, ts: pd.Timestamp, what: str, when: Any) -> pd.Timestamp:
        """``ts`` on the periods' clock (:func:`~transfercast.data.naive_time`): with a UTC
        offset, hourly, the instant in UTC; without one, as it is, the periods' own time (the
        task's origins are such times, and give them back so: with ``[data] timezone``, an origin
        without an offset is UTC). An hourly one with an offset where the column's times have
        none is an error naming ``what``: in which zone they are is not known."""
        if (
            ts.tzinfo is not None
            and not self.zoned
            and naive_time(ts, self.freq) != ts.tz_localize(None)
        ):
            raise DataError(
                f"{what} {when!r} has a UTC offset, and the times in column '{self.time}' have "
                f"none: write it as they are written"
            )
        return naive_time(ts, self.freq)

    def _split_regimes(self) -> dict[Any, str]:
        """Give each target domain's periods before its regime start to a source domain of its
        own, ``"<domain> (before <date>)"``, as series of their own (``unique_id`` suffixed the
        same way); the target keeps its periods from the regime start on. This relabels rows of
        :attr:`frame` and moves no value in time, so nothing after an origin enters any table.
        Returns the old regime's domain of each target domain that has one."""
        self._regime_first: dict[Any, pd.Timestamp] = {}
        if not self.regime_start:
            return {}
        frame = self.frame
        domains = frame[DOMAIN].astype(object)
        uids = frame[UID].astype(object)
        old_regimes, unsplit = {}, []
        for dom, start in self.regime_start.items():
            old = (domains.astype(str) == str(dom)).to_numpy() & (frame[DS] < start).to_numpy()
            if not old.any():
                if self.require_sources:  # (new data for a saved model may hold no old regime)
                    warnings.warn(
                        f"{self.source_name}: target domain {plain(dom)!r} has no period before "
                        f"[task] regime_start {period_text(start)}: it has no old regime",
                        DataWarning,
                        stacklevel=4,
                    )
                    unsplit.append(dom)
                continue
            label = f"{dom}{old_regime_suffix(start)}"
            if (domains.astype(str) == label).any():
                raise DataError(f"{self.source_name}: a domain is already named {label!r}")
            domains[old] = label
            uids[old] = uids[old] + old_regime_suffix(start)
            old_regimes[dom] = label
        frame[DOMAIN], frame[UID] = domains, uids
        self.frame = frame.sort_values([UID, DS], kind="stable").reset_index(drop=True)
        for dom in unsplit:  # a target that begins after its regime start is not split
            del self.regime_start[dom]
        firsts = self.frame.groupby(self.frame[DOMAIN].astype(str))[DS].min()
        #: the first period of each target domain's new regime, sold or not (checks only: one
        #: without a sale up to an origin is forecast before launch there)
        self._regime_first = {d: firsts.get(str(d), pd.NaT) for d in self.regime_start}
        return old_regimes

    def _check_regime_before(self, dom: Any, origin: pd.Timestamp, what: str) -> None:
        """A one-line error when ``dom``'s regime start leaves it no period up to ``origin``."""
        start = self.regime_start.get(dom)
        if start is None:
            return
        first = self._regime_first.get(dom, pd.NaT)
        if first is pd.NaT or first > origin:
            # new data for a saved model: the regime start is the model's, from its run's config
            key = "[task] regime_start" if self.require_sources else "the model's regime_start"
            raise ConfigError(
                f"{key} {period_text(start)} leaves target domain {plain(dom)!r} no period up to "
                f"{what} {period_text(origin)}"
            )

    def prelaunch_domains(self) -> list[Any]:
        """The target domains forecast before they sell at every origin: every target with
        ``target_history = 0``, and any target domain without a single observed sale in the
        data. With ``target_history`` unset, a target domain is also forecast before it sells at
        an origin before its first sale (:meth:`at_origin`)."""
        if self.target_history == 0:
            return list(self.targets)
        sold = set(self.frame.loc[self.frame[Y].notna(), DOMAIN].astype(str))
        return [t for t in self.targets if str(t) not in sold]

    def _check_prelaunch_static(self) -> None:
        """A target domain forecast before it sells at every origin without a value in a static
        column the sources have is an error: its level is estimated from the sources by the
        static columns. (Which columns the features read is decided at each origin, on the data
        cut there: :class:`~transfercast.forecasting.OriginTables`.)"""
        domains = self.frame["domain"].astype(str)
        is_target = domains.isin(set(map(str, self.targets)))
        for col in self.static if self.sources else ():
            if col in self.series or self.frame.loc[~is_target, col].isna().all():
                continue
            for dom in self.prelaunch_domains():
                if self.frame.loc[domains == str(dom), col].isna().all():
                    raise DataError(
                        f"{self.source_name}: static column '{col}' has no value in pre-launch "
                        f"target domain {plain(dom)!r}; the level model that estimates a "
                        f"pre-launch level from the source domains needs it"
                    )

    @classmethod
    def from_config(
        cls, config: Config, data: pd.DataFrame | None = None, *, require_sources: bool = True
    ) -> TransferTask:
        """The task a config describes; reads ``[data] path`` unless ``data`` is given.

        ``require_sources=False`` accepts target domains only: with ``[data] sources`` (a
        Parquet dataset fitted on Dask by ``transfercast run``) that is the only way."""
        if not isinstance(config, Config):
            raise ConfigError(
                f"TransferTask.from_config takes a Config, not {type(config).__name__}; read a "
                f"file with transfercast.load_config(path) or a dict with "
                f"transfercast.config.parse_config(raw)"
            )
        if config.data.sources is not None and require_sources:
            raise ConfigError(
                "[data] sources: a Parquet source dataset is used by `transfercast run` only "
                "(source_only, boost_continue, recalibrate); compare and similarity need the "
                "sources in [data] path"
            )
        if config.data.sources is not None and config.task.regime_start is not None:
            raise ConfigError(
                "[task] regime_start cannot be used with [data] sources: the old regime of a "
                "target would be a source domain outside the Parquet source dataset"
            )
        source = "data"
        if data is None:
            path: Path = config.data_path()
            data = read_table(path, [*config.data.series, config.data.domain], config.data.target)
            source = str(path)
        d, t = config.data, config.task
        return cls(
            data,
            series=d.series,
            time=d.time,
            target=d.target,
            domain=d.domain,
            freq=d.freq,
            static=d.static,
            known=d.known,
            targets=t.targets,
            sources=t.sources,
            horizon=t.horizon,
            origin=t.origin,
            target_history=t.target_history,
            regime_start=t.regime_start,
            features=config.features,
            evaluate=config.evaluate,
            repair=d.repair,
            source_name=source,
            require_sources=require_sources,
            timezone=d.timezone,
        )

    def settings(self) -> dict[str, Any]:
        """The task's column roles, domains and cut, as plain JSON-ready values (with
        ``regime_start``, target domain -> date, only when the task has one)."""
        regime = {str(d): period_text(t) for d, t in self.regime_start.items()}
        return {
            "series": self.series,
            "time": self.time,
            "target": self.target,
            "domain": self.domain,
            "freq": self.freq,
            "static": self.static,
            "known": self.known,
            "targets": [str(t) for t in self.targets],
            "sources": [str(s) for s in self.sources],
            "horizon": self.horizon,
            "target_history": self.target_history,
            **({"regime_start": regime} if regime else {}),
            **({"timezone": self.timezone} if self.timezone else {}),
        }

    # -- the grid ------------------------------------------------------------------------------
    @cached_property
    def panel(self) -> Panel:
        """All series on one regular grid that runs ``horizon`` periods past the data."""
        return Panel.from_frame(
            self.frame,
            series=self.series,
            static=self.static,
            known=self.known,
            freq=self.freq,
            extend=self.horizon,
        )

    def _on_grid(self, when: Any, what: str) -> pd.Timestamp:
        try:
            ts = pd.Timestamp(when)
        except (ValueError, TypeError):
            raise DataError(f"{what} {when!r} is not a date") from None
        if ts is pd.NaT:
            raise DataError(f"{what} {when!r} is not a date")
        refuse_unordered_date(when, ts, what, DataError)
        ts = self._naive(ts, what, when)
        grid = self.panel.times  # (an hour is "on" an hourly offset at 05:30: read the grid)
        if not pd.tseries.frequencies.to_offset(self.freq).is_on_offset(ts) or (
            grid[0] <= ts <= grid[-1] and grid.get_indexer([ts])[0] < 0
        ):
            raise DataError(f"{what} {period_text(ts)} is not on the '{self.freq}' grid")
        first, last = self.frame[DS].min(), self.frame[DS].max()
        if ts < first:
            raise DataError(
                f"{what} {period_text(ts)} is before the first period of the data "
                f"({period_text(first)})"
            )
        if ts > last:
            raise DataError(
                f"{what} {period_text(ts)} is after the last period of the data "
                f"({period_text(last)}): "
                f"the forecast dates and known covariates after it are not on the grid"
            )
        return ts

    @property
    def last_observed(self) -> pd.Timestamp:
        """The last period with an observed target."""
        return self.frame.loc[self.frame[Y].notna(), DS].max()

    def last_target_index(self, scored: bool = False) -> int | None:
        """The panel position of the targets' last observed sale; ``None`` where no target
        domain has sold (before launch), a :class:`DataError` then with ``scored`` (a backtest,
        which scores against the targets' sales)."""
        seen = np.flatnonzero((~np.isnan(self.panel.Y[self.target_mask()])).any(axis=0))
        if scored and not len(seen):
            raise DataError(
                "no target domain has a sale in the data: a backtest scores forecasts against "
                "the targets' sales (`run` forecasts targets that have not sold yet)"
            )
        return int(seen.max()) if len(seen) else None

    def target_mask(self) -> np.ndarray:
        """Which panel rows belong to target domains."""
        tset = set(map(str, self.targets))
        return np.array([str(d) in tset for d in self.panel.domains])

    def source_mask(self) -> np.ndarray:
        """Which panel rows belong to source domains."""
        sset = set(map(str, self.sources))
        return np.array([str(d) in sset for d in self.panel.domains])

    # -- origins -------------------------------------------------------------------------------
    def evaluation_origins(
        self, evaluate: EvaluateConfig | Mapping[str, Any] | None = None
    ) -> list[pd.Timestamp]:
        """The rolling origins of a backtest (``evaluate``: an ``[evaluate]`` table, the task's
        own by default): each leaves every target domain a period of history and the last
        target sale a full horizon after it."""
        if evaluate is None:
            evaluate = self.evaluate
        else:
            evaluate = config_section(EvaluateConfig, evaluate, "evaluate", self.source_name)
        tmask = self.target_mask()
        observed = ~np.isnan(self.panel.Y[tmask])
        last_target = self.last_target_index(scored=True)
        # every target domain that sells needs a period of history (a split one: of its new
        # regime) at the first origin, or its cells there would be forecasts before launch;
        # one that opens after the last origin has none at any, and waits for nobody
        domains = self.panel.domains[tmask].astype(str)
        firsts = [
            int(np.flatnonzero(observed[domains == d].any(axis=0)).min())
            for d in np.unique(domains)
            if observed[domains == d].any()
        ]
        first_target = max(
            (f for f in firsts if f <= last_target - self.horizon), default=min(firsts)
        )
        if evaluate.origins:
            origins = self.check_origins(evaluate.origins, "[evaluate] origin")
            for o in origins:
                if self.panel.index_of(o) + self.horizon > last_target:
                    raise DataError(
                        f"[evaluate] origin {period_text(o)} leaves less than the horizon of "
                        f"{self.horizon} periods of target actuals"
                    )
            return origins  # one before a target's first sale: pre-launch there
        step = evaluate.step or self.horizon
        last = last_target - self.horizon
        idx = [last - k * step for k in range(evaluate.windows)]
        # a backtest before launch (target_history = 0) may start one before the first sale
        prelaunch = self.target_history == 0 and not self.old_regimes
        idx = [i for i in idx if i >= max(first_target - prelaunch, 0)]
        # and where the sources can train (where they cannot at any, fitting says why)
        first_source = self._first_source_origin() or 0
        idx = [i for i in idx if i >= first_source] or idx
        if idx and len(idx) < evaluate.windows:
            why = "a period of its new regime" if self.old_regimes else "a period of history"
            why = "its horizon of actuals" if prelaunch else why  # (before launch: no history)
            warnings.warn(
                f"{self.source_name}: [evaluate] windows = {evaluate.windows}, but only "
                f"{len(idx)} origins leave every target {why} and the sources a "
                f"training row before them (the first: {period_text(self.panel.times[min(idx)])}); "
                f"the backtest has {len(idx)}",
                DataWarning,
                stacklevel=2,
            )
        if not idx and self.regime_start:
            for dom in self.regime_start:
                self._check_regime_before(dom, self.panel.times[max(last, 0)], "the last origin")
        if not idx:
            raise DataError(
                f"[task] horizon {self.horizon} is longer than the data allows: the targets have "
                f"{last_target - first_target + 1} periods, and a backtest needs "
                + (
                    "the horizon"
                    if prelaunch
                    else "at least one period of history plus the horizon"
                )
            )
        return sorted(self.panel.times[i] for i in idx)

    def _first_source_origin(self) -> int | None:
        """Panel position of the first origin at which some source series has a training row
        (enough observed periods in its level window, and one after it); ``None`` without
        source rows in memory."""
        rows = np.flatnonzero(self.source_mask())
        if not len(rows):
            return None
        w = int(self.features.level_window)
        counts = observed_in_window(self.panel.Y[rows], w)
        ready = np.flatnonzero((counts >= min_level_obs(w)).any(axis=0))
        return int(ready[0]) + 1 if len(ready) else None

    def check_origins(self, origins: Sequence[Any], what: str = "origin") -> list[pd.Timestamp]:
        """``origins`` as sorted timestamps, each on the grid within the data and leaving every
        regime-changed target a period of its new regime; one listed twice is an error."""
        out = [self._on_grid(o, what) for o in origins]
        twice = next((o for k, o in enumerate(out) if o in out[:k]), None)
        if twice is not None:
            raise DataError(f"{what}s lists {period_text(twice)} twice")
        for o in out:
            for dom in self.regime_start:
                self._check_regime_before(dom, o, f"the {what}")
        return sorted(out)

    def forecast_origin(self) -> pd.Timestamp:
        """The origin for `run`: the configured one, or the targets' last sale (the last
        observed period of any series where no target has sold: before launch). Sources that
        sell on after the targets stop do not move it past the targets' last sale."""
        if self.origin is not None:
            return self.origin
        sold = self.frame[self.frame[Y].notna()]
        mine = sold[sold[DOMAIN].astype(str).isin(set(map(str, self.targets)))]
        return mine[DS].max() if len(mine) else self.last_observed

    @in_task_zone("self")
    def at_origin(
        self, origin: pd.Timestamp, absent: Literal["error", "skip"] = "error"
    ) -> OriginData:
        """The data cut at ``origin`` (with the cold-start truncation of target histories).

        A series exists at ``origin`` once it has a row up to the end of the horizon. A target
        domain with none is an error, or with ``absent="skip"`` (a backtest's early origin) left
        out of ``target_rows`` with a warning."""
        idx = self.panel.index_of(origin)
        first, last = self.frame[DS].min(), self.frame[DS].max()
        if idx < 0 or pd.Timestamp(origin) > last:
            inside = first <= pd.Timestamp(origin) <= last
            raise DataError(
                f"origin {period_text(origin)} is not on the '{self.freq}' grid"
                if inside
                else f"origin {period_text(origin)} is outside the data ({period_text(first)} "
                f"to {period_text(last)})"
            )
        for dom in self.regime_start:
            self._check_regime_before(dom, pd.Timestamp(origin), "the origin")
        tmask = self.target_mask()
        panel = self.panel.cut(
            idx, self.horizon, target_mask=tmask, target_history=self.target_history
        )
        has_history = ~np.all(np.isnan(panel.Y), axis=1)
        # a series whose first row lies after the horizon does not exist at this origin
        exists = panel.existing(idx + self.horizon)
        targets: dict[Any, np.ndarray] = {}
        notes = SeriesNotes(self.source_name)
        week = self._weekdays(panel, idx)
        for dom in self.targets:
            present = np.flatnonzero((panel.domains == dom) & exists)
            if not len(present):
                why = (
                    f"target domain {plain(dom)!r} has no row up to the end of the horizon of "
                    f"the origin {period_text(origin)}"
                )
                if absent == "error":
                    raise DataError(why)
                notes.add_domain(
                    "{subject} {has} no row up to the end of the horizon of the origin "
                    f"{period_text(origin)}: left out at that origin",
                    dom,
                )
                continue
            rows = present[has_history[present]]
            # judged on the cut panel: whether a domain is pre-launch at an origin never
            # depends on what it sold after it
            if self.target_history != 0 and not len(rows):
                within, hidden = self.unsold_note(present, idx)
                notes.add_domain(
                    f"{{subject}} {{has}} no sales {within}up to the origin {period_text(origin)}"
                    f"{hidden}: {{it}} {{is}} forecast before launch, {{its}} level estimated "
                    "from the source domains",
                    dom,
                )
            # every series it will sell; those without a sale yet are forecast before launch
            if (
                self.target_history == 0
                or not len(rows)
                or self._warn_unsold_series(panel, dom, rows, origin, present, notes)
            ):
                rows = present
            self._warn_stopped(panel, dom, rows, idx, notes)
            self._warn_closed_weekdays(panel, dom, rows, idx, notes, week)
            targets[dom] = rows
        notes.warn()
        source_rows = np.flatnonzero(self.source_mask() & has_history)
        if not len(source_rows) and self.require_sources:
            raise DataError(
                f"the source domains have no rows before the origin {period_text(origin)}"
            )
        return OriginData(pd.Timestamp(origin), idx, panel, source_rows, targets)

    def _warn_unsold_series(
        self,
        panel: Panel,
        dom: Any,
        rows: np.ndarray,
        origin: pd.Timestamp,
        present: np.ndarray,
        notes: SeriesNotes,
    ) -> bool:
        """Note the series of a selling target domain without a sale up to ``origin`` but with
        a row by the end of the horizon (a product not launched yet in a store that sells),
        which are forecast before launch as a pre-launch domain's series are; whether there
        are any."""
        new = np.setdiff1d(present, rows)
        if len(new):
            within, hidden = self.unsold_note(new, self.panel.index_of(origin))
            notes.add(
                f"{{subject}} with no sales {within}up to the origin {period_text(origin)} (first "
                f"{{first}}){hidden}: forecast before launch, their level estimated from the "
                f"source domains",
                dom,
                len(new),
                repr(panel.ids[new[0]]),
            )
        return bool(len(new))

    def _warn_stopped(
        self, panel: Panel, dom: Any, rows: np.ndarray, idx: int, notes: SeriesNotes
    ) -> None:
        """Note target series with sales before the level window but no row within it (the
        last ``level_window`` periods up to position ``idx``: a product delisted, or periods
        not exported; they are forecast at their mean over their history), those whose rows
        there are all zero (a pause: forecast on that same scale) and those whose rows end
        before their domain's last period there; warn about a target domain whose rows end
        fewer periods than that before the origin (those periods are neither in its history
        nor forecast, as its forecasts start after the origin) and about a closure."""
        w = int(self.features.level_window)
        at = f"up to the origin {period_text(panel.times[idx])}"
        seen = ~np.isnan(panel.Y[rows, : idx + 1])
        stopped = rows[seen.any(axis=1) & ~seen[:, max(idx + 1 - w, 0) :].any(axis=1)]
        if len(stopped):
            notes.add(
                f"{{subject}} with no row in the {w} periods {at} (first {{first}}): forecast "
                f"at their mean over their history; if they stopped selling, leave them out of "
                f"the targets' data",
                dom,
                len(stopped),
                repr(panel.ids[stopped[0]]),
            )
        recent = panel.Y[rows, max(idx + 1 - w, 0) : idx + 1]
        quiet = rows[(~np.isnan(recent)).any(axis=1) & (np.nan_to_num(recent) == 0).all(axis=1)]
        if seen.any() and not np.nansum(np.abs(panel.Y[rows, : idx + 1])):
            notes.add_domain(  # no sale of its own to scale by: not a pause of some of its series
                f"{{subject}} sold nothing in any period {at} ({int(seen.any(axis=0).sum())} "
                f"periods of 0): {{its}} series are forecast on the scale of the sources' selling "
                f"series; if {{it}} {{has}} not opened yet, leave {{its}} rows of 0 out ({{it}} "
                f"{{is}} then forecast before launch), and if {{it}} {{is}} closed, leave {{them}} "
                f"out of the targets",
                dom,
            )
        elif len(quiet):
            notes.add(
                f"{{subject}} that sold nothing in the {w} periods {at} (first {{first}}): "
                f"forecast on the scale of their mean sales over their history, as after a pause "
                f"(where they never sold, at what source series that sold nothing went on to "
                f"sell); if they stopped selling, leave them out of the targets' data",
                dom,
                len(quiet),
                repr(panel.ids[quiet[0]]),
            )
        if not seen.any():
            return
        self._warn_closed(panel, dom, rows, idx)
        last = int(np.flatnonzero(seen.any(axis=0)).max())
        ends = np.where(seen.any(axis=1), seen.shape[1] - 1 - seen[:, ::-1].argmax(axis=1), -1)
        lag = (ends >= 0) & (ends < last) & (idx - ends < w)
        if lag.any():
            notes.add(
                f"{{subject}} whose rows end before their domain's last period {at} (first "
                f"{{first}}): those periods are neither in their history nor forecast, as their "
                f"forecasts start after the origin; give those periods' sales (0 where nothing "
                f"sold)",
                dom,
                int(lag.sum()),
                f"{panel.ids[rows[lag][0]]!r}, its last: {period_text(panel.times[ends[lag][0]])}",
            )
        if 0 < idx - last < w:
            notes.add_domain(
                f"{{subject}} {{has}} no rows in the {idx - last} periods {at} ({{its}} last: "
                f"{period_text(panel.times[last])}): they are neither in {{its}} history nor "
                f"forecast, as {{its}} forecasts start after the origin; give those periods' "
                f"sales (0 where {{it}} sold nothing; a store that closed for good: leave it out "
                f"of the targets), or forecast {{them}} from {{its}} own last period",
                dom,
            )

    def _weekdays(self, panel: Panel, idx: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Daily data: each period's day of the week up to position ``idx`` (one-hot, periods
        x 7) and the days of the week the horizon after it holds; ``None`` for other data."""
        if pd.tseries.frequencies.to_offset(self.freq) != pd.offsets.Day():
            return None
        days = panel.times[: idx + 1].dayofweek.to_numpy()
        ahead = pd.date_range(panel.times[idx], periods=self.horizon + 1, freq="D")[1:]
        return (days[:, None] == np.arange(7)).astype(np.float32), np.unique(ahead.dayofweek)

    def _warn_closed_weekdays(
        self,
        panel: Panel,
        dom: Any,
        rows: np.ndarray,
        idx: int,
        notes: SeriesNotes,
        week: tuple[np.ndarray, np.ndarray] | None,
    ) -> None:
        """Daily data (``week``: :meth:`_weekdays`): note target series with four weeks of
        history or more up to position ``idx`` but no row on some days of the week the horizon
        holds (a store closed on Sundays whose closed days were not written), one note per set
        of such days: those days are forecast like the days it opens."""
        if week is None:
            return
        onehot, ahead = week
        seen = ~np.isnan(panel.Y[rows, : idx + 1])
        long = seen.any(axis=1) & (idx - seen.argmax(axis=1) >= 27)
        if not long.any():
            return
        never = (seen[long].astype(np.float32) @ onehot)[:, ahead] == 0
        named = never.any(axis=1)
        if not named.any():
            return
        sets, which = np.unique(never[named], axis=0, return_inverse=True)
        members = rows[long][named]
        for k, days in enumerate(sets):
            first = members[np.flatnonzero(which.ravel() == k)]
            names = " or ".join(calendar.day_name[d] for d in ahead[days])
            notes.add(
                f"{{subject}} with no row on any {names} in four weeks or more of history up "
                f"to the origin {period_text(panel.times[idx])} (first {{first}}), and forecast on "
                f"those days like the days they sold; if closed then, write those days with 0",
                dom,
                len(first),
                repr(panel.ids[first[0]]),
            )

    def _warn_closed(self, panel: Panel, dom: Any, rows: np.ndarray, idx: int) -> None:
        """Warn about periods of the level window up to position ``idx`` in which the series
        of a target domain that have rows in that window (two or more) sold nothing, at least
        half of them with a row of 0 (an export leaves out a department without a row that
        week) and none of those with a 0 before (an intermittent department's 0 is how it
        sells), although the domain sold in some period before and in no period before did it
        sell nothing (a closed store, or an export of zeros): its recent level reads them as
        sales of 0."""
        start = max(idx + 1 - int(self.features.level_window), 0)
        y = panel.Y[rows, : idx + 1]
        active = ~np.isnan(y[:, start:]).all(axis=1)  # the series with rows in the window
        if active.sum() < 2:  # one series: a period without a sale is no sign of a closure
            return
        y = y[active]
        observed = (~np.isnan(y)).any(axis=0)
        total = np.nansum(y, axis=0)
        zero = observed & (total == 0)
        half = max(2, -(-int(active.sum()) // 2))
        every = (~np.isnan(y[:, start:])).sum(axis=0) >= half  # most active series have a row
        zeros = y == 0  # a row of 0 (a missing row is not one)
        earlier = np.cumsum(zeros, axis=1) - zeros  # each series' rows of 0 before the period
        first = ~(zeros & (earlier > 0)).any(axis=0)  # no series' 0 there is a repeat
        closed = np.flatnonzero(zero[start:] & every & first[start:]) + start
        if not len(closed) or zero[:start].any():
            return
        before = observed[: closed[0]] & (total[: closed[0]] > 0)
        if not before.any():  # nothing sold before it: an opening, not a closure
            return
        more = f" and {len(closed) - 1} more" if len(closed) > 1 else ""
        warnings.warn(
            f"{self.source_name}: target domain {plain(dom)!r} sold nothing in any of its "
            f"{int(active.sum())} series at {period_text(panel.times[closed[0]])}{more} (of the "
            f"{idx + 1 - start} periods up to the origin {period_text(panel.times[idx])}), having "
            f"sold in every period before: its recent level reads them as sales of 0; if it was "
            f"closed, leave those rows out",
            DataWarning,
            stacklevel=4,
        )

    def _before_cut(self, rows: np.ndarray, idx: int) -> np.ndarray:
        """The sales of ``rows`` before ``[task] target_history``'s cut at position ``idx``."""
        return self.panel.Y[rows, : max(idx + 1 - self.target_history, 0)]

    def unsold_note(self, rows: np.ndarray, idx: int) -> tuple[str, str]:
        """How a warning says that series ``rows`` have no sales up to panel position ``idx``:
        within ``[task] target_history`` when one of them sold before it (then a note that it
        hides those sales, for some or all of them), else nothing to add."""
        if not self.target_history:
            return "", ""
        sold = ~np.isnan(self._before_cut(rows, idx)).all(axis=1)
        if not sold.any():
            return "", ""
        n, who = self.target_history, "" if sold.all() else " some of them"
        return (
            f"in the last {n} periods ",
            f",{who} having sold before ([task] target_history = {n})",
        )

    def hidden_history(self, origin: pd.Timestamp) -> int:
        """How many observed target periods up to ``origin`` lie before ``[task]
        target_history``'s cut (the most of any target series): what a forecast leaves unread
        (all of them at ``target_history = 0``: a forecast before launch played back)."""
        if self.target_history is None:
            return 0
        earlier = self._before_cut(self.target_mask(), self.panel.index_of(origin))
        return int((~np.isnan(earlier)).sum(axis=1).max(initial=0))

    def hidden_text(self, hidden: int, past: bool = False) -> str:
        """What ``[task] target_history`` does to the ``hidden`` target periods it leaves
        unread, for a note (``past``: of a finished run)."""
        keep, leave = ("kept", "left") if past else ("keeps", "leaves")
        if self.target_history == 0:
            return (
                f"[task] target_history = 0 forecasts the targets before launch and {leave} "
                f"their {hidden} periods of sales unread (a launch played back)"
            )
        n = self.target_history
        return (
            f"[task] target_history = {n} {keep} the targets' last {n} periods and {leave} "
            f"{hidden} earlier ones unread (a cold start played back)"
        )

    def actuals(self, origin: pd.Timestamp, rows: np.ndarray) -> pd.DataFrame:
        """Observed targets of ``rows`` over the horizon after ``origin`` (for scoring only)."""
        return self.panel.horizon_frame(rows, self.panel.index_of(origin), self.horizon)

    def key_frame(self) -> pd.DataFrame:
        """The user's series key columns for each ``unique_id``."""
        keys = self.panel.keys.copy()
        keys.insert(0, UID, self.panel.ids)
        return keys
