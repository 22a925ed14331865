"""The interval method ``quantile``: the engines' quantile objectives, one model per level, for
``target_only``, ``source_only`` and ``pooled``; refused for other strategies; the quantile
models travel in the model bundle, so ``predict`` gives ``run``'s quantiles."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import transfercast as tc
from transfercast.cli import to_toml
from transfercast.errors import ConfigError
from transfercast.forecasting import OriginTables, fit_and_forecast
from transfercast.plugin_manager import get_plugin_manager
from transfercast.plugins.quantile_gbm import QuantileGBM
from transfercast.source_cache import SourceCache
from transfercast.uncertainty import calibrate_intervals

from .clirun import invoke
from .conftest import small_project

QS = [0.1, 0.5, 0.9]
COLS = ["q0.1", "q0.5", "q0.9"]
BASELINES = ["target_only", "source_only", "pooled"]
# small models: the test is about the method, not about the models' quality
SMALL = {"source_params": {"num_boost_round": 40}, "target_params": {"num_boost_round": 40}}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One thread per fit: the test machine's cores are shared."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRANSFERCAST_THREADS", "1")
        yield


def _compare(task, names, engine="lightgbm"):
    params = {n: {**SMALL, "engine": engine} for n in names}
    return tc.compare(task, names, params=params, quantiles=QS, interval_method="quantile")


@pytest.fixture(scope="module")
def lgb_cmp(task):
    return _compare(task, BASELINES)


def test_quantiles_never_cross_and_bracket_the_point_forecast(lgb_cmp):
    assert (lgb_cmp.scores["status"] == "ok").all()
    fc = lgb_cmp.forecasts
    assert set(fc["strategy"]) == set(BASELINES)
    q = fc[COLS].to_numpy(float)
    assert np.isfinite(q).all() and q.min() >= 0.0
    assert np.all(np.diff(q, axis=1) >= 0)
    for name, part in fc.groupby("strategy"):
        inside = (part["forecast"] >= part["q0.1"]) & (part["forecast"] <= part["q0.9"])
        assert inside.mean() >= 0.7, (name, inside.mean())
        # the median model and the point model learn nearly the same thing
        gap = (part["q0.5"] - part["forecast"]).abs().median() / part["forecast"].abs().mean()
        assert gap < 0.15, (name, gap)
        assert (part["q0.9"] - part["q0.1"]).gt(0).mean() > 0.95, name


def test_source_only_80_percent_interval_covers_a_sane_share(lgb_cmp):
    """A loose sanity band (6 targets x 2 origins x 8 steps): the quantile models are fitted on
    the sources, so a cold-start target's coverage may be under nominal, but not absurd."""
    fc = lgb_cmp.forecasts.dropna(subset=["actual"])
    fc = fc[fc["strategy"] == "source_only"]
    cov = ((fc["actual"] >= fc["q0.1"]) & (fc["actual"] <= fc["q0.9"])).mean()
    assert 0.55 <= cov <= 0.98, cov
    s = lgb_cmp.scores.set_index("strategy").loc["source_only"]
    assert 0.55 <= s["coverage_80"].mean() <= 0.98


def test_xgboost_quantile_models(task):
    cmp = _compare(task, ["source_only", "target_only"], engine="xgboost")
    assert (cmp.scores["status"] == "ok").all()
    fc = cmp.forecasts
    q = fc[COLS].to_numpy(float)
    assert np.isfinite(q).all() and np.all(np.diff(q, axis=1) >= 0)
    inside = (fc["forecast"] >= fc["q0.1"]) & (fc["forecast"] <= fc["q0.9"])
    assert inside.mean() >= 0.7


def _fitted(task, name, **params):
    origin = task.evaluation_origins(None)[0]
    tables = OriginTables(task, task.at_origin(origin), task.features)
    strategy = get_plugin_manager().registry.create(name, {**SMALL, **params})
    return strategy, tables


def test_source_models_are_fitted_once_per_origin_and_shared(task):
    strategy, tables = _fitted(task, "source_only")
    cache = SourceCache()
    a, b = list(task.targets)[:2]
    fits = [
        calibrate_intervals(
            "quantile", QS, fit_and_forecast(strategy, tables, d, cache).strategy, tables, d, cache
        )
        for d in (a, b)
    ]
    assert all(m1 is m2 for m1, m2 in zip(fits[0].models, fits[1].models, strict=True))
    # ... and each target's horizon is forecast from its own features
    assert set(fits[0].horizon["unique_id"]).isdisjoint(fits[1].horizon["unique_id"])
    # the quantile models fit the engine's quantile loss: raw predictions rarely cross
    lo, hi = fits[0].horizon["q0.1"], fits[0].horizon["q0.9"]
    assert (lo <= hi).mean() > 0.9


@pytest.mark.parametrize("name", ["auto", "boost_continue"])
def test_other_strategies_are_a_one_line_error_naming_them(task, name):
    strategy, tables = _fitted(task, "target_only")
    other = get_plugin_manager().registry.create(name, {})
    with pytest.raises(ConfigError) as err:
        calibrate_intervals("quantile", QS, other, tables, list(task.targets)[0], SourceCache())
    msg = str(err.value)
    assert f"'{name}'" in msg and "replay_conformal" in msg and "\n" not in msg


def test_the_recursive_formulation_is_refused(task):
    strategy, tables = _fitted(task, "target_only")
    spec = tables.spec.model_copy(update={"formulation": "recursive"})
    rec = OriginTables(task, tables.data, spec)
    with pytest.raises(ConfigError, match="formulation"):
        calibrate_intervals("quantile", QS, strategy, rec, list(task.targets)[0], None)


def _project(tmp_path, name, engine):
    raw = small_project(tmp_path, horizon=6, target_history=13, windows=1, output_dir="out")
    raw["strategy"]["name"] = name
    raw["forecast"] = {"quantiles": QS, "method": "quantile"}
    small = (  # to_toml writes no nested tables
        f'\n[strategies.{name}]\nengine = "{engine}"\n'
        "source_params = { num_boost_round = 40 }\ntarget_params = { num_boost_round = 40 }\n"
    )
    (tmp_path / "config.toml").write_text(to_toml(raw) + small)
    return tmp_path / "config.toml"


@pytest.mark.parametrize(("name", "engine"), [("source_only", "lightgbm"), ("pooled", "xgboost")])
def test_run_and_predict_give_the_same_quantiles(tmp_path, name, engine):
    config = _project(tmp_path, name, engine)
    res = invoke("run", config)
    assert res.code == 0, res.err
    ran = pd.read_csv(tmp_path / "out" / "forecasts.csv")
    assert list(ran.columns[-4:]) == ["forecast", *COLS]
    assert np.isfinite(ran[COLS].to_numpy()).all()
    manifest = json.loads((tmp_path / "out" / "model" / "manifest.json").read_text())
    spec = manifest["targets"][0]["intervals"]
    assert spec["method"] == "quantile" and spec["quantiles"] == QS
    models = spec["state"]["models"]
    assert [m["engine"] for m in models] == [engine] * 3
    assert all(isinstance(m["booster"], str) for m in models)  # native format, as text
    assert QuantileGBM.from_json(spec["state"]).is_target == (name == "pooled")
    # the engine of boosters held as text in the manifest is recorded too (an older engine
    # would misread them): with no model file at all, from the interval state alone
    import importlib.metadata

    from transfercast.bundle import _engines

    assert manifest["engines"][engine] == importlib.metadata.version(engine)
    assert _engines(tmp_path / "no_such_folder", manifest["targets"]) == {
        engine: importlib.metadata.version(engine)
    }
    out = tmp_path / "p.csv"
    res = invoke("predict", tmp_path / "out" / "model", "--data", tmp_path / "sales.csv",
                 "--output", out)  # fmt: skip
    assert res.code == 0, res.err
    pd.testing.assert_frame_equal(pd.read_csv(out), ran, check_exact=False, rtol=1e-9)


FAST = {"source_params": {"num_boost_round": 5}}


@pytest.fixture(scope="module")
def two_origins(task):
    origins = task.evaluation_origins()[:2]
    return [OriginTables(task, task.at_origin(o), task.features) for o in origins]


def test_source_only_quantile_models_follow_rows_seed_and_levels(two_origins, task):
    """Shared by the targets of one origin, never across source rows, seeds or levels."""
    from transfercast.plugins.baselines import SourceOnly
    from transfercast.plugins.quantile_gbm import fit_for

    t1, t2 = two_origins
    d, cache = task.targets[0], SourceCache()
    a = fit_for(SourceOnly(FAST), [0.1, 0.9], t1, d, cache)
    assert fit_for(SourceOnly(FAST), [0.1, 0.9], t1, d, cache) is a
    assert fit_for(SourceOnly(FAST), [0.1, 0.9], t2, d, cache) is not a
    assert fit_for(SourceOnly({**FAST, "seed": 1}), [0.1, 0.9], t1, d, cache) is not a
    assert fit_for(SourceOnly(FAST), [0.2, 0.8], t1, d, cache) is not a


def test_pooled_quantile_models_follow_the_levels(two_origins, task):
    from transfercast.plugins.baselines import Pooled
    from transfercast.plugins.quantile_gbm import fit_for

    t1, d, cache = two_origins[0], task.targets[0], SourceCache()
    a = fit_for(Pooled(FAST), [0.1, 0.9], t1, d, cache)
    assert fit_for(Pooled(FAST), [0.2, 0.8], t1, d, cache) is not a


def test_a_tweedie_point_model_gives_quantile_models_without_its_power(task, capfd):
    """The quantile models replace the objective: its Tweedie power went with the parameters,
    and XGBoost warned "Parameters: { tweedie_variance_power } are not used"."""
    import warnings

    from transfercast.plugins.quantile_gbm import fit_models

    origin = task.evaluation_origins()[-1]
    table = OriginTables(task, task.at_origin(origin), task.features).source
    params = {"objective": "reg:tweedie", "tweedie_variance_power": 1.2, "num_boost_round": 5}
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        models = fit_models("xgboost", "source", params, 0, [0.5], table)
    assert not [w for w in said if "not used" in str(w.message)]
    assert "not used" not in capfd.readouterr().err
    config = json.loads(models[0].booster_.save_config())["learner"]["objective"]
    assert config["name"] == "reg:quantileerror"
