"""`auto`: per-target selection by an inner backtest, the guard, the prior rule, blending,
the selection hook, the shared inner work and the selection regret."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import transfercast as tc
from transfercast.errors import ConfigError, TransfercastError
from transfercast.evaluation import selection_regret
from transfercast.plugins.auto import SAFE, SOURCE_RANKINGS, Auto

from .conftest import small_task

CANDIDATES = ["target_only", "source_only"]


def _auto(**params):
    return {"auto": {"candidates": CANDIDATES, "blend": 1, **params}}


@pytest.fixture(scope="module")
def comparisons():
    """``auto`` alone at relatedness 0 and 1 (3 targets x 2 origins each)."""
    return {r: tc.compare(small_task(r), ["auto"], params=_auto()) for r in (0.0, 1.0)}


def _transfer_share(selection: pd.DataFrame) -> float:
    return float(selection["chosen"].map(lambda c: any(p not in SAFE for p in c.split("+"))).mean())


def test_unrelated_targets_get_a_non_transfer_strategy(comparisons):
    sel = comparisons[0.0].selection
    assert len(sel) == 6
    assert _transfer_share(sel) < 0.5
    assert sel["reason"].str.startswith("guard").sum() >= 4
    # by default (ranking = "season") a held guard keeps the safer one by the sources one
    # season earlier, whatever the target's own inner backtest says
    held = sel[sel["reason"].str.startswith("guard")]
    safer = held[["season_target_only", "season_naive"]].idxmin(axis=1).str[len("season_") :]
    assert (held["chosen"] == safer).all()
    assert held["reason"].str.contains("the safer one by the sources one season earlier").all()


def test_related_targets_get_a_transfer_strategy(comparisons):
    sel = comparisons[1.0].selection
    assert _transfer_share(sel) > 0.5


def test_selection_table_columns_and_consistency(comparisons):
    sel = comparisons[1.0].selection
    assert list(sel.columns[:4]) == ["target", "origin", "chosen", "reason"]
    for name in [*CANDIDATES, "naive"]:
        assert f"inner_{name}" in sel.columns
    assert set(sel["target"]) == {"S06", "S07", "S08"}
    assert sel["origin"].nunique() == 2
    # with the default policy, a transfer choice has the lowest inner score of all
    inner = sel[[f"inner_{n}" for n in [*CANDIDATES, "naive"]]]
    transfer = sel["chosen"] == "source_only"
    assert (inner[transfer].idxmin(axis=1) == "inner_source_only").all()


def test_inner_tables_and_source_models_are_shared_by_all_targets(comparisons):
    # per origin: one outer source model, one per inner origin (one here) and one per fold of
    # the season ranking's backtest (3), not one per target
    assert comparisons[1.0].source_fits == 2 * (1 + 1 + 3)


def test_auto_scores_equal_the_chosen_strategy():
    task = small_task(1.0)
    origin = task.evaluation_origins()[-1]
    comp = tc.compare(task, ["auto", *CANDIDATES], params=_auto(), origins=[origin])
    wape = comp.scores.set_index(["target", "strategy"])["wape"]
    for _, row in comp.selection.iterrows():
        assert wape[(row["target"], "auto")] == pytest.approx(wape[(row["target"], row["chosen"])])
    regret = comp.regret()
    assert (regret["regret"] >= -1e-12).all()
    assert len(regret) == 3


def test_a_huge_margin_never_trusts_transfer():
    model = tc.TransferForecaster(
        "auto", candidates=CANDIDATES, blend=1, margin=0.95, season_check=False
    )
    model.fit(small_task(1.0))
    for fitted in model.fitted_.values():
        assert fitted.chosen_[0] in SAFE
        assert fitted.selection_["reason"].iloc[0].startswith("guard")


def test_an_unseen_season_waives_the_guard_only_for_similar_sources():
    from transfercast.similarity import horizon_season

    # the last origin's horizon holds a season the 13 target weeks never showed; a huge margin
    # would keep transfer out everywhere, but the safe strategies cannot forecast that season
    for relatedness in (1.0, 0.0):
        model = tc.TransferForecaster("auto", candidates=CANDIDATES, blend=1, margin=0.95)
        model.fit(small_task(relatedness))
        auto = Auto({"candidates": CANDIDATES})
        waived = 0
        for domain, fitted in model.fitted_.items():
            season = horizon_season(model.tables_, domain, auto.params.season_tolerance)
            assert season["unseen"]
            sel = fitted.selection_.iloc[0]
            similar, facts = auto.sources_similar(model.tables_, domain)
            # what transfer lost in the inner backtest against what the season costs the safe
            loss = sel["inner_source_only"] - min(sel["inner_target_only"], sel["inner_naive"])
            assert season["gap"] > 0
            facts = f"{season['facts']}, season gap {season['gap']:.3f} WAPE; {facts}"
            if similar and loss < season["gap"]:
                waived += 1
                assert fitted.chosen_ == ["source_only"]
                assert sel["reason"].startswith(f"unseen season, guard waived ({facts})")
            else:
                assert fitted.chosen_[0] in SAFE and sel["reason"].startswith("guard")
                assert f"to waive the guard ({facts})" in sel["reason"]
        # related sources get the waiver for most targets, unrelated ones for none
        assert (waived >= 2) if relatedness == 1.0 else (waived == 0)


def test_in_an_unseen_season_a_clear_inner_loser_is_still_kept_out():
    scores = pd.DataFrame(
        {"strategy": ["target_only", "source_only", "naive"], "wape": [0.20, 0.24, 0.22]}
    )
    # transfer lost 0.04 WAPE in the inner backtest; the season costs the safe ones 0.05
    names, _, reason = Auto({"blend": 1}).default_policy(scores, (True, "facts", 0.05))
    assert names == ["source_only"] and reason.startswith("unseen season, guard waived (facts)")
    assert "+0.040 WAPE from the best safe one" in reason
    # ... or only 0.03: the source model misfits the weeks we can see by more than that
    names, _, reason = Auto({"blend": 1}).default_policy(scores, (True, "facts", 0.03))
    assert names == ["target_only"]
    assert "but source_only lost the inner backtest by 0.040 WAPE, more than the 0.030" in reason
    names, _, reason = Auto({"blend": 1}).default_policy(scores, (False, "facts", 0.05))
    assert names == ["target_only"] and "the sources are not similar enough" in reason


def test_season_shown_needs_the_index_to_move_over_the_targets_weeks():
    from transfercast.similarity import season_shown

    # Walmart, a store opened in May at the 2011-09-09 origin: summer weeks, no season
    assert not season_shown({"seen_range": (0.93, 1.06)}, 0.1)
    # ... and at 2011-12-09, when its weeks hold Thanksgiving
    assert season_shown({"seen_range": (0.90, 1.38)}, 0.1)
    assert season_shown({"seen_range": (1.0, 1.21)}, 0.1)
    assert not season_shown({"seen_range": (1.0, 1.19)}, 0.1)
    # no seasonal evidence from the sources: nothing says the weeks were flat
    assert season_shown({"unseen": False, "gap": 0.0, "facts": "none"}, 0.1)


def test_a_seasonal_correlation_over_flat_weeks_does_not_count(monkeypatch):
    import transfercast.plugins.auto as auto_module

    # a target indistinguishable from the sources (AUC 0.45) whose profile correlates at -0.05
    # with theirs over weeks where the sources' index hardly moves
    monkeypatch.setattr(
        auto_module,
        "domain_similarity",
        lambda tables, domain: {"domain_auc": 0.45, "season_corr": -0.05},
    )
    auto = Auto({})
    flat = {"unseen": True, "gap": 0.04, "facts": "f", "seen_range": (0.93, 1.06)}
    similar, facts = auto.sources_similar(None, "S1", flat)
    assert similar
    assert facts == (
        "domain AUC 0.45, seasonal correlation -0.05 (not counted: the sources' seasonal "
        "index spans only 0.93-1.06 over the target's weeks)"
    )
    # where the index moves over the target's weeks, the correlation counts against the sources
    shown = {**flat, "seen_range": (0.90, 1.38)}
    assert auto.sources_similar(None, "S1", shown) == (
        False,
        "domain AUC 0.45, seasonal correlation -0.05",
    )
    # the AUC still counts over flat weeks
    monkeypatch.setattr(
        auto_module,
        "domain_similarity",
        lambda tables, domain: {"domain_auc": 0.93, "season_corr": -0.05},
    )
    assert not auto.sources_similar(None, "S1", flat)[0]


def test_horizon_season_reads_the_sources_calendar_profile():
    from transfercast.similarity import horizon_season, source_profiles

    task = small_task(1.0)
    comp_origins = task.evaluation_origins()
    model = tc.TransferForecaster("target_only").fit(task, origin=comp_origins[0])
    tables = model.tables_
    profile, _ = source_profiles(tables)
    future = pd.date_range(tables.data.origin, periods=9, freq="W-FRI")[1:]
    ahead = profile.reindex(future.isocalendar().week.unique())
    rows = tables.data.target_rows["S06"]
    seen_t = tables.data.panel.times[: tables.data.origin_idx + 1][
        ~np.all(np.isnan(tables.data.panel.Y[rows, : tables.data.origin_idx + 1]), axis=0)
    ]
    seen = profile.reindex(seen_t.isocalendar().week.unique())
    season = horizon_season(tables, "S06", 0.1)
    unseen = ahead.max() > 1.1 * seen.max() or ahead.min() < 0.9 * seen.min()
    assert season["unseen"] == unseen
    assert f"{ahead.max():.2f} over the horizon" in season["facts"]
    # the gap: the least WAPE of a forecast held within the range of the target's weeks
    index = profile.reindex(future.isocalendar().week).dropna().to_numpy()
    gap = np.abs(index - np.clip(index, seen.min(), seen.max())).sum() / index.sum()
    assert season["gap"] == pytest.approx(gap)
    assert season["seen_range"] == pytest.approx((seen.min(), seen.max()))
    # an infinite tolerance never calls a season unseen
    assert not horizon_season(tables, "S06", 1e9)["unseen"]


def test_blend_weights_come_from_inner_errors():
    # the guard rejects transfer (huge margin): target_only and naive are blended (with the
    # target's own ranking; the season ranking keeps the safer one alone, tested below)
    model = tc.TransferForecaster(
        "auto", candidates=CANDIDATES, blend=2, margin=0.95, season_check=False, ranking="target"
    )
    model.fit(small_task(1.0))
    fitted = model.fitted_["S06"]
    assert len(fitted.members_) == 2 and "+" in fitted.selection_["chosen"].iloc[0]
    assert set(fitted.chosen_) == {"target_only", "naive"}
    assert sum(fitted.weights_) == pytest.approx(1.0)
    sel = fitted.selection_.iloc[0]
    scores = [sel[f"inner_{n}"] for n in fitted.chosen_]
    assert (fitted.weights_[0] > fitted.weights_[1]) == (scores[0] < scores[1])
    table = model.tables_.builder.build(
        model.tables_.data.panel,
        *model.tables_.builder.prediction_rows(
            model.tables_.data.target_rows["S06"], model.tables_.data.origin_idx, 8
        ),
        with_label=False,
    )
    pairs = zip(fitted.members_, fitted.weights_, strict=True)
    expected = sum(w * m.predict(table) for m, w in pairs)
    np.testing.assert_allclose(fitted.predict(table), expected)


def test_prior_rule_when_the_history_is_too_short():
    from transfercast.similarity import domain_similarity

    # 8 periods of history, horizon 8: no inner origin keeps min_history = 6 periods
    model = tc.TransferForecaster("auto", candidates=CANDIDATES, prior_max_auc=0.7)
    model.fit(small_task(1.0, target_history=8))
    for domain, fitted in model.fitted_.items():
        sel = fitted.selection_.iloc[0]
        assert sel["reason"].startswith("prior rule")
        assert np.isnan(sel["inner_target_only"]) and np.isnan(sel["inner_source_only"])
        sim = domain_similarity(model.tables_, domain)
        trust = sim["domain_auc"] <= 0.7 and not sim["season_corr"] < 0.3
        assert sel["chosen"] == ("source_only" if trust else "naive")
        assert f"{sim['domain_auc']:.2f}" in sel["reason"]


def test_the_select_hook_replaces_the_default_policy():
    seen = []

    class Picker:
        @tc.hookimpl
        def transfercast_select_strategy(self, target, scores):
            seen.append((target, set(scores["strategy"])))
            return "target_only"

    pm = tc.get_plugin_manager()
    pm.add_plugin(Picker(), "picker", "in-process")
    try:
        model = tc.TransferForecaster("auto", candidates=CANDIDATES).fit(small_task(1.0))
    finally:
        pm.pm.unregister(name="picker")
    assert {t for t, _ in seen} == {"S06", "S07", "S08"}
    assert seen[0][1] == {"target_only", "source_only", "naive"}
    for fitted in model.fitted_.values():
        assert fitted.chosen_ == ["target_only"]
        assert "plugin" in fitted.selection_["reason"].iloc[0]


def test_a_hook_answer_that_is_not_a_candidate_is_an_error():
    class Bad:
        @tc.hookimpl
        def transfercast_select_strategy(self, target, scores):
            return "no_such_strategy"

    pm = tc.get_plugin_manager()
    pm.add_plugin(Bad(), "bad-picker", "in-process")
    try:
        with pytest.raises(TransfercastError, match="no_such_strategy"):
            tc.TransferForecaster("auto", candidates=CANDIDATES).fit(small_task(1.0))
    finally:
        pm.pm.unregister(name="bad-picker")


def test_unknown_candidate_is_a_config_error():
    with pytest.raises(ConfigError, match="no_such"):
        Auto(candidates=["target_only", "no_such"]).candidate_names()
    with pytest.raises(ConfigError, match="margin"):
        Auto(margin=-1)
    assert "auto" not in Auto().candidate_names()  # the defaults keep registered ones only


def test_selection_regret_against_the_best_single_strategy():
    scores = pd.DataFrame(
        {
            "target": ["a"] * 3 + ["b"] * 3,
            "origin": ["o"] * 6,
            "strategy": ["auto", "x", "y"] * 2,
            "wape": [0.2, 0.1, 0.3, 0.5, 0.6, 0.5],
            "status": "ok",
        }
    )
    reg = selection_regret(scores).set_index("target")
    assert reg.loc["a", "best"] == "x" and reg.loc["a", "regret"] == pytest.approx(0.1)
    assert reg.loc["b", "regret"] == pytest.approx(0.0)
    assert selection_regret(scores[scores["strategy"] != "auto"]).empty


def test_a_fitted_auto_saves_and_loads_without_pickle(tmp_path):
    model = tc.TransferForecaster("auto", candidates=CANDIDATES, blend=2).fit(small_task(1.0))
    fitted = model.fitted_["S07"]
    entries = fitted.save(tmp_path)
    import json

    entries = json.loads(json.dumps(entries))  # the manifest entries are plain JSON
    loaded = Auto.load(tmp_path, {"params": fitted.get_params(), **entries})
    tables = model.tables_
    rows = tables.builder.prediction_rows(tables.data.target_rows["S07"], tables.data.origin_idx, 8)
    table = tables.builder.build(tables.data.panel, *rows, with_label=False)
    np.testing.assert_allclose(loaded.predict(table), fitted.predict(table))
    assert loaded.chosen_ == fitted.chosen_


def test_equal_inner_forecasts_are_one_candidate_kept_as_the_more_adaptive():
    from transfercast.plugins.auto import same_forecasts

    a, b = np.array([1.0, 2.0]), np.array([1.5, 2.0])
    preds = {"source_only": [a, b], "pooled": [b, a], "boost_continue": [a.copy(), b.copy()]}
    names = ["source_only", "pooled", "boost_continue"]
    assert same_forecasts(preds, names) == {"source_only": "boost_continue"}
    assert same_forecasts(preds, ["boost_continue", "pooled", "source_only"]) == {
        "boost_continue": "source_only"
    }
    # one inner origin more for one of them: not the same forecasts
    assert same_forecasts({**preds, "boost_continue": [a, b, a]}, names) == {}


def test_a_tie_neither_hides_the_adaptive_candidate_nor_wins_twice():
    auto = Auto({"blend": 2})
    scores = pd.DataFrame(
        {
            "strategy": ["target_only", "source_only", "pooled", "boost_continue", "naive"],
            "wape": [0.30, 0.10, 0.12, 0.10, 0.25],
            "same_as": [np.nan, "boost_continue", np.nan, np.nan, np.nan],
        }
    )
    names, weights, reason = auto.default_policy(scores)
    assert names == ["boost_continue", "pooled"]
    assert weights[0] == pytest.approx(0.12 / 0.22)
    assert "source_only forecast as boost_continue in the inner backtest" in reason


def test_by_default_the_two_best_candidates_are_blended():
    assert Auto().params.blend == 2
    # unrelated targets, ranked by their own inner backtest: the guard keeps transfer out and
    # blends the two safe candidates, with the better one weighted more
    model = tc.TransferForecaster("auto", candidates=CANDIDATES, ranking="target")
    fitted = model.fit(small_task(0.0)).fitted_["S06"]
    assert sorted(fitted.chosen_) == ["naive", "target_only"]
    sel = fitted.selection_.iloc[0]
    inner = [sel[f"inner_{n}"] for n in fitted.chosen_]
    assert fitted.weights_[0] > fitted.weights_[1] and inner[0] < inner[1]


def test_the_guard_can_be_turned_off():
    scores = pd.DataFrame(
        {
            "strategy": ["target_only", "source_only", "pooled", "naive"],
            "wape": [0.30, 0.12, 0.14, 0.10],
        }
    )
    names, _, reason = Auto({"blend": 1}).default_policy(scores)
    assert names == ["naive"] and reason.startswith("guard: best transfer source_only")
    names, weights, reason = Auto({"blend": 2, "guard": False}).default_policy(scores)
    assert names == ["source_only", "pooled"]
    assert weights[0] == pytest.approx(0.14 / 0.26)
    assert "guard off: best transfer source_only inner wape 0.120" in reason


def _ranking_text(reason: str, ranking: str = "season") -> str:
    return reason.split(f"ranked by {SOURCE_RANKINGS[ranking]['by']}: ")[1]


@pytest.mark.parametrize("ranking", ["season", "recent"])
def test_source_ranking_comes_from_the_sources_alone_and_orders_the_blend(ranking):
    params = {"candidates": ["target_only", "source_only", "pooled"], "ranking": ranking}
    sels = {
        r: tc.compare(small_task(r), ["auto"], params={"auto": params}).selection
        for r in (0.0, 1.0)
    }
    related = sels[1.0]
    if ranking == "recent":  # the safe candidates are still scored one season earlier
        assert "recent_target_only" not in related and "recent_naive" not in related
        assert related[["season_target_only", "season_naive"]].notna().all(axis=None)
        assert related["recent_source_only"].notna().all()
    ranked = related[related["reason"].str.contains("ranked by the sources")]
    assert len(ranked) >= 4  # transfer passed the guard (or it was waived) in most cells
    for origin, cells in ranked.groupby("origin"):
        texts = {_ranking_text(r, ranking) for r in cells["reason"]}
        assert len(texts) == 1  # one ranking per origin, shared by every target
        order = [part.split(" ")[0] for part in texts.pop().split(", ")]
        for chosen in cells["chosen"]:
            assert chosen.split("+") == order[: len(chosen.split("+"))]
        # the targets' own data play no part: unrelated targets, same sources, same scores
        # (the reason lists only the candidates the guard let through, so compare the columns)
        other = sels[0.0]
        columns = [f"{ranking}_source_only", f"{ranking}_pooled"]
        mine = cells[columns].drop_duplicates()
        theirs = other.loc[other["origin"] == origin, columns].drop_duplicates()
        assert len(mine) == 1 and mine.notna().all(axis=None)
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), theirs.reset_index(drop=True))


def test_with_the_season_ranking_a_held_guard_keeps_the_safer_one_the_sources_show():
    # inner: target_only narrowly ahead of naive, transfer loses; one season earlier on the
    # sources the naive level did better than a model of a young store's own weeks
    scores = pd.DataFrame(
        {
            "strategy": ["target_only", "source_only", "pooled", "naive"],
            "wape": [0.09, 0.12, 0.14, 0.10],
        }
    )
    ranking = pd.Series({"target_only": 0.11, "naive": 0.07, "source_only": 0.05, "pooled": 0.06})
    auto = Auto({"ranking": "season"})
    names, weights, reason = auto.default_policy(scores, None, ranking)
    assert (names, weights) == (["naive"], [1.0])
    assert reason.startswith("guard: best transfer source_only")
    assert (
        "the safer one by the sources one season earlier: naive 0.070, target_only 0.110" in reason
    )
    assert "target_only is safer" not in reason  # the inner backtest's pick is not claimed
    # the season ranking never lets transfer past the guard
    assert not set(names) - {"target_only", "naive"}
    # without season scores of the safe candidates the two are blended by their inner errors
    names, weights, _ = auto.default_policy(scores, None, ranking.drop(["target_only", "naive"]))
    assert names == ["target_only", "naive"] and weights[0] == pytest.approx(0.10 / 0.19)
    # where transfer passes, the safe candidates' season scores change nothing
    passing = scores.assign(wape=[0.20, 0.08, 0.09, 0.15])
    names, _, _ = auto.default_policy(passing, None, ranking)
    assert names == ["source_only", "pooled"]


def _young_sources_task(young: set[str], since: str) -> tc.TransferTask:
    """:func:`small_task` whose source stores in ``young`` open at ``since``."""
    from transfercast.config import parse_config
    from transfercast.datasets import synthetic_config

    from .conftest import small_frame

    frame = small_frame(1.0)
    frame = frame[~(frame["store"].isin(young) & (frame["date"] < since))]
    raw = synthetic_config(
        "unused.csv", frame.attrs["targets"], horizon=8, target_history=13, windows=2
    )
    return tc.TransferTask.from_config(parse_config(raw), data=frame)


def test_the_season_ranking_asks_only_sources_as_old_then_as_the_target_is_now(monkeypatch):
    # origins 2020-12-25 and 2021-02-19, one season earlier 2019-12-27 and 2020-02-21; stores
    # opened 2020-01-03 had no history then, or 8 weeks against the target's 13
    young = {"S01", "S02", "S03"}
    task = _young_sources_task(young, "2020-01-03")
    asked: set[str] = set()
    backtest = Auto.backtest

    def spy(self, name, tables, domain, cache, actuals, history):
        if tables.data.origin_idx < len(task.panel.times) - 52:  # the season backtest
            asked.add(domain)
        return backtest(self, name, tables, domain, cache, actuals, history)

    monkeypatch.setattr(Auto, "backtest", spy)
    params = {"auto": {"candidates": CANDIDATES}}
    sel = tc.compare(task, ["auto"], params=params).selection
    assert asked == {"S04", "S05"}  # the old sources; the young ones were sources only
    assert sel["season_source_only"].notna().all()
    # with every source that young, the target's own inner backtest ranks, and says so
    task = _young_sources_task({"S01", "S02", "S03", "S04", "S05"}, "2020-01-03")
    sel = tc.compare(task, ["auto"], params=params).selection
    # (the data start with those stores in 2020: at the first origin they do not reach back)
    why = sel["reason"].str.extract(r"ranked by the target's inner backtest: (.*)$")[0]
    assert sorted(set(why)) == [
        "no source domain had the target's history one season earlier",
        "the data do not reach one season before the origin",
    ]
    assert why.notna().all()
    assert "season_source_only" not in sel or sel["season_source_only"].isna().all()


def test_when_no_candidate_scores_on_the_sources_a_season_earlier_the_reason_says_so(monkeypatch):
    task = _young_sources_task(set(), "2020-01-03")
    backtest = Auto.backtest

    def failing(self, name, tables, domain, cache, actuals, history):
        if tables.data.origin_idx < len(task.panel.times) - 52:  # the season backtest
            return {}, None
        return backtest(self, name, tables, domain, cache, actuals, history)

    monkeypatch.setattr(Auto, "backtest", failing)
    sel = tc.compare(task, ["auto"], params={"auto": {"candidates": CANDIDATES}}).selection
    assert (
        sel["reason"]
        .str.endswith(
            "ranked by the target's inner backtest: no candidate could be scored on the sources "
            "one season earlier"
        )
        .all()
    )


def test_ranking_by_mase_reads_mase_inner_scores(comparisons):
    # the inner backtest scores MASE only when it ranks by it; the recorded inner scores are
    # then MASE (the guard's unseen-season gap stays in WAPE)
    task = small_task(1.0)
    sel = tc.compare(task, ["auto"], params=_auto(metric="mase", ranking="target")).selection
    wape = comparisons[1.0].selection.set_index(["target", "origin"])
    sel = sel.set_index(["target", "origin"])
    cols = [f"inner_{n}" for n in [*CANDIDATES, "naive"]]
    assert sel[cols].notna().all().all()
    assert (sel[cols] > 0).all().all()
    assert not np.allclose(sel[cols].to_numpy(), wape.loc[sel.index, cols].to_numpy())
