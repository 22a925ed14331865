"""Every example in ``examples/`` runs as documented, and its output is checked.

- ``pick_by_config/``: one command compares the candidates; switching the strategy of ``run`` is
  a one-line change of the config; the committed data is what ``make_data.py`` writes.
- ``compare_in_script.py``: builds a task from a DataFrame, prints the leaderboard, saves a plot;
  its scores equal the config route's on the same data and settings.
- ``custom_plugin/``: installed with pip, it appears in ``transfercast plugins`` (when
  ``TRANSFERCAST_LOAD_PLUGINS`` allows it), runs, saves and reloads; the plugin guide's own test
  code passes against it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.clirun import invoke
from transfercast.plugin_manager import clear_plugin_cache, get_plugin_manager

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CANDIDATES = ["target_only", "source_only", "pooled"]


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def example_dir(tmp_path_factory) -> Path:
    """A copy of ``examples/pick_by_config`` (results are written next to the config)."""
    dest = tmp_path_factory.mktemp("pick") / "pick_by_config"
    shutil.copytree(EXAMPLES / "pick_by_config", dest, ignore=shutil.ignore_patterns("results"))
    return dest


@pytest.fixture(scope="session")
def compared(example_dir: Path):
    """``transfercast compare config.toml``: the example's one command."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRANSFERCAST_LOAD_PLUGINS", "")
        result = invoke("compare", example_dir / "config.toml")
    clear_plugin_cache()
    return result, example_dir / "results"


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> Path:
    """``examples/custom_plugin`` installed with pip into a folder of its own (offline: no
    dependencies, no build isolation), so the test environment is left as it was."""
    base = tmp_path_factory.mktemp("plugin")
    src = base / "custom_plugin"
    shutil.copytree(
        EXAMPLES / "custom_plugin",
        src,
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
    )
    site = base / "site"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "--target",
            str(site),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert list(site.glob("transfercast_shrinkage-*.dist-info"))
    return site


@pytest.fixture
def with_plugin(plugin_site: Path, monkeypatch):
    """The installed plugin on the import path, its entry point allowed to load."""
    monkeypatch.syspath_prepend(str(plugin_site))
    monkeypatch.setenv("TRANSFERCAST_LOAD_PLUGINS", "shrinkage")
    clear_plugin_cache()
    yield plugin_site
    sys.modules.pop("transfercast_shrinkage", None)
    clear_plugin_cache()


# -- pick_by_config ------------------------------------------------------------------------------
def test_pick_by_config_compare_in_one_command(compared):
    result, out = compared
    assert result.code == 0, result.err
    board = pd.read_csv(out / "leaderboard.csv")
    assert sorted(board["strategy"]) == sorted(CANDIDATES)
    assert (board["failed"] == 0).all()
    wape = board.set_index("strategy")["wape"]
    # 8 weeks of target history: the transfer strategies beat the target's own data clearly
    assert wape["pooled"] < 0.8 * wape["target_only"]
    assert wape["source_only"] < wape["target_only"]
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 2 * 3 * 2  # targets x strategies x origins
    assert set(scores["target"]) == {"S07", "S08"}
    forecasts = pd.read_csv(out / "forecasts.csv")
    assert list(forecasts.columns[:3]) == ["store", "dept", "date"]
    assert forecasts["forecast"].notna().all() and (forecasts["forecast"] > 0).all()
    assert (out / "report.html").stat().st_size > 10_000


def test_switching_strategy_is_a_one_line_change(example_dir: Path, tmp_path: Path):
    text = (example_dir / "config.toml").read_text()
    lines = [ln for ln in text.splitlines() if re.match(r'name = "pooled"', ln)]
    assert len(lines) == 1
    switched = example_dir / "switched.toml"
    switched.write_text(text.replace('name = "pooled"', 'name = "source_only"', 1))
    result = invoke("run", switched, "--output", tmp_path / "forecast")
    assert result.code == 0, result.err
    forecasts = pd.read_csv(tmp_path / "forecast" / "forecasts.csv")
    assert list(forecasts.columns) == ["store", "dept", "date", "forecast"]
    assert len(forecasts) == 2 * 2 * 8  # target stores x departments x horizon
    assert forecasts["date"].min() > pd.read_csv(example_dir / "sales.csv")["date"].max()
    manifest = json.loads((tmp_path / "forecast" / "model" / "manifest.json").read_text())
    assert manifest["strategy"]["name"] == "source_only"


def test_committed_data_is_what_make_data_writes(tmp_path: Path):
    make_data = load_module(EXAMPLES / "pick_by_config" / "make_data.py", "example_make_data")
    path = make_data.main(tmp_path / "sales.csv")
    committed = EXAMPLES / "pick_by_config" / "sales.csv"
    assert path.read_bytes() == committed.read_bytes()
    assert committed.stat().st_size < 300_000


# -- compare_in_script ---------------------------------------------------------------------------
def test_compare_in_script(tmp_path: Path, capsys, compared):
    script = load_module(EXAMPLES / "compare_in_script.py", "example_compare_in_script")
    comparison = script.main(["--output", str(tmp_path)])
    printed = capsys.readouterr().out
    for name in CANDIDATES:
        assert name in printed
    png = tmp_path / "comparison.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    board = pd.read_csv(tmp_path / "leaderboard.csv").set_index("strategy")
    # the script and the config describe the same task: same scores
    from_config = pd.read_csv(compared[1] / "leaderboard.csv").set_index("strategy")
    assert np.allclose(board.loc[CANDIDATES, "wape"], from_config.loc[CANDIDATES, "wape"])
    assert len(comparison.forecasts) == 3 * 2 * 2 * 2 * 8  # strategies x origins x series x h


# -- custom_plugin -------------------------------------------------------------------------------
def test_custom_plugin_appears_in_transfercast_plugins(plugin_site: Path):
    env = {
        **os.environ,
        "PYTHONPATH": str(plugin_site),
        "COLUMNS": "200",
        "TRANSFERCAST_LOAD_PLUGINS": "shrinkage",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "transfercast.cli", "plugins"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    row = next(ln for ln in proc.stdout.splitlines() if "shrinkage_blend" in ln)
    assert "shrinkage" in row.replace("shrinkage_blend", "") and "entry point" in row
    assert "plugin failed" not in proc.stdout


def test_custom_plugin_loads_only_when_allowed(plugin_site: Path, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_site))
    monkeypatch.setenv("TRANSFERCAST_LOAD_PLUGINS", "")  # hermetic: installed plugins blocked
    clear_plugin_cache()
    assert "shrinkage_blend" not in get_plugin_manager().registry.names()
    monkeypatch.setenv("TRANSFERCAST_LOAD_PLUGINS", "shrinkage")
    clear_plugin_cache()
    entry = get_plugin_manager().registry.get("shrinkage_blend")
    assert (entry.plugin, entry.source) == ("shrinkage", "entry point")
    clear_plugin_cache()


def test_custom_plugin_runs_saves_and_reloads(with_plugin, example_dir: Path, tmp_path: Path):
    cfg = example_dir / "config.toml"
    out = tmp_path / "forecast"
    result = invoke("run", cfg, "--strategy", "shrinkage_blend", "--output", out)
    assert result.code == 0, result.err
    forecasts = pd.read_csv(out / "forecasts.csv")
    assert len(forecasts) == 32 and (forecasts["forecast"] > 0).all()
    manifest = json.loads((out / "model" / "manifest.json").read_text())
    assert manifest["strategy"]["name"] == "shrinkage_blend"
    again = tmp_path / "again.csv"
    result = invoke(
        "predict", out / "model", "--data", example_dir / "sales.csv", "--output", again
    )
    assert result.code == 0, result.err
    reloaded = pd.read_csv(again)
    assert np.allclose(reloaded["forecast"], forecasts["forecast"], rtol=1e-9)


def test_plugin_guide_test_code_passes(plugin_site: Path, monkeypatch):
    """The 'Test it' code of docs/plugins.md, run against the installed example plugin (loaded
    in-process by module name, installed entry points blocked, as the guide advises)."""
    monkeypatch.syspath_prepend(str(plugin_site))
    clear_plugin_cache()
    blocks = re.findall(
        r"```python\n(.*?)```", (ROOT / "docs" / "plugins.md").read_text(), flags=re.S
    )
    code = next(b for b in blocks if "def test_blend_sits_between_its_parts" in b)
    namespace: dict = {}
    exec(compile(code, "docs/plugins.md", "exec"), namespace)
    tests = [f for name, f in namespace.items() if name.startswith("test_")]
    assert len(tests) == 3
    try:
        for test in tests:
            test()
    finally:
        sys.modules.pop("transfercast_shrinkage", None)


def test_getting_started_script_is_the_config_comparison(compared, monkeypatch, tmp_path):
    """docs/getting-started.md calls its Python comparison "the same comparison without a
    config file": the same origins and scores as ``transfercast compare`` on the example. It
    runs from a folder holding the examples, as the repository's root does, and writes there,
    not into the checkout."""
    page = (ROOT / "docs" / "getting-started.md").read_text()
    code = page.split("## Compare from Python", 1)[1]
    code = re.findall(r"```python\n(.*?)```", code, flags=re.S)[0]
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "getting-started", "exec"), namespace)
    scores = namespace["comparison"].scores
    from_config = pd.read_csv(compared[1] / "scores.csv")
    assert sorted(scores["origin"].astype(str).str[:10].unique()) == sorted(
        from_config["origin"].astype(str).str[:10].unique()
    )
    board = namespace["comparison"].leaderboard().set_index("strategy")
    config_board = pd.read_csv(compared[1] / "leaderboard.csv").set_index("strategy")
    assert np.allclose(board.loc[CANDIDATES, "wape"], config_board.loc[CANDIDATES, "wape"])
