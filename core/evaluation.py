"""Rolling-origin comparison of strategies: scores per target domain, strategy and origin.

At each origin the task cuts the data, the feature tables are built once, each source model is
fitted once (shared through :class:`SourceCache`), and every (target, strategy) cell is fitted
and scored. A strategy that raises on one cell is recorded as ``failed`` with its error; the
other cells go on.
"""

from __future__ import annotations

import contextlib
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from transfercast.config import Config, EvaluateConfig
from transfercast.data import DataWarning, in_task_zone, period_text, refuse_output_names
from transfercast.distributed import local_executor
from transfercast.errors import (
    ConfigError,
    DataError,
    HistoryRequired,
    MissingDependencyError,
    TransfercastError,
    closest,
    raised_at,
    unknown_name,
)
from transfercast.forecaster import plugin_modules
from transfercast.forecasting import (
    CellResult,
    OriginTables,
    fit_and_forecast,
    warn_level_extrapolated,
    warn_unseen_categories,
)
from transfercast.intervals import check_quantiles, quantile_scores
from transfercast.metrics import METRICS, score
from transfercast.plugin_manager import PluginManager, get_plugin_manager
from transfercast.process_state import gathered_warnings
from transfercast.replay import held_replays
from transfercast.source_cache import SourceCache
from transfercast.strategy import PluginError, Strategy
from transfercast.task import TransferTask, origin_text, plain
from transfercast.uncertainty import DEFAULT_METHOD, forecast_quantiles

SCORE_COLUMNS = [
    "target",
    "strategy",
    "origin",
    *METRICS,
    "fit_seconds",
    "predict_seconds",
    "status",
    "error",
]


@dataclass
class Comparison:
    """The result of :func:`compare`: scores, forecasts and the leaderboard."""

    scores: pd.DataFrame
    forecasts: pd.DataFrame
    selection: pd.DataFrame = field(default_factory=pd.DataFrame)
    source_fits: int = 0
    task: TransferTask | None = None
    #: the source replays ``auto`` built (:mod:`transfercast.replay`), one row per origin,
    #: history length, replayed domain, cut and candidate; empty without ``auto``
    replays: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: the plugin modules the comparison loaded (their similarity hooks feed its report)
    plugins: tuple[str, ...] = ()

    def write(self, directory: str | Path, report: bool = True) -> list[Path]:
        """Write into ``directory`` (made when missing) the files ``transfercast compare``
        writes: ``scores.csv``, ``forecasts.csv``, ``leaderboard.csv`` (with ``auto``,
        ``selection.csv`` and ``replays.csv``) and, with ``report``, ``report.html``, its
        charts, ``regret.csv`` and ``similarity.csv`` (the diagnostics at the latest origin).
        The files an earlier comparison wrote there are replaced; other files are never
        touched. A folder that cannot hold them is an :class:`~transfercast.outputs.OutputError`
        before anything is written. Returns the paths written."""
        from transfercast.outputs import check_output_dir
        from transfercast.report import write_compare_report
        from transfercast.results import COMPARISON_FILES, write_comparison

        directory = Path(directory)
        check_output_dir(
            directory, files=COMPARISON_FILES, what="folder", remedy="choose another folder"
        )
        directory.mkdir(parents=True, exist_ok=True)
        paths = write_comparison(self, directory)
        return paths + (write_compare_report(self, directory) if report else [])

    def add(self, name: str, forecasts: pd.DataFrame) -> Comparison:
        """This comparison with another model's forecasts scored beside its strategies as
        ``name`` (a model of another library backtested at the same origins): ``forecasts``
        holds the task's series key columns, its time column, ``origin`` and ``forecast`` (and
        the comparison's quantile columns ``q0.1``, ..., all or none, scored as the strategies'
        are) for every series and
        period the comparison scored (the columns of ``forecasts.csv``). Each
        cell is scored as the strategies' are, on the same actuals, MASE on the history the
        task keeps at the origin, and counts in the hindsight figures (``regret.csv``) too; a
        missing forecast is a one-line error naming it. Times are read as the data's are."""
        from transfercast.external import add_forecasts

        return add_forecasts(self, name, forecasts)

    def leaderboard(self, baseline: str | None = None) -> pd.DataFrame:
        """One row per strategy: mean and spread of each metric over targets and origins, the
        number of targets on which it was best, its WAPE relative to ``baseline``, and its
        paired WAPE gap to the leader with a standard error (:func:`gap_to_leader`). Sorted by
        mean WAPE, the strategies that scored every cell first.

        ``baseline`` defaults to ``target_only`` (``wape_vs_target_only``, missing when it was
        not compared); a baseline named here that was not compared is a :class:`ConfigError`."""
        if baseline is None:
            return leaderboard(self.scores)
        compared = list(dict.fromkeys(self.scores["strategy"]))
        if baseline not in compared:
            raise ConfigError(
                f"leaderboard: baseline {baseline!r} is not in this comparison"
                f"{closest(str(baseline), compared)}; compared: {', '.join(compared)}"
            )
        return leaderboard(self.scores, baseline)

    def regret(self, strategy: str = "auto", metric: str = "wape") -> pd.DataFrame:
        """``strategy``'s selection regret per target and origin (see :func:`selection_regret`).
        A strategy this comparison did not compare is a :class:`ConfigError` naming it."""
        compared = list(dict.fromkeys(self.scores["strategy"]))
        if strategy not in compared:
            raise ConfigError(
                f"regret: strategy {strategy!r} is not in this comparison"
                f"{closest(str(strategy), compared)}; compared: {', '.join(compared)}"
            )
        return selection_regret(self.scores, strategy, metric)

    @property
    def failed(self) -> bool:
        """Whether any cell failed (a ``skipped`` cell, a strategy that needs the history a
        pre-launch target lacks, did not)."""
        return bool((self.scores["status"] == "failed").any())


def interval_columns(scores: pd.DataFrame) -> list[str]:
    """The quantile-score columns of a scores table (present when quantiles were asked for)."""
    prefixes = ("sql", "wql", "pinball_", "coverage_", "width_", "winkler_")
    return [c for c in scores.columns if c.startswith(prefixes)]


def leaderboard(scores: pd.DataFrame, baseline: str = "target_only") -> pd.DataFrame:
    """The leaderboard of a scores table (see :meth:`Comparison.leaderboard`)."""
    # each metric is averaged over the cells where it is defined: a cell that sold nothing
    # over its horizon has no WAPE, bias or wql, but its MAE, RMSE, MASE and coverage count;
    # the WAPE columns (spread, wins, cells, ratio, gap) are over the cells with a WAPE
    scored = scores[scores["status"] == "ok"]
    ok = scored[scored["wape"].notna()]
    strategies = list(dict.fromkeys(scores["strategy"]))
    agg = scored.groupby("strategy")[[*METRICS, *interval_columns(scores)]].mean()
    agg = agg.reindex(strategies)
    agg.insert(1, "wape_std", ok.groupby("strategy")["wape"].std().reindex(strategies))
    agg["wins"] = _wins(ok).reindex(strategies).fillna(0).astype(int)
    agg["cells"] = ok.groupby("strategy").size().reindex(strategies).fillna(0).astype(int)
    agg["failed"] = (
        scores[scores["status"] == "failed"]
        .groupby("strategy")
        .size()
        .reindex(strategies)
        .fillna(0)
        .astype(int)
    )
    if baseline in strategies:
        base = ok[ok["strategy"] == baseline].set_index(["target", "origin"])["wape"]
        rel = {}
        for name in strategies:
            mine = ok[ok["strategy"] == name].set_index(["target", "origin"])["wape"]
            common = mine.index.intersection(base.index)
            rel[name] = mine[common].mean() / base[common].mean() if len(common) else np.nan
        agg[f"wape_vs_{baseline}"] = pd.Series(rel)
    else:
        agg[f"wape_vs_{baseline}"] = np.nan
    # a strategy that scored fewer cells (skipped or failed the others) ranks after those that
    # scored them all: its mean WAPE is over other, perhaps easier, cells
    agg["_short"] = agg["cells"] < agg["cells"].max()
    out = agg.sort_values(["_short", "wape"], na_position="last").drop(columns="_short")
    out = out.reset_index().rename(columns={"index": "strategy"})
    gap = gap_to_leader(ok, out["strategy"].iloc[0]) if len(ok) else pd.DataFrame()
    for col in ("wape_gap", "wape_gap_se", "wape_gap_cells"):
        out[col] = out["strategy"].map(gap[col]) if col in gap else np.nan
    out["wape_gap_cells"] = out["wape_gap_cells"].astype("Int64")  # a count, blank where none
    return out


def _wins(ok: pd.DataFrame) -> pd.Series:
    """Per strategy, the number of targets it leads (:func:`target_leaders`; tied strategies
    each count the target)."""
    stats = ok.groupby(["target", "strategy"], sort=False)["wape"].agg(mean="mean", cells="count")
    return target_leaders(stats.reset_index())["strategy"].value_counts()


def target_leaders(stats: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``stats`` (one per ``target`` and ``strategy``, with its ``mean`` WAPE and
    the ``cells`` it scored) that lead their target: among the strategies that scored the most
    cells of it (one that failed or was skipped at some origins is not ranked on a mean of the
    others), those whose mean is the lowest, to rounding (the same forecasts)."""
    top = stats[stats["cells"] == stats.groupby("target")["cells"].transform("max")]
    best = top.groupby("target")["mean"].transform("min")
    return top[(top["mean"] - best).abs() <= 1e-12 * best.abs().clip(lower=1e-300)]


def noise_band(se: Any, cells: Any) -> np.ndarray:
    """Half the width of the 95 % interval of a mean gap with standard error ``se`` over
    ``cells`` paired cells: ``se`` times Student's t quantile with ``cells - 1`` degrees of
    freedom (12.7 at 2 cells, 2.26 at 10, 2.05 at 30); NaN below two cells."""
    from scipy.stats import t

    n = np.asarray(cells, float)
    with np.errstate(invalid="ignore"):
        q = t.ppf(0.975, np.where(n >= 2, n - 1, np.nan))
    return np.asarray(se, float) * q


def tied_with_leader(board: pd.DataFrame) -> list[str]:
    """The strategies whose paired WAPE gap to the leader lies within its 95 % interval
    (:func:`noise_band`), on either side: the ones the backtest cannot tell apart from the
    leader (one ranked below it for cells it missed may be clearly ahead on the shared ones)."""
    if not {"wape_gap_se", "wape_gap_cells"} <= set(board.columns):
        return []
    band = noise_band(board["wape_gap_se"], board["wape_gap_cells"].astype(float))
    return list(board["strategy"][1:][(board["wape_gap"].abs() <= band)[1:]])


def unmeasured(board: pd.DataFrame) -> list[str]:
    """The strategies ranked behind the leader on fewer than two shared cells: no standard
    error, so the backtest says nothing about whether they differ."""
    if "wape_gap_se" not in board.columns:
        return []
    rest = board.iloc[1:]
    return list(rest.loc[rest["wape_gap"].notna() & rest["wape_gap_se"].isna(), "strategy"])


def same_forecasts(forecasts: pd.DataFrame) -> list[list[str]]:
    """Groups of two or more strategies whose point forecasts are the same (to 1e-9 of their
    size) in every row, over the same rows: a strategy that added nothing to another (such as
    ``boost_continue`` choosing no tree over ``source_only``), so that their equal scores are
    one forecast, not two. Strategies in the order they first appear."""
    if not len(forecasts):
        return []
    keys = ["origin", "unique_id", "ds"]
    wide = forecasts.pivot_table(index=keys, columns="strategy", values="forecast", aggfunc="first")
    names = [n for n in dict.fromkeys(forecasts["strategy"]) if n in wide.columns]
    groups: list[list[str]] = []
    for name in names:
        for group in groups:
            a, b = wide[group[0]], wide[name]
            if a.isna().equals(b.isna()) and np.allclose(a.dropna(), b.dropna(), rtol=1e-9, atol=0):
                group.append(name)
                break
        else:
            groups.append([name])
    return [g for g in groups if len(g) > 1]


def gap_to_leader(ok: pd.DataFrame, leader: str) -> pd.DataFrame:
    """Per strategy, paired with ``leader`` over the (target, origin) cells both scored: the
    mean of its WAPE minus the leader's (``wape_gap``), that mean's standard error
    (``wape_gap_se``; missing for the leader and with fewer than two shared cells) and the
    cells it is over (``wape_gap_cells``). A gap within its 95 % interval (:func:`noise_band`)
    is not evidence that the leader is better."""
    wide = ok.pivot_table(index=["target", "origin"], columns="strategy", values="wape")
    if leader not in wide.columns:
        return pd.DataFrame(columns=["wape_gap", "wape_gap_se", "wape_gap_cells"])
    diff = wide.sub(wide[leader], axis=0)
    n = diff.notna().sum()
    se = diff.std(ddof=1) / np.sqrt(n)
    se = se.where((n >= 2) & (se.index != leader))
    return pd.DataFrame({"wape_gap": diff.mean(), "wape_gap_se": se, "wape_gap_cells": n})


def selection_regret(
    scores: pd.DataFrame, strategy: str = "auto", metric: str = "wape"
) -> pd.DataFrame:
    """For each target and origin: ``strategy``'s error, the best single other strategy in
    hindsight and its error, and the regret (the difference; 0 when the selector hit the best).

    Columns ``target``, ``origin``, ``{metric}``, ``best``, ``best_{metric}``, ``regret``,
    ``regret_ratio``; empty when ``strategy`` has no scored cell. ``metric`` is an error
    score where lower is better (``wape``, ``mae``, ``rmse``, ``mase``, ``rmsse``, and with
    quantiles ``sql``, ``wql``, ``pinball_q...``, ``winkler_...``); a :class:`ConfigError`
    names any other."""
    cols = ["target", "origin", metric, "best", f"best_{metric}", "regret", "regret_ratio"]
    # errors where lower is better: bias (signed), coverage and width rank nothing
    valid = [m for m in METRICS if m != "bias"]
    valid += [
        c for c in interval_columns(scores) if c.startswith(("sql", "wql", "pinball_", "winkler_"))
    ]
    if metric not in valid:
        if metric in scores.columns:
            raise ConfigError(
                f"metric {metric!r} cannot rank strategies for regret (lower is not better); "
                f"use one of: {', '.join(valid)}"
            )
        raise ConfigError(unknown_name("metric for regret", metric, valid))
    ok = scores[(scores["status"] == "ok") & scores[metric].notna()]
    mine = ok[ok["strategy"] == strategy].set_index(["target", "origin"])[metric]
    others = ok[ok["strategy"] != strategy]
    if mine.empty or others.empty:
        return pd.DataFrame(columns=cols)
    best_idx = others.groupby(["target", "origin"])[metric].idxmin()
    best = others.loc[best_idx].set_index(["target", "origin"])[["strategy", metric]]
    out = best.rename(columns={"strategy": "best", metric: f"best_{metric}"}).join(
        mine.rename(metric), how="inner"
    )
    out["regret"] = out[metric] - out[f"best_{metric}"]
    out["regret_ratio"] = out[metric] / out[f"best_{metric}"]
    return out.reset_index()[cols]


def resolve_strategies(
    names: Sequence[str | Strategy] | None,
    params: dict[str, dict[str, Any]] | None,
    pm: PluginManager,
) -> list[Strategy]:
    """Strategy instances for names (``None``: every registered strategy), with parameters
    (tables keyed by a strategy's name or one of its aliases; every table is validated, also
    those of strategies not named)."""
    registry = pm.registry
    if isinstance(names, (str, Strategy)):
        names = [names]  # one strategy, not the letters of its name
    by_name: dict[str, dict[str, Any]] = {}
    for key, table in (params or {}).items():
        try:
            entry = registry.get(key)  # an unknown [strategies.NAME] table is an error
        except TransfercastError as exc:
            raise ConfigError(f"[strategies.{key}]: {exc}") from None
        if entry.name in by_name:
            raise ConfigError(
                f"[strategies.{key}]: strategy '{entry.name}' has two parameter tables"
            )
        entry.cls.validate_params(table)  # every table, used now or not: a bad one is an error
        by_name[entry.name] = table
    if names is not None and not len(names):
        raise ConfigError("no strategies to compare: name at least one")
    names = list(names) if names is not None else _installed(registry)
    out: list[Strategy] = []
    for item in names:
        if isinstance(item, Strategy):
            out.append(item)
        else:
            entry = registry.get(item)
            out.append(entry.cls(by_name.get(entry.name, {})))
    _warn_tables_auto_does_not_read(out, by_name)
    for name, table in by_name.items():  # a composite's members too, run now or not
        chosen = next((s for s in out if s.name == name), None)
        if chosen is None:
            try:
                chosen = registry.get(name).cls(table)
            except MissingDependencyError:  # a table of a strategy not run, its extra missing
                continue
        _check_members(chosen)
    seen = [s.name for s in out]
    twice = next((n for k, n in enumerate(seen) if n in seen[:k]), None)
    if twice is not None:
        raise ConfigError(
            f"strategy '{twice}' is listed twice: its cells would be scored as one strategy "
            f"(to compare two settings, give one a name of its own: a subclass with `name`)"
        )
    return out


def _installed(registry: Any) -> list[str]:
    """Every registered strategy whose requirements are installed; a warning names each
    strategy left out and the extra that brings it (``None`` means every strategy, and a
    missing optional extra should not stop the others)."""
    missing = registry.missing()
    for exc in missing.values():
        warnings.warn(f"{exc}; left out of the strategies compared", DataWarning, stacklevel=3)
    return [name for name in registry.names() if name not in missing]


def _check_members(strategy: Strategy) -> None:
    """Make each member of a strategy that combines others (``auto``: its ``candidate_names``
    and ``make``), so that an unknown candidate or a bad table of one is an error now, whether
    the strategy runs or not."""
    names, make = getattr(strategy, "candidate_names", None), getattr(strategy, "make", None)
    if callable(names) and callable(make):
        for name in names():
            make(name)


def _warn_tables_auto_does_not_read(
    strategies: list[Strategy], tables: dict[str, dict[str, Any]]
) -> None:
    """Warn where a ``[strategies.X]`` table sets a candidate X of ``auto`` that ``auto`` fits
    with its own table (``[strategies.auto.strategies.X]``, or X's defaults)."""
    for strategy in strategies:
        own = getattr(strategy.params, "strategies", None)
        names = getattr(strategy, "candidate_names", None)
        if strategy.name != "auto" or own is None or names is None:
            continue
        unread = [n for n in names() if tables.get(n) and n not in own]
        if unread:
            warnings.warn(
                f"[strategies.{unread[0]}] is not read by auto: its candidate "
                f"'{unread[0]}' takes [strategies.auto.strategies.{unread[0]}] (absent: the "
                f"defaults); copy the table there to use it"
                + (f" (also {', '.join(unread[1:])})" if len(unread) > 1 else ""),
                DataWarning,
                stacklevel=3,
            )


@dataclass(frozen=True)
class Quantiles:
    """The quantile forecasts a comparison asks for: the levels and the interval method."""

    levels: tuple[float, ...]
    method: str = DEFAULT_METHOD


def _cell(
    strategy: Strategy,
    tables: OriginTables,
    target: Any,
    cache: SourceCache,
    history: pd.DataFrame,
    quantiles: Quantiles | None = None,
    pm: PluginManager | None = None,
) -> tuple[dict[str, Any], pd.DataFrame | None, CellResult | None]:
    row: dict[str, Any] = {
        "target": target,
        "strategy": strategy.name,
        "origin": tables.data.origin,
    }
    try:
        result = fit_and_forecast(strategy, tables, target, cache)
        if quantiles is not None:
            start = time.perf_counter()
            _, result.forecasts = forecast_quantiles(
                quantiles.method,
                quantiles.levels,
                result.strategy,
                tables,
                target,
                cache,
                result.forecasts,
                pm,
            )
            row["interval_seconds"] = time.perf_counter() - start
    except HistoryRequired as exc:  # a pre-launch target: the strategy cannot apply
        row.update(dict.fromkeys(METRICS, np.nan))
        row.update(fit_seconds=np.nan, predict_seconds=np.nan, status="skipped", error=str(exc))
        return row, None, None
    except Exception as exc:  # noqa: BLE001 - fault isolation: the cell fails, others go on
        if isinstance(exc, TransfercastError) and not isinstance(exc, DataError):
            raise  # a config or dependency problem concerns every cell: stop
        row.update(dict.fromkeys(METRICS, np.nan))
        row.update(
            fit_seconds=np.nan,
            predict_seconds=np.nan,
            status="failed",
            error=f"{type(exc).__name__}: {exc}{raised_at(exc)}",
        )
        return row, None, None
    actuals = tables.task.actuals(tables.data.origin, tables.data.target_rows[target])
    fc = result.forecasts.merge(actuals, on=["unique_id", "ds"], how="left")
    row.update(score(fc, history))
    if quantiles is not None:
        row.update(quantile_scores(fc, history, quantiles.levels))
    row.update(
        fit_seconds=result.fit_seconds,
        predict_seconds=result.predict_seconds,
        status="ok",
        error="",
    )
    fc.insert(0, "strategy", strategy.name)
    fc.insert(1, "origin", tables.data.origin)
    return row, fc, result


@contextlib.contextmanager
def _each_warning_once() -> Iterator[None]:
    """Say each warning raised inside once (by category and text), in the order first raised,
    when the block ends, also when it ends by an error or an interrupt: every cell of a
    comparison raises the same ones, and a ``catch_warnings`` in a cell resets the registry
    that would say them once. Each is said as from its module (``transfercast.task``), so that
    a filter by module holds. Where another thread's call gathers its own
    (:func:`~transfercast.process_state.gathered_warnings`), they pass through as raised."""
    said: list[warnings.WarningMessage] | None = None
    try:  # another thread's compare gathering: these are said as raised
        with gathered_warnings() as said:
            yield
    finally:
        stopped = sys.exc_info()[0] is not None
        seen: set[tuple[type, str]] = set()
        modules = {getattr(m, "__file__", None): n for n, m in list(sys.modules.items())}
        for w in said or []:
            key = (w.category, str(w.message))
            if key in seen:
                continue
            seen.add(key)
            module = modules.get(w.filename) or w.filename
            if issubclass(w.category, DataWarning) and not module.startswith("transfercast"):
                module = "transfercast.evaluation"  # said for the caller's line: ours still
            try:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, module=module)
            except Warning:  # a filter made it an error: the error in flight goes first
                if not stopped:
                    raise


def _warn_short_horizons(task: TransferTask, origins: Sequence[pd.Timestamp]) -> None:
    """Warn of each origin given to :func:`compare` whose horizon runs past the targets' last
    actual: those periods are forecast but not scored (the config's ``[evaluate] origins``
    refuses such an origin; an origin's scores then cover fewer periods than the others')."""
    last = task.last_target_index(scored=True)
    for origin in origins:
        beyond = task.panel.index_of(origin) + task.horizon - last
        if beyond > 0:
            scored = max(task.horizon - beyond, 0)
            warnings.warn(
                f"origin {period_text(origin)}: {scored} of its {task.horizon} forecast periods "
                f"have target actuals (the last: {period_text(task.panel.times[last])}); the "
                "rest are forecast, not scored",
                DataWarning,
                stacklevel=3,
            )


def warn_unsold_cells(scores: pd.DataFrame) -> None:
    """Warn, once, of the target-origin cells that sold nothing over their horizon: WAPE and
    bias are undefined there, so the leaderboard's WAPE columns leave them out."""
    unsold = scores[(scores["status"] == "ok") & scores["wape"].isna() & scores["mae"].notna()]
    cells = unsold[["target", "origin"]].drop_duplicates()
    if not len(cells):
        return
    target, origin = cells.iloc[0]
    warnings.warn(
        f"{len(cells)} target-origin cells sold nothing over their horizon (first: target "
        f"{plain(target)!r} after {period_text(origin)}): WAPE and bias are undefined "
        f"there and the leaderboard's WAPE columns leave them out, as do the interval scores "
        f"scaled by the sales; their MAE, RMSE, MASE, RMSSE, coverage and sql count in the "
        f"leaderboard's means",
        DataWarning,
        stacklevel=3,
    )


def _share(part: float) -> str:
    """A share as a whole percentage, or "under 1 %" (never a misleading "0 %")."""
    return f"{100 * part:.0f} %" if part >= 0.01 else "under 1 %"


def warn_unscored_periods(forecasts: pd.DataFrame, last: pd.Timestamp) -> None:
    """Warn, once, of the forecast periods up to ``last`` (the targets' last sale) without an
    actual (no row, or an empty sales cell): the scores leave them out, which flatters a
    forecast of sales where a sparse export writes no row for a period without a sale."""
    if not len(forecasts):
        return
    cells = forecasts.drop_duplicates(["origin", "unique_id", "ds"])
    missing = cells[cells["actual"].isna() & (cells["ds"] <= last)]
    if not len(missing):
        return
    first = missing.sort_values(["origin", "unique_id", "ds"]).iloc[0]
    warnings.warn(
        f"{len(missing)} of {len(cells)} forecast periods of the target series "
        f"({_share(len(missing) / len(cells))}) have no actual in the data (no row, or an "
        f"empty sales cell; first {first['unique_id']!r} at "
        f"{period_text(first['ds'])})"
        f" and are left out of the scores; if a missing row means no sale, write it with 0 so "
        f"that the scores count those periods",
        DataWarning,
        stacklevel=3,
    )


def check_jobs(jobs: int) -> None:
    """Raise a :class:`ConfigError` for a worker count that means nothing (0, or no whole
    number)."""
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)):
        raise ConfigError(f"jobs {jobs!r}: give a whole number of parallel workers, or -1 for all")
    if jobs == 0:
        raise ConfigError("jobs 0: give the number of parallel workers, or -1 for all cores")


@in_task_zone("task")
def compare(
    task: TransferTask,
    strategies: Sequence[str | Strategy] | None = None,
    *,
    params: dict[str, dict[str, Any]] | None = None,
    origins: Sequence[Any] | None = None,
    evaluate: EvaluateConfig | Mapping[str, Any] | None = None,
    jobs: int = 1,
    plugins: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
    skip: set[tuple[str, str, str]] | None = None,
    on_cell: Callable[[dict[str, Any], pd.DataFrame | None, pd.DataFrame | None], None]
    | None = None,
    on_origin: Callable[[pd.Timestamp, pd.DataFrame], None] | None = None,
    executor: Any = None,
    quantiles: Sequence[float] = (),
    interval_method: str = DEFAULT_METHOD,
) -> Comparison:
    """Evaluate strategies on every target domain at every rolling origin.

    ``strategies`` are names or instances (default: every registered one whose dependencies
    are installed; one name alone is one strategy); ``params`` maps strategy names to parameter
    tables; ``plugins`` names plugin modules to load (one name alone is one module).
    ``origins`` (dates, or one date) default to the ``evaluate`` windows (an ``[evaluate]``
    table or mapping; the task's own by default). ``jobs`` cells run at
    once in threads (-1: every core), unless ``executor(run, cells)`` runs them elsewhere
    (:func:`~transfercast.distributed.dask_executor`); ``progress(done, total)`` is told the
    count of cells done. ``skip`` holds the cells already scored (``--resume``), each as
    ``(str(target), strategy name, origin_text(origin))`` (:func:`transfercast.resume.
    cell_key`: the origin's date, with its time of day in hourly data);
    ``on_cell`` is told
    about every new cell as soon as it is scored: ``on_cell(row, forecasts, selection)`` (the
    forecasts and the strategy's ``selection_`` are ``None`` when absent); ``on_origin`` is told
    the source replays of every origin once its cells are done: ``on_origin(origin, replays)``
    (``replays.csv``'s rows of that origin, possibly none). ``quantiles``
    (levels strictly between 0 and 1) adds quantile forecasts by ``interval_method``
    (:mod:`transfercast.uncertainty`) and their scores (:func:`~transfercast.intervals.
    quantile_scores`) to every cell.
    """
    if not isinstance(task, TransferTask):
        raise ConfigError(
            f"compare: task must be a transfercast.TransferTask (built with TransferTask(data, "
            f"...) or TransferTask.from_config(load_config(path))), not {type(task).__name__}"
        )
    check_jobs(jobs)
    refuse_output_names(task.series, task.time, task.source_name)  # before any cell is fitted
    pm = get_plugin_manager(plugin_modules(plugins))
    chosen = resolve_strategies(strategies, params, pm)
    check_tables(params, task, pm)
    if strategies is not None:  # those named, with their defaults where no table is given
        for s in chosen:  # (every installed one: a plugin's defaults may not suit this task)
            check_params(type(s), s.params, task, pm, f"strategies.{s.name}")
    levels = tuple(check_quantiles(quantiles))  # a list, an array or one level
    wanted = Quantiles(levels, interval_method) if levels else None
    if origins is None:
        origins = task.evaluation_origins(evaluate)
    else:  # on the grid, within the data, none twice; the horizon may run past the actuals
        if isinstance(origins, (str, pd.Timestamp, np.datetime64)) or not hasattr(
            origins, "__iter__"
        ):
            origins = [origins]  # one origin, not the characters of a date
        origins = task.check_origins(list(origins))
        _warn_short_horizons(task, origins)
    cache = SourceCache()
    rows: list[dict[str, Any]] = []
    frames: list[pd.DataFrame] = []
    selections: list[pd.DataFrame] = []
    replayed: list[pd.DataFrame] = []
    total = len(origins) * len(task.targets) * len(chosen)
    done = 0
    skip = skip or set()
    present = False  # whether any target domain exists at any origin
    with _each_warning_once():  # the cells raise the same warnings again and again
        for origin in origins:
            data = task.at_origin(origin, absent="skip")  # a target not there yet: no cells
            present = present or bool(data.target_rows)
            cells = [
                (s, t)
                for t in data.target_rows
                for s in chosen
                if (str(t), s.name, origin_text(origin)) not in skip
            ]
            done += total // len(origins) - len(cells)
            if not cells:
                continue
            tables = OriginTables(task, data, task.features, intervals=wanted is not None)
            warn_level_extrapolated(tables, task.source_name)
            warn_unseen_categories(tables, task.source_name)
            for s in chosen:  # source models first, once each, before the cells run in parallel
                if any(c[0] is s for c in cells) and s.reads_source_table():
                    try:  # a data or config problem stops the comparison, one line
                        cache.get(s, tables.source)
                    except TransfercastError as exc:
                        if not isinstance(exc, PluginError):
                            raise
                    except Exception:  # noqa: BLE001,S110 - a plugin's bug: its cells fail with it
                        pass
            histories = {
                t: data.panel.history_frame(r, data.origin_idx) for t, r in data.target_rows.items()
            }

            def run(
                cell: tuple[Strategy, Any], tables: OriginTables = tables, histories=histories
            ) -> tuple[dict[str, Any], pd.DataFrame | None, Any]:
                return _cell(cell[0], tables, cell[1], cache, histories[cell[1]], wanted, pm)

            run.tables = tables  # type: ignore[attr-defined]  # a Dask executor returns replays to it

            def record(row: dict[str, Any], fc: pd.DataFrame | None, result: Any) -> None:
                rows.append(row)
                if fc is not None:
                    frames.append(fc)
                sel = getattr(getattr(result, "strategy", None), "selection_", None)
                if sel is not None:
                    selections.append(sel)
                if on_cell:
                    on_cell(row, fc, sel)

            parallel = executor or (local_executor(jobs) if len(cells) > 1 else None)
            # each cell recorded as it ends, in the order of the cells: an interrupted run keeps
            # every finished cell before the first unfinished one
            outs = parallel(run, cells) if parallel is not None else map(run, cells)
            for out in outs:
                record(*out)
                done += 1
                if progress:
                    progress(done, total)
            held = held_replays(tables)
            if len(held):
                replayed.append(held)
            if on_origin:
                on_origin(data.origin, held)
            cache.clear()

    if not present:
        raise DataError(
            f"no target domain has a row up to the end of the horizon at any origin "
            f"({', '.join(period_text(o) for o in origins)})"
        )
    extra = [c for c in dict.fromkeys(k for r in rows for k in r) if c not in SCORE_COLUMNS]
    scores = pd.DataFrame(rows, columns=[*SCORE_COLUMNS, *extra])
    forecasts = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["strategy", "origin", "unique_id", "ds", "forecast", "actual"])
    )
    if not skip:  # resuming, the caller warns on the comparison the stored cells complete
        warn_scoring(scores, forecasts, task)
    selection = pd.concat(selections, ignore_index=True) if selections else pd.DataFrame()
    replays = pd.concat(replayed, ignore_index=True) if replayed else pd.DataFrame()
    modules = tuple(plugin_modules(plugins))
    return Comparison(scores, forecasts, selection, cache.fits, task, replays, modules)


def warn_scoring(scores: pd.DataFrame, forecasts: pd.DataFrame, task: TransferTask) -> None:
    """The warnings on a whole comparison's cells: those whose target sold nothing
    (:func:`warn_unsold_cells`), forecast periods without an actual
    (:func:`warn_unscored_periods`)."""
    warn_unsold_cells(scores)
    last = task.last_target_index()  # after the targets' last sale: the horizon warning's
    if last is not None:
        warn_unscored_periods(forecasts, task.panel.times[last])


def check_tables(params: dict[str, dict[str, Any]] | None, task: Any, pm: PluginManager) -> None:
    """Check every parameter table against ``task`` (:meth:`Strategy.check_task`), those of
    strategies not run too and the tables nested in a composite's ``strategies`` (``auto``'s),
    before anything is fitted."""
    for key, table in (params or {}).items():
        cls = pm.registry.get(key).cls
        check_params(cls, cls.validate_params(table), task, pm, f"strategies.{key}")


def check_params(cls: type, params: Any, task: Any, pm: PluginManager, where: str) -> None:
    """:meth:`Strategy.check_task` of validated ``params`` and of the tables nested in their
    ``strategies`` (``where``: the table's path, ``strategies.auto``; an error of a nested
    table names its own, ``[strategies.auto.strategies.recalibrate]``)."""
    cls.check_task(params, task)
    for name, table in (getattr(params, "strategies", None) or {}).items():
        try:
            inner = pm.registry.get(name).cls
        except TransfercastError:
            continue  # an unknown name is the composite's own error
        path = f"{where}.strategies.{name}"
        try:
            check_params(inner, inner.validate_params(table), task, pm, path)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace(f"[strategies.{name}]", f"[{path}]")) from None


def compare_config(
    config: Config, strategies: Sequence[str] | None = None, **kwargs: Any
) -> Comparison:
    """:func:`compare` with everything taken from a validated config (its plugin modules from
    its own folder, even where a config of another folder was loaded since)."""
    if config.plugins and Path(config.base_dir).is_absolute():  # read from a file
        from transfercast.config import use_plugin_folder

        use_plugin_folder(Path(config.base_dir), config.plugins)
    task = TransferTask.from_config(config)
    names = strategies or config.strategy.candidates or None
    return compare(
        task,
        names,
        params=config.strategies,
        evaluate=config.evaluate,
        plugins=config.plugins,
        **{"quantiles": config.forecast.quantiles, "interval_method": config.forecast.method}
        | kwargs,
    )
