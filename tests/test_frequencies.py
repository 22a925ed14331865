"""Every frequency: daily, weekly, monthly, quarterly and yearly panels run every strategy; the
period counts derive from ``[data] freq``; short data degrade to missing features or stop with
one line naming the setting (the "Frequencies and short data" rows of docs/bad-inputs.md)."""

from __future__ import annotations

import importlib.util
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import transfercast as tc
from transfercast.cli import to_toml
from transfercast.config import FeaturesConfig, parse_config
from transfercast.data import MESSAGE_ZONE, DataError, period_text, standardize
from transfercast.datasets import synthetic_config, synthetic_sales
from transfercast.features import _Sums, _take
from transfercast.forecasting import OriginTables
from transfercast.frequency import frequency_defaults, resolve_features
from transfercast.similarity import similarity, source_profiles
from transfercast.task import TransferTask

from .clirun import invoke

STRATEGIES = ["target_only", "source_only", "pooled", "boost_continue", "representation", "l2sp"]
if importlib.util.find_spec("torch") is None:  # l2sp needs the torch extra
    STRATEGIES.remove("l2sp")
#: Few trees and epochs: these tests check that every frequency runs, not accuracy.
FAST: dict[str, dict] = {
    "target_only": {"target_params": {"num_boost_round": 20}},
    "source_only": {"source_params": {"num_boost_round": 20}},
    "pooled": {"source_params": {"num_boost_round": 20}, "target_params": {"num_boost_round": 20}},
    "boost_continue": {"source_params": {"num_boost_round": 20}, "rounds": 10},
    "representation": {
        "embedding_epochs": 1,
        "source_params": {"num_boost_round": 20},
        "target_params": {"num_boost_round": 20},
    },
    "l2sp": {"hidden": [8], "source_epochs": 1, "epochs": 2, "batch_size": 256},
}
#: One small panel per frequency: periods, target periods, horizon, target history.
PANELS = {
    "daily": ("D", 110, 45, 7, 21),
    "weekly": ("W-SUN", 80, 30, 6, 13),
    "monthly": ("ME", 48, 20, 4, 10),
    "quarterly": ("QS", 28, 12, 2, 6),
    "yearly": ("YE-DEC", 20, 10, 2, 6),
}


def frame_at(freq: str, n_periods: int, target_periods: int, **kw) -> pd.DataFrame:
    kw = {"n_domains": 6, "series_per_domain": 1, "n_targets": 2, **kw}
    return synthetic_sales(
        n_periods=n_periods, target_periods=target_periods, freq=freq, seed=1, **kw
    )


def raw_config(frame: pd.DataFrame, freq: str, horizon: int, history: int, **kw) -> dict:
    return synthetic_config(
        "sales.csv",
        frame.attrs["targets"],
        horizon=horizon,
        target_history=history,
        windows=1,
        freq=freq,
        **kw,
    )


def task_at(name: str, **features) -> TransferTask:
    freq, n, tp, horizon, history = PANELS[name]
    frame = frame_at(freq, n, tp)
    raw = raw_config(frame, freq, horizon, history)
    raw["features"] = features
    return TransferTask.from_config(parse_config(raw), data=frame)


# -- the defaults ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("D", "daily"),
        ("W", "weekly"),
        ("W-FRI", "weekly"),
        ("W-MON", "weekly"),
        ("MS", "monthly"),
        ("ME", "monthly"),
        ("QS", "quarterly"),
        ("QE-DEC", "quarterly"),
        ("QS-FEB", "quarterly"),
        ("YS", "yearly"),
        ("YE-DEC", "yearly"),
    ],
)
def test_every_alias_of_the_five_frequencies_has_defaults(alias, name):
    assert frequency_defaults(alias).name == name


@pytest.mark.parametrize("alias,name", [("M", "monthly"), ("Q", "quarterly"), ("Y", "yearly")])
def test_a_deprecated_alias_has_its_current_spellings_defaults_in_silence(alias, name):
    """configuration.md reads M, Q, A and Y as ME, QE-DEC and YE-DEC: the public helper did
    too, but let pandas 2's FutureWarning through (pandas 3 refuses them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert frequency_defaults(alias).name == name


def test_weekly_defaults_are_exactly_the_former_fixed_ones():
    spec = resolve_features(FeaturesConfig(), "W-FRI")
    assert spec.lags == [1, 2, 3, 4, 5, 6, 8, 13, 26, 52]
    assert spec.windows == [4, 13, 26]
    assert (spec.level_window, spec.season_length, spec.source_window) == (8, 52, 156)


def test_defaults_follow_the_frequency_and_a_config_key_wins():
    monthly = resolve_features(FeaturesConfig(), "MS")
    assert monthly.season_length == 12 and max(monthly.lags) == 12
    assert resolve_features(FeaturesConfig(), "QE").season_length == 4
    assert resolve_features(FeaturesConfig(), "YE-DEC").season_length == 1
    daily = resolve_features(FeaturesConfig(), "D")
    assert daily.season_length == 364 and 7 in daily.lags
    mine = resolve_features(FeaturesConfig(lags=[1, 2], season_length=6), "MS")
    assert (mine.lags, mine.season_length, mine.windows) == ([1, 2], 6, [2, 6, 12])


# -- the arithmetic never wraps a negative position around ----------------------------------------
def test_windows_before_the_first_period_are_empty_not_wrapped():
    rng = np.random.default_rng(0)
    Y = rng.uniform(1, 2, (2, 12))
    sums = _Sums(Y)
    i = np.array([0, 0, 1, 1, 1])
    a = np.array([-1, -48, -3, 2, 11])
    s, c = sums.window(i, a, 4)
    for k in range(len(i)):
        lo, hi = max(a[k] - 3, 0), max(a[k] + 1, 0)
        assert c[k] == hi - lo
        np.testing.assert_allclose(s[k], Y[i[k], lo:hi].sum())
    assert np.isnan(_take(Y, i, a - 1)[:3]).all()


def test_same_period_last_year_never_reads_past_the_anchor():
    # a season of 4 with a horizon of 6: steps 5 and 6 would read after the anchor
    task = task_at("monthly", season_length=4)
    task.horizon = 6
    origin = task.evaluation_origins()[-1]
    tables = OriginTables(task, task.at_origin(origin), task.features)
    src = tables.source
    h = src.keys["h"].to_numpy()
    assert src.X.loc[h > 4, "sply"].isna().all()
    assert src.X.loc[h <= 4, "sply"].notna().any()


@pytest.mark.parametrize(
    ("name", "calendar", "seasonal"),
    [
        ("daily", ["dayofweek", "week", "month"], True),
        ("weekly", ["week", "month"], True),
        ("monthly", ["month"], True),
        ("quarterly", ["quarter"], True),
        ("yearly", [], False),
    ],
)
def test_calendar_and_seasonal_features_suit_the_frequency(name, calendar, seasonal):
    task = task_at(name)
    tables = OriginTables(task, task.at_origin(task.evaluation_origins()[-1]), task.features)
    cols = list(tables.source.X.columns)
    assert [c for c in cols if c in ("dayofweek", "week", "month", "quarter")] == calendar
    assert ("sply" in cols and "growth" in cols) == seasonal
    assert f"lag{max(task.features.lags)}" in cols


def test_a_young_yearly_target_is_young_for_the_history_length_features():
    # no season: young means shorter than the longest lag or window (10 years), not 2 periods
    task = task_at("yearly")
    tables = OriginTables(task, task.at_origin(task.evaluation_origins()[-1]), task.features)
    assert tables.builder.age_window == 10
    assert tables.target_age == 6
    i, _, _ = tables.builder.training_rows(
        tables.data.panel,
        tables.data.source_rows,
        tables.data.origin_idx,
        task.horizon,
        window=task.features.source_window,
    )
    assert len(tables.source) > len(i)  # the source rows again, as young as the target


def test_the_seasonal_index_groups_by_the_position_in_the_year():
    task = task_at("monthly")
    tables = OriginTables(task, task.at_origin(task.evaluation_origins()[-1]), task.features)
    profile, _ = source_profiles(tables)
    assert set(profile.index) == set(range(1, 13))  # months, not ISO weeks
    task = task_at("quarterly")
    tables = OriginTables(task, task.at_origin(task.evaluation_origins()[-1]), task.features)
    assert set(source_profiles(tables)[0].index) == {1, 2, 3, 4}


def test_yearly_similarity_has_no_seasonal_index():
    task = task_at("yearly")
    table = similarity(task)
    assert table["season_corr"].isna().all()
    assert not table["season_unseen"].any() and (table["season_gap"] == 0).all()
    assert table["scale_ratio"].notna().all()


@pytest.mark.parametrize("name", ["monthly", "quarterly"])
def test_a_related_target_has_a_finite_season_correlation(name):
    freq, n, _, horizon, _ = PANELS[name]
    frame = frame_at(freq, n, n // 2)
    task = TransferTask.from_config(
        parse_config(raw_config(frame, freq, horizon, n // 2)), data=frame
    )
    assert (similarity(task)["season_corr"] > 0.5).all()


# -- every strategy at every frequency ------------------------------------------------------------
@pytest.mark.parametrize("name", list(PANELS))
def test_compare_runs_every_strategy_at_every_frequency(name):
    task = task_at(name)
    comp = tc.compare(task, STRATEGIES, params=FAST)
    scores = comp.scores
    assert (scores["status"] == "ok").all(), scores.loc[scores["status"] != "ok", "error"].tolist()
    assert set(scores["strategy"]) == set(STRATEGIES)
    assert np.isfinite(scores[["wape", "mae", "rmse"]].to_numpy(float)).all()
    fc = comp.forecasts
    assert set(fc["strategy"]) == set(STRATEGIES)
    assert np.isfinite(fc["forecast"].to_numpy(float)).all()
    freq = PANELS[name][0]
    steps = pd.date_range(fc["origin"].min(), periods=task.horizon + 1, freq=freq)[1:]
    first = fc[fc["origin"] == fc["origin"].min()]
    assert set(pd.to_datetime(first["ds"])) == set(steps)  # forecasts on the frequency's grid


def write_project(root: Path, frame: pd.DataFrame, raw: dict, params: dict | None = None) -> Path:
    """``sales.csv`` and ``config.toml`` (output in ``out``; ``params`` as
    ``[strategies.NAME]`` tables, nested tables inline) in ``root``."""
    frame.to_csv(root / "sales.csv", index=False)
    text = to_toml({**raw, "output": {"dir": "out"}})
    for name, table in (params or {}).items():
        text += f"\n[strategies.{name}]\n"
        for key, value in table.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{k} = {v!r}" for k, v in value.items())
                text += f"{key} = {{ {inner} }}\n"
            else:
                text += to_toml({key: value})
    (root / "config.toml").write_text(text)
    return root / "config.toml"


@pytest.mark.slow
def test_an_annual_panel_of_46_domains_and_30_years_compares_every_strategy(tmp_path):
    frame = synthetic_sales(
        n_domains=46,
        series_per_domain=1,
        n_periods=30,
        n_targets=5,
        target_periods=30,
        freq="YE-DEC",
    )
    raw = raw_config(frame, "YE-DEC", 5, 8)
    raw["evaluate"]["windows"] = 2
    raw["strategy"]["candidates"] = STRATEGIES
    config = write_project(tmp_path, frame, raw, FAST)
    res = invoke("compare", config)
    assert res.code == 0, res.err
    scores = pd.read_csv(tmp_path / "out" / "scores.csv")
    assert (scores["status"] == "ok").all()
    assert set(scores["strategy"]) == set(STRATEGIES)
    assert np.isfinite(scores["wape"]).all()
    forecasts = pd.read_csv(tmp_path / "out" / "forecasts.csv")
    assert np.isfinite(forecasts["forecast"]).all()


def test_run_similarity_and_predict_on_a_quarterly_panel(tmp_path):
    freq, n, tp, horizon, history = PANELS["quarterly"]
    frame = frame_at(freq, n, tp)
    raw = raw_config(frame, freq, horizon, history)
    raw["strategy"]["name"] = "pooled"
    config = write_project(tmp_path, frame, raw, {"pooled": FAST["pooled"]})
    res = invoke("run", config)
    assert res.code == 0, res.err
    run = pd.read_csv(tmp_path / "out" / "forecasts.csv")
    assert len(run) == 2 * horizon and np.isfinite(run["forecast"]).all()
    res = invoke("similarity", config)
    assert res.code == 0, res.err
    res = invoke(
        "predict",
        tmp_path / "out" / "model",
        "--data",
        tmp_path / "sales.csv",
        "--output",
        tmp_path / "predicted.csv",
    )
    assert res.code == 0, res.err
    predicted = pd.read_csv(tmp_path / "predicted.csv")
    np.testing.assert_allclose(predicted["forecast"], run["forecast"])


@pytest.mark.parametrize(("alias", "current"), [("M", "ME"), ("Q", "QE-DEC"), ("A", "YE-DEC")])
def test_an_alias_pandas_deprecated_is_read_as_its_current_spelling(tmp_path, alias, current):
    # "M" used to print pandas' deprecation warning at every date range and grid check: dozens
    # of identical lines on stderr for one run, and in the model bundle
    freq = {"M": "ME", "Q": "QE-DEC", "A": "YE-DEC"}[alias]
    frame = frame_at(freq, 24, 12)
    raw = raw_config(frame, freq, 2, 6)
    raw["data"]["freq"] = alias
    raw["strategy"]["name"] = "source_only"
    config = write_project(tmp_path, frame, raw, {"source_only": FAST["source_only"]})
    assert parse_config(raw).data.freq == current
    res = invoke("run", config)
    assert res.code == 0, res.err
    assert "deprecated" not in res.err, res.err
    run = pd.read_csv(tmp_path / "out" / "forecasts.csv")
    last = pd.Timestamp(frame["date"].max())
    steps = pd.date_range(last, periods=3, freq=freq)[1:]
    assert set(pd.to_datetime(run["date"])) == set(steps)  # on the grid the data are on
    manifest = (tmp_path / "out" / "model" / "manifest.json").read_text()
    assert f'"freq": "{current}"' in manifest


def test_similarity_names_an_origin_off_the_grid_as_such(tmp_path):
    # a quarterly --origin between two quarters was "outside the data (2019-.. to 2025-..)"
    freq, n, tp, horizon, history = PANELS["quarterly"]
    frame = frame_at(freq, n, tp)
    config = write_project(tmp_path, frame, raw_config(frame, freq, horizon, history))
    inside = pd.Timestamp(frame["date"].max()) - pd.DateOffset(months=2)
    res = invoke("similarity", config, "--origin", inside.date())
    assert res.code == 2, res.err
    assert res.err.strip() == f"error: --origin {inside.date()} is not on the 'QS' grid"
    res = invoke("similarity", config, "--origin", "2090-01-01")
    assert res.code == 2 and "--origin 2090-01-01 is after the last period" in res.err, res.err
    assert not (tmp_path / "out").exists()


def test_a_numeric_domain_is_named_as_written_in_messages(tmp_path):
    # stores 1..6 as numbers: the skipped cells' reason said "target domain np.int64(5)"
    freq, n, tp, horizon, _ = PANELS["monthly"]
    frame = frame_at(freq, n, 3)
    frame["store"] = frame["store"].str[1:].astype(int)
    raw = raw_config(frame, freq, 2, None, candidates=["target_only"])
    raw["task"]["targets"] = [5, 6]
    raw["task"].pop("target_history")
    config = write_project(tmp_path, frame, raw, {"target_only": FAST["target_only"]})
    res = invoke("compare", config)  # every cell skipped: the error quotes the first reason
    assert res.code == 2, res.err
    assert "every cell was skipped (first: strategy 'target_only', target domain 5 at origin" in (
        res.err
    )
    assert "np.int64" not in res.out + res.err


def test_dates_off_the_grid_are_named_with_their_series_and_the_grid_they_lie_on():
    """The error for dates off ``[data] freq`` names the first series holding them and the
    grid the dates lie on: daily data whose holidays no store has ("D"; before: no hint, as
    pandas infers no grid with gaps), calendar quarters ("QS", before: "QS-OCT"); weekly data
    dated on two weekdays gets no daily hint."""

    kw = dict(series=["store", "dept"], time="date", target="sales", domain="store")
    daily = frame_at("D", 60, 60)
    daily = daily[~pd.to_datetime(daily["date"]).isin(pd.to_datetime(["2020-01-10", "2020-01-25"]))]
    with pytest.raises(DataError, match=r"the dates lie on the 'D' grid: set \[data\] freq = 'D'"):
        standardize(daily, freq="W-FRI", **kw)
    business = daily[pd.to_datetime(daily["date"]).dt.dayofweek < 5]  # weekdays only: 'B'
    with pytest.raises(DataError, match=r"the dates lie on the 'B' grid: set \[data\] freq = 'B'"):
        standardize(business, freq="W-FRI", **kw)
    quarters = frame_at("QS", 12, 12)
    said = r"\(\d+ rows of 6 series, first 'S01\|D1'\); the dates lie on the 'QS' grid: set "
    with pytest.raises(DataError, match=said + r"\[data\] freq = 'QS'"):
        standardize(quarters, freq="QE", **kw)
    weekly = frame_at("W-SUN", 20, 20)
    dates = pd.to_datetime(weekly["date"])
    weekly["date"] = dates.where(weekly["store"] != "S03", dates + pd.Timedelta(days=1))
    with pytest.raises(DataError) as caught:
        standardize(weekly, freq="W-SUN", **kw)
    said = str(caught.value)
    assert re.search(r"is not on the 'W-SUN' grid \(20 rows of 1 series, first 'S03\|D1'\); ", said)
    # the hint names both grids (before: nothing, so a user met one half of the file at a time)
    assert said.endswith(
        "those series' dates lie on the 'W-MON' grid, the others' on the 'W-SUN' grid: write "
        "every domain on one grid"
    )
    daymonth = frame_at("W-SUN", 20, 20)  # written day-first: the error shows it as written
    daymonth["date"] = (pd.to_datetime(daymonth["date"]) + pd.Timedelta(days=1)).dt.strftime(
        "%d.%m.%Y"
    )
    with pytest.raises(DataError, match=r"2019-01-07 \(written '07\.01\.2019'\) is not on"):
        standardize(daymonth, freq="W-SUN", **kw)


def test_a_month_end_written_on_a_friday_is_named_without_a_business_month_hint():
    """pandas reads month ends with one February dated the 28th (a Friday) as business month
    ends; the hint said "set [data] freq = 'BME'", on which most of the dates are not (and the
    next run's error said the dates were off the 'BME' grid and on it)."""
    kw = dict(series=["s"], time="date", target="sales", domain="d")
    ends = pd.date_range("2019-01-31", periods=24, freq="ME")
    dates = ends.where(ends != pd.Timestamp("2020-02-29"), pd.Timestamp("2020-02-28"))
    frame = pd.DataFrame({"s": "a", "d": "x", "date": dates, "sales": 1.0})
    with pytest.raises(DataError) as caught:
        standardize(frame, freq="ME", **kw)
    assert str(caught.value).endswith(
        "2020-02-28 is not on the 'ME' grid (1 rows of 1 series, first 'a')"
    )


@pytest.mark.parametrize("freq", ["0D", "0MS", "-1W-FRI"])
def test_a_frequency_whose_periods_do_not_advance_is_refused(freq):
    """Before: ZeroDivisionError from pandas' date range (data.py), or an off-grid hint."""
    frame = frame_at("MS", 12, 12)
    said = rf"^\[data\] freq '{freq}': a period is a positive multiple of its unit "
    with pytest.raises(tc.TransfercastError, match=said + r"\(1D, 2W, MS\)$"):
        TransferTask(frame, series=["store", "dept"], time="date", target="sales",
                     domain="store", targets=["S06"], horizon=2, freq=freq)  # fmt: skip


def test_the_start_of_year_alias_pandas_deprecated_reads_as_its_new_spelling():
    """AS and AS-JUL (pandas 2.2 deprecated them for YS; pandas 3 has only YS) read as YS."""
    from transfercast.frequency import current_alias

    assert [current_alias(a) for a in ("AS", "AS-JUL", "BAS")] == ["YS-JAN", "YS-JUL", "BYS-JAN"]


def test_a_year_of_months_written_day_first_reads_as_months_on_a_monthly_grid():
    """``01/02/2021`` .. ``01/12/2021`` (a UK export of one year's months) read month-first
    span 11 days, so the shortest-span rule read them as twelve January days and the error
    named 2021-01-02, a date the file does not hold, and advised ``freq = 'D'``. The reading
    on the ``[data] freq`` grid wins."""
    kw = dict(series=["store", "dept"], time="date", target="sales", domain="store")
    frame = frame_at("MS", 12, 12, start="2021-01-01")
    frame["date"] = pd.to_datetime(frame["date"]).dt.strftime("%d/%m/%Y")
    assert frame["date"].iloc[1] == "01/02/2021"
    out = standardize(frame, freq="MS", **kw)
    assert sorted(out["ds"].unique()) == list(pd.date_range("2021-01-01", periods=12, freq="MS"))
    # on neither reading's grid (the default W-FRI): ambiguous, both grids named (before: the
    # error advised freq 'D', which read twelve January days in silence)
    said = (
        r"'01/02/2021' reads day-first \(dates on the 'MS' grid\) or month-first \(on the 'D' "
        r"grid\), neither \[data\] freq 'W-FRI'"
    )
    with pytest.raises(DataError, match=said):
        standardize(frame, freq="W-FRI", **kw)


def test_weekly_sources_beside_a_daily_target_are_named_in_the_gaps_warning():
    """Weekly sources and a daily target with ``freq = "D"``: the panel's dates lie on the
    daily grid, so the warning advised writing six of seven days with 0. It names the series
    on a grid of their own."""
    from transfercast.data import DataWarning

    kw = dict(series=["store", "dept"], time="date", target="sales", domain="store")
    weekly = frame_at("W-FRI", 30, 30)
    weekly = weekly[~weekly["store"].isin(["S05", "S06"])]
    daily = frame_at("D", 60, 60).query("store in ['S05', 'S06']")
    with pytest.warns(DataWarning) as caught:
        standardize(pd.concat([weekly, daily], ignore_index=True), freq="D", **kw)
    text = " ".join(str(w.message) for w in caught)
    assert (
        "most of their periods are missing and 4 series lie on the 'W-FRI' grid (first 'S01|D1')"
        in (text)
    )
    assert "write it with 0" not in text
    # one weekly source among more daily series: named too, not told to write zeros
    days = frame_at("D", 60, 60)
    few = pd.concat([weekly[weekly["store"] == "S01"], days[days["store"] != "S01"]])
    with pytest.warns(DataWarning) as caught:
        standardize(few, freq="D", **kw)
    text = " ".join(str(w.message) for w in caught)
    assert "1 series lies on the 'W-FRI' grid (first 'S01|D1')" in text, text
    assert "write it with 0" not in text


def test_dates_between_the_periods_of_an_hourly_or_two_weekly_grid_are_refused():
    """pandas reads 05:30 as on an hourly offset and either Friday as on a two-week one: such
    rows were taken in and written into the grid's last period (the last forecast's price,
    a fake origin) or crashed the panel. The grid runs from the data's first period."""

    kw = dict(series=["store", "dept"], time="date", target="sales", domain="store")
    hourly = frame_at("D", 60, 60)
    days = (pd.to_datetime(hourly["date"]) - pd.to_datetime(hourly["date"]).min()).dt.days
    hourly["date"] = pd.Timestamp("2024-03-01") + pd.to_timedelta(days, unit="h")
    standardize(hourly, freq="h", **kw)  # on the grid: taken
    hourly.loc[hourly.index[7], "date"] = hourly["date"].iloc[7] + pd.Timedelta(minutes=30)
    with pytest.raises(DataError, match=r"2024-03-01 07:30:00 is not on the 'h' grid \(1 rows"):
        standardize(hourly, freq="h", **kw)
    weekly = frame_at("W-FRI", 40, 40)
    dates = pd.to_datetime(weekly["date"])
    every_other = weekly[((dates - dates.min()).dt.days // 7) % 2 == 0].copy()
    standardize(every_other, freq="2W-FRI", **kw)
    every_other["date"] = pd.to_datetime(every_other["date"]).where(
        every_other["store"] != "S03", pd.to_datetime(every_other["date"]) + pd.Timedelta(weeks=1)
    )
    with pytest.raises(
        DataError,
        match=r"is not on the '2W-FRI' grid \(\d+ rows of 1 series, "
        r"first 'S03\|D1'\)",
    ):
        standardize(every_other, freq="2W-FRI", **kw)


def hourly_task() -> TransferTask:
    """The daily test panel read as hourly: day k is hour k from 2024-03-01 00:00."""
    frame = frame_at("D", 60, 60)
    days = (pd.to_datetime(frame["date"]) - pd.to_datetime(frame["date"]).min()).dt.days
    frame["date"] = pd.Timestamp("2024-03-01") + pd.to_timedelta(days, unit="h")
    features = {"lags": [1, 24], "windows": [24], "level_window": 24, "season_length": 24}
    return TransferTask(
        frame, series=["store", "dept"], time="date", target="sales", domain="store",
        targets=["S05"], horizon=6, freq="h", features={**features, "source_window": 30},
    )  # fmt: skip


def test_an_hourly_origin_between_two_hours_is_named_off_the_grid():
    """It was "outside the data (2024-03-01 to ...)", a range that holds it."""
    task = hourly_task()
    for call in (lambda: task.check_origins(["2024-03-02 05:30"]),
                 lambda: task.at_origin(pd.Timestamp("2024-03-02 05:30"))):  # fmt: skip
        with pytest.raises(tc.TransfercastError, match=r"^origin 2024-03-02 05:30:00 is not on "
                           r"the 'h' grid$"):  # fmt: skip
            call()


def test_hourly_data_get_the_hour_and_the_day_of_week_as_calendar_features():
    """A frequency without defaults had no calendar features: hourly sales had none of their
    daily cycle but what the lags carry. The values are the forecast period's."""
    from transfercast.frequency import calendar_columns

    assert calendar_columns("B") == ("dayofweek", "week")
    assert calendar_columns("2W-FRI") == ("week", "month")
    task = hourly_task()
    origin = task.evaluation_origins()[-1]
    tables = OriginTables(task, task.at_origin(origin), task.features)
    table = tables.source
    when = pd.DatetimeIndex(table.keys["ds"])
    np.testing.assert_array_equal(table.X["hour"], when.hour)
    np.testing.assert_array_equal(table.X["dayofweek"], when.dayofweek)
    assert "week" not in table.X


def test_monthly_dates_read_as_daily_get_a_hint_at_the_frequency():
    # "MS" dates with [data] freq = "D": 29 of 30 days of each series "missing", and the warning
    # counted them as gaps without a word on why
    from transfercast.data import DataWarning, standardize

    frame = frame_at("MS", 24, 24)
    kw = dict(series=["store", "dept"], time="date", target="sales", domain="store")
    with pytest.warns(DataWarning) as caught:
        standardize(frame, freq="D", **kw)
    text = " ".join(str(w.message) for w in caught)
    assert "most periods are missing and the dates lie on the 'MS' grid: check [data] freq 'D'" in (
        text
    )
    gappy = frame.drop(index=[3, 4])  # real gaps in monthly data: no hint
    with pytest.warns(DataWarning) as caught:
        standardize(gappy, freq="MS", **kw)
    assert "2 periods missing" in str(caught[0].message)
    assert "check [data] freq" not in str(caught[0].message)


# -- short data and settings a frequency cannot serve ---------------------------------------------
def test_a_history_shorter_than_the_season_and_the_lags_forecasts_with_missing_features():
    # quarterly, 3 periods of target history: no lag 4 or 8, no same quarter last year
    task = task_at("quarterly")
    task.target_history = 3
    origin = task.evaluation_origins()[-1]
    target = OriginTables(task, task.at_origin(origin), task.features).target(task.targets[0])
    assert len(target) and target.X[["lag4", "lag8", "sply"]].isna().all().all()
    comp = tc.compare(task, ["source_only", "target_only"], params=FAST)
    assert (comp.scores["status"] == "ok").all()
    assert np.isfinite(comp.forecasts["forecast"]).all()


def test_a_season_longer_than_the_data_leaves_its_features_missing():
    # the crash of issue 24: a 52-period season on 28 quarters indexed before the first period
    task = task_at("quarterly", season_length=52, lags=[1, 2, 52], windows=[4, 60])
    origin = task.evaluation_origins()[-1]
    tables = OriginTables(task, task.at_origin(origin), task.features)
    src = tables.source
    assert src.X[["sply", "growth", "lag52", "mean60"]].isna().all().all()
    assert src.X["lag1"].notna().any()
    comp = tc.compare(task, ["source_only", "target_only"], params=FAST)
    assert (comp.scores["status"] == "ok").all()
    assert np.isfinite(comp.forecasts["forecast"]).all()


#: The catalogue rows (docs/bad-inputs.md, "Frequencies and short data") that stop a run:
#: case id -> (config change, message pattern).
ERRORS = {
    "frequency without defaults": (
        {"data": {"freq": "2W-SUN"}},
        r"\[data\] freq '2W-SUN' has no default \[features\] lags; set lags, windows, "
        r"level_window, season_length, source_window in \[features\]",
    ),
    "dates on a grid with another anchor": (
        {"data": {"freq": "YS-JUL"}},
        r"is not on the 'YS-JUL' grid \(\d+ rows of \d+ series, first '\w+\|\w+'\); the dates lie "
        r"on the 'YE-DEC' grid: set "
        r"\[data\] freq = 'YE-DEC' \(freq= in Python\)$",
    ),
    "unknown frequency": (
        {"data": {"freq": "fortnight"}},
        r"\[data\] freq 'fortnight' is not a pandas offset alias",
    ),
    "lag of zero periods": (
        {"features": {"lags": [0, 1]}},
        r"\[features\] key 'lags': periods must be at least 1, got 0",
    ),
    "season length of zero": (
        {"features": {"season_length": 0}},
        r"\[features\] key 'season_length': Input should be greater than or equal to 1",
    ),
    "data too short for any source training row": (
        {"periods": 4, "task": {"horizon": 1, "target_history": 2}},
        r"no source series has a training row up to the origin 2021-12-31: a row needs 3 "
        r"observed periods within its recent level window \(\[features\] level_window = 3 "
        r"periods\) and one to learn from after it; the source series have at most 3 observed "
        r"in any 3 consecutive periods \(3 in all\)",
    ),
    "horizon longer than the yearly data": (
        {"task": {"horizon": 40}},
        r"\[task\] horizon 40 is longer than the data allows: the targets have 20 periods",
    ),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_settings_the_data_cannot_serve_stop_with_one_line(tmp_path, case):
    change, pattern = ERRORS[case]
    freq, n, _, horizon, history = PANELS["yearly"]
    change = dict(change)
    n = change.pop("periods", n)
    frame = frame_at(freq, n, n)
    raw = raw_config(frame, freq, horizon, history, candidates=["target_only", "source_only"])
    for section, values in change.items():
        raw.setdefault(section, {}).update(values)
    config = write_project(tmp_path, frame, raw)
    res = invoke("compare", config)
    assert res.code == 2, (res.code, res.err)
    lines = [ln for ln in res.err.splitlines() if ln.strip() and "━" not in ln]  # no progress
    assert len(lines) == 1 and "Traceback" not in res.err, res.err
    assert re.search(pattern, lines[0]), lines[0]


def test_a_frequency_without_defaults_runs_with_every_period_key_set():
    frame = frame_at("W-SUN", 80, 80).iloc[::2]  # every other week: a two-week grid
    frame.attrs["targets"] = ["S05", "S06"]
    raw = raw_config(frame, "2W-SUN", 3, 8)
    raw["features"] = {
        "lags": [1, 2, 26],
        "windows": [2, 6],
        "level_window": 4,
        "season_length": 26,
        "source_window": 40,
    }
    task = TransferTask.from_config(parse_config(raw), data=frame)
    comp = tc.compare(task, ["source_only", "target_only"], params=FAST)
    assert (comp.scores["status"] == "ok").all()
    assert np.isfinite(comp.forecasts["forecast"]).all()


def test_every_frequency_row_of_the_catalogue_is_a_case_here():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "bad-inputs.md").read_text()
    section = doc.split("## Frequencies and short data")[1].split("\n## ")[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("| ") and "---" not in ln][1:]
    cases = {ln.rstrip(" |").rsplit("|", 1)[1].strip().strip("`") for ln in rows}
    tests = {n for n in globals() if n.startswith("test_")}
    assert cases and cases <= set(ERRORS) | tests, cases - set(ERRORS) - tests
    assert set(ERRORS) <= cases


def test_the_python_api_reads_a_deprecated_alias_as_its_current_spelling():
    frame = synthetic_sales(
        n_domains=6, series_per_domain=2, n_targets=2, n_periods=60, target_periods=24, freq="ME"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # pandas' deprecation of "M"
        task = tc.TransferTask(
            frame, series=["store", "dept"], time="date", target="sales", domain="store",
            targets=frame.attrs["targets"], horizon=3, freq="M",
        )  # fmt: skip
        assert task.freq == "ME" and len(task.evaluation_origins()) >= 1


def test_an_hourly_origin_with_a_utc_offset_is_that_instant_in_utc():
    """Hourly periods with offsets are read in UTC; an origin with an offset kept its clock
    time and lost the offset (12:00+02:00 read as 12:00 UTC, two hours after the one meant).
    Where the times have no offset, in which zone they are is not known: an error."""
    naive = hourly_task()
    frame = naive.frame[["store", "dept", "sales", "date"]].assign(
        date=lambda f: pd.to_datetime(f["date"]).dt.tz_localize("UTC")
    )
    task = TransferTask(
        frame, series=["store", "dept"], time="date", target="sales", domain="store",
        targets=["S05"], horizon=6, freq="h", features=naive.features,
    )  # fmt: skip
    task.set_origin("2024-03-02T12:00:00+02:00")
    assert task.origin == pd.Timestamp("2024-03-02 10:00")
    assert task.check_origins(["2024-03-02T12:00:00+02:00"]) == [pd.Timestamp("2024-03-02 10:00")]
    said = r"^origin '2024-03-02T12:00:00\+02:00' has a UTC offset, and the times in column "
    with pytest.raises(DataError, match=said + r"'date' have none: write it as they are written$"):
        naive.set_origin("2024-03-02T12:00:00+02:00", "origin")
    naive.set_origin("2024-03-02T12:00:00Z")  # UTC: the same clock time either way
    assert naive.origin == pd.Timestamp("2024-03-02 12:00")


def test_an_hourly_period_column_keeps_its_hours():
    """``Period[h]`` values were read at midnight of their day: every hour a duplicate."""
    frame = pd.DataFrame(
        {"store": "S1", "dept": "D1", "sales": np.arange(30.0),
         "date": pd.period_range("2024-03-01 00:00", periods=30, freq="h")}
    )  # fmt: skip
    out = standardize(frame, series=["store", "dept"], time="date", target="sales",
                      domain="store", freq="h")  # fmt: skip
    assert list(out["ds"]) == list(pd.date_range("2024-03-01", periods=30, freq="h"))


def test_a_repeated_hour_or_two_spellings_of_a_date_are_named_in_the_duplicate_error():
    frame = frame_at("D", 40, 40)
    kw = dict(series=["store", "dept"], time="date", target="sales", domain="store")
    text = frame.assign(date=pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d"))
    late = text[pd.to_datetime(text["date"]).dt.day > 12].iloc[[0]]  # reads one way only
    other = late.assign(date=pd.to_datetime(late["date"]).dt.strftime("%d.%m.%Y"))
    with pytest.raises(DataError, match=r"written '\d{4}-\d\d-\d\d' and '\d\d\.\d\d\.\d{4}'$"):
        standardize(pd.concat([text, other]), freq="D", **kw)
    days = (pd.to_datetime(text["date"]) - pd.to_datetime(text["date"]).min()).dt.days
    hours = text.assign(date=pd.Timestamp("2026-10-25") + pd.to_timedelta(days, unit="h"))
    twice = pd.concat([hours, hours.iloc[[2]]])
    with pytest.raises(DataError, match=r"if summer time ended then, write the times with their "
                       r"UTC offset$"):  # fmt: skip
        standardize(twice, freq="h", **kw)
    march = hours.assign(date=hours["date"] - pd.Timedelta(days=238))  # 1 March, no clock change
    with pytest.raises(DataError, match=r"\+ 'date'\)$"):
        standardize(pd.concat([march, march.iloc[[5]]]), freq="h", **kw)
    # a time column named ds (Nixtla's long format) keeps the spellings the user wrote
    named_ds = pd.concat([text, other]).rename(columns={"date": "ds"})
    with pytest.raises(DataError, match=r"written '\d{4}-\d\d-\d\d' and '\d\d\.\d\d\.\d{4}'$"):
        standardize(named_ds, freq="D", **{**kw, "time": "ds"})


def berlin_hours(days: int = 21, start: str = "2026-03-16") -> pd.DataFrame:
    """Hourly sales of 4 stores x 2 departments open 08-20 Berlin time, across the spring
    change of the clocks (29 March), the times written as Berlin clock times without offset."""
    rng = np.random.default_rng(0)
    local = pd.date_range(start, periods=days * 24, freq="h", tz="Europe/Berlin")
    open_ = (local.hour >= 8) & (local.hour < 20)
    return pd.concat(
        [
            pd.DataFrame({"store": f"S{s}", "dept": f"D{d}", "sales": np.where(open_, 100.0, 5.0)
                          * rng.uniform(0.5, 1.5) * rng.lognormal(0, 0.05, len(local)),
                          "time": local.tz_localize(None).strftime("%Y-%m-%d %H:%M")})
            for s in range(4) for d in range(2)
        ],
        ignore_index=True,
    )  # fmt: skip


BERLIN = dict(series=["store", "dept"], time="time", target="sales", domain="store",
              targets=["S3"], horizon=6, freq="h",
              features={"lags": [1, 24], "windows": [24], "level_window": 24,
                        "season_length": 24, "source_window": 24 * 7})  # fmt: skip


def test_a_timezone_reads_local_hours_and_writes_the_forecasts_in_it(tmp_path):
    """Hourly times were read in UTC: the hour feature of a shop opening at 08:00 local moved
    by one at the change of the clocks (pooled WAPE 0.116 against 0.061 on a 6-store panel
    after it). With [data] timezone the hour is the local one, times without an offset are
    its clock times, and the forecasts are written in it with their offset."""
    frame = berlin_hours()
    task = TransferTask(frame, timezone="Europe/Berlin", **BERLIN)
    at = pd.Timestamp("2026-04-01 06:00")  # 08:00 in Berlin (summer time), in UTC
    assert (task.frame["ds"] == at).any() and task.settings()["timezone"] == "Europe/Berlin"
    tables = OriginTables(task, task.at_origin(task.evaluation_origins()[-1]), task.features)
    table = tables.source
    local = pd.DatetimeIndex(table.keys["ds"]).tz_localize("UTC").tz_convert("Europe/Berlin")
    np.testing.assert_array_equal(table.X["hour"], local.hour)
    model = tc.TransferForecaster("source_only", source_params={"num_boost_round": 5}).fit(task)
    fc = model.predict()
    assert str(fc["time"].dt.tz) == "Europe/Berlin" and len(fc) == 8 * 6 // 4
    task.set_origin("2026-04-05T12:00+02:00")  # with its offset: 10:00 UTC
    assert task.origin == pd.Timestamp("2026-04-05 10:00")
    origins = task.evaluation_origins()  # the task's own times (UTC) read back as they are
    assert task.check_origins(origins) == origins
    # messages give times in the zone while the task is at work, and only then
    with pytest.raises(DataError, match=r"origin 2026-04-05 12:30:00\+02:00 is not on the"):
        task.at_origin(pd.Timestamp("2026-04-05 10:30"))
    assert MESSAGE_ZONE.get() is None and period_text(origins[0]) == str(origins[0])


def test_a_timezone_names_a_bad_zone_daily_periods_and_a_clock_time_it_repeats():
    frame = berlin_hours(days=3, start="2026-10-24")
    bad = r"^\[data\] timezone 'Europe/Berln' is not a time zone \(did you mean 'Europe/Berlin'\?\)"
    with pytest.raises(tc.TransfercastError, match=bad):
        TransferTask(frame, timezone="Europe/Berln", **BERLIN)
    with pytest.raises(tc.TransfercastError, match=r"'W-FRI' periods are dates, which no time"):
        TransferTask(frame, timezone="Europe/Berlin", **{**BERLIN, "freq": "W-FRI"})
    naive = frame.assign(time=pd.to_datetime(frame["time"]))
    naive = naive.drop_duplicates(["store", "dept", "time"])  # 02:00 on 25 October, once
    with pytest.raises(DataError, match=r"column 'time' has 2026-10-25 02:00:00, a clock time "
                       r"that occurs twice or never in Europe/Berlin"):  # fmt: skip
        TransferTask(naive, timezone="Europe/Berlin", **BERLIN)


def test_run_and_predict_write_and_read_times_in_the_configs_timezone(tmp_path):
    """The config's [data] timezone reaches run, the bundle and predict: forecasts.csv holds
    Berlin times with their offset, and predict from the bundle gives the same file."""
    frame = berlin_hours()
    raw = {
        "data": {"path": "sales.csv", "series": ["store", "dept"], "time": "time",
                 "target": "sales", "domain": "store", "freq": "h", "timezone": "Europe/Berlin"},
        "task": {"targets": ["S3"], "horizon": 6},
        "features": BERLIN["features"],
        "strategy": {"name": "source_only"},
    }  # fmt: skip
    config = write_project(tmp_path, frame, raw, {"source_only": {"source_params": {
        "num_boost_round": 5}}})  # fmt: skip
    res = invoke("run", config)
    assert res.code == 0, res.err
    text = (tmp_path / "out" / "forecasts.csv").read_text().splitlines()
    assert text[1].split(",")[2].endswith("+02:00"), text[1]  # 6 April: summer time
    # the messages give the origin as the files give times (before: UTC without an offset)
    first = pd.Timestamp(text[1].split(",")[2])
    said = re.search(r"after the origin (\S+ \S+) ", res.out)
    assert said and pd.Timestamp(said[1]) == first - pd.Timedelta(hours=1), res.out
    assert said[1].endswith("+02:00"), res.out
    told = re.findall(r"origin (\d{4}-\d\d-\d\d[ 0-9:]*\S*)", res.out + res.err)
    assert told and all(t.endswith("+02:00") for t in told), told  # warnings too
    res = invoke("predict", tmp_path / "out" / "model", "--data", tmp_path / "sales.csv",
                 "--output", tmp_path / "p.csv")  # fmt: skip
    assert res.code == 0, res.err
    assert f"after the origin {said[1]} with" in res.out, res.out
    assert (tmp_path / "p.csv").read_text() == (tmp_path / "out" / "forecasts.csv").read_text()


def test_compare_with_a_timezone_scores_its_origins_and_resumes(tmp_path):
    """compare converted its own (UTC) origins again as Berlin clock times: the cells were
    stored under origins 1-2 hours off, and scores.csv and forecasts.csv came out empty with
    exit status 0."""
    frame = berlin_hours()
    raw = {
        "data": {"path": "sales.csv", "series": ["store", "dept"], "time": "time",
                 "target": "sales", "domain": "store", "freq": "h", "timezone": "Europe/Berlin"},
        "task": {"targets": ["S3"], "horizon": 6, "target_history": 48},
        "features": BERLIN["features"],
        "evaluate": {"windows": 2, "step": 24},
    }  # fmt: skip
    config = write_project(tmp_path, frame, raw)
    for extra in ([], ["--resume"]):
        res = invoke("compare", config, "--strategies", "naive,last_value", *extra)
        assert res.code == 0, res.err
        scores = pd.read_csv(tmp_path / "out" / "scores.csv")
        assert len(scores) == 2 * 2 and (scores["status"] == "ok").all()
        assert scores["origin"].str.endswith("+02:00").all()
        forecasts = pd.read_csv(tmp_path / "out" / "forecasts.csv")
        assert len(forecasts) == 2 * 2 * 2 * 6 and forecasts["time"].str.endswith("+02:00").all()
