"""``analog``: the like-for-like forecast (plugins/analog.py).

Its forecast is checked against the same sums written out by hand on the raw sales; it never
reads past the origin (a step beyond one season reads the season before), refuses to forecast
from an anchor its saved ratios do not reach, forecasts a pre-launch target from the level the
level model gives it, and says how to fit it when called outside the core.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import transfercast as tc
from transfercast.config import parse_config
from transfercast.datasets import synthetic_config
from transfercast.errors import DataError
from transfercast.forecasting import OriginTables
from transfercast.plugins.analog import ALL, Analog, AnalogProfile

from .conftest import small_frame, small_task


def _by_hand(frame: pd.DataFrame, targets, origin: pd.Timestamp, horizon: int, window: int):
    """Each target series' mean |sales| over ``window`` weeks to the origin, times its
    department's summed source sales ``h`` weeks after ``origin - 52`` weeks over their summed
    mean |sales| over ``window`` weeks to ``origin - 52`` weeks."""
    week = pd.Timedelta(weeks=1)
    wide = frame.pivot_table(index=["store", "dept"], columns="date", values="sales")

    def level(rows: pd.DataFrame, end: pd.Timestamp) -> pd.Series:
        cols = [c for c in wide.columns if end - window * week < c <= end]
        return rows[cols].abs().mean(axis=1)

    is_target = wide.index.get_level_values("store").isin(targets)
    src, tgt = wide[~is_target], wide[is_target]
    back = origin - 52 * week
    src_level = level(src, back).groupby(level="dept").sum()
    out = {}
    for h in range(1, horizon + 1):
        ratio = src[back + h * week].groupby(level="dept").sum() / src_level
        lvl = level(tgt, origin)
        out[origin + h * week] = lvl * ratio.reindex(tgt.index.get_level_values("dept")).values
    return pd.DataFrame(out).stack().rename("expected")


def test_the_forecast_is_the_targets_level_times_its_departments_source_ratio():
    task = small_task()
    forecast = tc.TransferForecaster(strategy="analog").fit(task).predict()
    origin = forecast["date"].min() - pd.Timedelta(weeks=1)
    frame = small_frame()
    expected = _by_hand(
        frame, frame.attrs["targets"], origin, task.horizon, task.features.level_window
    )
    got = forecast.set_index(["store", "dept", "date"])["forecast"]
    expected.index.names = got.index.names
    joined = pd.concat([got, expected], axis=1, join="inner")
    assert len(joined) == len(got) == 3 * 2 * task.horizon
    np.testing.assert_allclose(joined["forecast"], joined["expected"], rtol=1e-9)


def _profile(season: int = 4) -> AnalogProfile:
    times = pd.date_range("2020-01-01", periods=8, freq="QS")
    ratio = np.arange(2 * 8 * 6, dtype=float).reshape(2, 8, 6)  # group "A", then ALL
    ratio[0, 1, 0] = np.nan  # group A has no ratio there: all sources' is used
    return AnalogProfile(["A", ALL], times, ratio, "QS", season)


def test_a_step_beyond_one_season_reads_the_season_before():
    profile = _profile()
    anchor = pd.DatetimeIndex([profile.times[-1] + pd.offsets.QuarterBegin(startingMonth=1)] * 2)
    # step 2: one season back (period 8 - 4 = 4); step 6: two seasons back (period 0)
    got = profile.lookup(np.array(["A", "A"], dtype=object), anchor, np.array([2, 6]))
    assert list(got) == [profile.ratio[0, 4, 1], profile.ratio[0, 0, 5]]


def test_an_unknown_group_or_a_missing_ratio_falls_back_to_all_sources():
    profile = _profile()
    A = np.array(["A"], dtype=object)
    at = [pd.DatetimeIndex([profile.times[k]]) for k in range(8)]
    one = np.array([1])
    # period 6, one season back: 2
    assert profile.lookup(A, at[6], one)[0] == profile.ratio[0, 2, 0]
    assert profile.lookup(np.array(["B"], dtype=object), at[6], one)[0] == profile.ratio[1, 2, 0]
    # period 5, one season back: 1, where group A has no ratio
    assert profile.lookup(A, at[5], one)[0] == profile.ratio[1, 1, 0]
    assert profile.lookup(A, at[0], one)[0] == 1.0  # before the profile: the recent level


def test_forecasting_from_beyond_the_saved_ratios_is_refused():
    profile = _profile()  # anchors 2020-01-01 .. 2021-10-01: fitted at 2022-01-01
    A = np.array(["A"], dtype=object)
    late = pd.DatetimeIndex([profile.times[-1] + pd.DateOffset(years=2)])
    with pytest.raises(DataError, match=r"fitted at 2022-01-01; forecasting from 2023-10-01"):
        profile.lookup(A, late, np.array([1]))
    # one quarter after its origin: step 3 reads 2022-01-01 (the origin), step 4 2022-04-01,
    # a ratio the fit never had (before, it fell back to 1: the bare level)
    later = pd.DatetimeIndex(["2022-04-01"])
    assert profile.lookup(A, later, np.array([3]))[0] == profile.ratio[0, 5, 2]
    with pytest.raises(DataError, match=r"fitted at 2022-01-01; forecasting from 2022-04-01"):
        profile.lookup(A, later, np.array([4]))


def test_outside_the_core_it_says_how_to_fit_it(task):
    tables = OriginTables(task, task.at_origin(task.evaluation_origins()[-1]), task.features)
    domain = next(iter(tables.data.target_rows))
    with pytest.raises(DataError, match="fit it through the core"):
        Analog().transfer(None, tables.target(domain))


def test_a_pre_launch_target_gets_the_level_models_level_times_the_ratio():
    frame = small_frame()
    raw = synthetic_config("unused.csv", frame.attrs["targets"], horizon=6, target_history=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task = tc.TransferTask.from_config(parse_config(raw), data=frame)
        result = tc.compare(task, ["analog"])
    scores = result.scores
    assert len(scores) and scores["wape"].notna().all()
    assert (result.forecasts["forecast"] > 0).all()


def test_the_analog_profile_key_follows_the_source_sales_and_the_origin():
    """Two origins, or one origin over other source sales, never share a profile."""
    from transfercast.plugins.analog import _key

    def tables(frame, origin_index=0):
        raw = synthetic_config("unused.csv", frame.attrs["targets"], horizon=8)
        task = tc.TransferTask.from_config(parse_config(raw), data=frame)
        origin = task.evaluation_origins()[origin_index]
        return OriginTables(task, task.at_origin(origin), task.features)

    frame = small_frame()
    base = tables(frame)
    assert _key(base) == _key(tables(frame))  # the same data: one profile
    assert _key(base) != _key(tables(frame, 1))
    changed = frame.copy()
    sources = ~changed["store"].isin(frame.attrs["targets"])
    changed.loc[sources, "sales"] *= np.where(changed.loc[sources, "dept"] == "D1", 2.0, 1.0)
    changed.attrs = frame.attrs
    assert _key(tables(changed)) != _key(base)
