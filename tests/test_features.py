"""Feature tables: short histories degrade to missing values; labels are level-normalised."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from transfercast.config import FeaturesConfig
from transfercast.features import FeatureBuilder
from transfercast.forecasting import OriginTables
from transfercast.panel import Panel

from .conftest import small_task, task_on


def test_short_target_history_gives_missing_long_lags_not_dropped_rows(task):
    origin = task.evaluation_origins()[-1]
    tables = OriginTables(task, task.at_origin(origin), task.features)
    target = tables.target("S06")
    assert len(target) > 0
    # 13 periods of history: lag 26/52 and same-period-last-year cannot exist
    assert target.X["lag52"].isna().all() and target.X["sply"].isna().all()
    assert target.X["lag1"].notna().all()
    pred = tables.builder.build(
        tables.data.panel,
        *tables.builder.prediction_rows(
            tables.data.target_rows["S06"], tables.data.origin_idx, task.horizon
        ),
        with_label=False,
    )
    assert len(pred) == 2 * task.horizon  # every target series forecast for every step
    assert pred.X["lag26"].isna().all() and pred.X["lag1"].notna().all()


def test_labels_times_level_are_sales(task):
    origin = task.evaluation_origins()[-1]
    tables = OriginTables(task, task.at_origin(origin), task.features)
    src = tables.source
    panel = tables.data.panel
    i = src.keys["_i"].to_numpy()
    t = panel.times.get_indexer(src.keys["ds"])
    np.testing.assert_allclose(src.y * src.level, panel.Y[i, t])
    assert (src.keys["ds"] <= origin).all()


def test_source_and_target_share_columns_and_categories(task):
    origin = task.evaluation_origins()[-1]
    tables = OriginTables(task, task.at_origin(origin), task.features)
    src, tgt = tables.source, tables.target("S07")
    assert list(src.X.columns) == list(tgt.X.columns)
    for col in src.categorical:
        assert list(src.X[col].cat.categories) == list(tgt.X[col].cat.categories)


def _tables(task, **features) -> OriginTables:
    origin = task.evaluation_origins()[-1]
    return OriginTables(task, task.at_origin(origin), task.features.model_copy(update=features))


def test_first_hides_the_history_before_it_and_nothing_else(task):
    tables = _tables(task)
    panel, b = tables.data.panel, tables.builder
    i, a, h = b.training_rows(panel, tables.data.source_rows, tables.data.origin_idx, task.horizon)
    first = np.maximum(a - 9, 0)  # every row as if its series had begun 10 periods earlier
    got = b.build(panel, i, a, h, with_label=True, first=first)
    # the same rows built one anchor at a time from a panel whose earlier values are gone
    for anchor in np.unique(a)[::7]:
        Y = panel.Y.copy()
        Y[:, : max(anchor - 9, 0)] = np.nan
        rows = a == anchor
        want = b.build(replace(panel, Y=Y), i[rows], a[rows], h[rows], with_label=True)
        pd.testing.assert_frame_equal(got.subset(rows).X, want.X)
        np.testing.assert_allclose(got.y[rows], panel.Y[i[rows], a[rows] + h[rows]] / want.level)


def test_young_sources_add_each_source_row_again_as_a_young_series(task):
    plain, young = _tables(task, young_sources=False), _tables(task)
    assert young.target_age == 13  # the targets' history at the origin
    base, both = plain.source, young.source
    assert len(both) > len(base)
    key = ["unique_id", "anchor", "h"]
    copies = both.keys.duplicated(key, keep="first").to_numpy()
    originals = ~copies
    # the originals are the plain table; each copy repeats an original's key and label
    pd.testing.assert_frame_equal(
        both.subset(originals).X.reset_index(drop=True), base.X, check_like=False
    )
    # every label, copies included, is the sale at the row's period over the row's level
    i = both.keys["_i"].to_numpy()
    t = young.data.panel.times.get_indexer(both.keys["ds"])
    np.testing.assert_allclose(both.y * both.level, young.data.panel.Y[i, t])
    # a copy sees at most 13 periods: no year-old values, at most 13 observations
    assert (both.X.loc[copies, "n_obs"] <= 13).all()
    assert both.X.loc[copies, ["lag26", "lag52", "sply"]].isna().all(axis=None)
    assert (base.X["n_obs"] > 13).any()
    # rows of one series stay together, in the order of the series
    ids = both.keys["unique_id"].to_numpy()
    assert (pd.Series(ids).ne(pd.Series(ids).shift()).sum()) == len(pd.unique(ids))
    assert np.isfinite(both.level).all() and np.isfinite(both.y).all()
    np.testing.assert_allclose(np.nanmean(both.weight), 1.0)


def test_no_young_copies_for_targets_with_two_seasons_of_history():
    task = small_task(target_history=None)
    assert _tables(task).target_age == 32  # every period the targets have
    # with a season of 13 periods, 32 periods hold two: history-length features saturate
    tables = _tables(task, season_length=13)
    plain = _tables(task, season_length=13, young_sources=False)
    assert tables.target_age is None
    pd.testing.assert_frame_equal(tables.source.X, plain.source.X)


def _intermittent(frame: pd.DataFrame, keep: float = 0.25, seed: int = 0) -> pd.DataFrame:
    """``frame`` with most weeks' sales set to 0 (each week kept with probability ``keep``)."""
    rng = np.random.default_rng(seed)
    return frame.assign(sales=frame["sales"] * (rng.random(len(frame)) < keep))


def test_a_series_that_sold_nothing_lately_is_scaled_by_its_history_not_one_sales_unit():
    """A source series with 10 quiet weeks before the origin: its rows are scaled by its mean
    absolute sales over its history (before: by 1, one sales unit, so its labels were sales);
    a target series that never sold in its history by the mean level of its domain's selling
    series (never by 1)."""
    import transfercast as tc
    from transfercast.config import parse_config
    from transfercast.datasets import synthetic_config

    from .conftest import small_frame

    frame = small_frame()
    task = small_task(1.0)
    origin = task.evaluation_origins()[-1]
    dates = pd.to_datetime(frame["date"])
    quiet = (frame["store"] == "S01") & (frame["dept"] == "D1")
    frame.loc[quiet & (dates > origin - pd.Timedelta(weeks=10)) & (dates <= origin), "sales"] = 0
    never = (frame["store"] == "S07") & (frame["dept"] == "D1")
    frame.loc[never & (dates <= origin), "sales"] = 0.0
    raw = synthetic_config("x.csv", ["S06", "S07", "S08"], horizon=6, target_history=13)
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    tables = OriginTables(task, task.at_origin(origin), task.features)
    panel, c = tables.data.panel, tables.data.origin_idx
    src = tables.source
    last = (src.keys["unique_id"] == "S01|D1") & (src.keys["anchor"] == panel.times[c - 1])
    assert last.any() and src.zero_level[last.to_numpy()].all()
    row = list(panel.ids).index("S01|D1")
    history = np.nanmean(np.abs(panel.Y[row, :c]))
    levels = src.level[last.to_numpy()]  # the row, and its copy as a young series
    assert history > 100 and np.isclose(levels[0], history) and (levels > 100).all()
    target = tables.prediction_table(tables.data.target_rows["S07"])
    mine = (target.keys["unique_id"] == "S07|D1").to_numpy()
    other = target.level[~mine][0]  # S07|D2's recent level, the domain's one selling series
    assert target.zero_level[mine].all() and np.allclose(target.level[mine], other)
    np.testing.assert_allclose(target.y if target.y is not None else 0, 0)
    # the domain's scale is not the series' own: log_level is missing there, not the domain's
    log_level = target.X["log_level"].to_numpy()
    assert np.isnan(log_level[mine]).all() and np.isfinite(log_level[~mine]).all()
    # the row's own level is its history's; its young copy sold nothing in the weeks it shows
    assert np.isfinite(src.X["log_level"].to_numpy()[last.to_numpy()][0])


def _unsold_department(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a third department, D3, whose every week sold 0 in every store."""
    d3 = frame[frame["dept"] == "D1"].assign(dept="D3", sales=0.0)
    return pd.concat([frame, d3], ignore_index=True)


def test_a_department_that_never_sold_is_forecast_at_what_such_series_sell():
    """A department with rows of zero sales in every store: the target store's forecasts for it
    are what the sources' series that sold nothing went on to sell (nothing), not its store's
    scale times a ratio learnt on selling series. Before, such source series trained no model
    and the target's was read on its store's mean level as a selling series: `source_only`
    forecast it at about a selling department's sales (141,051 against D2's 141,644), `analog`
    at its store's level times D1's ratios."""
    import transfercast as tc
    from transfercast.config import parse_config
    from transfercast.datasets import synthetic_config

    from .conftest import small_frame

    frame = _unsold_department(small_frame())
    raw = synthetic_config("x.csv", ["S06", "S07", "S08"], horizon=6, target_history=13)
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    origin = task.evaluation_origins()[-1]
    tables = OriginTables(task, task.at_origin(origin), task.features)
    trained = set(tables.source.keys["unique_id"])
    assert "S01|D3" in trained  # a source series that sold nothing, in a store that sells
    for name in ("source_only", "pooled", "analog"):
        fc = tc.TransferForecaster(name).fit(task, origin=origin).predict()
        per_dept = fc.groupby("dept")["forecast"].sum()
        assert per_dept["D3"] < 0.02 * per_dept["D1"], (name, per_dept.to_dict())
    assert per_dept["D3"] == 0  # analog: the series' own level, 0, times its ratio


def test_a_store_that_sold_nothing_trains_no_model():
    """A source store whose every series sold 0 (closed, its weeks written as 0) gives no
    training rows, while a never-selling series of a selling store does."""
    from .conftest import small_frame

    frame = _unsold_department(small_frame())
    frame.loc[frame["store"] == "S02", "sales"] = 0.0
    task = task_on(frame)
    tables = OriginTables(task, task.at_origin(task.evaluation_origins()[-1]), task.features)
    stores = set(tables.source.keys["domain"])
    assert "S02" not in stores and {"S01", "S03"} <= stores


def test_forecasts_of_intermittent_sales_do_not_depend_on_the_sales_unit():
    """Sales mostly zero (a quarter of the weeks sell): the same data in another unit (x 2**-10,
    exact in binary) gives the same forecasts in that unit. Before, a series that sold nothing
    in its level window was scaled by one sales unit, so its labels changed with the unit."""
    import transfercast as tc
    from transfercast.config import parse_config
    from transfercast.datasets import synthetic_config

    from .conftest import small_frame

    frame = _intermittent(small_frame())
    raw = synthetic_config("x.csv", ["S06", "S07", "S08"], horizon=6, target_history=13)
    raw["strategies"] = {"source_only": {"source_params": {"num_boost_round": 30}}}
    out = {}
    for unit in (1.0, 2.0**-10):
        task = tc.TransferTask.from_config(
            parse_config(raw), data=frame.assign(sales=frame["sales"] * unit)
        )
        origin = task.evaluation_origins()[-1]
        tables = OriginTables(task, task.at_origin(origin), task.features)
        assert tables.source.zero_level.any()  # the case at stake is in the data
        model = tc.TransferForecaster("source_only", source_params={"num_boost_round": 30})
        out[unit] = model.fit(task, origin=origin).predict()["forecast"].to_numpy() / unit
    assert out[1.0].sum() > 0
    np.testing.assert_allclose(out[2.0**-10], out[1.0], rtol=1e-9)


def test_network_forecasts_do_not_depend_on_the_sales_unit():
    """``l2sp``'s inputs are standardised, and ``log_level`` (the log of the level) moves by a
    constant under a change of unit: the same data in another unit (x 2**-12, small sales near
    one unit and below) gives the same forecasts in that unit. With log1p, they differed."""
    pytest.importorskip("torch")
    import transfercast as tc
    from transfercast.config import parse_config
    from transfercast.datasets import synthetic_config

    from .conftest import small_frame

    frame = small_frame()
    raw = synthetic_config("x.csv", ["S06", "S07", "S08"], horizon=6, target_history=13)
    out = {}
    for unit in (1.0, 2.0**-12):
        task = tc.TransferTask.from_config(
            parse_config(raw), data=frame.assign(sales=frame["sales"] * unit)
        )
        model = tc.TransferForecaster("l2sp", source_epochs=2, epochs=10, hidden=[16])
        out[unit] = model.fit(task).predict()["forecast"].to_numpy() / unit
    assert out[1.0].min() > 0
    np.testing.assert_allclose(out[2.0**-12], out[1.0], rtol=1e-4)


#: a hand-made series: 2, 4, ... with a gap at period 5 and none observed after period 10
SPEC = FeaturesConfig(lags=[1, 2], windows=[2], level_window=3, season_length=4, calendar=False)


def _hand_panel() -> Panel:
    Y = np.array([[2.0, 4, 6, 8, 10, np.nan, 14, 16, 18, 20, 22, np.nan]])
    return Panel(
        ids=np.array(["s0"], dtype=object),
        domains=np.array(["A"], dtype=object),
        keys=pd.DataFrame({"dept": ["D0"]}),
        times=pd.date_range("2020-01-03", periods=12, freq="W-FRI"),
        Y=Y,
        known={"price": np.arange(12, dtype=float)[None, :] * 10},  # 0, 10, 20, ...
        static=pd.DataFrame(index=range(1)),
    )


def test_features_read_the_periods_their_names_say():
    panel = _hand_panel()
    b = FeatureBuilder.for_panel(panel, SPEC, "domain")
    t = b.build(panel, np.array([0, 0]), np.array([7, 7]), np.array([1, 2]), with_label=True)
    level = (14 + 16) / 2  # mean |y| over the observed periods of the window (a - 3, a]
    np.testing.assert_allclose(t.level, level)
    np.testing.assert_allclose(t.X["lag1"], 16 / level)  # y at the anchor
    np.testing.assert_allclose(t.X["lag2"], 14 / level)  # one period before it
    np.testing.assert_allclose(t.X["mean2"], 15 / level)
    # y[a + h - 4] over the level a season before: (4 + 6 + 8) / 3; step 2 reads the gap
    np.testing.assert_allclose(t.X["sply"], [10 / 6, np.nan])
    np.testing.assert_allclose(t.X["price"], [80, 90])  # the known value at the forecast period
    np.testing.assert_allclose(t.y, np.array([18, 20]) / level)


def test_same_period_last_season_never_reads_after_the_anchor():
    panel = _hand_panel()
    b = FeatureBuilder.for_panel(panel, SPEC, "domain")
    # step 5 with a season of 4: the same period last season is a + 1, after the anchor
    t = b.build(panel, np.array([0]), np.array([7]), np.array([5]), with_label=True)
    assert np.isnan(t.X["sply"]).all()


def test_a_training_row_needs_min_level_obs_observations_in_its_level_window():
    panel = _hand_panel()  # level_window 3, so min_level_obs 3
    b = FeatureBuilder.for_panel(panel, SPEC, "domain")
    i, a, h = b.training_rows(panel, np.array([0]), origin=9, horizon=2)
    # anchors with 3 observations in (a - 3, a], a label observed (not at 5) by the origin
    assert sorted(zip(a.tolist(), h.tolist(), strict=True)) == [
        (2, 1),
        (2, 2),
        (3, 1),
        (4, 2),
        (8, 1),
    ]


def test_history_features_count_two_seasons(task):
    tables = _tables(task)
    assert tables.builder.age_window == 2 * 52  # weekly: n_obs counts two years
    assert tables.target_age == 13  # 13 weeks of target history: young against two seasons


def test_training_rows_are_weighted_by_their_level(task):
    tables = _tables(task)
    for table in (tables.source, tables.target("S06")):
        assert table.level.std() > 0  # series of different sizes
        np.testing.assert_allclose(table.weight, table.level / table.level.mean())


def test_a_never_sold_series_is_scaled_by_the_series_selling_in_the_level_window():
    # D|b sold 1,000 a period and stopped reporting 15 periods before the anchor: its old
    # volume is not what D's selling series sell now (10), so it does not scale D|a
    T = 30
    Y = np.full((3, T), np.nan)
    Y[0], Y[1, :10], Y[2] = 0.0, 1000.0, 10.0
    panel = Panel(
        ids=np.array(["D|a", "D|b", "D|c"], dtype=object),
        domains=np.array(["D"] * 3, dtype=object),
        keys=pd.DataFrame({"dept": ["a", "b", "c"]}),
        times=pd.date_range("2020-01-03", periods=T, freq="W-FRI"),
        Y=Y,
        static=pd.DataFrame(index=range(3)),
        start=np.zeros(3, dtype=int),
    )
    builder = FeatureBuilder(
        lags=[1],
        windows=[],
        level_window=8,
        season_length=52,
        calendar=False,
        categorical_keys=[],
        static_numeric=[],
        static_categorical=[],
        known=[],
    )
    table = builder.build(panel, np.array([0]), np.array([25]), np.array([1]), with_label=False)
    assert table.level.tolist() == [10.0]


def test_a_total_over_series_with_gaps_scales_the_observed_ones_up():
    """Two series of mean level 10 and 30 (1 and 3 a period, x10): where one is missing its
    share is put back, not read as 0; before its first row it is not open; a period with no
    observation has no total. Scattered gaps keep every period (a sparse export)."""
    from transfercast.panel import filled_totals

    nan = np.nan
    Y = np.array([[nan, 10.0, 10.0, nan, 10.0, nan], [nan, nan, 30.0, 30.0, 30.0, nan]])
    np.testing.assert_allclose(filled_totals(Y), [nan, 10.0, 40.0, 40.0, 40.0, nan])
