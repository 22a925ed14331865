"""The ``boost_continue`` strategy: continuation and refit of source trees, on both engines."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from transfercast.cli import to_toml
from transfercast.errors import ConfigError
from transfercast.evaluation import compare
from transfercast.features import FeatureTable
from transfercast.forecasting import OriginTables
from transfercast.plugins.baselines import SourceOnly
from transfercast.plugins.boost_continue import BoostContinue

from .clirun import invoke
from .conftest import small_project, small_task

ENGINES = ["lightgbm", "xgboost"]
MODES = ["add_trees", "refit_leaves", "refit_then_add"]


@pytest.fixture(scope="module")
def tables() -> OriginTables:
    task = small_task()
    origin = task.evaluation_origins()[-1]
    return OriginTables(task, task.at_origin(origin), task.features)


@pytest.fixture(scope="module")
def target(tables) -> FeatureTable:
    return tables.target(tables.task.targets[0])


@pytest.fixture(scope="module")
def sources(tables) -> dict:
    """One fitted source model per engine (the same ``fit_source`` as ``source_only``)."""
    return {e: SourceOnly(engine=e).fit_source(tables.source) for e in ENGINES}


def fit(sources, tables, target, engine, **params) -> BoostContinue:
    return BoostContinue(engine=engine, **params).transfer(sources[engine], target, tables.source)


def source_forecast(sources, tables, target, engine) -> np.ndarray:
    return SourceOnly(engine=engine).transfer(sources[engine], target).predict(target)


def wmse(table: FeatureTable, pred: np.ndarray) -> float:
    return float(np.sum(table.weight * (table.y - pred) ** 2) / np.sum(table.weight))


def wmae(table: FeatureTable, pred: np.ndarray) -> float:
    return float(np.sum(table.weight * np.abs(table.y - pred)) / np.sum(table.weight))


@pytest.mark.parametrize("engine", ENGINES)
def test_zero_added_rounds_is_the_source_model(sources, tables, target, engine):
    expected = source_forecast(sources, tables, target, engine)
    for mode in ("add_trees", "refit_then_add"):
        s = fit(sources, tables, target, engine, mode=mode, rounds=0, decay_rate=1.0)
        assert s.rounds_ == 0
        np.testing.assert_array_equal(s.predict(target), expected)


@pytest.mark.parametrize("engine", ENGINES)
def test_decay_blends_the_source_and_the_full_refit(sources, tables, target, engine):
    """``decay_rate = d`` is ``d * F_source + (1 - d) * F_refit`` on the margin scale (the
    default objective's link is the identity), on both engines."""
    src = source_forecast(sources, tables, target, engine)

    def refit(d: float) -> np.ndarray:
        return fit(sources, tables, target, engine, mode="refit_leaves", decay_rate=d).predict(
            target
        )

    full = refit(0.0)
    assert np.max(np.abs(full - src)) > 0.05  # the refit moves the forecasts
    assert wmse(target, full) < 0.9 * wmse(target, src)
    np.testing.assert_array_equal(refit(1.0), src)
    for d in (0.3, 0.5):
        np.testing.assert_allclose(refit(d), d * src + (1 - d) * full, rtol=0, atol=1e-5)


def test_level_shift_take_up_agrees_across_engines(sources, tables, target):
    """A target whose sales sit 5 above the source model's forecast: with decay ``d`` both
    engines take up ``1 - d`` of the shift (LightGBM's own tree-by-tree decay took up ~100 %
    at ``d = 0.5``)."""
    take_up = {}
    for engine in ENGINES:
        src = source_forecast(sources, tables, target, engine)
        t = target.subset(np.arange(len(target)))
        t.y = src + 5.0
        for d in (0.5, 0.8):
            s = fit(sources, tables, t, engine, mode="refit_leaves", decay_rate=d)
            take_up[engine, d] = float(np.mean(s.predict(t) - src) / 5.0)
    for d in (0.5, 0.8):
        assert take_up["lightgbm", d] == pytest.approx(1 - d, abs=0.02), take_up
        assert take_up["xgboost", d] == pytest.approx(1 - d, abs=0.02), take_up


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", MODES)
def test_target_step_lowers_training_loss_and_keeps_the_source(
    sources, tables, target, engine, mode
):
    before = source_forecast(sources, tables, target, engine)
    n_before = (
        sources[engine].booster_.num_trees()
        if engine == "lightgbm"
        else (sources[engine].booster_.num_boosted_rounds())
    )
    s = fit(sources, tables, target, engine, mode=mode, rounds=40, valid_periods=0, decay_rate=0.5)
    assert wmse(target, s.predict(target)) < 0.9 * wmse(target, before)
    if mode != "refit_leaves":
        assert s.rounds_ == 40
    # the cached source model is shared with other strategies: never mutated
    np.testing.assert_array_equal(source_forecast(sources, tables, target, engine), before)
    n_after = (
        sources[engine].booster_.num_trees()
        if engine == "lightgbm"
        else (sources[engine].booster_.num_boosted_rounds())
    )
    assert n_after == n_before


@pytest.mark.parametrize("engine", ENGINES)
def test_kappa_refit_moves_between_source_and_target(sources, tables, target, engine):
    src = wmse(target, source_forecast(sources, tables, target, engine))
    loose = wmse(
        target, fit(sources, tables, target, engine, mode="refit_leaves", kappa=0.5).predict(target)
    )
    tight = wmse(
        target, fit(sources, tables, target, engine, mode="refit_leaves", kappa=1e6).predict(target)
    )
    assert loose < 0.9 * src
    assert tight == pytest.approx(src, rel=1e-3)


@pytest.mark.parametrize("engine", ENGINES)
def test_early_stopping_chooses_rounds_on_the_tail(sources, tables, target, engine):
    """The chosen count is the one whose model, fitted on the rows before the tail, has the
    lowest level-weighted absolute error on the tail (computed here by refitting each count)."""
    rounds = 25
    settings = dict(mode="add_trees", learning_rate=0.3)
    s = fit(
        sources, tables, target, engine, rounds=rounds, valid_periods=3, patience=rounds, **settings
    )
    tail = target.time_tail(3)
    head, valid = target.subset(~tail), target.subset(tail)
    errors = []
    for k in range(rounds + 1):
        pred = fit(sources, tables, head, engine, rounds=k, valid_periods=0, **settings)
        errors.append(wmae(valid, pred.predict(valid)))
    expected = int(np.argmin(errors))
    assert 0 < expected < rounds, errors  # a real choice, neither bound
    assert s.rounds_ == expected
    again = fit(
        sources, tables, target, engine, rounds=rounds, valid_periods=3, patience=rounds, **settings
    )
    assert again.rounds_ == s.rounds_


@pytest.mark.parametrize("engine", ENGINES)
def test_refit_then_add_chooses_rounds_out_of_sample(sources, tables, target, engine, monkeypatch):
    """The added rounds are chosen on the tail with the leaves refitted on the rows before it
    only; the final model is the refit on every row plus that many trees added on every row."""
    t = with_new_column_and_category(target)  # a column only the added trees can use
    settings = dict(mode="refit_then_add", decay_rate=0.0, learning_rate=0.3, rounds=25)
    tail = t.time_tail(2)
    head = t.subset(~tail)
    seen = []
    choose = BoostContinue._choose_rounds

    def spy(self, parts, train, valid, native):
        seen.append(self._margin(parts, t.X))
        return choose(self, parts, train, valid, native)

    monkeypatch.setattr(BoostContinue, "_choose_rounds", spy)
    s = fit(sources, tables, t, engine, valid_periods=2, patience=25, **settings)
    monkeypatch.undo()
    head_refit = fit(sources, tables, head, engine, mode="refit_leaves", decay_rate=0.0)
    all_refit = fit(sources, tables, t, engine, mode="refit_leaves", decay_rate=0.0)
    assert np.max(np.abs(head_refit.predict(t) - all_refit.predict(t))) > 1e-3
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], head_refit.predict(t), rtol=0, atol=1e-9)
    assert s.rounds_ > 0
    settings["rounds"] = s.rounds_
    final = fit(sources, tables, t, engine, valid_periods=0, **settings)
    np.testing.assert_array_equal(s.predict(t), final.predict(t))


@pytest.mark.parametrize("engine", ENGINES)
def test_early_stopping_may_choose_the_source_model(sources, tables, target, engine):
    """Noise before the tail, the source exactly right on it: no added tree is kept."""
    t = target.subset(np.arange(len(target)))
    src = source_forecast(sources, tables, t, engine)
    tail = t.time_tail(2)
    noise = np.random.default_rng(1).normal(0, 0.3, len(t))
    t.y = np.where(tail, src, src + noise)
    s = fit(
        sources, tables, t, engine, mode="add_trees", valid_periods=2, rounds=50, learning_rate=0.3
    )
    assert s.rounds_ == 0
    np.testing.assert_array_equal(s.predict(t), src)


@pytest.mark.parametrize("engine", ENGINES)
def test_no_target_rows_gives_the_source_model(sources, tables, target, engine):
    empty = target.subset(np.zeros(len(target), dtype=bool))
    s = fit(sources, tables, empty, engine, mode="refit_then_add")
    np.testing.assert_array_equal(
        s.predict(target), source_forecast(sources, tables, target, engine)
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_same_seed_same_forecasts(sources, tables, target, engine):
    a = fit(sources, tables, target, engine, mode="refit_then_add", seed=0, rounds=15)
    b = fit(sources, tables, target, engine, mode="refit_then_add", seed=0, rounds=15)
    np.testing.assert_array_equal(a.predict(target), b.predict(target))


@pytest.mark.parametrize("mode", ["add_trees", "refit_then_add"])
def test_xgboost_sampling_in_added_trees_is_the_same_whatever_was_fitted_before(
    sources, tables, target, mode
):
    """Row and column sampling in an XGBoost continuation draws from a process-wide generator
    its seed does not reset: the same fit, before and after an unrelated sampled fit, gives
    the same forecasts (before: up to 2 % apart, so `run` and `compare` disagreed)."""
    import xgboost as xgb

    params = dict(mode=mode, seed=0, rounds=15, valid_periods=0,
                  target_params={"subsample": 0.5, "colsample_bytree": 0.5})  # fmt: skip
    a = fit(sources, tables, target, "xgboost", **params).predict(target)
    rng = np.random.default_rng(1)
    noise = xgb.DMatrix(rng.normal(size=(200, 3)), label=rng.normal(size=200))
    xgb.train({"seed": 7, "subsample": 0.3, "colsample_bytree": 0.3, "nthread": 1}, noise, 10)
    b = fit(sources, tables, target, "xgboost", **params).predict(target)
    np.testing.assert_array_equal(a, b)


def with_new_column_and_category(target: FeatureTable) -> FeatureTable:
    """The target with a column the source lacks and a category the source never had (listed
    first, so naive codes would shift), both carrying signal."""
    rng = np.random.default_rng(0)
    t = target.subset(np.arange(len(target)))
    event = rng.integers(0, 2, len(t)).astype(float)
    col = t.categorical[0]
    cats = ["NEW", *[str(c) for c in t.X[col].cat.categories]]
    new = rng.random(len(t)) < 0.5
    values = np.where(new, "NEW", t.X[col].astype(str))
    t.X = t.X.assign(local_event=event, **{col: pd.Categorical(values, categories=cats)})
    t.y = t.y + 0.3 * event + 0.2 * new
    return t


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", ["add_trees", "refit_then_add"])
def test_extra_column_and_new_category_are_used(sources, tables, target, engine, mode):
    t = with_new_column_and_category(target)
    col = t.categorical[0]
    s = fit(sources, tables, t, engine, mode=mode, rounds=80, valid_periods=0, learning_rate=0.1)
    pred = s.predict(t)
    assert np.isfinite(pred).all()
    on = s.predict(FeatureTable(t.X.assign(local_event=1.0), None, t.keys, t.level, t.categorical))
    off = s.predict(FeatureTable(t.X.assign(local_event=0.0), None, t.keys, t.level, t.categorical))
    assert np.mean(on - off) > 0.15
    other = str(target.X[col].iloc[0])
    cats = t.X[col].cat.categories
    swapped = t.X.assign(**{col: pd.Categorical([other] * len(t), categories=cats)})
    is_new = (t.X[col] == "NEW").to_numpy()
    diff = pred - s.predict(FeatureTable(swapped, None, t.keys, t.level, t.categorical))
    assert np.mean(diff[is_new]) > 0.05
    # the source trees still read the source codes: source part unchanged on the old category
    src_part = s.parts_[0]
    assert src_part.categories[col] == [str(c) for c in tables.source.X[col].cat.categories]


@pytest.mark.parametrize("engine", ENGINES)
def test_excluded_columns_are_not_used_by_the_added_trees(sources, tables, target, engine):
    t = with_new_column_and_category(target)
    s = fit(
        sources,
        tables,
        t,
        engine,
        rounds=40,
        valid_periods=0,
        learning_rate=0.1,
        exclude_columns=["local_event", "week"],
    )
    assert s.rounds_ == 40 and "week" not in s.parts_[-1].model.columns_
    on = s.predict(FeatureTable(t.X.assign(local_event=1.0), None, t.keys, t.level, t.categorical))
    off = s.predict(FeatureTable(t.X.assign(local_event=0.0), None, t.keys, t.level, t.categorical))
    np.testing.assert_array_equal(on, off)


@pytest.mark.parametrize("objective", ["count:poisson", "reg:tweedie"])
def test_added_trees_on_a_log_link_source_start_from_its_forecasts(tables, target, objective):
    """XGBoost with a log-link objective and trees added as a booster of their own (excluded
    columns): the forecasts start from the source model's, as with squared error (before:
    every forecast 0, the new booster's base score 0 being a margin of log 0)."""
    src = SourceOnly(engine="xgboost", source_params={"objective": objective})
    model = src.fit_source(tables.source)
    base = src.transfer(model, target).predict(target)
    s = BoostContinue(
        engine="xgboost", source_params={"objective": objective}, rounds=5, valid_periods=0,
        learning_rate=0.01, exclude_columns=["week"],
    ).transfer(model, target, tables.source)  # fmt: skip
    assert s.rounds_ == 5 and "week" not in s.parts_[-1].model.columns_
    pred = s.predict(target)
    assert np.isfinite(pred).all() and base.mean() > 0.5
    np.testing.assert_allclose(pred, base, rtol=0.1)


@pytest.mark.parametrize("engine", ENGINES)
def test_covariate_missing_in_the_source_rows_is_used_by_the_added_trees(tables, target, engine):
    """The feature-table form of a target-only covariate: a column all missing in the source."""
    rng = np.random.default_rng(2)
    source = tables.source.subset(np.arange(4000))
    source.X = source.X.assign(local_event=np.nan)
    t = target.subset(np.arange(len(target)))
    event = rng.integers(0, 2, len(t)).astype(float)
    t.X = t.X.assign(local_event=event)
    t.y = t.y + 0.3 * event
    src = SourceOnly(engine=engine).fit_source(source)
    s = BoostContinue(engine=engine, rounds=80, valid_periods=0, learning_rate=0.1).transfer(
        src, t, source
    )
    # LightGBM continues its booster; XGBoost adds a booster of its own on the source margin
    assert len(s.parts_) == (1 if engine == "lightgbm" else 2)
    on = s.predict(FeatureTable(t.X.assign(local_event=1.0), None, t.keys, t.level, t.categorical))
    off = s.predict(FeatureTable(t.X.assign(local_event=0.0), None, t.keys, t.level, t.categorical))
    assert np.mean(on - off) > 0.15


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", ["add_trees", "refit_then_add"])
def test_save_and_load_native_files(sources, tables, target, engine, mode, tmp_path):
    t = with_new_column_and_category(target) if mode == "add_trees" else target
    s = fit(sources, tables, t, engine, mode=mode, rounds=20, valid_periods=0)
    entries = s.save(tmp_path)
    json.dumps(entries)  # manifest entries are plain JSON
    suffix = ".lgb.txt" if engine == "lightgbm" else ".xgb.json"
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files and all(f.endswith(suffix) for f in files)
    loaded = BoostContinue.load(tmp_path, {"params": s.get_params(), **entries})
    np.testing.assert_array_equal(loaded.predict(t), s.predict(t))


def test_invalid_params_name_the_key():
    with pytest.raises(ConfigError, match="mode"):
        BoostContinue(mode="grow")
    with pytest.raises(ConfigError, match="decay_rate"):
        BoostContinue(decay_rate=1.5)
    with pytest.raises(ConfigError, match="unknown key 'round'"):
        BoostContinue(round=3)


def test_compare_shares_the_source_model_with_source_only():
    task = small_task()
    comp = compare(
        task,
        ["source_only", "boost_continue"],
        origins=task.evaluation_origins()[-1:],
        params={"boost_continue": {"rounds": 20}},
    )
    assert comp.source_fits == 1
    assert (comp.scores["status"] == "ok").all()


def test_cli_compare_writes_boost_continue_scores(tmp_path):
    raw = small_project(
        tmp_path,
        horizon=6,
        target_history=13,
        windows=1,
        output_dir=str(tmp_path / "out"),
    )
    raw["strategies"] = {
        "boost_continue": {"mode": "refit_then_add", "rounds": 20, "decay_rate": 0.7}
    }
    (tmp_path / "config.toml").write_text(to_toml(raw))
    res = invoke(
        "compare",
        tmp_path / "config.toml",
        "--output",
        tmp_path / "cmp",
        "--strategies",
        "target_only,boost_continue",
    )
    assert res.code == 0, res.err
    scores = pd.read_csv(tmp_path / "cmp" / "scores.csv")
    rows = scores[scores["strategy"] == "boost_continue"]
    assert len(rows) == 3 and (rows["status"] == "ok").all()
    assert rows["wape"].between(0, 1).all()


def test_run_bundle_predicts_the_same_forecasts(tmp_path):
    """`run` saves the fitted strategy as native files; `predict` from the bundle agrees."""
    raw = small_project(
        tmp_path,
        horizon=6,
        target_history=13,
        windows=1,
        output_dir=str(tmp_path / "out"),
    )
    raw["strategy"]["name"] = "boost_continue"
    raw["strategies"] = {
        "boost_continue": {"engine": "xgboost", "mode": "refit_then_add", "rounds": 20}
    }
    (tmp_path / "config.toml").write_text(to_toml(raw))
    out = tmp_path / "out"
    assert invoke("run", tmp_path / "config.toml", "--output", out).code == 0
    assert sorted(p.name for p in (out / "model" / "target0").iterdir()) == [
        "boost_continue_part0.xgb.json",  # the refitted source trees
        "boost_continue_part1.xgb.json",  # the added trees, on their margin
    ]
    res = invoke(
        "predict", out / "model", "--data", tmp_path / "sales.csv", "--output", tmp_path / "p.csv"
    )
    assert res.code == 0, res.err
    a, b = pd.read_csv(out / "forecasts.csv"), pd.read_csv(tmp_path / "p.csv")
    np.testing.assert_allclose(b["forecast"], a["forecast"], rtol=1e-12)


def test_leaves_no_target_row_reaches_keep_their_source_value(sources, tables, target):
    """LightGBM's refit sets a leaf no row reaches to 0; a refit of the source leaves keeps it
    at the source value, so the few target weeks shrink only the leaves they visit."""
    from transfercast.plugins.boost_continue import _conform

    s = fit(sources, tables, target, "lightgbm", mode="refit_leaves", decay_rate=0.5)
    src, part = sources["lightgbm"].booster_, s.parts_[0]
    new = part.model.booster_
    X = _conform(target.X, part.model.columns_, part.categories)
    leaves = src.predict(X, pred_leaf=True).reshape(len(X), -1)
    untouched = 0
    for t, tree in enumerate(src.dump_model()["tree_info"]):
        reached = set(leaves[:, t].tolist())
        for j in set(range(int(tree["num_leaves"]))) - reached:
            untouched += 1
            assert new.get_leaf_output(t, j) == src.get_leaf_output(t, j), (t, j)
    assert untouched > 0


def test_xgboosts_added_trees_take_their_own_settings_and_the_sources_objective(tables, target):
    """A continued XGBoost booster trained the added trees with the source's settings (here
    ``alpha = 5``, an L1 penalty on leaves); both engines' added trees lost the objective's own
    settings (a Tweedie power of 1.2 became the default 1.5)."""
    src_params = {"alpha": 5.0, "objective": "reg:tweedie", "tweedie_variance_power": 1.2}
    src = SourceOnly(engine="xgboost", source_params=src_params)
    s = BoostContinue(
        engine="xgboost", source_params=src_params, rounds=5, valid_periods=0
    ).transfer(src.fit_source(tables.source), target, tables.source)
    config = json.loads(s.parts_[-1].model.booster_.save_config())["learner"]
    assert config["gradient_booster"]["tree_train_param"]["alpha"] == "0"
    tweedie = config["objective"]["tweedie_regression_param"]["tweedie_variance_power"]
    assert float(tweedie) == pytest.approx(1.2)
    lgb_params = {"objective": "tweedie", "tweedie_variance_power": 1.2}
    src = SourceOnly(engine="lightgbm", source_params=lgb_params)
    s = BoostContinue(
        engine="lightgbm", source_params=lgb_params, rounds=5, valid_periods=0
    ).transfer(src.fit_source(tables.source), target, tables.source)
    assert "[tweedie_variance_power: 1.2]" in s.parts_[-1].model.booster_.model_to_string()


def test_an_xgboost_dart_source_refuses_the_refit_modes_and_gblinear_is_refused():
    with pytest.raises(ConfigError, match="mode 'refit_leaves' refits the leaves .* 'dart'"):
        BoostContinue(engine="xgboost", mode="refit_leaves", source_params={"booster": "dart"})
    with pytest.raises(ConfigError, match="booster 'gblinear' fits no trees"):
        SourceOnly(engine="xgboost", source_params={"booster": "gblinear"})
