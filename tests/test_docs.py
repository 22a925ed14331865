"""The documentation cannot drift: hooks, config keys and CLI commands are documented where they
are declared, the reference pages are generated from them, and the site builds with --strict."""

from __future__ import annotations

import ast
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
    # the options of ``transfercast`` itself come before the first command
    assert "| `--version` | flag | `false` | print the version |" in ref.split("## ")[0]
    assert "| `--jobs` | integer | `1` |" in ref
    assert "(default: [task] origin or the targets' last sale)" in ref  # rich's escape taken out
    assert "\\[" not in ref


def section_of(ref: str, heading: str) -> str:
    """The text of one ``## heading`` section of a generated reference."""
    return ref.split(heading, 1)[1].split("\n## ", 1)[0]


def test_config_reference_gives_every_key_its_default_in_its_own_table(gen):
    """Every key of every table is a row of that table's section with its type and default,
    and the reference pages hold the markers that generate them at build time."""
    from transfercast.config import Config

    ref = gen.config_reference()
    for name, field in Config.model_fields.items():
        model = field.annotation
        if not gen.is_section(model):
            continue
        section = section_of(ref, f"## `[{name}]`")
        for key, sub in model.model_fields.items():
            if sub.exclude:
                continue
            row = f"| `{key}` | {gen.toml_type(sub.annotation)} | {gen.field_default(sub)} |"
            assert row in section, f"[{name}] {key}: {row} not in its table"
            if not sub.is_required():
                default = sub.get_default(call_default_factory=True)
                assert default is None or gen.toml_value(default) in row, (name, key, default)
    top = section_of(ref, "## Top-level keys")
    for key, field in Config.model_fields.items():
        if not field.exclude and not gen.is_section(field.annotation):
            assert f"| `{key}` |" in top and gen.field_default(field) in top, key
    page = (DOCS / "configuration.md").read_text()
    for marker in ("config-skeleton", "config-reference", "frequency-defaults"):
        assert f"<!-- transfercast:{marker} -->" in page
    assert "<!-- transfercast:cli-reference -->" in (DOCS / "cli.md").read_text()


def test_config_skeleton_outlines_every_table(gen):
    from transfercast.config import (
        Config,
        tomllib,  # tomli on Python 3.10
    )

    skeleton = gen.config_skeleton()
    assert skeleton.startswith("```toml\n") and skeleton.endswith("\n```")
    body = skeleton.removeprefix("```toml\n").removesuffix("\n```")
    raw = tomllib.loads(body)
    assert raw["plugins"] == []
    for name, field in Config.model_fields.items():
        if gen.is_section(field.annotation):
            line = next(x for x in body.splitlines() if x.startswith(f"[{name}] "))
            assert ("(required)" in line) == field.is_required(), line
    assert "[strategies.NAME]" in body


def test_frequency_defaults_table_follows_the_code(gen):
    from transfercast.frequency import frequency_defaults

    table = gen.frequency_defaults()
    weekly = frequency_defaults("W-FRI")
    assert weekly.season_length == 52
    row = next(x for x in table.splitlines() if x.startswith("| weekly |"))
    assert row.split(" | ")[2:5] == ["52", "1-6, 8, 13, 26, 52", "4, 13, 26"]
    for name, aliases in gen.FREQ_EXAMPLES.items():
        d = frequency_defaults(aliases[0])
        cells = next(x for x in table.splitlines() if x.startswith(f"| {name} |")).split(" | ")
        assert cells[2] == str(d.season_length), name
        assert cells[5:7] == [str(d.level_window), str(d.source_window)], name
    assert gen.number_runs([1, 2, 3, 4, 8]) == "1-4, 8"
    assert gen.number_runs([5, 10]) == "5, 10"
    assert gen.number_runs([1, 2, 6]) == "1, 2, 6"
    assert len(table.splitlines()) == 2 + len(gen.FREQ_EXAMPLES)


def test_cli_reference_gives_every_option_its_default(gen):
    import typer

    from transfercast.cli import app

    ref = gen.cli_reference()
    group = typer.main.get_command(app)
    for name, cmd in group.commands.items():
        section = section_of(ref, f"## `transfercast {name}`")
        for param in cmd.params:
            if param.param_type_name == "argument":
                label = f"`{param.name.upper()}`"
            else:
                label = ", ".join(f"`{o}`" for o in (*param.opts, *param.secondary_opts))
            if param.required:
                default = "**required**"
            elif getattr(param, "is_flag", False):
                default = f"`{str(bool(param.default)).lower()}`"
            elif param.default is None:
                default = "unset"
            else:
                default = f"`{param.default}`"
            row = next((x for x in section.splitlines() if x.startswith(f"| {label} |")), None)
            assert row is not None, (name, label)
            assert row.split(" | ")[2] == default, (name, label, row)


def test_strategy_parameter_tables(gen):
    table = gen.strategy_params("pooled")
    assert "`[strategies.pooled]`" in table
    assert "| `target_weight` | float | `5.0` | &gt; 0, finite |" in table  # the bounds it enforces
    assert "| `folds` | integer | `2` | ≥ 2 |" in gen.strategy_params("auto")
    assert "| `horizon` | integer | **required** | &gt; 0 |" in gen.config_reference()
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
    assert "[strategies.NAME]" in config and "week of year, month" in config
    cli = (site / "cli" / "index.html").read_text()
    assert "transfercast compare [OPTIONS] CONFIG" in cli
    for page in site.rglob("*.html"):
        assert "<!-- transfercast:" not in page.read_text(), f"marker left in {page}"


def test_toml_examples_in_the_docs_are_valid(monkeypatch):
    """Every TOML block of the docs parses, every full config validates, and every strategy name
    and `[strategies.NAME]` table in them is accepted by the registry (the example plugin's
    module made importable for the plugin guide)."""
    from transfercast.config import (
        parse_config,
        tomllib,  # tomli on Python 3.10
    )
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


FIGURE = re.compile(
    r"\b(?:WAPE|MASE|RMSSE)\b[^.\n]{0,20}?\b\d\.\d{2,}"  # "WAPE 0.116", "MASE of 1.54"
    r"|\b\d\.\d{2,}\b[^.\n]{0,12}?\b(?:WAPE|MASE|RMSSE)\b"  # "0.116 WAPE"
    r"|\b\d+(?:\.\d+)?\s?(?:x|times|%)\s(?:faster|slower|better|worse)\b",  # "1.8x faster"
    flags=re.I,
)


def code_docstrings() -> list[tuple[str, str, str]]:
    """(file, name, docstring) of every module, class and function in core/ and plugins/."""
    out = []
    for path in sorted([*(ROOT / "core").glob("*.py"), *(ROOT / "plugins").glob("*.py")]):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node, clean=False)
                if doc:
                    out.append((path.name, getattr(node, "name", "<module>"), doc))
    return out


def test_code_docstrings_say_what_code_does_not_what_it_scored():
    """Module docstrings stay short (at most 40 lines) and no docstring in core/ or plugins/
    quotes a benchmark figure: those go stale, and live in docs/benchmarks.md and
    benchmarks/NOTES.md."""
    docs = code_docstrings()
    assert len(docs) > 100
    for file, name, doc in docs:
        if name == "<module>":
            assert len(doc.splitlines()) <= 40, f"{file}: module docstring over 40 lines"
        hit = FIGURE.search(doc)
        assert hit is None, f"{file}:{name} quotes a benchmark figure: {hit.group(0)!r}"
    for path in sorted((ROOT / "benchmarks").glob("*.py")):  # the scripts' docstrings too
        doc = ast.get_docstring(ast.parse(path.read_text()), clean=False) or ""
        assert len(doc.splitlines()) <= 40, f"{path.name}: module docstring over 40 lines"
    assert FIGURE.search("auto scored 0.116 WAPE") and FIGURE.search("ran 1.8x faster")
    assert not FIGURE.search("learning rate of the added trees (the source's default is 0.08)")


@pytest.mark.parametrize("page,limit", [("selection.md", 200), ("benchmarks.md", 250)])
def test_the_long_pages_stay_readable(page, limit):
    """The pages users read end to end stay short; experiment logs go to benchmarks/NOTES.md."""
    lines = (DOCS / page).read_text().splitlines()
    assert len(lines) <= limit, f"docs/{page} has {len(lines)} lines, more than {limit}"


NO_EFFECT = re.compile(r"`(source_params|target_params)` has\s+no\s+effect\s+on\s+`(\w+)`")


def test_strategy_pages_say_which_engine_parameters_a_strategy_ignores(task):
    """The generated parameter tables list `source_params` and `target_params` for every
    gradient-boosting strategy; the pages say which one a strategy has no model for, and
    setting it indeed changes nothing."""
    import numpy as np

    import transfercast as tc

    said = set()
    for page in sorted((DOCS / "strategies").glob("*.md")):
        said |= {(name, key) for key, name in NO_EFFECT.findall(page.read_text())}
    assert said == {
        ("target_only", "source_params"),
        ("source_only", "target_params"),
        ("pooled", "target_params"),
        ("recalibrate", "target_params"),
    }
    drastic = {"num_boost_round": 3, "learning_rate": 0.5}
    for name, key in sorted(said):
        base = {} if name == "target_only" else {"source_params": {"num_boost_round": 20}}
        plain = tc.TransferForecaster(name, **base).fit(task).predict()["forecast"]
        changed = tc.TransferForecaster(name, **{**base, key: drastic}).fit(task).predict()
        np.testing.assert_allclose(changed["forecast"], plain, err_msg=f"{name} {key}")
