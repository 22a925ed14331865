"""Gradient-boosting engines behind one small interface: LightGBM (default) and XGBoost.

Columns are always aligned by name before fitting or predicting (LightGBM checks only the
feature count), and categorical columns carry one fixed pandas ``CategoricalDtype`` for every
domain, so codes mean the same in source and target. Models are saved in the libraries' native
formats (LightGBM text, XGBoost JSON), never pickled.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from transfercast.errors import ConfigError
from transfercast.features import FeatureTable
from transfercast.outputs import write_bytes, write_text

ENGINES = ("lightgbm", "xgboost")

# Defaults per engine and role. Source models see many rows; target models see a few dozen to a
# few hundred, so they are smaller and more regularised.
DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "lightgbm": {
        "source": {
            "objective": "regression",
            "learning_rate": 0.08,
            "num_leaves": 31,
            "max_bin": 127,
            "min_data_in_leaf": 20,
            "feature_fraction": 0.9,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "num_boost_round": 200,
        },
        "target": {
            "objective": "regression",
            "learning_rate": 0.05,
            "num_leaves": 7,
            "min_data_in_leaf": 5,
            "lambda_l2": 1.0,
            "num_boost_round": 150,
        },
    },
    "xgboost": {
        "source": {
            "objective": "reg:squarederror",
            "eta": 0.08,
            "max_depth": 6,
            "max_bin": 127,
            "min_child_weight": 5,
            "subsample": 0.8,
            "colsample_bytree": 0.9,
            "lambda": 1.0,
            "num_boost_round": 200,
        },
        "target": {
            "objective": "reg:squarederror",
            "eta": 0.05,
            "max_depth": 3,
            "min_child_weight": 2,
            "lambda": 1.0,
            "num_boost_round": 150,
        },
    },
}


_XGBOOST_LOG = threading.local()


def xgboost_logs_here() -> None:
    """Send XGBoost's native log of this thread to Python warnings, as XGBoost does in the
    thread that imported it only (it keeps one log hook per thread): elsewhere its warnings
    reach the standard error raw, past every warning filter. Nothing where XGBoost is not
    imported or its hook cannot be found."""
    xgb = sys.modules.get("xgboost")
    if xgb is None or getattr(_XGBOOST_LOG, "set", False):
        return
    lib = getattr(getattr(xgb, "core", None), "_LIB", None)
    hook = getattr(lib, "callback", None)
    if hook is not None:
        with contextlib.suppress(Exception):
            lib.XGBRegisterLogCallback(hook)
    _XGBOOST_LOG.set = True


def env_threads() -> int:
    """``TRANSFERCAST_THREADS`` as a number of threads, 0 when unset, empty or 0 (the
    defaults); any other value than a whole number of 0 or more is a :class:`ConfigError`
    naming the variable and the value."""
    text = os.environ.get("TRANSFERCAST_THREADS", "").strip()
    try:
        value = int(text) if text else 0
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(
            f"environment variable TRANSFERCAST_THREADS={text!r}: give a whole number of threads "
            f"per model fit, such as 4 (0 or unset: the defaults)"
        )
    return value


def threads(role: str = "source", rows: int | None = None) -> int:
    """Threads per model fit or prediction: ``TRANSFERCAST_THREADS`` when set; otherwise all
    cores for source models, and one for target models and small predictions, where thread
    start-up costs more than it saves (figures: docs/benchmarks.md, Threads)."""
    env = env_threads()
    if env:
        return env
    if role == "target" or (rows is not None and rows < 20_000):
        return 1
    return os.cpu_count() or 1


def engine_params(engine: str, role: str, overrides: dict[str, Any], seed: int) -> dict[str, Any]:
    """Defaults for ``engine`` and ``role`` updated with the user's ``overrides``."""
    if engine not in ENGINES:
        from transfercast.errors import unknown_name

        raise ConfigError(unknown_name("engine", engine, ENGINES))
    if engine == "lightgbm":  # an alias (eta) replaces its default's main name (learning_rate)
        main = _lightgbm_main_names()
        overrides = {
            (k if k == "num_boost_round" else main.get(k, k)): v for k, v in overrides.items()
        }
    params = {**DEFAULTS[engine][role], **overrides}
    if engine == "lightgbm":
        params.update(seed=seed, verbose=-1, num_threads=threads(role), deterministic=True)
        params.setdefault("force_row_wise", True)
        if float(params.get("bagging_fraction", 1.0)) < 1.0:  # LightGBM bags only with a freq
            params.setdefault("bagging_freq", 1)
    else:
        params.update(seed=seed, nthread=threads(role))
        params.setdefault("tree_method", "hist")
    return params


@functools.cache
def lightgbm_alias_table() -> dict[str, frozenset[str]]:
    """LightGBM's own parameter table: each main name with its aliases, itself included (empty
    where it cannot be read, an older or absent LightGBM)."""
    try:
        from lightgbm.basic import _ConfigAliases

        table = _ConfigAliases._get_all_param_aliases()
    except Exception:  # noqa: BLE001 - an older or absent LightGBM
        return {}
    return {name: frozenset([name, *aliases]) for name, aliases in table.items()}


@functools.cache
def _lightgbm_main_names() -> dict[str, str]:
    """Each LightGBM parameter alias (``eta``, ``subsample``) with its main name."""
    return {a: name for name, aliases in lightgbm_alias_table().items() for a in aliases}


def xgboost_predict(booster: Any, X: pd.DataFrame, **kwargs: Any) -> np.ndarray:
    """An XGBoost booster's predictions for ``X`` on :func:`threads` threads (a loaded booster
    would take every core); ``base_margin`` goes to the matrix, other keywords to ``predict``."""
    import xgboost as xgb

    n = threads(rows=len(X))
    margin = kwargs.pop("base_margin", None)
    dm = xgb.DMatrix(X, enable_categorical=True, base_margin=margin, nthread=n)
    booster.set_param({"nthread": n})
    return booster.predict(dm, **kwargs)


class GBM:
    """A fitted-or-not gradient-boosting model over feature tables.

    ``booster_`` is the native booster (``lightgbm.Booster`` or ``xgboost.Booster``) and
    ``columns_`` the feature names in training order.
    """

    def __init__(
        self,
        engine: str = "lightgbm",
        role: str = "source",
        params: dict[str, Any] | None = None,
        seed: int = 0,
    ):
        self.engine = engine
        self.role = role
        self.params = dict(params or {})
        self.seed = seed

    def resolved_params(self) -> dict[str, Any]:
        """The parameters passed to the library (defaults plus overrides)."""
        return engine_params(self.engine, self.role, self.params, self.seed)

    def fit(
        self,
        table: FeatureTable,
        *,
        weight: np.ndarray | None | bool = True,
        init_score: np.ndarray | None = None,
    ) -> GBM:
        """Fit on ``table`` (weights: the table's own when ``True``), each row's boosting
        starting from ``init_score`` when given (the margin the trees are added to: pass it
        again to :meth:`predict`); returns self."""
        if not len(table):
            from transfercast.errors import DataError, HistoryRequired

            kind = HistoryRequired if self.role == "target" else DataError  # too young: skipped
            raise kind(
                f"no training rows for the {self.role} model: every series has fewer than a "
                f"few observed periods before the origin (a zero-shot strategy such as "
                f"source_only needs none)"
            )
        params = self.resolved_params()
        rounds = int(params.pop("num_boost_round"))
        params.pop("early_stopping_rounds", None)  # a fixed number of rounds: no validation rows
        w = table.weight if weight is True else (None if weight is False else weight)
        self.columns_ = list(table.X.columns)
        self.categorical_ = list(table.categorical)
        if self.engine == "lightgbm":
            import lightgbm as lgb

            dtrain = lgb.Dataset(
                table.X,
                table.y,
                weight=w,
                init_score=init_score,
                categorical_feature=self.categorical_ or "auto",
                free_raw_data=False,
            )
            self.booster_ = lgb.train(params, dtrain, rounds)
        else:
            import xgboost as xgb

            dtrain = xgb.DMatrix(
                table.X, table.y, weight=w, enable_categorical=True, base_margin=init_score
            )
            self.booster_ = xgb.train(params, dtrain, num_boost_round=rounds)
        return self

    def predict(self, X: pd.DataFrame, *, raw_margin: np.ndarray | None = None) -> np.ndarray:
        """Predictions for ``X`` (columns aligned by name to the training columns), from the
        ``raw_margin`` of each row for a model fitted with an ``init_score`` (LightGBM's
        trees hold none of it, XGBoost's take it as the base margin; the toolkit's models
        use the identity link, on which the margin adds to the prediction)."""
        X = align_columns(X, self.columns_)
        if self.engine == "lightgbm":
            out = self.booster_.predict(X, num_threads=threads(rows=len(X)))
            return out if raw_margin is None else out + np.asarray(raw_margin, float)
        return xgboost_predict(self.booster_, X, base_margin=raw_margin)

    def save(self, directory: Path, stem: str) -> dict[str, Any]:
        """Write the booster in its native format; return the manifest entry. The engine
        serialises it and Python writes the file (the same bytes as the engine's own
        ``save_model``), so that a failed write (a full disk) is an error naming the file, not
        the engine's own log line before its error."""
        directory.mkdir(parents=True, exist_ok=True)
        if self.engine == "lightgbm":
            name = f"{stem}.lgb.txt"
            write_text(self.booster_.model_to_string(), directory / name)
        else:
            name = f"{stem}.xgb.json"
            write_bytes(bytes(self.booster_.save_raw(raw_format="json")), directory / name)
        return {
            "engine": self.engine,
            "role": self.role,
            "file": name,
            "columns": self.columns_,
            "categorical": self.categorical_,
            "params": self.params,
            "seed": self.seed,
        }

    @classmethod
    def load(cls, directory: Path, entry: dict[str, Any]) -> GBM:
        """Rebuild a model from :meth:`save`'s manifest entry and file."""
        from transfercast.bundle import read_bundle_file

        model = cls(entry["engine"], entry["role"], entry.get("params"), entry.get("seed", 0))
        raw = read_bundle_file(directory, entry["file"])  # the bytes the checksum vouches for
        if model.engine == "lightgbm":
            import lightgbm as lgb

            model.booster_ = lgb.Booster(model_str=raw.decode("utf-8"))
        else:
            import xgboost as xgb

            model.booster_ = xgb.Booster()
            model.booster_.load_model(bytearray(raw))
        model.columns_ = list(entry["columns"])
        model.categorical_ = list(entry["categorical"])
        return model


def align_columns(X: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``X`` with exactly ``columns``, in that order; absent columns become missing values."""
    if list(X.columns) == columns:
        return X
    missing = [c for c in columns if c not in X.columns]
    if missing:
        X = X.assign(**{c: np.nan for c in missing})
    return X[columns]
