"""Feature tables: short histories degrade to missing values; labels are level-normalised."""

from __future__ import annotations

import numpy as np

from transfercast.forecasting import OriginTables


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
