"""Model bundles: `run` writes model/, `predict` reproduces its forecasts, tampering is refused."""

from __future__ import annotations

import json
import re
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

import transfercast
from transfercast.bundle import FORMAT_VERSION, BundleError, load_bundle, predict_bundle
from transfercast.cli import to_toml
from transfercast.data import DataWarning
from transfercast.datasets import synthetic_sales
from transfercast.errors import DataError
from transfercast.strategy import Strategy

from .clirun import invoke
from .conftest import register_strategies, small_frame, small_project

MANIFEST_KEYS = {
    "format_version",
    "features_revision",
    "transfercast_version",
    "strategy",
    "features",
    "data",
    "origin",
    "training_data",
    "targets",
    "files",
    "manifest_sha256",
}


def write_project(root, strategy="source_only", plugins=(), **strategies):
    raw = small_project(
        root,
        horizon=6,
        target_history=13,
        windows=2,
        output_dir="out",
    )
    raw["strategy"]["name"] = strategy
    if plugins:
        raw["plugins"] = list(plugins)
    if strategies:
        raw["strategies"] = strategies
    (root / "config.toml").write_text(to_toml(raw))
    return root / "config.toml"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle")
    config = write_project(root, "pooled", pooled={"engine": "xgboost", "target_weight": 3.0})
    res = invoke("run", config)
    assert res.code == 0, res.err
    return root


def test_run_writes_a_bundle_with_manifest_and_checksums(project):
    model = project / "out" / "model"
    manifest = json.loads((model / "manifest.json").read_text())
    assert MANIFEST_KEYS <= set(manifest)
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["transfercast_version"] == transfercast.__version__
    assert manifest["strategy"]["name"] == "pooled"
    assert manifest["strategy"]["params"]["engine"] == "xgboost"
    assert manifest["origin"] == "2021-04-16"
    assert manifest["data"]["columns"]["sales"] == "float64"
    assert manifest["features"]["builder"]["categories"]["dept"] == ["D1", "D2"]
    assert [t["domain"] for t in manifest["targets"]] == ["S06", "S07", "S08"]
    assert len(manifest["training_data"]["fingerprint"]) == 64
    files = sorted(p.relative_to(model).as_posix() for p in model.rglob("*") if p.is_file())
    assert sorted(manifest["files"]) == [f for f in files if f != "manifest.json"]
    assert all(f.endswith((".json", ".txt")) for f in files)  # native formats, no pickle
    leftovers = [p.name for p in (project / "out").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_a_model_every_target_domain_shares_is_stored_once(project):
    # the pooled model is one model for the three targets: one file, linked from each folder
    model = project / "out" / "model"
    files = sorted(p for p in model.rglob("*") if p.is_file() and p.name != "manifest.json")
    assert [p.parent.name for p in files] == ["target0", "target1", "target2"]
    assert len({p.stat().st_ino for p in files}) == 1
    assert files[0].stat().st_nlink == 3


def test_predict_on_the_training_data_reproduces_run(project):
    res = invoke(
        "predict",
        project / "out" / "model",
        "--data",
        project / "sales.csv",
        "--output",
        project / "pred.csv",
    )
    assert res.code == 0, res.err
    run_fc = pd.read_csv(project / "out" / "forecasts.csv")
    pred = pd.read_csv(project / "pred.csv")
    assert list(pred.columns) == list(run_fc.columns) == ["store", "dept", "date", "forecast"]
    pd.testing.assert_frame_equal(pred, run_fc)
    # the same forecasts gzip-compressed, as the data reader reads them
    gz = project / "pred.csv.gz"
    res = invoke(
        "predict", project / "out" / "model", "--data", project / "sales.csv", "--output", gz
    )
    assert res.code == 0, res.err
    assert gz.read_bytes()[:2] == b"\x1f\x8b"  # the gzip magic number
    pd.testing.assert_frame_equal(pd.read_csv(gz), run_fc)


def test_predict_needs_only_the_target_rows_and_follows_the_new_data(project):
    bundle = load_bundle(project / "out" / "model")
    frame = small_frame()
    targets = frame[frame["store"].isin(["S06", "S07", "S08"])]
    full = predict_bundle(bundle, frame)
    only = predict_bundle(bundle, targets)
    pd.testing.assert_frame_equal(full, only)
    # new data a week longer: the origin follows them, and the first week is forecast no more
    week = pd.offsets.Week(weekday=4)
    dates = pd.to_datetime(targets["date"])
    more = targets[dates == dates.max()].assign(date=(dates.max() + week).date(), sales=1000.0)
    fc = predict_bundle(bundle, pd.concat([targets, more], ignore_index=True))
    assert pd.to_datetime(fc["date"]).min() == dates.max() + 2 * week
    assert len(fc) == 3 * 2 * 6 and np.isfinite(fc["forecast"]).all()


def _predict_warnings(bundle, frame) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predict_bundle(bundle, frame)
    return [" ".join(str(w.message).split()) for w in caught]


def test_predict_names_what_the_new_data_do_not_give_the_model(project):
    """A weekly cycle's slips are named (before: forecasts in silence): only the new weeks
    given (lags and levels read from one period), a store the model neither forecasts nor
    learnt from (not forecast), data that ran past the model by more than a horizon, and the
    cold-start cut the model's config keeps applying."""
    bundle = load_bundle(project / "out" / "model")
    frame = small_frame()
    dates = pd.to_datetime(frame["date"])
    last = dates.max()
    cut = "the model's [task] target_history = 13 keeps the targets' last 13 periods and leaves"
    said = [w for w in _predict_warnings(bundle, frame) if "known columns without" not in w]
    assert len(said) == 1 and cut in said[0], said
    # only the last two weeks
    said = _predict_warnings(bundle, frame[dates > last - pd.Timedelta(weeks=2)])
    start = (last - pd.Timedelta(weeks=12)).date()
    assert (  # one line for the targets cut alike, not one per target
        f"data: target domains 'S06', 'S07', 'S08' have sales from "
        f"{(last - pd.Timedelta(weeks=1)).date()} on, but a forecast at {last.date()} reads them "
        f"from {start} on, as the model's fit did: their lags and recent level lack the periods "
        f"between; give the whole history with the new periods" in said
    ), said
    assert sum("have sales from" in w for w in said) == 1, said
    # the 13 weeks the model reads are all it needs
    said = _predict_warnings(bundle, frame[dates > last - pd.Timedelta(weeks=13)])
    assert not [w for w in said if "sales from" in w], said
    # a new store beside them
    new = frame[frame["store"] == "S06"].assign(store="S09")
    said = _predict_warnings(bundle, pd.concat([frame, new], ignore_index=True))
    assert (
        "data: column 'store' holds 1 domain the model neither forecasts nor learnt from "
        "(first 'S09'), left out; to forecast them, add them to [task] targets and run "
        "`transfercast run`" in said
    ), said
    # eight weeks later, the model fitted on none of them (horizon 6)
    later = frame.assign(date=(dates + pd.Timedelta(weeks=8)).dt.date)
    said = _predict_warnings(bundle, later)
    assert (
        f"data: the model was fitted at {last.date()}, 8 periods before the origin "
        f"{(last + pd.Timedelta(weeks=8)).date()} (its horizon: 6): it has learnt nothing from "
        f"the periods since; run `transfercast run` to fit it on them" in said
    ), said


def test_tampered_model_file_is_refused(project, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(project / "out" / "model", model)
    victim = next(p for p in model.rglob("*.json") if p.name != "manifest.json")
    victim.write_bytes(victim.read_bytes().replace(b"0", b"1", 1))
    res = invoke("predict", model, "--data", project / "sales.csv", "--output", tmp_path / "p.csv")
    assert res.code == 2
    assert "checksum mismatch" in res.err and victim.name in res.err
    assert len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err
    assert not (tmp_path / "p.csv").exists()


def test_tampered_manifest_and_missing_file_are_refused(project, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(project / "out" / "model", model)
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["strategy"]["params"]["target_weight"] = 50.0
    (model / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="manifest was modified"):
        load_bundle(model)
    shutil.rmtree(model)
    shutil.copytree(project / "out" / "model", model)
    (model / "target1" / "pooled.xgb.json").unlink()
    with pytest.raises(BundleError, match="is missing"):
        load_bundle(model)


def test_newer_format_version_is_refused(project, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(project / "out" / "model", model)
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    (model / "manifest.json").write_text(json.dumps(manifest))
    res = invoke("predict", model, "--data", project / "sales.csv")
    assert res.code == 2 and "newer" in res.err and "upgrade transfercast" in res.err
    with pytest.raises(BundleError, match="not a transfercast model bundle"):
        load_bundle(tmp_path)


def test_predict_refuses_a_changed_column_type(project, tmp_path):
    frame = small_frame()
    frame["size"] = "big"
    frame.to_csv(tmp_path / "bad.csv", index=False)
    res = invoke(
        "predict",
        project / "out" / "model",
        "--data",
        tmp_path / "bad.csv",
        "--output",
        tmp_path / "p.csv",
    )
    assert res.code == 2 and "column 'size'" in res.err and "int64" in res.err


def test_predict_warns_of_history_cut_within_what_its_features_read(tmp_path):
    """A model fitted on targets' whole history (no ``target_history``): data trimmed to 80
    weeks lack part of the two years its ``n_obs`` counts (forecasts moved by up to 5.8 %),
    and predict says so; 110 weeks give all it reads. A store that ``[task] sources`` left out
    of the fit is no new store to predict."""
    from transfercast.bundle import write_bundle

    frame = synthetic_sales(n_domains=5, series_per_domain=2, n_periods=130, n_targets=1,
                            target_periods=120, seed=3)  # fmt: skip
    task = transfercast.TransferTask(
        frame, series=["store", "dept"], time="date", target="sales", domain="store",
        targets=["S05"], sources=["S01", "S02", "S03"], horizon=6,
    )  # fmt: skip
    model = transfercast.TransferForecaster("target_only", target_params={"num_boost_round": 5})
    write_bundle(model.fit(task), tmp_path / "model")
    bundle = load_bundle(tmp_path / "model")
    dates = pd.to_datetime(frame["date"])
    for weeks, warned in [(80, True), (110, False)]:
        said = _predict_warnings(bundle, frame[dates > dates.max() - pd.Timedelta(weeks=weeks)])
        assert bool([w for w in said if "has sales from" in w]) is warned, (weeks, said)
        assert not [w for w in said if "neither forecasts nor learnt" in w], said


def test_a_bundle_reads_float_store_ids_as_its_fit_did(tmp_path):
    """Store ids 6.0 (a Parquet float column) are store 6 for a bundle as for a fit (before:
    "no rows of the model's target domain '6'" on the data the model was fitted on)."""
    from transfercast.bundle import write_bundle

    frame = small_frame()
    frame["store"] = frame["store"].str[1:].astype(int)
    task = transfercast.TransferTask(
        frame.assign(store=frame["store"].astype(float)),
        series=["store", "dept"], time="date", target="sales", domain="store",
        targets=[6, 7, 8], horizon=6, target_history=13,
    )  # fmt: skip
    model = transfercast.TransferForecaster("target_only", target_params={"num_boost_round": 5})
    write_bundle(model.fit(task), tmp_path / "model")
    bundle = load_bundle(tmp_path / "model")
    got = predict_bundle(bundle, frame.assign(store=frame["store"].astype(float)))
    pd.testing.assert_frame_equal(got, predict_bundle(bundle, frame), check_dtype=False)
    assert sorted(got["store"].unique()) == [6, 7, 8]
    # a key column of numbers at the fit takes a new code as one more category (before: "not
    # numeric: value 'A1' (the model was trained with numbers)")
    frame["dept"] = frame["dept"].str[1:].astype(int)
    write_bundle(model.fit(task.__class__(
        frame, series=["store", "dept"], time="date", target="sales", domain="store",
        targets=[6, 7, 8], horizon=6, target_history=13,
    )), tmp_path / "coded")  # fmt: skip
    new = frame[(frame["store"] == 6) & (frame["dept"] == 2)].assign(dept="A1")
    with pytest.warns(DataWarning, match=r"column 'dept' holds 'A1' in the target series"):
        fc = predict_bundle(load_bundle(tmp_path / "coded"), pd.concat([frame, new]))
    assert np.isfinite(fc.loc[fc["dept"].astype(str) == "A1", "forecast"]).sum() == 6


def test_predict_names_a_target_domain_missing_from_the_new_data(project, tmp_path):
    frame = small_frame()
    frame = frame[frame["store"] != "S07"]
    frame.to_csv(tmp_path / "no_s07.csv", index=False)
    out = tmp_path / "p.csv"
    res = invoke(
        "predict", project / "out" / "model", "--data", tmp_path / "no_s07.csv", "--output", out
    )
    assert res.code == 2 and not out.exists()
    assert "no_s07.csv: column 'store' has no rows of the model's target domain 'S07'" in res.err
    assert "the model forecasts S06, S07, S08" in res.err and len(res.err.strip().splitlines()) == 1


def test_predict_warns_of_a_category_the_model_never_saw(project):
    bundle = load_bundle(project / "out" / "model")
    targets = small_frame()
    targets = targets[targets["store"].isin(["S06", "S07", "S08"])]
    new = targets[(targets["store"] == "S06") & (targets["dept"] == "D2")].assign(dept="D3")
    with pytest.warns(DataWarning, match=r"column 'dept' holds 'D3' in the target series, which"):
        fc = predict_bundle(bundle, pd.concat([targets, new], ignore_index=True))
    d3 = fc[fc["dept"] == "D3"]
    assert len(d3) == 6 and np.isfinite(d3["forecast"]).all()
    with warnings.catch_warnings(record=True) as caught:  # the model's own categories
        warnings.simplefilter("always")
        predict_bundle(bundle, targets)
    assert not [w for w in caught if "never saw" in str(w.message)]


def test_predict_dates_off_the_models_grid_ask_for_its_grid_and_say_when_it_forecasts(
    project, tmp_path
):
    """New data dated a day later than the model's weekly grid: the error names the model's
    periods, not a ``[data] freq`` that predict cannot take (before: "set [data] freq"); on
    its grid, predict says the origin its forecasts come after (before: "forecasts from" the
    origin, the period before the first forecast)."""
    model, data = project / "out" / "model", pd.read_csv(project / "sales.csv")
    moved = data.assign(date=(pd.to_datetime(data["date"]) + pd.Timedelta(days=1)).astype(str))
    moved.to_csv(tmp_path / "moved.csv", index=False)
    out = tmp_path / "p.csv"
    res = invoke("predict", model, "--data", tmp_path / "moved.csv", "--output", out)
    assert res.code == 2 and not out.exists()
    (line,) = res.err.strip().splitlines()
    assert line.endswith(
        "; the dates lie on the 'W-SAT' grid, but the model's periods are 'W-FRI': date the "
        "rows on its grid"
    ), line
    res = invoke("predict", model, "--data", project / "sales.csv", "--output", out)
    assert res.code == 0, res.err
    first = pd.read_csv(out)["date"].min()
    origin = (pd.Timestamp(first) - pd.Timedelta(weeks=1)).date()
    assert f"forecasts after the origin {origin} with the" in res.out, res.out


def test_predict_names_its_origin_option_when_the_origin_is_off_the_grid(project, tmp_path):
    out = tmp_path / "p.csv"
    model, data = project / "out" / "model", project / "sales.csv"
    res = invoke("predict", model, "--data", data, "--origin", "2012-03-03", "--output", out)
    assert res.code == 2 and not out.exists()
    assert res.err.strip().splitlines() == ["error: --origin 2012-03-03 is not on the 'W-FRI' grid"]
    with pytest.raises(DataError, match=r"^origin 2012-03-03 is not on the 'W-FRI' grid$"):
        predict_bundle(load_bundle(model), pd.read_csv(data), origin="2012-03-03")


def test_predict_refuses_an_origin_before_the_models_own(project, tmp_path):
    # the models were fitted on the sales up to their origin: forecasting from an earlier one
    # would forecast sales they learnt from
    model, data = project / "out" / "model", project / "sales.csv"
    fitted = pd.Timestamp(json.loads((model / "manifest.json").read_text())["origin"])
    early = (fitted - pd.offsets.Week(2, weekday=4)).date()
    out = tmp_path / "p.csv"
    res = invoke("predict", model, "--data", data, "--origin", str(early), "--output", out)
    assert res.code == 2 and not out.exists()
    assert res.err == (
        f"error: {data}: --origin {early}, before the model's origin {fitted.date()}: it was "
        f"fitted on sales after that, the ones it would forecast; give a later origin, or fit a "
        f"model at that origin ([task] origin)\n"
    ), res.err
    frame = pd.read_csv(data)
    cut = frame[pd.to_datetime(frame["date"]) <= pd.Timestamp(early)]
    with pytest.raises(DataError, match=rf"the data end {early}, before the model's origin"):
        predict_bundle(load_bundle(model), cut)


class _Unsaveable(Strategy):
    """Target-only model that cannot be saved."""

    name = "unsaveable"

    def fine_tune(self, target, source):
        self.mean_ = float(np.nanmean(target.y))

    def predict(self, table):
        return np.full(len(table), self.mean_)


def _unsaveable_project(tmp_path):
    """A project whose config names a plugin module registering :class:`_Unsaveable`."""
    register_strategies("tc_test_unsaveable", _Unsaveable)
    return write_project(tmp_path, "unsaveable", plugins=["tc_test_unsaveable"])


def test_run_without_saveable_strategy_warns_and_writes_forecasts(tmp_path):
    config = _unsaveable_project(tmp_path)
    res = invoke("run", config)
    assert res.code == 0, res.err
    assert "no model bundle written" in res.err and "cannot be saved" in res.err
    assert (tmp_path / "out" / "forecasts.csv").exists()
    assert not (tmp_path / "out" / "model").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["forecasts.csv"]


class _BadSave(_Unsaveable):
    """Target-only mean whose save() returns what no bundle can hold (set by the test)."""

    name = "badsave"
    returns: object = None

    def save(self, directory):
        (directory / "mean.json").write_text(json.dumps({"mean": self.mean_}))
        return type(self).returns


def _register_bad_save(returns):
    bad = type("BadSave", (_BadSave,), {"returns": returns, "__doc__": "bad save"})
    register_strategies("tc_test_badsave", bad)


@pytest.mark.parametrize(
    "returns, message",
    [
        (None, r"save\(\) returned NoneType, not a dict"),
        ({"mean": np.arange(3)}, r"save\(\) returned a value JSON cannot hold: \['mean'\] is a "),
    ],
    ids=["None", "array"],
)
def test_a_save_that_returns_no_json_dict_stops_run_before_anything_is_written(
    returns, message, tmp_path
):
    _register_bad_save(returns)
    config = write_project(tmp_path, "badsave", plugins=["tc_test_badsave"])
    res = invoke("run", config)
    assert res.code == 2, res.err
    lines = [x for x in res.err.strip().splitlines() if not x.startswith("warning:")]
    assert len(lines) == 1 and "Traceback" not in res.err, res.err
    line = lines[0]
    assert "strategy 'badsave'" in line and re.search(message, line), line
    assert not (tmp_path / "out").exists()  # neither forecasts.csv nor a bundle


def test_write_bundle_checks_what_save_returned_and_leaves_nothing(tmp_path):
    from transfercast.bundle import write_bundle
    from transfercast.errors import TransfercastError

    from .conftest import small_task

    _register_bad_save({"ok": 1.5, "nested": [{"bad": {1, 2}}]})
    model = transfercast.TransferForecaster("badsave", plugins=["tc_test_badsave"])
    model.fit(small_task())
    with pytest.raises(TransfercastError, match=r"'badsave'.*\['nested'\]\[0\]\['bad'\] is a "):
        write_bundle(model, tmp_path / "a" / "b" / "model")
    assert list(tmp_path.iterdir()) == []  # not even the folders made for it


PLUGIN_BESIDE = """
import numpy as np
import transfercast


class Mean(transfercast.Strategy):
    '''The target's mean (a saveable test strategy).'''

    name = "beside_mean"
    uses_source_rows = False

    def fine_tune(self, target, source):
        self.mean_ = float(np.nanmean(target.y))

    def predict(self, table):
        return np.full(len(table), self.mean_)

    def save(self, directory):
        return {"mean": self.mean_}

    @classmethod
    def load(cls, directory, manifest):
        obj = cls(manifest["params"])
        obj.mean_ = manifest["mean"]
        return obj


@transfercast.hookimpl
def transfercast_register_strategies(register):
    register(Mean)
"""


def _run_then_forget_the_plugin_beside(tmp_path, monkeypatch, strategy: str) -> list:
    """`run` with ``strategy`` and a config naming the plugin module beside it; then that
    module is no longer importable (as where `predict` runs elsewhere). The `predict` command."""
    import sys

    from transfercast.plugin_manager import clear_plugin_cache

    monkeypatch.setattr(sys, "path", list(sys.path))  # run adds the config's folder
    (tmp_path / "tc_test_beside.py").write_text(PLUGIN_BESIDE)
    res = invoke("run", write_project(tmp_path, strategy, plugins=["tc_test_beside"]))
    assert res.code == 0, res.err
    sys.path.remove(str(tmp_path))
    sys.modules.pop("tc_test_beside")
    clear_plugin_cache()
    model = tmp_path / "out" / "model"
    return ["predict", model, "--data", tmp_path / "sales.csv", "--output", tmp_path / "p.csv"]


def test_predict_names_a_plugin_module_it_cannot_import(tmp_path, monkeypatch):
    """A plugin module beside the config is found by `run`; `predict`, run elsewhere, says
    which module it needs, where it was, and to put it on PYTHONPATH."""
    args = _run_then_forget_the_plugin_beside(tmp_path, monkeypatch, "beside_mean")
    res = invoke(*args)
    assert res.code == 2, res.err
    assert res.err.strip().splitlines() == [
        f"error: {tmp_path / 'out' / 'model'}: the model needs plugin module 'tc_test_beside', "
        f"which cannot be imported (it was imported from {tmp_path.resolve()} when the model "
        f"was written); put the folder that holds it on PYTHONPATH, or install it"
    ]
    monkeypatch.syspath_prepend(str(tmp_path))
    res = invoke(*args)
    assert res.code == 0, res.err


def test_a_plugin_module_the_model_does_not_use_is_not_needed_to_load_it(tmp_path, monkeypatch):
    """The config names a plugin module, the model is a built-in strategy's: the bundle records
    no plugin, and loads where that module cannot be imported."""
    args = _run_then_forget_the_plugin_beside(tmp_path, monkeypatch, "source_only")
    assert load_bundle(tmp_path / "out" / "model").manifest["plugins"] == []
    res = invoke(*args)
    assert res.code == 0, res.err


def test_rewriting_a_bundle_replaces_it_whole(project, tmp_path):
    out = tmp_path / "again"
    for _ in range(2):
        res = invoke("run", project / "config.toml", "--strategy", "source_only", "--output", out)
        assert res.code == 0, res.err
    assert sorted(p.name for p in out.iterdir()) == ["forecasts.csv", "model"]
    assert load_bundle(out / "model").manifest["strategy"]["name"] == "source_only"


@pytest.mark.slow
@pytest.mark.parametrize("name", transfercast.strategies())
def test_every_registered_strategy_round_trips_through_a_bundle(name, tmp_path):
    """save -> verified load -> predict gives exactly the fitted strategy's forecasts."""
    from transfercast.bundle import write_bundle
    from transfercast.datasets import synthetic_sales

    frame = synthetic_sales(
        n_domains=5, series_per_domain=1, n_periods=70, n_targets=1, target_periods=30
    )
    task = transfercast.TransferTask(
        frame,
        series=["store", "dept"],
        time="date",
        target="sales",
        domain="store",
        targets=frame.attrs["targets"],
        horizon=4,
        static=["store_type"],
        known=["price"],
        target_history=13,
    )
    model = transfercast.TransferForecaster(name).fit(task)
    write_bundle(model, tmp_path / "model")
    files = [p.name for p in (tmp_path / "model").rglob("*") if p.is_file()]
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".joblib"))]
    got = predict_bundle(load_bundle(tmp_path / "model"), frame)
    np.testing.assert_array_equal(got["forecast"].to_numpy(), model.predict()["forecast"])


def test_a_run_that_cannot_save_its_model_removes_the_earlier_runs_bundle(tmp_path):
    """A weekly `run` into the folder of last week's: when this week's strategy cannot be
    saved, last week's model/ must not stay beside this week's forecasts.csv (a `predict`
    with it would forecast with another model than the forecasts came from)."""
    config = _unsaveable_project(tmp_path)
    res = invoke("run", config, "--strategy", "source_only")
    assert res.code == 0, res.err
    assert (tmp_path / "out" / "model" / "manifest.json").is_file()
    res = invoke("run", config)
    assert res.code == 0, res.err
    assert "no model bundle written" in res.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["forecasts.csv"]
    # next week's run replaces the forecasts.csv a run wrote without a bundle (its header)
    before = (tmp_path / "out" / "forecasts.csv").read_text()
    res = invoke("run", config, "--strategy", "source_only")
    assert res.code == 0, res.err
    assert (tmp_path / "out" / "forecasts.csv").read_text() != before


def test_a_loaded_xgboost_model_predicts_on_transfercast_threads(tmp_path, monkeypatch, task):
    """A saved XGBoost booster, loaded again, predicts on ``TRANSFERCAST_THREADS`` threads
    (before: its stored setting, 0, every core of the machine)."""
    from transfercast.engines import GBM
    from transfercast.forecasting import OriginTables

    tables = OriginTables(task, task.at_origin(task.evaluation_origins()[-1]), task.features)
    table = tables.target(task.targets[0])
    model = GBM("xgboost", "target", {"num_boost_round": 5}).fit(table)
    entry = model.save(tmp_path, "m")
    loaded = GBM.load(tmp_path, entry)
    monkeypatch.setenv("TRANSFERCAST_THREADS", "1")
    np.testing.assert_allclose(loaded.predict(table.X), model.predict(table.X))
    config = json.loads(loaded.booster_.save_config())
    assert config["learner"]["generic_param"]["nthread"] == "1"


def test_a_bundle_of_an_earlier_features_revision_loads_with_a_warning(project, tmp_path):
    """A bundle written before the features changed meaning (no ``features_revision``) still
    loads and predicts, with a warning that its forecasts can differ from its run's."""
    from transfercast.bundle import FEATURES_REVISION, _manifest_digest

    model = tmp_path / "model"
    shutil.copytree(project / "out" / "model", model)
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["features_revision"] == FEATURES_REVISION
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        load_bundle(model)  # the current revision: no warning
    del manifest["features_revision"]
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    (model / "manifest.json").write_text(json.dumps(manifest))
    with pytest.warns(DataWarning, match=r"written with features revision 1 .* run again"):
        load_bundle(model)
    # a later revision (a newer transfercast's, or 3, written for a few hours and withdrawn)
    manifest["features_revision"] = FEATURES_REVISION + 1
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    (model / "manifest.json").write_text(json.dumps(manifest))
    later = r"this transfercast computes revision \d+, .* a later transfercast wrote it: upgrade"
    with pytest.warns(DataWarning, match=later):
        load_bundle(model)


def test_a_features_key_a_later_transfercast_wrote_is_refused_and_format_1_still_loads(
    project, tmp_path
):
    """A key this version's feature builder does not know crashed with a TypeError (exit 1);
    it is a one-line error saying to upgrade. Bundles of format 1 (before ``timezone``) load."""
    from transfercast.bundle import _manifest_digest

    model = tmp_path / "model"
    shutil.copytree(project / "out" / "model", model)
    manifest = json.loads((model / "manifest.json").read_text())
    assert FORMAT_VERSION == 2 and "timezone" in manifest["features"]["builder"]
    old = json.loads(json.dumps(manifest))
    del old["features"]["builder"]["timezone"]
    old["format_version"] = 1
    old["manifest_sha256"] = _manifest_digest(old)
    (model / "manifest.json").write_text(json.dumps(old))
    assert load_bundle(model).builder.timezone is None
    manifest["features"]["builder"]["holiday_calendar"] = "US"
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    (model / "manifest.json").write_text(json.dumps(manifest))
    res = invoke("predict", model, "--data", project / "sales.csv")
    assert res.code == 2, res.err
    assert res.err.strip().endswith(
        "features.builder key 'holiday_calendar' is unknown to this transfercast "
        f"{transfercast.__version__} (written by {transfercast.__version__}); upgrade transfercast"
    )


def test_a_bundle_written_by_a_newer_engine_is_refused_naming_it(project, tmp_path):
    """The manifest records the engine versions of the model files; an older engine would
    misread them (XGBoost 3.0 reads 3.1's base score as 0.5: forecasts at a third), so loading
    stops with one line naming the engine and the version to install."""
    import importlib.metadata

    from transfercast.bundle import _manifest_digest

    model = tmp_path / "model"
    shutil.copytree(project / "out" / "model", model)
    manifest = json.loads((model / "manifest.json").read_text())
    [(engine, version)] = manifest["engines"].items()  # the engine of the project's model
    assert version == importlib.metadata.version(engine)
    manifest["engines"] = {engine: "99.1.0"}
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    (model / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=rf"written by {engine} 99\.1\.0, and this environment"):
        load_bundle(model)
    # a newer minor release is refused too (XGBoost 3.0 against 3.1 is one)
    major, minor = (int(x) for x in version.split(".")[:2])
    manifest["engines"] = {engine: f"{major}.{minor + 1}.0"}
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    (model / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=rf"written by {engine} {major}\.{minor + 1}\.0"):
        load_bundle(model)
    # a bundle written before engines were recorded, by an older engine, or by a newer patch
    # release of this one, loads
    for engines in (None, {engine: "2.0.0"}, {engine: f"{major}.{minor}.99"}):
        manifest["engines"] = engines
        manifest["manifest_sha256"] = _manifest_digest(manifest)
        (model / "manifest.json").write_text(json.dumps(manifest))
        load_bundle(model)


def test_a_bundle_names_the_package_whose_entry_point_gave_a_missing_strategy(project, tmp_path):
    """The manifest records which plugin registered the strategy and how: a strategy of an
    installed package's entry point, missing where the bundle is read, names that entry point
    (before: "install the plugin that provides it", and nothing recorded which)."""
    from transfercast.bundle import _manifest_digest

    model = tmp_path / "model"
    shutil.copytree(project / "out" / "model", model)
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["strategy"]["provider"] == {
        "plugin": "transfercast.plugins.baselines",
        "source": "builtin",
        "class": "transfercast.plugins.baselines.Pooled",
    }
    name = manifest["strategy"]["name"]

    def written_by(**change):
        manifest["strategy"].update(change)
        manifest["manifest_sha256"] = _manifest_digest(manifest)
        (model / "manifest.json").write_text(json.dumps(manifest))

    written_by(
        name="shrink_to_seasonal", provider={"plugin": "acme_forecasts", "source": "entry point"}
    )
    said = (
        r"the model's strategy 'shrink_to_seasonal' is not registered here \(.*\); install the "
        r"package that registers the transfercast entry point 'acme_forecasts'"
    )
    with pytest.raises(BundleError, match=said):
        load_bundle(model)
    # the name registered here by another plugin's class, which would read the files (a second
    # package registering the name loaded them and forecast 2.5 x off, exit status 0)
    acme = {"plugin": "acme_forecasts", "source": "entry point", "class": "acme_forecasts.Pooled"}
    written_by(name=name, provider=acme)
    said = (
        r"the model's strategy 'pooled' was written by acme_forecasts\.Pooled of the entry point "
        r"'acme_forecasts', but here 'pooled' is transfercast\.plugins\.baselines\.Pooled of "
        r"plugin 'transfercast\.plugins\.baselines' \(builtin\)"
    )
    with pytest.raises(BundleError, match=said):
        load_bundle(model)
    # before the class was recorded, the entry point's name decides
    written_by(provider={"plugin": "acme_forecasts", "source": "entry point"})
    with pytest.raises(BundleError, match=r"written by the class of the entry point 'acme_fore"):
        load_bundle(model)
    # the same class under a renamed entry point (a package's upgrade) loads
    written_by(provider={**acme, "class": "transfercast.plugins.baselines.Pooled"})
    load_bundle(model)


def test_an_auto_bundle_refuses_a_member_another_plugins_class_now_has_the_name_of(tmp_path):
    """Only the bundle's own strategy was checked: an auto member of a name another package now
    registers was loaded into that class (3 x off, no message)."""
    from transfercast.plugins.auto import Auto

    transfercast.get_plugin_manager()
    acme = {"plugin": "acme", "source": "entry point", "class": "acme.Pooled"}
    member = {"name": "pooled", "params": {}, "dir": "member0", "entries": {}, "provider": acme}
    with pytest.raises(BundleError, match=r"strategy 'pooled' was written by acme\.Pooled of the"):
        Auto.load(tmp_path, {"params": {}, "members": [member], "weights": [1.0]})


def test_the_training_data_fingerprint_reads_the_rows_up_to_the_origin_only():
    """The manifest's fingerprint of the training data: whatever follows the origin, the
    same; a changed sale at the origin changes it."""
    from transfercast.bundle import data_fingerprint
    from transfercast.data import DS, Y

    from .conftest import small_task

    task = small_task(1.0)
    origin, frame = task.evaluation_origins()[-1], task.frame
    fp = data_fingerprint(frame, origin, list(task.known))
    later, now = frame.copy(), frame.copy()
    later.loc[later[DS] > origin, Y] += 1.0
    now.loc[now[DS] == origin, Y] += 1.0
    assert data_fingerprint(later, origin, list(task.known)) == fp
    assert data_fingerprint(now, origin, list(task.known)) != fp
    priced = frame.copy()
    priced.loc[priced[DS] == origin, "price"] += 1.0
    assert data_fingerprint(priced, origin, list(task.known)) != fp


def test_the_manifest_fingerprint_covers_the_static_and_known_covariates(tmp_path):
    """A bundle fitted on data whose store sizes (static) or prices (known) differ records a
    different training-data fingerprint."""
    root = tmp_path / "a"
    root.mkdir()
    config = write_project(root, "source_only")

    def fingerprint(change=None):
        frame = pd.read_csv(root / "sales.csv")
        if change is not None:
            frame = change(frame)
            frame.to_csv(root / "sales.csv", index=False)
        res = invoke("run", config, "--output", tmp_path / "out")
        assert res.code == 0, res.err
        manifest = json.loads((tmp_path / "out" / "model" / "manifest.json").read_text())
        return manifest["training_data"]["fingerprint"]

    first = fingerprint()
    sized = fingerprint(lambda f: f.assign(size=f["size"] + 1))
    assert sized != first
    assert fingerprint(lambda f: f.assign(price=f["price"] * 1.01)) != sized


@pytest.fixture(scope="module")
def lgb_bundle(project, tmp_path_factory):
    """A LightGBM bundle (source_only: native ``.lgb.txt`` model files)."""
    out = tmp_path_factory.mktemp("lgb") / "out"
    res = invoke("run", project / "config.toml", "--strategy", "source_only", "--output", out)
    assert res.code == 0, res.err
    return out / "model"


def _copy_model(project, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(project / "out" / "model", model)
    return model, json.loads((model / "manifest.json").read_text())


def test_a_manifest_stripped_of_its_checksum_is_refused(project, tmp_path):
    """Removing ``manifest_sha256`` must not turn the manifest check off."""
    model, manifest = _copy_model(project, tmp_path)
    del manifest["manifest_sha256"]
    manifest["strategy"]["params"]["target_weight"] = 50.0
    (model / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="manifest was modified"):
        load_bundle(model)


def test_a_tampered_target_entry_of_the_manifest_is_refused(project, tmp_path):
    """Every part of the manifest is under its checksum, the per-target entries too."""
    model, manifest = _copy_model(project, tmp_path)
    manifest["targets"][0]["domain"], manifest["targets"][1]["domain"] = (
        manifest["targets"][1]["domain"],
        manifest["targets"][0]["domain"],
    )
    (model / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="manifest was modified"):
        load_bundle(model)


@pytest.mark.parametrize("where", ["files", "dir"])
def test_a_manifest_naming_a_file_outside_the_bundle_is_refused(project, tmp_path, where):
    """A bundle reads its own files only: a name with ``..`` (or an absolute one) is refused,
    its checksum recomputed or not."""
    from transfercast.bundle import _manifest_digest

    model, manifest = _copy_model(project, tmp_path)
    (tmp_path / "elsewhere.txt").write_text("not the bundle's\n")
    if where == "files":
        manifest["files"]["../elsewhere.txt"] = "0" * 64
    else:
        manifest["targets"][0]["dir"] = "../.."
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    (model / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"bundle file '\.\./.*' lies outside the bundle"):
        load_bundle(model)


@pytest.mark.parametrize("how", ["outside", "unlisted"])
def test_a_file_a_strategy_names_must_be_a_listed_file_of_the_bundle(project, tmp_path, how):
    """The file names in a strategy's own entries are read through the manifest's checksums:
    one leading out of the bundle, or one the checksums leave out, is refused, the manifest's
    own checksum recomputed (before: the foreign model was loaded and forecast with)."""
    from transfercast.bundle import _manifest_digest

    model, manifest = _copy_model(project, tmp_path)
    entry = manifest["targets"][0]["entries"]["model"]
    own = f"{manifest['targets'][0]['dir']}/{entry['file']}"
    if how == "outside":
        shutil.copy(model / own, tmp_path / "foreign.xgb.json")
        entry["file"] = "../../foreign.xgb.json"
        said = r"bundle file '\.\./\.\./foreign\.xgb\.json' lies outside the bundle"
    else:
        del manifest["files"][own]
        said = rf"bundle file '{own}' is not listed in the manifest's checksums"
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    (model / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=said):
        load_bundle(model)


@pytest.mark.parametrize(
    "edit, said",
    [
        (lambda m: m.pop("files"), r"manifest\.json: key 'files' is missing, not of type dict$"),
        (lambda m: m.update(origin=5), r"key 'origin' is of type int, not of type str$"),
        (lambda m: m.update(format_version=True), r"format_version True is not a bundle format"),
        (lambda m: m["targets"].append(dict(m["targets"][0])), r"lists target domain '\w+' twice"),
        (lambda m: m["strategy"].pop("params"), r"key 'strategy\.params' is missing"),
        (lambda m: m["targets"][0].pop("entries"), r"key 'targets\[0\]\.entries' is missing"),
        (lambda m: m["targets"][0].update(domain="S99"), r"names 'S99', which is not one of"),
        (lambda m: m.update(targets=[]), r"key 'targets' lists no target domain"),
    ],
    ids=[
        "files deleted",
        "origin a number",
        "format_version true",
        "a target twice",
        "strategy params deleted",
        "target entries deleted",
        "an unknown target",
        "no target",
    ],  # fmt: skip
)
def test_a_resigned_manifest_of_the_wrong_shape_is_a_line_naming_the_key(
    project, tmp_path, edit, said
):
    """Edited and re-signed, a manifest whose tables are missing or of the wrong type is one
    line naming manifest.json and the key (before: a KeyError, exit 1; a target listed twice
    was forecast twice and another not at all)."""
    from transfercast.bundle import _manifest_digest

    model, manifest = _copy_model(project, tmp_path)
    edit(manifest)
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    (model / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=said):
        load_bundle(model)


def test_a_model_file_changed_after_the_bundle_was_verified_is_refused(project, tmp_path):
    """`run` into the same folder while `predict` loads it: each file's bytes are checked as
    they are loaded, not only when the manifest was read (before: the old manifest's columns
    with the new boosters, a forecast of neither)."""
    import transfercast.bundle as bundle_module

    model, manifest = _copy_model(project, tmp_path)
    victim = model / next(n for n in manifest["files"] if n.endswith(".xgb.json"))
    original = victim.read_bytes()
    verified = bundle_module.read_manifest

    def then_rewritten(directory):
        out = verified(directory)
        victim.write_bytes(victim.read_bytes().replace(b"0", b"1", 1))  # the other run's file
        return out

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bundle_module, "read_manifest", then_rewritten)
        with pytest.raises(BundleError, match=r"checksum mismatch for .*another run wrote it"):
            load_bundle(model)

    victim.write_bytes(original)

    def then_removed(directory):  # another run's bundle holds no file of that name
        out = verified(directory)
        victim.unlink()
        return out

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bundle_module, "read_manifest", then_removed)
        with pytest.raises(BundleError, match=r"could not be read .*modified while it was read"):
            load_bundle(model)


def test_a_bundle_file_is_named_alike_through_a_symlinked_folder(project, tmp_path):
    """A bundle reached through a symlinked folder: a strategy that resolved its own folder
    and one that did not read the same listed file (before: 'lies outside the bundle')."""
    from transfercast.bundle import _LOADING, read_bundle_file

    model, manifest = _copy_model(project, tmp_path)
    link = tmp_path / "link"
    link.symlink_to(model, target_is_directory=True)
    name = next(n for n in manifest["files"] if n.endswith(".xgb.json"))
    folder, file = name.rsplit("/", 1)
    token = _LOADING.set((link, manifest["files"]))
    try:
        for directory in (link / folder, (link / folder).resolve()):
            assert read_bundle_file(directory, file) == (model / name).read_bytes()
    finally:
        _LOADING.reset(token)


def test_predict_refuses_an_origin_one_period_before_the_models_own(project):
    """One period before the model's origin is already a forecast of sales it learnt."""
    bundle = load_bundle(project / "out" / "model")
    frame = pd.read_csv(project / "sales.csv")
    early = bundle.origin - pd.offsets.Week(1, weekday=4)
    cut = frame[pd.to_datetime(frame["date"]) <= early]
    with pytest.raises(DataError, match="before the model's origin"):
        predict_bundle(bundle, cut)


def test_a_tampered_lightgbm_model_file_is_refused(lgb_bundle, tmp_path):
    """The LightGBM text model files are checksummed and verified like the others."""
    model = tmp_path / "model"
    shutil.copytree(lgb_bundle, model)
    victim = next(model.rglob("*.lgb.txt"))
    manifest = json.loads((model / "manifest.json").read_text())
    assert victim.relative_to(model).as_posix() in manifest["files"]
    victim.write_bytes(victim.read_bytes().replace(b"0", b"1", 1))
    with pytest.raises(BundleError, match="checksum mismatch"):
        load_bundle(model)


def test_predict_refuses_a_known_covariate_that_is_no_longer_numeric(project):
    """Every numeric training column is checked, the known covariates too (price), by its
    values: numbers written as text, or store ids as floats (a Parquet file's), forecast as
    the numbers do, as in a fit (before: refused by their dtype, and float store ids read as
    missing target domains)."""
    frame = small_frame()
    bundle = load_bundle(project / "out" / "model")
    expected = predict_bundle(bundle, frame)
    as_text = frame.assign(
        price=frame["price"].map(repr),
        size=frame["size"].map(str),
        sales=frame["sales"].astype(object),
    )
    pd.testing.assert_frame_equal(predict_bundle(bundle, as_text), expected)
    # a blank sales cell is an empty one, as in a fit
    blank, empty = as_text.copy(), frame.copy()
    blank.loc[7, "sales"], empty.loc[7, "sales"] = " ", np.nan
    pd.testing.assert_frame_equal(predict_bundle(bundle, blank), predict_bundle(bundle, empty))
    # a column named twice: named as in a fit (before: "not numeric: value 'price'")
    twice = pd.concat([frame, frame[["price"]]], axis=1)
    with pytest.raises(DataError, match=r"column 'price' appears 2 times"):
        predict_bundle(bundle, twice)
    frame["price"] = frame["price"].map("{:.2f} EUR".format)
    wrong = (
        r"column 'price' is not numeric: value '[\d.]+ EUR' \(the model was trained with numbers"
    )
    with pytest.raises(DataError, match=wrong):
        predict_bundle(bundle, frame)


def test_a_bundle_written_and_read_from_python_by_its_folder_name(tmp_path, monkeypatch):
    """docs/getting-started.md's route: ``write_bundle(model, "my_model")`` then
    ``predict_bundle("my_model", data)`` gives the fit's forecasts (before: a folder name
    where the loaded bundle goes was an AttributeError); an unfitted forecaster is one line."""
    from transfercast.bundle import write_bundle
    from transfercast.forecaster import TransferForecaster
    from transfercast.task import TransferTask

    monkeypatch.chdir(tmp_path)
    frame = small_frame()
    task = TransferTask(frame, series=["store", "dept"], time="date", target="sales",
                        domain="store", targets=["S08"], horizon=4)  # fmt: skip
    model = TransferForecaster("source_only", source_params={"num_boost_round": 20}).fit(task)
    write_bundle(model, "my_model")
    again = predict_bundle("my_model", frame)
    np.testing.assert_allclose(again["forecast"], model.predict()["forecast"], rtol=1e-12)
    with pytest.raises(BundleError, match=r"write_bundle takes a fitted TransferForecaster"):
        write_bundle(TransferForecaster("source_only"), "other")
    assert not (tmp_path / "other").exists()


def test_write_bundle_takes_a_long_legal_folder_name_and_refuses_one_too_long(tmp_path):
    """A 250-byte folder name failed on its temporary folder's name (14 bytes longer) with a
    bare OSError, once over the limit too; both work or say so in one line."""
    from transfercast.bundle import write_bundle
    from transfercast.outputs import OutputError

    frame = synthetic_sales(n_domains=4, series_per_domain=1, n_periods=60, n_targets=1,
                            target_periods=30, seed=3)  # fmt: skip
    task = transfercast.TransferTask(
        frame, series=["store", "dept"], time="date", target="sales", domain="store",
        targets=["S04"], horizon=4,
    )  # fmt: skip
    model = transfercast.TransferForecaster("naive").fit(task)
    legal = tmp_path / ("m" * 250)
    write_bundle(model, legal)
    write_bundle(model, legal)  # replacing it: the earlier bundle is set aside under a name too
    assert len(load_bundle(legal).strategies) == 1
    with pytest.raises(OutputError, match=r"^write_bundle: the name m{24}\.\.\. is 300 bytes"):
        write_bundle(model, tmp_path / ("m" * 300))
