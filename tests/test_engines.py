"""The boosting engines: parameters, threads, row weights and column alignment."""

from __future__ import annotations

import os

import numpy as np
import pytest

from transfercast.engines import GBM, align_columns, engine_params, threads
from transfercast.errors import TransfercastError
from transfercast.forecasting import OriginTables

ENGINES = ["lightgbm", "xgboost"]


@pytest.fixture(scope="module")
def source(task):
    return OriginTables(task, task.at_origin(task.evaluation_origins()[0]), task.features).source


def test_threads_by_role_and_size(monkeypatch):
    """Target models and small fits take one thread, source models every core, unless
    ``TRANSFERCAST_THREADS`` says otherwise (docs/benchmarks.md, Threads)."""
    monkeypatch.delenv("TRANSFERCAST_THREADS", raising=False)
    assert threads("target") == 1 and threads("source", rows=100) == 1
    assert threads("source") == (os.cpu_count() or 1)
    assert engine_params("lightgbm", "target", {}, 0)["num_threads"] == 1
    assert engine_params("xgboost", "target", {}, 0)["nthread"] == 1
    monkeypatch.setenv("TRANSFERCAST_THREADS", "3")
    assert threads("target") == 3 and engine_params("xgboost", "source", {}, 0)["nthread"] == 3


@pytest.mark.parametrize("engine", ENGINES)
def test_overrides_win_over_defaults_and_the_seed_is_passed(engine):
    leaves = "num_leaves" if engine == "lightgbm" else "max_depth"
    p = engine_params(engine, "source", {leaves: 5, "num_boost_round": 7}, 11)
    assert p[leaves] == 5 and p["num_boost_round"] == 7 and p["seed"] == 11


@pytest.mark.parametrize("engine", ENGINES)
def test_the_table_weights_are_used(source, engine):
    assert np.ptp(source.weight) > 0  # not uniform: the weights can matter
    params = {"num_boost_round": 20}
    weighted = GBM(engine, "source", params).fit(source).predict(source.X)
    unweighted = GBM(engine, "source", params).fit(source, weight=False).predict(source.X)
    assert not np.allclose(weighted, unweighted)


@pytest.mark.parametrize("engine", ENGINES)
def test_predict_aligns_columns_by_name(source, engine):
    """LightGBM checks only the number of columns: shuffled columns are put back in the
    training order, and an absent column is a missing value (not a sale of 0)."""
    model = GBM(engine, "source", {"num_boost_round": 20}).fit(source)
    X = source.X.iloc[:300]
    np.testing.assert_array_equal(model.predict(X[X.columns[::-1]]), model.predict(X))
    gone = X.columns[1]
    aligned = align_columns(X.drop(columns=[gone]), list(X.columns))
    assert list(aligned.columns) == list(X.columns) and aligned[gone].isna().all()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_model_file_is_the_engines_own_format_written_by_python(
    source, engine, tmp_path, monkeypatch
):
    """The saved file has the bytes of the engine's own ``save_model`` and loads back to the
    same predictions; the engine never opens the file itself, so that a failed write (a full
    disk) is one ``OSError`` naming the file (before: LightGBM printed its own ``[Fatal]`` line
    first)."""
    import lightgbm as lgb
    import xgboost as xgb

    model = GBM(engine, "source", {"num_boost_round": 20}).fit(source)
    entry = model.save(tmp_path, "m")
    own = tmp_path / f"own_{entry['file']}"  # the suffix picks XGBoost's format
    model.booster_.save_model(str(own))
    assert (tmp_path / entry["file"]).read_bytes() == own.read_bytes()
    X = source.X.iloc[:200]
    np.testing.assert_array_equal(GBM.load(tmp_path, entry).predict(X), model.predict(X))

    def refused(*args, **kwargs):
        raise AssertionError("the engine wrote the file itself")

    monkeypatch.setattr(lgb.Booster, "save_model", refused)
    monkeypatch.setattr(xgb.Booster, "save_model", refused)
    model.save(tmp_path / "again", "m")
    assert (tmp_path / "again" / entry["file"]).read_bytes() == own.read_bytes()
    clash = tmp_path / "clash" / entry["file"]
    clash.mkdir(parents=True)  # a folder where the file goes: the write fails
    with pytest.raises((OSError, TransfercastError)) as err:
        model.save(clash.parent, "m")
    assert entry["file"] in str(err.value)


def test_a_lightgbm_row_sample_bags_the_rows():
    """LightGBM bags only with a bagging frequency, which the target defaults lack: a
    ``subsample`` (``bagging_fraction``) in ``target_params`` changed nothing."""
    from transfercast.engines import engine_params

    assert engine_params("lightgbm", "target", {"subsample": 0.5}, 0)["bagging_freq"] == 1
    assert "bagging_freq" not in engine_params("lightgbm", "target", {}, 0)
    kept = engine_params("lightgbm", "target", {"bagging_fraction": 0.5, "bagging_freq": 3}, 0)
    assert kept["bagging_freq"] == 3
