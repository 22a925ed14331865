"""The plugin manager: finds plugins and collects the strategies they register.

Plugins are loaded in this order: the built-ins (``DEFAULT_PLUGINS``, registered exactly like a
third-party module), installed distributions declaring the entry-point group ``transfercast``,
then the modules named in the config key ``plugins``. A plugin that fails to import or to
register is recorded with its name, source and reason, and never takes the others down.

``TRANSFERCAST_LOAD_PLUGINS`` chooses which installed (entry-point) plugins load: unset means
all, an empty string means none, otherwise a comma-separated list of entry-point names (a name
no installed package registers is recorded as a failed plugin). This keeps test runs hermetic.

A module named explicitly (the config key ``plugins``, or the ``plugins`` argument of
``compare``, ``TransferForecaster`` and the modules a model bundle records) that fails is an
error: :func:`get_plugin_manager` raises :class:`PluginLoadError` naming it and the reason.
Installed plugins that fail are only listed (``transfercast plugins``).

The manager of the latest :func:`get_plugin_manager` call is the *active* one
(:func:`active_manager`): strategies that look other strategies up while they are
fitted or loaded (``auto``'s candidates and members) use it, so they see the strategies of the
plugin modules the run named.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from transfercast import hookspecs
from transfercast.errors import ConfigError, TransfercastError, closest, raised_at
from transfercast.registry import PluginFailure, Registry

DEFAULT_PLUGINS: tuple[str, ...] = (
    "transfercast.plugins.baselines",
    "transfercast.plugins.references",
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


class PluginLoadError(ConfigError):
    """A plugin module named explicitly (``plugins``) failed to import or to register."""

    def __init__(self, module: str, reason: str):
        self.module, self.reason = module, reason
        super().__init__(f"plugin module '{module}' named in 'plugins' failed to load: {reason}")


def one_line(text: str) -> str:
    """An error text on one line (pluggy's validation errors span several)."""
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


class PluginManager:
    """A pluggy manager plus the strategy registry built from its plugins."""

    def __init__(self, extra_modules: Iterable[str] = ()):
        self.pm = pluggy.PluginManager("transfercast")
        self.pm.add_hookspecs(hookspecs)
        self.sources: dict[str, str] = {}
        self.failures: list[PluginFailure] = []
        self.modules: tuple[str, ...] = tuple(dict.fromkeys(extra_modules))
        for name in DEFAULT_PLUGINS:
            self._add_module(name, "builtin")
        self._load_entry_points()
        for name in self.modules:
            self._add_module(name, "config")
        self._check_pending()
        self.registry = self._build_registry()

    def stale(self) -> bool:
        """Whether a named module changed since this manager was built: imported again (another
        config's module of that name), reloaded, or a strategy class it registered redefined
        (a notebook cell run again); the manager is then built again."""
        for name in self.modules:
            plugin = self.pm.get_plugin(name)
            if plugin is None:  # failed to load: check_modules says so
                continue
            if sys.modules.get(name) is not plugin:  # imported again, or to be
                return True
            for caller in self.pm.get_hookcallers(plugin) or []:
                for impl in caller.get_hookimpls():
                    fn = impl.function
                    if impl.plugin is plugin and getattr(plugin, fn.__name__, fn) is not fn:
                        return True
        for entry in self.registry.entries.values():
            if entry.plugin in self.modules:
                home = sys.modules.get(entry.cls.__module__)
                if getattr(home, entry.cls.__qualname__, entry.cls) is not entry.cls:
                    return True
        return False

    def check_modules(self) -> None:
        """Raise :class:`PluginLoadError` for the first explicitly named module that failed; a
        module not found at all gets the nearest module name beside the config, if any."""
        for failure in self.failures:
            if failure.plugin in self.modules:
                reason = failure.error
                if reason.startswith(f"ModuleNotFoundError: No module named '{failure.plugin}'"):
                    from transfercast.config import _PLUGIN_FOLDERS

                    beside = [f.stem for d in _PLUGIN_FOLDERS for f in Path(d).glob("*.py")]
                    where = f" beside the config ({_PLUGIN_FOLDERS[0]})" if _PLUGIN_FOLDERS else ""
                    reason += f"; no such module{where} or on the import path"
                    reason += closest(failure.plugin, beside)
                raise PluginLoadError(failure.plugin, reason)

    # -- loading ------------------------------------------------------------------------------
    def _add_module(self, name: str, source: str) -> None:
        if name in self.sources:
            return
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
            self._fail(name, source, exc, raised_at(exc, skip=1))
            return
        if self.pm.is_registered(module):  # installed and also named in the config
            return
        self.add_plugin(module, name, source)

    def _load_entry_points(self) -> None:
        wanted = os.environ.get(ENV_LOAD)
        allowed = None if wanted is None else {w.strip() for w in wanted.split(",") if w.strip()}
        installed = list(entry_points(group="transfercast"))
        for name in sorted((allowed or set()) - {ep.name for ep in installed}):
            have = ", ".join(sorted(ep.name for ep in installed)) or "none"
            self._fail(
                name,
                "entry point",
                f"{ENV_LOAD} names it, and no installed package "
                f"registers a transfercast plugin of that name (installed: {have})",
            )
        for ep in installed:
            if allowed is not None and ep.name not in allowed:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001
                self._fail(ep.name, "entry point", exc, raised_at(exc, skip=1))
                continue
            self.add_plugin(plugin, ep.name, "entry point")

    def add_plugin(self, plugin: Any, name: str, source: str) -> None:
        """Register a plugin object (usually a module) under ``name``."""
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001
            self._fail(name, source, exc)
            return
        self.sources[name] = source

    def _fail(self, name: str, source: str, exc: BaseException | str, where: str = "") -> None:
        text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}{where}"
        self.failures.append(PluginFailure(name, source, one_line(text)))

    def _check_pending(self) -> None:
        """A plugin implementing a hook that no spec declares (a misspelt hook name) fails
        under its own name and source, and is unregistered; every such plugin is reported."""
        specs = [n for n in vars(self.pm.hook) if not n.startswith("_")]
        specs = [n for n in specs if getattr(self.pm.hook, n).has_spec()]
        for _ in range(len(self.pm.get_plugins()) + 1):
            try:
                self.pm.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                plugin = exc.plugin
                name = self.pm.get_name(plugin) or str(plugin)
                hooks = [
                    h
                    for h in vars(self.pm.hook)
                    if not h.startswith("_")
                    and not getattr(self.pm.hook, h).has_spec()
                    and any(i.plugin is plugin for i in getattr(self.pm.hook, h).get_hookimpls())
                ]
                hook = hooks[0] if hooks else "?"
                self._fail(
                    name,
                    self.sources.pop(name, "?"),
                    f"PluginValidationError: unknown hook '{hook}'{closest(hook, specs)}",
                )
                self.pm.unregister(plugin)

    def _build_registry(self) -> Registry:
        registry = Registry(failures=self.failures)
        for impl in self.pm.hook.transfercast_register_strategies.get_hookimpls():
            name = impl.plugin_name
            source = self.sources.get(name, "in-process")

            before = (dict(registry.entries), dict(registry.aliases))

            def register(cls: Any, aliases: tuple[str, ...] = (), _n=name, _s=source) -> None:
                one = isinstance(aliases, str)  # ("flat") is one alias, not four letters
                registry.register(
                    cls, plugin=_n, source=_s, aliases=(aliases,) if one else tuple(aliases)
                )

            try:
                impl.function(register=register)
            except Exception as exc:  # noqa: BLE001 - all of a plugin's strategies or none
                registry.entries, registry.aliases = before
                self._fail(name, source, exc, raised_at(exc))
        return registry

    @property
    def hook(self) -> Any:
        """The pluggy hook relay (``pm.hook.transfercast_...``)."""
        return self.pm.hook


_cache: dict[tuple[str, ...], PluginManager] = {}
_active: list[PluginManager] = []  # the manager of the latest get_plugin_manager call
#: the same in this thread's context (a compare in another thread makes its own)
_current: ContextVar[PluginManager | None] = ContextVar("transfercast_plugins", default=None)


def each_answer(hook: Any, label: str, where: str = "", **kwargs: Any) -> Iterator[tuple[str, Any]]:
    """Call each implementation of ``hook`` (a pluggy hook caller), in pluggy's call order and
    with the keyword arguments it takes, and yield ``(plugin name, result)``; one that raises
    is a :class:`~transfercast.strategy.PluginError` ``"{label} 'name' raised ...{where}"``."""
    from transfercast.strategy import PluginError

    for impl in reversed(hook.get_hookimpls()):  # pluggy's call order: the last registered first
        if getattr(impl, "hookwrapper", False) or getattr(impl, "wrapper", False):
            continue
        try:
            result = impl.function(**{k: kwargs[k] for k in impl.argnames if k in kwargs})
        except Exception as exc:  # noqa: BLE001 - one line naming the plugin
            raise PluginError(
                f"{label} '{impl.plugin_name}' raised {type(exc).__name__}: {exc}{where}"
            ) from exc
        yield impl.plugin_name, result


def get_plugin_manager(
    extra_modules: Iterable[str] = (), *, refresh: bool = False
) -> PluginManager:
    """The plugin manager for a set of extra (config) plugin modules, built once and cached.

    A module of ``extra_modules`` that fails to import or to register raises
    :class:`PluginLoadError` naming it and the reason (installed plugins that fail are only
    recorded in ``failures``); such a manager is not kept, so a later call tries again. The
    manager returned becomes the active one. One module name alone is one module."""
    modules = (extra_modules,) if isinstance(extra_modules, str) else tuple(extra_modules)
    key = (os.environ.get(ENV_LOAD, "\0"), *modules)
    if refresh or key not in _cache or _cache[key].stale():
        _cache[key] = PluginManager(modules)
    pm = _cache[key]
    try:
        pm.check_modules()
    except PluginLoadError:
        _cache.pop(key, None)  # built again next time (another thread may have dropped it)
        raise
    _active[:] = [pm]
    _current.set(pm)
    return pm


def active_manager() -> PluginManager:
    """The manager of the latest :func:`get_plugin_manager` call in this thread's context
    (``compare``, ``run``, ``TransferForecaster.fit`` and ``load_bundle`` make one for the
    plugin modules they were given; their worker threads run in a copy of it), else in the
    process; without one, the manager of the built-ins and installed plugins."""
    return _current.get() or (_active[0] if _active else get_plugin_manager())


def clear_plugin_cache() -> None:
    """Forget cached managers (tests that register plugins in-process call this)."""
    _cache.clear()
    _active.clear()
    _current.set(None)


def register_module(module: ModuleType | Any, name: str | None = None) -> None:
    """Make an in-process plugin module importable by name for the config key ``plugins``."""
    name = name or getattr(module, "__name__", None)
    if not name:
        raise TransfercastError("register_module needs a module name")
    sys.modules[name] = module
    clear_plugin_cache()
