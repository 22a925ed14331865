"""Feature tables: short histories degrade to missing values; labels are level-normalised."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from transfercast.forecasting import OriginTables

from .conftest import small_task


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
