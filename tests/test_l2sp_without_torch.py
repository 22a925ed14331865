"""``l2sp`` where torch is not installed: the plugin is still listed, and using it stops with
an error naming the ``transfercast[torch]`` extra. torch's absence is simulated
(``sys.modules["torch"] = None``), so these tests run whether or not torch is installed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from transfercast.cli import to_toml
from transfercast.errors import MissingDependencyError
from transfercast.plugin_manager import get_plugin_manager
from transfercast.plugins.l2sp import L2SP

from .conftest import small_project


@pytest.fixture
def no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import torch`` fail and ``find_spec("torch")`` return ``None``."""
    monkeypatch.setitem(sys.modules, "torch", None)
    assert importlib.util.find_spec("torch") is None


def test_listed_and_named_extra_without_torch(no_torch):
    pm = get_plugin_manager(refresh=True)
    entry = pm.registry.get("l2sp")
    assert entry.plugin == "transfercast.plugins.l2sp" and "L2-SP" in entry.description
    with pytest.raises(MissingDependencyError, match=r"transfercast\[torch\]"):
        pm.registry.create("l2sp")


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
