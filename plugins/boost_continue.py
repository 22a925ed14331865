"""The ``boost_continue`` strategy: keep the source model's trees and let the target correct them.

Three modes, on LightGBM or XGBoost:

- ``add_trees``: continue boosting from the source model on the target rows (LightGBM
  ``init_model``, or a booster fitted from the source margin: below) with a smaller learning
  rate; the number of added trees
  is chosen on a time-ordered tail of the target history and may be zero (the source model);
- ``refit_leaves``: keep every tree's structure, re-estimate its leaf values on the target rows
  (LightGBM ``Booster.refit`` with no decay; XGBoost ``refresh`` updater) and blend the two
  models as ``decay_rate * F_source + (1 - decay_rate) * F_refit`` (leaf by leaf, which is the
  same function since the trees are shared), the same meaning on both engines;
- ``refit_then_add``: both, in that order; the number of added trees is chosen on the tail with
  the leaves refitted on the rows before it, then added to the leaves refitted on every row.

The fitted model is a weighted sum of raw margins of one or more native boosters
(``F(x) = sum_k c_k * f_k(x)``, then the objective's inverse link). When the columns the added
trees may use and the category vocabularies equal the source's, LightGBM's continuation is
native (one booster); otherwise, and always with XGBoost (whose continued booster would train
the added trees with the source's settings), the added trees are a separate booster fitted from
the source margin
(``init_score`` / ``base_margin``), so target-only columns and new categories are used and never
shift the codes the source trees read. Leaves that no target row reaches keep their source
value in every refit. See ``docs/strategies/boost_continue.md``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

import transfercast
from transfercast.engines import GBM, engine_params, threads, xgboost_predict
from transfercast.errors import ConfigError, unknown_name
from transfercast.features import FeatureTable
from transfercast.strategy import GBMParams, SourceSpec, Strategy, lightgbm_aliases

FORMAT = "transfercast-boost_continue/1"
#: objectives whose raw margin is a log (inverse link: exp) or a logit (inverse link: sigmoid)
_LOG_LINK = {"poisson", "tweedie", "gamma", "count:poisson", "reg:tweedie", "reg:gamma"}
_LOGIT_LINK = {"binary", "cross_entropy", "reg:logistic", "binary:logistic"}
#: the settings of an objective that the added trees take from the source model with it (the
#: variance power of a Tweedie loss, the quantile or Huber parameter)
_OBJECTIVE_KEYS = {
    "lightgbm": ("tweedie_variance_power", "alpha", "fair_c", "poisson_max_delta_step"),
    "xgboost": ("tweedie_variance_power", "huber_slope", "quantile_alpha"),
}


class BoostContinueParams(GBMParams):
    """``[strategies.boost_continue]``: how the source trees are continued on the target."""

    mode: Literal["add_trees", "refit_leaves", "refit_then_add"] = Field(
        "add_trees",
        description="add trees on the target, refit the source leaves on it, or refit then add",
    )
    learning_rate: float = Field(
        0.03,
        gt=0,
        le=1,
        description="learning rate of the added trees (the source's default is 0.08)",
    )
    rounds: int = Field(300, ge=0, description="most trees added on the target")
    valid_periods: int = Field(
        2,
        ge=0,
        description="last target periods held out to choose how many trees to add (0 rounds "
        "allowed); 0: no early stopping, all `rounds` are added",
    )
    patience: int = Field(
        30, ge=1, description="early stopping: rounds without improvement before stopping"
    )
    decay_rate: float = Field(
        0.5,
        ge=0,
        le=1,
        description="refit: weight d of the source model in d * source + (1 - d) * the "
        "source trees fully refitted on the target (1 keeps the source model)",
    )
    exclude_columns: list[str] = Field(
        default_factory=list,
        description="feature columns the added trees may not split on (for example calendar "
        "columns whose target-history values do not cover the horizon); the source trees keep "
        "them; a name that is no feature column is an error",
    )
    kappa: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="refit: per-leaf shrinkage toward the source, (n*w_target + kappa*w_source)"
        "/(n + kappa) for a leaf reached by n target rows; replaces decay_rate when set",
    )

    @model_validator(mode="after")
    def _target_params_it_sets(self) -> BoostContinueParams:
        """A ``target_params`` key this strategy sets itself (the added trees' learning rate
        and count, and the source's objective they continue) is an error naming its own key."""
        owners = {  # by what sets them; each key with its LightGBM aliases (eta is one)
            "[strategies.boost_continue] learning_rate": lightgbm_aliases("learning_rate"),
            "[strategies.boost_continue] rounds (and patience)": lightgbm_aliases("num_iterations"),
            "the source model (its objective, which the added trees continue)": lightgbm_aliases(
                "objective"
            ),
        }
        for key in self.target_params:
            owner = next((k for k, names in owners.items() if key in names), None)
            if owner:
                raise ValueError(f"target_params: {key} is set by {owner}, not target_params")
        if (
            self.engine == "xgboost"
            and self.mode != "add_trees"
            and self.source_params.get("booster") == "dart"
        ):
            raise ValueError(
                f"mode {self.mode!r} refits the leaves of the source trees, which an XGBoost "
                f"'dart' booster holds with weights of its own; use mode 'add_trees' or the "
                f"'gbtree' booster"
            )
        return self


@dataclass
class _Part:
    """One native booster of the sum, with its coefficient and the categories it was fitted on."""

    model: GBM
    coef: float
    categories: dict[str, list[str]]


def _categories(X: pd.DataFrame, categorical: list[str]) -> dict[str, list[str]]:
    return {c: [str(v) for v in X[c].cat.categories] for c in categorical if c in X.columns}


def _conform(X: pd.DataFrame, columns: list[str], categories: dict[str, list[str]]) -> pd.DataFrame:
    """``X`` with the model's columns (absent ones missing) and its category lists (values the
    model never had become missing), so codes mean what they meant in training."""
    out = X.assign(**{c: np.nan for c in columns if c not in X.columns})[columns]
    changed = {}
    for col, cats in categories.items():
        s = out[col]
        if not isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(str)
        elif [str(v) for v in s.cat.categories] == cats:
            continue
        else:
            s = s.astype(object).astype(str).where(s.notna())
        changed[col] = pd.Categorical(s.where(s.isin(cats)), categories=cats)
    return out.assign(**changed) if changed else out


def _raw(model: GBM, X: pd.DataFrame) -> np.ndarray:
    """Raw margin of one booster (no inverse link)."""
    if model.engine == "lightgbm":
        return np.asarray(
            model.booster_.predict(X, raw_score=True, num_threads=threads(rows=len(X))), float
        )
    return np.asarray(xgboost_predict(model.booster_, X, output_margin=True), float)


def reseed_xgboost(seed: int) -> None:
    """Set XGBoost's process-wide random generator, which the row and column sampling of a
    continued booster draw from and its own ``seed`` does not reset, by one fresh fit with
    ``seed`` on two rows: the continuation then samples alike whatever was fitted before it
    in the process."""
    import xgboost as xgb

    xgb.train({"seed": seed, "nthread": 1}, xgb.DMatrix(np.zeros((2, 1)), label=np.zeros(2)), 1)


def _copy_booster(model: GBM) -> Any:
    """A private copy of a native booster (the cached source model is never mutated)."""
    if model.engine == "lightgbm":
        import lightgbm as lgb

        return lgb.Booster(model_str=model.booster_.model_to_string())
    return model.booster_.copy()


def _wmae(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(w * np.abs(y - pred)) / np.sum(w))


class BoostContinue(Strategy):
    """Gradient-boosting continuation: source trees plus added or refitted target trees."""

    name = "boost_continue"
    Params = BoostContinueParams
    params: BoostContinueParams
    #: the source model alone: of the source rows, ``fine_tune`` reads only the category lists,
    #: which the target rows share (so the source model can be fitted with Dask)
    uses_source_rows = False

    def source_spec(self) -> SourceSpec:
        return self.params.source_spec()

    # -- fitting --------------------------------------------------------------------------------
    def fine_tune(self, target: FeatureTable, source: FeatureTable | None) -> None:
        p = self.params
        src: GBM = self.source_model_
        resolved = src.resolved_params()
        self.objective_ = str(resolved.get("objective", ""))
        self.objective_params_ = {
            k: resolved[k] for k in _OBJECTIVE_KEYS.get(src.engine, ()) if k in resolved
        }
        # the vocabularies the source trees were fitted with (the source rows' dtypes)
        src_cats = _categories((source if source is not None else target).X, src.categorical_)
        parts = [_Part(self._wrap(src, _copy_booster(src)), 1.0, src_cats)]
        self.rounds_ = 0
        self._check_excluded(target)
        if not len(target):  # no target rows yet (a brand-new store): the source model
            self.parts_ = parts
            return
        if p.mode == "refit_leaves":
            parts = self._refit(parts[0], target)
        elif p.mode == "add_trees":
            parts = self._add(parts, target)
        else:
            # the rounds are chosen on the tail with the leaves refitted on the rows before it
            # (refitted on every row, the tail would be in-sample and favour fewer trees); the
            # chosen count is then added to the leaves refitted on every row
            source = parts[0]
            parts = self._add(
                self._refit(source, target),
                target,
                choose_from=lambda head: self._refit(source, head),
            )
        self.parts_ = parts

    def _wrap(
        self,
        like: GBM,
        booster: Any,
        columns: list[str] | None = None,
        categorical: list[str] | None = None,
        role: str | None = None,
    ) -> GBM:
        """A :class:`GBM` around ``booster``: like ``like``, or a target model with ``role``."""
        model = GBM(
            like.engine,
            role or like.role,
            self.params.target_params if role else like.params,
            like.seed,
        )
        model.booster_ = booster
        model.columns_ = list(columns if columns is not None else like.columns_)
        model.categorical_ = list(categorical if categorical is not None else like.categorical_)
        return model

    def _target_params(self, engine: str) -> dict[str, Any]:
        p = self.params
        params = engine_params(engine, "target", p.target_params, p.seed)
        params.pop("num_boost_round", None)
        params.pop("early_stopping_rounds", None)
        params["learning_rate" if engine == "lightgbm" else "eta"] = p.learning_rate
        params["objective"] = self.objective_  # the added trees continue the source's margin
        for key, value in getattr(self, "objective_params_", {}).items():  # with its settings
            params.setdefault(key, value)
        params.pop("eta" if engine == "lightgbm" else "learning_rate", None)
        # no row or column sampling unless asked (the added trees do not take the source's)
        for key in (
            ("subsample", "colsample_bytree")
            if engine == "xgboost"
            else ("bagging_fraction", "feature_fraction")
        ):
            params.setdefault(key, 1.0)
        if engine == "lightgbm":  # a few hundred target rows: let a new category form a split
            params.setdefault("min_data_per_group", 10)
            params.setdefault("cat_smooth", 5.0)
        return params

    def _refit(self, part: _Part, target: FeatureTable) -> list[_Part]:
        """Leaf values re-estimated on the target rows and blended with the source's.

        Both engines first refit every leaf fully on the target (``F_R``: LightGBM
        ``Booster.refit`` with ``decay_rate = 0``, XGBoost's ``refresh`` updater), tree by tree
        in boosting order; each leaf then becomes ``d * source + (1 - d) * refitted`` for the
        global ``decay_rate`` ``d``, or ``(n * refitted + kappa * source) / (n + kappa)`` with
        ``kappa`` for a leaf ``n`` target rows reach. The trees share their structure and
        intercept, so the decay blend is the blend of functions ``d * F_S + (1 - d) * F_R`` on
        the margin scale. Leaves no target row reaches keep their source value (both libraries
        would set them to 0)."""
        p = self.params
        if p.kappa is None and p.decay_rate >= 1.0:  # d * F_S + 0 * F_R is F_S
            return [part]
        model = part.model
        X = _conform(target.X, model.columns_, part.categories)
        if model.engine == "lightgbm":
            booster = self._refit_lightgbm(model, X, target)
        else:
            booster = self._refit_xgboost(model, X, target)
        return [_Part(self._wrap(model, booster), 1.0, part.categories)]

    def _check_excluded(self, target: FeatureTable) -> None:
        """A name in ``exclude_columns`` that is no feature column (a misspelling) is a
        :class:`ConfigError` naming it and the closest column; a column the core left out of
        the features at this origin (no values on one side) is not."""
        context = getattr(self, "context_", None) or {}
        dropped = tuple(getattr(context.get("tables"), "dropped", None) or ())
        columns = list(target.X.columns)
        for name in self.params.exclude_columns:
            if name in columns or any(name == d or name.startswith(f"{d}_") for d in dropped):
                continue
            raise ConfigError(
                f"[strategies.{self.name}] key 'exclude_columns': "
                + unknown_name("feature column", name, columns)
            )

    def _blend(self, n: np.ndarray, w_source: np.ndarray, w_target: np.ndarray) -> np.ndarray:
        """New leaf values from the row counts ``n``, the source and the fully refitted values."""
        p = self.params
        if p.kappa is not None:
            out = (n * w_target + p.kappa * w_source) / (n + p.kappa)
        else:
            out = p.decay_rate * w_source + (1 - p.decay_rate) * w_target
        return np.where(n > 0, out, w_source)

    def _refit_lightgbm(self, model: GBM, X: pd.DataFrame, target: FeatureTable) -> Any:
        src = model.booster_
        leaves = src.predict(X, pred_leaf=True, num_threads=threads(rows=len(X))).reshape(
            len(X), -1
        )
        # decay 0: the full refit F_R. LightGBM's own decay would blend tree by tree, each
        # tree refitted on top of the already blended earlier ones (not a blend of functions)
        new = src.refit(
            X, target.y, decay_rate=0.0, weight=target.weight, num_threads=threads(rows=len(X))
        )
        info = src.dump_model(num_iteration=-1)["tree_info"]
        for t, tree in enumerate(info):
            k = int(tree["num_leaves"])
            n = np.bincount(leaves[:, t], minlength=k)
            w_s = np.array([src.get_leaf_output(t, j) for j in range(k)])
            w_r = np.array([new.get_leaf_output(t, j) for j in range(k)])
            vals = self._blend(n, w_s, w_r)
            for j in np.flatnonzero(vals != w_r):
                new.set_leaf_output(t, int(j), float(vals[j]))
        return new

    def _refit_xgboost(self, model: GBM, X: pd.DataFrame, target: FeatureTable) -> Any:
        import json

        import xgboost as xgb

        src = model.booster_
        dm = xgb.DMatrix(X, target.y, weight=target.weight, enable_categorical=True)
        leaves = src.predict(dm, pred_leaf=True).astype(int).reshape(len(X), -1)
        params = {
            k: v
            for k, v in model.resolved_params().items()
            if k not in ("num_boost_round", "early_stopping_rounds", "tree_method")
        }
        params.update(process_type="update", updater="refresh", refresh_leaf=1)
        with warnings.catch_warnings():  # "updater given, tree_method ignored": intended
            warnings.simplefilter("ignore", UserWarning)
            reseed_xgboost(int(params.get("seed", 0)))
            refreshed = xgb.train(
                params, dm, num_boost_round=src.num_boosted_rounds(), xgb_model=src.copy()
            )
        js_s = json.loads(src.save_raw("json"))
        js_r = json.loads(refreshed.save_raw("json"))
        trees_s = js_s["learner"]["gradient_booster"]["model"]["trees"]
        trees_r = js_r["learner"]["gradient_booster"]["model"]["trees"]
        for t, (ts, tr) in enumerate(zip(trees_s, trees_r, strict=True)):
            leaf = np.flatnonzero(np.asarray(ts["left_children"]) == -1)
            n = np.bincount(leaves[:, t], minlength=len(ts["left_children"]))[leaf]
            for key in ("split_conditions", "base_weights"):  # leaf values; unscaled weights
                w_s = np.asarray(ts[key], float)[leaf]
                w_r = np.asarray(tr[key], float)[leaf]  # replaced by refresh, not blended
                arr = ts[key]
                for j, v in zip(leaf, self._blend(n, w_s, w_r), strict=True):
                    arr[j] = float(v)
        return xgb.Booster(model_file=bytearray(json.dumps(js_s).encode()))

    def _margin(self, parts: list[_Part], X: pd.DataFrame) -> np.ndarray:
        return sum(
            pt.coef * _raw(pt.model, _conform(X, pt.model.columns_, pt.categories)) for pt in parts
        )

    def _add(
        self,
        parts: list[_Part],
        target: FeatureTable,
        choose_from: Callable[[FeatureTable], list[_Part]] | None = None,
    ) -> list[_Part]:
        """Trees added on the target rows to ``parts``; how many is chosen on the time-ordered
        tail, starting from ``choose_from(rows before the tail)`` when given (a model fitted
        without the tail), else from ``parts``."""
        p = self.params
        base = parts[0].model
        cols = [c for c in target.X.columns if c not in p.exclude_columns]
        cat_cols = [c for c in target.categorical if c in cols]
        cats = _categories(target.X, cat_cols)
        # a continued XGBoost booster keeps the source's training settings (alpha, gamma, ...)
        # for the added trees: XGBoost's trees are added on the source margin instead
        native = (
            base.engine == "lightgbm"
            and len(parts) == 1
            and cols == base.columns_
            and cats == parts[0].categories
        )
        self.added_columns_ = cols
        rounds = p.rounds
        if p.valid_periods and rounds:
            tail = target.time_tail(p.valid_periods)
            # a history too short to hold out a tail cannot justify any added tree
            if (~tail).any():
                head = target.subset(~tail)
                start = parts if choose_from is None else choose_from(head)
                rounds = self._choose_rounds(start, head, target.subset(tail), native)
            else:
                rounds = 0
        self.rounds_ = rounds
        if rounds == 0:
            return parts
        booster = self._train(parts, target, None, rounds, native)[0]
        if native:
            return [_Part(self._wrap(base, booster, role="target"), 1.0, parts[0].categories)]
        added = self._wrap(base, booster, cols, cat_cols, role="target")
        return [*parts, _Part(added, 1.0, cats)]

    def _choose_rounds(
        self, parts: list[_Part], train: FeatureTable, valid: FeatureTable, native: bool
    ) -> int:
        """The number of added trees with the lowest level-weighted absolute error on ``valid``
        (proportional to its WAPE); zero when no added tree beats the model it starts from."""
        start = self._margin(parts, valid.X)
        loss0 = _wmae(valid.y, self._inverse_link(start), valid.weight)
        curve = self._train(parts, train, valid, self.params.rounds, native)[1]
        if not len(curve):
            return 0
        best = int(np.argmin(curve))
        return best + 1 if curve[best] < loss0 * (1 - 1e-9) else 0

    def _train(
        self,
        parts: list[_Part],
        train: FeatureTable,
        valid: FeatureTable | None,
        rounds: int,
        native: bool,
    ) -> tuple[Any, np.ndarray]:
        """Fit added trees (natively continued, or from the margin); the validation curve."""
        engine = parts[0].model.engine
        params = self._target_params(engine)
        base = parts[0]
        if native:
            Xt = _conform(train.X, base.model.columns_, base.categories)
            Xv = None if valid is None else _conform(valid.X, base.model.columns_, base.categories)
            init, init_v = None, None
        else:
            Xt = train.X[self.added_columns_]
            Xv = None if valid is None else valid.X[list(Xt.columns)]
            init = self._margin(parts, train.X)
            init_v = None if valid is None else self._margin(parts, valid.X)
        patience = self.params.patience
        if engine == "lightgbm":
            import lightgbm as lgb

            params["metric"] = "l1"
            dtrain = lgb.Dataset(
                Xt,
                train.y,
                weight=train.weight,
                init_score=init,
                categorical_feature=[c for c in train.categorical if c in Xt.columns] or "auto",
                free_raw_data=False,
            )
            kw: dict[str, Any] = {}
            record: dict[str, Any] = {}
            if valid is not None:
                dvalid = lgb.Dataset(
                    Xv, valid.y, weight=valid.weight, init_score=init_v, reference=dtrain
                )
                kw = {
                    "valid_sets": [dvalid],
                    "valid_names": ["valid"],
                    "callbacks": [
                        lgb.record_evaluation(record),
                        lgb.early_stopping(patience, verbose=False),
                    ],
                }
            init_model = _copy_booster(base.model) if native else None
            booster = lgb.train(params, dtrain, rounds, init_model=init_model, **kw)
            curve = np.asarray(record.get("valid", {}).get("l1", []), float)
            return booster, curve
        import xgboost as xgb

        params["eval_metric"] = "mae"
        if not native:  # a fresh model on top of the margin, not a continuation: the base
            # score (in the objective's output space) is the one whose margin is 0
            params["base_score"] = self._inverse_link(np.zeros(1))[0]
        dtrain = xgb.DMatrix(
            Xt, train.y, weight=train.weight, base_margin=init, enable_categorical=True
        )
        kw = {}
        record = {}
        if valid is not None:
            dvalid = xgb.DMatrix(
                Xv, valid.y, weight=valid.weight, base_margin=init_v, enable_categorical=True
            )
            kw = {
                "evals": [(dvalid, "valid")],
                "evals_result": record,
                "early_stopping_rounds": patience,
                "verbose_eval": False,
            }
        # (never native: XGBoost's added trees are a booster of their own on the margin)
        booster = xgb.train(params, dtrain, num_boost_round=rounds, **kw)
        curve = np.asarray(record.get("valid", {}).get("mae", []), float)
        return booster, curve

    # -- prediction -----------------------------------------------------------------------------
    def _inverse_link(self, margin: np.ndarray) -> np.ndarray:
        if self.objective_ in _LOG_LINK:
            return np.exp(margin)
        if self.objective_ in _LOGIT_LINK:
            return 1.0 / (1.0 + np.exp(-margin))
        return margin

    def predict(self, table: FeatureTable) -> np.ndarray:
        return self._inverse_link(self._margin(self.parts_, table.X))

    # -- persistence ----------------------------------------------------------------------------
    def save(self, directory: Path) -> dict[str, Any]:
        parts = []
        for k, pt in enumerate(self.parts_):
            parts.append(
                {
                    "model": pt.model.save(directory, f"{self.name}_part{k}"),
                    "coef": pt.coef,
                    "categories": pt.categories,
                }
            )
        return {
            "format": FORMAT,
            "objective": self.objective_,
            "rounds": self.rounds_,
            "parts": parts,
        }

    @classmethod
    def load(cls, directory: Path, manifest: dict[str, Any]) -> Strategy:
        obj = cls(manifest["params"])
        obj.objective_ = manifest["objective"]
        obj.rounds_ = int(manifest["rounds"])
        obj.parts_ = [
            _Part(GBM.load(directory, e["model"]), float(e["coef"]), e["categories"])
            for e in manifest["parts"]
        ]
        return obj


@transfercast.hookimpl
def transfercast_register_strategies(register) -> None:
    register(BoostContinue)
