"""Replay `auto`'s selection policy offline with other settings, on a finished Walmart run.

`walmart_cold_start.py` writes every strategy's forecasts (`walmart_forecasts.csv`, with the
naive references) and `auto`'s inner scores (`walmart_selection.csv`). The inner scores do not
depend on the policy, so any policy setting can be replayed without refitting: this script runs
`Auto.default_policy` with each setting on the recorded inner scores, blends the recorded
forecasts with the weights it returns, and scores the result. It answers "what would `auto`
have scored with blend = k, margin = m, guard off" in seconds instead of half an hour, and
prints hindsight references (single strategies, a fixed blend, the per-cell oracle) beside it.

    python benchmarks/walmart_cold_start.py --folds 45 --histories 26 \\
        --origins 2011-10-28,2012-04-27 \\
        --strategies target_only,source_only,pooled,boost_continue,representation,auto \\
        --jobs 2 --output benchmarks/results/walmart_one_store
    python benchmarks/selection_replay.py benchmarks/results/walmart_one_store

The replay's first row (the default setting) must reproduce the run's own `auto` score; the
script checks that and fails when it does not.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd
from walmart_cold_start import HOLIDAY_ORIGIN, fmt, to_markdown

from transfercast.plugins.auto import DEFAULT_CANDIDATES, SAFE, Auto, similar_enough
from transfercast.similarity import season_shown

SETTINGS: list[tuple[str, dict]] = [
    ("auto default (blend 2, margin 0.02)", {}),
    ("season check off (the guard everywhere)", {"season_check": False}),
    ("blend 1", {"blend": 1}),
    ("blend 4", {"blend": 4}),
    ("margin 0", {"margin": 0.0}),
    ("guard off, blend 1", {"guard": False, "blend": 1}),
    ("guard off, blend 2", {"guard": False}),
    ("guard off, blend 4", {"guard": False, "blend": 4}),
]


def twins(inner: pd.Series, names: list[str]) -> dict[str, str]:
    """Candidates whose inner score equals a later candidate's: the later one stands for both
    (equal forecasts give equal scores; `auto` itself compares the forecasts)."""
    out = {}
    usable = [n for n in names if n not in SAFE and np.isfinite(inner.get(n, np.nan))]
    for i, name in enumerate(usable):
        for later in reversed(usable[i + 1 :]):
            if np.isclose(inner[name], inner[later], rtol=1e-12, atol=0):
                out[name] = later
                break
    return out


def policy_weights(
    auto: Auto,
    inner: pd.Series,
    names: list[str],
    unseen: str | None = None,
    ranking: pd.Series | None = None,
    gap: float = np.inf,
) -> dict[str, float]:
    """The weights `auto`'s default policy gives the candidates for one cell's inner scores
    (``unseen``: the facts of a cell where the guard may be waived for an unseen season, with
    the season's ``gap``: infinite, the run's waiver stands as recorded; ``ranking``: the run's
    season ranking, with ``ranking = "season"``)."""
    same = twins(inner, names)
    scores = pd.DataFrame(
        {
            "strategy": [*names, "naive"],
            "wape": [inner.get(n, np.nan) for n in [*names, "naive"]],
            "same_as": [same.get(n, np.nan) for n in [*names, "naive"]],
        }
    )
    if not (auto.params.guard and auto.params.season_check):
        unseen = None
    season = (True, unseen, gap) if unseen else None
    chosen, weights, _ = auto.default_policy(scores, season, ranking)
    return dict(zip(chosen, weights, strict=True))


def unseen_facts(reason: str) -> str | None:
    """The unseen-season facts of a recorded reason, ``None`` when the guard was not waived."""
    mark = "unseen season, guard waived ("
    if mark not in reason:
        return None
    return reason.split(mark, 1)[1].split("): ", 1)[0]


def season_ranking(row: tuple, names: list[str]) -> pd.Series | None:
    """The run's source ranking of one cell, ``None`` without: ``season_<name>`` columns, and
    for a ``ranking = "recent"`` run the ``recent_<name>`` columns of the transfer candidates
    (its safe ones stay ``season_``)."""
    values = {}
    for n in [*names, "naive"]:
        recent = getattr(row, f"recent_{n}", np.nan)
        values[n] = recent if np.isfinite(recent) else getattr(row, f"season_{n}", np.nan)
    ranking = pd.Series(values, dtype=float).dropna()
    return ranking if len(ranking) else None


# candidates from the one that adapts least to the target to the one that adapts most
SIMPLEST_FIRST = ["source_only", "boost_continue", "pooled", "representation"]


def near_tie(weights: dict[str, float], inner: pd.Series, tol: float, mode: str) -> dict:
    """Experiment: among the transfer candidates whose inner score is within ``tol``
    (relative) of the best, prefer the one that adapts least to the target. ``mode``
    ``"only"`` keeps that one alone, ``"blend"`` puts it into the blend in place of the last
    member, ``"equal"`` blends the near-ties equally. Safe choices are left alone."""
    if set(weights) <= set(SAFE):
        return weights
    scored = inner.reindex(SIMPLEST_FIRST).dropna()
    tied = [n for n in scored.index if scored[n] <= (1 + tol) * scored.min()]
    if mode == "only":
        return {tied[0]: 1.0}
    if mode == "equal":
        return {n: 1 / len(tied) for n in tied}
    if tied[0] in weights:
        return weights
    out = dict(weights)
    out[tied[0]] = out.pop(min(out, key=out.get))
    return out


def similarity_figures(text: str) -> tuple[float, float]:
    """The domain AUC and the seasonal correlation a recorded reason gives."""
    number = r"(-?[\d.]+|nan)"
    auc = float(re.search(rf"domain AUC {number}", text).group(1))
    corr = float(re.search(rf"seasonal correlation {number}", text).group(1))
    return auc, corr


def lower_bar_waiver(reason: str, bar: float, auto: Auto) -> tuple[str, float] | None:
    """Experiment: for a cell where the guard held only because the sources failed the
    similarity test, the unseen-season facts and the season's gap if the seasonal-correlation
    bar were ``bar`` (``auto``'s AUC bar unchanged); ``None`` otherwise. ``auto``'s policy then
    weighs the gap against transfer's inner loss, as in a run."""
    if "not similar enough" not in reason:
        return None
    auc, corr = similarity_figures(reason)
    gap = float(re.search(r"season gap ([\d.]+)", reason).group(1))
    if not similar_enough(auc, corr, auto.params.model_copy(update={"prior_min_season_corr": bar})):
        return None
    return "similarity bar lowered", gap


FLAT_MARK = " (not counted: "


def flat_weeks_rule(
    reason: str, unseen: str | None, auto: Auto, count_flat: bool
) -> tuple[str | None, float]:
    """The unseen-season facts and gap of one cell under either rule for a seasonal correlation
    measured over weeks where the sources' index hardly moves: ``count_flat`` counts it against
    the sources (the rule before 2026-11-30), otherwise it is not counted (the rule since).
    A run records the reason under its own rule; this replays the other. Returns the facts to
    pass to :func:`policy_weights` (``None``: no waiver) and the season's gap (infinite: the
    recorded waiver stands)."""
    if count_flat:
        if unseen is None or FLAT_MARK not in unseen:
            return unseen, np.inf
        auc, corr = similarity_figures(unseen)
        return (unseen if similar_enough(auc, corr, auto.params) else None), np.inf
    if unseen is not None or "not similar enough" not in reason or FLAT_MARK in reason:
        return unseen, np.inf
    lo, hi = (float(v) for v in re.search(r"([\d.]+)-([\d.]+) over the target's", reason).groups())
    auc, _ = similarity_figures(reason)
    gap = float(re.search(r"season gap ([\d.]+)", reason).group(1))
    shown = season_shown({"seen_range": (lo, hi)}, auto.params.season_tolerance)
    if shown or not similar_enough(auc, np.nan, auto.params):
        return None, np.inf
    return "seasonal correlation not counted over flat weeks", gap


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Weighted absolute percentage error of one cell."""
    return float(np.abs(forecast - actual).sum() / np.abs(actual).sum())


def blend_wape(part: pd.DataFrame, weights: dict[str, float]) -> float:
    """WAPE of one cell's recorded forecasts blended with ``weights``."""
    blend = sum(w * part[n].to_numpy() for n, w in weights.items())
    return wape(part["actual"].to_numpy(), blend)


def read_run(
    results: Path | list[Path], others: Path | list[Path] | None = None
) -> tuple[pd.DataFrame, ...]:
    """``walmart_selection.csv``, ``walmart_forecasts.csv`` and ``walmart_scores.csv`` of a
    run (several folders: their rows together, e.g. one origin per folder); with ``others``,
    the strategies other than ``auto`` (and the references) come from those runs instead: for
    an ``auto``-only run with other settings, replayed beside a full run of the same folds and
    origins."""

    def read(folders: Path | list[Path], name: str) -> pd.DataFrame:
        folders = [folders] if isinstance(folders, Path) else folders
        missing = [str(f / name) for f in folders if not (f / name).exists()]
        if missing:
            raise SystemExit(f"missing {', '.join(missing)}: rerun the benchmark that wrote it")
        return pd.concat([pd.read_csv(f / name) for f in folders], ignore_index=True)

    sel = read(results, "walmart_selection.csv")
    scores = read(results, "walmart_scores.csv")
    if not others:
        return sel, read(results, "walmart_forecasts.csv"), scores
    # the replay blends the other strategies' forecasts, so auto's own are not needed (they
    # hold the actual sales and are not committed: only ``others`` must be run again)
    o_fc = read(others, "walmart_forecasts.csv")
    o_sc = read(others, "walmart_scores.csv")
    scores = pd.concat([o_sc[o_sc["strategy"] != "auto"], scores[scores["strategy"] == "auto"]])
    return sel, o_fc[o_fc["strategy"] != "auto"], scores


def keep_cells(run: tuple[pd.DataFrame, ...], stores: set[int] | None = None) -> tuple:
    """The run restricted to its selection's (origin, target) cells, and to ``stores`` when
    given (``others`` may hold more origins and stores; store level: a series is a store)."""
    sel, fc, scores = run
    if stores is not None:
        sel = sel[sel["target"].isin(stores)]
    cells = set(zip(sel["origin"].astype(str).str[:10], sel["target"].astype(str), strict=True))

    def mine(frame: pd.DataFrame, column: str) -> pd.DataFrame:
        keys = zip(frame["origin"].astype(str).str[:10], frame[column].astype(str), strict=True)
        return frame[[key in cells for key in keys]]

    return sel, mine(fc, "unique_id"), mine(scores, "target")


def add_safe_season(
    sel: pd.DataFrame, early: pd.DataFrame, history: int, season_length: int = 52
) -> pd.DataFrame:
    """``season_target_only`` and ``season_naive`` for the cells of a ``ranking = "season"``
    run made before its season backtest scored the safe candidates: each is the mean WAPE of
    that strategy over the *other* stores as targets one season before the cell's origin, read
    from ``early`` (``walmart_scores.csv`` of a one-store run at those origins, with
    ``target_only`` and the ``naive_mean`` reference; neither uses the sources, so a store's
    score is the same whichever stores are its sources). Cells without a season ranking are
    left alone."""
    early = early[(early["history"] == history) & (early["status"] == "ok")]
    early = early.assign(strategy=early["strategy"].replace({"naive_mean": "naive"}))
    wide = early.pivot_table(index=["origin", "target"], columns="strategy", values="wape")
    missing = {"target_only", "naive"} - set(wide.columns)
    if missing:
        raise SystemExit(f"--safe-season run lacks {', '.join(sorted(missing))}")
    ranked = sel.filter(like="season_").notna().any(axis=1)
    rows = []
    for r, has in zip(sel.itertuples(index=False), ranked, strict=True):
        earlier = str((pd.Timestamp(r.origin) - pd.Timedelta(weeks=season_length)).date())
        if not has:
            rows.append({})
            continue
        if earlier not in wide.index.get_level_values(0):
            raise SystemExit(f"--safe-season run lacks the origin {earlier}")
        others = wide.loc[earlier].drop(index=r.target, errors="ignore")
        rows.append({f"season_{n}": others[n].mean() for n in ("target_only", "naive")})
    add = pd.DataFrame(rows, index=sel.index, columns=["season_target_only", "season_naive"])
    return sel.drop(columns=add.columns, errors="ignore").join(add)


def replay(run: tuple[pd.DataFrame, ...], history: int, experiments: bool = False) -> pd.DataFrame:
    """Mean WAPE of each policy setting and hindsight reference, over all cells and per origin,
    for a run as :func:`read_run` returns it (with ``experiments``, also of the rules
    docs/selection.md tried and did not adopt)."""
    sel, fc, scores = run
    sel, fc = sel[sel["history"] == history], fc[fc["history"] == history]
    scores = scores[(scores["history"] == history) & (scores["status"] == "ok")]
    # auto's naive is the recent level, the naive_mean reference (not the last-value "naive")
    fc = fc[fc["strategy"] != "naive"]
    fc = fc.assign(strategy=fc["strategy"].replace({"naive_mean": "naive"}))
    wide = fc.pivot_table(
        index=["origin", "unique_id", "ds"], columns="strategy", values="forecast"
    )
    wide["actual"] = fc.groupby(["origin", "unique_id", "ds"])["actual"].first()
    cells = {key: part for key, part in wide.groupby(level=[0, 1])}
    if "naive" not in wide.columns:
        raise SystemExit(
            "walmart_forecasts.csv (of the run, or of --others) lacks the naive_mean reference"
        )
    names = [n for n in DEFAULT_CANDIDATES if f"inner_{n}" in sel.columns]

    # (origin, inner scores, forecasts with actuals, unseen-season facts, season ranking) of
    # each cell, read once; the season test and the season ranking read the data, so the
    # replay takes the run's answers
    recorded = [
        (
            str(r.origin),
            pd.Series({n: getattr(r, f"inner_{n}") for n in [*names, "naive"]}),
            cells[(str(r.origin), r.target)],
            unseen_facts(str(r.reason)),
            season_ranking(r, names),
            str(r.reason),
        )
        for r in sel.itertuples(index=False)
    ]
    transfer = [n for n in names if n not in SAFE]
    rows: list[dict] = []
    for label, setting in SETTINGS:
        auto = Auto({"candidates": names, **setting})
        for origin, inner, part, unseen, ranking, _ in recorded:
            weights = policy_weights(auto, inner, names, unseen, ranking)
            rows.append({"policy": label, "origin": origin, "wape": blend_wape(part, weights)})
    # the seasonal correlation over flat weeks, counted against the sources or not: the rule
    # the run did not use
    auto = Auto({"candidates": names})
    for count_flat in (False, True):
        label = (
            "seasonal correlation over flat weeks counted (the rule before 2026-11-30)"
            if count_flat
            else "seasonal correlation over flat weeks not counted (the rule since 2026-11-30)"
        )
        for origin, inner, part, unseen, ranking, reason in recorded:
            facts, gap = flat_weeks_rule(reason, unseen, auto, count_flat)
            weights = policy_weights(auto, inner, names, facts, ranking, gap)
            rows.append({"policy": label, "origin": origin, "wape": blend_wape(part, weights)})
    # the guard's own limit: a perfect choice wherever it lets transfer through (it passes, or
    # the unseen-season check waives it)
    for margin in (0.02, 0.0):
        auto = Auto({"candidates": names, "blend": 1, "margin": margin})
        label = f"hindsight: best transfer per cell where the guard (margin {margin}) lets it"
        for origin, inner, part, unseen, _, _ in recorded:
            actual = part["actual"].to_numpy()
            (pick,) = policy_weights(auto, inner, names, unseen)
            if pick not in SAFE:
                pick = min(transfer, key=lambda n: wape(actual, part[n].to_numpy()))
            err = wape(actual, part[pick].to_numpy())
            rows.append({"policy": label, "origin": origin, "wape": err})
    if experiments:
        auto = Auto({"candidates": names})
        for tol in (0.02, 0.05, 0.1, 0.2):
            for mode in ("only", "blend", "equal"):
                label = f"experiment: near-ties within {tol:.0%}, simplest {mode}"
                for origin, inner, part, unseen, ranking, _ in recorded:
                    weights = policy_weights(auto, inner, names, unseen, ranking)
                    weights = near_tie(weights, inner, tol, mode)
                    err = blend_wape(part, weights)
                    rows.append({"policy": label, "origin": origin, "wape": err})
        for bar in (0.2, 0.1, 0.0):
            label = f"experiment: waiver's seasonal-correlation bar {bar}"
            for origin, inner, part, unseen, ranking, reason in recorded:
                waiver = None if unseen else lower_bar_waiver(reason, bar, auto)
                facts, gap = waiver or (unseen, np.inf)
                weights = policy_weights(auto, inner, names, facts, ranking, gap)
                rows.append({"policy": label, "origin": origin, "wape": blend_wape(part, weights)})
    for (origin, _), part in cells.items():
        actual = part["actual"].to_numpy()
        errs = {n: wape(actual, part[n].to_numpy()) for n in names}
        rows.append(
            {
                "policy": "hindsight: best strategy per cell",
                "origin": origin,
                "wape": min(errs.values()),
            }
        )
        both = (part["source_only"] + part["pooled"]).to_numpy() / 2
        rows.append(
            {
                "policy": "hindsight: fixed equal blend source_only+pooled",
                "origin": origin,
                "wape": wape(actual, both),
            }
        )
    ran = scores[scores["strategy"].isin([*names, "auto"])]
    rows += [
        {"policy": f"as run: {s}", "origin": str(o)[:10], "wape": w}
        for s, o, w in ran[["strategy", "origin", "wape"]].itertuples(index=False)
    ]
    long = pd.DataFrame(rows)
    table = long.groupby("policy", sort=False)["wape"].agg(["mean", "count"])
    per_origin = long.pivot_table(index="policy", columns="origin", values="wape", sort=False)
    per_origin.columns = [
        f"wape {'holiday' if c == HOLIDAY_ORIGIN else c}" for c in per_origin.columns
    ]
    table = table.rename(columns={"mean": "wape", "count": "cells"}).join(per_origin)
    single = table.loc[[f"as run: {n}" for n in names], "wape"]
    table["vs best single"] = table["wape"] / single.min()
    return table.reset_index()


def agreement(selection: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Per origin: in how many cells the transfer candidate with the best inner score is also
    the best at the origin, against chance (one in the number of transfer candidates).

    ``selection`` is ``walmart_selection.csv`` (``inner_<name>`` columns), ``scores`` is
    ``walmart_scores.csv``; cells where a candidate has no score are left out. It measures
    what the inner backtest knows about the *ranking* of the transfer strategies for one
    target, apart from the guard."""
    names = [n for n in DEFAULT_CANDIDATES if n not in SAFE and f"inner_{n}" in selection.columns]
    sel = selection.assign(origin=selection["origin"].astype(str).str[:10])
    ok = scores[scores["status"] == "ok"] if "status" in scores else scores
    outer = ok.assign(origin=ok["origin"].astype(str).str[:10]).pivot_table(
        index=["origin", "target"], columns="strategy", values="wape"
    )
    inner = sel.set_index(["origin", "target"])[[f"inner_{n}" for n in names]]
    inner.columns = names
    outer = outer[names].reindex(inner.index)
    scored = inner.notna().all(axis=1) & outer.notna().all(axis=1)
    best = pd.DataFrame(
        {"inner": inner[scored].idxmin(axis=1), "outer": outer[scored].idxmin(axis=1)}
    )
    rows = []
    for origin, part in best.groupby(level=0):
        best_inner, best_outer = part["inner"], part["outer"]
        rows.append(
            {
                "origin": origin,
                "cells": len(part),
                "inner best is outer best": float((best_inner == best_outer).mean()),
                "chance": 1 / len(names),
                "most often best at the origin": best_outer.value_counts().idxmax(),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "results", type=Path, nargs="+", help="output folder(s) of walmart_cold_start.py"
    )
    parser.add_argument("--history", type=int, default=26)
    parser.add_argument(
        "--others",
        type=Path,
        nargs="+",
        default=None,
        help="full run(s) whose strategies other than auto are replayed beside RESULTS' auto",
    )
    parser.add_argument(
        "--safe-season",
        type=Path,
        default=None,
        help="a one-store run of target_only and naive_mean one season before RESULTS' "
        "origins: replays the safe pick of a ranking = season run made before that pick",
    )
    parser.add_argument(
        "--stores",
        type=lambda text: {int(v) for v in text.split(",")},
        default=None,
        help="comma-separated store numbers: replay only their cells",
    )
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument(
        "--experiments",
        action="store_true",
        help="also replay the rules docs/selection.md tried and did not adopt",
    )
    args = parser.parse_args()
    run = keep_cells(read_run(args.results, args.others), args.stores)
    if args.safe_season is not None:
        early = pd.read_csv(args.safe_season / "walmart_scores.csv")
        run = (add_safe_season(run[0], early, args.history), *run[1:])
    table = replay(run, args.history, args.experiments)
    print((to_markdown if args.markdown else fmt)(table))
    wape_of = table.set_index("policy")["wape"]
    replayed, ran = wape_of[SETTINGS[0][0]], wape_of.get("as run: auto", np.nan)
    sel, _, scores = run
    keep = sel["history"] == args.history
    agree = agreement(sel[keep], scores[scores["history"] == args.history])
    print("\nhow often the inner backtest's best transfer candidate is the best at the origin:")
    print((to_markdown if args.markdown else fmt)(agree))
    print(f"\ncheck: the replayed default scores {replayed:.5f}, the run's auto {ran:.5f}")
    cells = table.set_index("policy")["cells"]
    n_ran = cells.get("as run: auto", 0)
    if args.safe_season is not None:
        print("(with --safe-season the replayed default is the policy as it is now, not as run)")
    elif "blend_judged" in sel.columns:
        # the run of the experiment reverted in 541ecdc (docs/selection.md): its auto is that
        # rule, which the replay no longer has
        print("(the run's auto had the guard judge the blend, a rule since reverted: no check)")
    elif n_ran != cells[SETTINGS[0][0]]:
        print(
            f"(the run's auto scores cover {n_ran} of the {cells[SETTINGS[0][0]]} cells: "
            "check those with --stores)"
        )
    elif np.isfinite(ran) and abs(replayed - ran) > 1e-6:
        raise SystemExit("the replay does not reproduce the run's auto: do not trust the table")


if __name__ == "__main__":
    main()
