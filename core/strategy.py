"""The strategy contract: what every transfer strategy, built-in or third-party, implements.

A strategy follows the four steps of the transfer method:

1. ``fit_source`` fits a base model on the source domains (the core caches it, so that one
   source model serves every strategy of a comparison that asks for the same ``source_spec``);
2. similarity is assessed by the core (:mod:`transfercast.similarity`), not by the strategy;
3. ``adapt`` changes the source model's structure for the target (new inputs, new categories);
4. ``fine_tune`` fits on the target rows.

Then ``predict`` forecasts. Strategies work on feature tables (:class:`FeatureTable`), not on
time series, and never see data past the forecast origin. Predictions are on the *normalised*
scale of ``FeatureTable.y`` (the target divided by the series' recent level); the core turns
them back into sales.

Conventions follow scikit-learn: the constructor only stores validated parameters, learned
state ends with ``_``, ``get_params`` / ``set_params`` work.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, get_origin

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field, ValidationError, model_validator

from transfercast.config import NumbersNotBools
from transfercast.engines import lightgbm_alias_table
from transfercast.errors import ConfigError, DataError, MissingDependencyError
from transfercast.features import FeatureTable
from transfercast.process_state import STREAMS


class PluginError(DataError):
    """A plugin broke its contract with the core: a strategy's ``predict``, an interval
    method's ``apply`` or a similarity hook returned something the core cannot use, or raised.
    The message names the plugin (or strategy, or method) and what was wrong. A
    :class:`DataError`: a comparison records the cell as ``failed`` and goes on, and the command
    line prints the one line and exits with status 2."""


class StrategyParams(NumbersNotBools):
    """Base of every strategy's parameter model; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class GBMParams(StrategyParams):
    """Parameters shared by the gradient-boosting strategies."""

    engine: Literal["lightgbm", "xgboost"] = Field(
        "lightgbm", description="gradient-boosting library of the source and target models"
    )
    source_params: dict[str, Any] = Field(
        default_factory=dict,
        description="engine parameters of the source model, over the source defaults "
        "(e.g. num_leaves, learning_rate, num_boost_round)",
    )
    target_params: dict[str, Any] = Field(
        default_factory=dict,
        description="engine parameters of the target model, over the (smaller) target defaults",
    )
    seed: int = Field(0, ge=0, lt=2**31, description="random seed of the models")

    def source_spec(self) -> SourceSpec:
        """The standard gradient-boosting source model of these parameters: strategies whose
        parameters give equal specs share one fitted source model (``source_only``'s)."""
        return SourceSpec("gbm", self.engine, self.source_params, self.seed)

    @model_validator(mode="after")
    def _known_engine_keys(self) -> GBMParams:
        """A misspelt LightGBM parameter (the library ignores it) or a round count that is not
        a whole number of 1 or more is an error naming the table and the key."""
        for table in ("source_params", "target_params"):
            problem = engine_param_problem(self.engine, getattr(self, table))
            if problem:
                raise ValueError(f"{table}: {problem}")
        return self


@functools.cache
def lightgbm_aliases(name: str) -> frozenset[str]:
    """``name`` and its aliases in LightGBM's own parameter table (``name`` alone where that
    table cannot be read)."""
    return lightgbm_alias_table().get(name, frozenset()) | {name}


def engine_param_problem(engine: str, params: dict[str, Any]) -> str | None:
    """What is wrong with a table of engine parameters, or ``None``: a key the engine does not
    know (with the closest one), a ``num_boost_round`` that is not a whole number of 1 or
    more, or an early-stopping key (no strategy holds rows out of these models to stop on)."""
    value = params.get("num_boost_round")
    whole = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if "num_boost_round" in params and not (whole and value >= 1):
        return f"num_boost_round must be a whole number of 1 or more, got {value!r}"
    # early stopping (XGBoost's name is LightGBM's alias): these models hold out no rows
    early = next((k for k in params if k in lightgbm_aliases("early_stopping_round")), None)
    if early:
        return (
            f"{early} would have no effect: these models hold out no rows to stop on (set "
            f"num_boost_round; boost_continue stops its added trees by patience on valid_periods)"
        )
    seeds = lightgbm_aliases("seed") | {"random_state"}
    threads = lightgbm_aliases("num_threads") | {"nthread", "n_jobs"}
    for key in params:
        if key in seeds:
            return f"{key} is the strategy's own: set the key seed of its table, not {key} here"
        if key in threads:
            return f"{key}: the engines' threads are set by the TRANSFERCAST_THREADS variable"
    method = params.get("tree_method", "hist")
    if engine == "xgboost" and params.get("booster") == "gblinear":
        return (
            "booster 'gblinear' fits no trees, which the feature tables' categorical columns "
            "and every strategy's leaves need; use 'gbtree' (the default) or 'dart'"
        )
    if engine == "xgboost" and method not in ("hist", "approx", "auto"):
        return (
            f"tree_method {method!r} cannot split the categorical columns every feature table "
            f"holds (series keys, calendar); use 'hist' (the default) or 'approx'"
        )
    # the probes train on one column: leave them the keys that need the table's columns
    probe = {k: v for k, v in params.items() if k not in _per_feature()}
    if engine == "lightgbm":
        return _lightgbm_unknown(params) or _lightgbm_refused(
            json.dumps(probe, sort_keys=True, default=str)
        )
    return _xgboost_unused(json.dumps(probe, sort_keys=True, default=str))


@functools.cache
def _per_feature() -> frozenset[str]:
    """Engine parameters with one entry per feature column (their LightGBM aliases too), which
    a one-column probe cannot judge."""
    names = (
        "monotone_constraints",
        "interaction_constraints",
        "feature_contri",
        "max_bin_by_feature",
        "forcedsplits_filename",
        "forcedbins_filename",
        "cegb_penalty_feature_lazy",
        "cegb_penalty_feature_coupled",
        "categorical_feature",
        "ignore_column",
    )
    return frozenset({"feature_weights"} | {a for n in names for a in lightgbm_aliases(n)})


@functools.lru_cache(maxsize=64)
def _lightgbm_refused(params_json: str) -> str | None:
    """LightGBM's own complaint, as a message, when it cannot train one round on eight rows
    with the parameters (a JSON object): a value of the wrong type or out of range, an
    unknown objective."""
    try:
        import lightgbm as lgb
    except Exception:  # noqa: BLE001 - absent or not importable here: the fit will say
        return None
    probe = {k: v for k, v in json.loads(params_json).items() if k != "num_boost_round"}
    probe.update(verbose=-1, num_threads=1)
    try:
        with _quiet():  # LightGBM prints its fatal errors
            data = lgb.Dataset(np.arange(8.0).reshape(8, 1), label=np.ones(8), params=probe)
            lgb.train(probe, data, 1)
    except lgb.basic.LightGBMError as exc:
        return _refusal("LightGBM", exc)
    except Exception:  # noqa: BLE001 - the fit will say
        return None
    return None


@contextlib.contextmanager
def _quiet() -> Any:
    """Silence the standard error, where LightGBM's C++ code prints its fatal errors (one
    thread at a time: the descriptor is the process's, and two threads restoring it out of
    order would leave it silenced; the standard output is left alone)."""
    with STREAMS:
        sys.stderr.flush()
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            saved = os.dup(2)
        except OSError:  # no such descriptor (an embedded interpreter): nothing to silence
            saved = None
        try:
            if saved is not None:
                os.dup2(null, 2)
            yield
        finally:
            if saved is not None:
                os.dup2(saved, 2)
                os.close(saved)
            os.close(null)


def _refusal(engine: str, exc: Exception) -> str | None:
    """An engine's refusal of a probe's parameters as a message; ``None`` where it concerns a
    device not present here (the fit, on the machine that has it, will say)."""
    text = _first_line(str(exc))
    if re.search(r"device|opencl|cuda|gpu", text, re.I):
        return None
    return f"{engine} refuses the parameters: {text}"


def _first_line(message: str) -> str:
    """An engine's error as one line: its first line without a log prefix such as
    ``[10:12:13] /src/learner.cc:123:``."""
    line = message.strip().splitlines()[0] if message.strip() else message
    return re.sub(r"^\[[\d:]+\]\s+\S+:\d+:\s*", "", line).strip()


def _lightgbm_unknown(params: dict[str, Any]) -> str | None:
    """The first key LightGBM's own alias table does not hold, as a message."""
    from transfercast.errors import closest

    aliases = lightgbm_alias_table()
    if not aliases:  # an older or absent LightGBM: nothing to check against
        return None
    known = {a for names in aliases.values() for a in names}
    known |= {"num_boost_round", "early_stopping_rounds", "verbose"}
    for key in params:
        if key not in known:
            return (
                f"unknown LightGBM parameter '{key}'{closest(key, sorted(known))} (see "
                f"LightGBM's parameter list)"
            )
    return None


@functools.lru_cache(maxsize=64)
def _xgboost_unused(params_json: str) -> str | None:
    """The first key XGBoost reports as unused when it trains one round on eight rows with the
    parameters (a JSON object), or its complaint when it cannot (a value of the wrong type or
    out of range, an unknown objective), as a message; a device it cannot find here is left
    to the fit."""

    from transfercast.errors import closest

    try:
        import xgboost as xgb
    except ImportError:
        return None
    probe = {k: v for k, v in json.loads(params_json).items() if k != "num_boost_round"}
    probe.setdefault("nthread", 1)
    said, refused = _xgboost_probe_here(xgb, probe) or _xgboost_probe_apart(probe)
    if refused is not None:
        return _refusal("XGBoost", Exception(refused)) if refused else None
    for text in said:
        found = re.search(r"Parameters: \{(.*?)\}.*not (?:be )?used", text, re.S)
        if found:
            key = re.findall(r'"([^"]+)"', found.group(1))[0]
            if key in lightgbm_aliases("num_iterations"):  # n_estimators, num_round, ...
                return f"unknown XGBoost parameter '{key}': the number of trees is num_boost_round"
            known = [name for name in _xgboost_names() if name != key]
            return (
                f"unknown XGBoost parameter '{key}'{closest(key, known)} (see XGBoost's "
                f"parameter list)"
            )
    return None


_XGBOOST_PROBE = """
import json, sys, warnings
import numpy as np, xgboost as xgb
out = {"said": [], "refused": None}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        rows = xgb.DMatrix(np.arange(8.0).reshape(8, 1), label=np.ones(8))
        xgb.train(json.loads(sys.argv[1]), rows, 1)
    except xgb.core.XGBoostError as exc:
        out["refused"] = str(exc)
    except Exception:
        out["refused"] = ""
out["said"] = [str(w.message) for w in caught]
print(json.dumps(out))
"""


def _xgboost_probe_here(xgb: Any, probe: dict[str, Any]) -> tuple[list[str], str | None] | None:
    """XGBoost's log lines and refusal (``None``: none; ``""``: one the fit will say) when it
    trains one round with ``probe``, read through a log hook of this thread (XGBoost keeps one
    per thread), so that neither warning filters nor other threads change what is read;
    ``None`` where XGBoost's hook cannot be set."""
    import ctypes

    lib = getattr(getattr(xgb, "core", None), "_LIB", None)
    if lib is None or getattr(lib, "callback", None) is None:
        return None
    said: list[str] = []
    hook = ctypes.CFUNCTYPE(None, ctypes.c_char_p)(
        lambda message: said.append(message.decode("utf-8", "replace"))
    )
    if lib.XGBRegisterLogCallback(hook) != 0:
        return None
    refused: str | None = None
    try:
        xgb.train(probe, xgb.DMatrix(np.arange(8.0).reshape(8, 1), label=np.ones(8)), 1)
    except xgb.core.XGBoostError as exc:
        refused = str(exc)
    except Exception:  # noqa: BLE001 - the fit will say
        refused = ""
    finally:  # XGBoost's own hook: its log as Python warnings, here too from now on
        lib.XGBRegisterLogCallback(lib.callback)
    return said, refused


def _xgboost_probe_apart(probe: dict[str, Any]) -> tuple[list[str], str | None]:
    """:func:`_xgboost_probe_here` in a child process, for an XGBoost whose log hook cannot
    be set."""
    import subprocess
    import sys

    try:
        done = subprocess.run(
            [sys.executable, "-c", _XGBOOST_PROBE, json.dumps(probe, default=str)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        out = json.loads(done.stdout.strip().splitlines()[-1])
    except Exception:  # noqa: BLE001 - no child to ask: the fit will say
        return [], ""
    return list(out["said"]), out["refused"]


@functools.cache
def _xgboost_names() -> tuple[str, ...]:
    """The parameter names of XGBoost's learner (read from a trained booster's configuration)
    and of its scikit-learn wrapper, for the closest-name hint."""
    import xgboost as xgb

    names: set[str] = set(xgb.XGBRegressor().get_params())
    booster = xgb.train({"nthread": 1}, xgb.DMatrix(np.ones((4, 1)), label=np.ones(4)), 1)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if not isinstance(value, dict | list):
                    names.add(key)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(booster.save_config()))
    return tuple(sorted(names))


@dataclass(frozen=True)
class SourceSpec:
    """What source model a strategy needs: strategies with equal specs share one fitted model.

    ``kind`` names the fitting procedure (``"gbm"`` for :func:`fit_source_gbm`), ``engine`` the
    library and ``params`` its parameters.
    """

    kind: str
    engine: str
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    def key(self) -> str:
        """A stable hash of the spec, part of the source-model cache key."""
        blob = json.dumps(
            {"kind": self.kind, "engine": self.engine, "params": self.params, "seed": self.seed},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class Strategy:
    """Base class of transfer strategies.

    Subclasses set ``name`` (the registered name), ``Params`` (a :class:`StrategyParams`
    subclass validated from ``[strategies.NAME]``) and, when they need an optional extra,
    ``requires`` (importable module names) and ``extra`` (the pip extra that brings them).
    The first line of the class docstring is the description shown by ``transfercast plugins``.

    **The core's context.** When the core fits a strategy for a target domain (``compare``,
    ``run``, ``TransferForecaster``, and ``auto`` for its members), it fits a fresh
    :meth:`clone` and sets its ``context_`` attribute *before* calling :meth:`transfer`, to a
    dict with exactly these keys:

    - ``"tables"``: the origin's :class:`~transfercast.forecasting.OriginTables`, every table
      of that origin cut at it: ``tables.source``, ``tables.target(d)`` for each target domain
      ``d`` in ``tables.data.target_rows``, ``tables.at(inner_idx)`` for an earlier (inner)
      origin, ``tables.data.origin`` the origin's date;
    - ``"domain"``: the target domain being fitted (a key of ``tables.data.target_rows``);
    - ``"cache"``: the comparison's :class:`~transfercast.source_cache.SourceCache`, for source
      models (``cache.get(strategy, source)``) and models shared by every target domain of the
      origin (``cache.shared(key, build)``, the key a fingerprint of the data and parameters
      the model is fitted on); ``None`` where the core has no cache to share through.

    A strategy called directly (``strategy.transfer(...)`` outside the core) has no
    ``context_``: read it with ``getattr(self, "context_", None)`` and fall back to the tables
    passed to :meth:`transfer`, or refuse with an error saying to fit through the core. It is
    runtime state, not part of the fitted model: :meth:`save` must not write it, and the core
    drops it before a fitted strategy travels back from a remote worker.
    """

    #: set by the core before :meth:`transfer`: ``{"tables", "domain", "cache"}`` (see above)
    context_: dict[str, Any]

    name: ClassVar[str] = ""
    Params: ClassVar[type[StrategyParams]] = StrategyParams
    #: the validated parameters, an instance of ``Params``; a subclass annotates it with its own
    #: class (``params: MyParams``) so that a type checker knows ``self.params.weight``
    params: StrategyParams
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None
    #: whether ``fine_tune`` reads the source rows beyond the fitted source model. ``False``
    #: lets the core skip building them when no source model is needed either
    #: (``target_only``), and lets the strategy run on a source model fitted on Dask from a
    #: Parquet dataset (``source_only``, ``boost_continue``; see ``transfercast.dask_source``).
    #: :meth:`reads_source_table` answers for an instance (``auto``: for its candidates)
    uses_source_rows: ClassVar[bool] = True
    #: whether the strategy needs the target's own sales history (``target_only``): a
    #: pre-launch target domain, with none, is then skipped with a one-line reason
    needs_history: ClassVar[bool] = False
    #: whether the strategy forecasts every step from the origin in the recursive formulation
    #: too (a reference read from the series' own past: fed its own forecasts, ``naive``'s
    #: flat level would become a moving average of them)
    always_direct: ClassVar[bool] = False
    #: whether ``auto`` weighs the strategy when its ``candidates`` are not configured; a
    #: strategy that ``auto``'s replays have not been shown to profit from opts out (it can
    #: still be named in ``[strategies.auto] candidates``)
    auto_default: ClassVar[bool] = True

    def __init__(self, params: StrategyParams | dict[str, Any] | None = None, **kwargs: Any):
        self.check_available()
        raw: dict[str, Any] = {}
        if isinstance(params, StrategyParams):
            raw.update(params.model_dump())
        elif params:
            raw.update(params)
        raw.update(kwargs)
        self.params = self.validate_params(raw)

    # -- parameters -------------------------------------------------------------------------
    @classmethod
    def check_task(cls, params: StrategyParams, task: Any) -> None:
        """Check validated ``params`` against the task they will forecast (its columns, its
        frequency) before anything is fitted, for every parameter table of a config, run now
        or not; raise a :class:`ConfigError` naming the key. By default nothing to check."""

    @classmethod
    def validate_params(cls, raw: dict[str, Any]) -> StrategyParams:
        """Validate a parameter table; errors name the strategy and the offending key."""
        check_params_class(cls)
        try:
            return cls.Params(**raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"]) or "?"
            if err["type"] == "extra_forbidden":
                from transfercast.errors import closest

                valid = list(cls.Params.model_fields)
                if not valid:
                    raise ConfigError(
                        f"[strategies.{cls.name}]: unknown key '{loc}'; strategy "
                        f"'{cls.name}' takes no parameters"
                    ) from None
                raise ConfigError(
                    f"[strategies.{cls.name}]: unknown key '{loc}'{closest(loc, valid)}; "
                    f"valid: {', '.join(valid)}"
                ) from None
            msg = err["msg"].removeprefix("Value error, ")
            if not err["loc"]:  # a check across keys (a model validator): no one key to name
                raise ConfigError(f"[strategies.{cls.name}]: {msg}") from None
            got = f" (got {err['input']!r})" if "input" in err else ""
            raise ConfigError(f"[strategies.{cls.name}] key '{loc}': {msg}{got}") from None

    @classmethod
    def check_available(cls) -> None:
        """Raise :class:`MissingDependencyError` naming the extra when a requirement is absent."""
        missing = [m for m in cls.requires if importlib.util.find_spec(m) is None]
        if missing:
            extra = f"pip install 'transfercast[{cls.extra}]'" if cls.extra else "pip install"
            if "torch" in missing:  # a plain install resolves to the CUDA build, gigabytes
                extra += " (on a machine without a GPU, first the CPU build: pip install torch "
                extra += "--index-url https://download.pytorch.org/whl/cpu)"
            raise MissingDependencyError(
                f"strategy '{cls.name}' needs {', '.join(missing)}, which is not installed; "
                f"install it with: {extra}"
            )

    @classmethod
    def description(cls) -> str:
        """The one-line description: the first line of the class docstring."""
        return next(iter((cls.__doc__ or "").strip().splitlines()), "")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The validated parameters as a plain dict (``deep``, scikit-learn's, is ignored)."""
        return self.params.model_dump()

    def __sklearn_clone__(self) -> Strategy:
        """scikit-learn's ``clone``: an unfitted copy with the same parameters."""
        return self.clone()

    def set_params(self, **params: Any) -> Strategy:
        """Update parameters (validated again); returns self."""
        self.params = self.validate_params({**self.get_params(), **params})
        return self

    def clone(self) -> Strategy:
        """A fresh, unfitted strategy with the same parameters."""
        return type(self)(self.get_params())

    # -- the four steps -----------------------------------------------------------------------
    def source_spec(self) -> SourceSpec | None:
        """The source model this strategy needs, or ``None`` when it uses none."""
        return None

    def reads_source_table(self) -> bool:
        """Whether fitting reads the origin's source feature table: to fit its source model,
        or as rows (``uses_source_rows``). The core builds the table only for strategies that
        do; a strategy that combines others answers for its members."""
        return self.source_spec() is not None or type(self).uses_source_rows

    def fit_source(self, source: FeatureTable) -> Any:
        """Fit the base model on the source rows (step 1). The core caches the result."""
        spec = self.source_spec()
        if spec is None:
            return None
        return fit_source_gbm(spec, source)

    def adapt(self, source_model: Any, target: FeatureTable) -> None:
        """Adapt the source model's structure to the target (step 3); default: nothing."""

    def fine_tune(self, target: FeatureTable, source: FeatureTable | None) -> None:
        """Fit on the target rows (step 4), optionally with the source rows at hand."""

    def transfer(
        self, source_model: Any, target: FeatureTable, source: FeatureTable | None = None
    ) -> Strategy:
        """Run adapt then fine-tune from a fitted source model; returns self."""
        self.source_model_ = source_model
        self.adapt(source_model, target)
        self.fine_tune(target, source)
        return self

    def predict(self, table: FeatureTable) -> np.ndarray:
        """Forecast the normalised target for each row of ``table``: one finite number per
        row, in the rows' order (a 1-d array, list or Series of ``len(table)`` numbers; a
        Series is read by position, its index ignored). The core checks it
        (:func:`check_prediction`) and multiplies it by ``table.level``."""
        raise PluginError(  # a contract broken like a bad predict's: one line, exit status 2
            f"strategy '{self.name}' ({type(self).__name__}) does not implement "
            f"predict(table); a strategy must define it and return one number per row of "
            f"the table, on the normalised scale"
        )

    def replayed_forecasts(self) -> pd.DataFrame | None:
        """The source replays' forecasts of *this fitted* strategy, when it built them while
        fitting (``auto``: its candidates' replays blended with its weights), in the replay
        detail form of :mod:`transfercast.replay`; ``None`` (the default) lets the interval
        calibration replay the strategy itself."""
        return None

    def backtest_forecasts(self) -> pd.DataFrame | None:
        """The target's own backtest forecasts (:func:`transfercast.replay.build_inner`) of
        *this fitted* strategy, when it built them while fitting, in the same form; ``None``
        (the default) lets the interval calibration backtest the strategy itself."""
        return None

    # -- persistence (native formats and JSON, never pickle) ----------------------------------
    def save(self, directory: Path) -> dict[str, Any]:
        """Write the fitted model files into ``directory``; return manifest entries.

        Native formats and plain arrays only (LightGBM text, XGBoost JSON, JSON, NumPy archives
        of weights), never pickle; the entries must be JSON-serialisable. ``transfercast run``
        calls this once per target domain, each time with its own empty folder of the model
        bundle."""
        raise NotImplementedError(f"strategy '{self.name}' cannot be saved")

    @classmethod
    def load(cls, directory: Path, manifest: dict[str, Any]) -> Strategy:
        """Rebuild a fitted strategy from ``directory`` and its manifest entries: the dict
        :meth:`save` returned, plus ``"params"`` (the strategy's validated parameters) unless
        ``save`` returned that key itself. Read each file with
        :func:`transfercast.bundle.read_bundle_file` (or ``GBM.load``): the bytes the bundle's
        checksums vouch for, read once."""
        raise NotImplementedError(f"strategy '{cls.name}' cannot be loaded")


def check_params_class(cls: type[Strategy]) -> None:
    """Refuse a strategy class whose ``Params`` is not a :class:`StrategyParams` subclass
    that forbids unknown keys (a dataclass, a plain pydantic model): its parameter tables
    could not be validated, and a misspelt key would be silently ignored."""
    params = getattr(cls, "Params", None)
    what = f"strategy '{getattr(cls, 'name', '') or cls.__name__}' ({cls.__name__})"
    is_class = isinstance(params, type) and get_origin(params) is None  # not list[str] (3.10)
    if not (is_class and issubclass(params, StrategyParams)):
        raise ConfigError(
            f"{what}: Params must be a subclass of transfercast.StrategyParams (a pydantic "
            f"model that forbids unknown keys), not {params!r}"
        )
    if params.model_config.get("extra") != "forbid":
        raise ConfigError(
            f"{what}: Params {params.__name__} must forbid unknown keys (keep "
            f"transfercast.StrategyParams' model_config extra='forbid'), so that a misspelt "
            f"key in [strategies.{cls.name}] is an error"
        )


def check_prediction(strategy: Strategy, values: Any, n_rows: int) -> np.ndarray:
    """``values``, what ``strategy.predict`` returned for a table of ``n_rows`` rows, as a
    float 1-d array; a :class:`PluginError` names the strategy and what is wrong (not numbers,
    not one per row, NaN or infinite values). A Series is read by position."""
    where = f"strategy '{strategy.name}' predict"
    if isinstance(values, pd.Series):  # by position: its index means nothing to the core
        numeric = pd.api.types.is_numeric_dtype(values.dtype)
        if numeric and not pd.api.types.is_bool_dtype(values.dtype):
            values = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            values = values.to_numpy()
    elif isinstance(values, pd.DataFrame):
        raise PluginError(
            f"{where} returned a DataFrame of shape {values.shape}; it must return one number "
            f"per row (a 1-d array or a Series)"
        )
    if values is None:
        raise PluginError(f"{where} returned None; it must return one number per row")
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise PluginError(f"{where} returned {type(values).__name__}, not numbers: {exc}") from None
    if arr.dtype.kind not in "iufO":
        raise PluginError(
            f"{where} returned values of dtype {arr.dtype} ({type(values).__name__}); it must "
            f"return numbers"
        )
    if arr.dtype.kind == "O":
        try:
            if any(isinstance(v, (str, bytes)) for v in arr.ravel()):
                raise TypeError("strings")
            arr = arr.astype(float)
        except (ValueError, TypeError):
            raise PluginError(
                f"{where} returned {type(values).__name__} of non-numeric values; it must "
                f"return numbers"
            ) from None
    if arr.ndim != 1:
        raise PluginError(
            f"{where} returned an array of shape {arr.shape} for {n_rows} rows; it must "
            f"return a 1-d array of one number per row"
        )
    if len(arr) != n_rows:
        raise PluginError(f"{where} returned {len(arr)} values for {n_rows} rows")
    arr = arr.astype(float, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise PluginError(
            f"{where} returned {int(bad.sum())} NaN or infinite values of {n_rows} (the first "
            f"at row {int(np.argmax(bad))}); every forecast must be a finite number"
        )
    return arr


def fit_source_gbm(spec: SourceSpec, source: FeatureTable) -> Any:
    """Fit a gradient-boosting source model as described by ``spec``."""
    from transfercast.engines import GBM

    return GBM(spec.engine, role="source", params=spec.params, seed=spec.seed).fit(source)
