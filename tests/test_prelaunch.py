"""Pre-launch forecasts (docs/pre-launch.md): targets with no sales history at all.

The level model estimates a new series' level from the sources' static covariates and keys;
``compare`` with ``target_history = 0`` forecasts every target, skipping the strategies that
need the target's history with their reason; ``run``, ``predict`` and bundles take a target
domain with no sales rows; ``auto`` replays the sources as pre-launch domains.
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import transfercast as tc
from transfercast.cli import to_toml
from transfercast.config import parse_config
from transfercast.data import DataWarning
from transfercast.datasets import synthetic_config, synthetic_sales
from transfercast.errors import HistoryRequired
from transfercast.forecasting import OriginTables
from transfercast.prelaunch import LevelModel

from .clirun import invoke
from .conftest import small_frame, small_task, task_on

SMALL = {"source_params": {"num_boost_round": 40}, "target_params": {"num_boost_round": 20}}
KNOWN = ["price", "promo", "is_holiday"]


def _task(frame: pd.DataFrame, targets, horizon: int = 6, **task) -> tc.TransferTask:
    raw = synthetic_config("unused.csv", list(targets), horizon=horizon, target_history=0)
    raw["task"].update(task)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tc.TransferTask.from_config(parse_config(raw), data=frame)


def test_a_comparison_with_no_forecast_writes_the_forecasts_header_of_any_other():
    """Every cell skipped (target_only before launch): forecasts.csv named the series by the
    toolkit's unique_id and ds instead of the data's key and time columns."""
    from transfercast.results import comparison_frames

    comp = tc.compare(_task(small_frame(), small_frame().attrs["targets"][:1]), ["target_only"])
    assert set(comp.scores["status"]) == {"skipped"}
    frame = comparison_frames(comp)["forecasts.csv"]
    assert frame.empty
    assert list(frame.columns) == ["store", "dept", "date", "strategy", "origin", "forecast",
                                   "actual"]  # fmt: skip


@pytest.fixture(scope="module")
def wide():
    """20 stores x 3 departments, the last 5 new: enough sources for the level model."""
    return synthetic_sales(n_periods=120, target_periods=52)


@pytest.fixture(scope="module")
def wide_tables(wide):
    task = _task(wide, wide.attrs["targets"], horizon=8)
    origin = task.evaluation_origins()[-1]
    return task, OriginTables(task, task.at_origin(origin), task.features)


def test_the_level_model_recovers_the_targets_level_and_its_scaling_with_size(wide_tables):
    task, tables = wide_tables
    rows = tables.prelaunch
    assert len(rows) == 5 * 3  # every series of every target, none with history
    assert set(tables.data.panel.domains[rows]) == set(task.targets)
    estimate = tables.prior_level[rows]
    # the true recent level at the origin, from the uncut data (for scoring only)
    truth = task.panel.Y[rows, tables.data.origin_idx - 7 : tables.data.origin_idx + 1].mean(1)
    ratio = estimate / truth
    assert np.isfinite(estimate).all() and (estimate > 0).all()
    assert np.median(np.abs(np.log(ratio))) < 0.25, ratio
    # the source series' levels scale with size (sales = level x dept, size = level x U(6, 9)):
    # so does the estimate, about in proportion
    frame = tables.series_frame(rows)
    doubled = tables.level_model.predict(frame.assign(size=frame["size"] * 2))
    slope = np.log(doubled / tables.level_model.predict(frame)) / np.log(2)
    assert 0.7 < float(np.median(slope)) < 1.3, slope
    # only a prelaunch table's rows take the estimate; a source series keeps its own level
    assert np.isnan(np.delete(tables.prior_level, rows)).all()


def test_the_level_model_round_trips_through_json(wide_tables):
    _, tables = wide_tables
    model = tables.level_model
    state = json.loads(json.dumps(model.to_json()))
    frame = tables.series_frame(tables.prelaunch)
    back = LevelModel.from_json(state)
    np.testing.assert_allclose(back.predict(frame), model.predict(frame), rtol=1e-12)
    # an unseen department contributes nothing: the estimate stays finite
    assert np.isfinite(back.predict(frame.assign(dept="D99"))).all()


def test_source_rows_are_also_shown_as_not_yet_launched(wide_tables):
    _, tables = wide_tables
    source = tables.source
    copies = source.X["n_obs"] == 0
    assert 0 < copies.sum() < len(source)
    pre = source.X[copies]
    assert pre["lag1"].isna().all() and pre["mean4"].isna().all() and pre["sply"].isna().all()
    assert np.isfinite(pre["log_level"]).all()
    # each copy keeps its original's label and level
    key = ["unique_id", "anchor", "h"]
    left = source.keys[copies.to_numpy()][key].assign(y=source.y[copies.to_numpy()])
    right = source.keys[~copies.to_numpy()][key].assign(y=source.y[~copies.to_numpy()])
    both = left.merge(right, on=key, suffixes=("_pre", ""))
    assert len(both) == len(left)
    np.testing.assert_allclose(both["y_pre"], both["y"])


def test_a_closed_source_store_does_not_pull_a_new_stores_forecast_to_zero():
    """S01, the source store nearest in size to the new S06, sold nothing (its sales written as
    0): it gives the models no rows, so S06's pre-launch forecast stays near the one without
    it. When its zero labels trained the models, the forecast fell to a twentieth."""
    frame = small_frame()
    closed = frame.assign(sales=frame["sales"].where(frame["store"] != "S01", 0.0))
    means = {}
    for name, data in (("open", frame), ("closed", closed)):
        model = tc.TransferForecaster("source_only", source_params=SMALL["source_params"])
        means[name] = model.fit(_task(data, ["S06"])).predict()["forecast"].mean()
    assert means["closed"] > 0.8 * means["open"], means
    task = _task(closed, ["S06"])
    tables = OriginTables(task, task.at_origin(task.evaluation_origins()[-1]), task.features)
    assert not tables.source.keys["unique_id"].str.startswith("S01|").any()


def test_compare_at_zero_history_forecasts_every_target_and_skips_target_only(wide):
    targets = wide.attrs["targets"][:2]
    task = _task(wide, targets, horizon=8)
    origin = task.evaluation_origins()[-1]
    names = ["target_only", "source_only", "pooled", "boost_continue", "representation"]
    params = {n: SMALL for n in names if n != "boost_continue"}
    comp = tc.compare(task, names, origins=[origin], params=params)
    scores = comp.scores.set_index(["target", "strategy"])
    for t in targets:
        row = scores.loc[(t, "target_only")]
        assert row["status"] == "skipped"
        assert row["error"] == (
            f"strategy 'target_only' needs the target's own sales history, and target domain "
            f"'{t}' has none up to the origin {origin.date()} (pre-launch)"
        )
    ok = comp.scores[comp.scores["strategy"] != "target_only"]
    assert (ok["status"] == "ok").all(), ok["error"].tolist()
    assert ok["wape"].between(0, 0.5).all(), ok[["target", "strategy", "wape"]]
    assert not comp.failed
    assert np.isfinite(comp.forecasts["forecast"]).all()
    assert len(comp.forecasts) == 4 * 2 * 3 * 8  # strategies x targets x depts x horizon
    board = comp.leaderboard().set_index("strategy")
    assert board.loc["target_only", "cells"] == 0 and board.loc["target_only", "failed"] == 0


def test_a_target_too_young_for_one_training_row_is_skipped_not_failed(wide):
    targets = wide.attrs["targets"][:1]
    task = _task(wide, targets, horizon=8, target_history=3)
    origin = task.evaluation_origins()[-1]
    comp = tc.compare(task, ["target_only", "source_only"], origins=[origin])
    row = comp.scores.set_index("strategy").loc["target_only"]
    assert row["status"] == "skipped" and "no training rows for the target model" in row["error"]
    assert comp.scores.set_index("strategy").loc["source_only", "status"] == "ok"
    assert not comp.failed


def test_quantile_models_of_an_unsold_target_warn_that_they_leave_the_level_error_out(wide):
    """The quantile models scale the estimated level and hold none of its error: 80 % intervals
    covered about 0.4 on synthetic data, with no word (replay_conformal holds it)."""
    targets = wide.attrs["targets"][:1]
    task = _task(wide, targets, horizon=8)
    with pytest.warns(DataWarning) as said:
        tc.TransferForecaster("source_only", quantiles=[0.1, 0.9], interval_method="quantile",
                              **SMALL).fit(task)  # fmt: skip
    texts = [str(w.message) for w in said if "interval method" in str(w.message)]
    assert texts == [
        f"interval method 'quantile': 3 series of target domain {targets[0]!r} have not sold up "
        "to the origin: their quantiles scale the estimated level and leave its error out (too "
        "narrow); the default method 'replay_conformal' calibrates them on pre-launch replays"
    ]


def test_auto_replays_being_pre_launch_and_leaves_out_what_needs_history(wide):
    targets = wide.attrs["targets"][:1]
    task = _task(wide, targets, horizon=8)
    origin = task.evaluation_origins()[-1]
    cands = ["target_only", "source_only", "pooled"]
    auto = {"candidates": cands, "strategies": dict.fromkeys(cands, SMALL), "cuts": 1}
    comp = tc.compare(task, ["auto"], origins=[origin], params={"auto": auto}, quantiles=[0.1, 0.9])
    assert (comp.scores["status"] == "ok").all(), comp.scores["error"].tolist()
    sel = comp.selection.iloc[0]
    assert sel["reason"].startswith(
        "pre-launch: target_only, last_value need the target's history, naive is the estimated "
        "level: left out; "
    )
    assert set(sel["chosen"].split("+")) <= {"source_only", "pooled"}
    # no own periods: the replayed WAPE alone, no "/ nan" for an inner one (before: "0.344 / nan")
    assert "nan" not in sel["reason"] and "inner" not in sel["reason"], sel["reason"]
    assert re.search(r"; replayed WAPE \d\.\d{3} against best single \w+ \d\.\d{3}$", sel["reason"])
    assert (comp.replays["n"] == 0).all()
    replayed = set(comp.replays["candidate"])
    assert {"source_only", "pooled", "naive"} <= replayed and "target_only" not in replayed
    fc = comp.forecasts
    assert np.isfinite(fc[["forecast", "q0.1", "q0.9"]]).all().all()
    assert (fc["q0.1"] < fc["q0.9"]).all()


def _new_store_project(
    root, strategy: str = "boost_continue", targets: tuple[str, ...] = ("S07", "S08")
) -> pd.DataFrame:
    """Sales where S08 has no sales row: only its departments' covariates over the horizon."""
    frame = small_frame()
    dates = np.sort(frame["date"].unique())
    origin = dates[-7]
    frame.loc[frame["date"] > origin, "sales"] = np.nan  # the future, known covariates only
    frame = frame[(frame["store"] != "S08") | (frame["date"] > origin)]
    frame.to_csv(root / "sales.csv", index=False)
    raw = synthetic_config("sales.csv", list(targets), horizon=6, output_dir="out")
    del raw["task"]["target_history"]
    raw["strategy"]["name"] = strategy
    raw["strategies"] = {strategy: {"rounds": 10}} if strategy == "boost_continue" else {}
    (root / "config.toml").write_text(to_toml(raw))
    return frame


def test_run_predict_and_the_bundle_take_a_store_with_no_sales_rows(tmp_path):
    frame = _new_store_project(tmp_path)
    res = invoke("run", tmp_path / "config.toml", "--quantiles", "0.1,0.9")
    assert res.code == 0, res.err
    fc = pd.read_csv(tmp_path / "out" / "forecasts.csv")
    new = fc[fc["store"] == "S08"]
    assert len(new) == 2 * 6 and np.isfinite(new[["forecast", "q0.1", "q0.9"]]).all().all()
    assert (new["forecast"] > 0).all()
    manifest = json.loads((tmp_path / "out" / "model" / "manifest.json").read_text())
    assert manifest["level_model"]["numeric"] == ["size"]
    assert manifest["level_model"]["categorical"] == ["dept", "store_type"]
    # predict from the targets' rows alone (no source row) reproduces run
    frame[frame["store"].isin(["S07", "S08"])].to_csv(tmp_path / "new.csv", index=False)
    res = invoke(
        "predict", tmp_path / "out" / "model", "--data", tmp_path / "new.csv", "--output",
        tmp_path / "pred.csv",
    )  # fmt: skip
    assert res.code == 0, res.err
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "pred.csv"), fc)


def test_predict_from_the_rows_of_a_store_that_has_not_sold_forecasts_from_the_models_origin(
    tmp_path,
):
    """The one target has not sold: nothing in its rows says where the forecast starts, so it
    starts at the model's origin, which the rows must hold (else one line saying so; before:
    an AttributeError)."""
    frame = _new_store_project(tmp_path, targets=("S08",))
    res = invoke("run", tmp_path / "config.toml")
    assert res.code == 0, res.err
    fc = pd.read_csv(tmp_path / "out" / "forecasts.csv")
    launch = frame[frame["store"] == "S08"]
    launch.to_csv(tmp_path / "launch.csv", index=False)
    args = ["--output", tmp_path / "launch_pred.csv"]
    res = invoke("predict", tmp_path / "out" / "model", "--data", tmp_path / "launch.csv", *args)
    assert res.code == 2 and res.err.strip().splitlines() == [
        f"error: {tmp_path / 'launch.csv'}: no row has a sale, so the origin is not the data's "
        "last sale, and the model's origin 2021-03-05 is not one of the data's periods: add a "
        "row at it (sales empty), the period before the first to forecast"
    ]
    at = launch[launch["date"] == launch["date"].min()]
    at = at.assign(date=(pd.to_datetime(at["date"]) - pd.offsets.Week(weekday=4)).dt.date)
    pd.concat([at, launch]).to_csv(tmp_path / "launch.csv", index=False)
    res = invoke("predict", tmp_path / "out" / "model", "--data", tmp_path / "launch.csv", *args)
    assert res.code == 0, res.err
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "launch_pred.csv"), fc)


def test_run_with_a_strategy_that_needs_history_is_one_line(tmp_path):
    _new_store_project(tmp_path, "target_only")
    res = invoke("run", tmp_path / "config.toml")
    # the data's future rows are warned about; the error is the one line after
    lines = res.err.strip().splitlines()
    assert res.code == 2 and lines[-1].startswith("error: ") and "Traceback" not in res.err
    assert "strategy 'target_only' needs the target's own sales history, and target domain " in (
        res.err
    )
    assert "'S08' has none up to the origin 2021-03-05 (pre-launch)" in res.err
    assert not (tmp_path / "out").exists()


def test_a_backtest_of_targets_that_never_sold_is_one_line_naming_why(tmp_path):
    """Only S08, which has no sales row, as the target: ``run`` forecasts it; ``compare`` has
    nothing to score against and says so (it raised NumPy's zero-size ValueError)."""
    frame = _new_store_project(tmp_path)
    raw = synthetic_config("sales.csv", ["S08"], horizon=6, output_dir="out")
    (tmp_path / "config.toml").write_text(to_toml(raw))
    res = invoke("compare", tmp_path / "config.toml", "--strategies", "source_only")
    assert res.code == 2 and "Traceback" not in res.err
    assert res.err.strip().splitlines()[-1] == (
        "error: no target domain has a sale in the data: a backtest scores forecasts against the "
        "targets' sales (`run` forecasts targets that have not sold yet)"
    )
    assert not (tmp_path / "out").exists()
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    origin = np.sort(frame["date"].unique())[-12]
    with pytest.raises(tc.TransfercastError, match="^no target domain has a sale in the data"):
        tc.compare(task, ["source_only"], origins=[origin])  # given origins: the same check


def test_compare_config_at_zero_history_exits_0_and_reports_the_skips(tmp_path):
    frame = small_frame()
    frame.to_csv(tmp_path / "sales.csv", index=False)
    raw = synthetic_config(
        "sales.csv", frame.attrs["targets"], horizon=6, target_history=0, windows=1
    )
    raw["strategy"]["candidates"] = ["target_only", "source_only"]
    raw["output"]["dir"] = "results"
    (tmp_path / "config.toml").write_text(to_toml(raw))
    res = invoke("compare", tmp_path / "config.toml")
    assert res.code == 0, res.err
    assert "3 cells skipped (first: strategy 'target_only' needs the target's own" in res.out
    scores = pd.read_csv(tmp_path / "results" / "scores.csv")
    assert sorted(scores["status"].unique()) == ["ok", "skipped"]
    board = (tmp_path / "results" / "leaderboard.csv").read_text()
    # resumed when finished: the skipped cells run again and skip again, the scored ones stay
    # (before: "nothing to compare", exit 2, as if no cell had been scored)
    res = invoke("compare", tmp_path / "config.toml", "--resume")
    assert res.code == 0, res.err
    assert "resuming: 3 cells already scored" in res.out, res.out
    assert (tmp_path / "results" / "leaderboard.csv").read_text() == board


def test_compare_where_every_cell_is_skipped_exits_2_and_writes_nothing(tmp_path):
    frame = small_frame()
    frame.to_csv(tmp_path / "sales.csv", index=False)
    raw = synthetic_config(
        "sales.csv", frame.attrs["targets"], horizon=6, target_history=0, windows=1
    )
    raw["strategy"]["candidates"] = ["target_only"]
    raw["output"]["dir"] = "results"
    (tmp_path / "config.toml").write_text(to_toml(raw))
    res = invoke("compare", tmp_path / "config.toml")
    lines = res.err.strip().splitlines()
    assert res.code == 2 and lines[-1].startswith("error: nothing to compare: every cell was ")
    assert "skipped (first: strategy 'target_only' needs the target's own sales" in lines[-1]
    assert lines[-1].endswith("add a strategy that forecasts from the sources, e.g. source_only")
    assert not (tmp_path / "results").exists()


def test_the_python_api_takes_zero_history_and_refuses_a_negative_one():
    frame = small_frame()
    task = _task(frame, frame.attrs["targets"])
    assert task.target_history == 0 and task.prelaunch_domains() == ["S06", "S07", "S08"]
    with pytest.raises(tc.TransfercastError, match="target_history must be a whole number of 0"):
        tc.TransferTask(
            frame, series=["store", "dept"], time="date", target="sales", domain="store",
            targets=["S08"], horizon=6, target_history=-1,
        )  # fmt: skip
    with pytest.raises(HistoryRequired):
        tc.TransferForecaster("target_only").fit(task)


def test_the_worked_example_runs(tmp_path, capsys):
    """``examples/pre_launch.py`` (docs/pre-launch.md), with two strategies."""
    from transfercast.config import tomllib  # tomli on Python 3.10

    from .test_examples import EXAMPLES, load_module

    module = load_module(EXAMPLES / "pre_launch.py", "pre_launch_example")
    table = module.main(["--strategies", "target_only,source_only", "--output", str(tmp_path)])
    assert list(table.index) == [0, 4, 8]
    assert np.isnan(table.loc[0, "target_only"]) and np.isfinite(table["source_only"]).all()
    out = capsys.readouterr().out
    assert "0 weeks: strategy 'target_only' needs the target's own sales history" in out
    assert "S12 has not sold yet" in out
    raw = tomllib.loads((tmp_path / "config.toml").read_text())
    assert raw["task"]["target_history"] == 0
    parse_config(raw)
    # the figures the page says it prints (before: 4 weeks stale by 0.023 since a change)
    page = (EXAMPLES.parent / "docs" / "pre-launch.md").read_text()
    said = {int(m[0]): float(m[1]) for m in re.findall(r"(?m)^([048]) +\S+ +([\d.]+) ", page)}
    assert said == table["source_only"].round(3).to_dict()


# -- source series that opened during the data: the level over their first periods ----------


def test_synthetic_sales_opens_source_stores_during_the_data_with_a_ramp():
    base = synthetic_sales(n_domains=8, series_per_domain=2, n_targets=2, seed=3)
    same = synthetic_sales(n_domains=8, series_per_domain=2, n_targets=2, seed=3, launch_ramp=0.0)
    assert base.equals(same) and "launches" not in base.attrs
    ramped = synthetic_sales(
        n_domains=8, series_per_domain=2, n_targets=2, seed=3, source_launches=2, launch_ramp=0.5
    )
    launches = ramped.attrs["launches"]
    assert list(launches) == ["S05", "S06"]  # the last sources before the targets
    firsts = ramped.groupby("store")["date"].min()
    for store, day in launches.items():
        assert str(firsts[store].date()) == day
    # a store sells 1 - 0.5 exp(-age / 6) of its usual sales `age` periods after opening
    key = ["store", "dept", "date"]
    both = ramped.merge(base, on=key, suffixes=("", "_base"))
    s05 = both[both["store"] == "S05"].sort_values("date")
    age = (s05["date"] - pd.Timestamp(launches["S05"])).dt.days.to_numpy() // 7
    expected = s05["sales_base"].to_numpy() * (1 - 0.5 * np.exp(-age / 6))
    np.testing.assert_allclose(s05["sales"], expected, rtol=1e-3, atol=0.01)
    s01 = both[both["store"] == "S01"]  # open all along: unchanged
    np.testing.assert_array_equal(s01["sales"], s01["sales_base"])
    with pytest.raises(ValueError, match="source_launches"):
        synthetic_sales(n_domains=8, n_targets=2, source_launches=6)


def test_the_level_model_learns_the_opening_ratio_from_the_series_that_opened():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"dept": rng.choice(["D1", "D2"], 60), "size": rng.uniform(1, 5, 60)})
    level = 100 * frame["size"].to_numpy() * np.where(frame["dept"] == "D1", 1.0, 2.0)
    opening = np.full(60, np.nan)
    opening[:20] = 0.6 * level[:20]  # a third opened during the data, at 0.6 of their level
    model = LevelModel.fit(frame, level, ["dept"], ["size"], opening)
    assert model.opening and model.opening_series == 20
    assert np.exp(model.coef[-1]) == pytest.approx(0.6, rel=0.02)
    plain = LevelModel.fit(frame, level, ["dept"], ["size"])
    assert not plain.opening and len(plain.coef) == len(model.coef) - 1
    new = pd.DataFrame({"dept": ["D1", "D2"], "size": [2.0, 3.0]})
    np.testing.assert_allclose(model.predict(new), 0.6 * plain.predict(new), rtol=0.03)
    back = LevelModel.from_json(json.loads(json.dumps(model.to_json())))
    np.testing.assert_allclose(back.predict(new), model.predict(new), rtol=1e-12)


@pytest.fixture(scope="module")
def launched():
    """16 stores x 2 departments, 3 sources open during the data with a slow start, 3 new."""
    return synthetic_sales(
        n_domains=16, series_per_domain=2, n_targets=3, n_periods=130, target_periods=26,
        source_launches=3, launch_ramp=0.5, seed=2,
    )  # fmt: skip


def test_opening_levels_are_each_opened_series_first_window_carried_to_the_origin(launched):
    task = _task(launched, launched.attrs["targets"], horizon=8)
    origin = task.evaluation_origins()[-1]
    tables = OriginTables(task, task.at_origin(origin), task.features)
    panel, b = tables.data.panel, tables.builder
    src = tables.data.source_rows
    opening = tables.opening_levels(src)
    opened = np.isin(panel.domains[src], list(launched.attrs["launches"]))
    assert np.isfinite(opening[opened]).all() and np.isnan(opening[~opened]).all()
    # by hand for the first opened series: the mean of its first 8 weeks, times the ratio of
    # the levels, at the origin to at the end of that window, of the series open all along
    k = int(np.flatnonzero(opened)[0])
    y = panel.Y[src[k]]
    first = int(np.argmax(~np.isnan(y)))
    W, o = b.level_window, tables.data.origin_idx
    mature = src[~opened]
    now = np.nanmean(panel.Y[mature, o - W + 1 : o + 1], axis=1).sum()
    then = np.nanmean(panel.Y[mature, first : first + W], axis=1).sum()
    assert opening[k] == pytest.approx(np.mean(y[first : first + W]) * now / then, rel=1e-9)
    # an origin before a store's first window ends: no opening level for it yet
    late = min(pd.Timestamp(d) for d in launched.attrs["launches"].values())
    early = OriginTables(task, task.at_origin(late + pd.Timedelta(weeks=3), "skip"), task.features)
    assert np.isnan(early.opening_levels(early.data.source_rows)).all()


def test_a_pre_launch_level_carries_the_slow_start_the_opened_sources_show(launched):
    task = _task(launched, launched.attrs["targets"], horizon=8)
    origin = task.evaluation_origins()[-1]
    tables = OriginTables(task, task.at_origin(origin), task.features)
    model = tables.level_model
    assert model.opening and model.opening_series == 3 * 2
    # sales at 1 - 0.5 exp(-age / 6): 0.68 of the usual over the first 8 weeks on average
    assert 0.5 < np.exp(model.coef[-1]) < 0.85
    # against the same fit without the opened series' first weeks: lower, by about that ratio
    src = tables.data.source_rows
    level = tables.builder.observed_level(
        tables.data.panel, src, np.full(len(src), tables.data.origin_idx)
    )
    plain = LevelModel.fit(tables.series_frame(src), level, *tables.level_columns())
    frame = tables.series_frame(tables.prelaunch)
    ratio = model.predict(frame) / plain.predict(frame)
    assert np.all(ratio < 0.9) and np.median(ratio) == pytest.approx(
        np.exp(model.coef[-1]), rel=0.1
    )


@pytest.mark.parametrize("how", ["scrambled", "nan"])
def test_opening_levels_and_the_level_model_read_nothing_after_the_origin(launched, how):
    from transfercast.testing import change_future

    # an origin between the second and the third store's opening: the third opens after it
    opens = sorted(pd.Timestamp(d) for d in launched.attrs["launches"].values())
    origin = opens[1] + pd.Timedelta(weeks=12)
    assert origin < opens[2]

    def levels(frame):
        task = _task(frame, launched.attrs["targets"], horizon=8)
        tables = OriginTables(task, task.at_origin(origin, "skip"), task.features)
        return tables.opening_levels(tables.data.source_rows), tables.prior_level

    (o1, p1), (o2, p2) = levels(launched), levels(change_future(launched, origin, how, 8))
    assert np.isfinite(o1).sum() == 2 * 2  # the two stores open by then, two series each
    np.testing.assert_array_equal(o1, o2)
    np.testing.assert_array_equal(p1, p2)


def test_an_unsold_series_of_a_selling_target_is_forecast_from_what_precedes_the_origin():
    """A department opening after the origin in a store that sells gets a forecast and
    quantiles calibrated on the replays before launch, and its sales after the origin (when it
    opens, how much it sells) change neither there."""
    frame = small_frame()
    late = ((frame["store"] == "S06") & (frame["dept"] == "D2")).to_numpy()
    after = (pd.to_datetime(frame["date"]) > "2021-03-05").to_numpy()
    raw = synthetic_config("x.csv", ["S06", "S07", "S08"], horizon=6, target_history=13)
    raw["task"]["origin"] = "2021-03-05"
    raw["strategies"] = {"pooled": {"source_params": {"num_boost_round": 20}}}

    def forecast(data: pd.DataFrame) -> pd.DataFrame:
        task = tc.TransferTask.from_config(parse_config(raw), data=data)
        with pytest.warns(DataWarning, match="'S06' has 1 series with no sales up to"):
            model = tc.TransferForecaster("pooled", quantiles=[0.1, 0.9]).fit(task)
        # only S06 has a series forecast before launch: only its intervals have a launch table
        assert model.intervals_["S06"].launch is not None
        assert model.intervals_["S07"].launch is None
        return model.predict()

    opens = frame[~late | after]
    other = opens.copy()
    moved = (other["store"] == "S06") & (other["dept"] == "D2")
    other.loc[moved, "sales"] = other.loc[moved, "sales"].to_numpy()[::-1] * 3
    first = other.index[moved][:3]
    other.loc[first, "sales"] = np.nan  # it opens three weeks later
    a, b = forecast(opens), forecast(other)
    assert len(a) == 3 * 2 * 6 and a["forecast"].notna().all()
    cols = ["forecast", "q0.1", "q0.9"]
    np.testing.assert_allclose(a[cols], b[cols], rtol=1e-12)
    assert np.isfinite(a[cols]).all().all() and (a["q0.1"] < a["q0.9"]).all()


def test_a_series_forecast_before_launch_takes_the_launch_calibration():
    """Rows of a series with no observed period take the quantiles of the launch table, the
    others those of the replays at the target's history length; both survive the bundle's
    JSON."""
    from transfercast.intervals import Calibration
    from transfercast.plugins.intervals import ReplayConformal

    narrow = Calibration([0.1, 0.9], table={"s": np.array([[-0.1, 0.1], [-0.2, 0.2]])})
    wide = Calibration([0.1, 0.9], table={"s": np.array([[-0.5, 0.6], [-0.7, 0.8]])})
    model = ReplayConformal(narrow, "s", launch=wide)
    rows = pd.DataFrame(
        {
            "unique_id": ["a", "a", "b", "b"],
            "ds": pd.to_datetime(["2021-01-01", "2021-01-08"] * 2),
            "forecast": [100.0, 100.0, 50.0, 50.0],
            "level": [100.0, 100.0, 40.0, 40.0],
            "step": [1, 2, 1, 2],
            "observed": [13, 13, 0, 0],
        }
    )
    for m in (model, ReplayConformal.from_json(json.loads(json.dumps(model.to_json())))):
        out = m.apply(rows)
        np.testing.assert_allclose(out["q0.1"], [90.0, 80.0, 50 - 0.5 * 40, 50 - 0.7 * 40])
        np.testing.assert_allclose(out["q0.9"], [110.0, 120.0, 50 + 0.6 * 40, 50 + 0.8 * 40])
    without = ReplayConformal(narrow, "s").apply(rows)  # no launch table: the one calibration
    np.testing.assert_allclose(without["q0.9"], [110.0, 120.0, 54.0, 58.0])


def test_run_and_predict_give_an_unsold_series_the_same_launch_quantiles(tmp_path):
    frame = _new_store_project(tmp_path)
    origin = frame.loc[frame["sales"].notna(), "date"].max()
    unsold = (frame["store"] == "S07") & (frame["dept"] == "D1") & (frame["date"] <= origin)
    frame = frame[~unsold]
    frame.to_csv(tmp_path / "sales.csv", index=False)
    res = invoke("run", tmp_path / "config.toml", "--quantiles", "0.1,0.9")
    assert res.code == 0, res.err
    assert "'S07' has 1 series with no sales up to" in res.err
    manifest = json.loads((tmp_path / "out" / "model" / "manifest.json").read_text())
    by_domain = {t["domain"]: t["intervals"]["state"] for t in manifest["targets"]}
    assert "launch" in by_domain["S07"] and "launch" not in by_domain["S08"]
    fc = pd.read_csv(tmp_path / "out" / "forecasts.csv")
    new = fc[(fc["store"] == "S07") & (fc["dept"] == "D1")]
    assert len(new) == 6 and np.isfinite(new[["forecast", "q0.1", "q0.9"]]).all().all()
    res = invoke(
        "predict", tmp_path / "out" / "model", "--data", tmp_path / "sales.csv", "--output",
        tmp_path / "pred.csv",
    )  # fmt: skip
    assert res.code == 0, res.err
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "pred.csv"), fc)


def test_fitting_warns_of_a_category_no_series_with_sales_has():
    """A department about to open in S06 that no store has sold: the fit says its models read
    'D3' as unknown (predict on the bundle would say the same, later)."""
    frame = small_frame()
    late = (frame["store"] == "S06") & (frame["dept"] == "D2")
    new = frame[late].assign(dept="D3")
    new.loc[pd.to_datetime(new["date"]) <= "2021-03-05", "sales"] = np.nan
    raw = synthetic_config("x.csv", ["S06", "S07", "S08"], horizon=6, target_history=13)
    raw["task"]["origin"] = "2021-03-05"
    task = tc.TransferTask.from_config(parse_config(raw), data=pd.concat([frame, new]))
    with pytest.warns(DataWarning) as caught:
        fc = tc.TransferForecaster("source_only", **SMALL).fit(task).predict()
    said = [str(w.message) for w in caught if "holds 'D3'" in str(w.message)]
    assert said == [
        "data: column 'dept' holds 'D3' in the target series, which no series with sales has; "
        "the models read them as unknown"
    ]
    assert fc.loc[fc["dept"] == "D3", "forecast"].notna().sum() == 6


def test_fitting_warns_of_a_category_only_the_targets_have_sold():
    """A department that only S06 has, with sales in its history: the vocabulary counts it (a
    target series sold it), so the warning above stays silent, but no source series has it, and
    a model of the sources alone reads it as unknown: the fit says so (before: nothing)."""
    frame = small_frame()
    only = (frame["store"] == "S06") & (frame["dept"] == "D2")
    frame.loc[only, "dept"] = "D9"
    raw = synthetic_config("x.csv", ["S06", "S07", "S08"], horizon=6, target_history=13)
    raw["task"]["origin"] = "2021-03-05"
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    with pytest.warns(DataWarning) as caught:
        tc.TransferForecaster("source_only", **SMALL).fit(task).predict()
    said = [str(w.message) for w in caught if "'D9'" in str(w.message)]
    assert said == [
        "data: column 'dept' holds 'D9' in the target series, which no source series with "
        "sales has: models fitted on the sources alone (source_only) read them as unknown, the "
        "others learn them from the targets' own rows only"
    ]


@pytest.mark.parametrize("side", ["below", "above", "of no source's kind"])
def test_a_pre_launch_size_outside_its_kind_among_the_sources_is_warned_about(side):
    """S08 forecast before launch with a size below (above) every source store of its type:
    the level model extrapolates its size slope, and the fit says so, naming the size and the
    range. Of a store type no source has, every source's range stands in (before: no range of
    its kind, so nothing was said: a level of 317 for about 22,000)."""
    frame = small_frame()
    kind = frame.loc[frame["store"] == "S08", "store_type"].iloc[0]
    sources = frame[~frame["store"].isin(["S06", "S07", "S08"])]
    peers = sources if side.startswith("of") else sources[sources["store_type"] == kind]
    low, high = int(peers["size"].min()), int(peers["size"].max())
    size = high * 2 if side == "above" else low // 2
    frame.loc[frame["store"] == "S08", "size"] = size
    of = f"store_type '{kind}'"
    if side.startswith("of"):
        frame.loc[frame["store"] == "S08", "store_type"] = "Z"
        of = "no source of its kind; every source"
    raw = synthetic_config("x.csv", ["S06", "S07", "S08"], horizon=6, target_history=0)
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    with pytest.warns(DataWarning, match=rf"'S08' is forecast before launch with size {size}, "
                      rf"outside the size of the source series of its kind \({of}: {low} to "
                      rf"{high}\): its level is extrapolated"):  # fmt: skip
        tc.TransferForecaster("source_only", **SMALL).fit(task)


def test_a_pre_launch_series_of_a_selling_store_says_when_it_sold():
    """S08's D2 sold, then nothing in the 13 periods ``target_history`` keeps, and S08's size
    lies outside its kind: the warning names the series "with no sales in the last 13
    periods" (before: "not sold yet", which it had)."""
    frame = small_frame()
    kind = frame.loc[frame["store"] == "S08", "store_type"].iloc[0]
    peers = frame[(frame["store_type"] == kind) & ~frame["store"].isin(["S06", "S07", "S08"])]
    frame.loc[frame["store"] == "S08", "size"] = int(peers["size"].max()) * 2
    dates = pd.to_datetime(frame["date"])
    d2 = (frame["store"] == "S08") & (frame["dept"] == "D2")
    frame.loc[d2 & (dates > dates.max() - pd.Timedelta(weeks=14)), "sales"] = np.nan
    frame = frame[~d2 | (dates <= dates.max() - pd.Timedelta(weeks=14)) | (dates == dates.max())]
    raw = synthetic_config("x.csv", ["S06", "S07", "S08"], horizon=6, target_history=13)
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    with pytest.warns(DataWarning, match=r"'S08' \(its series 'S08\|D2', with no sales in the "
                      r"last 13 periods\) is forecast before launch with size"):  # fmt: skip
        tc.TransferForecaster("source_only", **SMALL).fit(task)


def test_a_series_that_sold_only_before_the_target_history_is_named_so():
    """S06 D2 sold, then nothing in the 13 periods target_history keeps: the warning says it
    sold before them, not that it never sold."""
    frame = small_frame()
    dates = pd.to_datetime(frame["date"])
    quiet = (frame["store"] == "S06") & (frame["dept"] == "D2")
    quiet &= (dates > pd.Timestamp("2021-03-05") - pd.Timedelta(weeks=13)) & (dates <= "2021-03-05")
    frame.loc[quiet, "sales"] = np.nan
    raw = synthetic_config("x.csv", ["S06", "S07", "S08"], horizon=6, target_history=13)
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    with pytest.warns(DataWarning, match=r"'S06' has 1 series with no sales in the last 13 "
                      r"periods up to the origin 2021-03-05 \(first 'S06\|D2'\), having sold "
                      r"before \(\[task\] target_history = 13\)"):  # fmt: skip
        task.at_origin(pd.Timestamp("2021-03-05"))


def test_a_source_series_with_a_negative_level_is_left_out_of_the_level_model():
    """Net returns give a negative recent level, which the Poisson fit cannot take."""
    frame = pd.DataFrame({"dept": ["a", "a", "b", "b", "b"], "size": [1.0, 2.0, 3.0, 4.0, 5.0]})
    level = np.array([10.0, 20.0, 30.0, 40.0, -5.0])
    model = LevelModel.fit(frame, level, ["dept"], ["size"])
    alone = LevelModel.fit(frame.iloc[:4], level[:4], ["dept"], ["size"])
    assert model.series == 4
    np.testing.assert_allclose(model.predict(frame), alone.predict(frame))


def _level_frame(n=60, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "dept": rng.choice(["D1", "D2"], n), "kind": rng.choice(["A", "B"], n),
        "size": rng.uniform(1, 5, n),
    })  # fmt: skip
    both = (frame["dept"] == "D2") & (frame["kind"] == "B")
    return frame, 100 * frame["size"].to_numpy() * np.where(both, 3.0, 1.0)


def test_the_level_model_learns_a_pair_of_keys_together():
    """A level that only one department of one store type has (D2 in B stores) is learnt
    through the pair's column, which no sum of the two keys' effects can give."""
    frame, level = _level_frame()
    model = LevelModel.fit(frame, level, ["dept", "kind"], ["size"])
    new = pd.DataFrame({"dept": ["D1", "D2", "D1", "D2"], "kind": ["A", "A", "B", "B"],
                        "size": [2.0] * 4})  # fmt: skip
    np.testing.assert_allclose(model.predict(new), [200, 200, 200, 600], rtol=0.05)


def test_a_numeric_covariate_equal_in_every_source_gives_finite_levels():
    """A static covariate with one value over the sources (sd 0) is not divided by 0."""
    frame, level = _level_frame()
    frame["size"] = 3.0
    model = LevelModel.fit(frame, level, ["dept", "kind"], ["size"])
    assert np.isfinite(model.predict(frame)).all()


def test_a_numeric_covariate_with_a_zero_is_not_taken_on_the_log_scale():
    """Log scale only when positive in every source series: a zero would be -inf."""
    frame, level = _level_frame()
    frame.loc[0, "size"] = 0.0
    model = LevelModel.fit(frame, level, ["dept", "kind"], ["size"])
    assert model.log_numeric == [] and np.isfinite(model.predict(frame)).all()


def test_a_negative_opening_level_is_left_out_of_the_fit():
    """An opening level below zero (returns) is left out, as a negative recent level is."""
    frame, level = _level_frame()
    opening = np.full(len(level), np.nan)
    opening[:10] = 0.6 * level[:10]
    opening[10] = -5.0
    model = LevelModel.fit(frame, level, ["dept"], ["size"], opening)
    assert model.opening_series == 10


def test_a_series_whose_first_sale_is_at_the_origin_is_not_pre_launch():
    """A sale at the origin itself is history: the series is not estimated as one that
    has not sold yet (the pre-launch cut includes the origin period)."""
    from transfercast.forecasting import OriginTables

    origin = small_task().evaluation_origins()[-1]
    frame = small_frame()
    late = (frame["store"] == "S06") & (frame["dept"] == "D1")
    frame = frame[~(late & (pd.to_datetime(frame["date"]) < origin))]
    task = task_on(frame)
    tables = OriginTables(task, task.at_origin(origin), task.features)
    ids = list(tables.data.panel.ids[tables.prelaunch])
    assert "S06|D1" not in ids and ids == []


def test_the_level_model_is_fitted_on_the_level_window_ending_at_the_origin(wide_tables):
    """The sources' recent levels are their mean over the level window that ends at the
    origin (not one period later, which the cut panel would shorten to W - 1 periods)."""
    task, tables = wide_tables
    panel, o, W = tables.data.panel, tables.data.origin_idx, tables.builder.level_window
    by_hand = np.nanmean(panel.Y[tables.data.source_rows, o - W + 1 : o + 1], axis=1)
    ok = np.isfinite(by_hand) & (by_hand >= 0)
    assert tables.level_model.unit == pytest.approx(by_hand[ok].mean(), rel=1e-12)


def test_an_opening_window_ending_after_the_origin_gives_no_opening_level(launched):
    """A store's opening level needs its whole first window at or before the origin: at
    one period short there is none; at the window's last period there is."""
    task = _task(launched, launched.attrs["targets"], horizon=8)
    last = task.evaluation_origins()[-1]
    W = OriginTables(task, task.at_origin(last), task.features).builder.level_window
    first = min(pd.Timestamp(d) for d in launched.attrs["launches"].values())

    def opening(origin):
        tables = OriginTables(task, task.at_origin(origin, "skip"), task.features)
        return tables.opening_levels(tables.data.source_rows)

    assert np.isfinite(opening(first + pd.Timedelta(weeks=W - 1))).sum() == 2
    assert np.isnan(opening(first + pd.Timedelta(weeks=W - 2))).all()


def test_predict_warns_of_a_pre_launch_size_outside_the_sources_as_run_does(tmp_path):
    """``run`` warned that a store forecast before launch with a size outside its kind's range
    is extrapolated; ``predict`` on the same data did not, and the level moved 10 x (it warns
    from the targets' rows alone: the bundle keeps the sources' static values)."""
    frame = _new_store_project(tmp_path)
    res = invoke("run", tmp_path / "config.toml")
    assert res.code == 0, res.err
    kind = frame.loc[frame["store"] == "S08", "store_type"].iloc[0]
    peers = frame[(frame["store_type"] == kind) & ~frame["store"].isin(["S07", "S08"])]
    frame.loc[frame["store"] == "S08", "size"] = int(peers["size"].max()) * 10
    # the targets' rows alone, as predict needs: the bundle keeps the sources' sizes
    frame[frame["store"].isin(["S07", "S08"])].to_csv(tmp_path / "big.csv", index=False)
    res = invoke(
        "predict", tmp_path / "out" / "model", "--data", tmp_path / "big.csv", "--output",
        tmp_path / "pred.csv",
    )  # fmt: skip
    assert res.code == 0, res.err
    assert "'S08' is forecast before launch with size" in res.err, res.err


def test_a_backtest_before_launch_finds_its_origin_and_run_says_what_zero_history_hides():
    """With ``target_history = 0`` the automatic origins asked the targets for a period of
    history (an origin one before the first sale, accepted when listed, was refused); and a
    forecast at 0 history did not say how many periods of sales it leaves unread."""
    frame = synthetic_sales(n_domains=6, series_per_domain=2, n_periods=80, n_targets=1,
                            target_periods=8)  # fmt: skip
    task = tc.TransferTask(
        frame, series=["store", "dept"], time="date", target="sales", domain="store",
        targets=frame.attrs["targets"], horizon=8, target_history=0, static=["store_type", "size"],
    )  # fmt: skip
    first = pd.to_datetime(frame.loc[frame["store"] == frame.attrs["targets"][0], "date"]).min()
    assert task.evaluation_origins() == [first - pd.Timedelta(weeks=1)]
    assert task.hidden_history(pd.Timestamp(frame["date"].max())) == 8
    assert task.hidden_text(8, past=True) == (
        "[task] target_history = 0 forecasts the targets before launch and left their 8 periods "
        "of sales unread (a launch played back)"
    )


def test_a_series_opening_within_the_horizon_is_forecast_from_its_first_row_only():
    """A department whose first row lies 3 periods after the origin is a launch to forecast
    (concepts.md): it gets forecasts from its first row on, none for the weeks before it opens
    (before: every step, which a planner's store total counted), and the known-covariate
    warning leaves those periods out (none of them has a price). Another model's forecasts
    may leave out a period the comparison does not score (a gap in the actuals)."""
    frame = small_frame()
    target = frame.attrs["targets"][0]
    task0 = task_on(frame)
    origin = task0.evaluation_origins()[-1]
    mine = frame[frame["store"] == target]["dept"].iloc[0]
    opens = origin + 3 * pd.Timedelta(weeks=1)
    late = (frame["store"] == target) & (frame["dept"] == mine)
    frame = frame[~late | (frame["date"] >= opens)]
    other = (frame["store"] == target) & (frame["dept"] != mine)
    gap = frame.index[other & (frame["date"] == origin + pd.Timedelta(weeks=2))]
    frame = frame.assign(sales=frame["sales"].where(~frame.index.isin(gap)))
    task = task_on(frame)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        comp = tc.compare(task, ["naive", "source_only"], origins=[origin],
                          params={"source_only": SMALL})  # fmt: skip
    fc = comp.forecasts[comp.forecasts["strategy"] == "source_only"]
    uid = f"{target}|{mine}"
    new = fc[fc["unique_id"] == uid]
    assert sorted(new["ds"]) == list(pd.date_range(opens, periods=8 - 3 + 1, freq="W-FRI"))
    assert fc.groupby("unique_id").size().drop(uid).eq(8).all()
    known = [str(w.message) for w in said if "known columns" in str(w.message)]
    assert not known, known  # the periods before it opens have no planned price: not forecast
    given = fc[fc["actual"].notna()].drop(columns=["strategy", "actual"])
    from transfercast.forecaster import to_user_columns

    both = comp.add("copy", to_user_columns(task, given))
    board = both.leaderboard().set_index("strategy")
    assert board.loc["copy", "wape"] == board.loc["source_only", "wape"]
    # a value given for the unscored period is the user's: not checked, not scored
    unscored = fc["actual"].isna().to_numpy()
    assert unscored.sum() == 1  # the gap
    odd = fc.drop(columns=["strategy", "actual"]).assign(
        forecast=np.where(unscored, np.inf, fc["forecast"])
    )
    with_odd = comp.add("odd", to_user_columns(task, odd)).leaderboard().set_index("strategy")
    assert with_odd.loc["odd", "wape"] == board.loc["source_only", "wape"]
    odd.loc[odd.index[~unscored][0], "forecast"] = np.inf
    n = int((~unscored).sum())
    with pytest.raises(tc.TransfercastError, match=rf"no finite forecast .* \(1 of the {n} "):
        comp.add("odder", to_user_columns(task, odd))


def test_a_target_not_open_at_a_backtest_origin_needs_the_static_columns_of_the_level_model():
    """At an origin before the one target's first sale it is forecast before launch, so a
    static column without a value there is the error ``target_history = 0`` gives, not a
    column left out of the level model with a warning."""
    sales = synthetic_sales(
        n_domains=8, series_per_domain=2, n_periods=110, n_targets=1, target_periods=30, seed=0
    )
    target = sales.attrs["targets"][0]
    dates = sorted(sales["date"].unique())
    origin = dates[dates.index(sales.loc[sales["store"] == target, "date"].min()) - 1]
    sales.loc[sales["store"] == target, "size"] = np.nan
    task = tc.TransferTask(
        sales, series=["store", "dept"], time="date", target="sales", domain="store",
        targets=[target], horizon=8, static=["store_type", "size"], known=["price"],
    )  # fmt: skip
    with pytest.raises(tc.TransfercastError) as err:
        tc.compare(task, ["source_only"], origins=[origin])
    assert str(err.value) == (
        f"data: static column 'size' has no value in target domain '{target}', which has no "
        f"sales up to the origin {pd.Timestamp(origin).date()}; the level model that estimates "
        "a pre-launch level from the source domains needs it"
    )


def test_a_key_unique_to_each_series_is_left_out_of_the_level_model():
    """An item id as the series key (``dept`` a static column beside it) estimates the same
    pre-launch levels as ``store x dept``: the id says nothing about a new item."""
    sales = synthetic_sales(
        n_domains=10, series_per_domain=2, n_periods=110, n_targets=2, target_periods=40, seed=0
    )
    origin = sorted(sales["date"].unique())[-20]
    levels = []
    for series, static in (
        (["store", "dept"], ["store_type", "size"]),
        (["store", "item"], ["store_type", "size", "dept"]),
    ):
        data = sales.assign(item=sales["store"] + "-" + sales["dept"])
        task = tc.TransferTask(
            data, series=series, time="date", target="sales", domain="store", horizon=8,
            targets=sales.attrs["targets"], static=static, target_history=0,
        )  # fmt: skip
        tables = OriginTables(task, task.at_origin(pd.Timestamp(origin)), task.features)
        assert "item" not in tables.level_model.categorical
        levels.append(tables.prior_level[tables.prelaunch])
    np.testing.assert_allclose(levels[1], levels[0], rtol=1e-9)


def test_a_planned_value_missing_for_a_store_not_open_yet_is_said_to_be_read_as_missing():
    """Its series have no recent mean to fill the gap with, as the warning says others do."""
    from transfercast.forecasting import warn_unknown_future

    frame = small_frame()
    dates = np.sort(frame["date"].unique())
    origin = dates[-9]
    new = frame["store"] == "S08"
    frame = frame[(frame["date"] <= origin) != new]  # S08: only its rows after the origin
    frame.loc[new, "sales"] = np.nan
    frame.loc[new & (frame["date"] > dates[-3]), "price"] = np.nan
    raw = synthetic_config("unused.csv", ["S08"], horizon=8)
    del raw["task"]["target_history"]
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    tables = OriginTables(task, task.at_origin(pd.Timestamp(origin)), task.features)
    with pytest.warns(DataWarning) as said:
        warn_unknown_future(tables, "data")
    assert str(said[-1].message).endswith(
        "; a series that has not sold yet has no such mean, and the models read it as missing"
    )
