"""The README stays true: its Python, TOML and plugin examples run as written."""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import transfercast as tc
from transfercast.config import (
    parse_config,
    tomllib,  # tomli on Python 3.10
)
from transfercast.evaluation import resolve_strategies
from transfercast.plugin_manager import get_plugin_manager

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def test_setup_commands_match_ci():
    bash = blocks("bash")
    assert "transfercast demo" in bash[0]
    assert "pytest" in bash[1]
    ci = (README.parent / ".ci" / "run").read_text()
    assert 'torch==2.13.0 -e ".[dev]"' in ci and "pytest" in ci


def test_api_example_runs():
    code = blocks("python")[0]
    small = "synthetic_sales(n_domains=8, series_per_domain=2, n_periods=120, n_targets=2, "
    code = code.replace("synthetic_sales(", small, 1)
    namespace: dict = {}
    exec(compile(code, "README-api", "exec"), namespace)
    board = namespace["result"].leaderboard()
    assert set(board["strategy"]) == {"target_only", "source_only", "pooled", "boost_continue"}
    assert namespace["forecast"]["forecast"].notna().all()


def test_config_example_is_valid():
    raw = tomllib.loads(blocks("toml")[0])
    cfg = parse_config(raw, source="README")
    registry = get_plugin_manager().registry
    for name in cfg.strategy.candidates:
        registry.get(name)
    for name, params in cfg.strategies.items():
        registry.create(name, params)
    with warnings.catch_warnings():  # every table is read: none is left to auto's defaults
        warnings.simplefilter("error")
        chosen = resolve_strategies(cfg.strategy.candidates, cfg.strategies, get_plugin_manager())
    auto = next(s for s in chosen if s.name == "auto")
    assert auto.make("boost_continue").params.learning_rate == 0.02


def test_plugin_example_registers_and_predicts(tmp_path, monkeypatch, task):
    (tmp_path / "my_strategies.py").write_text(blocks("python")[1])
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        comp = tc.compare(
            task,
            ["shrink_to_level"],
            plugins=["my_strategies"],
            origins=task.evaluation_origins()[-1:],
        )
        assert (comp.scores["status"] == "ok").all()
        assert (
            get_plugin_manager(["my_strategies"]).registry.get("shrink_to_level").source == "config"
        )
    finally:
        sys.modules.pop("my_strategies", None)


def test_getting_started_python_examples_run(monkeypatch, tmp_path):
    """docs/getting-started.md's scripted comparison, forecast and bundle, as written (from a
    folder that holds the repository's examples, as its root does; the bundle is written
    there, not into the checkout)."""
    page = (README.parent / "docs" / "getting-started.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", page, flags=re.S))
    (tmp_path / "examples").symlink_to(README.parent / "examples")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "getting-started", "exec"), namespace)
    board = namespace["comparison"].leaderboard()
    assert set(board["strategy"]) == {"target_only", "source_only", "pooled"}
    forecast = namespace["forecast"]  # the bundle's, as the fit's
    assert forecast["forecast"].notna().all() and len(forecast) == 2 * 2 * 8  # stores x depts x h
    assert (tmp_path / "my_model" / "manifest.json").is_file()
    written = pd.read_csv(tmp_path / "my_comparison" / "leaderboard.csv")
    assert written["strategy"].tolist() == board["strategy"].tolist()
    assert (tmp_path / "my_comparison" / "report.html").is_file()
    fitted = namespace["model"].predict()["forecast"].to_numpy()
    assert np.allclose(forecast["forecast"].to_numpy(), fitted, rtol=1e-12)
