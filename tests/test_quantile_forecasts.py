"""Quantile forecasts end to end: ``compare``, ``run`` and ``predict`` with ``--quantiles``, the
config section ``[forecast]``, the scores, model bundles and a third-party interval method."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import transfercast as tc
from transfercast.cli import to_toml

from .clirun import invoke
from .conftest import small_project

QS = [0.025, 0.1, 0.5, 0.9, 0.975]
NAMES = ["target_only", "source_only", "pooled", "auto"]
SMALL = {"auto": {"candidates": ["target_only", "source_only", "pooled"]}}


@pytest.fixture(scope="module")
def comparisons(task):
    """The same comparison without and with quantiles."""
    plain = tc.compare(task, NAMES, params=SMALL)
    with_q = tc.compare(task, NAMES, params=SMALL, quantiles=QS)
    return plain, with_q


def test_quantile_columns_never_cross_and_the_point_forecast_stays(comparisons):
    plain, with_q = comparisons
    fc = with_q.forecasts
    cols = ["q0.025", "q0.1", "q0.5", "q0.9", "q0.975"]
    assert [c for c in fc.columns if c.startswith("q")] == cols
    q = fc[cols].to_numpy(float)
    assert np.isfinite(q).all()
    assert np.all(np.diff(q, axis=1) >= 0)  # never crossing
    assert q.min() >= 0.0  # sales are never negative here, so neither are the quantiles
    key = ["strategy", "origin", "unique_id", "ds"]
    a, b = (f.sort_values(key).reset_index(drop=True) for f in (plain.forecasts, fc))
    np.testing.assert_allclose(b["forecast"], a["forecast"], rtol=1e-12)
    # the 80 % interval is not degenerate: it has width wherever the forecast is positive
    assert (fc["q0.9"] - fc["q0.1"])[fc["forecast"] > 0].gt(0).all()


def test_scores_and_leaderboard_carry_the_quantile_scores(comparisons):
    _, with_q = comparisons
    s = with_q.scores
    for col in ["sql", "wql", "pinball_q0.1", "coverage_80", "coverage_95", "width_80"]:
        assert s[col].notna().all(), col
    assert s["coverage_95"].ge(s["coverage_80"]).all()
    board = with_q.leaderboard()
    assert {"sql", "coverage_80", "coverage_95"} <= set(board.columns)
    # every quantile score of the scores table, as docs/uncertainty.md lists them
    pinball = [f"pinball_q{q:g}" for q in QS]
    assert set(pinball) <= set(board.columns)
    means = s[s["status"] == "ok"].groupby("strategy")[pinball].mean()
    pd.testing.assert_frame_equal(
        board.set_index("strategy")[pinball].loc[means.index], means, check_names=False
    )
    # coverage is the share of actuals inside the interval, recomputed from the forecasts
    fc = with_q.forecasts.dropna(subset=["actual"])
    per = fc.assign(inside=(fc["actual"] >= fc["q0.1"]) & (fc["actual"] <= fc["q0.9"]))
    per["target"] = per["unique_id"].str.split("|").str[0]
    mine = per.groupby(["strategy", "target", "origin"])["inside"].mean()
    got = s.set_index(["strategy", "target", "origin"])["coverage_80"]
    pd.testing.assert_series_equal(got.sort_index(), mine.sort_index(), check_names=False)


def test_coverage_on_synthetic_data_is_near_nominal(comparisons):
    """Over every target, origin and strategy, the replay-calibrated intervals of the small
    synthetic task cover roughly their nominal share (a loose band: 6 targets x 2 origins)."""
    fc = comparisons[1].forecasts.dropna(subset=["actual"])
    y = fc["actual"]
    cov80 = ((y >= fc["q0.1"]) & (y <= fc["q0.9"])).mean()
    cov95 = ((y >= fc["q0.025"]) & (y <= fc["q0.975"])).mean()
    assert 0.65 <= cov80 <= 0.95, cov80
    assert 0.85 <= cov95 <= 1.0, cov95


def test_auto_is_calibrated_on_its_own_blend_without_new_replays(comparisons):
    _, with_q = comparisons
    s = with_q.scores.set_index("strategy")
    # auto's candidates were replayed for their own intervals already: its calibration is a
    # blend of those, so it costs (nearly) nothing
    assert s.loc["auto", "interval_seconds"].max() < 1.0
    replayed = {"target_only", "source_only", "pooled", "last_value", "naive"}
    assert set(with_q.replays["candidate"]) == replayed


def _project(tmp_path, **forecast):
    raw = small_project(tmp_path, horizon=6, target_history=13, windows=1, output_dir="out")
    raw["strategy"]["name"] = "source_only"
    if forecast:
        raw["forecast"] = forecast
    (tmp_path / "config.toml").write_text(to_toml(raw))
    return tmp_path / "config.toml"


def test_run_and_predict_give_the_same_quantiles(tmp_path):
    config = _project(tmp_path, quantiles=[0.1, 0.5, 0.9])
    res = invoke("run", config)
    assert res.code == 0, res.err
    ran = pd.read_csv(tmp_path / "out" / "forecasts.csv")
    assert list(ran.columns[-4:]) == ["forecast", "q0.1", "q0.5", "q0.9"]
    manifest = json.loads((tmp_path / "out" / "model" / "manifest.json").read_text())
    spec = manifest["targets"][0]["intervals"]
    assert spec["method"] == "replay_conformal" and spec["quantiles"] == [0.1, 0.5, 0.9]
    out = tmp_path / "p.csv"
    res = invoke("predict", tmp_path / "out" / "model", "--data", tmp_path / "sales.csv",
                 "--output", out)  # fmt: skip
    assert res.code == 0, res.err
    pd.testing.assert_frame_equal(pd.read_csv(out), ran, check_exact=False, rtol=1e-9)
    # a subset of the calibrated levels
    res = invoke("predict", tmp_path / "out" / "model", "--data", tmp_path / "sales.csv",
                 "--output", out, "--quantiles", "0.9,0.1")  # fmt: skip
    assert res.code == 0, res.err
    assert list(pd.read_csv(out).columns[-3:]) == ["forecast", "q0.1", "q0.9"]
    # a level the bundle holds no calibration for: one line, exit 2, nothing written
    out.unlink()
    res = invoke("predict", tmp_path / "out" / "model", "--data", tmp_path / "sales.csv",
                 "--output", out, "--quantiles", "0.2")  # fmt: skip
    assert res.code == 2
    assert "no calibration for q0.2" in res.err and "q0.1, q0.5, q0.9" in res.err
    assert len(res.err.strip().splitlines()) == 1 and not out.exists()


def test_predict_says_when_its_bundle_holds_no_calibration_for_the_quantiles(tmp_path):
    """One source domain: no replay can be scored, run warns and keeps NaN quantiles; predict
    wrote the empty columns without a word."""
    from transfercast.bundle import load_bundle, predict_bundle, write_bundle
    from transfercast.config import parse_config
    from transfercast.data import DataWarning
    from transfercast.datasets import synthetic_config

    from .conftest import small_frame

    frame = small_frame()
    target = frame.attrs["targets"][0]
    one = frame[frame["store"].isin([target, "S01"])]
    raw = synthetic_config("sales.csv", [target], horizon=6, target_history=13)
    task = tc.TransferTask.from_config(parse_config(raw), data=one)
    with pytest.warns(DataWarning, match="the quantiles of 'source_only' are NaN"):
        model = tc.TransferForecaster("source_only", quantiles=[0.1, 0.9]).fit(task)
    write_bundle(model, tmp_path / "model")
    said = r"^new\.csv: (\d+) of \1 forecasts have empty quantile columns \(first: series '\S+'\): "
    with pytest.warns(DataWarning, match=said + "the model bundle holds no calibration"):
        out = predict_bundle(load_bundle(tmp_path / "model"), one, source_name="new.csv")
    assert out["q0.1"].isna().all() and out["forecast"].notna().all()


def test_quantiles_option_overrides_the_config_and_bad_levels_are_named(tmp_path):
    config = _project(tmp_path)
    res = invoke("run", config, "--quantiles", "0.25,0.75", "--output", tmp_path / "o")
    assert res.code == 0, res.err
    assert list(pd.read_csv(tmp_path / "o" / "forecasts.csv").columns[-2:]) == ["q0.25", "q0.75"]
    res = invoke("run", config, "--quantiles", "0.5,1.5", "--output", tmp_path / "bad")
    assert res.code == 2 and "--quantiles '0.5,1.5'" in res.err and "1.5" in res.err
    assert not (tmp_path / "bad").exists()
    bad = _project(tmp_path, quantiles=[0.5, 0.0])
    res = invoke("run", bad)
    assert res.code == 2 and "[forecast] key 'quantiles'" in res.err and "0.0" in res.err
    bad = _project(tmp_path, quantiles=[0.5], method="bootstrap")
    res = invoke("run", bad)
    assert res.code == 2
    assert "unknown interval method 'bootstrap' ([forecast] method; interval_method in" in res.err


PLUGIN = '''
import pandas as pd
import transfercast


class Band:
    """A fixed band of +-share around the point forecast."""

    def __init__(self, share, quantiles):
        self.share, self.quantiles = share, quantiles

    def apply(self, forecasts):
        out = forecasts.copy()
        for q in self.quantiles:
            out[transfercast.intervals.qcol(q)] = out["forecast"] * (1 + self.share * (q - 0.5))
        return out

    def to_json(self):
        return {"share": self.share, "quantiles": self.quantiles}


@transfercast.hookimpl
def transfercast_intervals(method, quantiles, strategy, tables, domain, cache):
    return Band(0.4, quantiles) if method == "band" else None


@transfercast.hookimpl
def transfercast_load_intervals(method, state):
    return Band(state["share"], state["quantiles"]) if method == "band" else None
'''


def test_a_plugin_interval_method_runs_and_travels_in_the_bundle(tmp_path, monkeypatch):
    (tmp_path / "band_plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    config = _project(tmp_path, quantiles=[0.1, 0.9], method="band")
    text = config.read_text()
    config.write_text('plugins = ["band_plugin"]\n' + text)
    res = invoke("run", config)
    assert res.code == 0, res.err
    ran = pd.read_csv(tmp_path / "out" / "forecasts.csv")
    np.testing.assert_allclose(ran["q0.1"], ran["forecast"] * (1 - 0.4 * 0.4))
    np.testing.assert_allclose(ran["q0.9"], ran["forecast"] * (1 + 0.4 * 0.4))
    out = tmp_path / "p.csv"
    res = invoke("predict", tmp_path / "out" / "model", "--data", tmp_path / "sales.csv",
                 "--output", out)  # fmt: skip
    assert res.code == 0, res.err
    pd.testing.assert_frame_equal(pd.read_csv(out), ran, check_exact=False, rtol=1e-9)
    sys.modules.pop("band_plugin", None)
