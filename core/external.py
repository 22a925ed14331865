"""Forecasts of another model scored beside a comparison's strategies.

A model of another library (mlforecast, statsforecast, a planner's spreadsheet), backtested at
the same origins as a :class:`~transfercast.evaluation.Comparison`, joins its leaderboard through
:meth:`~transfercast.evaluation.Comparison.add`: each cell (target domain and origin) is scored
on the same periods and actuals, with MASE scaled by the same history the task keeps at the
origin, so that its figures read like the strategies'.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from transfercast.data import DS, UID, in_task_zone, period_text, read_periods, whole_numbers_as_int
from transfercast.errors import ConfigError, DataError
from transfercast.intervals import qcol, quantile_columns, quantile_scores
from transfercast.metrics import METRICS, score

if TYPE_CHECKING:
    from transfercast.evaluation import Comparison

#: the columns a model's forecasts need beside the task's series key and time columns
NEEDED = ("origin", "forecast")


def _keyed(comp: Comparison, forecasts: pd.DataFrame, name: str) -> pd.DataFrame:
    """``forecasts`` with ``unique_id``, ``ds`` and ``origin`` as the comparison names them."""
    task = comp.task
    assert task is not None
    cols = [*task.series, task.time, *NEEDED]
    missing = [c for c in cols if c not in forecasts.columns]
    if missing:
        raise DataError(
            f"forecasts of '{name}': missing column '{missing[0]}' (they need the series key "
            f"columns, the time column, origin and forecast: {', '.join(cols)})"
        )
    keys = task.key_frame()
    text = {c: whole_numbers_as_int(keys[c]).astype(str) for c in task.series}
    ids = pd.Series(keys[UID].to_numpy(), index=pd.MultiIndex.from_frame(pd.DataFrame(text)))
    given = {c: whole_numbers_as_int(forecasts[c]).astype(str) for c in task.series}  # 1.0 is 1
    at = pd.MultiIndex.from_frame(pd.DataFrame(given))
    uid = ids.reindex(at).to_numpy()
    if pd.isna(uid).any():
        k = int(np.flatnonzero(pd.isna(uid))[0])
        raise DataError(f"forecasts of '{name}': no series {at[k]!r} in the task's data")
    where = f"forecasts of '{name}'"
    out = pd.DataFrame(
        {
            UID: uid,
            # both time columns on the data's clock: a naive time of a zoned task is local
            DS: read_periods(forecasts[task.time], task.time, where, task.freq, task.timezone),
            "origin": read_periods(forecasts["origin"], "origin", where, task.freq, task.timezone),
            "forecast": pd.to_numeric(forecasts["forecast"], errors="coerce").to_numpy(float),
        }
    )
    for col, shown in ((DS, task.time), ("origin", "origin")):
        _refuse_off_grid(out[col], task, where, shown)
    for col in _quantile_columns(forecasts, comp, where).values():  # scored as the strategies'
        out[col] = pd.to_numeric(forecasts[col], errors="coerce").to_numpy(float)
    return out


def _refuse_off_grid(times: pd.Series, task: Any, where: str, column: str) -> None:
    """Refuse a time within the data's periods that is not one of them (a week labelled by
    another weekday, a month by its other end, a time of day): it would match no period."""
    grid = task.panel.times
    inside = times[(times >= grid[0]) & (times <= grid[-1])]
    off = inside[grid.get_indexer(pd.DatetimeIndex(inside)) < 0]
    if len(off):
        raise DataError(
            f"{where}: column '{column}' holds {period_text(off.iloc[0])}, not on the "
            f"'{task.freq}' grid of the data ({len(off)} rows); label periods as the data do"
        )


def _quantile_columns(forecasts: pd.DataFrame, comp: Comparison, where: str) -> dict[float, str]:
    """The quantile columns of ``forecasts``, which must hold the levels the comparison scored
    (its ``sql``, ``wql`` and coverage average over them), written as its columns are."""
    given = quantile_columns(forecasts)
    for col in forecasts.columns:
        if isinstance(col, str) and col.startswith("q") and col not in given.values():
            try:
                tau = float(col[1:])
            except ValueError:
                continue
            if 0.0 < tau < 1.0:
                raise DataError(
                    f"{where}: column '{col}' is no quantile column: write level {tau:g} as "
                    f"'{qcol(tau)}'"
                )
    scored = quantile_columns(comp.forecasts)
    if given and set(given) != set(scored):
        theirs, ours = ", ".join(given.values()), ", ".join(scored.values())
        raise DataError(
            f"{where}: quantile columns {theirs} differ from the comparison's "
            f"({ours or 'none: it was run without quantiles'}); its interval scores average "
            f"over the same levels, so give exactly those, or no quantile column"
        )
    return given


def _check_quantiles(both: pd.DataFrame, levels: list[float], name: str) -> None:
    """Refuse a missing or non-finite quantile on a scored period (the rows of ``both``), and
    quantiles that cross (a lower level above a higher one): they would score on fewer
    periods, or give a negative interval width."""
    cols = [quantile_columns(both)[t] for t in levels]
    values = both[cols].to_numpy(float)
    bad = ~np.isfinite(values)
    crossed = np.zeros_like(bad)
    crossed[:, :-1] = (values[:, :-1] > values[:, 1:]) & ~bad.any(axis=1, keepdims=True)
    for flags in (bad, crossed):
        rows = flags.any(axis=1)
        if not rows.any():
            continue
        k = int(np.flatnonzero(rows)[0])
        j = int(np.flatnonzero(flags[k])[0])
        what = f"no finite {cols[j]}" if flags is bad else f"{cols[j]} above {cols[j + 1]}"
        row = both.iloc[k]
        raise DataError(
            f"forecasts of '{name}': {what} for series {row[UID]!r} at "
            f"{period_text(row[DS])} from the origin {period_text(row['origin'])} "
            f"({int(rows.sum())} of the {len(both)} periods it scored); give every level at "
            f"every period it scored, in increasing order"
        )


@in_task_zone("comp.task")
def add_forecasts(comp: Comparison, name: str, forecasts: pd.DataFrame) -> Comparison:
    """``comp`` with ``forecasts`` scored as strategy ``name`` (see
    :meth:`~transfercast.evaluation.Comparison.add`)."""
    from dataclasses import replace

    if comp.task is None:
        raise ConfigError("Comparison.add needs the comparison's task (compare() keeps it)")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"Comparison.add: name the model with text, not {name!r}")
    if name == "auto":  # regret.csv and the report read it as transfercast's selection
        raise ConfigError(
            "Comparison.add: the name 'auto' is kept for transfercast's selection (regret.csv "
            "reads it); name the model after its library"
        )
    if name in set(comp.scores["strategy"]):
        raise ConfigError(f"Comparison.add: the comparison already has a strategy '{name}'")
    task, theirs = comp.task, _keyed(comp, forecasts, name)
    if theirs[[UID, DS, "origin"]].duplicated().any():
        row = theirs[theirs[[UID, DS, "origin"]].duplicated()].iloc[0]
        raise DataError(
            f"forecasts of '{name}': series {row[UID]!r} at {period_text(row[DS])} is forecast "
            f"twice from the origin {period_text(row['origin'])}"
        )
    cells = comp.forecasts[["origin", UID, DS, "actual"]].drop_duplicates([UID, DS, "origin"])
    both = cells.merge(theirs, on=[UID, DS, "origin"], how="left")
    both = both[both["forecast"].notna() | both["actual"].notna()].reset_index(drop=True)
    on = both[both["actual"].notna()]  # a period without an actual is optional, not checked
    lost = ~np.isfinite(on["forecast"].to_numpy(float))  # missing, NaN or infinite
    if lost.any():
        row = on[lost].iloc[0]
        raise DataError(
            f"forecasts of '{name}': no finite forecast of series {row[UID]!r} at "
            f"{period_text(row[DS])} from the origin {period_text(row['origin'])} "
            f"({int(lost.sum())} of the {len(on)} periods it scored); give every period it "
            f"scored"
        )
    levels = sorted(quantile_columns(theirs))
    _check_quantiles(on, levels, name)
    domain = pd.Series(task.panel.domains, index=task.panel.ids)
    both["target"] = domain.reindex(both[UID]).to_numpy()
    rows = []
    for origin, at_origin in both.groupby("origin", sort=True):
        with warnings.catch_warnings():  # the comparison said them already
            warnings.simplefilter("ignore")
            data = task.at_origin(pd.Timestamp(origin), absent="skip")
        for target, cell in at_origin.groupby("target", sort=False):
            key = next(t for t in data.target_rows if str(t) == str(target))
            history = data.panel.history_frame(data.target_rows[key], data.origin_idx)
            row: dict[str, Any] = {"target": key, "strategy": name, "origin": origin}
            row.update(score(cell, history, METRICS))
            if levels:
                row.update(quantile_scores(cell, history, levels))
            row.update(fit_seconds=np.nan, predict_seconds=np.nan, status="ok", error="")
            rows.append(row)
    scores = pd.concat([comp.scores, pd.DataFrame(rows)], ignore_index=True)
    added = both.drop(columns="target").assign(strategy=name)
    added = added.reindex(columns=comp.forecasts.columns)  # no quantiles: NaN
    forecasts_all = pd.concat([comp.forecasts, added], ignore_index=True)
    return replace(comp, scores=scores, forecasts=forecasts_all)
