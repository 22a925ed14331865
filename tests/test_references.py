"""The model-free references as strategies: each forecast is read from the target series' own
history, as its name says, and ranks on the leaderboard beside the transfer strategies."""

from __future__ import annotations

import pandas as pd
import pytest

import transfercast as tc
from transfercast.datasets import synthetic_sales

SEASON = 52  # weekly data: a season of 52 weeks


@pytest.fixture(scope="module", params=["direct", "recursive"])
def fitted(request):
    """The references' forecasts, in either formulation: a recursive one does not feed them
    their own forecasts (before: ``naive`` became a moving average of them)."""
    frame = synthetic_sales(n_periods=120, target_periods=70, seed=3)
    frame["date"] = pd.to_datetime(frame["date"])
    task = tc.TransferTask(
        frame, series=["store", "dept"], time="date", target="sales", domain="store",
        targets=frame.attrs["targets"][:2], horizon=6, features={"formulation": request.param},
    )  # fmt: skip
    direct = tc.TransferTask(
        frame, series=["store", "dept"], time="date", target="sales", domain="store",
        targets=frame.attrs["targets"][:2], horizon=6,
    )  # fmt: skip
    origin = task.forecast_origin()
    history = frame[frame["date"] <= origin].pivot_table(
        index="date", columns=["store", "dept"], values="sales"
    )
    out = {}
    for name in ("naive", "last_value", "seasonal_naive", "analog"):
        fc = tc.TransferForecaster(name).fit(task).predict()
        out[name] = fc.set_index(["store", "dept", "date"])["forecast"]
    fc = tc.TransferForecaster("analog").fit(direct).predict()
    out["analog_direct"] = fc.set_index(["store", "dept", "date"])["forecast"]
    return out, history, origin


def _expected(history: pd.DataFrame, origin, name: str, key, step: int) -> float:
    series = history[key]
    if name == "naive":
        return float(series.iloc[-8:].mean())  # the recent level: level_window = 8 weeks
    if name == "last_value":
        return float(series.loc[origin])
    return float(series.loc[origin + pd.Timedelta(weeks=step - SEASON)])


@pytest.mark.parametrize("name", ["naive", "last_value", "seasonal_naive"])
def test_each_reference_forecasts_what_its_name_says(fitted, name):
    forecasts, history, origin = fitted
    fc = forecasts[name]
    assert len(fc) == 2 * 3 * 6  # 2 target stores x 3 departments x 6 weeks
    for (store, dept, date), value in fc.items():
        step = (date - origin) // pd.Timedelta(weeks=1)
        expected = _expected(history, origin, name, (store, dept), step)
        assert value == pytest.approx(expected, rel=1e-9), (name, store, dept, date)


def test_analog_forecasts_alike_in_either_formulation(fitted):
    forecasts, _, _ = fitted
    pd.testing.assert_series_equal(forecasts["analog"], forecasts["analog_direct"])


def test_auto_weighs_the_same_three_whether_named_among_its_candidates_or_not():
    """``auto`` adds the references as built-in candidates once, after the configured ones,
    whether or not they are named (naming them neither repeats nor reorders them)."""
    from transfercast.plugins.auto import Auto

    assert {"naive", "last_value", "seasonal_naive"} <= set(tc.strategies())
    builtin = ["seasonal_naive", "last_value", "naive"]
    named = Auto({"candidates": ["source_only", "naive", "seasonal_naive"]})
    assert named.candidate_names() == ["source_only", *builtin]
    assert Auto({"candidates": ["source_only"]}).candidate_names() == ["source_only", *builtin]


def test_seasonal_naive_says_when_no_history_holds_a_season():
    """With fewer periods of target history than a season and one more, ``seasonal_naive`` is
    the recent level: it says so (before: a flat line a planner read as a seasonal benchmark);
    with a season held, nothing is said."""
    import warnings

    from transfercast.data import DataWarning

    frame = synthetic_sales(n_periods=120, target_periods=70, seed=3)
    kw = dict(series=["store", "dept"], time="date", target="sales", domain="store",
              targets=frame.attrs["targets"][:1], horizon=6)  # fmt: skip
    for history, said in ((13, True), (None, False)):
        task = tc.TransferTask(frame, **kw, target_history=history)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fc = tc.TransferForecaster("seasonal_naive").fit(task).predict()
        notes = [w for w in caught if "seasonal_naive: no target series holds" in str(w.message)]
        assert bool(notes) == said and all(w.category is DataWarning for w in notes)
        flat = fc.groupby(["store", "dept"])["forecast"].nunique().eq(1).all()
        assert flat == said  # the recent level: one value per series


def test_last_value_says_when_the_lags_leave_out_the_last_period():
    """Lags [2, 52]: no feature holds the last period, so ``last_value`` is the recent level
    and says so (before: silent, the same WAPE as ``naive``)."""

    from transfercast.data import DataWarning

    frame = synthetic_sales(n_periods=120, target_periods=70, seed=3)
    kw = dict(series=["store", "dept"], time="date", target="sales", domain="store",
              targets=frame.attrs["targets"][:1], horizon=6)  # fmt: skip
    task = tc.TransferTask(frame, **kw, features={"lags": [2, 52]})
    with pytest.warns(DataWarning, match=r"^last_value: \[features\] lags leaves out 1"):
        fc = tc.TransferForecaster("last_value").fit(task).predict()
    naive = tc.TransferForecaster("naive").fit(task).predict()
    pd.testing.assert_series_equal(fc["forecast"], naive["forecast"])


def test_auto_of_the_references_forecasts_what_they_do_in_the_recursive_formulation():
    """``auto`` blends its members' own forecasts, as its replays weighed them: with all its
    weight on ``naive`` it is ``naive`` (before: naive fed the blend's forecasts, a moving
    average of them)."""
    frame = synthetic_sales(n_periods=120, target_periods=70, seed=3)
    task = tc.TransferTask(
        frame, series=["store", "dept"], time="date", target="sales", domain="store",
        targets=frame.attrs["targets"][:1], horizon=6, target_history=13,
        features={"formulation": "recursive"},
    )  # fmt: skip
    params = {"auto": {"candidates": ["naive"], "method": "select"}}
    comp = tc.compare(task, ["naive", "auto"], params=params, origins=[task.forecast_origin()])
    fc = comp.forecasts.pivot_table(
        index=["unique_id", "ds"], columns="strategy", values="forecast"
    )
    assert comp.selection["weights"].tolist() == ["1.000"]
    pd.testing.assert_series_equal(fc["auto"], fc["naive"], check_names=False)
