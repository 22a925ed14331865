"""The strategy registry: names, the plugin that registered each, and lookup with suggestions.

Plugins hand strategy classes to the core through the ``register`` callback of
``transfercast_register_strategies``; name checks, aliases and duplicate detection live here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, get_origin

from transfercast.errors import ConfigError, TransfercastError, unknown_name
from transfercast.strategy import Strategy, check_params_class


@dataclass
class StrategyEntry:
    """One registered strategy: its class, the plugin that registered it and its source."""

    name: str
    cls: type[Strategy]
    plugin: str
    source: str  # builtin / entry point / config / in-process
    aliases: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        return self.cls.description()


@dataclass
class PluginFailure:
    """A plugin that failed to import or to register, with the reason."""

    plugin: str
    source: str
    error: str


@dataclass
class Registry:
    """Strategies by name, plus the plugins that failed to load."""

    entries: dict[str, StrategyEntry] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)

    def register(
        self, cls: type[Strategy], *, plugin: str, source: str, aliases: tuple[str, ...] = ()
    ) -> None:
        """Add a strategy class; refuse a bad class (not a :class:`Strategy`, an invalid name,
        ``Params`` not a :class:`~transfercast.StrategyParams` subclass) or a name taken by
        another plugin."""
        if not (isinstance(cls, type) and get_origin(cls) is None and issubclass(cls, Strategy)):
            raise TransfercastError(
                f"plugin '{plugin}' registered {cls!r}, which is not a transfercast.Strategy"
            )
        for name in (cls.name, *aliases):  # a word: usable in --strategies and [strategies.x]
            if not isinstance(name, str) or not name or not name.replace("_", "").isalnum():
                what = "name" if name is cls.name else "alias"
                raise TransfercastError(
                    f"plugin '{plugin}' registered {cls.__name__} with an invalid {what} {name!r}"
                )
        try:
            check_params_class(cls)  # a dataclass or plain pydantic model would fail every run
        except ConfigError as exc:
            raise ConfigError(f"plugin '{plugin}' registered {exc}") from None
        for name in (cls.name, *aliases):
            owner = self.entries.get(self.aliases.get(name, name))
            if owner is not None:
                raise TransfercastError(
                    f"strategy name '{name}' from plugin '{plugin}' is already registered by "
                    f"plugin '{owner.plugin}'"
                )
        self.entries[cls.name] = StrategyEntry(cls.name, cls, plugin, source, tuple(aliases))
        for alias in aliases:
            self.aliases[alias] = cls.name

    def get(self, name: str) -> StrategyEntry:
        """The entry for a name or alias; an unknown name lists the valid ones."""
        key = self.aliases.get(name, name)
        if key not in self.entries:
            message = unknown_name("strategy", name, self.names())
            if self.failures:  # the strategy may be one a failed plugin would have registered
                failed = "; ".join(f"'{f.plugin}': {f.error}" for f in self.failures)
                message += f" (plugins that failed to load: {failed})"
            raise TransfercastError(message)
        return self.entries[key]

    def names(self) -> list[str]:
        """Registered strategy names, in registration order."""
        return list(self.entries)

    def missing(self) -> dict[str, TransfercastError]:
        """The registered strategies whose optional requirements are not installed, each with
        the error that names the extra to install, in registration order."""
        out = {}
        for name, entry in self.entries.items():
            try:
                entry.cls.check_available()
            except TransfercastError as exc:
                out[name] = exc
        return out

    def installed(self) -> list[str]:
        """The registered strategies whose optional requirements are installed, in order."""
        missing = self.missing()
        return [name for name in self.entries if name not in missing]

    def create(self, name: str, params: dict[str, Any] | None = None) -> Strategy:
        """A new strategy instance with validated parameters."""
        return self.get(name).cls(params or {})
