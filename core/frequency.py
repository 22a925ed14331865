"""Period counts that follow from the data's frequency (``[data] freq``).

Season length, lags, rolling windows, the level window, the source window and the calendar
features are counted in periods, so their defaults depend on what a period is: 52 weeks make a
year, so do 12 months, 4 quarters or 364 days. :func:`frequency_defaults` maps a pandas offset
alias (read through pandas' offset objects, so ``"W-SUN"``, ``"ME"`` and ``"QS-JAN"`` are all
understood) onto those defaults, and :func:`resolve_features` fills every ``[features]`` key the
config leaves unset. A key set in the config always wins.

``season_length`` is the number of periods in a year; ``1`` means the data have no within-year
season (yearly data): no same-period-last-year features and no seasonal index. A daily panel has
two seasons, the week (7) and the year (364 days, 52 whole weeks, so that the same period last
year falls on the same day of the week); the week enters through the day-of-week calendar
feature and the lags 7 to 28, the year through ``season_length``.

The mapping is written here because neither pandas nor utilsforecast / mlforecast offer one
(mlforecast asks the user for ``season_length``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from transfercast.config import FeaturesConfig
from transfercast.data import sub_daily
from transfercast.errors import ConfigError

#: The keys of ``[features]`` that default to a value derived from the frequency.
DERIVED_KEYS = ("lags", "windows", "level_window", "season_length", "source_window")


@dataclass(frozen=True)
class FrequencyDefaults:
    """The period counts and calendar features of one frequency.

    ``calendar`` names the calendar feature columns (``dayofweek``, ``week``, ``month``,
    ``quarter``) of a forecast period; ``position`` names the calendar attribute by which the
    similarity diagnostics group periods into a seasonal index (``None``: no within-year
    season)."""

    name: str
    season_length: int
    lags: tuple[int, ...]
    windows: tuple[int, ...]
    level_window: int
    source_window: int
    calendar: tuple[str, ...]
    position: str | None


DAILY = FrequencyDefaults(
    name="daily",
    season_length=364,
    lags=(1, 2, 3, 4, 5, 6, 7, 14, 21, 28, 364),
    windows=(7, 14, 91, 182),
    level_window=28,
    source_window=728,
    calendar=("dayofweek", "week", "month"),
    position="week",
)
WEEKLY = FrequencyDefaults(
    name="weekly",
    season_length=52,
    lags=(1, 2, 3, 4, 5, 6, 8, 13, 26, 52),
    windows=(4, 13, 26),
    level_window=8,
    source_window=156,
    calendar=("week", "month"),
    position="week",
)
MONTHLY = FrequencyDefaults(
    name="monthly",
    season_length=12,
    lags=(1, 2, 3, 4, 5, 6, 12),
    windows=(2, 6, 12),
    level_window=3,
    source_window=60,
    calendar=("month",),
    position="month",
)
QUARTERLY = FrequencyDefaults(
    name="quarterly",
    season_length=4,
    lags=(1, 2, 3, 4, 8),
    windows=(4, 8),
    level_window=2,
    source_window=40,
    calendar=("quarter",),
    position="quarter",
)
YEARLY = FrequencyDefaults(
    name="yearly",
    season_length=1,
    lags=(1, 2, 3, 4, 5),
    windows=(5, 10),
    level_window=3,
    source_window=30,
    calendar=(),
    position=None,
)

_BY_OFFSET: tuple[tuple[tuple[type, ...], FrequencyDefaults], ...] = (
    ((pd.offsets.Day,), DAILY),
    ((pd.offsets.Week,), WEEKLY),
    ((pd.offsets.MonthBegin, pd.offsets.MonthEnd), MONTHLY),
    ((pd.offsets.QuarterBegin, pd.offsets.QuarterEnd), QUARTERLY),
    ((pd.offsets.YearBegin, pd.offsets.YearEnd), YEARLY),
)
SUPPORTED = "D, W (any anchor), MS/ME, QS/QE (any anchor), YS/YE (any anchor)"


#: the aliases pandas 2.2 deprecated and pandas 3 removed, by their current spelling
_RENAMED = {
    "M": "ME", "BM": "BME", "SM": "SME", "CBM": "CBME", "Q": "QE", "BQ": "BQE", "A": "YE",
    "Y": "YE", "BA": "BYE", "BY": "BYE", "H": "h", "BH": "bh", "CBH": "cbh", "T": "min",
    "S": "s", "L": "ms", "U": "us", "N": "ns", "AS": "YS", "BAS": "BYS",
}  # fmt: skip
_ALIAS = re.compile(r"^(\d*)([A-Za-z]+)(-[A-Za-z]+)?$")


def current_alias(freq: str) -> str:
    """pandas' current spelling of an alias it has deprecated or removed (``"M"`` is ``"ME"``,
    ``"Q"`` ``"QE-DEC"``, ``"A"`` and ``"Y"`` ``"YE-DEC"``, ``"H"`` ``"h"``), so that a config
    reads the same under pandas 2 (where the old one warns at every date range and grid check)
    and pandas 3 (where it is gone). Any other alias, known or not, comes back as given (an
    unknown one is refused where it is read)."""
    found = _ALIAS.match(str(freq))
    if found and found.group(2) in _RENAMED:
        n, base, anchor = found.group(1), _RENAMED[found.group(2)], found.group(3) or ""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                return to_offset(f"{n}{base}{anchor}").freqstr
        except (ValueError, TypeError):
            return freq
    return freq


def refuse_empty_periods(freq: str) -> None:
    """Refuse an alias whose multiple is not positive (``"0D"``, ``"-1MS"``): its periods
    would not advance. An alias pandas does not know is refused where it is read."""
    try:
        n = to_offset(freq).n
    except (ValueError, TypeError):
        return
    if n <= 0:
        raise ConfigError(
            f"[data] freq {freq!r}: a period is a positive multiple of its unit (1D, 2W, MS)"
        )


def frequency_defaults(freq: str) -> FrequencyDefaults | None:
    """The defaults of a pandas offset alias; ``None`` for a frequency without defaults (a
    multiple such as ``"2W"``, hourly, business days): every derived key must then be set in
    ``[features]``. An alias pandas has deprecated is read as its current spelling
    (:func:`current_alias`); one it does not know raises :class:`ConfigError`."""
    try:
        offset = to_offset(current_alias(freq))
    except (ValueError, TypeError):
        raise ConfigError(f"[data] freq {freq!r} is not a pandas offset alias") from None
    if offset.n != 1:
        return None
    for kinds, defaults in _BY_OFFSET:
        # exact types: BusinessDay is not a Day, and MonthEnd's business variants are not kin
        if type(offset) in kinds:
            return defaults
    return None


def resolve_features(spec: FeaturesConfig, freq: str) -> FeaturesConfig:
    """A copy of a :class:`~transfercast.config.FeaturesConfig` whose unset derived keys
    (:data:`DERIVED_KEYS`) hold the defaults of ``freq``; the spec itself when none is unset.

    A frequency without defaults (:func:`frequency_defaults`) needs every derived key set:
    otherwise :class:`ConfigError` names the first unset key."""
    unset = [k for k in DERIVED_KEYS if getattr(spec, k) is None]
    if not unset:
        return spec
    defaults = frequency_defaults(freq)
    if defaults is None:
        raise ConfigError(
            f"[data] freq {freq!r} has no default [features] {unset[0]}; set "
            f"{', '.join(unset)} in [features] (defaults exist for {SUPPORTED})"
        )
    update = {}
    for key in unset:
        value = getattr(defaults, key)
        update[key] = list(value) if isinstance(value, tuple) else value
    return spec.model_copy(update=update)


def calendar_columns(freq: str) -> tuple[str, ...]:
    """The calendar feature columns of a frequency: its defaults', else by the kind of period
    (hours and minutes: hour of day and day of week; business days: day of week and week;
    multiples of a day or a week: week and month; of a month: month; none for others)."""
    defaults = frequency_defaults(freq)
    if defaults is not None:
        return defaults.calendar
    offset = to_offset(freq)
    if sub_daily(offset):
        return ("hour", "dayofweek")
    if isinstance(offset, (pd.offsets.BusinessDay, pd.offsets.CustomBusinessDay)):
        return ("dayofweek", "week")
    if isinstance(offset, (pd.offsets.Day, pd.offsets.Week)):
        return ("week", "month")
    if isinstance(offset, (pd.offsets.MonthBegin, pd.offsets.MonthEnd)):
        return ("month",)
    return ()


def calendar_values(
    times: pd.DatetimeIndex, column: str, timezone: str | None = None
) -> np.ndarray:
    """One calendar feature (``hour``, ``dayofweek``, ``week`` = ISO week, ``month``,
    ``quarter``) of each period, as floats; with ``timezone``, of the naive UTC ``times`` read
    as that zone's clock times (a shop's opening hours are local)."""
    if timezone:
        times = times.tz_localize("UTC").tz_convert(timezone)
    if column == "hour":
        return np.asarray(times.hour, dtype=float)
    if column == "week":
        return times.isocalendar().week.to_numpy(float)
    if column == "dayofweek":
        return np.asarray(times.day_of_week, dtype=float)
    if column in ("month", "quarter"):
        return np.asarray(getattr(times, column), dtype=float)
    raise ValueError(f"unknown calendar feature {column!r}")


#: the calendar columns that place a period in the year, and their positions per year
POSITIONS = {"week": 52, "month": 12, "quarter": 4}


def season_position(times: pd.DatetimeIndex, freq: str) -> np.ndarray | None:
    """Each period's position in the year by which a seasonal index groups periods: the ISO
    week for daily and weekly data (a daily panel's weekly cycle averages out within a week),
    the month for monthly, the quarter for quarterly data; ``None`` for yearly data and for a
    frequency without defaults (no seasonal index)."""
    defaults = frequency_defaults(freq)
    if defaults is None or defaults.position is None:
        return None
    if defaults.position == "week":
        return times.isocalendar().week.to_numpy()
    return np.asarray(getattr(times, defaults.position))


def season_positions(freq: str) -> int:
    """The number of distinct positions of :func:`season_position` in a year (0: none)."""
    defaults = frequency_defaults(freq)
    if defaults is None or defaults.position is None:
        return 0
    return POSITIONS[defaults.position]
