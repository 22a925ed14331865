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


#: six weeks of history and three forecast weeks
NINE = pd.date_range("2020-01-03", periods=9, freq="W-FRI")
RISING = pd.DataFrame({"unique_id": "a", "ds": NINE[:6], "y": [1.0, 2, 3, 4, 5, 6]})


def test_pooled_metrics_match_their_definitions():
    # errors -1, -3, 0 on actuals 8, 11, 9: an under-forecast
    fc = pd.DataFrame(
        {"unique_id": "a", "ds": NINE[6:], "forecast": [7.0, 8.0, 9.0], "actual": [8.0, 11.0, 9.0]}
    )
    out = score(fc, RISING)
    assert out["wape"] == pytest.approx(4 / 28)
    assert out["mae"] == pytest.approx(4 / 3)
    assert out["rmse"] == pytest.approx(np.sqrt(10 / 3))
    assert out["bias"] == pytest.approx((-4 / 3) / (28 / 3))  # negative: an under-forecast
    assert out["mase"] == pytest.approx(4 / 3)  # the naive one-step error is 1


def test_mase_is_the_mean_of_the_series_scaled_errors():
    hist = pd.concat([RISING.assign(unique_id=u) for u in "abc"])  # naive one-step errors 1
    errors = {"a": 1.0, "b": 1.0, "c": 4.0}
    fc = pd.concat(
        [
            pd.DataFrame({"unique_id": u, "ds": NINE[6:], "forecast": 10 + e, "actual": 10.0})
            for u, e in errors.items()
        ]
    )
    assert score(fc, hist)["mase"] == pytest.approx(2.0)  # the mean of 1, 1, 4, not the median


def test_a_period_without_an_actual_is_left_out_of_the_scores():
    fc = pd.DataFrame(
        {
            "unique_id": "a",
            "ds": NINE[6:],
            "forecast": [7.0, 8.0, 9.0],
            "actual": [8.0, np.nan, 9.0],
        }
    )
    out = score(fc, RISING)
    assert out["mae"] == pytest.approx(0.5) and out["wape"] == pytest.approx(1 / 17)
    assert out["mase"] == pytest.approx(0.5)


def test_an_unsorted_history_scales_as_the_sorted_one_and_a_missing_forecast_scores_nothing():
    hist = pd.DataFrame({"unique_id": "a", "ds": WEEKS[:6], "y": [1.0, 2, 4, 7, 11, 16]})
    fc = _forecasts("a", [18, 20], [22, 29])
    want = score(fc, hist)
    assert want["mase"] == pytest.approx(6.5 / 3.0)  # errors 4, 9 over the steps 1, 2, 3, 4, 5
    assert score(fc, hist.iloc[::-1])["mase"] == pytest.approx(want["mase"])
    holed = fc.assign(forecast=[18.0, np.nan])
    assert all(np.isnan(v) for v in score(holed, hist).values())  # not MASE on one row
