"""Sources larger than memory: a source model fitted on a Parquet dataset with Dask.

The in-memory path builds one feature table of every source series and fits the source model
on it. Here the source domains stay in a Parquet dataset (same long format and column names as
the task's data) and the rows are built on a Dask cluster, partition by partition, with the same
panel and feature code; the model is fitted with ``lightgbm.DaskLGBMRegressor`` or
``xgboost.dask.DaskXGBRegressor`` with the parameters of the strategy's in-memory source fit.

How it matches the in-memory path:

- one pass over the dataset first computes what is global across series: the time grid, the
  category vocabularies (over the source and the target series observed at the origin, so that
  codes equal the in-memory ones) and which static or known columns have values;
- the dataset is sorted on the domain, so that every domain lies in one partition (Dask
  shuffles only when the partitions are not already sorted and disjoint): the rows read what
  is domain-wide (a domain that never sold gives none; a series that never sold is read on its
  domain's scale) as in memory, and where the domain is the first series column they come in
  the in-memory order. One domain must fit in a worker's memory;
- each partition is cut at the origin and turned into feature rows, labels and levels by
  :class:`~transfercast.panel.Panel` and :class:`~transfercast.features.FeatureBuilder`; the
  weights are the levels divided by their mean over the whole dataset, as in memory.

On one worker the model equals the in-memory one (same rows in the same order, same
parameters) where the domain is the first series column; otherwise the rows are the same in
another order, and bagging draws other rows. On several workers LightGBM and XGBoost train
data-parallel and the trees differ a little. A source domain none of whose series sold in the
level window before some anchor reads the fallback scale (the mean of every selling series)
over its own partition's series, where in memory it reads every source series.

The ``task`` holds the target domains only (``TransferTask(..., require_sources=False)``); every
domain of the Parquet dataset that is not a target is a source (rows of target domains in the
dataset are ignored, so the whole data set can be given). Only strategies that read the source
*model* alone can use it (``source_only``, ``boost_continue``, ``recalibrate``); the strategies
that read the source rows (``pooled``, ``representation``, ``l2sp``, ``auto``) raise a
:class:`ConfigError`.

A worked example is in ``docs/concepts.md`` (sources larger than memory). Every worker needs
transfercast installed. The client process holds the target data and the fitted model, never
the source rows; the workers hold the source feature rows while the model is fitted.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from transfercast.data import (
    DS,
    DataWarning,
    Y,
    category_text,
    period_text,
    standardize,
    whole_numbers_as_int,
)
from transfercast.engines import GBM, engine_params
from transfercast.errors import ConfigError, DataError, closest
from transfercast.features import FeatureBuilder, FeatureTable
from transfercast.forecaster import TransferForecaster
from transfercast.forecasting import (
    OriginTables,
    transfer_to,
    warn_unknown_future,
    warn_unseen_categories,
)
from transfercast.panel import Panel
from transfercast.strategy import Strategy
from transfercast.task import TransferTask

if TYPE_CHECKING:
    import dask.dataframe as dd
    import distributed

#: extra columns of :attr:`SourceRows.frame` beside the feature columns
LABEL, LEVEL, WEIGHT = "__y", "__level", "__weight"
KEYS = ("__unique_id", "__anchor", "__ds")
#: series ids each partition contributes to the partition boundaries of the shuffle
SAMPLE = 64


@dataclass
class _Plan:
    """What every partition needs: the task's columns, the cut and, after the statistics
    pass, the global time grid and the feature builder."""

    series: list[str]
    time: str
    target: str
    domain: str
    freq: str
    static: list[str]
    known: list[str]
    repair: bool
    name: str
    origin: pd.Timestamp
    horizon: int
    window: int
    steps: list[int] | None
    categorical: list[str]
    young_age: int | None = None
    times: pd.DatetimeIndex | None = None
    origin_idx: int = -1
    builder: FeatureBuilder | None = None
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)
    timezone: str | None = None  # [data] timezone: the zone of naive hourly times

    def standardize(self, part: pd.DataFrame) -> pd.DataFrame:
        return standardize(
            part,
            series=self.series,
            time=self.time,
            target=self.target,
            domain=self.domain,
            freq=self.freq,
            static=self.static,
            known=self.known,
            source=self.name,
            repair=self.repair,
            timezone=self.timezone,
        )


@dataclass
class SourceRows:
    """The training rows of every source series at one origin, as a persisted Dask DataFrame.

    ``frame`` holds the feature ``columns`` (as in :attr:`FeatureTable.X`, categorical columns
    with the shared vocabularies), the normalised label ``__y``, the ``__level``, the weight
    ``__weight`` and the keys ``__unique_id``, ``__anchor``, ``__ds``; every series lies in
    one partition."""

    frame: dd.DataFrame
    columns: list[str]
    categorical: list[str]
    builder: FeatureBuilder
    origin: pd.Timestamp


def check_strategy(strategy: Strategy | str) -> Strategy:
    """``strategy`` (an instance, or a name registered with the active plugin manager: the
    latest ``get_plugin_manager`` call's, config plugins included) when it can use a source
    model fitted with Dask; a :class:`ConfigError` naming it otherwise."""
    if isinstance(strategy, str):
        from transfercast.plugin_manager import active_manager

        strategy = active_manager().registry.create(strategy)
    cls, spec = type(strategy), strategy.source_spec()
    why = None
    if cls.uses_source_rows:
        why = "it reads the source rows in memory"
    elif spec is None:
        why = "it uses no source model"
    elif spec.kind != "gbm" or cls.fit_source is not Strategy.fit_source:
        why = "its source model is not the standard gradient-boosting model"
    if why:
        raise ConfigError(
            f"strategy '{strategy.name}' cannot use a source model fitted with Dask: {why} "
            f"(source_only, boost_continue and recalibrate can)"
        )
    return strategy


def _read(sources: Any, task: TransferTask) -> dd.DataFrame:
    """The source rows of a Parquet dataset (path) or Dask DataFrame, with the task's columns."""
    import dask.dataframe as dd

    if isinstance(sources, (str, os.PathLike)):
        if not os.path.exists(Path(sources)):  # "sources.parquet/" names a file too
            raise DataError(f"source data not found: {sources}")
        try:
            frame = dd.read_parquet(str(Path(sources)))
        except Exception as exc:  # an empty folder, files that are not Parquet: one line
            raise DataError(
                f"{sources}: cannot read it as a Parquet dataset: {_reason(exc)}"
            ) from None
    else:
        frame = sources
    needed = list(
        dict.fromkeys(
            [*task.series, task.time, task.target, task.domain, *task.static, *task.known]
        )
    )
    lacking = _file_without(sources, needed)  # the dataset's columns are its first file's
    if lacking is not None and lacking[2]:
        name, col, _ = lacking
        raise DataError(f"{sources}: {name} in it has no column '{col}', which others have")
    cols = list(frame.columns)
    for col in needed:
        if col not in cols:
            raise DataError(f"{_name(sources)}: missing column '{col}'{closest(col, cols)}")
    frame = frame[needed]
    targets = [str(t) for t in task.targets]  # a float store column's 5.0 is store 5
    named = frame[task.domain].map_partitions(_key_text, meta=(task.domain, object))
    return frame[~named.isin(targets)]


def _key_text(values: pd.Series) -> pd.Series:
    """Key values as text, as the in-memory data names them (a whole float as an integer)."""
    return whole_numbers_as_int(values).astype(str)


def _reason(exc: BaseException) -> str:
    """The last line of an exception's message (Dask wraps the reader's own message in an
    explanation of its own), without Dask's ``Original Message:`` prefix."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    last = lines[-1] if lines else type(exc).__name__
    return last.removeprefix("Original Message:").strip()


def _schemas(sources: Any) -> list[tuple[str, list[str] | None]]:
    """Each Parquet file of a dataset (a path) with its column names (``None``: its footer
    cannot be read), named relative to the dataset, in order; none for a Dask DataFrame.
    Reads the footers only."""
    if not isinstance(sources, (str, os.PathLike)):
        return []
    import pyarrow.parquet as pq

    root = Path(sources)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    out: list[tuple[str, list[str] | None]] = []
    for path in files:
        if path.suffix.lower() not in (".parquet", ".parq", ".pq") and path != root:
            continue
        name = path.name if path == root else path.relative_to(root).as_posix()
        try:
            out.append((name, pq.read_schema(path).names))
        except Exception:  # noqa: BLE001 - named by the caller
            out.append((name, None))
    return out


def _unreadable_file(sources: Any) -> str | None:
    """The first file of a Parquet dataset (a path) whose footer cannot be read, relative to
    the dataset; ``None`` when every one can (or ``sources`` is not a path)."""
    return next((name for name, names in _schemas(sources) if names is None), None)


def _file_without(sources: Any, needed: list[str]) -> tuple[str, str, bool] | None:
    """The first file of a Parquet dataset (a path) without one of the ``needed`` columns (a
    Hive partition key in its path counts as a column), that column, and whether another file
    has it; ``None`` when every file has them all (or ``sources`` is not a folder)."""
    if not isinstance(sources, (str, os.PathLike)) or not Path(sources).is_dir():
        return None
    files = [
        (name, {*names, *(p.split("=", 1)[0] for p in name.split("/") if "=" in p)})
        for name, names in _schemas(sources)
        if names is not None  # an unreadable file is named by the reading pass
    ]
    for name, names in files:
        missing = next((c for c in needed if c not in names), None)
        if missing is not None:
            return name, missing, any(missing in other for _, other in files)
    return None


def _name(sources: Any) -> str:
    return str(sources) if isinstance(sources, (str, os.PathLike)) else "source data"


def _partition_stats(part: pd.DataFrame, plan: _Plan) -> dict[str, Any]:
    """What one partition contributes to the global statistics."""
    if part.empty:
        return {"rows": 0}
    with warnings.catch_warnings(record=True) as said:  # summed over partitions by the client
        warnings.simplefilter("always")
        frame = plan.standardize(part)
    seen = frame[Y].notna() & (frame[DS] <= plan.origin)
    upto = frame[DS] <= plan.origin + plan.horizon * pd.tseries.frequencies.to_offset(plan.freq)
    doms = np.sort(_domain_keys(part, plan).unique())
    return {
        "rows": len(frame),
        "warnings": [(w.category, str(w.message)) for w in said],
        "domains": (
            doms[0],
            doms[-1],
            doms[np.linspace(0, len(doms) - 1, SAMPLE).astype(int)].tolist(),
        ),
        "first": frame[DS].min(),
        "last": frame[DS].max(),
        "observed": bool(seen.any()),
        "categories": {
            c: set(category_text(frame.loc[seen, c])) - {None} for c in plan.categorical
        },
        # read up to the horizon's end, as the in-memory cut does: a column whose values all
        # lie after it has none at this origin
        "has_values": {
            c: bool(frame.loc[upto, c].notna().any()) for c in [*plan.static, *plan.known]
        },
    }


def _summed_warnings(stats: list[dict[str, Any]], name: str) -> list[tuple[type, str]]:
    """The partitions' data warnings as the whole dataset's: texts that differ only in their
    counts (a number of values, periods, series, rows) and the names they quote, as the first
    such text with each count summed, in the order they first came. Quoted names, thresholds,
    dates and the ``(first ...)`` part are left as the first text has them; a share (``12%``)
    of one part is left out where several parts are summed, as it is not the dataset's."""
    import re

    count = re.compile(r"(?<![\w.+-])\d+(?= (?:\w+ )?(?:values|periods|series|rows|cells)\b)")
    quoted = re.compile(r"((?<![A-Za-z])'[^']*')")  # a name, not the s' of "series' median"
    share = re.compile(r" \(\d+% [^)]*\)(: if [^;]*)?")  # one part's share and its hint

    def parts_of(body: str) -> tuple[list[str], str]:
        """The body's parts (quoted ones at odd positions) before ``(first``, and the rest."""
        cut = re.search(r" \(first ", body)
        head, tail = (body[: cut.start()], body[cut.start() :]) if cut else (body, "")
        return quoted.split(head), tail

    prefix = f"{name}: "
    sums: dict[tuple[type, str], list[Any]] = {}
    for stat in stats:
        for category, text in stat.get("warnings", []):
            body = text.removeprefix(prefix)
            plain = [share.sub("", part) for part in parts_of(body)[0][::2]]
            numbers = [int(n) for part in plain for n in count.findall(part)]
            shape = "'.'".join(re.sub(r"\d+", "#", part) for part in plain)
            entry = sums.setdefault((category, shape), [np.zeros(len(numbers), int), body, 0])
            entry[0] += numbers
            entry[2] += 1
    out = []
    for (category, _), (total, body, seen) in sums.items():
        parts, tail = parts_of(body)
        left = iter(total.tolist())
        parts[::2] = [count.sub(lambda _, n=left: str(next(n)), p) for p in parts[::2]]
        text = "".join(parts)
        if seen > 1:  # one part's share, and the hint read on it
            text = share.sub("", text)
        out.append((category, prefix + text + tail))
    return out


def _on_grid(panel: Panel, times: pd.DatetimeIndex) -> Panel:
    """``panel`` on the global grid ``times`` (which covers it): missing values elsewhere."""
    start = int(times.get_indexer([panel.times[0]])[0])
    span = slice(start, start + len(panel.times))

    def widen(arr: np.ndarray) -> np.ndarray:
        out = np.full((arr.shape[0], len(times)), np.nan)
        out[:, span] = arr
        return out

    return replace(
        panel,
        times=times,
        Y=widen(panel.Y),
        known={c: widen(a) for c, a in panel.known.items()},
        start=None if panel.start is None else panel.start + start,  # positions on the grid
    )


def _as_frame(table: FeatureTable) -> pd.DataFrame:
    out = table.X.copy()
    out[LABEL] = table.y
    out[LEVEL] = table.level
    out[KEYS[0]] = table.keys["unique_id"].to_numpy(object)
    out[KEYS[1]] = table.keys["anchor"].to_numpy()
    out[KEYS[2]] = table.keys["ds"].to_numpy()
    return out


def _partition_rows(part: pd.DataFrame, plan: _Plan) -> pd.DataFrame:
    """The feature rows of the whole series of one partition, as in memory."""
    if part.empty:
        return plan.meta.copy()
    if part.index.name == "__dom":  # shuffled on the domain
        part = part.reset_index(drop=True)
    with warnings.catch_warnings():  # said once, summed, after the statistics pass
        warnings.simplefilter("ignore")
        frame = plan.standardize(part)
    panel = Panel.from_frame(
        frame, series=plan.series, static=plan.static, known=plan.known, freq=plan.freq
    )
    panel = _on_grid(panel, plan.times).cut(plan.origin_idx, plan.horizon)
    rows = np.flatnonzero(~np.all(np.isnan(panel.Y), axis=1))
    builder = plan.builder
    i, a, h = builder.training_rows(
        panel, rows, plan.origin_idx, plan.horizon, window=plan.window, steps=plan.steps
    )
    table = builder.source_table(panel, i, a, h, plan.young_age)
    return _as_frame(table)[list(plan.meta.columns)]


def _domain_keys(frame: pd.DataFrame, plan: _Plan) -> pd.Series:
    """Each row's domain as the text the rows are partitioned on: the domain's text, followed by
    the series ids' separator where the domain is the first series column (then the domains in
    the order of their keys hold the series in the order of their ids, the in-memory order)."""
    key = _key_text(frame[plan.domain])
    return key + "|" if plan.series[0] == plan.domain and len(plan.series) > 1 else key


def _by_domain(raw: dd.DataFrame, plan: _Plan, stats: list[dict[str, Any]]) -> dd.DataFrame:
    """``raw`` with every domain in one partition and the partitions in the order of the
    domains' keys: the feature rows read domain-wide quantities (a domain that never sold
    gives none; a series that never sold is read on its domain's selling series' scale), which
    a domain split across partitions would read on a part of it. Partitions already sorted and
    disjoint are kept as they are; otherwise the rows are shuffled on the domain, with
    partition boundaries taken from the domains sampled in the statistics pass (explicit
    boundaries: Dask computes nothing while it builds the graph)."""
    bounds = [s["domains"] for s in stats if s["rows"]]
    if all(hi < nxt[0] for (_, hi, _), nxt in zip(bounds[:-1], bounds[1:], strict=True)):
        return raw
    keys = sorted(set().union(*(b[2] for b in bounds)))
    n = len(bounds)
    cuts = [keys[int(k)] for k in np.linspace(0, len(keys) - 1, n + 1)[1:-1]]
    divisions = sorted({min(b[0] for b in bounds), *cuts, max(b[1] for b in bounds)})
    if len(divisions) < 2:
        divisions = divisions * 2
    keyed = raw.assign(__dom=raw.map_partitions(_domain_keys, plan, meta=(plan.domain, object)))
    return keyed.set_index("__dom", divisions=divisions)


def _plan(task: TransferTask, origin: pd.Timestamp, name: str) -> tuple[_Plan, OriginTables]:
    """The plan before the statistics pass, and the target tables at ``origin``."""
    if task.sources:
        raise ConfigError(
            f"the data for a Dask source model must hold the target domains only ([data] path "
            f"with [data] sources; TransferTask(..., require_sources=False) in Python); it also "
            f"holds source domains {[str(s) for s in task.sources][:5]}"
        )
    tables = OriginTables(task, task.at_origin(origin), task.features)
    if len(tables.prelaunch):
        series = tables.data.panel.ids[tables.prelaunch]
        more = f" (and {len(series) - 1} more)" if len(series) > 1 else ""
        raise ConfigError(
            f"target series {series[0]!r}{more} of domain {tables.prelaunch_domain()!r} has no "
            f"sale up to the origin (not launched yet): its level is estimated from the source "
            f"series, which a Dask source model keeps out of memory; give the sources in "
            f"[data] path for a pre-launch forecast, or leave the series out"
        )
    b = tables.builder
    plan = _Plan(
        series=list(task.series),
        time=task.time,
        target=task.target,
        domain=task.domain,
        freq=task.freq,
        static=list(task.static),
        known=list(task.known),
        repair=task.repair,
        timezone=task.timezone,
        name=name,
        origin=pd.Timestamp(origin),
        horizon=task.horizon,
        window=task.features.source_window,
        steps=tables.steps,
        categorical=[*b.categorical_keys, *b.static_categorical],
        young_age=tables.target_age if task.features.young_sources else None,
    )
    return plan, tables


def source_rows_dask(
    task: TransferTask, sources: Any, origin: Any, client: distributed.Client
) -> SourceRows:
    """Build the source training rows of ``origin`` on the cluster of ``client``.

    ``sources`` is a Parquet dataset (a path) or a Dask DataFrame in the long format and with
    the column names of ``task``'s data; ``task`` holds the target domains only. The rows
    equal those of the in-memory source table (:attr:`OriginTables.source`) of a task over
    the sources and the targets together."""
    origin = pd.Timestamp(origin)
    plan, tables = _plan(task, origin, _name(sources))
    raw = _read(sources, task)
    from dask import delayed

    parts = raw.to_delayed()
    try:
        stats = client.gather(client.compute([delayed(_partition_stats)(p, plan) for p in parts]))
    except Exception as exc:  # a file of the dataset that is not Parquet: name it
        bad = _unreadable_file(sources)
        if bad is None:
            raise
        raise DataError(
            f"{sources}: {bad} in it cannot be read as Parquet: {_reason(exc)}"
        ) from None
    stats = [s for s in stats if s["rows"]]
    for category, text in _summed_warnings(stats, _name(sources)):
        warnings.warn(text, category, stacklevel=2)
    if not stats or not any(s["observed"] for s in stats):
        raise DataError(f"the source domains have no rows before the origin {period_text(origin)}")

    # the global grid, as Panel.from_frame makes it over sources and targets together
    first = min(min(s["first"] for s in stats), task.frame[DS].min())
    last = max(max(s["last"] for s in stats), task.frame[DS].max())
    times = pd.date_range(first, last, freq=task.freq)
    times = pd.date_range(times[0], periods=len(times) + task.horizon, freq=task.freq)
    origin_idx = int(times.get_indexer([origin])[0])
    if origin_idx < 0:
        raise DataError(f"origin {period_text(origin)} is outside the data")

    # static or known columns without values on one side are dropped, as TransferTask does
    dropped = []
    # the targets' values as the in-memory cut leaves them: up to the horizon's end, and known
    # covariates from the first period of their history (target_history) on
    end = times[min(origin_idx + task.horizon, len(times) - 1)]
    seen = task.frame[task.frame[DS] <= end]
    start = None if task.target_history is None else origin_idx + 1 - task.target_history
    recent = seen[seen[DS] >= times[start]] if start is not None and start > 0 else seen
    for col in [*plan.static, *plan.known]:
        if col in plan.series:
            continue
        mine = recent if col in plan.known else seen
        if not any(s["has_values"][col] for s in stats) or mine[col].isna().all():
            warnings.warn(
                f"{plan.name}: column '{col}' has no values in the source or the target "
                f"domains; dropped, as source and target share nothing through it",
                DataWarning,
                stacklevel=2,
            )
            dropped.append(col)

    # one vocabulary per categorical column: source and target series observed at the origin
    target_builder = tables.builder
    categories = {
        col: sorted(
            set(target_builder.categories[col]).union(*(s["categories"][col] for s in stats))
        )
        for col in plan.categorical
        if col not in dropped
    }
    builder = replace(
        target_builder,
        categories=categories,
        known=[c for c in target_builder.known if c not in dropped],
        static_numeric=[c for c in target_builder.static_numeric if c not in dropped],
        static_categorical=[c for c in target_builder.static_categorical if c not in dropped],
    )
    empty = np.zeros(0, dtype=int)
    meta = _as_frame(builder.build(tables.data.panel, empty, empty, empty, with_label=True))
    plan = replace(plan, times=times, origin_idx=origin_idx, builder=builder, meta=meta)

    rows = client.persist(
        _by_domain(raw, plan, stats).map_partitions(_partition_rows, plan, meta=meta)
    )
    sizes = client.compute(rows.map_partitions(len), sync=True).tolist()
    keep = [k for k, n in enumerate(sizes) if n]
    if not keep:
        raise DataError(
            f"no training rows for the source model at {period_text(origin)}: every source series "
            f"has fewer than a few observed periods before the origin"
        )
    rows = rows.partitions[keep]
    total, count = client.compute([rows[LEVEL].sum(), rows[LEVEL].count()], sync=True)
    mean = float(total) / float(count)  # the nanmean of FeatureBuilder.build, over all rows
    rows = client.persist(rows.assign(**{WEIGHT: rows[LEVEL] / mean}))
    columns = [c for c in meta.columns if c not in (LABEL, LEVEL, *KEYS)]
    return SourceRows(
        rows, columns, [*builder.categorical_keys, *builder.static_categorical], builder, origin
    )


def fit_source_dask(
    strategy: Strategy | str,
    task: TransferTask,
    sources: Any,
    origin: Any,
    client: distributed.Client,
) -> GBM:
    """Fit ``strategy``'s source model on a Parquet dataset too large for memory.

    Builds the rows with :func:`source_rows_dask` and fits them with
    ``lightgbm.DaskLGBMRegressor`` (engine ``"lightgbm"``) or
    ``xgboost.dask.DaskXGBRegressor`` (``"xgboost"``) with the parameters of the strategy's
    in-memory source fit. Returns what ``strategy.fit_source`` returns, a :class:`GBM` around
    the native booster, plus ``categories_`` (the category vocabularies of its rows) and
    ``origin_``, which :func:`forecast_with_source` uses to build matching target tables."""
    strategy = check_strategy(strategy)
    spec = strategy.source_spec()
    rows = source_rows_dask(task, sources, origin, client)
    frame = rows.frame
    if spec.engine == "lightgbm":
        # LightGBM concatenates the partitions a worker holds in no fixed order; with one
        # partition per worker the rows keep their order, and on one worker bagging draws the
        # rows the in-memory fit draws. Memory is the same: LightGBM concatenates them anyway.
        workers = len(client.nthreads()) or 1
        frame = frame.repartition(npartitions=min(workers, frame.npartitions))
    X, y, w = frame[rows.columns], frame[LABEL], frame[WEIGHT]
    params = engine_params(spec.engine, "source", spec.params, spec.seed)
    rounds = int(params.pop("num_boost_round"))
    params.pop("early_stopping_rounds", None)  # no validation rows in a source fit
    model = GBM(spec.engine, role="source", params=spec.params, seed=spec.seed)
    if spec.engine == "lightgbm":
        import lightgbm as lgb

        params.pop("num_threads", None)  # LightGBM uses each worker's threads
        est = lgb.DaskLGBMRegressor(client=client, n_estimators=rounds, **params)
        # LightGBM prints "Finding random open ports for workers" on stdout, which is the
        # command line's output; its warnings go through `warnings` and are kept
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored")
            est.fit(X, y, sample_weight=w, categorical_feature=rows.categorical or "auto")
        model.booster_ = est.to_local().booster_
    else:
        from xgboost import dask as dxgb

        params.pop("nthread", None)  # XGBoost uses each worker's threads
        est = dxgb.DaskXGBRegressor(n_estimators=rounds, enable_categorical=True, **params)
        est.client = client  # a property: as a keyword it would land in the booster params
        est.fit(X, y, sample_weight=w, verbose=False)
        model.booster_ = est.get_booster()
    model.columns_ = list(rows.columns)
    model.categorical_ = list(rows.categorical)
    model.categories_ = {c: list(v) for c, v in rows.builder.categories.items()}
    model.origin_ = rows.origin
    return model


def forecast_with_source(
    strategy: Strategy | str,
    task: TransferTask,
    source_model: GBM,
    origin: Any = None,
) -> TransferForecaster:
    """Fit ``strategy`` on every target domain of ``task`` from a source model fitted by
    :func:`fit_source_dask`, and forecast its horizon.

    Returns a fitted :class:`TransferForecaster` (``predict()``, ``fitted_``, and
    :func:`transfercast.bundle.write_bundle` work as after ``fit``). ``origin`` defaults to
    the source model's; an earlier one is an error (the source model saw later data)."""
    strategy = check_strategy(strategy)
    categories = getattr(source_model, "categories_", None)
    if categories is None:
        raise ConfigError(
            "the source model has no category vocabularies: fit it with fit_source_dask"
        )
    spec, m = strategy.source_spec(), source_model
    if (spec.engine, spec.params, spec.seed) != (m.engine, m.params, m.seed):
        raise ConfigError(
            f"strategy '{strategy.name}' asks for another source model (engine, source_params "
            f"or seed) than the one given: fit it with the same parameters"
        )
    origin = source_model.origin_ if origin is None else pd.Timestamp(origin)
    if origin < source_model.origin_:
        raise DataError(
            f"origin {period_text(origin)} is before the source model's origin "
            f"{period_text(source_model.origin_)}: the source model saw data after it"
        )
    tables = OriginTables(task, task.at_origin(origin), task.features)
    b, cols = tables.builder, set(source_model.columns_)
    tables.builder = replace(
        b,
        categories=categories,
        known=[c for c in b.known if c in cols],
        static_numeric=[c for c in b.static_numeric if c in cols],
        static_categorical=[c for c in b.static_categorical if c in cols],
    )
    forecaster = TransferForecaster(strategy)
    forecaster.fitted_, forecaster.forecasts_ = {}, {}
    for domain in task.targets:
        fitted = transfer_to(strategy, source_model, tables, domain, None)
        forecaster.fitted_[domain] = fitted
        forecaster.forecasts_[domain] = tables.forecast(fitted, domain)
    forecaster.task_, forecaster.origin_, forecaster.tables_ = task, origin, tables
    forecaster.strategy_ = strategy
    warn_unknown_future(tables, task.source_name)  # as an in-memory fit warns
    warn_unseen_categories(tables, task.source_name)
    return forecaster


__all__ = [
    "SourceRows",
    "check_strategy",
    "fit_source_dask",
    "forecast_with_source",
    "source_rows_dask",
]
