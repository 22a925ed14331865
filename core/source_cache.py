"""One fitted source model per (fitting procedure, source spec, source data): shared by every
strategy of a comparison that asks for it, never refitted per strategy or per target."""

from __future__ import annotations

import threading
import time
from typing import Any

from transfercast.features import FeatureTable
from transfercast.strategy import PluginError, SourceSpec, Strategy


class SourceCache:
    """Fitted source models by key; ``fits`` counts the fits actually made."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, str, str], Any] = {}
        self._locks: dict[tuple[str, str, str], threading.Lock] = {}
        self._guard = threading.Lock()
        self.fits = 0
        self.fit_seconds: dict[tuple[str, str, str], float] = {}

    @staticmethod
    def key(strategy: Strategy, source: FeatureTable) -> tuple[str, str, str] | None:
        """The cache key, or ``None`` when the strategy needs no source model."""
        spec = strategy.source_spec()
        if spec is None:
            return None
        if not isinstance(spec, SourceSpec):
            raise PluginError(
                f"strategy '{strategy.name}' source_spec returned {type(spec).__name__}; it must "
                f"return a transfercast.SourceSpec, or None for no source model"
            )
        fitter = type(strategy).fit_source
        return (f"{fitter.__module__}.{fitter.__qualname__}", spec.key(), source.fingerprint)

    def get(self, strategy: Strategy, source: FeatureTable) -> Any:
        """The source model for ``strategy``, fitted on first request."""
        key = self.key(strategy, source)
        if key is None:
            return None
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._models:
                start = time.perf_counter()
                self._models[key] = strategy.fit_source(source)
                self.fit_seconds[key] = time.perf_counter() - start
                self.fits += 1
        return self._models[key]

    def shared(self, key: tuple[Any, ...], build: Any) -> Any:
        """A model every target of one origin can share (built once by ``build()``), such as the
        pooled model fitted on the sources and all target domains; not counted in ``fits``."""
        key = ("shared", *key)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._models:
                self._models[key] = build()
        return self._models[key]

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (for Dask transport): the models and counters, without the locks."""
        state = self.__dict__.copy()
        state.pop("_guard")
        state["_locks"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._guard = threading.Lock()

    def clear(self) -> None:
        """Drop every cached model (between origins, to bound memory)."""
        self._models.clear()
        self._locks.clear()
