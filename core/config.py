"""The TOML configuration, validated with pydantic: unknown keys and wrong types are errors.

Every error is one line naming the file and the key (and, for a misspelled key, the closest
valid one). Paths are relative to the config file.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from transfercast.errors import ConfigError, closest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _takes_numbers_not_bools(annotation: Any) -> bool:
    """Whether a field typed ``annotation`` holds numbers and not true/false."""
    leaves, stack = set(), [annotation]
    while stack:
        ann = stack.pop()
        args = get_args(ann)
        stack.extend(args) if args else leaves.add(ann)
    return bool(leaves & {int, float}) and bool not in leaves


class NumbersNotBools(BaseModel):
    """A pydantic model whose number fields refuse ``true``/``false`` (pydantic reads them as
    1 and 0, so ``horizon = true`` would forecast one period without a word)."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_bools_for_numbers(cls, value: Any, info: Any) -> Any:
        field = cls.model_fields.get(info.field_name) if info.field_name else None
        if (
            isinstance(value, bool)
            and field is not None
            and _takes_numbers_not_bools(field.annotation)
        ):
            raise ValueError("give a number, not true or false")
        return value


class _Section(NumbersNotBools):
    """A config table: unknown keys and loose types (``horizon = "8"``, ``windows = 2.0``) are
    errors; paths are read from text."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), strict=True)


class DataConfig(_Section):
    """``[data]``: where the long-format sales table is and what its columns mean."""

    path: Path | None = Field(
        None,
        strict=False,
        description="CSV or Parquet file, relative to the config file (required by the command "
        "line; from Python, `TransferTask.from_config(cfg, data=frame)` replaces it)",
    )
    sources: Path | None = Field(
        None,
        strict=False,
        description="Parquet dataset of the source domains, too large for memory: `path` then "
        "holds the target domains only and `run` fits the source model on Dask (source_only, "
        "boost_continue, recalibrate); compare and similarity refuse it",
    )
    series: list[str] = Field(description="column(s) that identify one series")
    time: str = Field(description="the period column")
    target: str = Field(description="the sales column to forecast")
    freq: str = Field(
        "W-FRI",
        description="pandas offset alias of the periods (the aliases pandas deprecated, M, Q, "
        "A and Y, read as ME, QE-DEC, YE-DEC)",
    )
    domain: str = Field(description="the column whose values are the domains")
    static: list[str] = Field(default_factory=list, description="columns constant per series")
    known: list[str] = Field(
        default_factory=list, description="columns known over the forecast horizon"
    )
    repair: bool = Field(
        True,
        description="repair fixable data problems (missing periods, NaN targets) with a warning "
        "instead of failing",
    )
    timezone: str | None = Field(
        None,
        description="hourly and shorter periods: the time zone (e.g. Europe/Berlin) whose clock "
        "times the hour and weekday features read, that the data's times without an offset are "
        "in, and that output files write times in (with their offset); origins are UTC unless "
        "written with their offset; default: UTC",
    )

    @field_validator("series", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("freq")
    @classmethod
    def _current_alias(cls, v: str) -> str:
        # "M", "Q", "A": pandas' current spelling, read once here, not warned about at each use
        from transfercast.frequency import current_alias

        return current_alias(v)


class TaskConfig(_Section):
    """``[task]``: which domains are targets, the horizon, the origin, the cold-start cut."""

    targets: list[Any] = Field(description="target domain values; all other domains are sources")
    sources: list[Any] = Field(
        default_factory=list, description="explicit source domains (default: all non-targets)"
    )
    horizon: int = Field(gt=0, description="periods to forecast")
    origin: str | None = Field(
        None,
        description="last observed period for `run`, a date (default: the targets' last sale; "
        "before launch, the last period in the data)",
    )

    @field_validator("targets", "sources", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return v if isinstance(v, list) else [v]

    @field_validator("origin", mode="before")
    @classmethod
    def _date_as_text(cls, v: Any) -> Any:
        return v.isoformat() if isinstance(v, date) else v

    target_history: int | None = Field(
        None,
        ge=0,
        description="keep only the last N target periods before each origin (0: forecast the "
        "targets before they sell, see docs/pre-launch.md)",
    )
    regime_start: str | date | dict[str, str | date] | None = Field(
        None,
        description="a change of regime (see docs/regime-change.md): each target domain's "
        "periods before this date become a source domain of its own, its old regime, and only "
        "its periods from this date on are the target; one date, or a table of target domain "
        "-> date",
    )

    @field_validator("regime_start", mode="before")
    @classmethod
    def _one_date_or_a_table(cls, value: Any) -> Any:
        """A date, text, or a table of them, as text (a TOML date-time keeps its time of day);
        anything else is one error naming the forms."""
        fine = (str, date)  # (a datetime is a date)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, dict) and all(isinstance(v, fine) for v in value.values()):
            return {k: v.isoformat() if isinstance(v, date) else v for k, v in value.items()}
        raise ValueError(
            "give a date (YYYY-MM-DD) or a table of target domain = date, such as "
            "{ S07 = 2021-03-05 }"
        )


class EvaluateConfig(_Section):
    """``[evaluate]``: the rolling origins of a backtest."""

    origins: list[str] = Field(default_factory=list, description="explicit evaluation origins")

    @field_validator("origins", mode="before")
    @classmethod
    def _dates_as_text(cls, v: Any) -> Any:
        return (
            [d.isoformat() if isinstance(d, date) else d for d in v] if isinstance(v, list) else v
        )

    windows: int = Field(3, gt=0, description="the last N origins that leave a full horizon")
    step: int | None = Field(None, gt=0, description="periods between origins (default: horizon)")

    @model_validator(mode="after")
    def _origins_or_windows(self) -> EvaluateConfig:
        """Explicit origins and the rolling windows are two ways to place the origins: given
        together, the windows would go unread."""
        both = sorted({"windows", "step"} & self.model_fields_set)
        if self.origins and both:
            raise ValueError(
                f"origins are given, so {' and '.join(both)} would go unread: keep one way of "
                f"placing the origins"
            )
        return self


class StrategyConfig(_Section):
    """``[strategy]``: the strategy for `run` and the candidates for `compare`."""

    name: str = Field("auto", description="the strategy for `run`")
    candidates: list[str] = Field(
        default_factory=list,
        description="strategies for `compare` (default: every registered one whose "
        "dependencies are installed)",
    )


class FeaturesConfig(_Section):
    """``[features]``: how histories become feature tables."""

    formulation: Literal["direct", "recursive"] = Field(
        "direct",
        description="direct: one row per origin and step, target divided by the recent level "
        "(default, favoured by the benchmarks); recursive: one-step model applied step by step",
    )
    lags: list[int] | None = Field(
        None,
        description="lags, as ratios to the recent level (unset: derived from [data] freq)",
    )
    windows: list[int] | None = Field(
        None, description="rolling-mean windows, as ratios (unset: derived from [data] freq)"
    )
    level_window: int | None = Field(
        None, gt=0, description="periods in the recent level (unset: derived from [data] freq)"
    )
    season_length: int | None = Field(
        None,
        ge=1,
        description="periods in a year, for same-period-last-year; 1: no within-year season "
        "(unset: derived from [data] freq)",
    )
    source_window: int | None = Field(
        None,
        gt=0,
        description="source anchors used for training: the last N periods before origin "
        "(unset: derived from [data] freq)",
    )
    calendar: bool = Field(
        True,
        description="add the calendar features of the forecast period that suit [data] freq "
        "(day of week, week of year, month, quarter; none for yearly data)",
    )
    young_sources: bool = Field(
        True,
        description="when the targets are young, train on each source row also as if its series "
        "were as young (4 periods up to the targets' age), so that models learn how new series "
        "behave in every season (see docs/concepts.md)",
    )

    @field_validator("lags", "windows")
    @classmethod
    def _positive_periods(cls, v: list[int] | None) -> list[int] | None:
        if v is not None:
            bad = [p for p in v if p < 1]
            if bad:
                raise ValueError(f"periods must be at least 1, got {bad[0]}")
            twice = [p for k, p in enumerate(v) if p in v[:k]]
            if twice:
                raise ValueError(f"lists {twice[0]} twice")
        return v


class ForecastConfig(_Section):
    """``[forecast]``: quantile forecasts beside the point forecast."""

    quantiles: list[float] = Field(
        default_factory=list,
        description="quantile levels to forecast, e.g. [0.1, 0.5, 0.9] (none: points only)",
    )
    method: str = Field(
        "replay_conformal",
        description="interval method: replay_conformal (errors of the source replays), quantile "
        "(the engines' quantile objectives; target_only, source_only, pooled) or one a plugin "
        "registers",
    )

    @field_validator("quantiles")
    @classmethod
    def _levels(cls, v: list[float]) -> list[float]:
        from transfercast.intervals import check_quantiles

        return check_quantiles(v)


class ExecutionConfig(_Section):
    """``[execution]``: where the per-target work runs."""

    backend: Literal["local", "dask"] = Field("local", description="local (threads) or dask")
    jobs: int = Field(
        1,
        description="parallel workers of the local backend (compare's cells, run's target "
        'domains); with backend = "dask" and no address, threads per worker of its '
        "LocalCluster; -1: all cores, -2: all but one, ...",
    )
    address: str | None = Field(
        None,
        description='dask scheduler address; selects backend = "dask" (none: a LocalCluster)',
    )

    @field_validator("jobs")
    @classmethod
    def _jobs(cls, v: int) -> int:
        if v == 0:
            raise ValueError("0 workers: give a number of workers, or -1 for all cores")
        return v

    @model_validator(mode="after")
    def _address_means_dask(self) -> ExecutionConfig:
        """An ``address`` is a Dask scheduler's: it selects ``backend = "dask"`` unless the
        backend is set to ``"local"``, which is an error (the address would go unused)."""
        if self.address and self.backend == "local":
            if "backend" in self.model_fields_set:
                raise ValueError(
                    f"address {self.address!r} is a Dask scheduler's, and backend is 'local': "
                    f'set backend = "dask" (or drop the address)'
                )
            self.backend = "dask"
        return self


class OutputConfig(_Section):
    """``[output]``: where results go."""

    dir: Path = Field(
        Path("runs/latest"), strict=False, description="output directory, relative to the config"
    )


class Config(_Section):
    """The whole configuration file."""

    plugins: list[str] = Field(
        default_factory=list,
        description="extra plugin modules to load (looked up in the config file's folder too)",
    )
    data: DataConfig
    task: TaskConfig
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    strategies: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-strategy parameter tables"
    )
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    forecast: ForecastConfig = Field(default_factory=ForecastConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    base_dir: Path = Field(
        Path("."), strict=False, exclude=True, description="the config file's folder"
    )

    def resolve(self, path: Path) -> Path:
        """A path of the config: ``~`` is the home folder, a relative path is relative to the
        config file's folder."""
        path = Path(path).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def data_path(self) -> Path:
        """The data file, resolved against the config file's folder."""
        if self.data.path is None:
            raise ConfigError("[data] key 'path' is required to read data from a file")
        return self.resolve(self.data.path)

    def sources_path(self) -> Path | None:
        """The ``[data] sources`` Parquet dataset, resolved against the config file's folder."""
        path = self.data.sources
        if path is None:
            return None
        path = self.resolve(path)
        if not path.exists():
            raise ConfigError(f"[data] sources: {path} does not exist")
        return path

    def output_dir(self) -> Path:
        """The output directory, resolved against the config file's folder."""
        return self.resolve(self.output.dir)


def _model_for(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None) if field else None
        # get_origin: on Python 3.10 ``list[str]`` passes isinstance(..., type)
        if isinstance(ann, type) and get_origin(ann) is None and issubclass(ann, BaseModel):
            model = ann
        else:
            return None
    return model


def config_error(exc: ValidationError, source: str, within: tuple[str, ...] = ()) -> ConfigError:
    """The one-line error for a config that failed validation: ``source`` and the offending
    key, read in the table ``within`` (a section validated on its own)."""
    errors = exc.errors()
    # a misspelt key is read as unknown and its right spelling as missing: name the first
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = (*within, *err["loc"])
    section = ".".join(str(p) for p in loc[:-1])
    key = str(loc[-1]) if loc else "?"
    where = f"[{section}] key '{key}'" if section else f"key '{key}'"
    if err["type"] == "extra_forbidden":
        model = _model_for(loc)
        fields = [f for f in (model.model_fields if model else ()) if f != "base_dir"]
        hint = closest(key, fields) if model else ""
        if section == "strategy" and not hint:
            hint = f" (a strategy's parameters go in a table [strategies.{key}])"
        elif section and key in Config.model_fields and not hint:
            hint = f" (top-level key '{key}' must come before the first [table])"
        return ConfigError(f"{source}: unknown {where}{hint}")
    if loc == ("strategies", loc[-1]) and len(loc) == 2 and err["type"] == "dict_type":
        said = (
            f"the strategy to run is [strategy] {key}"
            if key in StrategyConfig.model_fields
            else f"a strategy's parameter goes in its table ([strategies.NAME] {key} = ...)"
        )
        return ConfigError(
            f"{source}: [strategies] key '{key}': [strategies] holds one table per "
            f"strategy ([strategies.NAME]); {said}"
        )
    if err["type"] == "missing":
        return ConfigError(f"{source}: missing required {where}")
    msg = err["msg"].removeprefix("Value error, ")
    if len(loc) == 1 and _model_for((*loc, "")) is not None:  # a check of a whole table
        return ConfigError(f"{source}: [{key}]: {msg}")
    return ConfigError(f"{source}: {where}: {msg} (got {err.get('input')!r})")


def parse_config(
    raw: dict[str, Any], source: str = "config", base_dir: Path | None = None
) -> Config:
    """Validate a config mapping; errors name ``source`` and the offending key."""
    if isinstance(raw, dict) and "base_dir" in raw:  # set from the file's place, not a key
        raise ConfigError(f"{source}: unknown key 'base_dir'")
    try:
        cfg = Config(**raw)
    except ValidationError as exc:
        raise config_error(exc, source) from None
    if base_dir is not None:
        cfg.base_dir = base_dir
    return cfg


_S = TypeVar("_S", bound=BaseModel)


def config_section(model: type[_S], value: Any, name: str, source: str) -> _S:
    """``value`` as the config table ``[name]`` (a ``model``): ``None`` gives its defaults, a
    mapping is validated (a bad key is a :class:`ConfigError` naming it, as in a config
    file); anything else but a ``model`` is a :class:`ConfigError`."""
    if value is None:
        return model()
    if isinstance(value, model):
        return value
    if isinstance(value, Mapping):
        try:
            return model(**value)
        except ValidationError as exc:
            raise config_error(exc, source, (name,)) from None
    raise ConfigError(
        f"{source}: {name} must be a mapping of [{name}] keys (or a {model.__name__}), not "
        f"{type(value).__name__}"
    )


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML config file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # a BOM (Notepad) is no error
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML: nested too deeply to read") from None
    except UnicodeDecodeError as exc:
        from transfercast.data import not_utf8

        raise ConfigError(f"{path}: {not_utf8(path.read_bytes(), exc)}") from None
    cfg = parse_config(raw, source=str(path), base_dir=path.resolve().parent)
    if cfg.plugins:
        use_plugin_folder(Path(cfg.base_dir), cfg.plugins)
    return cfg


_PLUGIN_FOLDERS: list[str] = []  # the folder load_config last put on the import path


def use_plugin_folder(folder: Path, plugins: list[str]) -> None:
    """Make the plugin modules beside a config importable: its folder goes on the import path
    (after the installed packages, so that a project file named like a library, matplotlib.py,
    does not replace it) in place of the folder an earlier config put there, and a module of
    ``plugins`` imported before from another file, while this folder holds one of that name
    (two projects in one notebook, each with its ``strategies.py``), is imported again."""
    here = str(folder)
    for old in _PLUGIN_FOLDERS:
        if old != here and old in sys.path:
            sys.path.remove(old)
    _PLUGIN_FOLDERS[:] = [here]
    if here not in sys.path:
        sys.path.append(here)
    for name in plugins:
        top = name.split(".")[0]
        mine = [folder / f"{top}.py", folder / top / "__init__.py"]
        file = getattr(sys.modules.get(top), "__file__", None)
        if file and any(m.is_file() for m in mine) and Path(file).resolve() not in mine:
            for key in [k for k in sys.modules if k == top or k.startswith(f"{top}.")]:
                del sys.modules[key]
