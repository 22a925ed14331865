"""Speed and memory: the toolkit against hand-written LightGBM scripts doing the same work.

1. **Overhead ratio.** For ``target_only``, ``source_only`` and ``pooled``, the toolkit's
   end-to-end time (validate the long table, cut at the origin, build features, fit, forecast
   every target series) against a hand-written script that does the same work with pandas,
   numpy and ``lightgbm.train``: same rows, same features, same parameters. The two forecasts
   are checked to agree, so the work really is the same. Both are timed in the same run (best of
   ``--repeat``). The twin has no young-source rows, so ``toolkit_s`` runs with
   ``[features] young_sources = false``; ``defaults_s`` is the same run with the defaults. The
   other strategies have no hand-written twin; their times are printed next to the others'.
2. **Source-model reuse**: a comparison of every strategy fits one source model per distinct
   source spec and origin (``Comparison.source_fits``), not one per strategy and target.
3. **Peak memory**: ``tracemalloc`` peak (Python and numpy allocations) per strategy, and the
   process's peak resident set size.
4. **Scaling**: time against the number of target domains (10, 100, 1000 synthetic domains of
   2 series each, one origin); ``pooled`` (one model on the sources and all targets) stops at 100.

    python benchmarks/speed.py            # ~5 min on 2 cores
    python benchmarks/speed.py --quick    # smaller data, no 1000-domain point
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc
import warnings
from pathlib import Path

os.environ.setdefault("TRANSFERCAST_THREADS", "1")

import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import transfercast as tc  # noqa: E402
from transfercast.config import FeaturesConfig, parse_config  # noqa: E402
from transfercast.datasets import synthetic_config, synthetic_sales  # noqa: E402
from transfercast.engines import engine_params  # noqa: E402
from transfercast.frequency import resolve_features  # noqa: E402

HERE = Path(__file__).resolve().parent
HORIZON = 13
HISTORY = 26
HANDWRITTEN = ("target_only", "source_only", "pooled")


def make_frame(n_domains: int, series: int, n_targets: int, seed: int = 0) -> pd.DataFrame:
    """Synthetic weekly sales: ``n_targets`` new domains with 52 weeks, the others 3 years."""
    return synthetic_sales(
        n_domains=n_domains,
        series_per_domain=series,
        n_periods=157,
        n_targets=n_targets,
        target_periods=52,
        seed=seed,
    )


def make_task(frame: pd.DataFrame, young_sources: bool = True) -> tc.TransferTask:
    raw = synthetic_config(
        "unused.csv", frame.attrs["targets"], horizon=HORIZON, target_history=HISTORY
    )
    raw["features"] = {"young_sources": young_sources}
    return tc.TransferTask.from_config(parse_config(raw), data=frame)


def origin_of(frame: pd.DataFrame) -> pd.Timestamp:
    """One backtest origin: a full horizon before the end of the data."""
    return pd.Timestamp(frame["date"].max()) - pd.Timedelta(weeks=HORIZON)


def toolkit(frame: pd.DataFrame, name: str, young_sources: bool = True) -> pd.DataFrame:
    """The toolkit end to end: validate, cut, features, fit, forecast every target series."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task = make_task(frame, young_sources)
        model = tc.TransferForecaster(name).fit(task, origin_of(frame))
    out = pd.concat(model.forecasts_.values(), ignore_index=True)
    return out[["unique_id", "ds", "forecast"]]


# -- the hand-written twin -------------------------------------------------------------------------
class HandWritten:
    """What a user would write without the toolkit: pivot, cold-start cut, the same direct
    features (ratios to the recent level), ``lightgbm.train``, predict."""

    def __init__(self, frame: pd.DataFrame):
        spec = resolve_features(FeaturesConfig(), "W-FRI")
        self.lags, self.windows, self.lw = spec.lags, spec.windows, spec.level_window
        self.S, self.window = spec.season_length, spec.source_window
        f = frame.assign(uid=frame["store"].astype(str) + "|" + frame["dept"].astype(str))
        origin = origin_of(frame)
        times = pd.date_range(
            f["date"].min(), f["date"].max() + pd.Timedelta(weeks=HORIZON), freq="W-FRI"
        )
        wide = f.pivot(index="uid", columns="date", values="sales").reindex(columns=times)
        self.ids = wide.index.to_numpy()
        per = f.drop_duplicates("uid").set_index("uid").loc[self.ids]
        self.store = per["store"].to_numpy()
        self.o = int(times.get_loc(origin))
        Y = wide.to_numpy(float)
        Y[:, self.o + 1 :] = np.nan
        self.is_target = np.isin(self.store, frame.attrs["targets"])
        Y[np.ix_(self.is_target, np.arange(max(self.o + 1 - HISTORY, 0)))] = np.nan
        self.Y, self.times = Y, times
        self.known = {}
        for col in ("price", "promo", "is_holiday"):
            k = f.pivot(index="uid", columns="date", values=col).reindex(
                index=self.ids, columns=times
            )
            k = k.to_numpy(float)
            k[:, self.o + HORIZON + 1 :] = np.nan
            k[np.ix_(self.is_target, np.arange(max(self.o + 1 - HISTORY, 0)))] = np.nan
            self.known[col] = k
        self.size = per["size"].to_numpy(float)
        self.cats = {}
        observed = ~np.all(np.isnan(Y), axis=1)
        for col in ("dept", "store_type"):
            vocab = sorted(per[col].astype(str)[observed].unique())
            self.cats[col] = (vocab, pd.Index(vocab).get_indexer(per[col].astype(str)))
        self.actual_times = times

    @staticmethod
    def _cum(arr):
        ok = ~np.isnan(arr)
        pad = np.zeros((arr.shape[0], 1))
        return (
            np.concatenate([pad, np.cumsum(np.where(ok, arr, 0.0), axis=1)], axis=1),
            np.concatenate([pad, np.cumsum(ok, axis=1)], axis=1),
        )

    @staticmethod
    def _win(cs, i, a, w):
        s, c = cs
        lo = np.clip(a + 1 - w, 0, None)
        return s[i, a + 1] - s[i, lo], c[i, a + 1] - c[i, lo]

    @staticmethod
    def _take(arr, i, t):
        ok = (t >= 0) & (t < arr.shape[1])
        out = np.full(len(i), np.nan)
        out[ok] = arr[i[ok], t[ok]]
        return out

    def _level(self, cabs, i, a):
        s, c = self._win(cabs, i, a, self.lw)
        s_all, c_all = self._win(cabs, i, a, a.max() + 1 if len(a) else 1)
        lvl = np.where(c > 0, s / np.maximum(c, 1), s_all / c_all)
        return np.where(lvl == 0, 1.0, lvl)

    def rows(self, series, training: bool, window: int | None = None):
        if not training:
            i, h = (
                g.ravel() for g in np.meshgrid(series, np.arange(1, HORIZON + 1), indexing="ij")
            )
            return i, np.full(len(i), self.o), h
        start = 0 if window is None else max(self.o - window, 0)
        i, a, h = (
            g.ravel()
            for g in np.meshgrid(
                series, np.arange(start, self.o), np.arange(1, HORIZON + 1), indexing="ij"
            )
        )
        keep = a + h <= self.o
        i, a, h = i[keep], a[keep], h[keep]
        keep = ~np.isnan(self.Y[i, a + h])
        i, a, h = i[keep], a[keep], h[keep]
        _, c = self._win(self._cum(np.abs(self.Y)), i, a, self.lw)
        keep = c >= min(4, self.lw)
        return i[keep], a[keep], h[keep]

    def features(self, i, a, h):
        Y = self.Y
        cs, cabs = self._cum(Y), self._cum(np.abs(Y))
        lvl = self._level(cabs, i, a)
        X = {"h": h.astype(float)}
        with np.errstate(invalid="ignore", divide="ignore"):
            for lag in self.lags:
                X[f"lag{lag}"] = self._take(Y, i, a - lag + 1) / lvl
            for w in self.windows:
                s, c = self._win(cs, i, a, w)
                X[f"mean{w}"] = np.where(c >= max(1, w // 2), s / np.maximum(c, 1), np.nan) / lvl
            prev = np.where(a - self.S >= 0, self._level(cabs, i, a - self.S), np.nan)
            X["sply"] = self._take(Y, i, a + h - self.S) / prev
            X["growth"] = lvl / prev
            X["log_level"] = np.log1p(lvl)
            X["n_obs"] = self._win(cs, i, a, 2 * self.S)[1].astype(float)
        t = np.clip(a + h, 0, len(self.times) - 1)
        X["week"] = self.times.isocalendar().week.to_numpy(float)[t]
        X["month"] = self.times.month.to_numpy(float)[t]
        for col, k in self.known.items():
            X[col] = self._take(k, i, a + h)
            ks, kc = self._win(self._cum(k), i, a, self.lw)
            with np.errstate(invalid="ignore", divide="ignore"):
                X[f"{col}_delta"] = X[col] - np.where(kc > 0, ks / np.maximum(kc, 1), np.nan)
        X["size"] = self.size[i]
        for col, (vocab, codes) in self.cats.items():
            X[col] = pd.Categorical.from_codes(codes[i], categories=vocab)
        with np.errstate(invalid="ignore", divide="ignore"):
            y = self._take(Y, i, a + h) / lvl
        return pd.DataFrame(X), y, lvl

    def fit(self, X, y, lvl, role, weight=None):
        params = engine_params("lightgbm", role, {}, 0)
        rounds = params.pop("num_boost_round")
        w = lvl / np.nanmean(lvl) if weight is None else weight
        data = lgb.Dataset(
            X, y, weight=w, categorical_feature=["dept", "store_type"], free_raw_data=False
        )
        return lgb.train(params, data, rounds)

    def forecast(self, name: str) -> pd.DataFrame:
        sources = np.flatnonzero(~self.is_target & ~np.all(np.isnan(self.Y), axis=1))
        frames = []
        if name in ("source_only", "pooled"):
            src = self.features(*self.rows(sources, True, self.window))
        stores = pd.unique(self.store[self.is_target])
        if name == "source_only":
            model = self.fit(*src, "source")
        elif name == "pooled":  # one model: the sources and every target store's history
            rows = [self.rows(np.flatnonzero(self.store == s), True) for s in stores]
            tgts = [self.features(*r) for r in rows]
            X = pd.concat([src[0], *(t[0] for t in tgts)], ignore_index=True)
            n_tgt = sum(len(t[0]) for t in tgts)
            X["is_target"] = np.r_[np.zeros(len(src[0])), np.ones(n_tgt)]
            lv = np.concatenate([src[2], *(t[2] for t in tgts)])
            w = np.concatenate(
                [src[2] / np.nanmean(src[2]), *(5.0 * t[2] / np.nanmean(t[2]) for t in tgts)]
            )
            y = np.concatenate([src[1], *(t[1] for t in tgts)])
            model = self.fit(X, y, lv, "source", weight=w)
        for store in stores:
            series = np.flatnonzero(self.store == store)
            if name == "target_only":
                model = self.fit(*self.features(*self.rows(series, True)), "target")
            i, a, h = self.rows(series, False)
            X, _, lvl = self.features(i, a, h)
            if name == "pooled":
                X["is_target"] = 1.0
            yhat = model.predict(X, num_threads=1) * lvl
            frames.append(
                pd.DataFrame({"unique_id": self.ids[i], "ds": self.times[a + h], "forecast": yhat})
            )
        return pd.concat(frames, ignore_index=True)


def handwritten(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return HandWritten(frame).forecast(name)


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


# -- sections -------------------------------------------------------------------------------------
def overhead(frame: pd.DataFrame, names: list[str], repeat: int) -> pd.DataFrame:
    rows = []
    for name in names:
        t_tc, fc = best_of(lambda n=name: toolkit(frame, n, young_sources=False), repeat)
        t_default, _ = best_of(lambda n=name: toolkit(frame, n), repeat)
        row = {"strategy": name, "toolkit_s": t_tc, "defaults_s": t_default}
        if name in HANDWRITTEN:
            t_hw, hw = best_of(lambda n=name: handwritten(frame, n), repeat)
            both = fc.merge(hw, on=["unique_id", "ds"], suffixes=("", "_hw"))
            row.update(
                handwritten_s=t_hw,
                ratio=t_tc / t_hw,
                max_rel_diff=float(
                    np.max(
                        np.abs(both["forecast"] - both["forecast_hw"]) / np.abs(both["forecast_hw"])
                    )
                ),
            )
        rows.append(row)
        print(f"  {name}: {t_tc:.2f}s, {t_default:.2f}s with young sources", flush=True)
    return pd.DataFrame(rows)


def reuse(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task = make_task(frame)
        comp = tc.compare(task, names, origins=[origin_of(frame)])
    ok = comp.scores[comp.scores["status"] == "ok"]
    pm = tc.get_plugin_manager()
    need = [n for n in names if pm.registry.create(n, {}).source_spec() is not None]
    return pd.DataFrame(
        [
            {
                "strategies": len(names),
                "targets": len(task.targets),
                "cells": len(ok),
                "strategies_with_source_model": len(need),
                "source_fits": comp.source_fits,
                "fits_without_cache": len(need) * len(task.targets),
            }
        ]
    )


def memory(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    rows = []
    for name in names:
        tracemalloc.start()
        toolkit(frame, name)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows.append({"strategy": name, "tracemalloc_peak_mb": peak / 2**20})
    return pd.DataFrame(rows)


def scaling(sizes: list[int], names: list[str]) -> pd.DataFrame:
    rows = []
    for n in sizes:
        frame = make_frame(n + 20, 2, n)
        for name in names:
            if name == "pooled" and n > 100:
                continue
            start = time.perf_counter()
            toolkit(frame, name)
            sec = time.perf_counter() - start
            rows.append(
                {"targets": n, "strategy": name, "seconds": sec, "ms_per_target": 1000 * sec / n}
            )
            print(f"  {n} targets, {name}: {sec:.1f}s", flush=True)
    return pd.DataFrame(rows)


def fmt(df: pd.DataFrame) -> str:
    return df.to_string(index=False, float_format=lambda v: f"{v:.3g}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--strategies", default=None, help="comma-separated (default: all)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sizes", default=None, help="target-domain counts (default 10,100,1000)")
    ap.add_argument("--sections", default="1,2,3,4", help="which of the 4 sections to run")
    ap.add_argument(
        "--scale-strategies",
        default="target_only,source_only,boost_continue",
        help="strategies for section 4 (pooled stops at 100 targets)",
    )
    ap.add_argument("--output", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    sections = set(args.sections.split(","))
    names = args.strategies.split(",") if args.strategies else tc.strategies()
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else ([10, 100] if args.quick else [10, 100, 1000])
    )
    frame = make_frame(20, 3, 5) if args.quick else make_frame(40, 5, 10)
    print(
        f"threads per fit: {os.environ['TRANSFERCAST_THREADS']}; data: "
        f"{frame['store'].nunique()} stores, {len(frame)} rows, {len(frame.attrs['targets'])} "
        f"targets with {HISTORY} weeks",
        flush=True,
    )
    toolkit(frame, "target_only")  # warm imports and caches
    handwritten(frame, "target_only")
    args.output.mkdir(parents=True, exist_ok=True)

    if "1" in sections:
        print(
            f"\n1. Overhead: toolkit vs hand-written, same work (best of {args.repeat})", flush=True
        )
        over = overhead(frame, names, args.repeat)
        print(fmt(over))
        over.to_csv(args.output / "speed_overhead.csv", index=False)

    if "2" in sections:
        print("\n2. Source-model reuse in one comparison of every strategy", flush=True)
        re_ = reuse(frame, names)
        print(fmt(re_))
        re_.to_csv(args.output / "speed_reuse.csv", index=False)

    if "3" in sections:
        print("\n3. Peak memory", flush=True)
        mem = memory(frame, names)
        print(fmt(mem))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"process peak RSS: {rss:.0f} MB")
        mem.to_csv(args.output / "speed_memory.csv", index=False)

    if "4" in sections:
        print("\n4. Time against the number of target domains", flush=True)
        scale_names = args.scale_strategies.split(",")
        sc = scaling(sizes, scale_names)
        print(fmt(sc.pivot(index="targets", columns="strategy", values="seconds").reset_index()))
        sc.to_csv(args.output / "speed_scaling.csv", index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
