"""Config validation: unknown keys and wrong types are one-line errors naming the key."""

from __future__ import annotations

import pytest

from transfercast.config import load_config, parse_config
from transfercast.datasets import synthetic_config
from transfercast.errors import ConfigError
from transfercast.plugin_manager import get_plugin_manager


def test_valid_config_round_trip(tmp_path):
    from transfercast.cli import to_toml

    raw = synthetic_config("sales.csv", ["S06"])
    raw["strategies"] = {"pooled": {"target_weight": 2.0}}
    (tmp_path / "c.toml").write_text(to_toml(raw))
    cfg = load_config(tmp_path / "c.toml")
    assert cfg.data.series == ["store", "dept"]
    assert cfg.data_path() == tmp_path / "sales.csv"
    assert cfg.strategies["pooled"]["target_weight"] == 2.0


def test_unknown_key_suggests_closest():
    raw = synthetic_config()
    raw["task"]["horizn"] = 4
    with pytest.raises(
        ConfigError, match=r"unknown \[task\] key 'horizn' \(did you mean 'horizon'\?\)"
    ):
        parse_config(raw, source="c.toml")


def test_wrong_type_names_key():
    raw = synthetic_config()
    raw["task"]["horizon"] = "soon"
    with pytest.raises(ConfigError, match=r"c.toml: \[task\] key 'horizon'"):
        parse_config(raw, source="c.toml")


def test_missing_section_names_key():
    raw = synthetic_config()
    del raw["data"]["target"]
    with pytest.raises(ConfigError, match=r"missing required \[data\] key 'target'"):
        parse_config(raw, source="c.toml")


def test_strategy_params_validated():
    registry = get_plugin_manager().registry
    with pytest.raises(ConfigError, match=r"\[strategies.pooled\]: unknown key 'target_wieght'"):
        registry.create("pooled", {"target_wieght": 3})
    with pytest.raises(ConfigError, match=r"\[strategies.pooled\] key 'engine'"):
        registry.create("pooled", {"engine": "catboost"})


def test_not_toml(tmp_path):
    (tmp_path / "bad.toml").write_text("[data\npath=")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(tmp_path / "bad.toml")


def test_bare_toml_dates_are_read_as_origins():
    from transfercast.config import tomllib  # tomli on Python 3.10

    raw = synthetic_config("sales.csv", ["S05"])
    raw["task"].update(tomllib.loads('targets = "S05"\norigin = 2020-12-11\n'))
    raw["evaluate"] = tomllib.loads("origins = [2020-12-11, 2020-12-18]\n")
    cfg = parse_config(raw)
    assert cfg.task.targets == ["S05"]
    assert cfg.task.origin == "2020-12-11"
    assert cfg.evaluate.origins == ["2020-12-11", "2020-12-18"]


@pytest.mark.parametrize(
    "name,params,message",
    [
        ("representation", {"seed": -1}, r"key 'seed': .*greater than or equal to 0 \(got -1\)"),
        ("auto", {"seed": 2**64}, r"key 'seed': .*less than 2147483648"),
        ("boost_continue", {"mode": "refit_leaves", "kappa": float("inf")}, r"'kappa': .*finite"),
    ],
)
def test_seeds_and_rates_out_of_range_are_errors_with_the_value(name, params, message):
    """A seed numpy or torch cannot take, and an infinite rate or weight, are refused by the
    parameter check, naming the key (before, a traceback from numpy, torch or the engine)."""
    import transfercast as tc

    with pytest.raises(ConfigError, match=message):
        tc.get_plugin_manager().registry.get(name).cls.validate_params(params)


@pytest.mark.parametrize(
    "section, key, value",
    [
        ("task", "horizon", 0),
        ("evaluate", "windows", 0),
        ("evaluate", "step", 0),
        ("features", "level_window", 0),
        ("features", "source_window", 0),
        ("features", "season_length", 0),
        ("features", "lags", [0, 1]),  # lag 0 would be the label of the first step: a leak
        ("features", "windows", [4, 4]),
        ("execution", "jobs", 0),
    ],
)
def test_out_of_range_counts_are_config_errors_naming_the_key(section, key, value):
    raw = synthetic_config("sales.csv", ["S07"], horizon=8)
    raw[section] = {**raw.get(section, {}), key: value}
    with pytest.raises(ConfigError, match=rf"\[{section}\] key '{key}'"):
        parse_config(raw, source="config.toml")


def test_defaults_of_the_sections():
    full = synthetic_config("sales.csv", ["S07"], horizon=8)
    raw = {k: v for k, v in full.items() if k in ("data", "task")}
    raw["data"] = {k: v for k, v in raw["data"].items() if k not in ("freq", "repair")}
    cfg = parse_config(raw)
    assert cfg.data.freq == "W-FRI" and cfg.data.repair is True
    assert cfg.evaluate.windows == 3 and cfg.evaluate.step is None
    assert cfg.strategy.name == "auto"
    assert cfg.execution.backend == "local" and cfg.execution.jobs == 1
    assert cfg.features.formulation == "direct"


def test_a_task_takes_its_features_and_evaluate_tables_as_mappings():
    """``TransferTask(features={...})`` was an AttributeError; a mapping is validated as the
    config file's table, and a bad key is named as there."""
    from tests.conftest import small_frame
    from transfercast.task import TransferTask

    frame = small_frame()
    kwargs = dict(
        series=["store", "dept"], time="date", target="sales", domain="store",
        targets=frame.attrs["targets"], horizon=4,
    )  # fmt: skip
    task = TransferTask(frame, features={"lags": [1, 2]}, evaluate={"windows": 2}, **kwargs)
    assert task.features.lags == [1, 2] and task.evaluate.windows == 2
    with pytest.raises(ConfigError, match=r"^data: unknown \[features\] key 'lag' \(did you mean"):
        TransferTask(frame, features={"lag": [1]}, **kwargs)
    with pytest.raises(ConfigError, match=r"^data: \[evaluate\] key 'windows': .*\(got 0\)$"):
        TransferTask(frame, evaluate={"windows": 0}, **kwargs)
    with pytest.raises(ConfigError, match=r"^data: features must be a mapping of \[features\]"):
        TransferTask(frame, features=[1, 2], **kwargs)


def test_a_toml_date_time_is_a_regime_start_with_its_time_of_day():
    """Hourly data: ``regime_start = 2024-03-09T08:00:00`` was refused ("key 'str'")."""
    from transfercast.config import tomllib  # tomli on Python 3.10

    raw = synthetic_config("x.csv", ["S05"], horizon=4)
    raw["task"]["regime_start"] = tomllib.loads("a = 2024-03-09T08:00:00")["a"]
    assert parse_config(raw).task.regime_start == "2024-03-09T08:00:00"
    raw["task"]["regime_start"] = tomllib.loads("a = { S05 = 2024-03-09 }")["a"]
    assert parse_config(raw).task.regime_start == {"S05": "2024-03-09"}
