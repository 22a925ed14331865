"""Source replays: cut points before the origin, leak-free replay tables, the detail that
reproduces every loss, the shared cache, meta-features, the targets' own backtest and the
stacking program."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog
from scipy.stats import norm

import transfercast as tc
from transfercast.config import parse_config
from transfercast.data import DataWarning
from transfercast.datasets import synthetic_config, synthetic_sales
from transfercast.forecasting import OriginTables
from transfercast.intervals import scaled_errors
from transfercast.replay import (
    DETAIL_COLUMNS,
    FLOOR_META,
    LAST,
    META,
    NAIVE,
    SNAIVE,
    TABLE_COLUMNS,
    LastValue,
    Replays,
    SeasonalNaive,
    build_inner,
    build_layout,
    cut_points,
    held_replays,
    history_length,
    inner_backtest,
    inner_cut,
    inner_fit,
    own_share,
    replay_history,
    replay_pvalue,
    replays,
    replays_kept,
    season_floor,
    season_seen,
    seasoned_cuts,
    seasoned_replays,
    stack_weights,
    target_meta,
    twins_of_naive,
    wide_detail,
)
from transfercast.source_cache import SourceCache

from .conftest import small_frame, small_task


def _tables(task: tc.TransferTask) -> OriginTables:
    origin = task.evaluation_origins()[-1]
    return OriginTables(task, task.at_origin(origin), task.features)


def _candidates() -> dict[str, tc.Strategy]:
    registry = tc.get_plugin_manager().registry
    return {n: registry.create(n, {}) for n in ("target_only", "source_only")}


def _replay(tables: OriginTables, **kw) -> Replays:
    n = history_length(tables, tables.task.targets[0])
    return replays(tables, n, _candidates(), SourceCache(), **kw)


@pytest.fixture(scope="module")
def tables() -> OriginTables:
    return _tables(small_task(1.0))


@pytest.fixture(scope="module")
def rep(tables) -> Replays:
    return _replay(tables)


def test_every_cut_horizon_ends_by_the_origin(tables, rep):
    origin, horizon = tables.data.origin_idx, tables.horizon
    cuts = cut_points(tables, 13, 3)
    season = tables.builder.season_length
    assert cuts[:2] == [origin - horizon, origin - season]
    assert all(c + horizon <= origin for c in cut_points(tables, 13, 10))
    assert set(rep.table["cut"]) == {tables.data.panel.times[c] for c in cuts[:2]}
    assert rep.detail["ds"].max() <= tables.data.origin
    assert (rep.detail["ds"] > rep.detail["cut"]).all()
    assert rep.detail["step"].between(1, horizon).all()
    # replayed domains are sources only, each replayed at every cut, by every candidate
    assert set(rep.table["domain"]) <= set(tables.task.sources)
    assert set(rep.table["candidate"]) == {"target_only", "source_only", NAIVE}
    assert rep.table.groupby(["domain", "cut"]).size().eq(3).all()


def _late_task(week: int = 30) -> tc.TransferTask:
    """The small task's data from ``week`` on: from week 30, a year of source history at the
    origin, less than one at the cut one season before it."""
    frame = small_frame(1.0)
    late = frame[frame["date"] >= sorted(frame["date"].unique())[week]].reset_index(drop=True)
    raw = synthetic_config(
        "unused.csv", frame.attrs["targets"], horizon=8, target_history=13, windows=1
    )
    return tc.TransferTask.from_config(parse_config(raw), data=late)


def test_a_cut_whose_sources_had_not_seen_that_part_of_the_year_is_left_out_of_the_weights(
    tables, rep
):
    """The same data starting 30 weeks later: at the origin the sources reach back over a year,
    at the cut one season before it they do not, so that cut's replays (source models that never
    saw the horizon's weeks) are left out of auto's weights; with the full data none is."""
    assert seasoned_replays(tables, rep) == (rep, [])
    short = _tables(_late_task())
    origin, season = short.data.origin_idx, short.builder.season_length
    assert season_seen(short, origin) and not season_seen(short, origin - season)
    full = _replay(short)
    kept, dropped = seasoned_replays(short, full)
    times = short.data.panel.times
    assert dropped == [times[origin - season]]
    assert set(kept.table["cut"]) == set(kept.detail["cut"]) == {times[origin - 8]}
    assert len(kept.table) == (full.table["cut"] == times[origin - 8]).sum()
    params = {"auto": {"candidates": ["source_only"]}}
    comp = tc.compare(short.task, ["auto"], params=params, origins=[short.data.origin])
    cut = str(times[origin - season].date())
    reason = comp.selection["reason"]
    assert reason.str.startswith(f"cut {cut} left out (its sources had not seen").all()


def test_the_replay_table_ignores_everything_after_the_origin(tables, rep):
    frame = small_frame(1.0)
    origin = tables.data.origin
    for how in ("scrambled", "deleted"):
        changed = frame.copy()
        after = changed["date"] > origin
        if how == "scrambled":
            rng = np.random.default_rng(3)
            changed.loc[after, "sales"] = rng.uniform(0, 1e6, after.sum())
            changed.loc[after, "price"] = rng.uniform(0, 50, after.sum())
        else:
            changed = changed[~after]
        task = small_task(1.0)
        task2 = tc.TransferTask(
            changed,
            series=task.series,
            time=task.time,
            target=task.target,
            domain=task.domain,
            targets=task.targets,
            horizon=task.horizon,
            static=task.static,
            known=task.known,
            target_history=task.target_history,
            freq=task.freq,
        )
        other = OriginTables(task2, task2.at_origin(origin), task2.features)
        again = _replay(other)
        cols = [c for c in rep.table.columns if c != "fit_seconds"]  # timings differ
        pd.testing.assert_frame_equal(again.table[cols], rep.table[cols], rtol=1e-9)
        pd.testing.assert_frame_equal(again.detail, rep.detail, check_exact=False, rtol=1e-9)


def test_each_loss_is_the_wape_of_its_detail_and_naive_is_the_level(rep):
    d = rep.detail
    naive = d[d["candidate"] == NAIVE]
    np.testing.assert_allclose(naive["forecast"], naive["level"])
    assert d["level"].notna().all() and d["actual"].notna().all()
    table = rep.table.set_index(["domain", "cut", "candidate"])["wape"]
    for key, g in d.groupby(["domain", "cut", "candidate"]):
        wape = np.abs(g["forecast"] - g["actual"]).sum() / np.abs(g["actual"]).sum()
        assert table[key] == pytest.approx(wape)


def test_replays_are_built_once_per_origin_and_history_length(tables, rep):
    assert _replay(tables) is rep  # the same candidates, folds and cuts: the same object
    assert _replay(tables, folds=3) is not rep
    again = replays(tables, 13, _candidates(), SourceCache())
    assert again is rep or history_length(tables, tables.task.targets[0]) != 13
    # the cache is on the tables: another origin's tables start empty
    assert not _tables(small_task(1.0)).__dict__.get("_replays")


def test_the_grouping_follows_the_seed(tables, rep):
    other = _replay(tables, seed=5)
    assert set(other.table["domain"]) == set(rep.table["domain"])
    assert not np.allclose(other.table["wape"].to_numpy(), rep.table["wape"].to_numpy())


def test_meta_features_of_replayed_domains_and_targets(tables, rep):
    assert list(rep.meta.columns) == ["domain", "cut", *META]
    assert (rep.meta["history"] == 13).all()
    assert rep.meta["log_level"].notna().all() and rep.meta["volatility"].gt(0).all()
    assert rep.meta["domain_auc"].isna().all()  # similarity off by default (the costly one)
    meta = target_meta(tables, tables.task.targets[0])
    assert set(meta) == {*META, *FLOOR_META}
    assert meta["season_flat"] >= meta["season_horizon"] >= 0  # the floor's two measures
    assert meta["history"] == 13 and 0 <= meta["domain_auc"] <= 1
    with_auc = _replay(tables, similarity=True)
    assert with_auc.meta["domain_auc"].between(0, 1).all()


def test_the_targets_own_backtest_reads_only_their_last_periods(tables):
    own = build_inner(tables, _candidates(), SourceCache())
    assert set(own.table["domain"]) == set(tables.task.targets)
    assert own.detail["ds"].max() <= tables.data.origin
    assert own.detail["ds"].min() > own.table["cut"].iloc[0]
    assert own.table["n"].iloc[0] == -(-tables.horizon // 2)  # periods scored
    assert inner_backtest(tables, _candidates(), SourceCache()) is inner_backtest(
        tables, _candidates(), SourceCache()
    )
    # each candidate is backtested once per origin, whatever set asks for it
    one = build_inner(tables, {"source_only": _candidates()["source_only"]}, SourceCache())
    assert len(tables.__dict__["_inner_candidates"]) == 3  # target_only, source_only, naive
    mine = one.detail[one.detail["candidate"] == "source_only"].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        mine, own.detail[own.detail["candidate"] == "source_only"].reset_index(drop=True)
    )


def _pairs(table) -> int:
    return len(table.keys[["unique_id", "anchor"]].drop_duplicates())


def test_the_targets_own_backtest_fits_a_target_alone_strategy_on_each_target_alone(tables):
    """target_only on the targets' own last periods is the model fitted on that target's rows,
    as at the origin: its inner WAPE is the same whether the other targets are targets or not
    (before: one model on every target's rows, another model's WAPE)."""
    name = {"target_only": _candidates()["target_only"]}
    own = build_inner(tables, name, SourceCache()).table
    assert len(tables.task.targets) == 3
    for target in tables.task.targets:
        alone = build_inner(_tables(small_task(1.0, targets=[target])), name, SourceCache())
        got = own[(own["candidate"] == "target_only") & (own["domain"] == target)]["wape"]
        want = alone.table[alone.table["candidate"] == "target_only"]["wape"]
        assert len(got) == len(want) == 1
        assert got.iloc[0] == pytest.approx(want.iloc[0], rel=1e-12)


def test_replay_source_tables_hold_a_sample_of_anchors_of_every_series_within_the_budget(tables):
    whole = build_layout(tables, 13, 2, 2, 0, budget=None)
    budget = min(_pairs(f.source) for f, *_ in whole.groups) // 2
    layout = build_layout(tables, 13, 2, 2, 0, budget=budget)
    assert [g[1] for g in layout.groups] == [g[1] for g in whole.groups]
    for (fit, _, members), (full, _, same) in zip(layout.groups, whole.groups, strict=True):
        assert members.keys() == same.keys()  # the replayed domains are not sampled
        assert _pairs(fit.source) == budget < _pairs(full.source)
        # every series and every step of a kept anchor; the rows those of the whole table
        assert set(fit.source.keys["unique_id"]) == set(full.source.keys["unique_id"])
        steps = fit.source.keys.groupby(["unique_id", "anchor"])["h"].nunique()
        assert steps.max() == tables.horizon
        rows = fit.source.keys.merge(full.source.keys, how="left", indicator=True)
        assert (rows["_merge"] == "both").all()
    again = build_layout(tables, 13, 2, 2, 0, budget=budget)
    for a, b in zip(layout.groups, again.groups, strict=True):
        pd.testing.assert_frame_equal(a[0].source.keys, b[0].source.keys)
    inner, _ = inner_fit(tables, budget=budget)
    assert _pairs(inner.source) == budget
    assert _pairs(inner_fit(tables, budget=10**9)[0].source) > budget


def test_stacking_recovers_an_exact_blend():
    rng = np.random.default_rng(0)
    rows = []
    for dom in ("a", "b", "c"):
        for t in range(6):
            fa, fb, fc = rng.uniform(50, 150, 3)
            actual = 0.3 * fa + 0.7 * fb
            for name, f in (("x", fa), ("y", fb), ("z", fc)):
                rows.append(
                    {"domain": dom, "cut": 0, "candidate": name, "unique_id": dom, "ds": t}
                    | {"forecast": f, "actual": actual}
                )
    wide = wide_detail(pd.DataFrame(rows), ["x", "y", "z"])
    w = stack_weights([(wide, 1.0)], ["x", "y", "z"])
    np.testing.assert_allclose(w.to_numpy(), [0.3, 0.7, 0.0], atol=1e-6)
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0)


def test_stacking_solves_the_primal_program_with_two_weighted_parts():
    """The dual solve gives the weights of the primal least-absolute-error program (absolute
    errors as auxiliary variables), with two parts of different shares and group sizes."""
    rng = np.random.default_rng(1)
    names = ["x", "y", "z", "v"]

    def part(domains: int, periods: int) -> pd.DataFrame:
        rows = []
        for dom in range(domains):
            for t in range(periods):
                actual = rng.lognormal(4, 0.5)
                fc = {
                    n: actual * rng.lognormal(0.05 * k, 0.1 + 0.1 * k) for k, n in enumerate(names)
                }
                rows.append(
                    {"domain": dom, "cut": 0, "unique_id": dom, "ds": t, "actual": actual, **fc}
                )
        return pd.DataFrame(rows)

    parts = [(part(6, 40), 0.7), (part(1, 7), 0.3)]
    w = stack_weights(parts, names)
    F, y, c = [], [], []
    for wide, share in parts:
        denom = wide.groupby("domain")["actual"].transform(lambda a: a.abs().sum()).to_numpy()
        F.append(wide[names].to_numpy())
        y.append(wide["actual"].to_numpy())
        c.append(share / (wide["domain"].nunique() * denom))
    F, y, c = np.vstack(F), np.concatenate(y), np.concatenate(c)
    n, k = F.shape
    eye = np.eye(n)
    primal = linprog(
        np.r_[np.zeros(k), c],
        A_ub=np.block([[F, -eye], [-F, -eye]]),
        b_ub=np.r_[y, -y],
        A_eq=np.r_[np.ones(k), np.zeros(n)][None, :],
        b_eq=[1.0],
        bounds=[(0, None)] * (k + n),
    )
    objective = float(c @ np.abs(F @ w.to_numpy() - y))
    assert objective == pytest.approx(primal.fun, rel=1e-9)
    np.testing.assert_allclose(w.to_numpy(), primal.x[:k], atol=1e-6)
    assert (w > 0.1).sum() >= 2  # a mix, not a corner of the simplex


def test_an_offset_adds_a_linear_loss_to_the_stacking_program():
    """Two candidates (and every blend of them) equally good on the rows: an offset against
    one moves every weight to the other; an offset larger than the WAPE gap overturns a clear
    winner."""
    rows = []
    for t in range(8):
        for name, f in (("x", 92.0 - 4 * (t % 2)), ("y", 88.0 + 4 * (t % 2))):
            rows.append(
                {"domain": "a", "cut": 0, "candidate": name, "unique_id": "a", "ds": t}
                | {"forecast": f, "actual": 100.0}
            )
    wide = wide_detail(pd.DataFrame(rows), ["x", "y"])
    assert stack_weights([(wide, 1.0)], ["x", "y"], [0.05, 0.0])["y"] == pytest.approx(1.0)
    assert stack_weights([(wide, 1.0)], ["x", "y"], [0.0, 0.05])["x"] == pytest.approx(1.0)
    wide["y"] = wide["y"] - 20.0  # y now 0.2 worse in WAPE, every forecast below the actual
    assert stack_weights([(wide, 1.0)], ["x", "y"])["x"] == pytest.approx(1.0)
    assert stack_weights([(wide, 1.0)], ["x", "y"], [0.4, 0.0])["y"] == pytest.approx(1.0)


def test_the_season_floor_lifts_the_flat_forecasts_alone_to_the_season_gap():
    replay = pd.Series({"source_only": 0.07, NAIVE: 0.05})
    assert season_floor(replay, {"season_horizon": 0.12}).to_dict() == pytest.approx(
        {"source_only": 0.0, NAIVE: 0.07}
    )
    assert season_floor(replay, {"season_horizon": 0.03}).eq(0).all()  # already above it
    assert season_floor(replay, {"season_horizon": float("nan")}).eq(0).all()  # no evidence
    assert season_floor(replay.drop(NAIVE), {"season_horizon": 0.12}).eq(0).all()
    # the recent level's own miss, where known, replaces the gap (it is never below it)
    both = {"season_horizon": 0.0, "season_flat": 0.09}
    assert season_floor(replay, both).to_dict() == pytest.approx({"source_only": 0.0, NAIVE: 0.04})
    # the last value is as flat as the naive level: the same floor holds it
    flat = pd.Series({"source_only": 0.07, NAIVE: 0.05, LAST: 0.02})
    assert season_floor(flat, both).to_dict() == pytest.approx(
        {"source_only": 0.0, NAIVE: 0.04, LAST: 0.07}
    )


def _detail(domain: str, cut: str, cand_err: float, naive_err: float, steps: int) -> pd.DataFrame:
    """Replay-form rows of one (domain, cut): a candidate and the naive level, one series,
    with absolute errors ``cand_err`` and ``naive_err`` at every step on actuals of 10."""
    rows = []
    for name, err in (("source_only", cand_err), (NAIVE, naive_err)):
        for h in range(1, steps + 1):
            rows.append(
                {"domain": domain, "cut": cut, "candidate": name, "unique_id": f"{domain}_a"}
                | {"ds": h, "step": h, "forecast": 10 + err, "actual": 10.0, "level": 10.0}
            )
    return pd.DataFrame(rows)


def test_replay_pvalue_is_the_gaussian_tail_of_the_target_among_the_replayed_domains():
    # replayed domains: source_only's error a fifth to four fifths of the naive level's
    replayed = pd.concat(
        [_detail(f"D{k}", "c", 0.2 * k, 1.0, 13) for k in range(1, 5)], ignore_index=True
    )
    logs = np.log(0.2 * np.arange(1, 5))
    mean, sd = logs.mean(), logs.std(ddof=1)
    unlike = _detail("T", "i", 3.0, 1.0, 7)  # transfer three times worse than naive
    far = _detail("T", "i", 30.0, 1.0, 7)
    typical = _detail("T", "i", 0.5, 1.0, 7)
    p_unlike = replay_pvalue(replayed, unlike, "source_only")
    assert p_unlike == pytest.approx(norm.sf((np.log(3.0) - mean) / sd))
    assert replay_pvalue(replayed, typical, "source_only") == pytest.approx(
        norm.sf((np.log(0.5) - mean) / sd)
    )
    # both lie beyond every replayed domain; the farther one is the less typical
    assert replay_pvalue(replayed, far, "source_only") < p_unlike < 0.01
    assert replay_pvalue(replayed, typical.iloc[:0], "source_only") == 1.0
    assert replay_pvalue(replayed[replayed["domain"] < "D3"], unlike, "source_only") == 1.0
    # only the target's scored steps count: later replayed steps where transfer fails do not
    late = pd.concat([_detail(f"D{k}", "c", 0.2 * k, 1.0, 13) for k in range(1, 5)])
    late.loc[(late["candidate"] == "source_only") & (late["step"] > 7), "forecast"] = 40.0
    assert replay_pvalue(late, typical, "source_only") == pytest.approx(
        replay_pvalue(replayed, typical, "source_only")
    )


def test_own_share_is_what_the_replays_hand_over_at_the_pvalue():
    assert own_share(7, 0.5) == 0.0  # a typical target: the replays decide alone
    assert own_share(7, 1 / np.e) == 0.0
    assert own_share(7, 0.1) == pytest.approx(1 + np.e * 0.1 * np.log(0.1))
    assert own_share(7, 0.0) == 1.0  # unlike every replayed domain: its own periods decide
    assert own_share(0, 0.0) == 0.0  # no own periods, nothing to hand over to
    p = np.linspace(0.001, 0.99, 50)
    assert np.all(np.diff([own_share(7, x) for x in p]) <= 1e-12)  # falls as p grows
    assert replays_kept(0.01) == pytest.approx(-np.e * 0.01 * np.log(0.01))


def test_a_strategy_fitted_on_the_target_alone_is_replayed_on_each_domain_alone(tables, rep):
    """target_only's replayed forecasts of a domain do not depend on which other domains
    share its replay group (it is fitted on that domain alone, as on a real target), while
    source_only's do (its sources are the other groups)."""
    other = _replay(tables, seed=7)  # another grouping of the same source domains
    keys = ["candidate", "cut", "unique_id", "ds"]
    both = rep.detail.merge(other.detail, on=keys, suffixes=("", "_other"))
    alone = both[both["candidate"] == "target_only"]
    assert len(alone) == (rep.detail["candidate"] == "target_only").sum() > 0
    np.testing.assert_allclose(alone["forecast"], alone["forecast_other"], rtol=1e-9)
    grouped = both[both["candidate"] == "source_only"]
    assert not np.allclose(grouped["forecast"], grouped["forecast_other"])


def test_the_seasonal_naive_reads_the_period_a_season_back_where_the_history_holds_it(tables):
    builder, panel, o = tables.builder, tables.data.panel, tables.data.origin_idx
    season = int(builder.season_length)
    row = int(tables.data.source_rows[0])
    i, a, h = builder.prediction_rows(np.array([row]), o, 8)
    whole = builder.build(panel, i, a, h, with_label=False)
    forecast = SeasonalNaive().predict(whole) * whole.level
    np.testing.assert_allclose(forecast, panel.Y[row, o + h - season])
    # a history shorter than a season: the recent level, like the naive level
    short = builder.build(panel, i, a, h, with_label=False, first=np.full(len(i), o - 20))
    np.testing.assert_array_equal(SeasonalNaive().predict(short), 1.0)
    # exactly a season: last season's level needs the period before it, so the naive level
    # again (a twin of it); one period more, last season's own periods
    for n, twin in ((season, True), (season + 1, False)):
        first = np.full(len(i), o - n + 1)
        held = builder.build(panel, i, a, h, with_label=False, first=first)
        assert bool(np.all(SeasonalNaive().predict(held) == 1.0)) is twin, n
        assert (SNAIVE in twins_of_naive(tables, n)) is twin, n
    assert twins_of_naive(tables, 21) == [SNAIVE]


def test_the_last_value_repeats_the_last_observed_period_at_every_step(tables, monkeypatch):
    builder, panel, o = tables.builder, tables.data.panel, tables.data.origin_idx
    row = int(tables.data.source_rows[0])
    i, a, h = builder.prediction_rows(np.array([row]), o, 8)
    table = builder.build(panel, i, a, h, with_label=False)
    assert np.isfinite(panel.Y[row, o])
    np.testing.assert_allclose(LastValue().predict(table) * table.level, panel.Y[row, o])
    # without a lag of one period the features cannot show the last value: the naive level
    monkeypatch.setattr(builder, "lags", [lag for lag in builder.lags if lag != 1])
    no_lag1 = builder.build(panel, i, a, h, with_label=False)
    np.testing.assert_array_equal(LastValue().predict(no_lag1), 1.0)
    assert LAST in twins_of_naive(tables, 21)


def test_a_cut_left_out_of_the_weights_is_replayed_only_for_prediction_intervals():
    """Without intervals, auto does not fit the cut its weights leave out; with them, that cut
    is replayed (the intervals read every cut) and auto's forecasts are the same."""
    task = _late_task()
    origin = task.evaluation_origins()[-1]
    short = _tables(task)
    season = short.builder.season_length
    kept, left_out = (short.data.panel.times[short.data.origin_idx - k] for k in (8, season))
    params = {"auto": {"candidates": ["source_only", "target_only"]}}
    plain = tc.compare(task, ["auto"], params=params, origins=[origin])
    assert set(plain.replays["cut"]) == {kept}
    assert plain.selection["reason"].str.contains(f"cut {left_out.date()} left out").all()
    both = tc.compare(task, ["auto"], params=params, origins=[origin], quantiles=[0.1, 0.9])
    assert set(both.replays["cut"]) == {kept, left_out}
    pd.testing.assert_frame_equal(both.selection, plain.selection)
    np.testing.assert_allclose(both.forecasts["forecast"], plain.forecasts["forecast"])
    rows = ["domain", "cut", "candidate", "wape"]
    at_kept = both.replays[both.replays["cut"] == kept][rows].reset_index(drop=True)
    pd.testing.assert_frame_equal(at_kept, plain.replays[rows].reset_index(drop=True))
    # replays.csv marks the cut the weights leave out, and the report's summary, like
    # selection.csv's replay_<candidate>, averages the cuts the weights read
    assert not plain.replays["left_out"].any()
    assert both.replays["left_out"].tolist() == (both.replays["cut"] == left_out).tolist()
    from transfercast.report import replay_summary

    assert set(both.selection["n"]) == set(both.replays["n"])  # the n of the target's replays
    summary = replay_summary(both.replays, both.selection).set_index("candidate")
    row = both.selection.iloc[0]
    for name in ("source_only", "target_only", NAIVE):
        assert summary.loc[name, "replayed_wape"] == pytest.approx(row[f"replay_{name}"])
        assert summary.loc[name, "domain_cuts"] == row["replayed"]


def test_printed_weights_sum_to_one():
    """selection.csv's weights, rounded to three decimals, still sum to 1 (three thirds do not
    print as 0.333 each)."""
    from transfercast.replay import weight_text

    for weights in ([1 / 3] * 3, [0.6485, 0.3325, 0.019], [1.0], [0.2, 0.2, 0.2, 0.2, 0.2]):
        text = weight_text(weights)
        printed = [float(w) for w in text.split(";")]
        assert sum(printed) == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_allclose(printed, weights, atol=1e-3)
    assert weight_text([1 / 3] * 3) == "0.334;0.333;0.333"


def test_the_replay_table_written_is_the_same_whatever_order_the_replays_ran_in():
    """A strategy's own replays (for its intervals) and auto's replays of it with other
    parameters share (n, domain, cut, candidate): the row replays.csv keeps must not depend on
    which ran first (a resumed comparison, other jobs)."""
    registry = tc.get_plugin_manager().registry
    small = {"source_params": {"num_boost_round": 10}}
    one = {"source_only": registry.create("source_only", small)}
    other = {"source_only": registry.create("source_only", {})}
    task = small_task(1.0)
    n = None
    written = []
    for order in ((one, other), (other, one)):
        tables = _tables(task)
        n = n or history_length(tables, task.targets[0])
        for candidates in order:
            replays(tables, n, candidates, SourceCache(), cuts=1)
        written.append(held_replays(tables))
    mine = written[0][written[0]["candidate"] == "source_only"]
    assert len(mine) and mine["wape"].notna().all()
    a, b = (w.drop(columns="fit_seconds") for w in written)  # timings differ, nothing else
    pd.testing.assert_frame_equal(a, b)
    # beside auto's replays (more candidates), its rows are kept, whichever parameters each
    # has: selection.csv reads them
    target_only = {"target_only": registry.create("target_only", {})}
    for mine, its in ((one, other), (other, one)):
        tables = _tables(task)
        replays(tables, n, its, SourceCache(), cuts=1)  # a strategy's own, for its intervals
        auto = replays(tables, n, {**mine, **target_only}, SourceCache(), cuts=1)
        held = held_replays(tables)
        kept = held[held["candidate"] == "source_only"].set_index(["domain", "cut"])["wape"]
        theirs = auto.table[auto.table["candidate"] == "source_only"].set_index(["domain", "cut"])
        pd.testing.assert_series_equal(kept.sort_index(), theirs["wape"].sort_index())


def test_the_naive_level_of_a_series_that_sold_nothing_recently_is_zero():
    """A series whose last periods before the origin sold nothing: the naive level forecasts
    0 (the tables scale by its history there), the last value 0; its interval scale is its
    mean absolute sales over its history, with a warning, and a replayed series like it
    calibrates no interval (its errors have no level to be measured against)."""
    from transfercast.replay import LastValue, Naive
    from transfercast.uncertainty import levels_and_steps

    frame = small_frame()
    task = small_task(1.0)
    origin = task.evaluation_origins()[-1]
    dates = pd.to_datetime(frame["date"])
    quiet = (frame["store"] == "S07") & (frame["dept"] == "D1")
    quiet &= (dates > origin - pd.Timedelta(weeks=10)) & (dates <= origin)
    frame.loc[quiet, "sales"] = 0.0
    raw = synthetic_config("x.csv", ["S06", "S07", "S08"], horizon=6, target_history=13)
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    tables = OriginTables(task, task.at_origin(origin), task.features)
    naive = tables.forecast(Naive(), "S07").set_index("unique_id")["forecast"]
    assert (naive.loc["S07|D1"] == 0).all() and (naive.loc["S07|D2"] > 100).all()
    last = tables.forecast(LastValue(), "S07").set_index("unique_id")["forecast"]
    assert (last.loc["S07|D1"] == 0).all()
    with pytest.warns(DataWarning, match=r"'S07': 1 series sold nothing .*first 'S07\|D1'"):
        framed = levels_and_steps(tables, "S07", tables.forecast(Naive(), "S07"))
    scale = framed.set_index("unique_id")["level"]
    panel = tables.data.panel
    past = panel.Y[list(panel.ids).index("S07|D1"), : tables.data.origin_idx + 1]
    typical = np.nanmean(np.abs(past))
    assert typical > 100 and np.allclose(scale.loc["S07|D1"], typical)
    assert (scale.loc["S07|D2"] > 100).all() and np.isfinite(framed["volatility"]).all()

    # a source series that sold nothing before a replay cut: NaN level, no scaled error there
    cut = tables.data.panel.times[cut_points(tables, 13, 1)[0]]
    quiet = (frame["store"] == "S01") & (frame["dept"] == "D1")
    quiet &= (dates > cut - pd.Timedelta(weeks=10)) & (dates <= cut)
    frame.loc[quiet, "sales"] = 0.0
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    tables = OriginTables(task, task.at_origin(origin), task.features)
    detail = replays(tables, 13, {}, SourceCache(), cuts=1).detail
    closed = detail["unique_id"] == "S01|D1"
    assert closed.any() and detail.loc[closed, "level"].isna().all()
    assert detail.loc[~closed, "level"].gt(0).all()
    assert scaled_errors(detail[closed]).isna().all()


def test_a_target_series_that_never_sold_gets_an_interval_of_its_domain_s_scale():
    """A series of a selling target domain recorded with zero sales over its whole history
    (13 weeks): its intervals are scaled by the mean level of the domain's selling series
    (before: by its mean sales, 0, so q0.1 = q0.9 = a forecast that is not 0), with the
    warning saying so."""
    frame = small_frame()
    dates = pd.to_datetime(frame["date"])
    never = (frame["store"] == "S07") & (frame["dept"] == "D1")
    frame.loc[never & (dates <= dates.max() - pd.Timedelta(weeks=6)), "sales"] = 0.0
    raw = synthetic_config("x.csv", ["S06", "S07", "S08"], horizon=6, target_history=13)
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    origin = task.evaluation_origins()[-1]
    model = tc.TransferForecaster("source_only", quantiles=[0.1, 0.9])
    with pytest.warns(DataWarning, match=r"where they never sold"):
        fc = model.fit(task, origin=origin).predict()
    mine = fc[(fc["store"] == "S07") & (fc["dept"] == "D1")]
    other = fc[(fc["store"] == "S07") & (fc["dept"] == "D2")]
    assert len(mine) == 6 and (mine["q0.9"] - mine["q0.1"] > 0).all()
    width = (mine["q0.9"] - mine["q0.1"]).mean() / (other["q0.9"] - other["q0.1"]).mean()
    assert 0.2 < width < 5  # the domain's scale, not 0 and not one sales unit


class _Broken(tc.Strategy):
    """A candidate whose fit raises on every replayed domain."""

    name = "broken"

    def fine_tune(self, target, source):
        raise ZeroDivisionError("no rows to divide by")

    def predict(self, table):
        return np.ones(len(table))


def test_a_candidate_that_fails_on_the_replays_is_named_in_a_warning():
    """It was left out of auto's weights without a word anywhere."""
    tables = _tables(small_task(1.0))
    said = r"'broken' failed on the source replays at the cut \S+ \(ZeroDivisionError: no rows "
    with pytest.warns(DataWarning, match=said + r"to divide by\): it has no replay rows"):
        rep = replays(tables, 13, {"broken": _Broken()}, SourceCache(), cuts=1)
    assert "broken" not in set(rep.table["candidate"])


def test_auto_with_one_source_domain_says_it_has_no_replays():
    """One source domain cannot replay being new (a replayed domain needs others as its
    sources): auto weighs without replays, and a warning says so rather than only selection_."""
    from transfercast.plugins.auto import Auto

    task = small_task(sources=["S01"], targets=["S06"])
    auto = Auto(
        {
            "candidates": ["target_only", "source_only"],
            "strategies": {"source_only": {"source_params": {"num_boost_round": 20}}},
        }
    )
    with pytest.warns(
        DataWarning, match=r"no source replays at \d{4}-\d\d-\d\d: one source domain"
    ):
        model = tc.TransferForecaster(auto).fit(task)
        forecast = model.predict()
    assert np.isfinite(forecast["forecast"]).all() and len(forecast) == 2 * 8
    # its reason gives the inner figures alone (before: a replayed WAPE of 0.000 beside them)
    reason = model.fitted_["S06"].selection_["reason"].iloc[0]
    assert "inner WAPE" in reason and "replayed" not in reason.split(":")[-1], reason
    assert not re.search(r"\b0\.000\b", reason), reason


def _task(frame: pd.DataFrame, horizon: int = 8, **features) -> tc.TransferTask:
    raw = synthetic_config("unused.csv", frame.attrs["targets"], horizon=horizon, target_history=13)
    if features:
        raw["features"] = features
    return tc.TransferTask.from_config(parse_config(raw), data=frame)


def test_no_replay_horizon_runs_past_the_origin_when_the_season_is_shorter_than_the_horizon():
    """With a season of 4 and a horizon of 8, the cut one season back would end its horizon
    four periods after the origin: it is not a cut."""
    tables = _tables(_task(small_frame(1.0), season_length=4))
    origin = tables.data.origin_idx
    cuts = cut_points(tables, 13, 3)
    assert cuts == [origin - 8, origin - 16, origin - 24]
    assert all(c + tables.horizon <= origin for c in cuts)


def test_a_replayed_domain_had_as_many_periods_at_its_cut_as_the_target_has():
    """Two source stores open 20 weeks after the others: at a history one period longer than
    they had at the first cut they are not replayed; the others are."""
    frame = small_frame(1.0)
    dates = sorted(frame["date"].unique())
    frame = frame[~(frame["store"].isin(["S01", "S02"]) & (frame["date"] < dates[20]))]
    tables = _tables(_task(frame))
    c = tables.data.origin_idx - 8
    n = c + 1 - 20 + 1  # S01 and S02 had n - 1 periods at the cut
    layout = build_layout(tables, n, 2, 1, 0)
    replayed = {d for _, _, members in layout.groups for d in members}
    assert replayed and not replayed & {"S01", "S02"}
    for fit, _, members in layout.groups:
        cut = fit.data.origin_idx
        for rows in members.values():
            assert tables.history_start(rows, until=cut) <= cut + 1 - n


def test_a_replayed_domain_is_never_among_its_own_sources(tables):
    layout = build_layout(tables, 13, 2, 2, 0)
    assert layout.groups
    for fit, _, members in layout.groups:
        replayed = np.concatenate(list(members.values()))
        assert not np.isin(fit.data.source_rows, replayed).any()
        domains = set(fit.parent.domains[fit.data.source_rows])
        assert domains and not domains & set(members)


def test_a_candidate_without_a_loss_on_some_replayed_domain_cut_is_left_out_of_the_losses():
    """A candidate that failed on a replay group is not weighed on the cuts it did score."""
    table = pd.DataFrame(
        {"domain": ["A", "A", "B", "B"], "cut": 0, "candidate": ["x", "y", "x", "z"]}
        | {"wape": [0.3, 0.1, 0.2, 0.4]}
    ).reindex(columns=TABLE_COLUMNS)
    rep = Replays(table, pd.DataFrame(columns=DETAIL_COLUMNS), pd.DataFrame(), 0.0)
    assert list(rep.losses().columns) == ["x"]
    assert rep.losses()["x"].tolist() == [0.3, 0.2]


def test_a_season_is_seen_from_one_full_season_of_source_history():
    tables = _tables(_late_task())
    season, o = int(tables.builder.season_length), tables.data.origin_idx
    assert tables.history_start(tables.data.source_rows) == 0
    seen = [c for c in range(o + 1) if season_seen(tables, c)]
    assert seen == list(range(season - 1, o + 1))


def test_no_cut_is_left_out_when_that_would_leave_none():
    """From week 56, the sources had seen a season at the origin but at neither cut: leaving
    both out would leave no replays, so both are kept."""
    tables = _tables(_late_task(56))
    o = tables.data.origin_idx
    assert season_seen(tables, o) and not season_seen(tables, o - 8)
    cuts = cut_points(tables, 13, 2)
    assert cuts == [o - 8, o - 16] and not any(season_seen(tables, c) for c in cuts)
    assert seasoned_cuts(tables, cuts) == (cuts, [])


def test_the_inner_cut_is_half_an_odd_horizon_rounded_up_before_the_origin():
    tables = _tables(_task(small_frame(1.0), horizon=7))
    assert inner_cut(tables) == tables.data.origin_idx - 4
    own = build_inner(tables, {}, SourceCache())
    assert own.table["n"].iloc[0] == 4 and own.detail["step"].max() == 4


def _as_old_as_the_sources() -> tc.TransferTask:
    """Two target stores with every period the sources have, forecast on all of their
    history (no ``target_history``), as a real forecast is."""
    frame = synthetic_sales(
        n_domains=8, series_per_domain=2, n_periods=120, n_targets=2, target_periods=120, seed=0
    )
    raw = synthetic_config("unused.csv", frame.attrs["targets"], horizon=8, windows=1)
    del raw["task"]["target_history"]
    return tc.TransferTask.from_config(parse_config(raw), data=frame)


def test_a_target_as_old_as_the_sources_is_replayed_at_the_longest_history_they_allow():
    """No source was 112 periods old one horizon before the origin: the replays take the
    longest history at which the sources hold two cuts (two horizons back: 95 periods), not
    none; the cut a season back would need a shorter one."""
    tables = _tables(_as_old_as_the_sources())
    target, origin, h = tables.task.targets[0], tables.data.origin_idx, tables.horizon
    n = history_length(tables, target)
    assert n == origin + 1 == 112 and cut_points(tables, n, 2) == []
    capped = replay_history(tables, target)
    assert capped == origin - 2 * h == 95
    assert cut_points(tables, capped, 2) == [origin - h, origin - 2 * h]
    assert cut_points(tables, capped + 1, 2) == [origin - h]
    assert replay_history(tables, target, cuts=1) == origin - h  # one cut: one horizon back
    rep = replays(tables, capped, _candidates(), SourceCache())
    assert rep.table["domain"].nunique() == 6 and rep.table["n"].eq(95).all()
    # a young target keeps its own history: the cap leaves it alone
    young = _tables(small_task())
    assert replay_history(young, young.task.targets[0]) == 13


def test_a_forecast_on_all_of_a_targets_history_gets_replay_intervals_and_auto_replays():
    """A real forecast (no target_history) of targets as old as the sources: every quantile is
    a number and ``auto`` weighs on replayed domains, without a 'no source replays' warning."""
    task = _as_old_as_the_sources()
    small = {"source_params": {"num_boost_round": 30}}
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="no source replays", category=DataWarning)
        fc = tc.TransferForecaster("pooled", quantiles=[0.1, 0.9], **small).fit(task).predict()
        assert fc[["q0.1", "q0.9"]].notna().all().all() and len(fc) == 2 * 2 * 8
        assert (fc["q0.9"] > fc["q0.1"]).all()
        auto = {"candidates": ["target_only", "pooled"], "strategies": {"pooled": small}}
        model = tc.TransferForecaster("auto", **auto).fit(task)
    for strategy in model.fitted_.values():
        row = strategy.selection_.iloc[0]
        assert "stack over 12 replayed domain-cuts (6 domains)" in row["reason"], row["reason"]
        assert row["n"] == 119 - 2 * 8  # the origin is the last of 120 periods
