"""The interval method ``quantile``: the gradient-boosting engines' own quantile objectives,
one model per quantile level, for the plain gradient-boosting strategies ``target_only``,
``source_only`` and ``pooled``.

Each quantile model is fitted on the same training rows, with the same engine, parameters,
seed and row weights as the strategy's point model, with the objective swapped for the
engine's quantile loss (LightGBM ``objective = "quantile"``, ``alpha = τ``; XGBoost
``objective = "reg:quantileerror"``, ``quantile_alpha = τ``). Like the point model it predicts
the normalised target ``y / level``; the quantile in sales units is ``prediction × level``.

- ``target_only``: the target domain's own rows (``tables.target(domain)``), target-model
  parameters;
- ``source_only``: the source rows (``tables.source``), source-model parameters; the models
  are fitted once per origin and shared by every target domain through the cache;
- ``pooled``: the source rows and every target domain's rows of the origin, the target rows
  weighted by ``target_weight``, with the ``is_target`` indicator (1 when predicting), shared
  by every target domain as the pooled point model is.

Any other strategy (``auto``, ``boost_continue``, ``l2sp``, ``representation``, third-party) is
a one-line :class:`~transfercast.errors.ConfigError` pointing to ``replay_conformal``, and so
is the recursive formulation (the quantile models forecast every step directly).

The quantiles depend on the features of the prediction rows, not on the point forecast, so
the object implements ``apply_tables(tables, domain, forecasts)`` (which the core calls when
present, see :func:`transfercast.uncertainty.add_quantiles`); its plain ``apply(forecasts)``
serves the forecasts of the origin it was calibrated at. Model bundles store each quantile
model natively (LightGBM text, XGBoost JSON) as a string inside the calibration's JSON state.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pandas as pd

import transfercast
from transfercast.data import DataWarning
from transfercast.engines import GBM
from transfercast.errors import ConfigError
from transfercast.features import FeatureTable
from transfercast.intervals import qcol
from transfercast.plugins.baselines import pooled_domains, pooled_rows

METHOD = "quantile"
#: the strategies whose point model this method can mirror
STRATEGIES = ("target_only", "source_only", "pooled")


def quantile_objective(engine: str, tau: float) -> dict[str, Any]:
    """The engine parameters of the quantile loss at level ``tau``."""
    if engine == "lightgbm":
        return {"objective": "quantile", "alpha": float(tau)}
    return {"objective": "reg:quantileerror", "quantile_alpha": float(tau)}


def refuse(strategy: Any) -> str:
    """The one-line error for a strategy this method cannot mirror."""
    return (
        f'[forecast] method = "{METHOD}" fits the engines\' quantile objectives for the '
        f"gradient-boosting strategies {', '.join(STRATEGIES)} only, not for strategy "
        f"'{strategy.name}'; use method = \"replay_conformal\" for it"
    )


def check_direct(tables: Any) -> None:
    """Refuse the recursive formulation: the quantile models forecast every step directly."""
    if tables.spec.formulation != "direct":
        raise ConfigError(
            f'[forecast] method = "{METHOD}" needs [features] formulation = "direct" '
            f'(it is "{tables.spec.formulation}"); use method = "replay_conformal" with '
            f"the recursive formulation"
        )


def fit_models(
    engine: str,
    role: str,
    params: dict[str, Any],
    seed: int,
    quantiles: list[float],
    table: FeatureTable,
    weight: np.ndarray | bool = True,
) -> list[GBM]:
    """One model per quantile level on ``table`` (``weight``: the table's own when ``True``);
    the settings of the point model's own objective (a Tweedie power) are left out with it."""
    params = {k: v for k, v in params.items() if k not in _OBJECTIVE_SETTINGS}
    return [
        GBM(engine, role, {**params, **quantile_objective(engine, tau)}, seed).fit(
            table, weight=weight
        )
        for tau in quantiles
    ]


#: settings that belong to another objective than the quantile loss (XGBoost says so on stderr)
_OBJECTIVE_SETTINGS = frozenset(
    {"tweedie_variance_power", "huber_slope", "huber_delta", "fair_c", "poisson_max_delta_step"}
)


def shared(cache: Any, key: tuple[Any, ...], build: Any) -> Any:
    """``build()`` through the origin's cache when there is one."""
    return build() if cache is None else cache.shared(key, build)


def fit_for(strategy: Any, quantiles: list[float], tables: Any, domain: Any, cache: Any) -> Any:
    """The quantile models mirroring ``strategy``'s point model on one target domain."""
    p = strategy.params
    levels = json.dumps(quantiles)
    if strategy.name == "target_only":
        table = tables.target(domain)
        return fit_models(p.engine, "target", p.target_params, p.seed, quantiles, table)
    if strategy.name == "source_only":
        source = tables.source
        key = (METHOD, "source_only", p.source_spec().key(), levels, source.fingerprint)
        return shared(
            cache,
            key,
            lambda: fit_models(p.engine, "source", p.source_params, p.seed, quantiles, source),
        )
    # pooled: the sources and every target domain of the origin, as the point model (shared)
    source = tables.source
    domains = pooled_domains(tables)
    targets = [tables.target(d) for d in domains]
    key = (METHOD, *strategy.shared_key(source, domains, targets), levels)

    def build() -> list[GBM]:
        both, w = pooled_rows(source, targets, p.target_weight)
        return fit_models(p.engine, "source", p.source_params, p.seed, quantiles, both, w)

    return shared(cache, key, build)


# -- the calibrated object ---------------------------------------------------------------------
def model_to_state(model: GBM) -> dict[str, Any]:
    """A quantile model as JSON: the engine's native format as a string, plus its columns."""
    if model.engine == "lightgbm":
        booster = model.booster_.model_to_string()
    else:
        booster = bytes(model.booster_.save_raw("json")).decode("utf-8")
    return {
        "engine": model.engine,
        "role": model.role,
        "params": model.params,
        "seed": model.seed,
        "columns": model.columns_,
        "categorical": model.categorical_,
        "booster": booster,
    }


def model_from_state(state: dict[str, Any]) -> GBM:
    """The quantile model :func:`model_to_state` wrote."""
    model = GBM(state["engine"], state["role"], state.get("params"), state.get("seed", 0))
    if model.engine == "lightgbm":
        import lightgbm as lgb

        model.booster_ = lgb.Booster(model_str=state["booster"])
    else:
        import xgboost as xgb

        model.booster_ = xgb.Booster()
        model.booster_.load_model(bytearray(state["booster"], "utf-8"))
    model.columns_ = list(state["columns"])
    model.categorical_ = list(state["categorical"])
    return model


class QuantileGBM:
    """One gradient-boosting model per quantile level, predicting ``y / level``."""

    def __init__(
        self,
        strategy: str,
        quantiles: list[float],
        models: list[GBM],
        is_target: bool = False,
        horizon: pd.DataFrame | None = None,
    ):
        self.strategy = strategy
        self.quantiles = [float(q) for q in quantiles]
        self.models = models
        self.is_target = is_target  # pooled: predict as a target row
        #: the quantiles of the calibration origin's horizon, for :meth:`apply`
        self.horizon = horizon

    def predict(self, tables: Any, domain: Any) -> pd.DataFrame:
        """``unique_id``, ``ds`` and one ``q<level>`` column per level, in sales units, for
        every series of ``domain`` over the horizon of ``tables``' origin."""
        check_direct(tables)
        table = tables.prediction_table(tables.data.target_rows[domain])
        X = table.X.assign(is_target=1.0) if self.is_target else table.X
        out = pd.DataFrame({"unique_id": table.keys["unique_id"], "ds": table.keys["ds"]})
        for tau, model in zip(self.quantiles, self.models, strict=True):
            out[qcol(tau)] = model.predict(X) * table.level
        return out

    def _merge(self, forecasts: pd.DataFrame, quantiles: pd.DataFrame) -> pd.DataFrame:
        cols = [qcol(q) for q in self.quantiles]
        base = forecasts.drop(columns=[c for c in cols if c in forecasts.columns])
        return base.merge(quantiles, on=["unique_id", "ds"], how="left")

    def apply_tables(self, tables: Any, domain: Any, forecasts: pd.DataFrame) -> pd.DataFrame:
        """``forecasts`` of ``domain`` with the quantile columns, from the features of the
        prediction rows of ``tables`` (the calibration origin, or new data in ``predict``)."""
        return self._merge(forecasts, self.predict(tables, domain))

    def apply(self, forecasts: pd.DataFrame) -> pd.DataFrame:
        """``forecasts`` of the calibration origin with the quantile columns (rows of other
        origins get none: use :meth:`apply_tables` there)."""
        if self.horizon is None:
            raise ConfigError(
                f"interval method '{METHOD}' needs the feature tables to forecast quantiles "
                f"(apply_tables); this transfercast calls apply(forecasts) only"
            )
        return self._merge(forecasts, self.horizon)

    def to_json(self) -> dict[str, Any]:
        """The quantile models in the engines' native formats, as strings (for the bundle)."""
        return {
            "strategy": self.strategy,
            "quantiles": self.quantiles,
            "is_target": self.is_target,
            "models": [model_to_state(m) for m in self.models],
        }

    @classmethod
    def from_json(cls, state: dict[str, Any]) -> QuantileGBM:
        return cls(
            state["strategy"],
            state["quantiles"],
            [model_from_state(m) for m in state["models"]],
            bool(state.get("is_target", False)),
        )


def _warn_unsold(tables: Any, domain: Any) -> None:
    """Warn where series of ``domain`` have not sold up to the origin: their quantiles scale
    the level model's estimate and hold none of its error."""
    unsold = np.isin(tables.data.target_rows[domain], tables.prelaunch)
    if unsold.any():
        warnings.warn(
            f"interval method '{METHOD}': {int(unsold.sum())} series of target domain "
            f"{domain!r} have not sold up to the origin: their quantiles scale the estimated "
            f"level and leave its error out (too narrow); the default method "
            f"'replay_conformal' calibrates them on pre-launch replays",
            DataWarning,
            stacklevel=2,
        )


@transfercast.hookimpl
def transfercast_intervals(
    method: str, quantiles: list[float], strategy: Any, tables: Any, domain: Any, cache: Any
) -> QuantileGBM | None:
    if method != METHOD:
        return None
    if strategy.name not in STRATEGIES:
        raise ConfigError(refuse(strategy))
    check_direct(tables)
    models = fit_for(strategy, list(quantiles), tables, domain, cache)
    _warn_unsold(tables, domain)
    out = QuantileGBM(strategy.name, quantiles, models, is_target=strategy.name == "pooled")
    out.horizon = out.predict(tables, domain)
    return out


@transfercast.hookimpl
def transfercast_load_intervals(method: str, state: dict[str, Any]) -> QuantileGBM | None:
    return QuantileGBM.from_json(state) if method == METHOD else None
