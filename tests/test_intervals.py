"""Replay-calibrated quantiles and quantile scores (transfercast.intervals)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from transfercast.intervals import (
    Calibration,
    Scale,
    blend_detail,
    calibrate,
    central_intervals,
    check_quantiles,
    conformal_quantile,
    history_volatility,
    learn_gamma,
    qcol,
    quantile_scores,
    seasonal_error,
)

QS = [0.025, 0.1, 0.5, 0.9, 0.975]


def replay_detail(n: int, horizon: int, sd: float, seed: int, candidate: str = "c") -> pd.DataFrame:
    """Replayed rows whose actual = forecast + level * N(0, sd * h)."""
    rng = np.random.default_rng(seed)
    h = np.tile(np.arange(1, horizon + 1), n)
    level = rng.uniform(50, 500, len(h))
    forecast = level * rng.uniform(0.8, 1.2, len(h))
    actual = forecast + level * rng.normal(0, sd * h, len(h))
    return pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(n), horizon),
            "cut": 0,
            "candidate": candidate,
            "step": h,
            "forecast": forecast,
            "actual": actual,
            "level": level,
        }
    )


def test_quantile_levels_are_checked_and_named():
    assert check_quantiles([0.9, 0.1, 0.5, 0.1]) == [0.1, 0.5, 0.9]
    with pytest.raises(ValueError, match="quantile 1.0"):
        check_quantiles([0.5, 1.0])
    assert qcol(0.1) == "q0.1" and qcol(0.025) == "q0.025"
    assert central_intervals(QS) == [(0.025, 0.975, "95"), (0.1, 0.9, "80")]
    # labels keep the nominal level's decimals: 99.5 % and 99.9 % are two intervals
    assert [p for *_, p in central_intervals([0.0005, 0.0025, 0.9975, 0.9995])] == ["99.9", "99.5"]
    with pytest.raises(ValueError, match=r"levels are fractions: 0.9 for 90 %"):
        check_quantiles([90])
    with pytest.raises(ValueError, match=r"quantiles 0.9 and 0.9000001 both make the column q0.9"):
        check_quantiles([0.9, 0.9000001])


def test_conformal_quantile_is_conservative():
    e = np.arange(1, 10, dtype=float)  # n = 9
    assert conformal_quantile(e, 0.9) == 9.0  # ceil(10 * 0.9) = 9th
    assert conformal_quantile(e, 0.1) == 1.0  # floor(10 * 0.1) = 1st
    assert conformal_quantile(e, 0.5) == 5.0
    assert np.isnan(conformal_quantile(np.array([np.nan]), 0.5))


def test_coverage_on_fresh_errors_is_nominal():
    """Calibrated on one sample of replayed errors, the intervals cover a fresh sample of the
    same kind within 3 points of nominal, at every step."""
    horizon = 4
    cal = calibrate(replay_detail(600, horizon, 0.1, seed=1), QS, horizon)
    fresh = replay_detail(3000, horizon, 0.1, seed=2)
    out = cal.apply(fresh[["forecast"]], "c", fresh["level"].to_numpy(), fresh["step"].to_numpy())
    y = fresh["actual"].to_numpy()
    for lo, hi, pct in central_intervals(QS):
        inside = (y >= out[qcol(lo)]) & (y <= out[qcol(hi)])
        for h in range(1, horizon + 1):
            cov = inside[fresh["step"].to_numpy() == h].mean()
            assert abs(cov - float(pct) / 100) < 0.03, (pct, h, cov)
    # wider at later steps, as the errors are
    width = cal.table["c"][:, -1] - cal.table["c"][:, 0]
    assert np.all(np.diff(width) > 0)


def test_quantiles_never_cross_even_with_a_floor():
    cal = Calibration([0.1, 0.5, 0.9], {"c": np.array([[-0.5, -0.1, 0.3]])})
    fc = pd.DataFrame({"forecast": [10.0, 0.5, 100.0]})
    out = cal.apply(fc, "c", np.array([10.0, 10.0, 10.0]), np.array([1, 1, 1]), floor=0.0)
    q = out[["q0.1", "q0.5", "q0.9"]].to_numpy()
    assert np.all(np.diff(q, axis=1) >= 0)
    assert q.min() >= 0.0
    np.testing.assert_allclose(out["q0.9"], [13.0, 3.5, 103.0])
    np.testing.assert_allclose(out["q0.1"], [5.0, 0.0, 95.0])
    assert list(out["forecast"]) == [10.0, 0.5, 100.0]  # the point forecast stays


def test_uncalibrated_strategy_is_named():
    cal = Calibration([0.5], {"a": np.zeros((1, 1))})
    with pytest.raises(KeyError, match="strategy 'b'.*calibrated: a"):
        cal.apply(pd.DataFrame({"forecast": [1.0]}), "b", np.ones(1), np.ones(1, dtype=int))


def test_sparse_steps_borrow_from_neighbours():
    detail = replay_detail(30, 3, 0.1, seed=3)  # 30 errors per step
    cal = calibrate(detail, [0.1, 0.9], 3, min_samples=50)
    assert cal.samples["c"] == [60, 90, 60]
    cal = calibrate(detail, [0.1, 0.9], 3, min_samples=10)
    assert cal.samples["c"] == [30, 30, 30]


def test_blend_detail_weights_the_candidates_forecasts():
    a = replay_detail(5, 2, 0.1, seed=4, candidate="a")
    b = a.assign(candidate="b", forecast=a["forecast"] * 2)
    blend = blend_detail(pd.concat([a, b]), {"a": 0.25, "b": 0.75}, "auto")
    merged = blend.merge(a, on=["unique_id", "cut", "step"], suffixes=("", "_a"))
    np.testing.assert_allclose(merged["forecast"], merged["forecast_a"] * 1.75)
    assert set(blend["candidate"]) == {"auto"}
    np.testing.assert_allclose(merged["actual"], merged["actual_a"])


def test_calibration_json_round_trip():
    cal = calibrate(volatile_detail(40, 2, 1.0, seed=5), QS, 2)
    assert cal.volatility["c"].gamma > 0
    back = Calibration.from_json(json.loads(json.dumps(cal.to_json())))
    assert back.quantiles == cal.quantiles
    np.testing.assert_array_equal(back.table["c"], cal.table["c"])
    assert back.samples == cal.samples and back.volatility == cal.volatility


def volatile_detail(domains: int, horizon: int, power: float, seed: int) -> pd.DataFrame:
    """Replayed rows of ``domains`` domains x 5 series whose relative error has a standard
    deviation of their history's volatility (spread 0.02-0.5) to ``power``, times 0.5."""
    rng = np.random.default_rng(seed)
    series = domains * 5
    vol = np.exp(rng.uniform(np.log(0.02), np.log(0.5), series))
    level = rng.uniform(50, 500, series)
    h = np.tile(np.arange(1, horizon + 1), series)
    idx = np.repeat(np.arange(series), horizon)
    forecast = level[idx] * rng.uniform(0.9, 1.1, len(h))
    actual = forecast + level[idx] * rng.normal(0, 0.5 * vol[idx] ** power, len(h))
    return pd.DataFrame(
        {
            "domain": [f"D{k // 5}" for k in idx],
            "unique_id": idx,
            "cut": 0,
            "candidate": "c",
            "step": h,
            "forecast": forecast,
            "actual": actual,
            "level": level[idx],
            "volatility": vol[idx],
        }
    )


def test_the_volatility_scale_is_learnt_from_the_replays():
    """Errors that grow with a series' volatility get gamma 1 and intervals that cover calm
    and erratic series alike; errors that do not get gamma 0 (relative errors)."""
    assert learn_gamma(volatile_detail(60, 3, 1.0, seed=1), QS, 3).gamma == 1.0
    assert learn_gamma(volatile_detail(60, 3, 0.0, seed=1), QS, 3).gamma == 0.0
    assert learn_gamma(volatile_detail(60, 3, 1.0, seed=1).drop(columns="volatility"), QS, 3) == (
        Scale()
    )
    cal = calibrate(volatile_detail(60, 3, 1.0, seed=1), QS, 3)
    fresh = volatile_detail(200, 3, 1.0, seed=2)
    out = cal.apply(
        fresh[["forecast"]], "c", fresh["level"], fresh["step"], volatility=fresh["volatility"]
    )
    inside = (fresh["actual"] >= out["q0.1"]) & (fresh["actual"] <= out["q0.9"])
    calm = fresh["volatility"] < fresh["volatility"].median()
    assert abs(inside[calm].mean() - 0.8) < 0.04 and abs(inside[~calm].mean() - 0.8) < 0.04
    # relative errors alone cover the calm series too often and the erratic ones too rarely
    flat = calibrate(volatile_detail(60, 3, 1.0, seed=1).drop(columns="volatility"), QS, 3)
    out = flat.apply(fresh[["forecast"]], "c", fresh["level"], fresh["step"])
    inside = (fresh["actual"] >= out["q0.1"]) & (fresh["actual"] <= out["q0.9"])
    assert inside[calm].mean() > 0.9 and inside[~calm].mean() < 0.7


def test_history_volatility_reads_only_the_periods_up_to_the_cut():
    Y = np.array([[10.0, 12.0, np.nan, 9.0, 100.0], [5.0, 5.0, 5.0, 5.0, 5.0]])
    # row 0, cut at position 3, 3 periods: 12, NaN, 9 -> |9 - 12| / level 2
    out = history_volatility(Y, [0, 1, 0], [3, 3, 1], 3, np.array([2.0, 5.0, 1.0]))
    np.testing.assert_allclose(out[:2], [1.5, 0.0])
    assert out[2] == 2.0  # 10, 12 at positions 0-1
    assert np.isnan(history_volatility(Y, [0], [0], 3, np.ones(1))[0])  # one value


def test_history_volatility_matches_the_definition_on_gappy_series():
    rng = np.random.default_rng(3)
    Y = rng.lognormal(3, 1, (40, 30))
    Y[rng.random(Y.shape) < 0.3] = np.nan
    rows, cuts = rng.integers(-1, 40, 500), rng.integers(-1, 30, 500)
    level = rng.uniform(0.5, 2.0, 500)

    def by_definition(r: int, c: int) -> float:
        y = Y[r, max(c - 7, 0) : c + 1]
        y = y[~np.isnan(y)]
        return float(np.mean(np.abs(np.diff(y)))) if r >= 0 and c >= 0 and len(y) > 1 else np.nan

    want = np.array([by_definition(r, c) for r, c in zip(rows, cuts, strict=True)]) / level
    np.testing.assert_allclose(history_volatility(Y, rows, cuts, 8, level), want, rtol=1e-12)
    assert np.isnan(want).any() and np.isfinite(want).sum() > 300  # both cases are exercised


def test_quantile_scores_by_hand():
    history = pd.DataFrame(
        {
            "unique_id": "s",
            "ds": pd.date_range("2020-01-03", periods=5, freq="W-FRI"),
            "y": [10.0, 12.0, 11.0, 13.0, 12.0],
        }
    )  # one-step naive MAE: (2 + 1 + 2 + 1) / 4 = 1.5
    fc = pd.DataFrame(
        {
            "unique_id": "s",
            "actual": [10.0, 14.0],
            "q0.1": [9.0, 9.0],
            "q0.5": [11.0, 11.0],
            "q0.9": [12.0, 13.0],
        }
    )
    s = quantile_scores(fc, history, [0.1, 0.5, 0.9], season=1)
    # pinball: row 1: 0.1*1, 0.5*1, 0.1*2 -> 0.1, 0.5, 0.2; row 2: 0.5, 1.5, 0.9
    np.testing.assert_allclose(s["pinball_q0.5"], 1.0 / 12.0)
    np.testing.assert_allclose(s["wql"], 2 * 3.7 / (3 * 24.0))
    np.testing.assert_allclose(s["sql"], (2 * 3.7 / 6) / 1.5)
    assert s["coverage_80"] == 0.5  # 10 inside [9, 12], 14 above 13
    np.testing.assert_allclose(s["width_80"], 3.5 / 12.0)
    np.testing.assert_allclose(s["winkler_80"], (3 + 4 + (2 / 0.2) * 1) / 2 / 12.0)
    # a row nothing calibrated (NaN quantiles) is not a miss: no coverage, not 0.5
    s = quantile_scores(fc.assign(**{"q0.1": [9.0, np.nan]}), history, [0.1, 0.5, 0.9])
    assert np.isnan(s["coverage_80"]) and np.isnan(s["width_80"])
    assert np.isnan(s["sql"]) and np.isnan(s["wql"])  # not scored on the other row alone


def test_sources_that_cannot_replay_give_nan_quantiles_with_a_warning():
    """One source domain has no other to replay it with: no quantiles, not a guess."""
    import transfercast as tc
    from transfercast.data import DataWarning
    from transfercast.datasets import synthetic_sales

    sales = synthetic_sales(
        n_domains=3, series_per_domain=2, n_periods=40, n_targets=2, target_periods=36, seed=3
    )
    task = tc.TransferTask(
        sales, series=["store", "dept"], time="date", target="sales", domain="store",
        targets=sales.attrs["targets"], horizon=4, static=["store_type", "size"],
    )  # fmt: skip
    params = {"source_only": {"source_params": {"num_boost_round": 10}}}
    origin = task.evaluation_origins()[-1]
    with pytest.warns(DataWarning, match=r"'S02': no source replay at 27 periods .* \(one source"):
        comp = tc.compare(task, "source_only", params=params, origins=origin, quantiles=[0.1, 0.9])
    assert comp.forecasts[["q0.1", "q0.9"]].isna().all().all()
    assert comp.forecasts["forecast"].notna().all()
    assert comp.scores["status"].eq("ok").all() and comp.scores["coverage_80"].isna().all()


def test_seasonal_error_uses_the_season_when_history_allows():
    ds = pd.date_range("2020-01-01", periods=6, freq="MS")
    hist = pd.DataFrame({"unique_id": "s", "ds": ds, "y": [1.0, 5.0, 2.0, 6.0, 3.0, 7.0]})
    assert seasonal_error(hist, 2)["s"] == pytest.approx(1.0)  # |2-1|, |6-5|, |3-2|, |7-6|
    assert seasonal_error(hist, 12)["s"] == pytest.approx(np.mean([4, 3, 4, 3, 4]))


def _with_naive(detail: pd.DataFrame, domain: str, naive_err: float) -> pd.DataFrame:
    """``detail`` (candidate ``c``) with a domain column and the naive level's rows, whose
    absolute error is ``naive_err`` times the level."""
    d = detail.assign(domain=domain, ds=detail["step"])
    naive = d.assign(candidate="naive")
    naive["actual"] = naive["forecast"] + naive_err * naive["level"]
    return pd.concat([d, naive], ignore_index=True)


def test_own_backtest_widens_the_intervals_of_a_target_unlike_the_replays_never_narrows():
    from transfercast.plugins.intervals import own_scale
    from transfercast.replay import own_share, replay_pvalue

    parts = [replay_detail(20, 13, 0.02, seed=k) for k in range(9)]
    replayed = pd.concat(
        [_with_naive(p, f"D{k}", 0.3) for k, p in enumerate(parts)], ignore_index=True
    )
    like = _with_naive(replay_detail(20, 7, 0.02, seed=99), "T", 0.3)
    unlike = _with_naive(replay_detail(20, 7, 0.06, seed=99), "T", 0.3)
    err = (replayed["actual"] - replayed["forecast"]).abs() / replayed["level"]
    mine = (unlike["actual"] - unlike["forecast"]).abs() / unlike["level"]
    keep = (replayed["candidate"] == "c") & (replayed["step"] <= 7)
    ratio = mine[unlike["candidate"] == "c"].mean() / err[keep].mean()
    # three times the replays' errors, far beyond every replayed domain: its own errors count
    share = own_share(7, replay_pvalue(replayed, unlike, "c"))
    assert share > 0.99
    assert own_scale(replayed, unlike, "c") == pytest.approx(ratio**share)
    assert ratio**share > 2.0
    # errors like the replays': a typical target, the replays (nearly) alone
    assert own_scale(replayed, like, "c") == pytest.approx(1.0, abs=0.05)
    # no own backtest: the replays alone
    assert own_scale(replayed, unlike.iloc[:0], "c") == 1.0
    # worse than the naive level by far, yet smaller errors than the replays': the intervals
    # keep the replays' width (before: 0.5 x, and an 80 % interval covered 67 %)
    calm = _with_naive(replay_detail(20, 7, 0.01, seed=99), "T", 0.001)
    assert own_share(7, replay_pvalue(replayed, calm, "c")) > 0.99
    assert own_scale(replayed, calm, "c") == 1.0


def test_a_strategys_own_replays_stand_for_it_whatever_it_calls_them():
    from transfercast.plugins.intervals import evidence

    rows = _with_naive(replay_detail(4, 13, 0.02, seed=1, candidate="blend of mine"), "T", 0.3)

    class Own:
        name = "mine"

        def clone(self):
            return self

        def replayed_forecasts(self):
            return rows

        def backtest_forecasts(self):
            return rows[rows["step"] <= 7]

    replayed, own = evidence(Own(), None, "T", None)
    assert sorted(replayed["candidate"].unique()) == ["mine", "naive"]
    assert len(replayed) == len(rows) and (own["step"] <= 7).all()
    assert (own["candidate"] == "mine").sum() == (rows["step"] <= 7).sum() // 2


def test_an_interval_on_too_few_replayed_errors_is_warned_about():
    """A 95 % interval needs 39 errors per step before its conformal bounds are more than the
    extreme errors; with 8 the warning says so, with 50 it is quiet."""
    import warnings

    from transfercast.data import DataWarning
    from transfercast.intervals import errors_needed
    from transfercast.plugins.intervals import few_errors

    assert [errors_needed(t) for t in (0.975, 0.025, 0.9, 0.1)] == [39, 39, 9, 9]
    e = np.arange(1.0, 9.0)  # 8 errors: the 0.975 quantile is the largest
    assert conformal_quantile(e, 0.975) == 8.0 and conformal_quantile(e, 0.025) == 1.0
    cal = Calibration([0.025, 0.5, 0.975], samples={"c": [8, 8]})
    said = r"the quantile 0.025 of 'c' rests on fewer replayed errors than the 39 its conformal"
    with pytest.warns(DataWarning, match=said + r" correction needs: the most extreme error"):
        few_errors(cal, "c")
    cal.samples["c"] = [50, 50]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        few_errors(cal, "c")


def test_learn_gamma_scores_each_gamma_on_the_half_it_was_not_calibrated_on(monkeypatch):
    """Calibrated on one half of the replayed domains, scored on the other: two domains of
    10 and 6 rows tell the halves apart."""
    import transfercast.intervals as iv

    detail = volatile_detail(2, 2, 1.0, seed=0)
    detail = detail[~((detail["domain"] == "D1") & (detail["unique_id"] > 7))]
    calls = []
    table, pinball = iv._step_table, iv.pinball
    monkeypatch.setattr(
        iv, "_step_table", lambda e, *a: calls.append(("fit", len(e))) or table(e, *a)
    )
    monkeypatch.setattr(
        iv, "pinball", lambda y, q, t: calls.append(("test", len(y))) or pinball(y, q, t)
    )
    learn_gamma(detail, [0.1, 0.9], 2, min_samples=1, gammas=(0.0,))
    fits = [k for k, (what, _) in enumerate(calls) if what == "fit"]
    assert len(fits) == 2 and {calls[k][1] for k in fits} == {10, 6}
    for k in fits:
        assert calls[k + 1] == ("test", len(detail) - calls[k][1])


def test_coverage_counts_an_actual_on_the_interval_bound_as_inside():
    """Sales of 0 under a lower quantile floored at 0 are inside the interval."""
    fc = pd.DataFrame(
        {"unique_id": "a", "actual": [0.0, 5.0, 10.0, 12.0]}
        | {"q0.1": [0.0, 0.0, 1.0, 1.0], "q0.9": [4.0, 6.0, 10.0, 11.0]}
    )
    history = pd.DataFrame({"unique_id": "a", "ds": range(4), "y": [1.0, 3.0, 2.0, 5.0]})
    assert quantile_scores(fc, history, [0.1, 0.9])["coverage_80"] == 0.75


def test_a_step_short_of_errors_pools_as_far_as_the_whole_horizon():
    """Ten errors per step, fifty needed: every step pools the whole horizon."""
    cal = calibrate(replay_detail(10, 5, 0.1, seed=3), [0.1, 0.9], 5, min_samples=50)
    assert cal.samples["c"] == [50] * 5


def test_an_almost_constant_series_gets_the_interval_of_the_replays_calmest_series():
    """The volatility scale is floored at the replays' 5 % volatility: a series whose history
    barely moved gets no interval of width about 0."""
    detail = volatile_detail(60, 3, 1.0, seed=1)
    cal = calibrate(detail, QS, 3)
    assert cal.volatility["c"].gamma > 0
    calm = float(np.quantile(detail["volatility"], 0.05))
    out = cal.apply(
        pd.DataFrame({"forecast": [100.0, 100.0]}),
        "c",
        np.array([100.0, 100.0]),
        np.array([1, 1]),
        volatility=np.array([1e-9, calm]),
    )
    width = (out["q0.9"] - out["q0.1"]).to_numpy()
    assert width[0] > 0 and width[0] == pytest.approx(width[1])


def test_a_targets_forecast_rows_index_the_calibration_from_step_one():
    """The period after the origin reads the replays' step 1, and so on to the horizon."""
    from transfercast.forecasting import OriginTables
    from transfercast.plugins.intervals import ReplayConformal
    from transfercast.replay import Naive
    from transfercast.uncertainty import add_quantiles, levels_and_steps

    from .conftest import small_task

    task = small_task(1.0)
    tables = OriginTables(task, task.at_origin(task.evaluation_origins()[-1]), task.features)
    fc = tables.forecast(Naive(), "S06")
    framed = levels_and_steps(tables, "S06", fc)
    first = framed.groupby("unique_id")["ds"].transform("min")
    assert (framed.loc[framed["ds"] == first, "step"] == 1).all()
    assert sorted(framed["step"].unique()) == list(range(1, tables.horizon + 1))
    # the quantile is the forecast plus the level times its step's row: row h - 1 holds h / 100
    table = (np.arange(1, tables.horizon + 1) / 100.0)[:, None]
    out = add_quantiles(
        ReplayConformal(Calibration([0.9], {"naive": table}), "naive"), [0.9], tables, "S06", fc
    )
    relative = (out["q0.9"] - out["forecast"]) / framed["level"]
    np.testing.assert_allclose(relative, framed["step"] / 100)


def test_a_strategys_intervals_are_calibrated_on_replays_at_the_targets_history_length():
    import transfercast as tc
    from transfercast.forecasting import OriginTables
    from transfercast.plugins.intervals import evidence
    from transfercast.replay import history_length, replays
    from transfercast.source_cache import SourceCache

    from .conftest import small_task

    task = small_task(1.0)
    tables = OriginTables(task, task.at_origin(task.evaluation_origins()[-1]), task.features)
    strategy = tc.get_plugin_manager().registry.create("target_only", {})
    replayed, _ = evidence(strategy, tables, "S06", SourceCache())
    n = history_length(tables, "S06")
    want = replays(tables, n, {"target_only": strategy.clone()}, SourceCache()).detail
    want = want[want["candidate"].isin(["target_only", "naive"])]
    pd.testing.assert_frame_equal(replayed.reset_index(drop=True), want.reset_index(drop=True))


def test_widening_for_the_targets_own_errors_keeps_the_median_where_the_replays_put_it():
    """The own backtest's factor multiplied the scaled-error quantiles themselves: one zero
    week in one target series (factor 3.3) moved its store's q0.5 from 0.87 to 0.57 of the
    forecast and q0.1 to 0.02. The spread about each step's median grows instead."""
    detail = replay_detail(60, 3, 0.05, seed=2)
    detail["actual"] -= 0.15 * detail["level"]  # the forecasts run high: a median offset
    cal = calibrate(detail, [0.1, 0.5, 0.9], 3)
    before = cal.table["c"].copy()
    assert (before[:, 1] < -0.1).all()
    cal.widen("c", 3.0)
    np.testing.assert_allclose(cal.table["c"][:, 1], before[:, 1])
    np.testing.assert_allclose(
        cal.table["c"] - cal.table["c"][:, [1]], 3.0 * (before - before[:, [1]])
    )


def test_a_level_an_interval_method_leaves_missing_keeps_its_column():
    """A method that gives no value for one level of a row: the others are sorted among their
    own columns (before: the sort moved q0.9's value into q0.5's column)."""
    from transfercast.uncertainty import sorted_levels

    q = np.array([[10.0, np.nan, 30.0], [3.0, 2.0, 1.0], [np.nan] * 3, [50.0, np.nan, 5.0]])
    got = sorted_levels(q)
    np.testing.assert_array_equal(
        got, [[10.0, np.nan, 30.0], [1.0, 2.0, 3.0], [np.nan] * 3, [5.0, np.nan, 50.0]]
    )
