"""Embedded data: a deterministic generator of multi-domain sales at any supported frequency.

The generator is honest about what transfer can and cannot do: ``relatedness`` in [0, 1] sets
how much the target domains share the sources' structure (yearly seasonality, holiday peaks,
price and promotion response). At 1 they share it fully, so a source model knows the target's
seasonality; at 0 the targets have their own, unrelated structure and transfer should not help
(their yearly profile, weekday pattern and price response are their own, and in the sources'
holiday weeks they dip by half the sources' peak instead of rising, peaking in weeks of their
own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from transfercast.data import period_text
from transfercast.frequency import current_alias, frequency_defaults

#: The kinds of change of regime :func:`synthetic_sales` can add.
CHANGES = ("level", "season", "price", "format")
HOLIDAY_EFFECT = {"super_bowl": 0.06, "labor_day": 0.05, "thanksgiving": 0.55, "christmas": 0.35}
#: Relative day-of-week effect (Monday first) of the daily data.
DAY_OF_WEEK_EFFECT = np.array([-0.06, -0.08, -0.05, -0.02, 0.05, 0.12, 0.04])


def _holiday_weeks(dates: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Boolean masks of the weeks (ending Friday) that hold each holiday, Walmart style."""
    out = {}
    d = dates
    # Super Bowl: week ending on the second Friday of February.
    out["super_bowl"] = (d.month == 2) & (d.day >= 8) & (d.day <= 14)
    # Labor Day: week ending on the first Friday of September... Walmart marks the Friday after.
    out["labor_day"] = (d.month == 9) & (d.day >= 7) & (d.day <= 13)
    # Thanksgiving: the Friday after the fourth Thursday of November (Nov 23-29).
    out["thanksgiving"] = (d.month == 11) & (d.day >= 23) & (d.day <= 29)
    # Christmas: the week ending Dec 25-31.
    out["christmas"] = (d.month == 12) & (d.day >= 25)
    return out


def _pre_christmas(dates: pd.DatetimeIndex) -> np.ndarray:
    """The week (ending Friday) before the Christmas week."""
    return (dates.month == 12) & (dates.day >= 18) & (dates.day <= 24)


def _profile(rng: np.random.Generator, woy: np.ndarray) -> np.ndarray:
    """A random smooth yearly profile with mean about zero; ``woy`` is the position in the year
    in weeks (1 to 52, fractions allowed)."""
    phase = rng.uniform(0, 2 * np.pi, 3)
    amp = rng.uniform([0.10, 0.04, 0.02], [0.20, 0.10, 0.05])
    x = 2 * np.pi * woy / 52.0
    return sum(a * np.sin((k + 1) * x + p) for k, (a, p) in enumerate(zip(amp, phase, strict=True)))


@dataclass
class _Calendar:
    """What the generator needs to know about the periods: each period's position in the year
    (weeks), holiday and pre-Christmas shares, years since the start, size relative to a week,
    and how to average a per-day quantity over each period.

    Weeks ending Friday are the periods themselves (the Walmart layout, kept exactly); any other
    frequency is built from its days: a quantity is computed per day and averaged over the days
    of each period, so that a month holds the share of its days that fall in a holiday week."""

    woy: np.ndarray
    holidays: dict[str, np.ndarray]
    pre_xmas: np.ndarray
    years: np.ndarray
    weeks: np.ndarray | float
    day_pos: np.ndarray | None = None
    day_period: np.ndarray | None = None
    counts: np.ndarray | None = None

    def profile(self, rng: np.random.Generator) -> np.ndarray:
        """A random yearly profile (:func:`_profile`), averaged over each period's days."""
        if self.day_pos is None:
            return _profile(rng, self.woy)
        return self.mean(_profile(rng, self.day_pos))

    def mean(self, per_day: np.ndarray) -> np.ndarray:
        """A per-day quantity averaged over the days of each period."""
        return np.bincount(self.day_period, weights=per_day) / self.counts


def _calendar(dates: pd.DatetimeIndex, freq: str) -> _Calendar:
    offset = to_offset(freq)
    if isinstance(offset, pd.offsets.Week) and offset.weekday == 4:  # W-FRI: Walmart weeks
        woy = dates.isocalendar().week.to_numpy(float)
        years = np.arange(len(dates)) / 52.0
        return _Calendar(woy, _holiday_weeks(dates), _pre_christmas(dates), years, 1.0)
    starts = isinstance(offset, (pd.offsets.MonthBegin, pd.offsets.QuarterBegin))
    starts |= isinstance(offset, pd.offsets.YearBegin)
    one = pd.Timedelta(days=1)
    if starts:  # a period runs from its label to the day before the next label
        first, last = dates[0], dates[-1] + offset - one
    else:  # a period ends on its label
        first, last = dates[0] - offset + one, dates[-1]
    days = pd.date_range(first, last, freq="D")
    period = (dates.searchsorted(days, side="right") - 1) if starts else dates.searchsorted(days)
    counts = np.bincount(period, minlength=len(dates)).astype(float)
    friday = days + pd.to_timedelta((4 - days.day_of_week) % 7, unit="D")  # each day's week end
    cal = _Calendar(
        woy=np.zeros(len(dates)),
        holidays={},
        pre_xmas=np.zeros(len(dates)),
        years=((dates - dates[0]).days / 365.25).to_numpy(float),
        weeks=counts / 7.0,
        day_pos=((days.day_of_year - 0.5) / 365.25 * 52.0).to_numpy(float),
        day_period=period,
        counts=counts,
    )
    cal.woy = cal.mean(cal.day_pos)
    cal.holidays = {k: cal.mean(m.astype(float)) for k, m in _holiday_weeks(friday).items()}
    cal.pre_xmas = cal.mean(_pre_christmas(friday).astype(float))
    return cal


def _has_holiday_flag(freq: str) -> bool:
    """Whether an ``is_holiday`` column makes sense: periods of a week or shorter."""
    defaults = frequency_defaults(freq)
    return defaults is not None and defaults.name in ("daily", "weekly")


#: years of linear growth in the Walmart-style weekly layout (its default 157 weeks)
LINEAR_YEARS = 3.0


def _weekly_trend(growth: float, t: np.ndarray) -> np.ndarray:
    """Linear growth for :data:`LINEAR_YEARS`, then compounded at the same slope: the same as
    linear over the default layout, positive at any length."""
    base = max(1.0 + growth * LINEAR_YEARS, 0.05)
    late = base * np.exp(growth * (t - LINEAR_YEARS) / base)
    return np.where(t <= LINEAR_YEARS, 1.0 + growth * t, late)


def synthetic_sales(
    n_domains: int = 20,
    series_per_domain: int = 3,
    n_periods: int = 157,
    n_targets: int = 5,
    target_periods: int = 52,
    relatedness: float = 1.0,
    noise: float = 0.06,
    start: str = "2019-01-04",
    seed: int = 0,
    freq: str = "W-FRI",
    change_at: int | str | pd.Timestamp | None = None,
    change: str = "level",
    change_size: float = 0.3,
    change_domains: str = "targets",
    source_launches: int = 0,
    launch_ramp: float = 0.0,
) -> pd.DataFrame:
    """Sales of ``n_domains`` stores x ``series_per_domain`` departments, one row per period of
    ``freq`` (a pandas offset alias: daily, weekly with any anchor, monthly, quarterly or yearly).

    The last ``n_targets`` stores are the new (target) stores: they open ``target_periods``
    periods before the end of the data. Columns: ``store`` (the domain), ``dept``, ``date``
    (the period labels, from ``start`` on; weeks ending Friday by default), ``sales``,
    ``store_type``, ``size`` (static), ``price``, ``promo`` and, for daily and weekly data,
    ``is_holiday`` (known in the future). ``frame.attrs["targets"]`` lists the target stores.

    Seasonality follows the calendar: a yearly profile by day of the year, averaged over each
    period's days, holiday weeks (Super Bowl, Labor Day, Thanksgiving, Christmas) weighted by
    the share of a period's days they cover, and for daily data a day-of-week pattern. A period's
    sales scale with its length (a month sells about 4.3 weeks' worth). Yearly data hold no
    within-year season, only trend and noise. With the default ``freq="W-FRI"`` the frame is the
    Walmart-style weekly layout. Same arguments, same frame.

    ``change_at`` (a period index or a date) adds a change of regime from that period on, in
    the target stores (``change_domains="targets"``) or in every store (``"all"``), of the kind
    ``change`` and size ``change_size``:

    - ``"level"``: sales are multiplied by ``1 + change_size``;
    - ``"season"``: the yearly profile becomes ``(1 - s) * old + s * new``, with ``s =
      change_size`` (clipped to [0, 1]) and ``new`` a fresh random profile of the same kind
      with twice the amplitude (holiday weeks stay as they were);
    - ``"price"``: each department's price elasticity is multiplied by ``1 + change_size``, so
      that prices and promotions move sales that much more (or less);
    - ``"format"``: the store is converted to another format. The frame gains a static column
      ``format``: every other source store is of format ``"Y"`` all along, the rest ``"X"``;
      format Y has a yearly profile of its own (drawn as the shared one, twice its amplitude).
      A changed store is ``"X"`` before the change and ``"Y"`` from it on, its profile becoming
      ``(1 - s) * old + s * its format-Y profile``: a new season that the format-Y sources show.

    ``frame.attrs["change"]`` records it. Without ``change_at`` nothing changes: the frame is
    the same, to the byte, as without these arguments.

    ``source_launches`` source stores (the last ones before the targets) open during the data,
    at periods spread evenly over its middle half, so that the sources show how new stores
    sold; ``launch_ramp`` makes every store that opens during the data (those and the targets)
    sell ``1 - launch_ramp * exp(-age / 6)`` times its usual sales at ``age`` periods after
    opening (positive: a slow start; negative: an opening rush). ``frame.attrs["launches"]``
    maps each source store that opens to its first date. With neither, the frame is the same as
    without these arguments.
    """
    if not 0.0 <= relatedness <= 1.0:
        raise ValueError(f"relatedness must be in [0, 1], got {relatedness}")
    if not 0 <= n_targets < n_domains:
        raise ValueError(f"n_targets must be 0 or more and smaller than n_domains, got {n_targets}")
    if n_targets and not 1 <= target_periods <= n_periods:
        raise ValueError(
            f"target_periods must be from 1 to n_periods ({n_periods}), got {target_periods}"
        )
    if not 0 <= source_launches < n_domains - n_targets:
        raise ValueError("source_launches must leave at least one source store open all along")
    if not launch_ramp < 1.0:
        raise ValueError(f"launch_ramp {launch_ramp} would make sales negative")
    freq = current_alias(freq)  # "M" is "ME", "Y" "YE-DEC": pandas 3 has no old spelling
    defaults = frequency_defaults(freq)
    if defaults is None:
        raise ValueError(f"freq {freq!r} is not daily, weekly, monthly, quarterly or yearly")
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=n_periods, freq=freq)
    after = _change_mask(dates, change_at, change, change_size, change_domains)
    cal = _calendar(dates, freq)
    t = cal.years
    hol = cal.holidays
    is_holiday = np.zeros(n_periods, dtype=bool)
    for mask in hol.values():
        is_holiday |= mask > 0
    pre_xmas = cal.pre_xmas
    # periods of the weekly cycle a holiday shift of k weeks moves by
    per_week = 1.0 if np.isscalar(cal.weeks) else 1.0 / float(np.mean(cal.weeks))
    daily = defaults.name == "daily"

    shared = cal.profile(rng)
    # format Y's yearly profile: its own generator, so that the other draws stay as they were
    shared_y = 2.0 * cal.profile(np.random.default_rng([seed, 2**20])) if change == "format" else 0
    shared_hol = sum(HOLIDAY_EFFECT[k] * hol[k] for k in hol) + 0.4 * pre_xmas
    dept_amp = rng.uniform(0.6, 1.4, series_per_domain)
    dept_level = rng.lognormal(0, 0.5, series_per_domain)
    dept_elast = rng.uniform(-2.5, -1.0, series_per_domain)
    dept_lift = rng.uniform(0.1, 0.35, series_per_domain)

    rows = []
    stores = [f"S{k + 1:02d}" for k in range(n_domains)]
    targets = stores[n_domains - n_targets :]
    launched = stores[n_domains - n_targets - source_launches : n_domains - n_targets]
    spread = np.linspace(0.25, 0.75, source_launches) if source_launches > 1 else [0.5]
    opens = {s: int(n_periods * f) for s, f in zip(launched, spread, strict=False)}
    for k, store in enumerate(stores):
        is_target = store in targets
        srng = np.random.default_rng([seed, k])
        level = float(np.exp(srng.normal(np.log(20000), 0.8)))
        growth = srng.normal(0.03, 0.05)
        r = relatedness if is_target else 1.0
        # Sources differ a little among themselves; targets differ by (1 - relatedness).
        own = cal.profile(srng)
        own_hol_weeks = np.roll(shared_hol, round(int(srng.integers(8, 40)) * per_week))
        noise_profile = 0.15 * cal.profile(srng) * r
        profile = r * shared + (1 - r) * own + noise_profile
        # the change of regime: its own generator, so that the other draws stay as they were
        changed = after is not None and (is_target or change_domains == "all")
        fmt = None
        if after is not None and change == "format":
            profile_y = r * shared_y + (1 - r) * own + noise_profile
            fmt = np.where(after, "Y", "X") if changed else ("Y" if k % 2 else "X")
            if changed:
                s = float(np.clip(change_size, 0.0, 1.0))
                profile = np.where(after, (1 - s) * profile + s * profile_y, profile)
            elif fmt == "Y":
                profile = profile_y
        if changed and change == "season":
            s = float(np.clip(change_size, 0.0, 1.0))
            new = 2.0 * cal.profile(np.random.default_rng([seed, k, 1]))
            profile = np.where(after, (1 - s) * profile + s * new, profile)
        # unrelated targets dip by half the sources' peak in the sources' holiday weeks and
        # peak in weeks of their own: a holiday response the sources cannot teach
        holiday = r * shared_hol + (1 - r) * (-0.5 * shared_hol + own_hol_weeks)
        if daily:  # the weekly cycle; an unrelated store peaks on other days
            dow = r * DAY_OF_WEEK_EFFECT + (1 - r) * np.roll(DAY_OF_WEEK_EFFECT, 3)
            holiday = (1 + holiday) * (1 + dow[dates.day_of_week]) - 1
        # linear growth over the three years of the weekly layout, compounded after them (and
        # from the start elsewhere), so that a long panel or decades of yearly data never turn
        # negative
        trend = _weekly_trend(growth, t) if cal.day_pos is None else np.exp(growth * t)
        size = int(level * srng.uniform(6, 9))
        stype = "A" if level > 30000 else ("B" if level > 12000 else "C")
        first = n_periods - target_periods if is_target else opens.get(store, 0)
        ramp = 1.0
        if launch_ramp and (is_target or store in opens):
            age = np.maximum(np.arange(n_periods) - first, 0)
            ramp = 1 - launch_ramp * np.exp(-age / 6)
        for d in range(series_per_domain):
            own_elast = srng.uniform(-0.5, 0.5)
            elast = r * dept_elast[d] + (1 - r) * own_elast
            if changed and change == "price":
                elast = np.where(after, elast * (1 + change_size), elast)
            lift = r * dept_lift[d] + (1 - r) * srng.uniform(-0.1, 0.05)
            amp = r * dept_amp[d] + (1 - r) * srng.uniform(0.6, 1.4)
            base_price = srng.uniform(2, 20)
            walk = np.cumsum(srng.normal(0, 0.01, n_periods))
            promo = srng.random(n_periods) < 0.12
            rel_price = np.exp(walk - walk.mean()) * np.where(promo, 0.8, 1.0)
            y = (
                level
                * dept_level[d]
                * (1 + amp * profile)
                * (1 + holiday)
                * rel_price**elast
                * (1 + lift * promo)
                * trend
                * srng.lognormal(0, noise, n_periods)
                * cal.weeks
            )
            if changed and change == "level":
                y = np.where(after, y * (1 + change_size), y)
            y = y * ramp
            sl = slice(first, n_periods)
            columns = {
                "store": store,
                "dept": f"D{d + 1}",
                "date": dates[sl],
                "sales": np.round(y[sl], 2),
                "store_type": stype,
                "size": size,
                "price": np.round(base_price * rel_price[sl], 3),
                "promo": promo[sl].astype(int),
            }
            if _has_holiday_flag(freq):
                columns["is_holiday"] = is_holiday[sl].astype(int)
            if fmt is not None:
                columns["format"] = fmt[sl] if isinstance(fmt, np.ndarray) else fmt
            rows.append(pd.DataFrame(columns))
    frame = pd.concat(rows, ignore_index=True)
    frame.attrs["targets"] = targets
    if opens:
        frame.attrs["launches"] = {s: str(dates[k].date()) for s, k in opens.items()}
    if after is not None:
        frame.attrs["change"] = {
            "date": str(dates[int(np.argmax(after))].date()),
            "kind": change,
            "size": change_size,
            "domains": change_domains,
        }
    return frame


def _change_mask(
    dates: pd.DatetimeIndex,
    change_at: int | str | pd.Timestamp | None,
    change: str,
    change_size: float,
    domains: str,
) -> np.ndarray | None:
    """Which periods lie in the changed regime (from ``change_at`` on); ``None`` for no change."""
    if change_at is None:
        return None
    if change not in CHANGES:
        raise ValueError(f"change must be one of {', '.join(CHANGES)}, got {change!r}")
    if domains not in ("targets", "all"):
        raise ValueError(f"change_domains must be 'targets' or 'all', got {domains!r}")
    if not np.isfinite(change_size) or (change == "level" and change_size <= -1):
        raise ValueError(f"change_size {change_size} would make sales negative or undefined")
    if isinstance(change_at, (int, np.integer)):
        index = int(change_at)
    else:
        index = int(dates.searchsorted(pd.Timestamp(change_at)))
    if not 0 < index < len(dates):
        raise ValueError(
            f"change_at {change_at!r} leaves no period before or after the change "
            f"({period_text(dates[0])} to {period_text(dates[-1])})"
        )
    return np.arange(len(dates)) >= index


def synthetic_config(
    data_path: str = "sales.csv",
    targets: list[str] | None = None,
    *,
    horizon: int = 13,
    target_history: int = 13,
    windows: int = 3,
    candidates: list[str] | None = None,
    output_dir: str = "results",
    freq: str = "W-FRI",
) -> dict[str, Any]:
    """A config mapping (as TOML would give) for data made by :func:`synthetic_sales` with the
    same ``freq`` (the ``is_holiday`` column only for daily and weekly data)."""
    known = ["price", "promo", "is_holiday"] if _has_holiday_flag(freq) else ["price", "promo"]
    cfg: dict[str, Any] = {
        "data": {
            "path": data_path,
            "series": ["store", "dept"],
            "time": "date",
            "target": "sales",
            "freq": freq,
            "domain": "store",
            "static": ["store_type", "size"],
            "known": known,
        },
        "task": {
            "targets": targets or ["S16", "S17", "S18", "S19", "S20"],
            "horizon": horizon,
            "target_history": target_history,
        },
        "evaluate": {"windows": windows, "step": horizon},
        "strategy": {"name": "auto"},
        "output": {"dir": output_dir},
    }
    if candidates:
        cfg["strategy"]["candidates"] = candidates
    return cfg
