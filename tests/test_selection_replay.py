"""The replay's experiment rules (benchmarks/selection_replay.py), whose figures
docs/selection.md cites."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
selection_replay = importlib.import_module("selection_replay")

INNER = pd.Series(
    {
        "target_only": 0.300,
        "source_only": 0.101,
        "pooled": 0.100,
        "boost_continue": 0.102,
        "representation": 0.200,
        "naive": 0.040,
    }
)


def test_near_ties_prefer_the_candidate_that_adapts_least():
    chosen = {"pooled": 0.6, "boost_continue": 0.4}
    near_tie = selection_replay.near_tie
    assert near_tie(chosen, INNER, 0.02, "only") == {"source_only": 1.0}
    # into the blend in place of its lighter member
    assert near_tie(chosen, INNER, 0.02, "blend") == {"pooled": 0.6, "source_only": 0.4}
    equal = near_tie(chosen, INNER, 0.02, "equal")
    assert equal == pytest.approx({"source_only": 1 / 3, "boost_continue": 1 / 3, "pooled": 1 / 3})
    # a tolerance too small for a tie leaves the best alone; safe choices are never touched
    assert near_tie(chosen, INNER, 0.001, "only") == {"pooled": 1.0}
    safe = {"naive": 0.7, "target_only": 0.3}
    assert near_tie(safe, INNER, 0.5, "only") is safe


def test_a_lower_similarity_bar_waives_only_what_the_season_gap_allows():
    def reason(corr: float, auc: float, gap: float) -> str:
        return (
            "guard: ...; the horizon holds a season the target never showed, but the sources "
            "are not similar enough to waive the guard (source seasonal index 0.86-1.67 over "
            f"the horizon, 0.91-1.06 over the target's 26 periods, season gap {gap:.3f} WAPE; "
            f"domain AUC {auc:.2f}, seasonal correlation {corr:.2f})"
        )

    names = ["target_only", "source_only", "pooled", "boost_continue", "representation"]
    auto = selection_replay.Auto({"candidates": names, "blend": 1})
    waiver = selection_replay.lower_bar_waiver
    assert waiver(reason(0.15, 0.6, 0.10), 0.1, auto) == ("similarity bar lowered", 0.10)
    assert waiver(reason(0.15, 0.6, 0.10), 0.2, auto) is None  # still not similar
    assert waiver(reason(0.15, 0.9, 0.10), 0.1, auto) is None  # the AUC bar holds
    assert waiver("guard: best transfer ...", 0.0, auto) is None

    # auto's policy weighs the gap against transfer's inner loss (0.100 against the naive
    # 0.040: 0.06): a gap of 0.10 waives the guard, one of 0.05 does not
    def choice(gap: float) -> dict[str, float]:
        facts, gap = waiver(reason(0.15, 0.6, gap), 0.1, auto)
        return selection_replay.policy_weights(auto, INNER, names, facts, None, gap)

    assert choice(0.10) == {"pooled": 1.0}
    assert choice(0.05) == {"naive": 1.0}


def test_the_flat_weeks_rule_replays_both_ways():
    names = ["target_only", "source_only", "pooled", "boost_continue", "representation"]
    auto = selection_replay.Auto({"candidates": names, "blend": 1})
    rule = selection_replay.flat_weeks_rule

    def held(seen: str, auc: float = 0.45) -> str:  # a reason recorded under the old rule
        return (
            "guard: ...; the horizon holds a season the target never showed, but the sources "
            "are not similar enough to waive the guard (source seasonal index 0.90-1.37 over "
            f"the horizon, {seen} over the target's 26 periods, season gap 0.037 WAPE; "
            f"domain AUC {auc:.2f}, seasonal correlation -0.05)"
        )

    # replayed under the new rule: over flat weeks (0.93-1.06) the correlation no longer
    # counts and the gap is weighed; over weeks that hold a season, or with a failed AUC, the
    # guard holds as recorded
    facts, gap = rule(held("0.93-1.06"), None, auto, count_flat=False)
    assert facts == "seasonal correlation not counted over flat weeks" and gap == 0.037
    assert rule(held("0.90-1.38"), None, auto, count_flat=False) == (None, float("inf"))
    assert rule(held("0.93-1.06", auc=0.93), None, auto, count_flat=False)[0] is None
    # a waiver recorded under the new rule, replayed under the old one: the correlation
    # counts again and the guard holds; a waiver granted on a good correlation stands
    new = (
        "season gap 0.037 WAPE; domain AUC 0.45, seasonal correlation -0.05 (not counted: "
        "the sources' seasonal index spans only 0.93-1.06 over the target's weeks)"
    )
    assert rule("...", new, auto, count_flat=True) == (None, float("inf"))
    good = "season gap 0.037 WAPE; domain AUC 0.45, seasonal correlation 0.52"
    assert rule("...", good, auto, count_flat=True) == (good, float("inf"))
    assert rule("...", new, auto, count_flat=False) == (new, float("inf"))


def test_similarity_separation_counts_the_prior_rules_test():
    sep = importlib.import_module("similarity_separation")
    cells = sep.separation([0.0, 1.0], history=26, n_domains=10, n_targets=3)
    # every origin (forecast + 3 evaluation) x 3 targets, per relatedness
    assert cells.groupby("relatedness").size().to_dict() == {0.0: 12, 1.0: 12}
    corr_ok = (cells["season_corr"] >= 0.3) | ~cells["season_shown"]
    expected = corr_ok & (cells["domain_auc"] <= 0.8)
    assert (cells["passes"] == expected).all()
    table = sep.summary(cells)
    assert table["passes"].sum() == cells["passes"].sum()
    assert (table["corr_min"] <= table["corr_max"]).all()
    share = cells.groupby("relatedness")["passes"].mean()
    assert share[1.0] > share[0.0]


def test_agreement_counts_cells_where_the_inner_best_transfer_wins_at_the_origin():
    names = ["source_only", "pooled", "boost_continue", "representation"]
    inner = {  # cell 1: pooled best inner; cell 2: source_only best inner
        1: [0.05, 0.04, 0.06, 0.07],
        2: [0.03, 0.04, 0.06, 0.07],
    }
    outer = {1: [0.06, 0.05, 0.09, 0.09], 2: [0.08, 0.05, 0.09, 0.09]}  # pooled wins both
    selection = pd.DataFrame(
        [
            {
                "target": t,
                "origin": "2012-04-27",
                **{f"inner_{n}": v for n, v in zip(names, s, strict=True)},
            }
            for t, s in inner.items()
        ]
    )
    scores = pd.DataFrame(
        [
            {"target": t, "origin": "2012-04-27 00:00:00", "strategy": n, "wape": v, "status": "ok"}
            for t, s in outer.items()
            for n, v in zip(names, s, strict=True)
        ]
    )
    table = selection_replay.agreement(selection, scores)
    row = table.iloc[0]
    assert row["cells"] == 2
    assert row["inner best is outer best"] == 0.5
    assert row["chance"] == 0.25
    assert row["most often best at the origin"] == "pooled"


def test_read_run_takes_auto_from_the_run_and_the_rest_from_others(tmp_path):
    def write(folder: Path, strategies: dict[str, float], forecasts: bool = True) -> None:
        folder.mkdir()
        rows = [
            {"strategy": s, "origin": o, "target": t, "unique_id": t, "forecast": v, "wape": v}
            for s, v in strategies.items()
            for o in ("2011-10-28", "2012-04-27")
            for t in (1, 2)
        ]
        if forecasts:
            pd.DataFrame(rows).to_csv(folder / "walmart_forecasts.csv", index=False)
        pd.DataFrame(rows).to_csv(folder / "walmart_scores.csv", index=False)
        sel = pd.DataFrame([{"target": t, "origin": "2011-10-28"} for t in (1, 2)])
        sel.to_csv(folder / "walmart_selection.csv", index=False)

    # an auto-only run whose forecasts were not kept, beside a full run of more origins
    write(tmp_path / "auto_only", {"auto": 0.5}, forecasts=False)
    write(tmp_path / "full", {"auto": 0.9, "source_only": 0.1, "naive_mean": 0.2})
    run = selection_replay.read_run(tmp_path / "auto_only", tmp_path / "full")
    sel, fc, scores = selection_replay.keep_cells(run, stores={1})
    assert set(fc["origin"]) == set(scores["origin"]) == {"2011-10-28"}
    assert set(sel["target"]) == set(fc["unique_id"]) == set(scores["target"]) == {1}
    assert dict(zip(fc["strategy"], fc["wape"], strict=True)) == {
        "source_only": 0.1,
        "naive_mean": 0.2,
    }
    assert dict(zip(scores["strategy"], scores["wape"], strict=True)) == {
        "auto": 0.5,
        "source_only": 0.1,
        "naive_mean": 0.2,
    }
    _, alone, _ = selection_replay.read_run(tmp_path / "full")
    assert set(alone["strategy"]) == {"auto", "source_only", "naive_mean"}
    assert len(selection_replay.keep_cells(run)[1]) == 2 * 2  # both stores, one origin
    with pytest.raises(SystemExit, match="auto_only/walmart_forecasts.csv: rerun"):
        selection_replay.read_run(tmp_path / "auto_only")


def test_add_safe_season_reads_the_other_stores_one_season_earlier():
    early = pd.DataFrame(
        [
            {
                "history": 26,
                "status": "ok",
                "origin": "2011-04-29",
                "target": t,
                "strategy": s,
                "wape": w,
            }
            for t, tw, nw in [(1, 0.10, 0.05), (2, 0.20, 0.07), (3, 0.30, 0.09)]
            for s, w in [("target_only", tw), ("naive_mean", nw)]
        ]
    )
    sel = pd.DataFrame(
        {
            "target": [1, 3, 2],
            "origin": ["2012-04-27", "2012-04-27", "2012-04-27"],
            "season_source_only": [0.04, 0.04, float("nan")],
        }
    )
    out = selection_replay.add_safe_season(sel, early, 26)
    # store 1's own scores stay out of its figure: the mean of stores 2 and 3
    assert out.loc[0, "season_target_only"] == pytest.approx(0.25)
    assert out.loc[0, "season_naive"] == pytest.approx(0.08)
    assert out.loc[1, "season_target_only"] == pytest.approx(0.15)
    # a cell without a season ranking (ranking = "target") gets none
    assert pd.isna(out.loc[2, "season_target_only"]) and pd.isna(out.loc[2, "season_naive"])
    with pytest.raises(SystemExit, match="lacks the origin 2011-01-28"):
        selection_replay.add_safe_season(sel.assign(origin="2012-01-27"), early, 26)


def test_season_ranking_reads_recent_transfer_scores_and_season_safe_ones():
    row = pd.DataFrame(
        [
            {
                "recent_source_only": 0.05,
                "recent_pooled": 0.06,
                "season_target_only": 0.11,
                "season_naive": 0.07,
            }
        ]
    ).itertuples(index=False)
    ranking = selection_replay.season_ranking(next(row), ["target_only", "source_only", "pooled"])
    assert ranking.to_dict() == {
        "target_only": 0.11,
        "source_only": 0.05,
        "pooled": 0.06,
        "naive": 0.07,
    }
    empty = next(pd.DataFrame([{"x": 1}]).itertuples(index=False))
    assert selection_replay.season_ranking(empty, ["source_only"]) is None
