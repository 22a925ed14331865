"""The plugin contract: built-ins, config modules, entry points, failures, names."""

from __future__ import annotations

import json
import re
import textwrap
from importlib.metadata import EntryPoint

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import transfercast
from transfercast import plugin_manager
from transfercast.cli import app
from transfercast.errors import ConfigError, TransfercastError
from transfercast.plugin_manager import PluginManager, get_plugin_manager

PLUGIN = '''
import numpy as np
import transfercast
from transfercast import Strategy, GBMParams


class HalfParams(transfercast.StrategyParams):
    weight: float = 0.5


class Half(Strategy):
    """Average of the source model and the recent level (a tiny third-party strategy)."""

    name = "{name}"
    Params = HalfParams

    def source_spec(self):
        return transfercast.SourceSpec("gbm", "lightgbm", {{}}, 0)

    def predict(self, table):
        w = self.params.weight
        return w * self.source_model_.predict(table.X) + (1 - w) * np.ones(len(table))


@transfercast.hookimpl
def transfercast_register_strategies(register):
    register(Half)
'''

BROKEN = """
import transfercast

@transfercast.hookimpl
def transfercast_register_strategies(register):
    raise RuntimeError("boom while registering")
"""


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    (tmp_path / "half_plugin.py").write_text(PLUGIN.format(name="half"))
    (tmp_path / "broken_plugin.py").write_text(BROKEN)
    (tmp_path / "dupe_plugin.py").write_text(PLUGIN.format(name="pooled"))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_builtins_registered_through_the_manager():
    names = transfercast.strategies()
    for name in ("target_only", "source_only", "pooled"):
        assert name in names
    entry = get_plugin_manager().registry.get("pooled")
    assert entry.source == "builtin"
    assert entry.plugin == "transfercast.plugins.baselines"


def test_config_plugin_appears_and_runs_in_compare(plugin_dir, task):
    pm = get_plugin_manager(["half_plugin"])
    entry = pm.registry.get("half")
    assert (entry.plugin, entry.source) == ("half_plugin", "config")
    comp = transfercast.compare(
        task, ["source_only", "half"], plugins=["half_plugin"], params={"half": {"weight": 0.25}}
    )
    scores = comp.scores.set_index(["target", "origin", "strategy"])["wape"].unstack()
    assert (comp.scores["status"] == "ok").all()
    assert not scores["half"].equals(scores["source_only"])  # the plugin's forecast was used


def test_broken_plugin_reported_while_builtins_work(plugin_dir):
    pm = PluginManager(["broken_plugin", "no_such_plugin_module"])
    failures = {f.plugin: f for f in pm.failures}
    assert "boom while registering" in failures["broken_plugin"].error
    assert failures["no_such_plugin_module"].source == "config"
    assert "ModuleNotFoundError" in failures["no_such_plugin_module"].error
    assert "target_only" in pm.registry.names()


def test_a_plugin_failing_halfway_through_registering_registers_none_of_its_strategies(
    plugin_dir,
):
    """Its first strategies stayed registered, though the plugin was listed as failed, and
    took the name from a later plugin that registers it whole."""
    (plugin_dir / "halfway_plugin.py").write_text(
        PLUGIN.format(name="half").replace("    register(Half)", "    register(Half)\n"
                                            "    raise RuntimeError('halfway')")
    )  # fmt: skip
    pm = PluginManager(["halfway_plugin", "half_plugin"])
    assert "halfway" in {f.plugin: f.error for f in pm.failures}["halfway_plugin"]
    assert pm.registry.get("half").plugin == "half_plugin"


def test_duplicate_name_refused_naming_both_plugins(plugin_dir):
    pm = PluginManager(["dupe_plugin"])
    error = {f.plugin: f.error for f in pm.failures}["dupe_plugin"]
    assert (
        "'pooled'" in error and "dupe_plugin" in error and "transfercast.plugins.baselines" in error
    )
    assert pm.registry.get("pooled").plugin == "transfercast.plugins.baselines"


def test_unknown_strategy_suggests_closest():
    with pytest.raises(
        TransfercastError, match=r"unknown strategy 'poled' \(did you mean 'pooled'\?\)"
    ):
        get_plugin_manager().registry.get("poled")


def _listed(monkeypatch, name: str, module: str) -> str:
    """``transfercast plugins``' output with one installed entry point, ``name`` = ``module``."""
    ep = EntryPoint(name=name, value=module, group="transfercast")
    monkeypatch.setattr(plugin_manager, "entry_points", lambda group: [ep])
    monkeypatch.setenv("TRANSFERCAST_LOAD_PLUGINS", name)
    plugin_manager.clear_plugin_cache()
    result = CliRunner().invoke(app, ["plugins"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_entry_point_plugin_listed_by_cli(plugin_dir, monkeypatch):
    output = _listed(monkeypatch, "half", "half_plugin")
    line = next(ln for ln in output.splitlines() if "│ half " in ln)
    assert "entry point" in line and "Average of the source" in line


def test_the_cli_lists_a_strategys_aliases(plugin_dir, monkeypatch):
    (plugin_dir / "alias_plugin.py").write_text(
        PLUGIN.format(name="half").replace("register(Half)", "register(Half, aliases=('flat',))")
    )
    assert "│ half (also flat) " in _listed(monkeypatch, "aliased", "alias_plugin")


def test_env_var_blocks_entry_points(plugin_dir, monkeypatch):
    ep = EntryPoint(name="half", value="half_plugin", group="transfercast")
    monkeypatch.setattr(plugin_manager, "entry_points", lambda group: [ep])
    monkeypatch.setenv("TRANSFERCAST_LOAD_PLUGINS", "")
    assert "half" not in PluginManager().registry.names()


def test_misspelled_hook_is_reported(tmp_path, monkeypatch):
    (tmp_path / "typo_plugin.py").write_text(
        textwrap.dedent("""
        import transfercast

        @transfercast.hookimpl
        def transfercast_register_strategy(register):
            pass
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    pm = PluginManager(["typo_plugin"])
    failure = next(f for f in pm.failures if "transfercast_register_strategy" in f.error)
    # under the module's own name and source (not "<module ...> (?)"), with the closest hook
    assert (failure.plugin, failure.source) == ("typo_plugin", "config")
    assert "did you mean 'transfercast_register_strategies'" in failure.error
    assert "\n" not in failure.error
    with pytest.raises(ConfigError, match="plugin module 'typo_plugin' named in 'plugins'"):
        get_plugin_manager(["typo_plugin"])


def test_strategy_receives_the_core_context_before_transfer(task):
    """The documented contract: the core sets ``context_`` = {tables, domain, cache} on the
    copy it fits, before ``transfer``, for every target domain and origin."""
    import numpy as np

    from transfercast.forecasting import OriginTables
    from transfercast.source_cache import SourceCache

    seen: list[tuple[dict, object]] = []

    class Probe(transfercast.Strategy):
        """Records the context it is given (a test strategy)."""

        name = "probe"
        uses_source_rows = False

        def transfer(self, source_model, target, source=None):
            seen.append((dict(self.context_), target))  # AttributeError if not set before
            return super().transfer(source_model, target, source)

        def predict(self, table):
            return np.ones(len(table))

    comp = transfercast.compare(task, [Probe()])
    assert (comp.scores["status"] == "ok").all()
    cells = set()
    for context, target in seen:
        assert set(context) == {"tables", "domain", "cache"}
        tables, domain = context["tables"], context["domain"]
        assert isinstance(tables, OriginTables) and isinstance(context["cache"], SourceCache)
        assert domain in task.targets and target is tables.target(domain)
        cells.add((domain, tables.data.origin))
    assert cells == {(d, o) for d in task.targets for o in task.evaluation_origins()}


def test_a_failing_plugins_module_is_an_error_of_the_python_api(plugin_dir, task):
    """A module named in ``plugins`` that does not import, or registers a name a built-in
    has, stops compare and TransferForecaster with an error naming it and the reason."""
    with pytest.raises(ConfigError, match=r"'no_such_plugin_module'.*ModuleNotFoundError"):
        transfercast.compare(task, ["source_only"], plugins=["no_such_plugin_module"])
    with pytest.raises(ConfigError, match=r"'dupe_plugin'.*'pooled'.*already registered"):
        transfercast.compare(task, ["pooled"], plugins=["dupe_plugin"])
    with pytest.raises(ConfigError, match="'broken_plugin'.*boom while registering"):
        transfercast.TransferForecaster("source_only", plugins=["broken_plugin"]).fit(task)


def test_a_failing_installed_plugin_is_listed_and_never_stops_a_run(plugin_dir, monkeypatch):
    ep = EntryPoint(name="broken", value="broken_plugin", group="transfercast")
    monkeypatch.setattr(plugin_manager, "entry_points", lambda group: [ep])
    monkeypatch.setenv("TRANSFERCAST_LOAD_PLUGINS", "broken")
    plugin_manager.clear_plugin_cache()
    pm = get_plugin_manager()  # no error: installed plugins are not named by the run
    assert [(f.plugin, f.source) for f in pm.failures] == [("broken", "entry point")]
    assert "half" in get_plugin_manager(["half_plugin"]).registry.names()
    result = CliRunner().invoke(app, ["plugins"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "boom while registering" in result.output


def test_a_plugin_name_in_load_plugins_that_nothing_installs_is_named_as_failed(monkeypatch):
    ep = EntryPoint(name="broken", value="broken_plugin", group="transfercast")
    monkeypatch.setattr(plugin_manager, "entry_points", lambda group: [ep])
    monkeypatch.setenv("TRANSFERCAST_LOAD_PLUGINS", "shrinkag")
    plugin_manager.clear_plugin_cache()
    pm = get_plugin_manager()
    assert [(f.plugin, f.source) for f in pm.failures] == [("shrinkag", "entry point")]
    with pytest.raises(
        TransfercastError,
        match=r"unknown strategy 'shrinkage_blend'.*'shrinkag': TRANSFERCAST_LOAD_PLUGINS names "
        r"it, and no installed package registers a transfercast plugin of that name "
        r"\(installed: broken\)",
    ):
        pm.registry.get("shrinkage_blend")
    plugin_manager.clear_plugin_cache()


@pytest.mark.parametrize("command", ["compare", "plugins"])
def test_a_plugins_module_with_a_misspelt_hook_stops_the_cli(command, tmp_path):
    from transfercast.cli import to_toml

    from .clirun import invoke
    from .conftest import small_project

    (tmp_path / "tc_test_typo_hook.py").write_text(  # beside the config
        "import transfercast\n\n@transfercast.hookimpl\n"
        "def transfercast_register_strategy(register):\n    pass\n"
    )
    raw = small_project(tmp_path, windows=1, output_dir="out")
    (tmp_path / "config.toml").write_text(to_toml({"plugins": ["tc_test_typo_hook"], **raw}))
    args = ["--config"] if command == "plugins" else []
    res = invoke(command, *args, tmp_path / "config.toml")
    assert res.code == 2, res.out
    assert res.err.strip().splitlines() == [
        "error: plugin module 'tc_test_typo_hook' named in 'plugins' failed to load: "
        "PluginValidationError: unknown hook 'transfercast_register_strategy' (did you mean "
        "'transfercast_register_strategies'?)"
    ]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            "import transfercast\n\nlevel = undefined_level * 2\n",
            "NameError: name 'undefined_level' is not defined (tc_test_broken_body.py:3)",
        ),
        (
            "import transfercast\nimport tc_no_such_dependency\n",
            "ModuleNotFoundError: No module "
            "named 'tc_no_such_dependency' (tc_test_broken_body.py:2)",
        ),
    ],
)
def test_a_plugin_module_failing_as_it_is_imported_is_named_with_its_line(body, reason, tmp_path):
    from transfercast.cli import to_toml

    from .clirun import invoke
    from .conftest import small_project

    (tmp_path / "tc_test_broken_body.py").write_text(body)  # beside the config
    raw = small_project(tmp_path, windows=1, output_dir="out")
    (tmp_path / "config.toml").write_text(to_toml({"plugins": ["tc_test_broken_body"], **raw}))
    res = invoke("compare", tmp_path / "config.toml")
    assert res.code == 2, res.out
    assert res.err.strip().splitlines() == [
        "error: plugin module 'tc_test_broken_body' named in 'plugins' failed to load: " + reason
    ]
    assert not (tmp_path / "out").exists()


SAVEABLE = """
import json
import numpy as np
import transfercast


class Level(transfercast.Strategy):
    '''The target's mean normalised sales (a saveable test strategy).'''

    name = "{name}"
    uses_source_rows = False

    def fine_tune(self, target, source):
        self.c_ = float(np.nanmean(target.y))

    def predict(self, table):
        return np.full(len(table), self.c_)

    def save(self, directory):
        (directory / "c.json").write_text(json.dumps({{"c": self.c_}}))
        return {{"file": "c.json"}}

    @classmethod
    def load(cls, directory, manifest):
        obj = cls(manifest["params"])
        obj.c_ = json.loads((directory / manifest["file"]).read_text())["c"]
        return obj


@transfercast.hookimpl
def transfercast_register_strategies(register):
    register(Level)
"""


def test_auto_weighs_and_reloads_a_strategy_of_a_plugins_module(tmp_path, monkeypatch, task):
    """``auto`` looks its candidates, its select hooks and, in a bundle, its members up in the
    plugin modules the run named (config key or ``plugins`` argument)."""
    from transfercast.bundle import load_bundle, predict_bundle, write_bundle
    from transfercast.plugins.auto import Auto

    (tmp_path / "tc_test_level.py").write_text(
        SAVEABLE.format(name="level")
        + "\n\n@transfercast.hookimpl\n"
        + "def transfercast_select_strategy(target, replays, meta):\n    return 'level'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    get_plugin_manager(["tc_test_level"])
    assert "level" in Auto().candidate_names()  # auto_default: weighed without candidates
    get_plugin_manager()
    assert "level" not in Auto().candidate_names()  # not in a run that does not name it
    params = {"candidates": ["source_only", "level"], "cuts": 1}
    comp = transfercast.compare(task, ["auto"], params={"auto": params}, plugins=["tc_test_level"])
    assert (comp.scores["status"] == "ok").all(), comp.scores["error"].tolist()
    assert set(comp.selection["chosen"]) == {"level"}  # the module's select hook was asked
    model = transfercast.TransferForecaster("auto", plugins=["tc_test_level"], **params).fit(task)
    write_bundle(model, tmp_path / "model")  # records the forecaster's plugins
    get_plugin_manager()  # another run in between: loading uses the bundle's plugins
    bundle = load_bundle(tmp_path / "model")
    assert bundle.manifest["plugins"] == ["tc_test_level"]
    assert [m.name for m in bundle.strategies[task.targets[0]].members_] == ["level"]
    got = predict_bundle(bundle, task.frame)
    np.testing.assert_allclose(got["forecast"], model.predict()["forecast"])


def test_a_strategy_instance_given_with_params_is_not_changed(task):
    mine = get_plugin_manager().registry.create("target_only", {"seed": 1})
    model = transfercast.TransferForecaster(mine, seed=7).fit(task)
    assert mine.params.seed == 1
    assert model.strategy_.params.seed == 7 and model.strategy_ is not mine


def test_a_project_file_named_like_a_library_does_not_replace_it(tmp_path, monkeypatch):
    """The config's folder goes on the import path after the installed packages: a user's
    ``colorsys.py`` beside the config leaves the standard library's module in charge."""
    import sys

    from transfercast.cli import to_toml
    from transfercast.config import load_config

    from .conftest import small_project

    (tmp_path / "colorsys.py").write_text("SHADOW = True\n")
    (tmp_path / "tc_test_beside.py").write_text("VALUE = 1\n")
    raw = small_project(tmp_path, horizon=2, target_history=8, windows=1, output_dir="out")
    raw["plugins"] = ["tc_test_beside"]
    (tmp_path / "config.toml").write_text(to_toml(raw))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    load_config(tmp_path / "config.toml")
    import colorsys

    import tc_test_beside

    assert not hasattr(colorsys, "SHADOW") and tc_test_beside.VALUE == 1
    sys.modules.pop("tc_test_beside", None)


def _named(name: str) -> type[transfercast.Strategy]:
    return type(f"S_{name}", (transfercast.Strategy,), {"name": name, "__doc__": f"{name}."})


def test_a_name_or_alias_already_taken_as_an_alias_is_refused():
    """Aliases resolve first: a strategy named like another's alias would be unreachable."""
    from transfercast.registry import Registry

    reg = Registry()
    reg.register(_named("alpha"), plugin="p1", source="in-process", aliases=("al",))
    taken = r"'al' from plugin '{}' is already registered by plugin 'p1'"
    with pytest.raises(TransfercastError, match=taken.format("p2")):
        reg.register(_named("al"), plugin="p2", source="in-process")
    with pytest.raises(TransfercastError, match=taken.format("p3")):
        reg.register(_named("gamma"), plugin="p3", source="in-process", aliases=("al",))
    assert reg.get("al").cls.name == "alpha" and reg.names() == ["alpha"]


@pytest.mark.parametrize("bad", ["", "two words", "dash-name", "dot.name"])
def test_a_name_no_strategy_table_can_hold_is_refused(bad):
    from transfercast.registry import Registry

    with pytest.raises(TransfercastError, match="invalid name"):
        Registry().register(_named(bad), plugin="p", source="in-process")


def test_clone_keeps_the_parameters_and_drops_the_fitted_state():
    from transfercast.plugins.baselines import SourceOnly

    s = SourceOnly(source_params={"num_boost_round": 7}, seed=3, engine="xgboost")
    s.model_ = object()
    c = s.clone()
    assert type(c) is SourceOnly and c is not s
    assert c.get_params() == s.get_params() and c.params.seed == 3
    assert not hasattr(c, "model_")
    c.set_params(seed=4)
    assert s.params.seed == 3 and c.get_params()["source_params"] == {"num_boost_round": 7}


@pytest.mark.parametrize("rounds", [0, -1, 2.5, True])
@pytest.mark.parametrize("table", ["source_params", "target_params"])
def test_a_round_count_below_one_is_refused_naming_the_key(rounds, table):
    from transfercast.plugins.baselines import SourceOnly

    with pytest.raises(ConfigError, match=rf"{table}: num_boost_round must be a whole number"):
        SourceOnly({table: {"num_boost_round": rounds}})


def test_the_manager_follows_the_load_plugins_variable(monkeypatch):
    """Within one process, another TRANSFERCAST_LOAD_PLUGINS gives a manager built for it."""
    monkeypatch.setenv(plugin_manager.ENV_LOAD, "")
    a = get_plugin_manager()
    monkeypatch.setenv(plugin_manager.ENV_LOAD, "tc_nothing_installs_this")
    b = get_plugin_manager()
    assert b is not a
    assert any(f.plugin == "tc_nothing_installs_this" for f in b.failures)
    assert not any(f.plugin == "tc_nothing_installs_this" for f in a.failures)


def test_a_plugins_module_that_failed_is_tried_again(tmp_path, monkeypatch):
    import importlib

    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(plugin_manager.PluginLoadError, match="tc_retry_late"):
        get_plugin_manager(["tc_retry_late"])
    (tmp_path / "tc_retry_late.py").write_text(
        "import transfercast\nfrom transfercast.plugins.baselines import SourceOnly\n\n"
        "class Late(SourceOnly):\n    '''Late.'''\n    name = 'late'\n\n"
        "@transfercast.hookimpl\ndef transfercast_register_strategies(register):\n"
        "    register(Late)\n"
    )
    importlib.invalidate_caches()
    assert "late" in get_plugin_manager(["tc_retry_late"]).registry.names()


def test_two_projects_with_a_plugins_module_of_one_name_each_get_their_own(tmp_path, monkeypatch):
    """In one process (a notebook), project B's ``tc_test_strats.py`` is B's, though project
    A's file of that name was imported first; only the latest config's folder stays on the
    import path."""
    import sys

    from transfercast.cli import to_toml
    from transfercast.config import load_config

    from .conftest import small_project

    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "tc_test_strats", raising=False)
    configs = {}
    for project, weight in (("a", 0.7), ("b", 0.0)):
        folder = tmp_path / project
        folder.mkdir()
        (folder / "tc_test_strats.py").write_text(
            PLUGIN.format(name="half").replace("0.5", str(weight))
        )
        raw = small_project(folder, horizon=2, target_history=8, windows=1, output_dir="out")
        raw["plugins"] = ["tc_test_strats"]
        (folder / "config.toml").write_text(to_toml(raw))
        configs[project] = folder / "config.toml"
    try:
        for project, weight in (("a", 0.7), ("b", 0.0), ("a", 0.7)):
            cfg = load_config(configs[project])
            made = get_plugin_manager(cfg.plugins).registry.create("half", {})
            assert made.params.weight == weight, project
            assert sys.modules["tc_test_strats"].__file__ == str(
                configs[project].parent / "tc_test_strats.py"
            )
            assert str(tmp_path / ("b" if project == "a" else "a")) not in sys.path
    finally:
        sys.modules.pop("tc_test_strats", None)


def test_a_plugin_reloaded_or_redefined_in_the_session_is_the_one_used(tmp_path, monkeypatch):
    """A notebook edits its plugin file and reloads it, or runs the cell defining the class
    again: the next fit uses the new class, not the cached one."""
    import importlib
    import sys
    import types

    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "tc_test_edited.py"
    path.write_text(PLUGIN.format(name="half"))
    importlib.invalidate_caches()
    try:
        assert (
            get_plugin_manager(["tc_test_edited"]).registry.create("half", {}).params.weight == 0.5
        )
        path.write_text(PLUGIN.format(name="half").replace("0.5", "0.25"))
        importlib.reload(sys.modules["tc_test_edited"])
        assert (
            get_plugin_manager(["tc_test_edited"]).registry.create("half", {}).params.weight == 0.25
        )
    finally:
        sys.modules.pop("tc_test_edited", None)

    module = types.ModuleType("tc_test_cells")  # a notebook's in-process plugin module
    exec(PLUGIN.format(name="half"), module.__dict__)
    plugin_manager.register_module(module)
    try:
        first = get_plugin_manager(["tc_test_cells"]).registry.get("half").cls
        exec(PLUGIN.format(name="half"), module.__dict__)  # the class's cell run again
        again = get_plugin_manager(["tc_test_cells"]).registry.get("half").cls
        assert again is module.Half and again is not first
        assert get_plugin_manager(["tc_test_cells"]) is get_plugin_manager(["tc_test_cells"])
    finally:
        sys.modules.pop("tc_test_cells", None)


def test_an_error_inside_a_library_names_the_line_of_the_code_that_called_it():
    """A plugin's KeyError raised inside pandas was named at pandas' own line (base.py), which
    says nothing of the plugin."""
    from transfercast.errors import raised_at

    def plugin_code():
        return pd.DataFrame({"a": [1]})["promo_depth"]

    def reads_json():  # the standard library is a library too
        return json.loads("{")

    for code in (plugin_code, reads_json):
        try:
            code()
        except (KeyError, ValueError) as exc:
            where = raised_at(exc)
        line = code.__code__.co_firstlineno + 1
        assert re.fullmatch(rf" \(test_plugins\.py:{line}, in \w+\.py:\d+\)", where), where


def test_unknown_names_list_every_plugins_strategy_on_one_line():
    from transfercast.errors import unknown_name

    valid = [f"builtin{k}" for k in range(14)] + ["my_plugin_strategy"]
    message = unknown_name("strategy", "new\nstore", valid)
    assert "\n" not in message and "'new\\nstore'" in message
    assert message.endswith("builtin13, my_plugin_strategy")
