"""``recalibrate``: the source model with its covariate response refitted on the target.

The covariate changes are checked against a hand computation, the ridge fit against a known
coefficient (and its shrinkage), the strategy against ``source_only`` where it has nothing to
learn, and against a target whose price response doubled: it learns a steeper response there.
The registry-wide leakage and bundle round-trip tests cover it as every strategy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import transfercast as tc
from transfercast.config import parse_config
from transfercast.datasets import synthetic_config
from transfercast.errors import ConfigError
from transfercast.features import FeatureTable
from transfercast.plugins.recalibrate import (
    CLIP,
    Recalibrate,
    covariate_changes,
    covariate_kinds,
    varies_within_periods,
)

from .conftest import small_task
from .test_regime import changed_frame

GBM = {"source_params": {"num_boost_round": 30, "num_leaves": 7}}


class _Flat:
    """A stand-in source model that forecasts 1 (the recent level) everywhere."""

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.ones(len(X))


def _table(price: np.ndarray, price_before: np.ndarray, promo_delta: np.ndarray, y=None):
    X = pd.DataFrame(
        {
            "price": price,
            "price_delta": price - price_before,
            "promo": (promo_delta > 0).astype(float),
            "promo_delta": promo_delta,
        }
    )
    n = len(X)
    keys = pd.DataFrame({"ds": pd.date_range("2021-01-01", periods=n, freq="D")})
    return FeatureTable(X=X, y=y, keys=keys, level=np.full(n, 10.0))


def test_covariate_changes_are_log_price_ratios_and_flag_differences():
    table = _table(
        np.array([8.0, 10.0, 12.5]), np.array([10.0, 10.0, 10.0]), np.r_[0.875, 0, -0.125]
    )
    kinds = covariate_kinds(table.X, ["price", "promo"])
    assert kinds == {"price": "log", "promo": "diff"}
    z = covariate_changes(table.X, kinds)
    np.testing.assert_allclose(z[:, 0], np.log([0.8, 1.0, 1.25]))
    np.testing.assert_allclose(z[:, 1], [0.875, 0.0, -0.125])


def test_default_covariates_are_those_that_differ_between_series_in_a_period():
    """A flag the same for every series at each period (a holiday) is left out by default; one
    that differs in a single period (a promotion) is kept; one series alone keeps nothing."""
    ds = pd.to_datetime(["2021-01-01", "2021-01-01", "2021-01-08", "2021-01-08"])
    X = pd.DataFrame({"holiday": [1.0, 1.0, 0.0, 0.0], "promo": [0.0, 0.0, 1.0, 0.0]})
    table = FeatureTable(X=X, y=None, keys=pd.DataFrame({"ds": ds}), level=np.ones(4))
    assert not varies_within_periods(table, "holiday")
    assert varies_within_periods(table, "promo")
    one_series = table.subset(np.array([True, False, True, False]))
    assert not varies_within_periods(one_series, "promo")


def test_the_ridge_fit_recovers_a_response_and_the_penalty_shrinks_it():
    rng = np.random.default_rng(0)
    before = rng.uniform(5, 15, 400)
    price = before * np.exp(rng.normal(0, 0.2, 400))
    promo = rng.choice([0.875, -0.125], 400)
    y = np.exp(-1.5 * np.log(price / before) + 0.4 * promo)
    table = _table(price, before, promo, y)

    def coef(penalty: float) -> np.ndarray:
        model = Recalibrate(penalty=penalty, covariates=["price", "promo"])
        model.source_model_ = _Flat()
        model.fine_tune(table, None)
        return model.coef_

    np.testing.assert_allclose(coef(0.0), [-1.5, 0.4], atol=1e-9)
    shrunk = coef(50.0)
    assert np.all(np.abs(shrunk) < [1.5, 0.4]) and np.all(np.sign(shrunk) == [-1, 1])
    model = Recalibrate(penalty=0.0, covariates=["price", "promo"])
    model.source_model_ = _Flat()
    model.fine_tune(table, None)
    np.testing.assert_allclose(model.predict(table), y, rtol=1e-9)


def test_the_penalty_chosen_by_leaving_periods_out_follows_the_evidence():
    """A response that is there is fitted with a small penalty; residuals that are noise alone
    mostly get no correction at all (an infinite penalty: the source model's forecast)."""

    def draw(seed: int, response: float):
        rng = np.random.default_rng(seed)
        before = rng.uniform(5, 15, 60)
        price = before * np.exp(rng.normal(0, 0.2, 60))
        promo = rng.choice([0.875, -0.125], 60)
        log_y = response * np.log(price / before) + rng.normal(0, 0.3, 60)
        return _table(price, before, promo, np.exp(log_y))

    def fitted(table: FeatureTable) -> Recalibrate:
        model = Recalibrate(covariates=["price", "promo"])
        model.source_model_ = _Flat()
        model.fine_tune(table, None)
        return model

    signal = [fitted(draw(seed, -1.5)) for seed in range(20)]
    assert all(m.penalty_ <= 3.0 for m in signal)
    assert -1.7 < np.median([m.coef_[0] for m in signal]) < -1.2
    noise = [fitted(draw(seed, 0.0)) for seed in range(20)]
    assert sum(m.penalty_ == np.inf for m in noise) >= 9  # 12 of these 20
    assert all(np.all(m.coef_ == 0) for m in noise if m.penalty_ == np.inf)


def test_without_covariates_it_is_source_only():
    """``covariates = []`` gives the source model's forecasts to the bit; with the default
    covariates the forecasts move where the horizon's prices and promotions differ from the
    level window's, and stay where a price is unknown (beyond the data, read as its recent
    mean; a promotion flag reads as its usual value there, which can differ from the mean)."""
    task = small_task()
    origin = task.evaluation_origins()[-1]

    def forecast(name: str, **params) -> np.ndarray:
        model = tc.TransferForecaster(strategy=name, **GBM, **params).fit(task, origin)
        return model.predict()["forecast"].to_numpy()

    base = forecast("source_only")
    np.testing.assert_array_equal(forecast("recalibrate", covariates=[]), base)
    moved = np.abs(forecast("recalibrate") / base - 1)
    assert moved.max() > 0.02
    unknown = (
        tc.TransferForecaster(strategy="recalibrate", covariates=["price"], **GBM)
        .fit(task)
        .predict()
    )
    plain = tc.TransferForecaster(strategy="source_only", **GBM).fit(task).predict()
    np.testing.assert_allclose(unknown["forecast"], plain["forecast"], rtol=1e-12)


def test_an_unknown_covariate_is_named():
    with pytest.raises(ConfigError, match=r"covariates: 'discount' is not a known covariate"):
        tc.TransferForecaster(strategy="recalibrate", covariates=["discount"], **GBM).fit(
            small_task()
        )


def test_a_doubled_price_response_is_learnt_from_the_new_regime():
    """The target stores' price elasticities double 20 weeks before the end; fitted on the 14
    weeks since, the correction's price coefficient is negative (sales fall further when the
    price rises than the sources taught), so that a promotion week (the price at 0.8 of the
    window's) gets a larger lift than the source model gives it, and the forecast beats the
    source model's. The holiday flag, the same in every store, is left out by default."""
    frame = changed_frame("price", 1.0, seed=3)
    raw = synthetic_config("sales.csv", frame.attrs["targets"], horizon=6, windows=1)
    del raw["task"]["target_history"]
    raw["task"]["regime_start"] = str(pd.Timestamp(frame.attrs["change"]["date"]).date())
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    origin = pd.Timestamp(frame.attrs["change"]["date"]) + pd.Timedelta(weeks=13)
    cmp = tc.compare(
        task,
        ["source_only", "recalibrate"],
        params={"source_only": GBM, "recalibrate": GBM},
        origins=[origin],
    )
    wape = cmp.scores.groupby("strategy")["wape"].mean()
    assert wape["recalibrate"] < wape["source_only"]
    model = tc.TransferForecaster(strategy="recalibrate", **GBM).fit(task, origin)
    for strategy in model.fitted_.values():
        # is_holiday is the same for every series of a store: left out by default
        assert strategy.kinds_ == {"price": "log", "promo": "diff"}
        promotion_week = np.exp(strategy.coef_ @ [np.log(0.8), 0.875])
        assert promotion_week > 1.1


def _coef(table, penalty: float = 0.0) -> np.ndarray:
    model = Recalibrate(penalty=penalty, covariates=["price", "promo"])
    model.source_model_ = _Flat()
    model.fine_tune(table, None)
    return model.coef_


def _response(n: int = 200):
    """Prices around their earlier level and promotions, with sales of elasticity -1.5 and a
    promotion lift of exp(0.4)."""
    rng = np.random.default_rng(0)
    before = rng.uniform(5, 15, n)
    price = before * np.exp(rng.normal(0, 0.2, n))
    promo = rng.choice([0.875, -0.125], n)
    return price, before, promo, np.exp(-1.5 * np.log(price / before) + 0.4 * promo)


def test_rows_without_sales_do_not_pull_the_correction_down():
    """A log ratio needs sales: rows that sold nothing are left out of the fit, not read as
    the largest fall the clip allows."""
    price, before, promo, y = _response()
    zeroed = y.copy()
    zeroed[::4] = 0.0
    kept = np.arange(len(y)) % 4 != 0
    np.testing.assert_allclose(
        _coef(_table(price, before, promo, zeroed)),
        _coef(_table(price[kept], before[kept], promo[kept], y[kept])),
    )


def test_log_ratios_beyond_the_clip_count_as_the_clip():
    price, before, promo, y = _response()
    wild, at_clip = y.copy(), y.copy()
    wild[7], at_clip[7] = np.exp(6.0), np.exp(CLIP)
    np.testing.assert_allclose(
        _coef(_table(price, before, promo, wild)), _coef(_table(price, before, promo, at_clip))
    )


def test_the_correction_factor_is_clipped():
    price, before, promo, y = _response()
    model = Recalibrate(penalty=0.0, covariates=["price", "promo"])
    model.source_model_ = _Flat()
    model.fine_tune(_table(price, before, promo, y), None)
    model.coef_ = np.array([50.0, -50.0])  # a wild fit
    factor = model.correction(_table(price, before, promo))
    assert np.exp(-CLIP) - 1e-12 <= factor.min() and factor.max() <= np.exp(CLIP) + 1e-12
