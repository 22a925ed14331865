"""The plugin manager: finds plugins and collects the strategies they register.

Plugins are loaded in this order: the built-ins (``DEFAULT_PLUGINS``, registered exactly like a
third-party module), installed distributions declaring the entry-point group ``transfercast``,
then the modules named in the config key ``plugins``. A plugin that fails to import or to
register is recorded with its name, source and reason, and never takes the others down.

``TRANSFERCAST_LOAD_PLUGINS`` chooses which installed (entry-point) plugins load: unset means
all, an empty string means none, otherwise a comma-separated list of entry-point names. This
keeps test runs hermetic.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy

from transfercast import hookspecs
from transfercast.errors import TransfercastError
from transfercast.registry import PluginFailure, Registry

DEFAULT_PLUGINS: tuple[str, ...] = (
    "transfercast.plugins.baselines",
    "transfercast.plugins.analog",
    "transfercast.plugins.recalibrate",
    "transfercast.plugins.boost_continue",
    "transfercast.plugins.l2sp",
    "transfercast.plugins.representation",
    "transfercast.plugins.auto",
    "transfercast.plugins.intervals",
    "transfercast.plugins.quantile_gbm",
)

ENV_LOAD = "TRANSFERCAST_LOAD_PLUGINS"


class PluginManager:
    """A pluggy manager plus the strategy registry built from its plugins."""

    def __init__(self, extra_modules: Iterable[str] = ()):
        self.pm = pluggy.PluginManager("transfercast")
        self.pm.add_hookspecs(hookspecs)
        self.sources: dict[str, str] = {}
        self.failures: list[PluginFailure] = []
        for name in DEFAULT_PLUGINS:
            self._add_module(name, "builtin")
        self._load_entry_points()
        for name in extra_modules:
            self._add_module(name, "config")
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.failures.append(PluginFailure(str(exc.plugin), "?", str(exc)))
        self.registry = self._build_registry()

    # -- loading ------------------------------------------------------------------------------
    def _add_module(self, name: str, source: str) -> None:
        if name in self.sources:
            return
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
            self.failures.append(PluginFailure(name, source, f"{type(exc).__name__}: {exc}"))
            return
        if self.pm.is_registered(module):  # installed and also named in the config
            return
        self.add_plugin(module, name, source)

    def _load_entry_points(self) -> None:
        wanted = os.environ.get(ENV_LOAD)
        allowed = None if wanted is None else {w.strip() for w in wanted.split(",") if w.strip()}
        for ep in entry_points(group="transfercast"):
            if allowed is not None and ep.name not in allowed:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001
                self.failures.append(
                    PluginFailure(ep.name, "entry point", f"{type(exc).__name__}: {exc}")
                )
                continue
            self.add_plugin(plugin, ep.name, "entry point")

    def add_plugin(self, plugin: Any, name: str, source: str) -> None:
        """Register a plugin object (usually a module) under ``name``."""
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001
            self.failures.append(PluginFailure(name, source, f"{type(exc).__name__}: {exc}"))
            return
        self.sources[name] = source

    def _build_registry(self) -> Registry:
        registry = Registry(failures=self.failures)
        for impl in self.pm.hook.transfercast_register_strategies.get_hookimpls():
            name = impl.plugin_name
            source = self.sources.get(name, "in-process")

            def register(cls: Any, aliases: tuple[str, ...] = (), _n=name, _s=source) -> None:
                registry.register(cls, plugin=_n, source=_s, aliases=tuple(aliases))

            try:
                impl.function(register=register)
            except Exception as exc:  # noqa: BLE001
                self.failures.append(PluginFailure(name, source, f"{type(exc).__name__}: {exc}"))
        return registry

    @property
    def hook(self) -> Any:
        """The pluggy hook relay (``pm.hook.transfercast_...``)."""
        return self.pm.hook


_cache: dict[tuple[str, ...], PluginManager] = {}


def get_plugin_manager(
    extra_modules: Iterable[str] = (), *, refresh: bool = False
) -> PluginManager:
    """The plugin manager for a set of extra (config) plugin modules, built once and cached."""
    key = (os.environ.get(ENV_LOAD, "\0"), *extra_modules)
    if refresh or key not in _cache:
        _cache[key] = PluginManager(extra_modules)
    return _cache[key]


def clear_plugin_cache() -> None:
    """Forget cached managers (tests that register plugins in-process call this)."""
    _cache.clear()


def register_module(module: ModuleType | Any, name: str | None = None) -> None:
    """Make an in-process plugin module importable by name for the config key ``plugins``."""
    name = name or getattr(module, "__name__", None)
    if not name:
        raise TransfercastError("register_module needs a module name")
    sys.modules[name] = module
    clear_plugin_cache()
