"""`auto`: candidate weights learned from the source replays and the targets' own backtest,
the reason's figures, the selection hook, the methods, saving, and the outputs it feeds."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest

import transfercast as tc
from transfercast.config import parse_config
from transfercast.datasets import synthetic_config, synthetic_sales
from transfercast.errors import ConfigError, TransfercastError
from transfercast.evaluation import Comparison, selection_regret
from transfercast.plugins.auto import Auto, AutoParams
from transfercast.replay import DETAIL_COLUMNS, TABLE_COLUMNS, Replays, own_share
from transfercast.report import replay_summary, report_html
from transfercast.results import write_comparison

from .conftest import small_task

CANDIDATES = ["target_only", "source_only"]
#: the model-free candidates replayed beside them for 13 weeks of history (no season to repeat)
BUILTIN_HERE = ["last_value", "naive"]


@contextmanager
def _plugin(plugin: object) -> Iterator[None]:
    """``plugin`` registered with transfercast for the duration of the block."""
    pm = tc.get_plugin_manager()
    pm.add_plugin(plugin, type(plugin).__name__, "in-process")
    try:
        yield
    finally:
        pm.pm.unregister(name=type(plugin).__name__)


SAFE = {"target_only", "naive"}


def _params(**extra):
    return {"auto": {"candidates": CANDIDATES, **extra}}


@pytest.fixture(scope="module")
def comparisons():
    """``auto`` alone at relatedness 0 and 1 (3 targets x 2 origins each)."""
    return {r: tc.compare(small_task(r), ["auto"], params=_params()) for r in (0.0, 1.0)}


@pytest.fixture(scope="module")
def model():
    """``auto`` fitted on the related task through ``TransferForecaster``."""
    return tc.TransferForecaster("auto", candidates=CANDIDATES).fit(small_task(1.0))


def _weights(sel: pd.DataFrame) -> pd.DataFrame:
    """One row per selection, one column per candidate: its weight (0 when not chosen)."""
    rows = [
        dict(zip(c.split("+"), map(float, w.split(";")), strict=True))
        for c, w in zip(sel["chosen"], sel["weights"], strict=True)
    ]
    return pd.DataFrame(rows).reindex(columns=[*CANDIDATES, *BUILTIN_HERE]).fillna(0.0)


def test_weights_are_non_negative_and_sum_to_one(comparisons):
    for comp in comparisons.values():
        w = _weights(comp.selection)
        assert len(w) == 6
        assert (w >= 0).all().all()
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-9)  # printed so they sum to 1
        assert (comp.scores["status"] == "ok").all()


def test_unrelated_targets_lean_on_their_own_forecasts_related_ones_on_transfer(comparisons):
    own = {
        r: _weights(c.selection)[["target_only", "naive"]].sum(axis=1).mean()
        for r, c in comparisons.items()
    }
    assert own[0.0] > 0.5 > own[1.0]


def test_the_own_backtest_takes_over_where_the_replays_do_not_stand_for_the_target(comparisons):
    evidence = {}
    for r, comp in comparisons.items():
        found = comp.selection["reason"].str.extract(
            r"own (\d+) periods \(share ([\d.]+); replay p-value ([\d.e+-]+) on"
        )
        periods, share, pvalue = (found[k].astype(float) for k in range(3))
        for p_, s_, v_ in zip(periods, share, pvalue, strict=True):
            assert s_ == pytest.approx(own_share(int(p_), v_), abs=0.01)
        evidence[r] = (pvalue.mean(), share.mean())
    assert evidence[0.0][0] < 0.2 < evidence[1.0][0]  # unlike the sources: rarely as bad
    assert evidence[0.0][1] > 0.8 > evidence[1.0][1]


def test_the_reasons_figures_are_the_replay_tables(comparisons):
    comp = comparisons[1.0]
    means = comp.replays.groupby(["origin", "candidate"])["wape"].mean()
    for _, row in comp.selection.iterrows():
        for name in [*CANDIDATES, "naive"]:
            assert row[f"replay_{name}"] == pytest.approx(means[(row["origin"], name)])
        m = re.search(r"best single (\w+) ([\d.]+) / ([\d.]+)", row["reason"])
        name = m.group(1)
        assert float(m.group(2)) == pytest.approx(row[f"replay_{name}"], abs=5e-4)
        assert float(m.group(3)) == pytest.approx(row[f"inner_{name}"], abs=5e-4)
        shape = re.search(r"over (\d+) replayed domain-cuts \((\d+) domains\)", row["reason"])
        replayed = comp.replays[comp.replays["origin"] == row["origin"]]
        assert int(shape.group(2)) == replayed["domain"].nunique()
        # each domain-cut: the candidates, the last value and the naive level
        assert row["replayed"] == int(shape.group(1)) == len(replayed) // (len(CANDIDATES) + 2)


def test_replays_are_shared_by_every_target_of_an_origin(comparisons):
    replays = comparisons[1.0].replays
    # one replay per origin (all targets have 13 periods), each domain-cut once per candidate
    assert replays.groupby(["origin", "domain", "cut", "candidate"]).size().eq(1).all()
    assert replays["n"].eq(13).all()


def test_a_hook_can_return_weights_or_a_name():
    seen = []

    class Picker:
        @tc.hookimpl
        def transfercast_select_strategy(self, target, replays, meta):
            seen.append((target, set(replays["candidate"]), meta["history"]))
            return {"target_only": 1.0, "source_only": 3.0} if target == "S06" else "naive"

    with _plugin(Picker()):
        model = tc.TransferForecaster("auto", candidates=CANDIDATES).fit(small_task(1.0))
    assert {t for t, _, _ in seen} == {"S06", "S07", "S08"}
    assert seen[0][1] == {"target_only", "source_only", *BUILTIN_HERE} and seen[0][2] == 13
    s06 = model.fitted_["S06"]
    assert dict(zip(s06.chosen_, s06.weights_, strict=True)) == pytest.approx(
        {"target_only": 0.25, "source_only": 0.75}
    )
    assert model.fitted_["S07"].chosen_ == ["naive"]
    reason = s06.selection_["reason"].iloc[0]
    assert reason == "chosen by the transfercast_select_strategy plugin 'Picker'"


def test_a_hook_answer_that_is_not_a_candidate_is_an_error():
    class Bad:
        @tc.hookimpl
        def transfercast_select_strategy(self, target, replays, meta):
            return {"no_such_strategy": 1.0}

    said = r"transfercast_select_strategy plugin 'Bad' returned \{'no_such_strategy': 1.0\}"
    with _plugin(Bad()):
        with pytest.raises(TransfercastError, match=said):
            tc.TransferForecaster("auto", candidates=CANDIDATES).fit(small_task(1.0))


def test_a_hook_that_raises_is_named():
    """A select hook's own error names the plugin (before: a pandas KeyError and file)."""
    from transfercast.strategy import PluginError

    class Boom:
        @tc.hookimpl
        def transfercast_select_strategy(self, target, replays, meta):
            return {} if replays["no_such_column"] is None else None

    said = r": transfercast_select_strategy plugin 'Boom' raised KeyError: 'no_such_column'$"
    with _plugin(Boom()):
        with pytest.raises(PluginError, match=said):
            tc.TransferForecaster("auto", candidates=CANDIDATES).fit(small_task(1.0))


def test_select_returns_one_candidate_and_meta_weighs_per_target():
    task = small_task(1.0)
    select = tc.TransferForecaster("auto", candidates=CANDIDATES, method="select").fit(task)
    for fitted in select.fitted_.values():
        assert len(fitted.chosen_) == 1 and fitted.weights_ == [1.0]
        sel = fitted.selection_.iloc[0]
        predicted = {n: (sel[f"replay_{n}"], sel[f"inner_{n}"]) for n in [*CANDIDATES, "naive"]}
        assert fitted.chosen_[0] in predicted and sel["reason"].startswith("select over")
    meta = tc.TransferForecaster("auto", candidates=CANDIDATES, method="meta").fit(task)
    for fitted in meta.fitted_.values():
        reason = fitted.selection_["reason"].iloc[0]
        assert "replayed domain-cuts nearest by meta-features" in reason
        assert 0 <= fitted.selection_["meta_domain_auc"].iloc[0] <= 1


def _replays_of(errors: dict[str, dict[str, float]], steps: int, meta=None) -> Replays:
    """Replays (or an own backtest) of the domains in ``errors`` at one cut: each candidate's
    forecasts miss actuals of 100 by ``errors[domain][candidate]`` per cent at every step."""
    table, detail = [], []
    for d, by_name in errors.items():
        for name, err in by_name.items():
            table.append({"domain": d, "cut": 0, "candidate": name, "wape": err / 100})
            for t in range(1, steps + 1):
                detail.append(
                    {"domain": d, "cut": 0, "candidate": name, "unique_id": d, "ds": t}
                    | {"step": t, "forecast": 100.0 - err, "actual": 100.0, "level": 100.0}
                )
    return Replays(
        pd.DataFrame(table).reindex(columns=TABLE_COLUMNS),
        pd.DataFrame(detail, columns=DETAIL_COLUMNS),
        pd.DataFrame(meta if meta is not None else []),
        0.0,
    )


def _flat_season_replays(errors: dict[str, float]) -> Replays:
    """Replays of four domains at one cut whose horizon holds no season: each candidate's
    forecasts miss actuals of 100 by ``errors[name]`` per cent at every step."""
    return _replays_of(dict.fromkeys("ABCD", errors), 13)


NO_OWN = Replays(
    pd.DataFrame(columns=TABLE_COLUMNS), pd.DataFrame(columns=DETAIL_COLUMNS), pd.DataFrame(), 0.0
)


def test_meta_weighs_the_replayed_domains_nearest_the_target_by_meta_features():
    """Nine replayed domains: the three whose level is like the target's are forecast exactly
    by source_only and 20 % low by the naive level, the six others the other way. ``meta``
    learns on the nearest third; the stack on all nine."""
    from transfercast.replay import META

    errors, meta = {}, []
    for k, d in enumerate("ABCDEFGHI"):
        near = k < 3
        errors[d] = {"source_only": 0.0 if near else 20.0, "naive": 20.0 if near else 0.0}
        level = {"log_level": 0.0 if near else 5.0 + k}
        meta.append({"domain": d, "cut": 0, **dict.fromkeys(META, 1.0), **level})
    rep = _replays_of(errors, 8, meta)
    target = {"history": 1.0, "log_level": 0.0}  # no season evidence: no floor
    w, reason, _ = Auto(AutoParams(candidates=["source_only"], method="meta")).weigh(
        rep, NO_OWN, target, "T"
    )
    assert w.to_dict() == pytest.approx({"source_only": 1.0})
    assert "the 3 of 9 replayed domain-cuts nearest" in reason
    stack = Auto(AutoParams(candidates=["source_only"]))
    assert stack.weigh(rep, NO_OWN, target, "T")[0].to_dict() == pytest.approx({"naive": 1.0})


#: replays favouring source_only (4-6 % against the naive level's 20 %)
FAVOUR_SOURCE = {
    d: {"source_only": e, "naive": 20.0} for d, e in zip("ABCD", (4, 5, 6, 5), strict=True)
}


def test_a_targets_own_backtest_evidence_is_its_own_not_another_targets():
    """The own backtest holds every target of the origin; T's weights read T's rows only (T is
    unlike the replays, so its own periods decide: the naive level), never U's."""
    rep = _replays_of(FAVOUR_SOURCE, 8)
    own = _replays_of(
        {"U": {"source_only": 1.0, "naive": 100.0}, "T": {"source_only": 60.0, "naive": 2.0}}, 4
    )
    for method in ("select", "stack"):
        auto = Auto(AutoParams(candidates=["source_only"], method=method))
        w, reason, figures = auto.weigh(rep, own, {}, "T")
        assert w.to_dict() == pytest.approx({"naive": 1.0}, abs=1e-6), (method, reason)
        assert figures.loc["naive", "inner"] == pytest.approx(0.02)


def test_a_candidate_missing_from_the_targets_own_backtest_is_not_weighed():
    """A candidate that failed in the target's own backtest has no inner WAPE there, not 0."""
    errors = {d: {**e, "target_only": e["source_only"] + 1} for d, e in FAVOUR_SOURCE.items()}
    own = _replays_of({"T": {"source_only": 10.0, "naive": 20.0}}, 4)  # target_only failed
    auto = Auto(AutoParams(candidates=["source_only", "target_only"], method="select"))
    w, reason, _ = auto.weigh(_replays_of(errors, 8), own, {}, "T")
    assert w.to_dict() == {"source_only": 1.0}, reason


def test_replay_pvalue_when_every_replayed_domain_cut_has_the_same_relative_loss():
    """With no spread among the replays, a target worse than all of them gets p = 0 (its own
    periods decide) and one like them p = 1."""
    from transfercast.replay import replay_pvalue

    rep = _replays_of(dict.fromkeys("ABCD", {"source_only": 5.0, "naive": 20.0}), 8).detail
    worse = _replays_of({"T": {"source_only": 60.0, "naive": 2.0}}, 4).detail
    alike = _replays_of({"T": {"source_only": 5.0, "naive": 20.0}}, 4).detail
    assert replay_pvalue(rep, worse, "source_only") == 0.0
    assert replay_pvalue(rep, alike, "source_only") == 1.0


def test_autos_seed_regroups_its_replays():
    from transfercast.forecasting import OriginTables
    from transfercast.source_cache import SourceCache

    task = small_task(1.0)
    tables = OriginTables(task, task.at_origin(task.evaluation_origins()[-1]), task.features)
    keys = ["domain", "cut", "candidate"]
    tabs = [
        Auto(candidates=["source_only"], seed=s)
        .replays_for(tables, "S06", SourceCache())[0]
        .table.sort_values(keys)
        .reset_index(drop=True)
        for s in (0, 5)
    ]
    pd.testing.assert_frame_equal(tabs[0][keys], tabs[1][keys])
    wapes = [t[t["candidate"] == "source_only"]["wape"].to_numpy() for t in tabs]
    assert not np.allclose(wapes[0], wapes[1])


def test_a_targets_interval_evidence_is_its_own_backtest_only():
    from transfercast.plugins.intervals import evidence
    from transfercast.source_cache import SourceCache

    model = tc.TransferForecaster("auto", candidates=["target_only"]).fit(small_task(1.0))
    plain = tc.get_plugin_manager().registry.create("target_only", {})
    for domain, fitted in model.fitted_.items():
        assert set(fitted.backtest_forecasts()["domain"]) == {domain}
        for strategy in (fitted, plain):
            _, own = evidence(strategy, model.tables_, domain, SourceCache())
            assert len(own) and set(own["domain"]) == {domain}


def test_the_naive_level_is_held_to_the_season_gap_the_replays_cannot_show():
    """Replays whose horizons hold no season favour the naive level; where the sources'
    seasonal index says a flat forecast must miss the target's horizon by at least 10 %, its
    replayed 5 % counts as 10 % and the weight goes to the candidate that reads the season."""
    auto = Auto(AutoParams(candidates=["source_only"]))
    rep = _flat_season_replays({"source_only": 7.0, "naive": 5.0})
    own = Replays(
        pd.DataFrame(columns=TABLE_COLUMNS),
        pd.DataFrame(columns=DETAIL_COLUMNS),
        pd.DataFrame(),
        0.0,
    )
    no_season, _, _ = auto.weigh(rep, own, {"season_horizon": 0.0}, "T")
    assert no_season.to_dict() == pytest.approx({"naive": 1.0})
    w, reason, _ = auto.weigh(rep, own, {"season_horizon": 0.10}, "T")
    assert w.to_dict() == pytest.approx({"source_only": 1.0})
    assert "flat forecasts held to their season miss" in reason
    # a year of history leaves no gap, but the recent level's own miss still holds it
    w, _, _ = auto.weigh(rep, own, {"season_horizon": 0.0, "season_flat": 0.10}, "T")
    assert w.to_dict() == pytest.approx({"source_only": 1.0})
    small, _, _ = auto.weigh(rep, own, {"season_horizon": 0.06}, "T")  # 6 % still beats 7 %
    assert small.to_dict() == pytest.approx({"naive": 1.0})


def test_auto_is_deterministic(comparisons):
    again = tc.compare(small_task(1.0), ["auto"], params=_params())
    pd.testing.assert_frame_equal(again.selection, comparisons[1.0].selection)
    np.testing.assert_allclose(again.forecasts["forecast"], comparisons[1.0].forecasts["forecast"])


def test_auto_at_a_monthly_frequency():
    frame = synthetic_sales(
        n_domains=8,
        series_per_domain=2,
        n_periods=60,
        n_targets=2,
        target_periods=12,
        freq="MS",
    )
    raw = synthetic_config(
        "unused.csv", frame.attrs["targets"], horizon=4, target_history=9, windows=1, freq="MS"
    )
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    comp = tc.compare(task, ["auto"], params=_params())
    assert (comp.scores["status"] == "ok").all(), comp.scores["error"].tolist()
    cuts = pd.to_datetime(comp.replays["cut"].unique())
    origin = pd.Timestamp(comp.replays["origin"].iloc[0])
    # one horizon and one season (12 months, derived from the frequency) before the origin
    assert sorted(cuts) == [origin - pd.DateOffset(months=12), origin - pd.DateOffset(months=4)]


def test_only_weighted_candidates_are_fitted_and_predict_is_their_blend(model):
    fitted = model.fitted_["S07"]
    assert [m.name for m in fitted.members_] == fitted.chosen_
    assert all(w > 0 for w in fitted.weights_)
    tables = model.tables_
    rows = tables.builder.prediction_rows(tables.data.target_rows["S07"], tables.data.origin_idx, 8)
    table = tables.builder.build(tables.data.panel, *rows, with_label=False)
    blend = sum(w * m.predict(table) for m, w in zip(fitted.members_, fitted.weights_, strict=True))
    np.testing.assert_allclose(fitted.predict(table), blend)


def test_parameters_and_candidates():
    assert len(AutoParams.model_fields) <= 6
    with pytest.raises(ConfigError, match="no_such"):
        Auto(candidates=["target_only", "no_such"]).candidate_names()
    with pytest.raises(ConfigError, match="folds"):
        Auto(folds=1)
    with pytest.raises(ConfigError, match="blend"):
        Auto(blend=2)  # the retired rule stack's parameters are gone
    names = Auto().candidate_names()
    assert "auto" not in names and names[-1] == "naive"
    assert {"target_only", "source_only", "pooled", "boost_continue"} <= set(names)
    # a strategy that opts out (auto_default = False) is weighed only when named
    assert "analog" not in names
    assert "analog" in Auto(candidates=["analog", "pooled"]).candidate_names()


def test_a_fitted_auto_saves_and_loads_without_pickle(model, tmp_path):
    fitted = model.fitted_["S07"]
    entries = json.loads(json.dumps(fitted.save(tmp_path)))  # plain JSON manifest entries
    loaded = Auto.load(tmp_path, {"params": fitted.get_params(), **entries})
    tables = model.tables_
    rows = tables.builder.prediction_rows(tables.data.target_rows["S07"], tables.data.origin_idx, 8)
    table = tables.builder.build(tables.data.panel, *rows, with_label=False)
    np.testing.assert_allclose(loaded.predict(table), fitted.predict(table))
    assert loaded.chosen_ == fitted.chosen_


def test_compare_writes_replays_csv_and_the_report_summarises_them(comparisons, tmp_path):
    comp = comparisons[1.0]
    paths = {p.name for p in write_comparison(comp, tmp_path)}
    assert {"selection.csv", "replays.csv"} <= paths
    written = pd.read_csv(tmp_path / "replays.csv")
    assert list(written.columns) == [
        "origin",
        "n",
        "domain",
        "cut",
        "candidate",
        "wape",
        "fit_seconds",
        "history",
        "log_level",
        "volatility",
        "trend",
        "season_history",
        "season_horizon",
        "season_corr",
        "domain_auc",
        "left_out",
    ]
    assert not written["left_out"].any()  # every cut of these origins is in the weights
    summary = replay_summary(comp.replays, comp.selection)
    assert len(summary) == comp.replays["origin"].nunique() * (len(CANDIDATES) + 2)
    w = _weights(comp.selection).assign(origin=comp.selection["origin"].to_numpy())
    for _, row in summary.iterrows():
        expected = w[w["origin"] == row["origin"]][row["candidate"]].mean()
        assert row["mean_weight"] == pytest.approx(expected)
    assert "Source replays" in report_html(
        comp, images={"leaderboard.png": b"", "forecasts.png": b""}
    )


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


def _monthly_frame() -> pd.DataFrame:
    return synthetic_sales(
        n_domains=8, series_per_domain=2, n_periods=60, n_targets=2, target_periods=30, freq="MS"
    )


def _monthly_task(target_history: int, frame: pd.DataFrame | None = None) -> tc.TransferTask:
    frame = _monthly_frame() if frame is None else frame
    raw = synthetic_config(
        "unused.csv", frame.attrs["targets"], horizon=4, target_history=target_history, freq="MS"
    )
    return tc.TransferTask.from_config(parse_config(raw), data=frame)


def test_the_seasonal_naive_is_a_candidate_where_the_targets_history_holds_a_season(tmp_path):
    seen = {}

    class Seasonal:
        @tc.hookimpl
        def transfercast_select_strategy(self, target, replays, meta):
            seen[meta["history"]] = set(replays["candidate"])
            return "seasonal_naive" if "seasonal_naive" in seen[meta["history"]] else None

    with _plugin(Seasonal()):
        short = tc.TransferForecaster("auto", candidates=CANDIDATES).fit(_monthly_task(9))
        model = tc.TransferForecaster("auto", candidates=CANDIDATES).fit(_monthly_task(14))
    builtin = {"last_value", "naive"}
    assert seen[9] == {"target_only", "source_only", *builtin}  # 9 months: no season to repeat
    assert seen[14] == {"target_only", "source_only", "seasonal_naive", *builtin}
    assert "seasonal_naive" not in short.fitted_["S07"].chosen_
    fitted = model.fitted_["S07"]
    assert fitted.chosen_ == ["seasonal_naive"]
    assert np.isfinite(fitted.selection_["replay_seasonal_naive"].iloc[0])
    # the forecast repeats the target's sales of twelve months before
    panel, fc = model.tables_.data.panel, model.forecasts_["S07"]
    assert fc["unique_id"].nunique() == 2
    for uid, g in fc.groupby("unique_id"):
        r = int(np.flatnonzero(panel.ids == uid)[0])
        pos = panel.times.get_indexer(pd.DatetimeIndex(g["ds"]) - pd.DateOffset(months=12))
        np.testing.assert_allclose(g["forecast"], panel.Y[r, pos])
    entries = json.loads(json.dumps(fitted.save(tmp_path)))  # a bundle holds it without pickle
    loaded = Auto.load(tmp_path, {"params": fitted.get_params(), **entries})
    assert loaded.chosen_ == ["seasonal_naive"]


def test_the_last_value_is_a_candidate_and_repeats_the_targets_last_period(tmp_path):
    class Last:
        @tc.hookimpl
        def transfercast_select_strategy(self, target, replays, meta):
            assert (replays["candidate"] == "last_value").any()  # it was replayed
            return "last_value"

    with _plugin(Last()):
        model = tc.TransferForecaster("auto", candidates=CANDIDATES).fit(_monthly_task(9))
    fitted = model.fitted_["S07"]
    assert fitted.chosen_ == ["last_value"]
    assert np.isfinite(fitted.selection_["inner_last_value"].iloc[0])
    panel, fc = model.tables_.data.panel, model.forecasts_["S07"]
    origin = panel.times.get_loc(model.tables_.data.origin)
    for uid, g in fc.groupby("unique_id"):
        r = int(np.flatnonzero(panel.ids == uid)[0])
        np.testing.assert_allclose(g["forecast"], panel.Y[r, origin])
    entries = json.loads(json.dumps(fitted.save(tmp_path)))  # a bundle holds it without pickle
    loaded = Auto.load(tmp_path, {"params": fitted.get_params(), **entries})
    assert loaded.chosen_ == ["last_value"]


def test_auto_with_the_seasonal_naive_ignores_everything_after_the_origin():
    frame = _monthly_frame()
    origin = _monthly_task(14, frame).evaluation_origins()[0]
    later = frame["date"] > origin
    assert later.any()
    scrambled = frame.copy()
    scrambled.loc[later, "sales"] = np.random.default_rng(3).permutation(frame.loc[later, "sales"])
    scrambled.attrs = frame.attrs
    runs = [
        tc.compare(_monthly_task(14, f), ["auto"], params=_params(), origins=[origin])
        for f in (frame, scrambled)
    ]
    before, after = (r.forecasts.sort_values(["unique_id", "ds"]) for r in runs)
    np.testing.assert_allclose(after["forecast"], before["forecast"], rtol=1e-9)
    assert not np.allclose(after["actual"], before["actual"])
    replayed = set(runs[0].replays["candidate"])
    assert {"seasonal_naive", "last_value"} <= replayed  # the model-free candidates replayed
    pd.testing.assert_frame_equal(runs[0].selection, runs[1].selection)


def test_the_replay_summary_weighs_each_history_length_by_its_own_targets():
    """Targets of one origin with different history lengths have replays of their own: each
    length's row holds the mean weight of its own targets; a strategy replayed only for its
    prediction intervals (not a candidate) has no weight, and without auto none has."""
    origin = pd.Timestamp("2021-01-01")
    replays = pd.DataFrame(
        [
            {"origin": origin, "n": n, "domain": d, "cut": origin, "candidate": c, "wape": 0.1}
            for n in (10, 20)
            for d in ("a", "b")
            for c in ("source_only", "target_only", "pooled")
        ]
    )
    selection = pd.DataFrame(
        {
            "target": ["T1", "T2", "T3"],
            "origin": origin,
            "chosen": ["source_only", "target_only", "source_only+target_only"],
            "weights": ["1.000", "1.000", "0.250;0.750"],
            "n": [10, 20, 20],
            "replay_source_only": 0.1,
            "replay_target_only": 0.1,
        }
    )
    summary = replay_summary(replays, selection).set_index(["n", "candidate"])["mean_weight"]
    assert summary[(10, "source_only")] == 1.0 and summary[(10, "target_only")] == 0.0
    assert summary[(20, "source_only")] == pytest.approx(0.125)
    assert summary[(20, "target_only")] == pytest.approx(0.875)
    assert summary.xs("pooled", level="candidate").isna().all()
    images = {"leaderboard.png": b"", "forecasts.png": b""}
    from transfercast.evaluation import SCORE_COLUMNS

    scores = pd.DataFrame(columns=SCORE_COLUMNS)
    plain = Comparison(scores, pd.DataFrame(), replays=replays)
    page = report_html(plain, images=images)
    assert "prediction intervals' evidence" in page and "mean weight auto gave" not in page
    assert "mean_<wbr>weight" not in page


@pytest.mark.parametrize(
    "answer,message",
    [
        ({"source_only": float("nan"), "pooled": 1}, "weights must be finite numbers"),
        ({"source_only": float("inf"), "pooled": 1}, "weights must be finite numbers"),
        ({"pooled": "high"}, "weights must be finite numbers"),
        (["pooled"], "return a candidate's name or a mapping of weights"),
        ("bogus", "'bogus' is not a candidate for this target; candidates: source_only, pooled"),
        ({"pooled": 0.0}, "not all 0"),
    ],
)
def test_a_hook_answer_is_checked_before_it_weighs(answer, message):
    """A NaN weight was dropped silently, an infinite one failed every cell, a list or text
    weight failed in pandas; each is now one error naming the hook."""
    from transfercast.replay import hook_weights

    assert hook_weights({"source_only": 3, "pooled": 1}, ["source_only", "pooled"]).to_dict() == {
        "source_only": 0.75,
        "pooled": 0.25,
    }
    said = r"transfercast_select_strategy returned .*" + message
    with pytest.raises(TransfercastError, match=said):
        hook_weights(answer, ["source_only", "pooled"])


def test_auto_refuses_no_candidates_and_a_misspelt_candidate_table():
    """``candidates = []`` weighed every registered strategy (analog, recalibrate too); a
    misspelt ``[strategies.auto.strategies.poled]`` left pooled at its defaults; an error in
    a candidate's table named ``[strategies.pooled]``, a table the config does not have."""
    from transfercast.errors import ConfigError

    auto = tc.get_plugin_manager().registry.get("auto").cls
    with pytest.raises(ConfigError, match=r"key 'candidates'"):
        auto.validate_params({"candidates": []})
    task = small_task(1.0)
    poled = {"candidates": CANDIDATES, "strategies": {"poled": {"target_weight": 2.0}}}
    with pytest.raises(ConfigError, match=r"unknown \[strategies.auto\] strategies table 'poled'"):
        tc.TransferForecaster("auto", **poled).fit(task)
    typo = {"candidates": CANDIDATES, "strategies": {"source_only": {"source_parms": {}}}}
    with pytest.raises(ConfigError, match=r"\[strategies.auto.strategies.source_only\]: unknown"):
        tc.TransferForecaster("auto", **typo).fit(task)


def test_the_source_table_is_built_only_when_a_candidate_reads_it():
    # candidates without a source model or source rows: the source feature table (the largest
    # object of a run) is never built, for auto, its replays or its members
    from transfercast.plugin_manager import get_plugin_manager

    registry = get_plugin_manager().registry
    reads = {n: registry.create(n).reads_source_table() for n in ("target_only", "analog")}
    assert reads == {"target_only": False, "analog": False}
    assert registry.create("source_only").reads_source_table()
    assert Auto().reads_source_table()  # its default candidates include source strategies
    assert not Auto(candidates=["target_only", "analog"]).reads_source_table()
    task = small_task()
    light = tc.TransferForecaster("auto", candidates=["target_only", "analog"], cuts=1)
    light.fit(task)
    assert "source" not in light.tables_.__dict__  # a cached property never computed
    assert np.isfinite(light.predict()["forecast"]).all()
