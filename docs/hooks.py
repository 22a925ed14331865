"""MkDocs hook: generate the reference sections from the code at build time, so they cannot drift.

Pages hold markers (HTML comments) that this hook replaces with generated markdown:

- ``<!-- transfercast:config-reference -->``: every config table and key, from the pydantic
  models in ``transfercast.config`` (type, default, the field's description);
- ``<!-- transfercast:config-skeleton -->``: a TOML outline of the config file, one line per
  top-level key and table, from the same models;
- ``<!-- transfercast:frequency-defaults -->``: the ``[features]`` defaults of each frequency,
  from ``transfercast.frequency``;
- ``<!-- transfercast:cli-reference -->``: every command of the ``transfercast`` CLI with its
  usage, arguments and options, walked from the click command tree of the typer app;
- ``<!-- transfercast:hook-reference -->``: every hook in ``transfercast.hookspecs`` with its
  signature and docstring;
- ``<!-- transfercast:strategies -->``: the registered strategies (name, plugin, description);
- ``<!-- transfercast:strategy-params NAME -->``: the parameter table of strategy ``NAME``,
  from its ``Params`` model;
- ``<!-- transfercast:engine-defaults -->``: the default LightGBM and XGBoost parameters of
  source and target models, from ``transfercast.engines.DEFAULTS``;
- ``<!-- transfercast:api module.Class -->``: a class's public methods and their docstrings.

Registered in ``mkdocs.yml`` under ``hooks:``; the functions below are also used by
``tests/test_docs.py``.
"""

from __future__ import annotations

import inspect
import re
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

MARKER = re.compile(r"<!--\s*transfercast:([a-z-]+)(?:\s+([\w.-]+))?\s*-->")


# -- types and values as a TOML user reads them ------------------------------------------------
def toml_type(annotation: Any) -> str:
    """A type annotation in TOML words: ``list[str]`` -> ``list of strings``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return " or ".join(toml_type(a) for a in rest)
    if origin is typing.Literal:
        return "one of " + ", ".join(f'`"{a}"`' if isinstance(a, str) else f"`{a}`" for a in args)
    if origin in (list, tuple, set):
        inner = toml_type(args[0]) if args else "any"
        plain = inner in ("string", "integer", "float", "boolean", "path")
        if inner.startswith("one of "):  # a list of names: each one of these
            return f"list, each {inner}"
        return f"list of {inner}s" if plain else "list"
    if origin is dict or annotation is dict:
        return "table"
    names = {str: "string", int: "integer", float: "float", bool: "boolean", Path: "path"}
    if annotation in names:
        return names[annotation]
    if annotation is Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation))


def toml_value(value: Any) -> str:
    """A default value as it would be written in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, Path)):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def field_default(field: Any) -> str:
    """The default of a pydantic field as a table cell."""
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        return f"`{toml_value(field.default_factory())}`"
    if field.default is None or field.default is PydanticUndefined:
        return "unset"
    return f"`{toml_value(field.default)}`"


def cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def field_range(field: Any) -> str:
    """The bounds a pydantic field enforces (``> 0``, ``≤ 1``, at least one item, finite) as a
    table cell; ``-`` for none."""
    signs = (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤"))
    out = [
        f"{sign} {getattr(m, a)}"
        for m in field.metadata
        for a, sign in signs
        if getattr(m, a, None) is not None
    ]
    out += [
        f"at least {m.min_length} item{'s' if m.min_length > 1 else ''}"
        for m in field.metadata
        if getattr(m, "min_length", None)
    ]
    out += ["finite" for m in field.metadata if getattr(m, "allow_inf_nan", None) is False]
    return cell(", ".join(out)) if out else "-"


def model_table(model: type[BaseModel], sections: bool = True) -> str:
    """A key | type | default | allowed | description table of a pydantic model's fields
    (``sections=False``: without the fields that are tables of their own)."""
    rows = [
        "| key | type | default | allowed | description |",
        "|---|---|---|---|---|",
    ]
    for name, field in model.model_fields.items():
        if field.exclude or (not sections and is_section(field.annotation)):
            continue
        rows.append(
            f"| `{name}` | {toml_type(field.annotation)} | {field_default(field)} | "
            f"{field_range(field)} | {cell(field.description or '')} |"
        )
    return "\n".join(rows)


def is_section(annotation: Any) -> bool:
    """Whether a config field is a table of its own (a pydantic model)."""
    # get_origin: on Python 3.10 ``list[str]`` passes isinstance(..., type)
    return (
        isinstance(annotation, type)
        and get_origin(annotation) is None
        and issubclass(annotation, BaseModel)
    )


def doc_first_paragraph(obj: Any) -> str:
    """The first paragraph of a docstring, with reST literals turned into markdown."""
    doc = inspect.getdoc(obj) or ""
    return rest_to_md(doc.split("\n\n")[0])


# -- the configuration reference ---------------------------------------------------------------
def config_reference() -> str:
    """Markdown for every table and key of the config file."""
    from transfercast.config import Config

    out = ["## Top-level keys", "", model_table(Config, sections=False), ""]
    for name, field in Config.model_fields.items():
        if not is_section(field.annotation):
            continue
        model = field.annotation
        required = " (required)" if field.is_required() else ""
        out += [f"## `[{name}]`{required}", "", doc_first_paragraph(model), ""]
        out += [model_table(model), ""]
    out += [
        "## `[strategies.NAME]`",
        "",
        "One table per strategy, validated by that strategy's own parameter model: an unknown "
        "key is an error naming the strategy and the valid keys. The keys are listed on each "
        "strategy's page; `transfercast plugins` lists the registered names.",
        "",
    ]
    return "\n".join(out)


def section_summary(model: type[BaseModel], name: str) -> str:
    """A table's docstring summary without its ``[name]:`` prefix and final period."""
    text = doc_first_paragraph(model).replace("`", "")
    text = re.sub(rf"^\[{re.escape(name)}\]:\s*", "", " ".join(text.split()))
    return text.rstrip(".")


def config_skeleton() -> str:
    """A TOML outline of the config file: the top-level keys with their defaults, then every
    table with its one-line summary (and whether it is required)."""
    from transfercast.config import Config

    lines = []
    for name, field in Config.model_fields.items():
        if field.exclude or is_section(field.annotation) or toml_type(field.annotation) == "table":
            continue  # a table: [strategies.NAME] is outlined below
        lines.append(
            (
                f"{name} = {toml_value(field.get_default(call_default_factory=True))}",
                field.description or "",
            )
        )
    for name, field in Config.model_fields.items():
        if is_section(field.annotation):
            required = " (required)" if field.is_required() else ""
            lines.append((f"[{name}]", section_summary(field.annotation, name) + required))
    lines.append(("[strategies.NAME]", "the parameters of strategy NAME, one table per strategy"))
    width = max(len(code) for code, _ in lines) + 2
    body = "\n".join(f"{code:<{width}}# {comment}" if comment else code for code, comment in lines)
    return f"```toml\n{body}\n```"


# -- the defaults that follow [data] freq --------------------------------------------------------
FREQ_EXAMPLES = {
    "daily": ["D"],
    "weekly": ["W-FRI", "W-SUN", "W"],
    "monthly": ["MS", "ME"],
    "quarterly": ["QS", "QE", "QE-MAR"],
    "yearly": ["YS", "YE", "YE-DEC"],
}
CALENDAR_WORDS = {"dayofweek": "day of week", "week": "week of year"}


def number_runs(values: Any) -> str:
    """``1, 2, 3, 4, 8`` as ``1-4, 8``: runs of consecutive integers joined by a dash."""
    runs: list[list[int]] = []
    for v in sorted(int(x) for x in values):
        if runs and v == runs[-1][-1] + 1:
            runs[-1].append(v)
        else:
            runs.append([v])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs)


def frequency_defaults() -> str:
    """The ``[features]`` defaults of each frequency (``transfercast.frequency``), one row per
    frequency, with alias examples that resolve to it."""
    from transfercast.frequency import frequency_defaults as defaults_of

    rows = [
        "| frequency | `freq` examples | `season_length` | `lags` | `windows` | `level_window` "
        "| `source_window` | calendar features |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, aliases in FREQ_EXAMPLES.items():
        found = {getattr(defaults_of(a), "name", None) for a in aliases}
        if found != {name}:
            raise ValueError(f"freq examples {aliases} resolve to {sorted(found)}, not {name}")
        d = defaults_of(aliases[0])
        calendar = ", ".join(CALENDAR_WORDS.get(c, c) for c in d.calendar) or "none"
        examples = ", ".join(f"`{a}`" for a in aliases)
        rows.append(
            f"| {name} | {examples} | {d.season_length} | {number_runs(d.lags)} | "
            f"{number_runs(d.windows)} | {d.level_window} | {d.source_window} | {calendar} |"
        )
    return "\n".join(rows)


# -- the CLI reference -------------------------------------------------------------------------
def cli_reference() -> str:
    """Markdown for every command of the ``transfercast`` CLI, walked from the click command
    tree of the typer app (``typer.main.get_command``)."""
    import typer

    from transfercast.cli import app

    group = typer.main.get_command(app)
    out = [cell(group.help or ""), ""]
    options = [p for p in group.params if not getattr(p, "hidden", False)]
    if options:  # the options of ``transfercast`` itself, such as --version
        out += ["| name | type | default | description |", "|---|---|---|---|"]
        out += [cli_param_row(p) for p in options] + [""]
    for name in sorted(group.commands):
        cmd = group.commands[name]
        if cmd.hidden:
            continue
        params = [p for p in cmd.params if not getattr(p, "hidden", False)]
        args = [p.name.upper() for p in params if p.param_type_name == "argument"]
        usage = " ".join(["transfercast", name, "[OPTIONS]", *args])
        out += [f"## `transfercast {name}`", "", inspect.cleandoc(cmd.help or ""), ""]
        out += ["```text", usage, "```", ""]
        if params:
            out += ["| name | type | default | description |", "|---|---|---|---|"]
            out += [cli_param_row(p) for p in params] + [""]
    return "\n".join(out)


def cli_param_type(param: Any) -> str:
    """The value type of a CLI parameter in words (typer's annotation, else click's type)."""
    if getattr(param, "is_flag", False):
        return "flag"
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None:
        return toml_type(descriptor.annotation)
    return str(getattr(getattr(param, "type", None), "name", "")).lower()


def cli_param_row(param: Any) -> str:
    """One argument or option of a command as a table row."""
    if param.param_type_name == "argument":
        label = f"`{param.name.upper()}`"
    else:
        label = ", ".join(f"`{o}`" for o in (*param.opts, *param.secondary_opts))
    if param.required:
        default = "**required**"
    elif getattr(param, "is_flag", False):
        default = f"`{str(bool(param.default)).lower()}`"
    elif param.default is None or callable(param.default):
        default = "unset"
    else:
        default = f"`{param.default}`"
    help_text = cell((getattr(param, "help", "") or "").replace("\\[", "["))  # rich escapes
    return f"| {label} | {cli_param_type(param)} | {default} | {help_text} |"


# -- the hook reference ------------------------------------------------------------------------
def hook_specs() -> dict[str, Any]:
    """The hook specification functions of ``transfercast.hookspecs``, by name."""
    from transfercast import hookspecs

    return {
        name: fn
        for name, fn in vars(hookspecs).items()
        if name.startswith("transfercast_") and callable(fn)
    }


def rest_to_md(text: str) -> str:
    """Docstring reST to markdown: ``x`` and :role:`x` become `x`; ``Example::`` blocks become
    fenced python code."""
    text = re.sub(r":(?:func|class|data|meth|mod|attr|exc):`~?([^`]+)`", r"`\1`", text)
    text = text.replace("``", "`")
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::"):
            out.append(line.rstrip()[:-1])  # "Example::" -> "Example:"
            i += 1
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
                block.append(lines[i])
                i += 1
            code = textwrap.dedent("\n".join(block)).strip("\n")
            out += ["", "```python", code, "```", ""]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def hook_reference() -> str:
    """Markdown for every hook: heading, signature, calling convention, docstring."""
    out = []
    for name, fn in hook_specs().items():
        opts = getattr(fn, "transfercast_spec", None) or {}  # set by pluggy's HookspecMarker
        sig = str(inspect.signature(fn)).replace("'", "")
        kind = (
            "first result: the first non-`None` answer wins, later plugins are not called"
            if opts.get("firstresult")
            else "called on every plugin that implements it"
        )
        out += [
            f"### `{name}`",
            "",
            "```python",
            f"@transfercast.hookimpl\ndef {name}{sig}",
            "```",
            "",
            f"*{kind}.*",
            "",
            rest_to_md(inspect.getdoc(fn) or ""),
            "",
        ]
    return "\n".join(out)


# -- strategies ----------------------------------------------------------------------------------
def builtin_registry() -> Any:
    """The registry of the built-in strategies only (installed plugins are not documented here)."""
    import os

    from transfercast.plugin_manager import ENV_LOAD, PluginManager

    saved = os.environ.get(ENV_LOAD)
    os.environ[ENV_LOAD] = ""
    try:
        return PluginManager().registry
    finally:
        if saved is None:
            del os.environ[ENV_LOAD]
        else:
            os.environ[ENV_LOAD] = saved


def strategies_table() -> str:
    """The built-in strategies: name, plugin module and description."""
    registry = builtin_registry()
    rows = ["| strategy | plugin | description |", "|---|---|---|"]
    for entry in registry.entries.values():
        rows.append(f"| `{entry.name}` | `{entry.plugin}` | {cell(entry.description)} |")
    return "\n".join(rows)


def strategy_params(name: str) -> str:
    """The parameter table of one registered strategy, ``[strategies.NAME]``."""
    entry = builtin_registry().get(name)
    return f"`[strategies.{entry.name}]`:\n\n" + model_table(entry.cls.Params)


def api_reference(dotted: str) -> str:
    """A class's public attributes and methods with their signatures and docstrings."""
    import importlib

    module_name, _, class_name = dotted.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    out = [rest_to_md(inspect.getdoc(cls) or ""), ""]
    for name, member in vars(cls).items():
        if name.startswith("_") or name in ("model_config", "model_fields"):
            continue
        if isinstance(member, (classmethod, staticmethod)):
            member = member.__func__
        if inspect.isfunction(member):
            sig = str(inspect.signature(member)).replace("'", "")
            doc = rest_to_md(inspect.getdoc(member) or "")
            out += [f"#### `{class_name}.{name}`", "", "```python", f"{name}{sig}", "```", ""]
            out += [doc, ""]
        elif isinstance(member, property):
            doc = rest_to_md(inspect.getdoc(member) or "")
            out += [f"#### `{class_name}.{name}` (property)", "", doc, ""]
    return "\n".join(out)


def engine_defaults() -> str:
    """The default engine parameters per engine and role (source or target model)."""
    from transfercast.engines import DEFAULTS

    out = []
    for engine, roles in DEFAULTS.items():
        keys = list(dict.fromkeys(k for params in roles.values() for k in params))
        out += [f"`{engine}`:", "", "| parameter | " + " | ".join(roles) + " |"]
        out.append("|---|" + "---|" * len(roles))
        for key in keys:
            vals = [f"`{toml_value(roles[r][key])}`" if key in roles[r] else "—" for r in roles]
            out.append(f"| `{key}` | " + " | ".join(vals) + " |")
        out.append("")
    return "\n".join(out)


# -- the mkdocs hook -----------------------------------------------------------------------------
GENERATORS = {
    "config-reference": lambda arg: config_reference(),
    "config-skeleton": lambda arg: config_skeleton(),
    "frequency-defaults": lambda arg: frequency_defaults(),
    "cli-reference": lambda arg: cli_reference(),
    "hook-reference": lambda arg: hook_reference(),
    "strategies": lambda arg: strategies_table(),
    "strategy-params": strategy_params,
    "engine-defaults": lambda arg: engine_defaults(),
    "api": api_reference,
}


def render(markdown: str) -> str:
    """Replace every marker in a page with its generated markdown."""

    def sub(match: re.Match[str]) -> str:
        kind, arg = match.group(1), match.group(2)
        if kind not in GENERATORS:
            raise ValueError(f"unknown transfercast docs marker '{kind}'")
        return GENERATORS[kind](arg)

    return MARKER.sub(sub, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: fill in the generated sections of a page."""
    return render(markdown)
