"""Shared fixtures: small synthetic tasks and fitted comparisons, built once per session."""

from __future__ import annotations

import os
import types

import pytest

import transfercast
from transfercast.config import parse_config
from transfercast.datasets import synthetic_config, synthetic_sales
from transfercast.plugin_manager import clear_plugin_cache, register_module
from transfercast.task import TransferTask


def pytest_configure(config):
    """Under pytest-xdist each worker fits with one thread, so workers do not fight for cores."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.setdefault("TRANSFERCAST_THREADS", "1")


def register_strategies(name: str, *classes: type) -> str:
    """Make an in-process plugin module ``name`` that registers ``classes``; its name, for a
    config's or a call's ``plugins``."""
    module = types.ModuleType(name)

    @transfercast.hookimpl
    def transfercast_register_strategies(register):
        for cls in classes:
            register(cls)

    module.transfercast_register_strategies = transfercast_register_strategies
    register_module(module)
    return name


def small_frame(relatedness: float = 1.0, seed: int = 0):
    """A small synthetic data set: 8 stores x 2 departments, 3 targets."""
    return synthetic_sales(
        n_domains=8,
        series_per_domain=2,
        n_periods=120,
        n_targets=3,
        target_periods=40,
        relatedness=relatedness,
        seed=seed,
    )


def small_project(root, relatedness: float = 1.0, **settings) -> dict:
    """Write :func:`small_frame` to ``root/sales.csv``; return a synthetic config reading it."""
    frame = small_frame(relatedness)
    frame.to_csv(root / "sales.csv", index=False)
    return synthetic_config("sales.csv", frame.attrs["targets"], **settings)


def _small_config(targets) -> dict:
    return synthetic_config("unused.csv", targets, horizon=8, target_history=13, windows=2)


def small_task(relatedness: float = 1.0, **task_overrides) -> TransferTask:
    """A TransferTask over :func:`small_frame` with horizon 8 and 13 periods of target history."""
    frame = small_frame(relatedness)
    raw = _small_config(frame.attrs["targets"])
    raw["task"].update(task_overrides)
    return TransferTask.from_config(parse_config(raw), data=frame)


def task_on(frame, **features) -> TransferTask:
    """:func:`small_task`'s task over another ``frame``, with ``[features]`` overrides."""
    raw = _small_config(small_frame().attrs["targets"])
    raw.setdefault("features", {}).update(features)
    return TransferTask.from_config(parse_config(raw), data=frame)


@pytest.fixture(scope="session")
def task() -> TransferTask:
    return small_task()


@pytest.fixture(autouse=True)
def _fresh_plugins(monkeypatch):
    """Hermetic plugin loading: no installed third-party plugins unless a test adds them."""
    monkeypatch.setenv("TRANSFERCAST_LOAD_PLUGINS", "")
    yield
    clear_plugin_cache()
