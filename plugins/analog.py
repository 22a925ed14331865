"""``analog``: the like-for-like forecast a retail planner makes for a new store or product.

Each target series is forecast at its own recent level times the seasonal ratio its
counterparts in the source domains showed one season earlier: for the step ``h`` from anchor
``a``, the sources' sales at ``a - S + h`` over their recent level at ``a - S`` (``S`` the season
length), summed over the source series that share the target series' key outside the domain
(the same department in other stores, the same product in other markets). Where no source
series shares the key, every source series counts; where the sources saw no such period, the
forecast is the recent level; a series that sold nothing in its history is forecast at 0. A
step beyond one season reads the season before that, so that nothing after the origin is ever
read; data without a season use the horizon as ``S``.

It fits no model: the ratios are sums over the source panel cut at the origin, computed once
per origin and shared by every target domain (through the core's cache). A target without
history (pre-launch) gets the level the core's level model gives it.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

import transfercast
from transfercast.data import period_text
from transfercast.errors import DataError
from transfercast.features import FeatureTable, unsold_rows
from transfercast.strategy import Strategy, StrategyParams

SEP = "\x1f"  # joins the key values of a group into one label
ALL = "<all sources>"


class AnalogProfile:
    """Seasonal ratios of the source series by group, period and step.

    ``ratio[g, t, h - 1]`` is the group's summed sales at ``times[t] + h`` periods over its
    summed recent level at ``times[t]``; the last group, :data:`ALL`, pools every source series.
    """

    def __init__(
        self, groups: list[str], times: pd.DatetimeIndex, ratio: np.ndarray, freq: str, season: int
    ):
        self.groups, self.times, self.ratio = groups, times, ratio
        self.freq, self.season = freq, season

    @classmethod
    def from_tables(cls, tables: Any, key_columns: list[str]) -> AnalogProfile:
        """The profile of the origin's source series (``tables``: an ``OriginTables``), read
        only up to the origin."""
        data, builder = tables.data, tables.builder
        panel, src, origin = data.panel, np.asarray(data.source_rows), int(data.origin_idx)
        if not len(src):
            raise DataError("analog needs source series in memory; the task has none")
        H = int(tables.horizon)
        S = int(builder.season_length) if builder.season_length > 1 else H
        back = S * int(np.ceil(H / S))  # the farthest period a forecast from the origin reads
        t = np.arange(max(origin - back, 0), origin)
        i, a = (g.ravel() for g in np.meshgrid(src, t, indexing="ij"))
        level = builder.observed_level(panel, i, a).reshape(len(src), len(t))
        labels = _labels(panel.keys.iloc[src], key_columns)
        groups = sorted(set(labels))
        codes = pd.Index(groups).get_indexer(labels)
        onehot = sp.csr_matrix(
            (np.ones(len(src)), (codes, np.arange(len(src)))), shape=(len(groups), len(src))
        )
        ratio = np.full((len(groups) + 1, len(t), H), np.nan)
        for h in range(1, H + 1):
            ahead = t + h
            sales = np.full(level.shape, np.nan)
            ok_t = ahead <= origin  # never a period after the origin
            sales[:, ok_t] = panel.Y[np.ix_(src, ahead[ok_t])]
            ok = ~np.isnan(level) & ~np.isnan(sales)
            num, den = np.where(ok, sales, 0.0), np.where(ok, level, 0.0)
            g_num, g_den = onehot @ num, onehot @ den
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio[:-1, :, h - 1] = np.where(g_den > 0, g_num / g_den, np.nan)
                all_den = den.sum(axis=0)
                ratio[-1, :, h - 1] = np.where(all_den > 0, num.sum(axis=0) / all_den, np.nan)
        return cls([*groups, ALL], panel.times[t], ratio, panel.freq, S)

    def lookup(
        self, labels: np.ndarray, anchors: pd.DatetimeIndex, steps: np.ndarray
    ) -> np.ndarray:
        """The ratio for each (group label, anchor, step): the group's, else all sources', else
        1 (the recent level). Raises when an anchor needs periods past the profile's end."""
        seasons = np.ceil(steps / self.season).astype(int)
        t = np.full(len(steps), -1)
        end = len(self.times)  # the profile's origin, one period after its last anchor
        for k in np.unique(seasons):
            rows = seasons == k
            back = anchors[rows].shift(-int(k) * self.season, freq=self.freq)
            t[rows] = self.times.get_indexer(back)
            # an anchor past the profile, or a ratio that reads a period after its origin (never
            # computed: NaN there is not "no record")
            late = (back > self.times[-1]) | ((t[rows] >= 0) & (t[rows] + steps[rows] > end))
            if late.any():
                origin = self.times.shift(1, freq=self.freq)[-1]
                raise DataError(
                    f"analog's seasonal ratios were fitted at {period_text(origin)}; forecasting "
                    f"from {period_text(anchors[rows][late].max())} needs them later: fit it "
                    f"again there"
                )
        g = pd.Index(self.groups).get_indexer(labels)
        g = np.where(g < 0, len(self.groups) - 1, g)
        found = t >= 0
        out = np.full(len(steps), np.nan)
        t_f, h_f = t[found], steps[found] - 1
        out[found] = self.ratio[g[found], t_f, h_f]
        pooled = self.ratio[-1, t_f, h_f]
        out[found] = np.where(np.isnan(out[found]), pooled, out[found])
        return np.where(np.isfinite(out), out, 1.0)


def _labels(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One label per row: its values of ``columns`` joined (one shared label without any)."""
    if not columns:
        return np.full(len(frame), "", dtype=object)
    label = frame[columns[0]].astype(str)
    for col in columns[1:]:  # column-wise string sums, not a Python join per row
        label = label + SEP + frame[col].astype(str)
    return label.to_numpy(dtype=object)


class Analog(Strategy):
    """Like-for-like: the target's level times its counterparts' seasonal ratio in the sources."""

    name = "analog"
    Params = StrategyParams
    uses_source_rows = False  # reads the source panel itself, not the source feature rows
    always_direct = True  # a level times a ratio read from the sources' past, every step
    auto_default = False  # auto weighs it only when named (benchmarks/NOTES.md)

    def adapt(self, source_model: Any, target: FeatureTable) -> None:
        context = getattr(self, "context_", None)
        if context is None:
            raise DataError(
                "analog reads the source panel at the origin: fit it through the core "
                "(compare, run or TransferForecaster), not with transfer() alone"
            )
        tables, cache = context["tables"], context["cache"]
        self.key_columns_ = list(tables.builder.categorical_keys)
        build = lambda: AnalogProfile.from_tables(tables, self.key_columns_)  # noqa: E731
        self.profile_ = build() if cache is None else cache.shared(_key(tables), build)

    def predict(self, table: FeatureTable) -> np.ndarray:
        labels = _labels(table.X, self.key_columns_)
        anchors = pd.DatetimeIndex(table.keys["anchor"])
        ratio = self.profile_.lookup(labels, anchors, table.keys["h"].to_numpy(int))
        # a series that sold nothing in its history: its own level, 0, times any ratio
        return np.where(unsold_rows(table), 0.0, ratio)

    def save(self, directory: Path) -> dict[str, Any]:
        p = self.profile_
        np.savez(directory / "analog.npz", ratio=p.ratio, times=p.times.as_unit("ns").asi8)
        (directory / "analog.json").write_text(
            json.dumps(
                {"groups": p.groups, "freq": p.freq, "season": p.season, "keys": self.key_columns_}
            ),
            encoding="utf-8",
        )
        return {"ratios": "analog.npz", "profile": "analog.json"}

    @classmethod
    def load(cls, directory: Path, manifest: dict[str, Any]) -> Strategy:
        obj = cls(manifest["params"])
        from transfercast.bundle import read_bundle_file

        meta = json.loads(read_bundle_file(directory, manifest["profile"]))
        ratios = io.BytesIO(read_bundle_file(directory, manifest["ratios"]))
        with np.load(ratios, allow_pickle=False) as arrays:
            times = pd.DatetimeIndex(arrays["times"].astype("datetime64[ns]"))
            ratio = arrays["ratio"]
        obj.profile_ = AnalogProfile(meta["groups"], times, ratio, meta["freq"], meta["season"])
        obj.key_columns_ = meta["keys"]
        return obj


def _key(tables: Any) -> tuple[str, str]:
    """The cache key of an origin's profile: a hash of the source panel it reads."""
    data = tables.data
    h = hashlib.sha256()
    src = np.asarray(data.source_rows)
    h.update(src.tobytes())
    h.update(np.ascontiguousarray(data.panel.Y[src, : int(data.origin_idx) + 1]).tobytes())
    builder = tables.builder
    shape = (int(data.origin_idx), int(tables.horizon), builder.level_window, builder.season_length)
    h.update(repr((shape, list(builder.categorical_keys))).encode())
    return ("analog", h.hexdigest())


@transfercast.hookimpl
def transfercast_register_strategies(register) -> None:
    register(Analog)
