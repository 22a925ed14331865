"""The plugin contract: built-ins, config modules, entry points, failures, names."""

from __future__ import annotations

import textwrap
from importlib.metadata import EntryPoint

import pytest
from typer.testing import CliRunner

import transfercast
from transfercast import plugin_manager
from transfercast.cli import app
from transfercast.errors import TransfercastError
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
    pm = get_plugin_manager(["broken_plugin", "no_such_plugin_module"])
    failures = {f.plugin: f for f in pm.failures}
    assert "boom while registering" in failures["broken_plugin"].error
    assert failures["no_such_plugin_module"].source == "config"
    assert "ModuleNotFoundError" in failures["no_such_plugin_module"].error
    assert "target_only" in pm.registry.names()


def test_duplicate_name_refused_naming_both_plugins(plugin_dir):
    pm = get_plugin_manager(["dupe_plugin"])
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


def test_entry_point_plugin_listed_by_cli(plugin_dir, monkeypatch):
    ep = EntryPoint(name="half", value="half_plugin", group="transfercast")
    monkeypatch.setattr(plugin_manager, "entry_points", lambda group: [ep])
    monkeypatch.setenv("TRANSFERCAST_LOAD_PLUGINS", "half")
    plugin_manager.clear_plugin_cache()
    result = CliRunner().invoke(app, ["plugins"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if "│ half " in ln)
    assert "entry point" in line and "Average of the source" in line


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
    pm = get_plugin_manager(["typo_plugin"])
    assert any("transfercast_register_strategy" in f.error for f in pm.failures)


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
