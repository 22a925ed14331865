"""compare: source models shared, scores per target/strategy/origin, output files."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import transfercast as tc
from transfercast.evaluation import SCORE_COLUMNS
from transfercast.source_cache import SourceCache

from .conftest import small_frame, small_task, task_on


@pytest.fixture(scope="module")
def comparison():
    task = small_task()
    return tc.compare(task, ["target_only", "source_only", "pooled"])


def test_source_model_fitted_once_per_engine_and_origin(monkeypatch):
    task = small_task(targets=["S07", "S08"])
    fits = []
    original = SourceCache.get

    def counting_get(self, strategy, source):
        before = self.fits
        model = original(self, strategy, source)
        fits.extend([(strategy.name, strategy.params.engine)] * (self.fits - before))
        return model

    monkeypatch.setattr(SourceCache, "get", counting_get)
    params = {"source_only": {"engine": "lightgbm"}}
    comp = tc.compare(task, ["source_only", "pooled", "target_only"], params=params)
    n_origins = comp.scores["origin"].nunique()
    assert comp.scores.groupby(["origin"]).size().tolist() == [6] * n_origins
    assert len(fits) == n_origins == comp.source_fits

    # two engines: one source model per engine and origin, shared by both targets
    from transfercast.plugins.baselines import SourceOnly
    from transfercast.plugins.boost_continue import BoostContinue

    both = [SourceOnly(engine="lightgbm"), BoostContinue(engine="xgboost")]
    comp2 = tc.compare(task, both)
    assert comp2.source_fits == 2 * n_origins


def test_scores_table(comparison):
    s = comparison.scores
    assert list(s.columns) == SCORE_COLUMNS
    assert (s["status"] == "ok").all()
    assert len(s) == 3 * 3 * 2  # targets x strategies x origins
    assert s[["wape", "mae", "rmse", "mase", "rmsse"]].notna().all().all()
    assert (s["wape"] > 0).all()


def test_wape_matches_forecasts(comparison):
    f = comparison.forecasts
    s = comparison.scores.iloc[0]
    cell = f[(f["strategy"] == s["strategy"]) & (f["origin"] == s["origin"])]
    cell = cell[cell["unique_id"].str.startswith(str(s["target"]))]
    wape = np.abs(cell["forecast"] - cell["actual"]).sum() / cell["actual"].abs().sum()
    assert wape == pytest.approx(s["wape"])


def test_leaderboard(comparison):
    board = comparison.leaderboard()
    assert set(board["strategy"]) == {"target_only", "source_only", "pooled"}
    assert board["wape"].is_monotonic_increasing
    assert board["wins"].sum() == 3  # one winner per target
    base = board.set_index("strategy").loc["target_only", "wape_vs_target_only"]
    assert base == pytest.approx(1.0)
    s = comparison.scores
    manual = (
        s[s.strategy == "pooled"]["wape"].mean() / s[s.strategy == "target_only"]["wape"].mean()
    )
    assert board.set_index("strategy").loc["pooled", "wape_vs_target_only"] == pytest.approx(manual)


def test_leaderboard_gap_to_leader_is_paired_over_shared_cells(comparison):
    board = comparison.leaderboard().set_index("strategy")
    leader = board.index[0]
    assert board.loc[leader, "wape_gap"] == 0 and np.isnan(board.loc[leader, "wape_gap_se"])
    scores = comparison.scores
    wide = scores.pivot_table(index=["target", "origin"], columns="strategy", values="wape")
    for name in board.index[1:]:
        diff = (wide[name] - wide[leader]).dropna()
        assert board.loc[name, "wape_gap"] == pytest.approx(diff.mean())
        assert board.loc[name, "wape_gap_se"] == pytest.approx(diff.std() / np.sqrt(len(diff)))
        assert board.loc[name, "wape_gap"] > 0  # sorted by mean WAPE over the same cells


def _board(rows: list[tuple]) -> pd.DataFrame:
    """The leaderboard of (target, origin, strategy, WAPE) cells, a missing WAPE failed."""
    from transfercast.evaluation import leaderboard

    scores = pd.DataFrame(rows, columns=["target", "origin", "strategy", "wape"])
    scores["status"] = np.where(scores["wape"].isna(), "failed", "ok")
    for col in ("mae", "rmse", "mase", "rmsse", "bias"):
        scores[col] = 0.0
    return leaderboard(scores).set_index("strategy")


def test_leaderboard_gap_uses_only_the_cells_both_scored():
    rows = [
        ("A", "o1", "lead", 0.10), ("A", "o1", "other", 0.15),
        ("B", "o1", "lead", 0.20), ("B", "o1", "other", 0.22),
        ("C", "o1", "lead", 0.05),  # the other strategy failed here
        ("C", "o1", "other", np.nan),
    ]  # fmt: skip
    board = _board(rows)
    assert board.loc["other", "wape_gap"] == pytest.approx(0.035)  # (0.05 + 0.02) / 2, not C
    assert board.loc["other", "wape_gap_se"] == pytest.approx(np.std([0.05, 0.02], ddof=1) / 2**0.5)


def test_wape_vs_baseline_is_paired_over_the_cells_both_scored():
    rows = [
        ("A", "o1", "target_only", 0.20), ("A", "o1", "x", 0.10),
        ("B", "o1", "target_only", 0.40), ("B", "o1", "x", 0.20),
        ("C", "o1", "target_only", np.nan), ("C", "o1", "x", 0.90),  # the baseline failed on C
    ]  # fmt: skip
    board = _board(rows)
    assert board.loc["x", "wape_vs_target_only"] == pytest.approx(0.5)  # (0.1+0.2)/(0.2+0.4)


def test_leaderboard_ranks_a_strategy_that_skipped_cells_after_those_that_scored_them():
    import warnings

    from transfercast.evaluation import leaderboard

    rows = [
        ("T1", "o1", "full", 0.5, "ok"), ("T1", "o2", "full", 0.9, "ok"),
        ("T1", "o1", "part", 0.6, "ok"), ("T1", "o2", "part", np.nan, "skipped"),
        ("T2", "o1", "full", np.nan, "ok"), ("T2", "o1", "part", np.nan, "ok"),  # all zero
    ]  # fmt: skip
    scores = pd.DataFrame(rows, columns=["target", "origin", "strategy", "wape", "status"])
    for col in ("mae", "rmse", "mase", "rmsse", "bias"):
        scores[col] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # no all-missing row reaches idxmin
        board = leaderboard(scores)
    # "part" has the lower mean (0.6 over its one cell against 0.7 over two) but skipped a cell
    assert list(board["strategy"]) == ["full", "part"]
    board = board.set_index("strategy")
    assert board.loc["full", "wins"] == 1 and board.loc["part", "wins"] == 0  # on the shared cell
    assert board.loc["part", "wape_gap"] == pytest.approx(0.1)


def test_strategies_tied_on_a_target_each_count_its_win():
    """Before launch ``pooled`` has no target rows and forecasts as ``source_only`` does: both
    are best on T1 and each counts the win (before: the alphabetically first took it)."""
    from transfercast.evaluation import leaderboard

    rows = [
        ("T1", "o1", "source_only", 0.4), ("T1", "o1", "pooled", 0.4), ("T1", "o1", "x", 0.5),
        ("T2", "o1", "source_only", 0.3), ("T2", "o1", "pooled", 0.3), ("T2", "o1", "x", 0.2),
    ]  # fmt: skip
    scores = pd.DataFrame(rows, columns=["target", "origin", "strategy", "wape"])
    scores["status"] = "ok"
    for col in ("mae", "rmse", "mase", "rmsse", "bias"):
        scores[col] = 0.0
    wins = leaderboard(scores).set_index("strategy")["wins"]
    assert wins.to_dict() == {"x": 1, "pooled": 1, "source_only": 1}


def test_a_failed_cell_of_one_strategy_does_not_change_who_leads_the_target():
    """c failed T1's second origin: a leads T1 over both origins (0.105 against b's 0.110),
    in the leaderboard's wins, the report's per-target table and its sentence alike (before:
    wins judged T1 on the one origin every strategy scored, where a and b tie, and b won too);
    on T2, a and b tie and both are named."""
    from transfercast.evaluation import Comparison, leaderboard
    from transfercast.report import choice_sentences, per_target_table

    rows = [
        ("T1", "o1", "a", 0.10, "ok"), ("T1", "o1", "b", 0.10, "ok"), ("T1", "o1", "c", 0.2, "ok"),
        ("T1", "o2", "a", 0.11, "ok"), ("T1", "o2", "b", 0.12, "ok"),
        ("T1", "o2", "c", np.nan, "failed"),
        ("T2", "o1", "a", 0.3, "ok"), ("T2", "o1", "b", 0.3, "ok"), ("T2", "o1", "c", 0.4, "ok"),
    ]  # fmt: skip
    scores = pd.DataFrame(rows, columns=["target", "origin", "strategy", "wape", "status"])
    for col in ("mae", "rmse", "mase", "rmsse", "bias"):
        scores[col] = 0.0
    wins = leaderboard(scores).set_index("strategy")["wins"]
    assert wins.to_dict() == {"a": 2, "b": 1, "c": 0}
    best = per_target_table(scores).set_index("target")["best"]
    assert best.to_dict() == {"T1": "a", "T2": "a, b"}
    one, two = choice_sentences(Comparison(scores=scores, forecasts=pd.DataFrame()))
    assert one.startswith("<b>T1</b>: a had the lowest mean WAPE, 0.105, ahead of b (0.110)")
    assert two.startswith("<b>T2</b>: a and b had the lowest mean WAPE (the same), 0.300, ")
    assert "ahead of c (0.400)" in two


def test_a_strategy_listed_twice_or_none_is_refused(task):
    from transfercast.errors import ConfigError
    from transfercast.plugins.baselines import SourceOnly

    with pytest.raises(ConfigError, match="strategy 'source_only' is listed twice"):
        tc.compare(task, [SourceOnly(engine="lightgbm"), SourceOnly(engine="xgboost")])
    with pytest.raises(ConfigError, match="no strategies to compare"):
        tc.compare(task, [])


def test_failing_strategy_is_isolated(task):
    from transfercast.plugins.baselines import SourceOnly

    class Flaky(SourceOnly):
        name = "flaky"

        def fine_tune(self, target, source):
            if target.keys["domain"].iloc[0] == "S07":
                raise RuntimeError("no luck on S07")

    comp = tc.compare(task, ["target_only", Flaky()])
    failed = comp.scores[comp.scores["status"] == "failed"]
    assert set(failed["target"]) == {"S07"} and set(failed["strategy"]) == {"flaky"}
    assert failed["error"].str.contains("RuntimeError: no luck on S07").all()
    assert (comp.scores[comp.scores["strategy"] == "target_only"]["status"] == "ok").all()
    assert comp.failed


def test_forecaster_api(task):
    model = tc.TransferForecaster(strategy="pooled", target_weight=3.0).fit(task)
    fc = model.predict()
    assert list(fc.columns) == ["store", "dept", "date", "forecast"]
    assert len(fc) == 3 * 2 * task.horizon
    assert fc["forecast"].notna().all() and (fc["forecast"] > 0).all()
    assert model.fitted_["S06"].params.target_weight == 3.0
    assert fc["date"].min() > task.last_observed


def test_recursive_formulation_forecasts_whole_horizon():
    task = small_task()
    task.features = task.features.model_copy(update={"formulation": "recursive"})
    comp = tc.compare(task, ["source_only"], origins=task.evaluation_origins()[-1:])
    f = comp.forecasts
    assert f.groupby("unique_id").size().eq(task.horizon).all()
    assert f["forecast"].notna().all()
    assert comp.scores["wape"].iloc[0] < 0.5


def test_recursive_steps_past_the_data_read_planned_values_filled_as_the_direct_ones():
    """Past the data's end the known covariates have no planned value: the direct rows take
    each series' recent mean as of the origin (as the warning says); the recursive steps took
    it over a window anchored at each step, shorter each step, and none past the level window
    (every covariate, holiday flags too, read as missing). Both now equal the forecasts from
    the same data with those values written in."""
    from transfercast.datasets import synthetic_sales

    frame = synthetic_sales(n_domains=6, series_per_domain=2, n_periods=130, n_targets=1,
                            target_periods=60, seed=1)  # fmt: skip
    last = frame["date"].max()
    rows = []
    for _, g in frame.sort_values("date").groupby(["store", "dept"]):
        tail = g.tail(8)
        for k in range(1, 13):
            row = g.iloc[-1].copy()
            row["date"], row["sales"] = last + k * pd.offsets.Week(weekday=4), np.nan
            row["price"] = tail["price"].mean()
            for flag in ("promo", "is_holiday"):
                row[flag] = round(tail[flag].mean())
            rows.append(row)
    filled = pd.concat([frame, pd.DataFrame(rows)], ignore_index=True)

    def forecast(data, **fit):
        task = tc.TransferTask(
            data, series=["store", "dept"], time="date", target="sales", domain="store",
            targets=frame.attrs["targets"], horizon=12, target_history=13,
            static=["store_type", "size"], known=["price", "promo", "is_holiday"],
            features={"formulation": "recursive"},
        )  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = tc.TransferForecaster("source_only", source_params={"num_boost_round": 30})
            return model.fit(task, **fit).predict()["forecast"].to_numpy()

    np.testing.assert_allclose(forecast(frame), forecast(filled, origin=last), rtol=1e-9)


def test_parallel_jobs_give_the_same_scores(task, comparison):
    par = tc.compare(task, ["target_only", "source_only", "pooled"], jobs=2)
    cols = ["target", "strategy", "origin", "wape", "mase", "bias"]
    a = comparison.scores[cols].sort_values(cols[:3]).reset_index(drop=True)
    b = par.scores[cols].sort_values(cols[:3]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_score_computes_the_scaled_metrics_only_when_asked():
    from transfercast.metrics import METRICS, score

    fc = pd.DataFrame(
        {"unique_id": ["a", "a"], "ds": [3, 4], "forecast": [11.0, 9.0], "actual": [10.0, 10.0]}
    )
    hist = pd.DataFrame({"unique_id": ["a", "a", "a"], "ds": [0, 1, 2], "y": [8.0, 10.0, 12.0]})
    full = score(fc, hist)
    assert set(full) == set(METRICS)
    assert full["wape"] == pytest.approx(0.1)
    assert full["mase"] == pytest.approx(1.0 / 2.0)  # MAE 1 over the naive in-sample MAE 2
    quick = score(fc, hist, {"wape", "mase"})
    assert "rmsse" not in quick and quick["mase"] == full["mase"]
    assert quick["wape"] == full["wape"]
    with pytest.raises(ValueError, match="unknown metric.*'mape'"):
        score(fc, hist, ["mape"])


def test_pooled_shared_model_follows_the_data_not_the_tables_object(monkeypatch):
    """Two origins' tables with the same sources but different target histories, sharing one
    cache. Even when the second tables object has the first one's ``id`` (as a freed object's
    id can be reused), the second gets a pooled model fitted on its own target rows."""
    from transfercast.config import parse_config
    from transfercast.datasets import synthetic_config
    from transfercast.forecasting import OriginTables, transfer_to
    from transfercast.plugins import baselines
    from transfercast.task import TransferTask

    monkeypatch.setattr(baselines, "id", lambda obj: 1, raising=False)  # every object, one id
    frame = small_frame()
    changed = frame.copy()
    in_target = changed["store"].isin(frame.attrs["targets"])
    changed.loc[in_target, "sales"] *= 3.0  # target history changed, sources the same
    raw = synthetic_config(
        "unused.csv", frame.attrs["targets"], horizon=8, target_history=13, windows=1
    )
    strategy = baselines.Pooled()
    forecasts = {}
    for label, frames in [("shared", [frame, changed]), ("fresh", [changed]), ("none", [changed])]:
        cache = SourceCache()  # one cache for the frames of a label: the last one is forecast
        for data in frames:
            task = TransferTask.from_config(parse_config(raw), data=data)
            tables = OriginTables(task, task.at_origin(task.evaluation_origins()[0]), task.features)
            domain = task.targets[0]
            model = cache.get(strategy, tables.source)
            shared = None if label == "none" else cache  # without a cache: the same model
            fitted = transfer_to(strategy, model, tables, domain, tables.source, shared)
            forecasts[label] = tables.forecast(fitted, domain)
    pd.testing.assert_frame_equal(forecasts["shared"], forecasts["fresh"])
    pd.testing.assert_frame_equal(forecasts["none"], forecasts["fresh"])


def test_tied_with_leader_names_the_strategies_within_the_95_percent_interval_of_their_gap():
    """The interval is Student's t over the shared cells, not two standard errors whatever
    their number: over 2 cells a gap of 5 s.e. is no evidence (t quantile 12.7)."""
    from transfercast.evaluation import noise_band, tied_with_leader, unmeasured

    board = pd.DataFrame(
        {
            "strategy": ["lead", "close", "far", "edge", "few", "one"],
            "wape": [0.10, 0.101, 0.15, 0.104, 0.11, 0.2],
            "wape_gap": [0.0, 0.001, 0.05, 0.0044, 0.01, 0.1],
            "wape_gap_se": [np.nan, 0.002, 0.004, 0.002, 0.002, np.nan],
            "wape_gap_cells": [30, 30, 30, 30, 2, 1],
        }
    )
    # 30 cells: t 2.045, the band 0.00409; 2 cells (few): 12.7 x 0.002 = 0.0254 > 0.01
    assert noise_band(0.002, 30) == pytest.approx(0.002 * 2.0452, rel=1e-4)
    assert tied_with_leader(board) == ["close", "few"]  # edge: 0.0044 > 0.00409
    # ranked below the leader for cells it failed, yet far ahead on the shared ones: not tied
    ahead = board.assign(wape_gap=board["wape_gap"].where(board["strategy"] != "close", -0.18))
    assert tied_with_leader(ahead) == ["few"]
    assert unmeasured(board) == ["one"]
    assert tied_with_leader(board.drop(columns=["wape_gap", "wape_gap_se"])) == []


FAST = {"source_params": {"num_boost_round": 20}}


def test_compare_takes_one_name_one_origin_and_an_array_of_quantiles(task):
    """One strategy name is one strategy (not its letters), one date is one origin (not its
    characters), and quantile levels may be a NumPy array."""
    origin = task.evaluation_origins()[-1]
    comp = tc.compare(
        task,
        "source_only",
        params={"source_only": FAST},
        origins=str(origin.date()),
        quantiles=np.array([0.1, 0.9]),
    )
    assert set(comp.scores["strategy"]) == {"source_only"}
    assert set(comp.scores["origin"]) == {origin}
    assert (comp.scores["status"] == "ok").all()
    assert {"q0.1", "q0.9"} <= set(comp.forecasts.columns)


def test_compare_and_fit_refuse_what_is_not_a_task(task):
    frame = task.frame
    with pytest.raises(tc.TransfercastError, match="compare: task must be a .*not DataFrame"):
        tc.compare(frame, ["source_only"])
    with pytest.raises(tc.TransfercastError, match="fit: task must be a .*not DataFrame"):
        tc.TransferForecaster("source_only").fit(frame)


def test_regret_names_an_unknown_strategy_or_metric(comparison):
    reg = comparison.regret("pooled")
    assert len(reg) == len(comparison.scores) // 3  # one row per target and origin
    with pytest.raises(tc.TransfercastError, match="strategy 'auto' is not in this comparison"):
        comparison.regret()  # auto was not compared: not an empty table
    with pytest.raises(tc.TransfercastError, match="'wapee' \\(did you mean 'wape'\\?\\)"):
        comparison.regret("pooled", "wapee")  # not a KeyError
    with pytest.raises(tc.TransfercastError, match="metric 'bias' cannot rank"):
        comparison.regret("pooled", "bias")  # signed: its minimum is no best


def test_leaderboard_names_a_baseline_that_was_not_compared(comparison):
    board = comparison.leaderboard("source_only").set_index("strategy")
    assert board.loc["source_only", "wape_vs_source_only"] == pytest.approx(1.0)
    with pytest.raises(tc.TransfercastError, match="baseline 'target_ony' is not in this comp"):
        comparison.leaderboard("target_ony")  # not a column of NaN
    assert "wape_vs_target_only" in comparison.leaderboard().columns


@pytest.mark.parametrize("horizon", [0, -2, 2.5, "abc", True])
def test_forecaster_horizon_must_be_a_positive_whole_number(horizon):
    with pytest.raises(tc.TransfercastError, match=f"horizon {horizon!r}: give the number"):
        tc.TransferForecaster("pooled", horizon=horizon)


def test_forecaster_fit_names_a_bad_origin(task):
    model = tc.TransferForecaster("source_only", **FAST)
    cases = {
        "2020-12-10": "origin 2020-12-10 is not on the 'W-FRI' grid",
        "foo": "origin 'foo' is not a date",
        "2030-12-13": "origin 2030-12-13 is after the last period of the data",
    }
    for origin, message in cases.items():
        with pytest.raises(tc.TransfercastError, match=message):
            model.fit(task, origin=origin)
    origin = task.evaluation_origins()[-1]
    assert model.fit(task, origin=str(origin.date())).origin_ == origin


def test_forecaster_get_and_set_params():
    model = tc.TransferForecaster("pooled", target_weight=3.0)
    assert repr(model) == "TransferForecaster('pooled', target_weight=3.0)"
    assert repr(tc.TransferForecaster("naive", horizon=4, quantiles=[0.1])) == (
        "TransferForecaster('naive', horizon=4, quantiles=[0.1])"
    )
    # a level alone and None are accepted, so shown (before: TypeError from len)
    assert repr(tc.TransferForecaster("naive", quantiles=0.9)) == (
        "TransferForecaster('naive', quantiles=0.9)"
    )
    assert repr(tc.TransferForecaster("naive", quantiles=None, plugins=None)) == (
        "TransferForecaster('naive')"
    )
    odd = tc.TransferForecaster("naive")
    odd.quantiles = [1.5]  # an attribute set as scikit-learn allows: shown, checked at fit
    assert repr(odd) == "TransferForecaster('naive', quantiles=[1.5])"
    assert model.set_params(target_weight=2.0, horizon=4, quantiles=[0.9, 0.1]) is model
    params = model.get_params(deep=False)
    assert params["target_weight"] == 2.0 and params["horizon"] == 4
    assert params["quantiles"] == [0.9, 0.1] and params["strategy"] == "pooled"  # as given
    with pytest.raises(tc.TransfercastError, match="horizon 0"):
        model.set_params(horizon=0, target_weight=9.0)
    assert model.get_params(deep=False) == params  # a bad value changes nothing
    with pytest.raises(ValueError, match="quantile 1.5 is not strictly between 0 and 1"):
        tc.TransferForecaster("pooled", quantiles=[1.5])
    with pytest.raises(ValueError, match="quantile 1.5 is not strictly between 0 and 1"):
        model.set_params(quantiles=[1.5])


def test_scikit_learn_clone_copies_a_forecaster_unfitted(task):
    from sklearn.base import clone

    model = tc.TransferForecaster(
        "source_only", horizon=4, quantiles=[0.1, 0.9], plugins=[], **FAST
    )
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert not hasattr(copy, "fitted_")
    fc = copy.fit(task).predict()
    assert list(fc.columns[-3:]) == ["forecast", "q0.1", "q0.9"]
    assert fc.groupby(["store", "dept"]).size().eq(4).all()


def test_scikit_learn_clone_copies_a_forecaster_of_a_strategy_instance_and_params_is_no_key():
    """clone called the strategy's get_params(deep=False), which took no ``deep``: TypeError;
    set_params(params={}) made a strategy parameter named "params"."""
    from sklearn.base import clone

    pooled = tc.get_plugin_manager().registry.create("pooled", {"target_weight": 2.0})
    copy = clone(tc.TransferForecaster(pooled))
    assert copy.strategy is not pooled and type(copy.strategy) is type(pooled)
    assert copy.strategy.get_params() == pooled.get_params()
    for make in (lambda: tc.TransferForecaster("pooled").set_params(params={}),
                 lambda: tc.TransferForecaster("pooled", params={})):  # fmt: skip
        with pytest.raises(tc.TransfercastError, match=r"^TransferForecaster: 'params' is no "):
            make()
    model = tc.TransferForecaster("pooled", target_weight=2.0)
    with pytest.raises(tc.TransfercastError):
        model.set_params(params={})
    assert model.get_params()["target_weight"] == 2.0 and "params" not in model.get_params()


def test_a_failed_refit_keeps_the_previous_fit(task, monkeypatch):
    """A fit that raises (or is interrupted) part-way leaves the forecaster as it was."""
    import transfercast.forecaster as forecaster

    model = tc.TransferForecaster("source_only", quantiles=[0.1, 0.9], **FAST).fit(task)
    before, origin = model.predict(), model.origin_
    made = forecaster.forecast_quantiles
    calls = []

    def breaks_on_the_second_target(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return made(*args, **kwargs)

    monkeypatch.setattr(forecaster, "forecast_quantiles", breaks_on_the_second_target)
    with pytest.raises(KeyboardInterrupt):
        model.fit(task, origin=task.evaluation_origins()[0])
    assert model.origin_ == origin
    pd.testing.assert_frame_equal(model.predict(), before)
    fresh = tc.TransferForecaster("source_only", **FAST)
    monkeypatch.setattr(forecaster, "fit_and_forecast", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        fresh.fit(task)
    with pytest.raises(tc.TransfercastError, match="predict called before fit"):
        fresh.predict()


def test_strategy_parameter_errors_read_as_one_plain_line():
    from pydantic import model_validator

    from transfercast.errors import ConfigError

    with pytest.raises(ConfigError, match=r"unknown key 'foo'; strategy 'analog' takes no param"):
        tc.get_plugin_manager().registry.create("analog", {"foo": 1})

    class Params(tc.StrategyParams):
        low: int = 0
        high: int = 1

        @model_validator(mode="after")
        def _order(self):
            if self.low > self.high:
                raise ValueError("low must not exceed high")
            return self

    class Checked(tc.Strategy):
        name = "checked"

    Checked.Params = Params
    # a check across keys names no key ('?'), and pydantic's "Value error, " is not shown
    with pytest.raises(ConfigError) as info:
        Checked(low=2, high=1)
    assert str(info.value) == "[strategies.checked]: low must not exceed high"


def test_boost_continue_names_a_misspelt_excluded_column(task):
    model = tc.TransferForecaster(
        "boost_continue", exclude_columns=["weeek"], rounds=5, valid_periods=0, **FAST
    )
    with pytest.raises(tc.TransfercastError, match=r"unknown feature column 'weeek' \(did you"):
        model.fit(task)
    model.set_params(exclude_columns=["week", "month"]).fit(task)
    assert not {"week", "month"} & set(model.fitted_[task.targets[0]].added_columns_)


def test_one_plugin_module_named_alone_is_one_module_not_its_letters(task):
    match = "plugin module 'tc_no_such_plugin' named in 'plugins' failed to load"
    with pytest.raises(tc.TransfercastError, match=match):
        tc.compare(task, ["source_only"], plugins="tc_no_such_plugin")
    model = tc.TransferForecaster("source_only", plugins="tc_no_such_plugin")
    assert model.get_params()["plugins"] == "tc_no_such_plugin"  # as given
    with pytest.raises(tc.TransfercastError, match=match):
        model.fit(task)


def test_a_cell_without_actuals_after_its_origin_is_not_counted_as_scored():
    task = small_task(targets=["S07", "S08"])
    last = task.last_observed
    early = task.evaluation_origins()[-1]
    comp = tc.compare(task, ["source_only"], origins=[early, last])
    at_last = comp.scores[comp.scores["origin"] == last]
    assert len(at_last) == 2 and at_last["wape"].isna().all()  # nothing to score there
    board = comp.leaderboard()
    assert board["cells"].tolist() == [2]  # the two cells of the earlier origin only
    mine = comp.scores[comp.scores["origin"] == early]["wape"].mean()
    assert board["wape"].iloc[0] == pytest.approx(mine)


class _Below(tc.Strategy):
    """Forecasts minus half of every series' level (a negative forecast)."""

    name = "below"

    def fine_tune(self, target, source):
        pass

    def predict(self, table):
        return np.full(len(table), -0.5)


def test_no_negative_forecast_where_no_negative_sales_were_observed():
    """Sales are never negative (a negative value is repaired to 0 or refused): a strategy's
    negative forecast is floored at 0, in every cell and in run."""
    task = small_task()
    origin = task.evaluation_origins()[-1]
    fc = tc.compare(task, [_Below()], origins=origin).forecasts
    assert len(fc) and (fc["forecast"] == 0).all()
    with pytest.warns(UserWarning, match="known columns without a value"):  # past the data
        assert (tc.TransferForecaster(_Below()).fit(task).predict()["forecast"] == 0).all()


def test_forecasts_do_not_depend_on_the_order_the_targets_are_listed_in():
    """``pooled`` fits one model on the sources and every target: its rows, and so its trees,
    follow the target domains in a fixed order, not the order ``[task] targets`` lists them;
    so do its quantile models (interval method ``quantile``), which take the same rows."""
    params = {"pooled": {"source_params": {"num_boost_round": 30}}}
    out = []
    for targets in (["S06", "S07", "S08"], ["S08", "S06", "S07"]):
        task = small_task(targets=targets)
        origin = task.evaluation_origins()[-1]
        result = tc.compare(
            task,
            ["pooled"],
            params=params,
            origins=[origin],
            quantiles=[0.1, 0.9],
            interval_method="quantile",
        )
        fc = result.forecasts.sort_values(["unique_id", "ds"])
        out.append(fc[["forecast", "q0.1", "q0.9"]].to_numpy())
    np.testing.assert_array_equal(out[0], out[1])


def test_mase_is_scaled_by_the_history_the_forecast_saw(task):
    """With ``[task] target_history = 13`` the target periods before the cut scale nothing."""
    from transfercast.metrics import score

    origin = task.evaluation_origins()[-1]
    comp = tc.compare(task, ["source_only"], origins=[origin])
    data = task.at_origin(origin)
    rows = data.target_rows["S06"]
    cell = comp.forecasts[comp.forecasts["unique_id"].isin(task.panel.ids[rows])]
    want = score(cell, data.panel.history_frame(rows, data.origin_idx))["mase"]
    got = comp.scores.set_index("target").loc["S06", "mase"]
    assert got == pytest.approx(want, rel=1e-12)


class _Lag1:
    """A stand-in fitted strategy: each step forecasts the value at its anchor (lag 1)."""

    name = "lag1"

    def predict(self, table):
        return table.X["lag1"].to_numpy()


def test_recursive_forecast_feeds_each_step_the_forecast_before_it(task):
    from transfercast.forecasting import OriginTables

    spec = task.features.model_copy(update={"formulation": "recursive"})
    tables = OriginTables(task, task.at_origin(task.evaluation_origins()[-1]), spec)
    rows = tables.data.target_rows["S06"]
    fc = tables.forecast(_Lag1(), "S06")
    last = tables.data.panel.Y[rows, tables.data.origin_idx]  # observed at the origin
    got = fc["forecast"].to_numpy().reshape(len(rows), task.horizon)
    np.testing.assert_allclose(got, np.repeat(last[:, None], task.horizon, axis=1))


class _Negative:
    name = "negative"

    def predict(self, table):
        return -np.ones(len(table))


def test_sales_forecasts_are_floored_at_zero_even_where_a_period_sold_nothing():
    from transfercast.config import parse_config
    from transfercast.datasets import synthetic_config
    from transfercast.forecasting import OriginTables

    frame = small_frame()
    frame.loc[frame.index[:5], "sales"] = 0.0  # a source series sold nothing some weeks
    raw = synthetic_config("unused.csv", frame.attrs["targets"], horizon=8, target_history=13)
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    tables = OriginTables(task, task.at_origin(task.evaluation_origins()[-1]), task.features)
    assert (tables.forecast(_Negative(), "S06")["forecast"] == 0).all()


def test_strategies_with_the_same_forecasts_are_grouped_and_others_are_not():
    """Equal forecasts in every row are one forecast: grouped in order of appearance; a
    strategy that differs in one row, or lacks a row (a failed cell), is not in the group."""
    from transfercast.evaluation import same_forecasts

    rows = pd.DataFrame({"origin": "2021-01-01", "unique_id": ["a", "a", "b"], "ds": [1, 2, 1]})
    value = np.array([10.0, 20.0, 30.0])
    frames = {
        "source_only": value,
        "boost_continue": value * (1 + 1e-12),  # the same to rounding
        "pooled": value + [0, 0, 0.5],
        "representation": value.copy(),
    }
    fc = pd.concat([rows.assign(strategy=k, forecast=v) for k, v in frames.items()])
    assert same_forecasts(fc) == [["source_only", "boost_continue", "representation"]]
    # a strategy missing a row (its cell failed) is not the same forecast
    short = fc[~((fc["strategy"] == "representation") & (fc["unique_id"] == "b"))]
    assert same_forecasts(short) == [["source_only", "boost_continue"]]
    assert same_forecasts(fc[fc["strategy"] == "pooled"]) == []


def test_an_origin_whose_horizon_runs_past_the_actuals_is_named():
    """``compare(origins=...)`` forecasts a horizon that runs past the targets' last actual,
    and says how many of its periods are scored (before: silent, and a last-period origin gave
    a leaderboard of NaN with every cell "ok"); a full horizon says nothing."""
    import warnings

    from transfercast.data import DataWarning

    task = small_task()
    times = task.panel.times
    last = task.frame.loc[task.frame["y"].notna(), "ds"].max()
    full = times[times.get_loc(last) - task.horizon]
    part = times[times.get_loc(last) - 2]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        comp = tc.compare(task, ["source_only"], origins=[full, part, last])
    said = [str(w.message) for w in caught if "forecast periods have" in str(w.message)]
    assert said == [
        f"origin {d.date()}: {k} of its {task.horizon} forecast periods have target actuals "
        f"(the last: {last.date()}); the rest are forecast, not scored"
        for d, k in ((part, 2), (last, 0))
    ]
    assert all(
        w.category is DataWarning for w in caught if "forecast periods have" in str(w.message)
    )
    assert comp.scores.loc[comp.scores["origin"] == last, "wape"].isna().all()  # none scored


def test_periods_after_the_targets_last_sale_are_not_called_missing_rows():
    """The targets' rows end 4 weeks before the sources': an origin whose horizon runs past
    them gets the horizon's warning alone, not also the one advising to write missing rows
    as 0 (which would score forecasts against invented sales)."""
    import warnings

    frame = small_frame()
    targets = frame.attrs["targets"]
    dates = np.sort(frame["date"].unique())
    frame = frame[~(frame["store"].isin(targets) & frame["date"].isin(dates[-4:]))]
    task = task_on(frame)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tc.compare(task, ["naive"], origins=[dates[-10]])
    said = [str(w.message) for w in caught]
    assert any("forecast periods have target actuals" in m for m in said), said
    assert not any("have no actual in the data" in m for m in said), said


def test_wrong_types_from_python_are_one_transfercast_error_each():
    """A path where a DataFrame goes, a text number of jobs and quantiles given in percent
    stop with a TransfercastError naming the value (before: AttributeError, TypeError and a
    plain ValueError, which ``except tc.TransfercastError`` missed)."""
    task = small_task()
    with pytest.raises(
        tc.TransfercastError, match=r"^data: the data must be a pandas DataFrame, got str; "
    ):
        tc.TransferTask("sales.csv", series="store", time="date", target="sales",
                        domain="store", targets=["S08"], horizon=4)  # fmt: skip
    with pytest.raises(tc.TransfercastError, match=r"^jobs '2': give a whole number of parallel"):
        tc.compare(task, ["source_only"], jobs="2")
    with pytest.raises(tc.TransfercastError, match=r"levels are fractions: 0\.1 for 10 %"):
        tc.compare(task, ["source_only"], quantiles=[10, 90])
    with pytest.raises(tc.TransfercastError, match=r"levels are fractions"):
        tc.TransferForecaster("source_only", quantiles=[10]).fit(task)


def test_a_warning_every_cell_raises_is_said_once_per_comparison(task):
    """Each cell's ``catch_warnings`` reset the registry that says a warning once: a Python
    comparison repeated the same text for every cell (six here)."""
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("default")
        tc.compare(task, ["seasonal_naive", "target_only"])
    texts = [str(w.message) for w in said if "seasonal_naive" in str(w.message)]
    assert len(texts) == 1 and texts[0].startswith("seasonal_naive: no target series holds")
    with warnings.catch_warnings():  # a filter the user set still applies
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="^seasonal_naive: no target series holds"):
            tc.compare(task, ["seasonal_naive"])


def test_another_models_forecasts_are_scored_beside_the_strategies(task):
    """A model of another library backtested at the same origins joins the leaderboard: the
    pooled forecasts given back as 'copy' score exactly as pooled, MASE included."""
    from transfercast.forecaster import to_user_columns

    comp = tc.compare(task, ["target_only", "pooled"], params={"pooled": FAST},
                      quantiles=[0.1, 0.9])  # fmt: skip
    mine = to_user_columns(task, comp.forecasts[comp.forecasts["strategy"] == "pooled"])
    both = comp.add("copy", mine.drop(columns=["strategy", "actual"]))
    board = both.leaderboard().set_index("strategy")
    cols = ["wape", "mase", "rmse", "bias", "cells", "sql", "coverage_80"]
    pd.testing.assert_series_equal(board.loc["copy", cols], board.loc["pooled", cols],
                                   check_names=False)  # fmt: skip
    assert len(both.forecasts) == len(comp.forecasts) + len(mine)
    assert "copy" not in set(comp.scores["strategy"])  # the comparison itself is unchanged
    with pytest.raises(tc.TransfercastError, match=r"^forecasts of 'short': no finite forecast "
                       r"of series '\S+' at \d{4}-\d\d-\d\d from the origin"):  # fmt: skip
        comp.add("short", mine.iloc[1:].drop(columns=["strategy", "actual"]))
    with pytest.raises(tc.TransfercastError, match=r"missing column 'origin'"):
        comp.add("bare", mine.drop(columns=["origin"]))
    with pytest.raises(tc.TransfercastError, match=r"already has a strategy 'pooled'"):
        comp.add("pooled", mine)
    inf = mine.drop(columns=["strategy", "actual"]).assign(forecast=lambda f: f["forecast"] * 1.1)
    inf.loc[inf.index[0], "forecast"] = np.inf
    with pytest.raises(tc.TransfercastError, match=r"no finite forecast of series"):
        comp.add("infinite", inf)
    with pytest.raises(tc.TransfercastError, match=r"name the model with text, not 7"):
        comp.add(7, inf)
    given = mine.drop(columns=["strategy", "actual"])
    holed = given.copy()
    holed.loc[holed.index[2], "q0.9"] = np.nan
    said = r"^forecasts of 'holed': no finite q0\.9 for series '\S+' at \d{4}-\d\d-\d\d from "
    with pytest.raises(tc.TransfercastError, match=said + r"the origin \S+ \(1 of the "):
        comp.add("holed", holed)
    crossed = given.assign(**{"q0.1": given["q0.9"] + 1.0})
    with pytest.raises(tc.TransfercastError, match=r"^forecasts of 'crossed': q0\.1 above q0\.9 "
                       r"for series"):  # fmt: skip
        comp.add("crossed", crossed)
    # interval scores average over the levels given: other levels would not compare
    with pytest.raises(tc.TransfercastError, match=r"^forecasts of 'half': quantile columns q0\.9 "
                       r"differ from the comparison's \(q0\.1, q0\.9\); "):  # fmt: skip
        comp.add("half", given.drop(columns="q0.1"))
    with pytest.raises(tc.TransfercastError, match=r"^forecasts of 'odd': column 'q0\.10' is no "
                       r"quantile column: write level 0\.1 as 'q0\.1'$"):  # fmt: skip
        comp.add("odd", given.rename(columns={"q0.1": "q0.10"}))
    plain = tc.compare(task, ["target_only"], evaluate={"windows": 1})
    with pytest.raises(tc.TransfercastError, match=r"differ from the comparison's \(none: it "
                       r"was run without quantiles\)"):  # fmt: skip
        plain.add("mine", given)
    # a week labelled by its Monday matches no period: said so, not "no finite forecast"
    monday = given.assign(date=given["date"] - pd.Timedelta(days=4))
    said = r"^forecasts of 'monday': column 'date' holds \d{4}-\d\d-\d\d, not on the 'W-FRI' grid"
    with pytest.raises(tc.TransfercastError, match=said + r" of the data \(\d+ rows\)"):
        comp.add("monday", monday)
    with pytest.raises(tc.TransfercastError, match=r"column 'origin' holds .* not on the 'W-FRI'"):
        noon = pd.to_datetime(given["origin"]) + pd.Timedelta(hours=12)
        comp.add("noon", given.assign(origin=noon))
    with pytest.raises(tc.TransfercastError, match=r"the name 'auto' is kept for "):
        comp.add("auto", given)


def test_another_models_times_of_a_zoned_task_are_read_on_the_datas_clock():
    """In an hourly task of a time zone, a forecasts frame written in the data's own clock
    (naive local times, origin and time column alike) scores as the strategy it copies; an
    origin read as UTC beside local times would pair each forecast with another origin."""
    from transfercast.forecaster import to_user_columns

    hours = pd.date_range("2021-04-01", periods=24 * 10, freq="h")
    frame = pd.DataFrame(
        [(s, h, 10 + 8 * np.sin(k / 4) + (s == "B")) for s in ["A", "B", "T"]
         for k, h in enumerate(hours) if s != "T" or k >= len(hours) - 24 * 4],
        columns=["store", "time", "sales"],
    )  # fmt: skip
    features = {"lags": [1, 24], "windows": [24], "level_window": 24, "season_length": 1,
                "source_window": 24 * 5}  # fmt: skip
    task = tc.TransferTask(
        frame, series=["store"], time="time", target="sales", domain="store", targets=["T"],
        horizon=6, freq="h", timezone="Europe/Berlin", features=features,
    )  # fmt: skip
    comp = tc.compare(task, ["last_value"], evaluate={"windows": 2, "step": 3})
    mine = to_user_columns(task, comp.forecasts).drop(columns=["strategy", "actual"])
    for col in ("time", "origin"):  # as the data: local clock times without an offset
        mine[col] = pd.to_datetime(mine[col]).dt.tz_localize(None)
    board = comp.add("copy", mine).leaderboard().set_index("strategy")
    cols = ["wape", "mase", "cells"]
    pd.testing.assert_series_equal(board.loc["copy", cols], board.loc["last_value", cols],
                                   check_names=False)  # fmt: skip


def test_sql_of_a_median_equal_to_the_forecast_is_its_mase_past_a_season_of_history():
    """SQL is scaled like MASE by the one-step naive error, so it does not jump to the seasonal
    naive error once a history holds a season and one period (53 weeks here: 60 and more)."""
    from transfercast.forecaster import to_user_columns

    task = small_task(targets=["S01", "S02"], target_history=None)
    comp = tc.compare(task, ["last_value"], quantiles=[0.5])
    mine = to_user_columns(task, comp.forecasts).drop(columns=["strategy", "actual"])
    scores = comp.add("median", mine.assign(**{"q0.5": mine["forecast"]})).scores
    median = scores[scores["strategy"] == "median"]
    assert len(median) == 4 and median["mase"].notna().all()
    np.testing.assert_allclose(median["sql"], median["mase"], rtol=1e-12)


def test_the_gaps_interval_counts_the_cells_both_strategies_scored():
    """a and b each scored 4 of 6 cells, but only 2 of them together: the gap's interval is
    Student's t with 1 degree of freedom (12.7 s.e.), not with 3 (3.18 s.e.), so a gap of 5
    s.e. is a tie; the leaderboard says over how many cells (before: the smaller count)."""
    from transfercast.evaluation import leaderboard, tied_with_leader

    cells = [(t, o) for t in ("T1", "T2", "T3") for o in ("o1", "o2")]
    a = [0.10, 0.11, 0.12, 0.13, np.nan, np.nan]  # failed the last two
    b = [np.nan, np.nan, 0.13, 0.145, 0.2, 0.2]  # failed the first two
    rows = [
        {"target": t, "origin": o, "strategy": s, "wape": w, "mae": w, "rmse": w, "mase": w,
         "rmsse": w, "bias": 0.0, "status": "ok" if np.isfinite(w) else "failed"}
        for s, ws in (("a", a), ("b", b)) for (t, o), w in zip(cells, ws, strict=True)
    ]  # fmt: skip
    board = leaderboard(pd.DataFrame(rows)).set_index("strategy")
    assert board.loc["b", "cells"] == 4 and board.loc["b", "wape_gap_cells"] == 2
    gap, se = board.loc["b", "wape_gap"], board.loc["b", "wape_gap_se"]
    assert gap == pytest.approx(0.0125) and gap / se == pytest.approx(5.0)
    assert tied_with_leader(board.reset_index()) == ["b"]
