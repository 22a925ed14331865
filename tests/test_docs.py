"""The documentation cannot drift: hooks, config keys and CLI commands are documented where they
are declared, the reference pages are generated from them, and the site builds with --strict."""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from transfercast import hookspecs
from transfercast.config import Config

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def load_hooks_module():
    spec = importlib.util.spec_from_file_location("transfercast_docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen():
    return load_hooks_module()


def hook_names() -> list[str]:
    return [n for n, f in vars(hookspecs).items() if n.startswith("transfercast_") and callable(f)]


def config_models() -> list[type[BaseModel]]:
    """Config and every table model reachable from it."""
    out, todo = [], [Config]
    while todo:
        model = todo.pop()
        out.append(model)
        for field in model.model_fields.values():
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel) and ann not in out:
                todo.append(ann)
    return out


def test_every_hook_has_a_docstring():
    names = hook_names()
    assert len(names) >= 6
    for name in names:
        doc = inspect.getdoc(getattr(hookspecs, name))
        assert doc and len(doc) > 40, f"hook {name} has no real docstring"


def test_every_hook_is_in_the_generated_plugin_reference(gen):
    ref = gen.hook_reference()
    for name in hook_names():
        assert f"### `{name}`" in ref
        first_line = inspect.getdoc(getattr(hookspecs, name)).splitlines()[0]
        assert gen.rest_to_md(first_line) in ref
    # the firstresult hook says so
    select = ref.split("### `transfercast_select_strategy`")[1].split("### ")[0]
    assert "first non-`None` answer wins" in select
    assert "<!-- transfercast:hook-reference -->" in (DOCS / "plugins.md").read_text()


def test_every_config_field_has_a_description_and_is_in_the_reference(gen):
    ref = gen.config_reference()
    for model in config_models():
        assert inspect.getdoc(model), f"{model.__name__} has no docstring"
        for name, field in model.model_fields.items():
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                continue  # a table: documented by its model's docstring, checked above
            assert field.description, f"{model.__name__}.{name} has no description"
            if not field.exclude:
                assert f"| `{name}` |" in ref, f"{model.__name__}.{name} not in the reference"
    for section in ("data", "task", "evaluate", "strategy", "features", "execution", "output"):
        assert f"## `[{section}]`" in ref
    assert "`base_dir`" not in ref  # internal, excluded from the file format
    assert '| `freq` | string | `"W-FRI"` |' in ref
    assert "| `horizon` | integer | **required** |" in ref


def test_cli_reference_lists_every_command_and_option(gen):
    import typer

    from transfercast.cli import app

    ref = gen.cli_reference()
    group = typer.main.get_command(app)
    assert {"compare", "run", "plugins", "demo", "predict"} <= set(group.commands)
    for name, cmd in group.commands.items():
        assert f"## `transfercast {name}`" in ref
        for param in cmd.params:
            label = param.name.upper() if param.param_type_name == "argument" else param.opts[0]
            assert f"`{label}`" in ref.split(f"## `transfercast {name}`")[1], (name, label)
    assert "transfercast compare [OPTIONS] CONFIG" in ref
    assert "| `--jobs` | integer | `1` |" in ref


def test_strategy_parameter_tables(gen):
    table = gen.strategy_params("pooled")
    assert "`[strategies.pooled]`" in table
    assert "| `target_weight` | float | `5.0` |" in table
    assert '| `engine` | one of `"lightgbm"`, `"xgboost"` | `"lightgbm"` |' in table
    with pytest.raises(Exception, match="nope"):
        gen.strategy_params("nope")


def test_unknown_marker_is_an_error(gen):
    assert gen.render("a <!-- transfercast:cli-reference --> b").startswith("a Transfer")
    with pytest.raises(ValueError, match="unknown transfercast docs marker 'nope'"):
        gen.render("<!-- transfercast:nope -->")


def test_nav_pages_exist():
    nav = re.findall(r":\s*([\w/-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), flags=re.M)
    assert "plugins.md" in nav and "configuration.md" in nav and "cli.md" in nav
    for page in nav:
        assert (DOCS / page).is_file(), f"mkdocs.yml names {page}, which does not exist"


def test_mkdocs_build_strict(tmp_path):
    """The site builds with --strict (broken links, missing pages, bad snippets fail), and the
    generated sections are in the built pages."""
    site = tmp_path / "site"
    env = {**os.environ, "TRANSFERCAST_LOAD_PLUGINS": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    plugins = (site / "plugins" / "index.html").read_text()
    for name in hook_names():
        assert f'id="{name}"' in plugins
    assert "ShrinkageBlend" in plugins  # the worked example, included from examples/
    config = (site / "configuration" / "index.html").read_text()
    assert "target_history" in config and "source_window" in config
    cli = (site / "cli" / "index.html").read_text()
    assert "transfercast compare [OPTIONS] CONFIG" in cli
    for page in site.rglob("*.html"):
        assert "<!-- transfercast:" not in page.read_text(), f"marker left in {page}"


def test_toml_examples_in_the_docs_are_valid(monkeypatch):
    """Every TOML block of the docs parses, every full config validates, and every strategy name
    and `[strategies.NAME]` table in them is accepted by the registry (the example plugin's
    module made importable for the plugin guide)."""
    import tomllib

    from transfercast.config import parse_config
    from transfercast.plugin_manager import get_plugin_manager

    monkeypatch.syspath_prepend(str(ROOT / "examples" / "custom_plugin"))
    registry = get_plugin_manager(["transfercast_shrinkage"]).registry
    checked = 0
    try:
        for page in sorted(DOCS.rglob("*.md")):
            for block in re.findall(r"```toml\n(.*?)```", page.read_text(), flags=re.S):
                if block.startswith("--8<--"):
                    continue  # an included file, checked where it lives
                raw = tomllib.loads(block)
                if raw.get("data") and raw.get("task"):  # a whole config, not a skeleton
                    parse_config(raw, source=str(page))
                for name in raw.get("strategy", {}).get("candidates", []):
                    registry.get(name)
                for name, params in raw.get("strategies", {}).items():
                    registry.create(name, params)
                checked += 1
    finally:
        sys.modules.pop("transfercast_shrinkage", None)
    assert checked >= 5
