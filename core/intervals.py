"""Quantile forecasts for cold-start targets, calibrated on source replays, and their scores.

A new target has no past forecasts of its own to learn its errors from. The source replays
(:mod:`transfercast.replay`) do: each replayed source domain was forecast as if it were new, at
the same history length and horizon, so its errors show how wrong a cold-start forecast of
this kind tends to be. :func:`calibrate` turns those errors into per-step quantiles of the
*scaled* error ``(actual - forecast) / scale``; :meth:`Calibration.apply` adds them, times
each row's scale, to a target's point forecast. Quantiles are sorted per row, so they never
cross.

**Scale.** ``scale = level x (volatility / typical volatility) ** gamma``: ``level`` is the
series' recent level at the origin (the scale every strategy forecasts on), ``volatility`` its
mean absolute period-on-period change over the history it had, relative to its level
(:func:`history_volatility`). ``gamma = 0`` gives relative errors (one calibration for series
of every size); ``gamma = 1`` gives errors in units of the series' own volatility (a calm
series gets a narrow interval, an erratic one a wide one). :func:`learn_gamma` picks gamma on
the replays themselves: calibrated on half of the replayed domains, which gamma gives the
lowest pinball loss on the other half, and the other way round.

:func:`quantile_scores` scores quantile forecasts: pinball loss per level, the scaled quantile
loss (SQL, as fev-bench defines it: twice the mean pinball loss over levels and steps, over the
series' in-sample naive mean absolute error, averaged over series; by default the one-step
naive error that scales MASE, so that SQL of a median equal to the point forecast is its MASE
whatever the history's length), the weighted quantile loss, and the coverage, relative width
and Winkler score of each central interval.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from transfercast.errors import ConfigError

#: fewest replayed errors per (strategy, step) before neighbouring steps are pooled in
MIN_SAMPLES = 50
#: the exponents of the volatility scale :func:`learn_gamma` chooses among
GAMMAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def qcol(tau: float) -> str:
    """The forecasts column of quantile level ``tau``: ``q0.1``, ``q0.025``, ``q0.5``."""
    return f"q{float(tau):g}"


def quantile_columns(frame: pd.DataFrame) -> dict[float, str]:
    """The quantile columns of a forecasts frame (named by :func:`qcol`,
    ``q0.1``, ``q0.9``), by level."""
    found = {}
    for col in frame.columns:
        if not (isinstance(col, str) and col.startswith("q")):
            continue
        try:
            tau = float(col[1:])
        except ValueError:
            continue
        if 0.0 < tau < 1.0 and qcol(tau) == col:
            found[tau] = col
    return dict(sorted(found.items()))


class QuantileError(ConfigError, ValueError):
    """A quantile level that is not a number strictly between 0 and 1: a
    :class:`~transfercast.errors.ConfigError`, and a ``ValueError`` for pydantic's validators."""


def check_quantiles(quantiles: Sequence[float] | float | None) -> list[float]:
    """Sorted, distinct quantile levels strictly between 0 and 1; a :class:`QuantileError`
    names a bad one.

    ``quantiles`` is a sequence of levels, or one level (``0.9`` is ``[0.9]``); ``None`` is
    none."""
    if quantiles is None:
        return []
    if isinstance(quantiles, (str, bytes)):
        raise QuantileError(
            f"quantiles {quantiles!r}: give the levels as numbers (a list such as "
            f"[0.1, 0.9], or one number), not a string"
        )
    if not isinstance(quantiles, Iterable) or getattr(quantiles, "ndim", None) == 0:
        quantiles = [quantiles]  # one level
    out = []
    for q in quantiles:
        try:
            q = float(q)
        except (TypeError, ValueError):
            raise QuantileError(f"quantile {q!r} is not a number between 0 and 1") from None
        if not 0.0 < q < 1.0 or math.isnan(q):
            hint = f" (levels are fractions: {q / 100:g} for {q:g} %)" if 1 < q < 100 else ""
            raise QuantileError(f"quantile {q!r} is not strictly between 0 and 1{hint}")
        out.append(q)
    out = sorted(set(out))
    for a, b in zip(out, out[1:], strict=False):
        if qcol(a) == qcol(b):
            raise QuantileError(
                f"quantiles {a!r} and {b!r} both make the column {qcol(a)}: give levels that "
                f"differ in their first six significant digits"
            )
    return out


def errors_needed(tau: float) -> int:
    """The fewest errors whose conformal ``tau`` quantile is not simply the most extreme one:
    ``ceil((n + 1) tau) <= n`` (39 for 0.975 and 0.025, 9 for 0.9 and 0.1)."""
    t = max(tau, 1 - tau)
    return math.ceil(t / (1 - t) - 1e-9)


def central_intervals(quantiles: Sequence[float]) -> list[tuple[float, float, str]]:
    """The symmetric pairs ``(lo, hi, nominal %)`` among ``quantiles``: 0.1/0.9 -> ``"80"``,
    0.0025/0.9975 -> ``"99.5"`` (the label of the ``coverage_<p>`` columns)."""
    qs = check_quantiles(quantiles)
    pairs = []
    for lo in qs:
        hi = round(1.0 - lo, 10)
        if lo < 0.5 and any(abs(hi - q) < 1e-9 for q in qs):
            pairs.append((lo, hi, f"{round((hi - lo) * 100, 4):g}"))
    return pairs


def conformal_quantile(errors: np.ndarray, tau: float) -> float:
    """The ``tau`` quantile of ``errors`` with the split-conformal finite-sample correction
    (level ``ceil((n + 1) tau) / n`` above the median, ``floor((n + 1) tau) / n`` below), so
    that the interval's coverage is at least nominal for exchangeable errors when there are
    enough of them (:func:`errors_needed`); with fewer, the most extreme error stands in and
    the coverage of the interval it bounds is about ``(n - 1) / (n + 1)`` at most."""
    e = np.sort(errors[np.isfinite(errors)])
    n = len(e)
    if n == 0:
        return float("nan")
    if tau >= 0.5:
        k = min(math.ceil((n + 1) * tau), n)
    else:
        k = max(math.floor((n + 1) * tau), 1)
    return float(e[k - 1])


@dataclass(frozen=True)
class Scale:
    """The scale of a row's error: ``level x (max(volatility, floor) / typical) ** gamma``; a
    row without a volatility counts as typical. ``Scale()`` is the level alone."""

    gamma: float = 0.0
    floor: float = 0.0
    typical: float = 1.0

    def of(self, level: Any, volatility: Any = None) -> np.ndarray:
        """The scale of each row."""
        level = np.abs(np.asarray(level, dtype=float))
        if self.gamma == 0.0 or volatility is None:
            return level
        v = np.maximum(np.asarray(volatility, dtype=float), self.floor)
        v = np.where(np.isfinite(v) & (v > 0), v, self.typical)
        return level * (v / self.typical) ** self.gamma

    def to_json(self) -> list[float]:
        return [self.gamma, self.floor, self.typical]


def history_volatility(
    Y: np.ndarray, rows: np.ndarray, cuts: np.ndarray, periods: int, level: np.ndarray
) -> np.ndarray:
    """Per row: the mean absolute change between consecutive observed values of series
    ``rows`` (rows of the panel matrix ``Y``) over the ``periods`` periods up to and including
    panel position ``cuts``, over ``level``; NaN with fewer than two observed values."""
    rows, cuts = np.asarray(rows, dtype=int), np.asarray(cuts, dtype=int)
    out = np.full(len(rows), np.nan)
    valid = (rows >= 0) & (cuts >= 0)
    width = Y.shape[1] + 1
    keys, where = np.unique(rows[valid] * width + cuts[valid], return_inverse=True)
    # one window of ``periods`` positions per distinct (row, cut); positions before the panel
    # read as unobserved
    pos = (keys % width)[:, None] + np.arange(1 - periods, 1)[None, :]
    window = np.where(pos >= 0, Y[(keys // width)[:, None], np.maximum(pos, 0)], np.nan)
    # each observed value against the last observed one before it
    before = pd.DataFrame(window).ffill(axis=1).to_numpy()[:, :-1]
    step = np.abs(window[:, 1:] - before)
    counted = ~np.isnan(step)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_pair = np.where(counted, step, 0.0).sum(axis=1) / counted.sum(axis=1)
    out[valid] = per_pair[where.ravel()]
    with np.errstate(invalid="ignore", divide="ignore"):
        return out / np.abs(np.asarray(level, dtype=float))


@dataclass
class Calibration:
    """Scaled-error quantiles per strategy and horizon step, learnt from source replays.

    ``table[strategy]`` is a ``[steps, len(quantiles)]`` array: row ``h - 1`` holds the
    quantiles of ``(actual - forecast) / scale`` at step ``h``. ``samples[strategy][h - 1]``
    counts the replayed errors behind each row (after pooling neighbouring steps).
    ``volatility[strategy]`` is ``(gamma, floor, typical)`` of the scale (:class:`Scale`).
    ``center[strategy]`` holds each step's median scaled error, about which :meth:`widen`
    scales the quantiles.
    """

    quantiles: list[float]
    table: dict[str, np.ndarray] = field(default_factory=dict)
    samples: dict[str, list[int]] = field(default_factory=dict)
    volatility: dict[str, Scale] = field(default_factory=dict)
    center: dict[str, np.ndarray] = field(default_factory=dict)

    def widen(self, strategy: str, factor: float) -> None:
        """Scale ``strategy``'s quantiles' distances from each step's median scaled error by
        ``factor``: the spread grows or shrinks, the median stays (scaling the quantiles
        themselves would move a median below the forecast further below it)."""
        tab = self.table[strategy]  # (no center, uncalibrated or written by hand: about 0)
        mid = self.center.get(strategy, np.zeros(len(tab)))[:, None]
        self.table[strategy] = mid + factor * (tab - mid)

    def apply(
        self,
        forecasts: pd.DataFrame,
        strategy: str,
        level: np.ndarray,
        step: np.ndarray,
        floor: float | None = None,
        volatility: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """``forecasts`` with one column per quantile level added.

        ``level``, ``step`` and ``volatility`` are aligned with the rows of ``forecasts``
        (each row's recent level at the origin, its horizon step and its series' volatility,
        :func:`history_volatility`; without it every series counts as typical); ``floor``
        (e.g. 0 for sales that are never negative) bounds the quantiles from below. Raises
        KeyError naming the strategy when it was not calibrated."""
        if strategy not in self.table:
            raise KeyError(
                f"no replay calibration for strategy '{strategy}' "
                f"(calibrated: {', '.join(sorted(self.table)) or 'none'})"
            )
        tab = self.table[strategy]
        h = np.clip(np.asarray(step, dtype=int), 1, len(tab)) - 1
        point = forecasts["forecast"].to_numpy(float)
        scale = self.volatility.get(strategy, Scale()).of(level, volatility)
        q = point[:, None] + scale[:, None] * tab[h]
        if floor is not None:
            q = np.maximum(q, floor)
        q = np.sort(q, axis=1)  # never crossing, even after the floor
        out = forecasts.copy()
        for k, tau in enumerate(self.quantiles):
            out[qcol(tau)] = q[:, k]
        return out

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (model bundles store it beside the model files)."""
        return {
            "quantiles": self.quantiles,
            "table": {k: v.tolist() for k, v in self.table.items()},
            "samples": self.samples,
            "volatility": {k: v.to_json() for k, v in self.volatility.items()},
        }

    @classmethod
    def from_json(cls, blob: Mapping[str, Any]) -> Calibration:
        """The calibration :meth:`to_json` wrote."""
        return cls(
            quantiles=[float(q) for q in blob["quantiles"]],
            table={k: np.asarray(v, dtype=float) for k, v in blob["table"].items()},
            samples={k: [int(n) for n in v] for k, v in blob.get("samples", {}).items()},
            volatility={k: Scale(*v) for k, v in blob.get("volatility", {}).items()},
        )


def scaled_errors(detail: pd.DataFrame, scale: Scale | None = None) -> pd.Series:
    """``(actual - forecast) / scale`` of each row (``scale`` of its ``level`` and, if the
    frame has one, ``volatility``; by default the level alone); NaN without an actual or a
    scale."""
    scale = scale or Scale()
    vol = detail["volatility"].to_numpy(float) if "volatility" in detail else None
    with np.errstate(invalid="ignore", divide="ignore"):
        err = (detail["actual"] - detail["forecast"]) / scale.of(detail["level"], vol)
    return err.replace([np.inf, -np.inf], np.nan)


def blend_detail(detail: pd.DataFrame, weights: Mapping[str, float], name: str) -> pd.DataFrame:
    """The replayed rows of a weighted blend of candidates (as ``auto`` forecasts), named
    ``name``: the blend's forecast is the weighted sum of the candidates' forecasts of the same
    replayed series, cut and step."""
    keys = [c for c in detail.columns if c not in ("candidate", "forecast")]
    parts = []
    for cand, w in weights.items():
        if w <= 0:
            continue
        part = detail[detail["candidate"] == cand].copy()
        part["forecast"] = part["forecast"] * w
        parts.append(part)
    if not parts:
        raise ValueError("blend_detail: no candidate with a positive weight")
    both = pd.concat(parts, ignore_index=True)
    out = both.groupby(keys, as_index=False, dropna=False)["forecast"].sum()
    out["candidate"] = name
    return out


def _step_table(
    err: np.ndarray, step: np.ndarray, qs: list[float], horizon: int, min_samples: int
) -> tuple[np.ndarray, list[int]]:
    """Per step, the conformal quantiles of ``err`` (neighbouring steps pooled while a step
    holds fewer than ``min_samples`` finite errors) and the errors behind each row."""
    by_step = [err[(step == h) & np.isfinite(err)] for h in range(1, horizon + 1)]
    tab = np.full((horizon, len(qs)), np.nan)
    counts = []
    for h in range(horizon):
        width, pool = 0, by_step[h]
        while len(pool) < min_samples and width < horizon:
            width += 1
            lo, hi = max(h - width, 0), min(h + width, horizon - 1)
            pool = np.concatenate(by_step[lo : hi + 1])
        counts.append(len(pool))
        tab[h] = [conformal_quantile(pool, tau) for tau in qs]
    return np.sort(tab, axis=1), counts


def learn_gamma(
    detail: pd.DataFrame,
    quantiles: Sequence[float],
    horizon: int,
    min_samples: int = MIN_SAMPLES,
    gammas: Sequence[float] = GAMMAS,
) -> Scale:
    """The volatility scale (:class:`Scale`) whose quantiles, calibrated on half of the
    replayed domains, give the lowest total pinball loss on the other half (both ways round;
    ties go to the smaller gamma). ``Scale()`` without a ``volatility`` and ``domain`` column,
    or with fewer than two domains."""
    if "volatility" not in detail or "domain" not in detail:
        return Scale()
    v = detail["volatility"].to_numpy(float)
    ok = np.isfinite(v) & (v > 0)
    domains = np.array(sorted(pd.unique(detail["domain"].astype(str))), dtype=object)
    if ok.sum() < 2 or len(domains) < 2:
        return Scale()
    floor, typical = float(np.quantile(v[ok], 0.05)), float(np.median(v[ok]))
    np.random.default_rng(0).shuffle(domains)
    first = detail["domain"].astype(str).isin(set(domains[::2])).to_numpy()
    qs = check_quantiles(quantiles)
    y, f = detail["actual"].to_numpy(float), detail["forecast"].to_numpy(float)
    step, level = detail["step"].to_numpy(int), detail["level"].to_numpy(float)
    best, best_loss = Scale(), np.inf
    for g in gammas:
        scale = Scale(float(g), floor, typical)
        s, err = scale.of(level, v), scaled_errors(detail, scale).to_numpy(float)
        loss = 0.0
        for fit in (first, ~first):
            tab, _ = _step_table(err[fit], step[fit], qs, horizon, min_samples)
            test = ~fit & np.isfinite(y)
            h = np.clip(step[test], 1, horizon) - 1
            q = f[test, None] + s[test, None] * tab[h]
            loss += float(np.nansum([pinball(y[test], q[:, k], t) for k, t in enumerate(qs)]))
        if loss < best_loss:
            best, best_loss = scale, loss
    return best


def calibrate(
    detail: pd.DataFrame,
    quantiles: Sequence[float],
    horizon: int,
    min_samples: int = MIN_SAMPLES,
) -> Calibration:
    """Scaled-error quantiles per candidate and step from a replay detail frame (columns
    ``candidate``, ``step``, ``forecast``, ``actual``, ``level``; with ``domain`` and
    ``volatility`` the scale's gamma is learnt, :func:`learn_gamma`, else it is 0).

    A step with fewer than ``min_samples`` finite errors borrows those of the nearest steps
    (one on each side, then two, ...) until it has enough or the whole horizon is pooled."""
    qs = check_quantiles(quantiles)
    cal = Calibration(qs)
    for cand, rows in detail.groupby("candidate", sort=True):
        scale = learn_gamma(rows, qs, horizon, min_samples)
        err = scaled_errors(rows, scale).to_numpy(float)
        levels = sorted({*qs, 0.5})  # the median too, in one pass over the steps
        tab, counts = _step_table(err, rows["step"].to_numpy(int), levels, horizon, min_samples)
        cal.table[str(cand)] = tab[:, [levels.index(q) for q in qs]]
        cal.samples[str(cand)], cal.center[str(cand)] = counts, tab[:, levels.index(0.5)]
        cal.volatility[str(cand)] = scale
    return cal


# -- scores -----------------------------------------------------------------------------------
def pinball(actual: np.ndarray, q: np.ndarray, tau: float) -> np.ndarray:
    """The pinball (quantile) loss of forecast ``q`` at level ``tau`` for each row."""
    d = actual - q
    return np.maximum(tau * d, (tau - 1.0) * d)


def seasonal_error(history: pd.DataFrame, season: int) -> pd.Series:
    """Each series' in-sample mean absolute ``season``-period difference (its seasonal-naive
    error), falling back to the one-period difference where the history is shorter than
    ``season + 1`` periods; ``history`` has ``unique_id``, ``ds``, ``y``."""
    out = {}
    for uid, g in history.sort_values("ds").groupby("unique_id"):
        y = g["y"].to_numpy(float)  # on the grid: a missing period is NaN
        m = season if len(y) > season else 1
        d = np.abs(y[m:] - y[:-m])
        d = d[np.isfinite(d)]
        out[uid] = float(np.mean(d)) if len(d) else float("nan")
    return pd.Series(out, dtype=float)


def quantile_scores(
    forecasts: pd.DataFrame,
    history: pd.DataFrame,
    quantiles: Sequence[float],
    season: int = 1,
) -> dict[str, float]:
    """Quantile scores of one target domain's forecasts (``unique_id``, ``actual`` and one
    ``q...`` column per level): ``sql`` (scaled by the ``season``-period naive error, see
    :func:`seasonal_error`), ``wql``, ``pinball_q<level>`` (mean pinball loss over
    the mean absolute actual) and, per central interval of nominal ``p`` %, ``coverage_<p>``
    (share of actuals inside), ``width_<p>`` (mean width over the mean absolute actual) and
    ``winkler_<p>`` (the Winkler interval score over the mean absolute actual). Rows without
    quantiles (NaN: nothing calibrated them) make every score NaN, the coverage too, not a
    miss."""
    qs = check_quantiles(quantiles)
    df = forecasts.dropna(subset=["actual"])
    out: dict[str, float] = {}
    if df.empty:
        return out
    y = df["actual"].to_numpy(float)
    scale = float(np.mean(np.abs(y))) or float("nan")
    losses = np.stack([pinball(y, df[qcol(t)].to_numpy(float), t) for t in qs], axis=1)
    for k, tau in enumerate(qs):
        out[f"pinball_{qcol(tau)}"] = float(losses[:, k].mean() / scale)
    total = float(np.abs(y).sum())  # 0 where nothing sold over the horizon: no wql
    out["wql"] = float(2 * losses.sum() / (len(qs) * total)) if total else float("nan")
    per_series = pd.Series(2 * losses.mean(axis=1), index=df["unique_id"].to_numpy())
    per_series = per_series.groupby(level=0).mean()
    denom = seasonal_error(history, season).reindex(per_series.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (per_series / denom).replace([np.inf, -np.inf], np.nan)
    scored = ratio.notna().any() and np.isfinite(losses).all()  # a missing quantile: no SQL
    out["sql"] = float(ratio.mean()) if scored else float("nan")
    for lo, hi, pct in central_intervals(qs):
        lq, hq = df[qcol(lo)].to_numpy(float), df[qcol(hi)].to_numpy(float)
        alpha = lo + (1 - hi)
        inside = (y >= lq) & (y <= hq)
        width = hq - lq
        penalty = (2 / alpha) * (np.maximum(lq - y, 0) + np.maximum(y - hq, 0))
        known = bool(np.isfinite(lq).all() and np.isfinite(hq).all())  # else no coverage
        out[f"coverage_{pct}"] = float(inside.mean()) if known else float("nan")
        out[f"width_{pct}"] = float(width.mean() / scale)
        out[f"winkler_{pct}"] = float((width + penalty).mean() / scale)
    return out
