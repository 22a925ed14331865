"""A change of regime (``[task] regime_start``, docs/regime-change.md) and the synthetic changes.

The task splits each target domain at its regime start: the periods before become a source
domain of their own (the old regime, series of their own), the periods from it on are the
target. Checked here: the split itself, its config forms (one date, a TOML table per domain, a
bare TOML date), its meeting with ``target_history`` and explicit ``sources``, that every table
and forecast at an origin ignores everything after it (in the style of ``test_leakage.py``),
that ``run`` and ``predict`` agree, and the generator's change of level, season and price
response (and that without a change its frames are the bytes they were before).
"""

from __future__ import annotations

import hashlib
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import transfercast as tc
from transfercast.cli import to_toml
from transfercast.config import (
    parse_config,
    tomllib,  # tomli on Python 3.10
)
from transfercast.data import DOMAIN, DS, UID
from transfercast.datasets import synthetic_config, synthetic_sales
from transfercast.errors import ConfigError
from transfercast.forecasting import OriginTables
from transfercast.report import forecasts_figure, report_html
from transfercast.similarity import REGIME_COLUMNS, similarity
from transfercast.testing import change_future

from .clirun import invoke

HORIZON = 6
CHANGE_AT = 100  # period index of the change: 2020-12-04
START = "2020-12-04"
KNOWN = ("price", "promo", "is_holiday")
GBM = {
    "source_params": {"num_boost_round": 12, "num_leaves": 7},
    "target_params": {"num_boost_round": 8, "num_leaves": 7},
}
PARAMS = {
    "target_only": GBM,
    "source_only": GBM,
    "pooled": GBM,
    "boost_continue": {  # its added trees' count is its own `rounds`, not target_params'
        "source_params": GBM["source_params"],
        "target_params": {"num_leaves": 7},
        "rounds": 10,
        "patience": 3,
    },
}


def changed_frame(change: str = "level", size: float = 0.5, **kw) -> pd.DataFrame:
    """8 stores x 2 departments over 120 weeks; the 2 targets have all of them and change at
    week 100 (2020-12-04)."""
    return synthetic_sales(
        n_domains=8,
        series_per_domain=2,
        n_periods=120,
        n_targets=2,
        target_periods=120,
        change_at=kw.pop("change_at", CHANGE_AT),
        change=change,
        change_size=size,
        **kw,
    )


def regime_raw(frame: pd.DataFrame, **task) -> dict:
    raw = synthetic_config("sales.csv", frame.attrs["targets"], horizon=HORIZON, windows=2)
    del raw["task"]["target_history"]
    raw["task"]["regime_start"] = START
    raw["task"].update(task)
    raw["task"] = {k: v for k, v in raw["task"].items() if v is not None}
    return raw


def regime_task(frame: pd.DataFrame, **task) -> tc.TransferTask:
    return tc.TransferTask.from_config(parse_config(regime_raw(frame, **task)), data=frame)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return changed_frame()


@pytest.fixture(scope="module")
def task(frame) -> tc.TransferTask:
    return regime_task(frame)


# -- the synthetic changes -------------------------------------------------------------------------
def _digest(frame: pd.DataFrame) -> str:
    """The SHA-256 of the frame's CSV text: the same under pandas 2 and 3 (whose hashes of the
    frame itself differ, by their string dtypes)."""
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


#: digests of frames made before the change arguments existed (the parent of the commit that
#: added them), CSV text as :func:`_digest` hashes it
DIGESTS = [
    (
        dict(
            n_domains=6, series_per_domain=2, n_periods=80, n_targets=2, target_periods=30, seed=3
        ),
        "a31e06620406ade768e63473f0d68ea59f5adae2aedcab99dd28587c246cee82",
    ),
    (
        dict(
            n_domains=5,
            series_per_domain=2,
            n_periods=40,
            n_targets=1,
            target_periods=20,
            relatedness=0.5,
            freq="MS",
        ),
        "e773d43da273f2bade840e4945231c35381253bf8acbe6b3746ca45adcb89123",
    ),
    (
        dict(
            n_domains=4, series_per_domain=1, n_periods=60, n_targets=1, target_periods=60, freq="D"
        ),
        "ab49635fa511bd2bf6895d176eff12500accce0ac3aee612e0cca6dddaeead21",
    ),
]


@pytest.mark.parametrize("kwargs,digest", DIGESTS)
def test_synthetic_sales_without_a_change_are_the_frames_of_before(kwargs, digest):
    frame = synthetic_sales(**kwargs)
    assert _digest(frame) == digest
    assert "change" not in frame.attrs


def test_synthetic_changes_touch_the_changed_domains_after_the_date_only():
    base = changed_frame(change_at=None)
    after = pd.to_datetime(base["date"]) >= START
    is_target = base["store"].isin(base.attrs["targets"])
    for kind, size in [("level", 0.5), ("season", 1.0), ("price", 1.0)]:
        frame = changed_frame(kind, size)
        assert frame.attrs["change"] == {
            "date": START,
            "kind": kind,
            "size": size,
            "domains": "targets",
        }
        ratio = frame["sales"] / base["sales"]
        assert np.allclose(ratio[~(after & is_target)], 1.0)
        moved = ratio[after & is_target]
        if kind == "level":
            np.testing.assert_allclose(moved, 1.5, rtol=1e-3)
        else:
            assert (np.abs(moved - 1) > 0.05).mean() > 0.3, kind
        # every store changes with change_domains="all"; the date can be given as a date
        every = changed_frame(kind, size, change_at=START, change_domains="all")
        assert np.allclose((every["sales"] / base["sales"])[~after], 1.0)
        assert not np.allclose((every["sales"] / base["sales"])[after & ~is_target], 1.0)


def test_synthetic_sales_without_noise_differ_only_by_the_noise():
    """``noise = 0`` keeps every other draw (prices, promotions, stores, the change), so the
    noiseless sales are the noisy ones' expected path: what `regime_change.py --floor` reads."""
    noisy, clean = changed_frame("level", 0.5), changed_frame("level", 0.5, noise=0.0)
    pd.testing.assert_frame_equal(noisy.drop(columns="sales"), clean.drop(columns="sales"))
    log_ratio = np.log(noisy["sales"] / clean["sales"])
    assert abs(log_ratio.mean()) < 0.01 and 0.05 < log_ratio.std() < 0.07  # lognormal(0, 0.06)


def test_a_format_change_gives_the_targets_the_season_of_the_format_y_sources():
    base = changed_frame(change_at=None)
    frame = changed_frame("format", 1.0, change_at=40)  # 80 weeks of the new format
    after = pd.to_datetime(frame["date"]) >= frame.attrs["change"]["date"]
    is_target = frame["store"].isin(frame.attrs["targets"])
    formats = frame.groupby("store")["format"].agg(lambda x: "".join(sorted(set(x))))
    assert list(formats) == ["X", "Y", "X", "Y", "X", "Y", "XY", "XY"]
    assert (frame.loc[is_target & after, "format"] == "Y").all()
    assert (frame.loc[is_target & ~after, "format"] == "X").all()
    # format X stores and the targets before the change sell as without a change
    ratio = frame["sales"] / base["sales"]
    x_source = frame["format"].eq("X") & ~is_target
    assert np.allclose(ratio[x_source | (is_target & ~after)], 1.0)
    assert not np.allclose(ratio[frame["format"].eq("Y") & ~is_target], 1.0)

    # after the change, the targets' weekly profile follows the format Y stores, not the X ones
    def profile(rows: pd.Series) -> pd.Series:
        sub = frame[rows & after]
        scaled = sub["sales"] / sub.groupby(["store", "dept"])["sales"].transform("mean")
        return scaled.groupby(sub["date"]).mean()

    target = profile(is_target)
    y_corr = target.corr(profile(frame["format"].eq("Y") & ~is_target))
    x_corr = target.corr(profile(x_source))
    assert y_corr > 0.6 and y_corr > x_corr + 0.5, (y_corr, x_corr)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(change="trend"), "change must be one of level, season, price, format"),
        (dict(change_domains="some"), "change_domains must be 'targets' or 'all'"),
        (dict(change_at=0), "leaves no period before or after the change"),
        (dict(change_at="2030-01-04"), "leaves no period before or after the change"),
        (dict(change_size=-1.0), "would make sales negative"),
    ],
)
def test_a_bad_synthetic_change_is_refused(kwargs, message):
    args = {"change_at": 30, **kwargs}
    with pytest.raises(ValueError, match=message):
        synthetic_sales(n_domains=4, n_targets=1, n_periods=60, **args)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(target_periods=150), r"target_periods must be from 1 to n_periods \(100\), got 150"),
        (dict(target_periods=0), r"target_periods must be from 1 to n_periods \(100\), got 0"),
        (dict(n_targets=-1), r"n_targets must be 0 or more and smaller than n_domains, got -1"),
    ],
)
def test_a_target_history_the_panel_cannot_hold_is_refused(kwargs, message):
    """Before: 150 periods of 100 gave the targets 50 rows, 0 gave them none, silently."""
    with pytest.raises(ValueError, match=message):
        synthetic_sales(n_domains=4, **{"n_targets": 1, "n_periods": 100, **kwargs})


def test_ten_years_of_weekly_sales_stay_positive():
    """The default layout grows linearly; a store shrinking 10 % a year turned negative after
    about nine and a half years (seed 1, store S13) before growth compounded past three."""
    frame = synthetic_sales(n_periods=520, seed=1)
    assert frame["sales"].min() > 0
    assert frame[frame["store"] == "S13"]["sales"].iloc[-1] > 1000


# -- the split -------------------------------------------------------------------------------------
def test_the_old_regime_is_a_source_domain_of_its_own(frame, task):
    plain = tc.TransferTask.from_config(
        parse_config(regime_raw(frame, regime_start=None)), data=frame
    )
    targets = frame.attrs["targets"]
    assert task.targets == plain.targets == targets
    assert task.old_regimes == {t: f"{t} (before {START})" for t in targets}
    assert task.sources == [*plain.sources, *task.old_regimes.values()]
    assert task.settings()["regime_start"] == dict.fromkeys(targets, START)
    assert "regime_start" not in plain.settings()

    f = task.frame
    old = f[DOMAIN].isin(list(task.old_regimes.values()))
    assert (f.loc[old, DS] < START).all() and old.sum() == 2 * 2 * CHANGE_AT
    assert (f.loc[f[DOMAIN].isin(targets), DS] >= START).all()
    assert f.loc[old, UID].str.endswith(f" (before {START})").all()
    assert not set(f.loc[old, UID]) & set(f.loc[~old, UID])  # distinct series
    # a relabelling: the same values at the same periods, the user's columns untouched
    key = ["store", "dept", "date"]
    a, b = (x.sort_values(key).reset_index(drop=True) for x in (f, plain.frame))
    pd.testing.assert_frame_equal(a.drop(columns=[UID, DOMAIN]), b.drop(columns=[UID, DOMAIN]))
    # the backtest origins leave each target at least one period of its new regime
    assert min(task.evaluation_origins()) >= pd.Timestamp(START)


def test_a_static_column_may_change_at_the_regime_start():
    # a store converted to format Y: its old regime keeps format X, its new regime is format Y,
    # and the transfer strategies read the new format for the target's forecasts
    frame = changed_frame("format", 1.0)
    raw = regime_raw(frame)
    raw["data"]["static"].append("format")
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    formats = task.frame.groupby(DOMAIN)["format"].agg(lambda x: "".join(sorted(set(x))))
    assert formats[f"S07 (before {START})"] == "X" and formats["S07"] == "Y"
    origin = pd.Timestamp(START) + 9 * pd.offsets.Week(weekday=4)
    data = task.at_origin(origin)
    rows = np.concatenate(list(data.target_rows.values()))
    assert (data.panel.static["format"].to_numpy()[rows] == "Y").all()
    # the same new regime read as format X forecasts otherwise
    relabelled = frame.assign(
        format=frame["format"].where(~frame["store"].isin(frame.attrs["targets"]), "X")
    )
    as_x = tc.TransferTask.from_config(parse_config(raw), data=relabelled)
    y_fc, x_fc = (tc.compare(t, ["source_only"], origins=[origin]).forecasts for t in (task, as_x))
    assert not np.allclose(y_fc["forecast"], x_fc["forecast"], rtol=0.01)


def test_regime_start_per_target_domain_from_a_toml_table(frame):
    text = to_toml(regime_raw(frame, regime_start=None)).replace(
        "[task]", "[task]\nregime_start = { S08 = 2020-10-02 }"
    )
    raw = tomllib.loads(text)
    assert str(raw["task"]["regime_start"]["S08"]) == "2020-10-02"  # a bare TOML date
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    assert task.old_regimes == {"S08": "S08 (before 2020-10-02)"}
    assert (task.frame.loc[task.frame[DOMAIN] == "S07", DS].min()) == pd.Timestamp("2019-01-04")
    assert task.frame.loc[task.frame[DOMAIN] == "S08", DS].min() == pd.Timestamp("2020-10-02")


def test_the_target_history_is_the_shorter_of_the_two(frame, task):
    origin = pd.Timestamp(START) + 11 * pd.offsets.Week(weekday=4)  # 12 periods of new regime
    short = regime_task(frame, target_history=5)
    long = regime_task(frame, target_history=40)
    for t, expect in [(task, 12), (short, 5), (long, 12)]:
        data = t.at_origin(origin)
        rows = np.concatenate(list(data.target_rows.values()))
        observed = ~np.isnan(data.panel.Y[rows])
        assert (observed.sum(axis=1) == expect).all()
        # the old regime keeps all its periods: target_history cuts target domains only
        old = np.isin(data.panel.domains, list(t.old_regimes.values()))
        assert (~np.isnan(data.panel.Y[old])).sum(axis=1).min() == CHANGE_AT


def test_explicit_sources_keep_the_old_regime_and_can_be_the_old_regime_only(frame):
    listed = regime_task(frame, sources=["S01", "S02"])
    assert listed.sources == ["S01", "S02", "S07 (before 2020-12-04)", "S08 (before 2020-12-04)"]
    only = regime_task(frame, targets=["S08"], sources=[f"S08 (before {START})"])
    assert only.sources == [f"S08 (before {START})"]


def test_similarity_with_the_old_regime_as_the_only_source_compares_the_regimes():
    # the series-level diagnostics measure the change: the level shift in scale_ratio, the new
    # seasonal profile in season_corr (the row-level ones compare rows of the same dates,
    # which the two regimes never share)
    def row(change: str, size: float) -> pd.Series:
        task = regime_task(changed_frame(change, size), targets=["S08"], sources=[OLD])
        return similarity(task).iloc[0]

    OLD = f"S08 (before {START})"
    same, shifted, season = row("level", 0.0), row("level", 0.5), row("season", 1.0)
    assert shifted["scale_ratio"] / same["scale_ratio"] == pytest.approx(1.5, rel=1e-3)
    assert season["season_corr"] < same["season_corr"] - 0.2
    assert np.isnan(same["domain_auc"])


def test_similarity_compares_each_target_new_regime_with_its_old_one(frame):
    # sales x 1.3 from the change on: the new regime's level over the old regime's in the same
    # weeks a year before moves by 1.3 exactly, from about 1 (the stores' own growth) to about
    # 1.3, and the distribution of the sales scaled by the old level shifts clearly
    none, shifted = (similarity(regime_task(changed_frame("level", size))) for size in (0.0, 0.3))
    assert list(none.columns[-len(REGIME_COLUMNS) :]) == REGIME_COLUMNS
    assert (none["regime_start"] == pd.Timestamp(START)).all()
    assert list(none["old_regime"]) == [f"S07 (before {START})", f"S08 (before {START})"]
    ratio = shifted["regime_level_ratio"] / none["regime_level_ratio"]
    np.testing.assert_allclose(ratio, 1.3, rtol=1e-3)
    np.testing.assert_allclose(none["regime_level_ratio"], 1.0, atol=0.1)
    np.testing.assert_allclose(shifted["regime_level_ratio"], 1.3, atol=0.15)
    assert (none["regime_ks"] < 0.3).all() and (shifted["regime_ks"] > 0.5).all()
    assert (none["regime_psi"] < 0.5).all() and (shifted["regime_psi"] > 2.0).all()
    assert (shifted["regime_ks"] - none["regime_ks"] > 0.3).all()
    # the seasonal profiles of both regimes: the same season correlates
    assert (none["regime_season_corr"] > 0.3).all()
    np.testing.assert_allclose(none["regime_season_corr"], shifted["regime_season_corr"], rtol=1e-4)
    # without a regime start, no regime columns
    plain = tc.TransferTask.from_config(
        parse_config(regime_raw(frame, regime_start=None)), data=frame
    )
    assert not set(REGIME_COLUMNS) & set(similarity(plain).columns)


def test_a_target_without_periods_before_the_regime_start_has_no_old_regime():
    frame = changed_frame(change_at=None)
    frame = frame[~((frame["store"] == "S07") & (pd.to_datetime(frame["date"]) < "2021-01-01"))]
    with pytest.warns(UserWarning, match="target domain 'S07' has no period before"):
        task = regime_task(frame)
    assert task.old_regimes == {"S08": f"S08 (before {START})"}
    assert list(task.regime_start) == ["S08"]  # S07 is not split: no regime check applies
    # the backtest waits for S07's opening as well as S08's regime start: at an origin before
    # it, S07's cells would be forecasts before launch scored beside the others' cold starts
    many = regime_task(frame, regime_start={"S08": START}, origin=None)
    six = many.evaluate.model_copy(update={"windows": 6})
    said = r"windows = 6, but only 2 origins leave every target a period of its new regime"
    with pytest.warns(
        UserWarning,
        match=said + r" and the sources a training row before them \(the first: 2021-01-22\)",
    ):
        origins = many.evaluation_origins(six)
    assert len(origins) == 2 and min(origins) >= pd.Timestamp("2021-01-01")
    # an origin before S07's first row: S07 is forecast before launch, the regime kept for S08
    with pytest.warns(UserWarning):
        early = regime_task(frame, origin="2020-12-25")
    fc = tc.TransferForecaster("source_only", **GBM).fit(early).predict()
    assert fc.loc[fc["store"] == "S07", "forecast"].notna().sum() == 2 * HORIZON


def test_a_target_without_a_sale_since_its_regime_start_is_forecast_before_launch(frame):
    """S08 has its rows since the change but sold nothing (closed for a refit): its old regime
    is a source and its new one is forecast before launch, not refused."""
    closed = frame.copy()
    shut = (closed["store"] == "S08") & (pd.to_datetime(closed["date"]) >= START)
    closed.loc[shut, "sales"] = np.nan
    task = regime_task(closed, origin="2021-01-01")
    assert task.old_regimes["S08"] == f"S08 (before {START})"
    with pytest.warns(UserWarning, match="'S08' has no sales up to the origin 2021-01-01"):
        fc = tc.TransferForecaster("source_only", **GBM).fit(task).predict()
    assert fc.loc[fc["store"] == "S08", "forecast"].notna().sum() == 2 * HORIZON


@pytest.mark.parametrize(
    "task_keys,message",
    [
        (dict(regime_start="2030-01-04"), r"\[task\] regime_start 2030-01-04 is after the last"),
        (dict(regime_start="2019-01-04"), "is at or before the first period of the data"),
        (dict(regime_start="soon"), r"\[task\] regime_start 'soon' is not a date"),
        (dict(regime_start={"S05": START}), r"unknown target domain in \[task\] regime_start"),
        (dict(origin="2020-11-27"), r"leaves target domain 'S07' no period up to the origin"),
    ],
)
def test_bad_regime_starts_are_one_line_errors(frame, task_keys, message):
    with pytest.raises(ConfigError, match=message):
        regime_task(frame, **task_keys)


def test_an_evaluation_origin_before_the_regime_start_is_an_error(frame):
    raw = regime_raw(frame)
    raw["evaluate"] = {"origins": ["2020-11-27"]}
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    with pytest.raises(ConfigError, match="no period up to the \\[evaluate\\] origin 2020-11-27"):
        task.evaluation_origins()
    with pytest.raises(ConfigError, match="no period up to the origin 2020-11-27"):
        task.at_origin(pd.Timestamp("2020-11-27"))


# -- nothing after the origin ----------------------------------------------------------------------
ORIGIN = pd.Timestamp(START) + 8 * pd.offsets.Week(weekday=4)  # 9 periods of new regime


STRATEGIES = ["target_only", "source_only", "pooled", "boost_continue", "auto"]


@pytest.fixture(scope="module")
def forecasts(frame):
    """The comparison of :data:`STRATEGIES` at :data:`ORIGIN` per future, once per module."""
    cache = {}
    params = {
        **PARAMS,
        "auto": {"candidates": ["source_only", "pooled"], "strategies": PARAMS, "cuts": 1},
    }

    def get(future: str) -> pd.DataFrame:
        if future not in cache:
            changed = future != "present"
            data = change_future(frame, ORIGIN, future, HORIZON, KNOWN) if changed else frame
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cmp = tc.compare(regime_task(data), STRATEGIES, params=params, origins=[ORIGIN])
            bad = cmp.scores[cmp.scores["status"] != "ok"]
            assert bad.empty, bad[["strategy", "target", "error"]].to_string()
            assert len(cmp.forecasts) == len(STRATEGIES) * 2 * 2 * HORIZON
            cache[future] = cmp.forecasts
        return cache[future]

    return get


@pytest.mark.parametrize("future", ["scrambled", "nan", "deleted"])
def test_no_forecast_on_a_regime_split_reads_the_future(future, forecasts):
    key = ["strategy", "unique_id", "ds"]
    before, after = (
        f.sort_values(key).reset_index(drop=True) for f in (forecasts("present"), forecasts(future))
    )
    pd.testing.assert_frame_equal(before[key], after[key])
    assert np.isfinite(before["forecast"]).all()
    np.testing.assert_allclose(after["forecast"], before["forecast"], rtol=1e-9, atol=0)
    assert not np.allclose(before["actual"], after["actual"], equal_nan=True)
    assert set(before["unique_id"].str.split("|").str[0]) == {"S07", "S08"}  # new regime only


def test_auto_runs_when_the_new_regime_is_too_short_for_a_candidate_to_backtest(frame):
    # 8 periods since the change and a horizon of 12: auto's inner backtest cuts 6 periods
    # before the origin, where target_only has too few periods to train; it is left out of
    # the blend there instead of failing auto
    task = regime_task(frame, horizon=12)
    origin = pd.Timestamp(START) + 7 * pd.offsets.Week(weekday=4)
    params = {"auto": {"candidates": ["target_only", "source_only"], "strategies": PARAMS}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = tc.compare(task, ["auto"], params={**params}, origins=[origin])
    assert (cmp.scores["status"] == "ok").all(), cmp.scores["error"].tolist()
    assert np.isfinite(cmp.forecasts["forecast"]).all()


def test_autos_reason_counts_the_domain_cuts_replayed_where_old_regimes_miss_a_cut(frame):
    """The old regimes end at the change, before the later cut (4 weeks before the origin, 8
    weeks into the new regime): the reason counts the domain-cuts replayed, not every domain
    at every cut."""
    params = {"auto": {"candidates": ["source_only"], "strategies": PARAMS}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = tc.compare(regime_task(frame, horizon=4), ["auto"], params=params, origins=[ORIGIN])
    cuts = cmp.replays.drop_duplicates(["domain", "cut"])
    assert len(cuts) < cuts["domain"].nunique() * cuts["cut"].nunique()
    for _, row in cmp.selection.iterrows():
        said = re.search(r"over (\d+) replayed domain-cuts \((\d+) domains\)", row["reason"])
        assert (int(said.group(1)), int(said.group(2))) == (len(cuts), cuts["domain"].nunique())
        assert row["replayed"] == len(cuts)


def test_every_table_at_the_origin_ends_there(task):
    data = task.at_origin(ORIGIN)
    tables = OriginTables(task, data, task.features)
    assert np.isnan(data.panel.Y[:, data.origin_idx + 1 :]).all()
    old = np.isin(data.panel.domains, list(task.old_regimes.values()))
    assert set(np.flatnonzero(old)) <= set(data.source_rows)
    for table in [tables.source, *(tables.target(t) for t in task.targets)]:
        assert (table.keys["ds"] <= ORIGIN).all()
    src = tables.source.keys
    old_rows = src["domain"].isin(list(task.old_regimes.values()))
    assert old_rows.any() and (src.loc[old_rows, "ds"] < START).all()


# -- the command line: run and predict agree -------------------------------------------------------
@pytest.mark.parametrize("change", ["level", "format"])
def test_run_and_predict_with_a_regime_start(tmp_path, frame, change):
    # with a change of format, the static column `format` changes at the regime start
    frame = frame if change == "level" else changed_frame("format", 1.0)
    frame.to_csv(tmp_path / "sales.csv", index=False)
    raw = regime_raw(frame, origin=str(ORIGIN.date()))
    if change == "format":
        raw["data"]["static"].append("format")
    raw["strategy"] = {"name": "pooled"}
    raw["output"] = {"dir": "out"}
    small = "\n[strategies.pooled]\nsource_params = { num_boost_round = 40 }\n"
    (tmp_path / "config.toml").write_text(to_toml(raw) + small)
    res = invoke("run", tmp_path / "config.toml")
    assert res.code == 0, res.err
    run_fc = pd.read_csv(tmp_path / "out" / "forecasts.csv")
    assert len(run_fc) == 2 * 2 * HORIZON and set(run_fc["store"]) == {"S07", "S08"}
    # the bundle splits new data the same way; new data of the new regime alone need no split
    targets = frame[frame["store"].isin(["S07", "S08"])]
    recent = targets[pd.to_datetime(targets["date"]) >= START]
    key = ["store", "dept", "date"]
    run_fc = run_fc.sort_values(key).reset_index(drop=True)
    for name, data in [("all", targets), ("recent", recent)]:
        data.to_csv(tmp_path / f"{name}.csv", index=False)
        out = tmp_path / f"pred_{name}.csv"
        res = invoke(
            "predict",
            *(tmp_path / "out" / "model", "--data", tmp_path / f"{name}.csv"),
            *("--output", out, "--origin", str(ORIGIN.date())),
        )
        assert res.code == 0, res.err
        pred = pd.read_csv(out).sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(pred, run_fc, check_exact=False, rtol=1e-9)
    res = invoke(  # an origin before the model's regime start: no config to name
        "predict",
        *(tmp_path / "out" / "model", "--data", tmp_path / "all.csv"),
        *("--output", tmp_path / "early.csv", "--origin", "2020-11-27"),
    )
    assert res.code == 2 and "error: the model's regime_start 2020-12-04 leaves target domain" in (
        res.err
    )
    res = invoke("similarity", tmp_path / "config.toml", "--output", tmp_path / "sim")
    assert res.code == 0, res.err
    sim = pd.read_csv(tmp_path / "sim" / "similarity.csv")
    assert sim["regime_level_ratio"].notna().all() and "New regime against old regime" in res.out


# -- the report marks the change -------------------------------------------------------------------
def _regime_lines(fig) -> list[list]:
    """The x positions of the "regime change" lines of each visible chart of a figure."""
    return [
        [line.get_xdata()[0] for line in ax.get_lines() if line.get_label() == "regime change"]
        for ax in fig.axes
        if ax.get_visible()
    ]


def test_the_report_marks_the_regime_change(frame, task):
    params = {"source_only": GBM}
    comp = tc.compare(task, ["source_only"], origins=[ORIGIN], params=params)
    fig = forecasts_figure(comp)
    assert _regime_lines(fig) == [[pd.Timestamp(START)]] * 4  # every chart: S07 and S08 changed
    for ax in fig.axes:
        assert "regime change" in [t.get_text() for t in ax.texts]
        history = next(line for line in ax.get_lines() if line.get_label() == "history")
        assert min(history.get_xdata()) < pd.Timestamp(START)  # the old regime's last periods
    images = dict.fromkeys(["leaderboard.png", "forecasts.png"], b"\x89PNG\r\n\x1a\n")
    page = report_html(comp, similarity(task, ORIGIN), images=images)
    for target in ("S07", "S08"):
        assert (
            f"<b>{target}</b>: source_only had the lowest mean WAPE" in page
            and f"Its regime changed on {START}: its periods before then are its old regime, "
            f"used as a source domain of its own ({target} (before {START}))"
            in page
        )
    assert "A dashed vertical line marks a target's regime change" in page
    assert "<h3>New regime against old regime</h3>" in page
    assert "target history all periods since the regime change," in page  # not "all periods"
    # without a regime start: no marker, no sentence
    plain = tc.TransferTask.from_config(
        parse_config(regime_raw(frame, regime_start=None)), data=frame
    )
    comp = tc.compare(plain, ["source_only"], origins=[ORIGIN], params=params)
    assert _regime_lines(forecasts_figure(comp)) == [[]] * 4
    page = report_html(comp, similarity(plain, ORIGIN), images=images)
    assert "regime change" not in page.lower() and "regime changed" not in page
    # with target_history 4: the earlier weeks of the new regime are drawn as not read
    short = regime_task(frame, target_history=4)
    comp = tc.compare(short, ["source_only"], origins=[ORIGIN], params=params)
    first = short.panel.times[short.panel.times.get_loc(pd.Timestamp(ORIGIN)) - 3]
    for ax in forecasts_figure(comp).axes:
        lines = {line.get_label(): line for line in ax.get_lines()}
        unread = pd.to_datetime(lines["history not read"].get_xdata())
        # the dotted line runs to the first period read, where the read history starts
        assert pd.Timestamp(START) <= unread.min() and unread.max() == first
        read = pd.to_datetime(lines["history"].get_xdata())
        assert first in read and not read[(read >= START) & (read < first)].size
    page = report_html(comp, similarity(short, ORIGIN), images=images)
    assert "history as a target starts at the change (the models read at most its last 4" in page
    assert "target history 4 periods at most, since the regime change," in page


@pytest.mark.parametrize("change", ["level", "format"])
def test_the_worked_example_runs(tmp_path, capsys, change):
    """``examples/regime_change.py`` (docs/regime-change.md), with two strategies."""
    from .test_examples import EXAMPLES, load_module

    module = load_module(EXAMPLES / "regime_change.py", "regime_change_example")
    argv = ["--strategies", "source_only,pooled", "--output", str(tmp_path), "--change", change]
    boards = module.main(argv)
    assert list(boards) == ["regime split", "ignoring the change"]
    for board in boards.values():
        assert set(board["strategy"]) == {"source_only", "pooled"}
        assert np.isfinite(board["wape"]).all()
    out = capsys.readouterr().out
    assert f"S07 (before {START})" in out and "S08: regime_level_ratio" in out
    raw = tomllib.loads((tmp_path / "config.toml").read_text())
    assert raw["task"]["regime_start"] == START
    parse_config(raw)
    if change == "format":  # the new format's season is known from the format-Y sources
        assert "format" in raw["data"]["static"]
        split, ignore = (b["wape"].min() for b in boards.values())
        assert split < 0.8 * ignore, (split, ignore)


def test_a_regime_start_with_an_offset_or_inside_a_week_is_its_first_new_period(frame):
    """A start with a UTC offset crashed (a tz-aware date against naive periods); one written
    mid-week named the old regime after the day written, so two spellings of one split gave
    differently named sources and different forecasts."""
    names = set()
    for when in ("2020-12-04T00:00:00+01:00", "2020-12-02", "2020-12-04T00:00:00Z", START):
        task = regime_task(frame, regime_start=when)
        assert set(task.regime_start.values()) == {pd.Timestamp(START)}
        names.add(tuple(sorted(map(str, task.sources))))
    assert len(names) == 1
