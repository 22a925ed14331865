"""The plugin contract is checked where the core reads a plugin's output: a strategy's
``predict``, an interval method's ``apply``, a similarity hook's result and a strategy's
``Params``. A broken plugin gets an error naming it and what was wrong, never wrong numbers."""

from __future__ import annotations

import dataclasses
import re
import sys
import types
import warnings

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel

import transfercast as tc
from transfercast.cli import to_toml
from transfercast.config import parse_config
from transfercast.datasets import synthetic_config, synthetic_sales
from transfercast.errors import ConfigError, DataError, TransfercastError
from transfercast.intervals import check_quantiles, qcol
from transfercast.plugin_manager import clear_plugin_cache
from transfercast.registry import Registry
from transfercast.report import write_compare_report
from transfercast.similarity import similarity
from transfercast.strategy import PluginError

from .clirun import invoke

GBM = {
    "source_params": {"num_boost_round": 12, "num_leaves": 7},
    "target_params": {"num_boost_round": 8, "num_leaves": 7},
}


def small_frame() -> pd.DataFrame:
    return synthetic_sales(n_domains=6, series_per_domain=2, n_targets=2, n_periods=110)


def small_task(**features) -> tc.TransferTask:
    frame = small_frame()
    raw = synthetic_config(
        "unused.csv", frame.attrs["targets"], horizon=8, target_history=8, windows=1
    )
    if features:
        raw["features"] = features
    return tc.TransferTask.from_config(parse_config(raw), data=frame)


@pytest.fixture(scope="module")
def task() -> tc.TransferTask:
    return small_task()


@pytest.fixture
def plugin(monkeypatch):
    """``plugin(name, hook=function, ...)``: an in-process plugin module importable by
    ``name`` (the config key ``plugins``); removed, and the managers forgotten, after the
    test."""

    def make(name: str, **hooks):
        module = types.ModuleType(name)
        for hook, function in hooks.items():
            setattr(module, hook, tc.hookimpl(function))
        monkeypatch.setitem(sys.modules, name, module)
        clear_plugin_cache()
        return name

    yield make
    clear_plugin_cache()


def strategies(*classes):
    """A ``transfercast_register_strategies`` implementation registering ``classes``."""

    def transfercast_register_strategies(register):
        for cls in classes:
            register(cls)

    return transfercast_register_strategies


class Rowwise(tc.Strategy):
    """A different forecast on every row: misplaced rows show."""

    name = "rowwise"
    uses_source_rows = False

    def predict(self, table):
        return np.linspace(0.8, 1.2, len(table))


def returning(name: str, output):
    """A source-free strategy named ``name`` whose predict returns ``output(table)``."""
    return type(
        f"S_{name}",
        (tc.Strategy,),
        {
            "__doc__": "test strategy",
            "name": name,
            "uses_source_rows": False,
            "predict": lambda self, table: output(table),
        },
    )


def failures(comp, name: str) -> list[str]:
    scores = comp.scores[comp.scores["strategy"] == name]
    assert (scores["status"] == "failed").all(), scores[["status", "error"]]
    return list(scores["error"])


# -- 1. what predict returns ------------------------------------------------------------------
BAD_OUTPUTS = {
    "one_value": (lambda t: np.array([1.0]), r"returned 1 values for 16 rows"),
    "too_many": (lambda t: np.ones(len(t) + 1), r"returned 17 values for 16 rows"),
    "with_nan": (
        lambda t: np.where(np.arange(len(t)) % 2, 1.0, np.nan),
        r"8 NaN or infinite values",
    ),
    "with_inf": (lambda t: np.r_[np.inf, np.ones(len(t) - 1)], r"1 NaN or infinite"),
    "column": (lambda t: np.ones((len(t), 1)), r"shape \(16, 1\)"),
    "overflowing": (  # finite, but not once scaled by the level (before: an ok cell, no score)
        lambda t: np.r_[1e306, np.ones(len(t) - 1)],
        r"returned 1 values of 16 that are not finite once scaled by their series' level",
    ),
    "strings": (lambda t: np.array(["1.0"] * len(t)), r"must return numbers"),
    "nothing": (lambda t: None, r"returned None"),
}


@pytest.mark.parametrize("name", list(BAD_OUTPUTS))
def test_a_bad_prediction_fails_the_cell_naming_the_strategy(task, plugin, name):
    output, message = BAD_OUTPUTS[name]
    mod = plugin(
        "contract_bad_predict",
        transfercast_register_strategies=strategies(Rowwise, returning(name, output)),
    )
    comp = tc.compare(task, ["rowwise", name], plugins=[mod])
    assert (comp.scores.loc[comp.scores["strategy"] == "rowwise", "status"] == "ok").all()
    for error in failures(comp, name):
        assert error.startswith(f"PluginError: strategy '{name}' predict")
        assert re.search(message, error), error
    assert name not in set(comp.forecasts["strategy"])


def test_auto_says_when_it_leaves_out_a_candidate_whose_predict_breaks_the_contract(task, plugin):
    """A raising candidate was named; one returning too few values or NaN (a PluginError, which
    is a DataError) was taken for a target with too little data and dropped without a word."""
    short = returning("one_value", lambda t: np.array([1.0]))
    mod = plugin("contract_auto", transfercast_register_strategies=strategies(Rowwise, short))
    params = {"auto": {"candidates": ["rowwise", "one_value"]}}
    with pytest.warns(UserWarning) as said:
        comp = tc.compare(task, ["auto"], params=params, plugins=[mod])
    assert (comp.scores["status"] == "ok").all(), comp.scores["error"]
    assert any(
        "'one_value' failed on the source replays" in str(w.message)
        and "PluginError: strategy 'one_value' predict returned 1 values" in str(w.message)
        for w in said
    ), [str(w.message) for w in said]


def test_a_series_or_list_is_read_by_position(task, plugin):
    reversed_series = returning(
        "series", lambda t: pd.Series(np.linspace(0.8, 1.2, len(t)), index=np.arange(len(t))[::-1])
    )
    as_list = returning("as_list", lambda t: list(np.linspace(0.8, 1.2, len(t))))
    mod = plugin(
        "contract_series",
        transfercast_register_strategies=strategies(Rowwise, reversed_series, as_list),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # read by position, without a warning
        comp = tc.compare(task, ["rowwise", "series", "as_list"], plugins=[mod])
    assert (comp.scores["status"] == "ok").all(), comp.scores["error"]
    fc = comp.forecasts.pivot_table(
        index=["unique_id", "ds"], columns="strategy", values="forecast"
    )
    np.testing.assert_allclose(fc["series"], fc["rowwise"], rtol=1e-12)
    np.testing.assert_allclose(fc["as_list"], fc["rowwise"], rtol=1e-12)


def test_the_recursive_formulation_checks_every_step(plugin):
    task = small_task(formulation="recursive")
    short = returning("one_value", lambda t: np.array([1.0]))
    mod = plugin("contract_recursive", transfercast_register_strategies=strategies(Rowwise, short))
    comp = tc.compare(task, ["rowwise", "one_value"], plugins=[mod])
    assert (comp.scores.loc[comp.scores["strategy"] == "rowwise", "status"] == "ok").all()
    for error in failures(comp, "one_value"):  # one row per series at each step
        assert "strategy 'one_value' predict returned 1 values for 2 rows" in error


def test_the_forecaster_raises_the_error_naming_the_strategy(task, plugin):
    nan = returning("with_nan", lambda t: np.full(len(t), np.nan))
    mod = plugin("contract_forecaster", transfercast_register_strategies=strategies(nan))
    with pytest.raises(PluginError, match="strategy 'with_nan' predict returned 16 NaN"):
        tc.TransferForecaster("with_nan", plugins=[mod]).fit(task).predict()
    assert issubclass(PluginError, DataError)  # one line and exit status 2 on the CLI


# -- 5. a strategy without predict ------------------------------------------------------------
class NoPredict(tc.Strategy):
    """Forgot predict."""

    name = "no_predict"
    uses_source_rows = False


def test_a_missing_predict_is_named(task, plugin):
    mod = plugin("contract_no_predict", transfercast_register_strategies=strategies(NoPredict))
    comp = tc.compare(task, ["no_predict"], plugins=[mod])
    for error in failures(comp, "no_predict"):
        assert error.startswith("PluginError: strategy 'no_predict' (NoPredict)")
        assert "does not implement predict(table)" in error


# -- 4. Params ------------------------------------------------------------------------------
@dataclasses.dataclass
class DataclassParams:
    w: float = 0.5


class PlainParams(BaseModel):
    w: float = 0.5


class IgnoringParams(tc.StrategyParams):
    model_config = {**tc.StrategyParams.model_config, "extra": "ignore"}
    w: float = 0.5


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (DataclassParams, "must be a subclass of transfercast.StrategyParams"),
        (PlainParams, "must be a subclass of transfercast.StrategyParams"),
        (IgnoringParams, "must forbid unknown keys"),
    ],
)
def test_params_that_are_not_strategy_params_are_refused_at_registration(
    task, plugin, params, message
):
    cls = type(
        "Odd",
        (tc.Strategy,),
        {
            "__doc__": "odd",
            "name": "odd",
            "Params": params,
            "predict": lambda self, t: np.ones(len(t)),
        },
    )
    with pytest.raises(ConfigError, match=f"plugin 'p' registered strategy 'odd' .*{message}"):
        Registry().register(cls, plugin="p", source="config")
    mod = plugin("contract_params", transfercast_register_strategies=strategies(Rowwise, cls))
    with pytest.raises(TransfercastError, match=f"'{mod}'.*strategy 'odd' \\(Odd\\).*{message}"):
        tc.compare(task, ["odd"], plugins=[mod])  # the run stops, naming plugin and reason
    with pytest.raises(ConfigError, match=f"strategy 'odd' \\(Odd\\): .*{message}"):
        cls(w=2)  # an unregistered instance, as TransferForecaster(instance) takes


# -- 2. an interval method's rows -----------------------------------------------------------
class Band:
    """The docs' band: +-20 % around the point forecast."""

    def __init__(self, share, quantiles):
        self.share, self.quantiles = share, quantiles

    def apply(self, forecasts):
        out = forecasts.copy()
        for q in self.quantiles:
            out[qcol(q)] = out["forecast"] * (1 + self.share * (q - 0.5) * 2)
        return out

    def to_json(self):
        return {"share": self.share, "quantiles": self.quantiles}


class SortedBand(Band):
    def apply(self, forecasts):
        return super().apply(forecasts).sort_values(["ds", "unique_id"]).reset_index(drop=True)


class ShortBand(Band):
    def apply(self, forecasts):
        return super().apply(forecasts).iloc[:-1]


class DoubledBand(Band):
    def apply(self, forecasts):
        out = super().apply(forecasts)
        return pd.concat([out, out.iloc[:1]], ignore_index=True)


BANDS = {
    "band": Band,
    "sorted_band": SortedBand,
    "short_band": ShortBand,
    "doubled_band": DoubledBand,
}


def intervals(method, quantiles, strategy, tables, domain, cache):
    cls = BANDS.get(method)
    return cls(0.2, quantiles) if cls else None


def load_intervals(method, state):
    cls = BANDS.get(method)
    return cls(state["share"], state["quantiles"]) if cls else None


@pytest.fixture
def band_plugin(plugin):
    return plugin(
        "contract_band",
        transfercast_register_strategies=strategies(Rowwise),
        transfercast_intervals=intervals,
        transfercast_load_intervals=load_intervals,
    )


@pytest.mark.parametrize("method", ["band", "sorted_band"])
def test_interval_rows_are_matched_by_series_and_date(task, band_plugin, method):
    fc = (
        tc.TransferForecaster(
            "rowwise", plugins=[band_plugin], quantiles=[0.1, 0.9], interval_method=method
        )
        .fit(task)
        .predict()
    )
    assert fc["forecast"].nunique() > 1
    np.testing.assert_allclose(fc["q0.1"], fc["forecast"] * 0.84, rtol=1e-12)
    np.testing.assert_allclose(fc["q0.9"], fc["forecast"] * 1.16, rtol=1e-12)


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ("short_band", r"returned no row for 1 of 16 forecast rows \(the first: unique_id"),
        ("doubled_band", r"returned 1 duplicate rows"),
    ],
)
def test_interval_rows_missing_or_doubled_are_named(task, band_plugin, method, message):
    comp = tc.compare(
        task, ["rowwise"], plugins=[band_plugin], quantiles=[0.1, 0.9], interval_method=method
    )
    for error in failures(comp, "rowwise"):
        assert error.startswith(f"PluginError: interval method '{method}' ")
        assert re.search(message, error), error


# -- 3. similarity hooks ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({"target": "hijacked"}, "returned the column 'target', a built-in column"),
        ({"domain_auc": 999.0}, "returned the column 'domain_auc', a built-in column"),
        (0.5, "returned float; it must return a mapping"),
        ([("x", 1.0)], "returned list; it must return a mapping"),
        ({"arr": [1, 2]}, "returned list for column 'arr'; a value must be a scalar"),
    ],
)
def test_a_similarity_result_that_breaks_the_rules_is_refused(task, plugin, result, message):
    mod = plugin("contract_sim", transfercast_similarity=lambda source, target: result)
    with pytest.raises(PluginError, match=f"similarity plugin 'contract_sim' {message}"):
        similarity(task, plugins=[mod])


def test_a_similarity_hook_that_raises_is_named(task, plugin):
    def transfercast_similarity(source, target):
        raise RuntimeError("boom")

    mod = plugin("contract_sim_raise", transfercast_similarity=transfercast_similarity)
    with pytest.raises(
        PluginError, match="similarity plugin 'contract_sim_raise' raised RuntimeError: boom"
    ):
        similarity(task, plugins=[mod])


def test_compare_keeps_the_built_in_similarity_columns_when_a_plugin_raises(task, plugin, tmp_path):
    """``compare``'s report writes similarity.csv without the raising plugin's columns and
    says so (before: the whole table, built-in columns included, was dropped)."""

    def transfercast_similarity(source, target):
        raise RuntimeError("boom")

    mod = plugin("contract_sim_report", transfercast_similarity=transfercast_similarity)
    comp = tc.compare(task, ["target_only"], origins=task.evaluation_origins()[-1:])
    origin = comp.scores["origin"].max()
    assert comp.plugins == ()  # the hook's module was not loaded by this comparison
    with pytest.warns(UserWarning) as said:
        write_compare_report(comp, tmp_path, origin, [mod])
    table = pd.read_csv(tmp_path / "similarity.csv")
    assert {"target", "domain_auc", "season_corr"} <= set(table.columns)
    assert [str(w.message) for w in said] == [
        "similarity plugin 'contract_sim_report' raised RuntimeError: boom (target domain "
        "'S05'); similarity.csv is written without them"
    ]


def test_two_similarity_plugins_may_not_claim_one_column(task, plugin):
    first = plugin("contract_sim_a", transfercast_similarity=lambda source, target: {"x": 1})
    second = plugin("contract_sim_b", transfercast_similarity=lambda source, target: {"x": 2})
    with pytest.raises(PluginError, match="returned the column 'x', which similarity plugin"):
        similarity(task, plugins=[first, second])


def test_good_similarity_columns_are_added(task, plugin):
    def transfercast_similarity(source, target):
        return {"rows": len(target), "last": target["ds"].max(), "label": "ok", "none": None}

    mod = plugin("contract_sim_ok", transfercast_similarity=transfercast_similarity)
    table = similarity(task, plugins=[mod])
    assert list(table.columns[-4:]) == ["rows", "last", "label", "none"]
    assert (table["label"] == "ok").all() and table["target"].tolist() == task.targets


def test_the_cli_prints_a_broken_similarity_hook_on_one_line(tmp_path, plugin):
    def transfercast_similarity(source, target):
        raise RuntimeError("boom")

    mod = plugin("contract_sim_cli", transfercast_similarity=transfercast_similarity)
    frame = small_frame()
    frame.to_csv(tmp_path / "sales.csv", index=False)
    raw = synthetic_config("sales.csv", frame.attrs["targets"], horizon=8, target_history=8)
    (tmp_path / "config.toml").write_text(f'plugins = ["{mod}"]\n' + to_toml(raw))
    res = invoke("similarity", tmp_path / "config.toml")
    assert res.code == 2
    assert res.err.strip().splitlines() == [
        "error: similarity plugin 'contract_sim_cli' raised RuntimeError: boom (target domain "
        f"{frame.attrs['targets'][0]!r})"
    ]


# -- 6. quantile levels ---------------------------------------------------------------------
def test_one_quantile_level_may_be_a_number():
    model = tc.TransferForecaster("source_only", quantiles=0.9)
    assert model.quantiles == 0.9 and check_quantiles(model.quantiles) == [0.9]  # as given
    assert check_quantiles(np.float32(0.5)) == [0.5]
    assert check_quantiles(None) == []
    with pytest.raises(ValueError, match="not strictly between 0 and 1"):
        check_quantiles(1.5)
    with pytest.raises(ValueError, match="not a string"):
        check_quantiles("0.1,0.9")
    with pytest.raises(ValueError, match="quantile 'x' is not a number"):
        check_quantiles([0.1, "x"])


# -- the lookahead check strategy authors run ----------------------------------------------------
class Oracle(tc.Strategy):
    """Reads the uncut panel behind its context's tables: the actual sales after the origin."""

    name = "oracle"
    uses_source_rows = False

    def predict(self, table):
        panel = self.context_["tables"].task.panel
        rows = pd.Index(panel.ids).get_indexer(table.keys["unique_id"])
        return panel.Y[rows, panel.times.get_indexer(table.keys["ds"])] / table.level


def test_check_no_lookahead_names_a_strategy_that_reads_the_future(plugin):
    from transfercast.testing import check_no_lookahead

    module = plugin("oracle_plugin", transfercast_register_strategies=strategies(Oracle, Rowwise))
    with pytest.raises(AssertionError, match=r"'oracle' reads the data after the origin .* with "):
        check_no_lookahead("oracle", plugins=[module], futures=["scrambled"])
    check_no_lookahead("rowwise", plugins=[module])  # reads nothing it should not: passes
    check_no_lookahead("target_only", {"target_params": {"num_boost_round": 5}})


class Jittery(Rowwise):
    """Reads nothing after the origin but draws unseeded noise: not deterministic."""

    name = "jittery"

    def predict(self, table):
        return 1 + 1e-6 * np.random.default_rng().random(len(table))


class Picky(Rowwise):
    """Declines every target: a strategy that needs more history than the check's panel has."""

    name = "picky"

    def fine_tune(self, target, source):
        from transfercast.errors import HistoryRequired

        raise HistoryRequired("needs 26 periods of target history")


def test_check_no_lookahead_tells_noise_and_no_forecast_from_lookahead(plugin):
    """Before: unseeded noise was called reading the future (its two numbers printed alike),
    and a strategy that skipped every target crashed the check with numpy's TypeError."""
    from transfercast.testing import check_no_lookahead

    module = plugin("noisy_plugin", transfercast_register_strategies=strategies(Jittery, Picky))
    with pytest.raises(AssertionError, match=r"^strategy 'jittery' is not deterministic: on the "
                       r"same data twice, its forecast of \S+ for \S+ moved from ([\d.]+) to "
                       r"(?!\1 )[\d.]+ "):  # fmt: skip
        check_no_lookahead("jittery", plugins=[module], futures=["scrambled"])
    said = r"^strategy 'picky' made no forecast on the check's panel .*, so nothing was checked: "
    with pytest.raises(AssertionError, match=said + r".*needs 26 periods of target history$"):
        check_no_lookahead("picky", plugins=[module])


def test_each_shipped_strategy_types_its_params_as_its_params_class():
    """``self.params`` is typed with the class that validates it, so that a plugin author's type
    checker reads the shipped strategies (and the example plugin) as the docs show."""
    import typing
    from pathlib import Path

    from transfercast.plugin_manager import get_plugin_manager

    example = str(Path(__file__).parents[1] / "examples" / "custom_plugin")
    sys.path.insert(0, example)
    try:
        import transfercast_shrinkage
    finally:
        sys.path.remove(example)
    classes = [e.cls for e in get_plugin_manager().registry.entries.values()]
    classes.append(transfercast_shrinkage.ShrinkageBlend)
    wrong = {
        c.__name__: c.Params for c in classes if typing.get_type_hints(c)["params"] is not c.Params
    }
    assert wrong == {}
    assert len(classes) >= 12


class Forgetful(Rowwise):
    """Saves nothing of its forecasts' shape: read back, it forecasts flat."""

    name = "forgetful"

    def save(self, directory):
        return {}

    @classmethod
    def load(cls, directory, manifest):
        obj = cls(manifest["params"])
        obj.predict = lambda table: np.ones(len(table))
        return obj


class Brittle(Forgetful):
    """Its load looks for a file its save never wrote."""

    name = "brittle"

    @classmethod
    def load(cls, directory, manifest):
        return {}["weights.npz"]


def test_check_round_trip_names_a_strategy_whose_bundle_forecasts_otherwise(plugin):
    """The plugin docs asked authors for a save/load round trip and gave them no way to run
    one; the check fits, writes the bundle, reads it back and compares the forecasts."""
    from transfercast.testing import check_round_trip

    module = plugin(
        "trip_plugin", transfercast_register_strategies=strategies(Forgetful, Rowwise, Brittle)
    )
    with pytest.raises(AssertionError, match=r"'forgetful': read back from its bundle, it "
                       r"forecasts [\d.]+ where the fitted model forecast"):  # fmt: skip
        check_round_trip("forgetful", plugins=[module])
    with pytest.raises(AssertionError, match=r"'rowwise': strategy 'rowwise' cannot be saved"):
        check_round_trip("rowwise", plugins=[module])
    with pytest.raises(AssertionError, match=r"^strategy 'brittle': writing its model bundle and "
                       r"reading it back failed: KeyError: 'weights.npz'$"):  # fmt: skip
        check_round_trip("brittle", plugins=[module])
    check_round_trip("pooled", {"target_params": {"num_boost_round": 5}})


class _FailingSource(tc.Strategy):
    """A source model that cannot be fitted."""

    name = "failing_source"

    def fit_source(self, source):
        raise ValueError("too few source rows")

    def source_spec(self):
        return tc.SourceSpec(kind="mean", engine="none")


class _DictSpec(tc.Strategy):
    """A source spec that is not a SourceSpec."""

    name = "dict_spec"

    def source_spec(self):
        return {"engine": "lightgbm"}


def test_a_source_model_that_fails_fails_its_cells_and_the_others_go_on(task, plugin):
    """Before: the error left compare before any cell was recorded, the others' included."""
    mod = plugin(
        "contract_source",
        transfercast_register_strategies=strategies(Rowwise, _FailingSource, _DictSpec),
    )
    comp = tc.compare(task, ["rowwise", "failing_source", "dict_spec"], plugins=[mod])
    assert (comp.scores.loc[comp.scores["strategy"] == "rowwise", "status"] == "ok").all()
    assert all("ValueError: too few source rows" in e for e in failures(comp, "failing_source"))
    assert all(
        e.startswith("PluginError: strategy 'dict_spec' source_spec returned dict; it must")
        for e in failures(comp, "dict_spec")
    )


class _NeedsPromo(tc.Strategy):
    """Reads a known covariate its parameters name."""

    name = "needs_promo"
    uses_source_rows = False

    class Params(tc.StrategyParams):
        covariate: str = "promo"

    @classmethod
    def check_task(cls, params, task):
        if params.covariate not in task.known:
            raise ConfigError(f"[strategies.needs_promo] covariate: {params.covariate!r} unknown")

    def predict(self, table):
        return np.ones(len(table))


def test_compare_checks_a_strategys_default_parameters_against_the_task(plugin):
    """As ``run`` does, and as ``compare`` did only for a table given in the config."""
    frame = small_frame()
    raw = synthetic_config("unused.csv", frame.attrs["targets"], horizon=8, windows=1)
    raw["data"]["known"] = ["price"]
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    mod = plugin("contract_defaults", transfercast_register_strategies=strategies(_NeedsPromo))
    with pytest.raises(ConfigError, match=r"covariate: 'promo' unknown"):
        tc.compare(task, ["needs_promo"], plugins=[mod])


def test_an_alias_given_as_one_string_is_one_alias_and_a_bad_one_is_refused(plugin):
    class Flat(Rowwise):
        """ """  # a docstring of blanks: an empty description (before: IndexError)

        name = "flat_one"

    def register_one(register):
        register(Flat, aliases="flat")

    mod = plugin("contract_alias", transfercast_register_strategies=register_one)
    registry = tc.get_plugin_manager([mod]).registry
    assert registry.get("flat").cls is Flat and "f" not in registry.aliases
    assert Flat.description() == ""

    def register_bad(register):
        register(Flat, aliases=("b,y",))

    mod = plugin("contract_bad_alias", transfercast_register_strategies=register_bad)
    with pytest.raises(TransfercastError, match=r"registered Flat with an invalid alias 'b,y'"):
        tc.get_plugin_manager([mod])


def test_a_crash_before_any_cell_does_not_say_cells_were_kept(tmp_path, plugin):
    class _BadCheck(Rowwise):
        """A check of the task that raises what it should not."""

        name = "bad_check"

        @classmethod
        def check_task(cls, params, task):
            raise KeyError("covariate")

    mod = plugin("contract_bad_check", transfercast_register_strategies=strategies(_BadCheck))
    frame = small_frame()
    frame.to_csv(tmp_path / "sales.csv", index=False)
    raw = synthetic_config("sales.csv", frame.attrs["targets"], horizon=8, target_history=8)
    (tmp_path / "config.toml").write_text(f'plugins = ["{mod}"]\n' + to_toml(raw))
    res = invoke("compare", tmp_path / "config.toml", "--strategies", "bad_check", "--output",
                 tmp_path / "out")  # fmt: skip
    assert res.code == 1 and "KeyError: 'covariate'" in res.err
    assert "cells are kept" not in res.err  # none was


class _SaveOnly(Rowwise):
    """Saves its model but cannot read it back."""

    name = "save_only"

    def save(self, directory):
        return {}


class _LoadNone(Rowwise):
    """Its load returns nothing."""

    name = "load_none"

    def save(self, directory):
        return {}

    @classmethod
    def load(cls, directory, manifest):
        return None


def test_a_bundle_that_could_not_be_read_back_is_not_written_and_a_bad_load_is_named(
    task, plugin, tmp_path
):
    """``save`` without ``load``: no bundle, as for a strategy that cannot be saved (before: a
    bundle ``predict`` could never read); a ``load`` returning ``None`` is named (before: an
    AttributeError in the forecast)."""
    from transfercast.bundle import BundleError, load_bundle, write_bundle

    mod = plugin("contract_load", transfercast_register_strategies=strategies(_SaveOnly, _LoadNone))
    model = tc.TransferForecaster("save_only", plugins=[mod]).fit(task)
    with pytest.raises(NotImplementedError, match="strategy 'save_only' cannot be loaded"):
        write_bundle(model, tmp_path / "a")
    assert not (tmp_path / "a").exists()
    model = tc.TransferForecaster("load_none", plugins=[mod]).fit(task)
    write_bundle(model, tmp_path / "b")
    with pytest.raises(BundleError, match=r"strategy 'load_none' load returned NoneType; it must"):
        load_bundle(tmp_path / "b")
