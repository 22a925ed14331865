"""What an origin holds: the horizon it scores, where the rolling origins fall, which series
exist there, and what its tables read (category vocabularies, an inner origin's actuals, a
first sale at the origin)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from transfercast.config import parse_config
from transfercast.data import DataWarning
from transfercast.datasets import synthetic_config, synthetic_sales
from transfercast.errors import DataError
from transfercast.forecasting import OriginTables
from transfercast.task import TransferTask

from .conftest import small_frame

WEEK = pd.offsets.Week(weekday=4)


def _task(frame: pd.DataFrame, *more: pd.DataFrame) -> TransferTask:
    """The small task (horizon 8, 13 weeks of target history) on ``frame`` and ``more`` rows."""
    raw = synthetic_config("unused.csv", frame.attrs["targets"], horizon=8, target_history=13)
    data = pd.concat([frame, *more], ignore_index=True) if more else frame
    return TransferTask.from_config(parse_config(raw), data=data)


def _origin(frame: pd.DataFrame) -> pd.Timestamp:
    """The first evaluation origin of ``frame`` (before any rows are added to it)."""
    return _task(frame).evaluation_origins()[0]


def _series(frame, store, dept, since):
    return frame[(frame["store"] == store) & (frame["dept"] == dept) & (frame["date"] >= since)]


def test_actuals_are_the_sales_of_every_step_of_the_horizon(task):
    origin = task.evaluation_origins()[0]
    rows = task.at_origin(origin).target_rows["S06"]
    act = task.actuals(origin, rows)
    idx = task.panel.index_of(origin)
    steps = np.arange(idx + 1, idx + 1 + task.horizon)
    assert len(act) == len(rows) * task.horizon
    assert list(act["ds"].iloc[: task.horizon]) == list(task.panel.times[steps])
    want = task.panel.Y[np.repeat(rows, task.horizon), np.tile(steps, len(rows))]
    np.testing.assert_array_equal(act["actual"].to_numpy(), want)


def test_the_last_origin_leaves_exactly_one_horizon_of_target_actuals(task):
    origins = task.evaluation_origins()
    Y = task.panel.Y[task.target_mask()]
    last = int(np.flatnonzero((~np.isnan(Y)).any(axis=0)).max())
    assert task.panel.index_of(origins[-1]) == last - task.horizon
    step = task.evaluate.step or task.horizon
    gaps = np.diff([task.panel.index_of(o) for o in origins]).tolist()
    assert gaps == [step] * (len(origins) - 1)


def test_a_configured_origin_may_leave_exactly_one_horizon_of_actuals(task):
    last = task.evaluation_origins()[-1]
    assert task.evaluation_origins(task.evaluate.model_copy(update={"origins": [last]})) == [last]
    later = task.evaluate.model_copy(update={"origins": [last + WEEK]})
    with pytest.raises(DataError, match="leaves less than the horizon"):
        task.evaluation_origins(later)


@pytest.mark.parametrize("after, exists", [(0, True), (1, False)])
def test_a_target_series_exists_from_a_first_row_at_the_horizon_end(after, exists):
    frame = small_frame()
    origin = _origin(frame)
    first = origin + (8 + after) * WEEK  # the horizon's last period (+ after)
    target = frame.attrs["targets"][0]
    task = _task(frame, _series(frame, target, "D1", first).assign(dept="D9"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # D9 is forecast before launch
        data = task.at_origin(origin)
    assert (f"{target}|D9" in set(task.panel.ids[data.target_rows[target]])) is exists


def test_source_rows_are_the_source_series_with_sales_up_to_the_origin():
    frame = small_frame()
    origin = _origin(frame)
    soon = origin + 2 * WEEK  # a source department opening within the horizon
    task = _task(frame, _series(frame, "S01", "D1", soon).assign(dept="D7"))
    ids = set(task.panel.ids[task.at_origin(origin).source_rows])
    assert "S01|D7" not in ids and "S01|D1" in ids


def test_category_vocabularies_come_from_series_with_history_at_the_origin():
    frame = small_frame()
    origin = _origin(frame)
    opens = origin + 20 * WEEK  # a department opened after the horizon, sorting first
    task = _task(frame, _series(frame, "S01", "D1", opens + WEEK).assign(dept="A0"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tables = OriginTables(task, task.at_origin(origin), task.features)
    assert tables.builder.categories["dept"] == ["D1", "D2"]


def test_an_inner_origins_actuals_end_at_the_outer_origin(task):
    origin = task.evaluation_origins()[0]
    tables = OriginTables(task, task.at_origin(origin), task.features)
    inner = tables.at(tables.data.origin_idx - 2)  # its horizon runs past the outer origin
    assert inner.horizon == task.horizon
    act = inner.actuals("S06")
    assert len(act) == task.horizon * len(tables.data.target_rows["S06"])
    assert act.loc[act["ds"] <= origin, "actual"].notna().all()
    assert act.loc[act["ds"] > origin, "actual"].isna().all()  # never the data after it


def test_a_target_whose_first_sale_is_at_the_origin_is_not_pre_launch():
    frame = small_frame()
    origin = _origin(frame)
    target = frame.attrs["targets"][0]
    frame.loc[(frame["store"] == target) & (frame["date"] < origin), "sales"] = np.nan
    task = _task(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tables = OriginTables(task, task.at_origin(origin), task.features)
    assert not tables.is_prelaunch(target)  # it sold at the origin: its own level counts
    assert len(tables.prelaunch) == 0


def test_rolling_origins_start_where_the_sources_have_a_training_row():
    """Sources and targets that begin together (a panel read whole): more windows than the
    data allow are capped at the origins where the sources can train, with a warning, not
    stopped at the first origin before that; every origin left can be fitted."""
    frame = synthetic_sales(
        n_domains=5, series_per_domain=1, n_periods=40, n_targets=2, target_periods=40, seed=1
    )
    raw = synthetic_config("unused.csv", frame.attrs["targets"], horizon=4, windows=40)
    raw["evaluate"]["step"] = 1
    task = TransferTask.from_config(parse_config(raw), data=frame)
    with pytest.warns(DataWarning, match=r"windows = 40, but only 32 origins .* sources a train"):
        origins = task.evaluation_origins()
    # level window 8 (weekly): 4 observed periods by position 3, a label at position 4
    assert origins[0] == frame["date"].min() + 4 * WEEK and len(origins) == 32
    for origin in origins[:2]:
        tables = OriginTables(task, task.at_origin(origin), task.features)
        assert len(tables.source.X) > 0


def test_rolling_origins_leave_every_target_domain_a_period_of_history():
    """A target domain that opens 30 weeks in: no origin before its first sale (its cells
    there would be forecasts before launch, scored beside the others' cold starts), and the
    origins cut short are named; an ``[evaluate]`` mapping may be passed as is."""
    frame = synthetic_sales(
        n_domains=5, series_per_domain=1, n_periods=40, n_targets=2, target_periods=40, seed=1
    )
    late = frame.attrs["targets"][1]
    opens = frame["date"].min() + 30 * WEEK
    frame = frame[(frame["store"] != late) | (frame["date"] >= opens)]
    raw = synthetic_config("unused.csv", frame.attrs["targets"], horizon=4, windows=3)
    task = TransferTask.from_config(parse_config(raw), data=frame)
    with pytest.warns(DataWarning, match=r"only 2 origins leave every target a period of hist"):
        origins = task.evaluation_origins({"windows": 3, "step": 4})
    assert origins == [opens + WEEK, opens + 5 * WEEK]  # the last sale 9 weeks after opening


def test_a_target_that_opens_within_the_last_horizon_holds_no_origin_back():
    """It has no history at any origin: the others keep their backtest (before the recheck:
    every target's compare stopped with "the targets have 2 periods")."""
    frame = synthetic_sales(
        n_domains=5, series_per_domain=1, n_periods=40, n_targets=2, target_periods=40, seed=1
    )
    late = frame.attrs["targets"][1]
    frame = frame[(frame["store"] != late) | (frame["date"] >= frame["date"].max() - 1 * WEEK)]
    raw = synthetic_config("unused.csv", frame.attrs["targets"], horizon=4, windows=3)
    task = TransferTask.from_config(parse_config(raw), data=frame)
    last = frame["date"].max() - 4 * WEEK
    assert task.evaluation_origins({"windows": 3, "step": 4}) == [
        last - 8 * WEEK, last - 4 * WEEK, last
    ]  # fmt: skip
