"""``l2sp`` where torch is not installed: the plugin is still listed, and using it stops with
an error naming the ``transfercast[torch]`` extra. torch's absence is simulated
(``sys.modules["torch"] = None``), so these tests run whether or not torch is installed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from transfercast.cli import to_toml
from transfercast.errors import MissingDependencyError
from transfercast.plugin_manager import get_plugin_manager
from transfercast.plugins.l2sp import L2SP

from .conftest import small_project


@pytest.fixture
def no_torch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make ``import torch`` fail and ``find_spec("torch")`` return ``None``. The cached
    engine parameter checks are cleared afterwards: read while ``sys.modules["torch"]`` is ``None``
    (which scipy, under LightGBM, cannot take, unlike a torch truly absent) they come back
    empty, and the later tests of the same process would check no engine parameter."""
    from transfercast import engines, strategy

    caches = [f for m in (engines, strategy) for f in vars(m).values() if hasattr(f, "cache_clear")]
    monkeypatch.setitem(sys.modules, "torch", None)
    assert importlib.util.find_spec("torch") is None
    yield
    monkeypatch.undo()
    for cached in caches:
        cached.cache_clear()


def test_listed_and_named_extra_without_torch(no_torch):
    pm = get_plugin_manager(refresh=True)
    entry = pm.registry.get("l2sp")
    assert entry.plugin == "transfercast.plugins.l2sp" and "L2-SP" in entry.description
    with pytest.raises(MissingDependencyError, match=r"transfercast\[torch\].*the CPU build"):
        pm.registry.create("l2sp")


def test_every_strategy_means_every_installed_one_without_torch(no_torch):
    # no names (the demo, a config without candidates): l2sp is left out with a warning
    # naming the extra, and the other strategies run
    from transfercast.data import DataWarning
    from transfercast.evaluation import resolve_strategies

    pm = get_plugin_manager(refresh=True)
    with pytest.warns(DataWarning, match=r"'l2sp' needs torch.*left out of the strategies"):
        names = [s.name for s in resolve_strategies(None, None, pm)]
    assert "l2sp" not in names and {"target_only", "pooled", "auto"} <= set(names)
    with pytest.raises(MissingDependencyError):  # named, it is an error
        resolve_strategies(["l2sp"], None, pm)


def test_cli_without_torch_exits_2_naming_the_extra(tmp_path):
    raw = small_project(tmp_path, horizon=4, windows=1)
    (tmp_path / "config.toml").write_text(to_toml(raw))
    code = (
        "import sys; sys.modules['torch'] = None; from transfercast.cli import main; "
        "sys.argv = ['transfercast'] + sys.argv[1:]; main()"
    )
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "compare",
            str(tmp_path / "config.toml"),
            "--strategies",
            "target_only,l2sp",
            "--output",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TRANSFERCAST_LOAD_PLUGINS": ""},
    )
    assert res.returncode == 2, res.stderr
    assert "transfercast[torch]" in res.stderr and "Traceback" not in res.stderr


def test_creating_the_strategy_without_torch_names_the_extra(no_torch):
    with pytest.raises(MissingDependencyError, match=r"transfercast\[torch\]"):
        L2SP(alpha=0.1)


def test_a_config_with_an_l2sp_table_compares_other_strategies_without_torch(no_torch):
    """A shared config keeps its [strategies.l2sp] table; on a machine without torch, comparing
    other strategies must not fail on that table (before: MissingDependencyError while the
    unused table's members were checked)."""
    from transfercast.evaluation import resolve_strategies

    pm = get_plugin_manager(refresh=True)
    params = {"l2sp": {"epochs": 3}, "pooled": {"target_weight": 2.0}}
    names = [s.name for s in resolve_strategies(["target_only", "pooled"], params, pm)]
    assert names == ["target_only", "pooled"]
    with pytest.raises(MissingDependencyError):  # named, it is still an error
        resolve_strategies(["l2sp"], params, pm)
