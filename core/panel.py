"""The panel: every series on one regular time grid, as arrays.

Feature building reads histories by position, so the long table is pivoted once into a
``[series, period]`` matrix; cutting at an origin is a masked copy of that matrix. This is the
representation behind :class:`transfercast.TransferTask`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from transfercast.data import DOMAIN, DS, UID, Y


def filled_totals(Y: np.ndarray) -> np.ndarray:
    """Per column (period) of ``Y`` (series by period), the total over the series, NaN where
    none is observed. A series open then (between its first and last observed period) but
    missing (a gap) is not read as a sale of 0: the observed series' total is scaled up by the
    share of the open series' mean levels that they hold."""
    seen = ~np.isnan(Y)
    t = np.arange(Y.shape[1])
    first = np.where(seen.any(axis=1), seen.argmax(axis=1), Y.shape[1])
    last = Y.shape[1] - 1 - seen[:, ::-1].argmax(axis=1)
    open_ = (t >= first[:, None]) & (t <= last[:, None])
    with warnings.catch_warnings():  # a series never observed: no level, no share
        warnings.simplefilter("ignore", RuntimeWarning)
        level = np.nan_to_num(np.nanmean(np.abs(Y), axis=1))
    held, share = seen.T @ level, open_.T @ level
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(held > 0, share / held, 1.0)
    return np.where(seen.any(axis=0), np.nansum(Y, axis=0) * scale, np.nan)


@dataclass
class Panel:
    """Series on a regular grid: ``Y[i, t]`` is the target of series ``i`` at ``times[t]``."""

    ids: np.ndarray
    domains: np.ndarray
    keys: pd.DataFrame
    times: pd.DatetimeIndex
    Y: np.ndarray
    known: dict[str, np.ndarray] = field(default_factory=dict)
    static: pd.DataFrame = field(default_factory=pd.DataFrame)
    freq: str = "W-FRI"
    #: each series' first period with a row in the data (a sale or a planned row), by position
    start: np.ndarray | None = None

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        series: list[str],
        static: list[str],
        known: list[str],
        freq: str,
        extend: int = 0,
    ) -> Panel:
        """Pivot a standardised long frame; the grid runs ``extend`` periods past the data."""
        times = pd.date_range(frame[DS].min(), frame[DS].max(), freq=freq)
        if extend:
            times = pd.date_range(times[0], periods=len(times) + extend, freq=freq)
        codes, ids = pd.factorize(frame[UID], sort=True)
        t_idx = times.get_indexer(frame[DS])
        if (t_idx < 0).any():  # standardize refuses such rows: never write one into the last period
            raise ValueError(f"periods off the '{freq}' grid: {frame[DS][t_idx < 0].iloc[0]}")
        n, T = len(ids), len(times)
        Ymat = np.full((n, T), np.nan)
        Ymat[codes, t_idx] = frame[Y].to_numpy(float)
        known_arrays = {}
        for col in known:
            arr = np.full((n, T), np.nan)
            arr[codes, t_idx] = frame[col].to_numpy(float)
            known_arrays[col] = arr
        start = np.full(n, T, dtype=np.int64)
        np.minimum.at(start, codes, t_idx)
        first = frame.groupby(codes, sort=True).head(1)
        key_cols = list(dict.fromkeys([*series, *static]))
        per_series = first[list(dict.fromkeys([*key_cols, DOMAIN]))].reset_index(drop=True)
        return cls(
            ids=np.asarray(ids, dtype=object),
            domains=per_series[DOMAIN].to_numpy(object),
            keys=per_series[list(series)],
            times=times,
            Y=Ymat,
            known=known_arrays,
            static=per_series[list(static)],
            freq=freq,
            start=start,
        )

    @property
    def n_series(self) -> int:
        return len(self.ids)

    def existing(self, end: int) -> np.ndarray:
        """Whether each series has a row in the data at or before position ``end``: a series
        whose first row lies after it does not exist yet there."""
        if self.start is None:
            return np.ones(self.n_series, dtype=bool)
        return self.start <= end

    def opened(self, rows: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Whether each series of ``rows`` has its first row at or before the period at the
        same place of ``positions`` (broadcast alike): before it, the series is not open."""
        rows, positions = np.asarray(rows), np.asarray(positions)
        if self.start is None:
            return np.ones(np.broadcast(rows, positions).shape, dtype=bool)
        return self.start[rows] <= positions

    def index_of(self, when: pd.Timestamp) -> int:
        """The grid position of a period; ``-1`` when it is not on the grid."""
        return int(self.times.get_indexer([pd.Timestamp(when)])[0])

    def cut(
        self,
        origin: int,
        horizon: int,
        *,
        target_mask: np.ndarray | None = None,
        target_history: int | None = None,
    ) -> Panel:
        """A copy that ends at ``origin``: targets after it are missing, known covariates after
        ``origin + horizon`` are missing, and (optionally) target series keep only their last
        ``target_history`` periods, of sales and known covariates alike (a store that young has
        no prices from before it opened). This is the only place where data is cut at an
        origin."""
        Ycut = self.Y.copy()
        Ycut[:, origin + 1 :] = np.nan
        before = None
        if target_history is not None and target_mask is not None:
            before = np.ix_(target_mask, np.arange(max(origin + 1 - target_history, 0)))
            Ycut[before] = np.nan
        known = {}
        for col, arr in self.known.items():
            arr = arr.copy()
            arr[:, origin + horizon + 1 :] = np.nan
            if before is not None:
                arr[before] = np.nan
            known[col] = arr
        return replace(self, Y=Ycut, known=known)

    def history_frame(self, rows: np.ndarray, end: int) -> pd.DataFrame:
        """Each series of ``rows`` on the grid from its first observed period to ``end``
        (``unique_id``, ``ds``, ``y``), a missing period as NaN: the history that scales its
        errors, with a gap kept where the data have one."""
        rows = np.asarray(rows)
        sub = self.Y[rows, : end + 1]
        seen = ~np.isnan(sub)
        first = np.where(seen.any(axis=1), seen.argmax(axis=1), sub.shape[1])
        i, t = np.nonzero(np.arange(sub.shape[1])[None, :] >= first[:, None])
        return pd.DataFrame({UID: self.ids[rows][i], DS: self.times[t], Y: sub[i, t]})

    def totals(self, rows: np.ndarray, end: int) -> pd.Series:
        """The total of ``rows`` per period up to ``end`` (indexed by period), over the periods
        any of them is observed; a gap is a missing value, not a sale of 0
        (:func:`filled_totals`)."""
        total = filled_totals(self.Y[np.asarray(rows), : end + 1])
        keep = ~np.isnan(total)
        return pd.Series(total[keep], index=self.times[: end + 1][keep])

    def horizon_frame(self, rows: np.ndarray, origin_idx: int, horizon: int) -> pd.DataFrame:
        """The values of ``rows`` over the ``horizon`` periods after ``origin_idx`` that the
        panel holds (``unique_id``, ``ds``, ``actual``; NaN where unobserved): the actuals a
        forecast made there is scored against."""
        t = np.arange(origin_idx + 1, min(origin_idx + 1 + horizon, len(self.times)))
        i, tt = (g.ravel() for g in np.meshgrid(rows, t, indexing="ij"))
        return pd.DataFrame({UID: self.ids[i], DS: self.times[tt], "actual": self.Y[i, tt]})

    def to_frame(self, rows: np.ndarray | None = None) -> pd.DataFrame:
        """The observed values as a long frame (``unique_id``, ``ds``, ``y``, ``domain``)."""
        rows = np.arange(self.n_series) if rows is None else np.asarray(rows)
        sub = self.Y[rows]
        i, t = np.nonzero(~np.isnan(sub))
        frame = pd.DataFrame(
            {
                UID: self.ids[rows][i],
                DS: self.times[t],
                Y: sub[i, t],
                DOMAIN: self.domains[rows][i],
            }
        )
        for col, arr in self.known.items():
            frame[col] = arr[rows][i, t]
        return frame
