"""The accuracy metrics of one target domain at one origin (core/metrics.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transfercast.intervals import seasonal_error
from transfercast.metrics import score
from transfercast.panel import Panel

WEEKS = pd.date_range("2020-01-03", periods=8, freq="W-FRI")


def _forecasts(uid: str, forecast: list[float], actual: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"unique_id": uid, "ds": WEEKS[6:], "forecast": forecast, "actual": actual})


def test_mase_differences_the_history_one_grid_period_apart():
    # y = 1, 2, 3, (missing), 5, 6: the one-step scale is |2-1|, |3-2|, |6-5| = 1, not 1.25
    hist = pd.DataFrame({"unique_id": "a", "ds": WEEKS[:6], "y": [1, 2, 3, np.nan, 5, 6]})
    out = score(_forecasts("a", [7, 8], [8, 9]), hist)
    assert out["mase"] == pytest.approx(1.0)
    assert seasonal_error(hist, 1)["a"] == pytest.approx(1.0)


def test_a_series_without_a_scale_leaves_the_others_scaled():
    hist = pd.DataFrame(
        {
            "unique_id": ["a"] * 6 + ["b"],
            "ds": [*WEEKS[:6], WEEKS[5]],
            "y": [1, 2, 3, 4, 5, 6, 10],  # b opened at the last period: one observation
        }
    )
    fc = pd.concat([_forecasts("a", [7, 8], [8, 9]), _forecasts("b", [10, 10], [12, 8])])
    out = score(fc, hist)
    assert out["mase"] == pytest.approx(1.0)  # a's alone: errors 1, 1 over a scale of 1
    assert np.isfinite(out["rmsse"])


def test_history_frame_keeps_gaps_from_each_series_first_period():
    Y = np.array([[np.nan, 1.0, np.nan, 3.0, 9.0], [2.0, 2.0, 2.0, np.nan, 9.0]])
    panel = Panel(
        ids=np.array(["a", "b"]),
        domains=np.array(["S1", "S1"]),
        keys=pd.DataFrame({"dept": ["a", "b"]}),
        times=pd.date_range("2020-01-03", periods=5, freq="W-FRI"),
        Y=Y,
    )
    hist = panel.history_frame(np.array([0, 1]), end=3)
    a, b = (hist.loc[hist["unique_id"] == u, "y"].to_numpy() for u in ("a", "b"))
    np.testing.assert_array_equal(a, [1.0, np.nan, 3.0])  # from its first period, gap kept
    np.testing.assert_array_equal(b, [2.0, 2.0, 2.0, np.nan])  # up to the origin only
