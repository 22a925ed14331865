"""transfercast: transfer learning for sales forecasting.

Turn years of sales history in source domains (other stores, regions, products) into better
forecasts for a target domain with a short history, with pluggable transfer strategies.
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("transfercast")
"""Marker for plugin hook implementations: ``@transfercast.hookimpl``."""

from transfercast.config import Config, load_config  # noqa: E402
from transfercast.data import DataWarning  # noqa: E402
from transfercast.errors import TransfercastError  # noqa: E402
from transfercast.evaluation import Comparison, compare  # noqa: E402
from transfercast.features import FeatureTable  # noqa: E402
from transfercast.forecaster import TransferForecaster  # noqa: E402
from transfercast.plugin_manager import get_plugin_manager  # noqa: E402
from transfercast.strategy import GBMParams, SourceSpec, Strategy, StrategyParams  # noqa: E402
from transfercast.task import TransferTask  # noqa: E402

from transfercast import datasets  # noqa: E402

__all__ = [
    "Comparison",
    "Config",
    "DataWarning",
    "FeatureTable",
    "GBMParams",
    "SourceSpec",
    "Strategy",
    "StrategyParams",
    "TransferForecaster",
    "TransferTask",
    "TransfercastError",
    "compare",
    "datasets",
    "get_plugin_manager",
    "hookimpl",
    "load_config",
    "strategies",
]


def strategies() -> list[str]:
    """Names of every registered strategy."""
    return get_plugin_manager().registry.names()
