"""Nothing after the forecast origin may influence a forecast made at that origin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import transfercast as tc
from transfercast.config import parse_config
from transfercast.datasets import synthetic_config

from .conftest import small_frame

STRATEGIES = ["target_only", "source_only", "pooled"]


def _task(frame: pd.DataFrame, formulation: str = "direct") -> tc.TransferTask:
    raw = synthetic_config("unused.csv", frame.attrs["targets"], horizon=6, target_history=13)
    raw["features"] = {"formulation": formulation}
    return tc.TransferTask.from_config(parse_config(raw), data=frame)


def _future_scrambled(frame: pd.DataFrame, origin: pd.Timestamp, horizon: int) -> pd.DataFrame:
    """Every target value after the origin (source and target) replaced by noise, and the
    known covariates scrambled beyond the horizon (inside it they are known by definition)."""
    out = frame.copy()
    rng = np.random.default_rng(1)
    after = out["date"] > origin
    out.loc[after, "sales"] = rng.uniform(0, 1e6, after.sum())
    beyond = out["date"] > origin + horizon * pd.offsets.Week(weekday=4)
    for col in ("price", "promo", "is_holiday"):
        out[col] = out[col].astype(float)
        out.loc[beyond, col] = rng.uniform(0, 50, beyond.sum())
    return out


@pytest.mark.parametrize("formulation", ["direct", "recursive"])
def test_future_values_change_no_forecast(formulation):
    frame = small_frame()
    task = _task(frame, formulation)
    origins = task.evaluation_origins()
    before = tc.compare(task, STRATEGIES, origins=origins).forecasts
    for origin in origins:
        scrambled = _task(_future_scrambled(frame, origin, task.horizon), formulation)
        after = tc.compare(scrambled, STRATEGIES, origins=[origin]).forecasts
        mine = before[before["origin"] == origin].reset_index(drop=True)
        assert len(mine) == len(after) > 0
        np.testing.assert_array_equal(mine["forecast"].to_numpy(), after["forecast"].to_numpy())
        # the actuals did change: the check is not vacuous
        assert not np.allclose(mine["actual"].to_numpy(), after["actual"].to_numpy())


def test_run_forecast_ignores_rows_after_configured_origin():
    frame = small_frame()
    task = _task(frame)
    origin = task.evaluation_origins()[0]
    fc = tc.TransferForecaster("pooled").fit(task, origin=origin).predict()
    scrambled = _task(_future_scrambled(frame, origin, task.horizon))
    fc2 = tc.TransferForecaster("pooled").fit(scrambled, origin=origin).predict()
    pd.testing.assert_frame_equal(fc, fc2)
    assert fc["date"].min() == origin + pd.offsets.Week(weekday=4)
    assert len(fc) == len(frame.attrs["targets"]) * 2 * task.horizon


@pytest.mark.parametrize("ranking", ["target", "season", "recent"])
def test_auto_choice_and_forecast_ignore_the_future(ranking):
    # auto's inner backtest, its guard, its unseen-season check and its source rankings read
    # nothing after the origin (the recent one scores the sources up to the origin itself)
    frame = small_frame()
    task = _task(frame)
    origin = task.evaluation_origins()[-1]
    params = {
        "auto": {"candidates": ["target_only", "source_only"], "blend": 2, "ranking": ranking}
    }
    before = tc.compare(task, ["auto"], params=params, origins=[origin])
    scrambled = _task(_future_scrambled(frame, origin, task.horizon))
    after = tc.compare(scrambled, ["auto"], params=params, origins=[origin])
    pd.testing.assert_frame_equal(before.selection, after.selection)
    if ranking != "target":
        assert before.selection[f"{ranking}_source_only"].notna().all()
    np.testing.assert_array_equal(
        before.forecasts["forecast"].to_numpy(), after.forecasts["forecast"].to_numpy()
    )
    assert not np.allclose(before.forecasts["actual"], after.forecasts["actual"])
