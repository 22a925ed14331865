"""The bad-input catalogue (docs/bad-inputs.md): every row is a test here.

A bad input either stops the command with exit status 2 and one line naming the culprit (and no
output directory), or is repaired with a warning that counts the rows affected.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from transfercast.cli import to_toml
from transfercast.datasets import synthetic_config

from .clirun import invoke
from .conftest import small_frame

TARGETS = ["S06", "S07", "S08"]
SMALL = """
[strategies.source_only]
source_params = { num_boost_round = 20 }

[strategies.target_only]
target_params = { num_boost_round = 20 }

[features]
lags = [1, 2, 4, 52]
windows = [4]
"""


def raw_config(**task) -> dict:
    raw = synthetic_config(
        "sales.csv", TARGETS, horizon=6, target_history=13, windows=2, output_dir="out"
    )
    raw["strategy"]["name"] = "source_only"
    raw["task"].update(task)
    return raw


def setup(tmp_path, frame=None, raw=None, text=None, extra=SMALL):
    """Write sales.csv (a frame, or raw ``text``) and config.toml; return the config path."""
    if text is not None:
        (tmp_path / "sales.csv").write_text(text)
    else:
        (frame if frame is not None else small_frame()).to_csv(tmp_path / "sales.csv", index=False)
    config = tmp_path / "config.toml"
    config.write_text(raw if isinstance(raw, str) else to_toml(raw or raw_config()) + extra)
    return config


def assert_error(res, tmp_path, *patterns):
    assert res.code == 2, (res.code, res.err)
    line = res.err.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in res.err, res.err
    for p in patterns:
        assert re.search(p, line), (p, line)
    assert not (tmp_path / "out").exists()


def _with(frame, **changes):
    frame = frame.copy()
    for col, fn in changes.items():
        frame[col] = fn(frame)
    return frame


def _retype(frame, col, values):
    frame = frame.copy()
    frame[col] = frame[col].astype(object)
    for idx, v in values.items():
        frame.loc[idx, col] = v
    return frame


# -- clear errors: exit 2 and one line -------------------------------------------------------------
def _mixed_tz(frame):
    stamps = pd.to_datetime(frame["date"])
    text = [
        d.strftime("%Y-%m-%dT%H:%M:%S") + ("+05:00" if k < 10 else "+00:00")
        for k, d in enumerate(stamps)
    ]
    return frame.assign(date=text)


def _shift_one_day(frame):
    frame = frame.copy()
    frame["date"] = pd.to_datetime(frame["date"])
    frame.loc[7, "date"] -= pd.Timedelta(days=1)
    return frame


ERRORS = {
    "empty file": dict(text="", patterns=[r"sales\.csv: the file is empty"]),
    "header only": dict(text="store,dept,date,sales\n", patterns=["the file has no rows"]),
    "missing column": dict(
        frame=lambda f: f.rename(columns={"sales": "sale"}),
        patterns=["missing column 'sales'", "did you mean 'sale'"],
    ),
    "unparseable date": dict(
        frame=lambda f: _retype(f, "date", {3: "2020-13-45"}),
        patterns=["column 'date' has an unparseable date '2020-13-45'"],
    ),
    "empty date": dict(
        frame=lambda f: _retype(f, "date", {3: None}), patterns=["column 'date' has an empty date"]
    ),
    "mixed time zones": dict(frame=_mixed_tz, patterns=["column 'date' mixes time zones"]),
    "duplicate series/period rows": dict(
        frame=lambda f: pd.concat([f, f.iloc[[5, 6]]]),
        patterns=["duplicate rows for series 'S01|D1'", "2 duplicates"],
    ),
    "irregular periods": dict(
        frame=_shift_one_day, patterns=["irregular periods", "not on the 'W-FRI' grid"]
    ),
    "non-numeric target": dict(
        frame=lambda f: _retype(f, "sales", {9: "12,5"}),
        patterns=["column 'sales' is not numeric: value '12,5'"],
    ),
    "target domain with no rows before the origin": dict(
        raw=raw_config(origin="2019-06-07"),
        patterns=["target domain 'S06' has no rows before the origin 2019-06-07"],
    ),
    "target too short for a target-fitted strategy": dict(
        frame=lambda f: f[~f["store"].isin(TARGETS) | (pd.to_datetime(f["date"]) > "2021-03-26")],
        args=["--strategy", "target_only"],
        patterns=["strategy 'target_only', target domain 'S06'", "no training rows"],
    ),
    "unknown config key": dict(
        raw=to_toml({**raw_config(), "task": {**raw_config()["task"], "horizn": 6}}),
        patterns=[r"unknown \[task\] key 'horizn' \(did you mean 'horizon'\?\)"],
    ),
    "wrong config type": dict(
        raw=to_toml(raw_config(horizon="six")), patterns=[r"\[task\] key 'horizon'", "'six'"]
    ),
    "malformed config": dict(raw="[data\npath = 'sales.csv'\n", patterns=["not valid TOML"]),
    "unknown strategy parameter": dict(
        raw=to_toml(raw_config()) + "\n[strategies.source_only]\nengin = 'xgboost'\n",
        extra="",
        patterns=[r"\[strategies.source_only\]: unknown key 'engin' \(did you mean 'engine'\?\)"],
    ),
    "plugin module that does not import": dict(
        raw=to_toml({**raw_config(), "plugins": ["tc_no_such_plugin"]}),
        patterns=["plugin module 'tc_no_such_plugin'", "ModuleNotFoundError"],
    ),
    "unknown target domain": dict(
        raw=to_toml(raw_config(targets=["S6"])),
        patterns=[r"unknown domain in \[task\] targets 'S6'", "did you mean"],
    ),
    "unknown strategy": dict(
        args=["--strategy", "sorce_only"],
        patterns=["unknown strategy 'sorce_only'", "did you mean 'source_only'"],
    ),
    "horizon longer than the data allows": dict(
        raw=to_toml(raw_config(horizon=60)),
        command="compare",
        patterns=["horizon 60 is longer than the data allows"],
    ),
}


@pytest.mark.parametrize("case", list(ERRORS), ids=list(ERRORS))
def test_bad_input_is_a_clear_error(case, tmp_path):
    spec = ERRORS[case]
    frame = spec["frame"](small_frame()) if "frame" in spec else None
    config = setup(
        tmp_path,
        frame=frame,
        raw=spec.get("raw"),
        text=spec.get("text"),
        extra=spec.get("extra", SMALL),
    )
    res = invoke(spec.get("command", "run"), config, *spec.get("args", []))
    assert_error(res, tmp_path, *spec["patterns"])


def test_missing_data_file_and_config(tmp_path):
    res = invoke("run", tmp_path / "nope.toml")
    assert_error(res, tmp_path, "config file not found")
    config = setup(tmp_path)
    (tmp_path / "sales.csv").unlink()
    assert_error(invoke("run", config), tmp_path, "data file not found")


# -- documented repairs: exit 0 and a warning that counts the rows ---------------------------------
def _nan_inf_negative(frame):
    frame = frame.copy()
    frame.loc[[3, 4, 5], "sales"] = np.nan
    frame.loc[[20, 21], "sales"] = np.inf
    frame.loc[[30, 31, 32, 33], "sales"] = -12.5
    return frame


def _zero_and_gaps(frame):
    frame = frame.copy()
    frame.loc[(frame["store"] == "S02") & (frame["dept"] == "D1"), "sales"] = 0.0
    return frame.drop(index=[50, 51, 52])


def _target_without_prices(frame):
    return frame.assign(price=np.where(frame["store"].isin(TARGETS), np.nan, frame["price"]))


def test_nan_infinite_and_negative_targets_are_repaired(tmp_path):
    res = invoke("run", setup(tmp_path, _nan_inf_negative(small_frame())))
    assert res.code == 0, res.err
    assert "column 'sales': 2 infinite values treated as missing" in res.err
    assert "column 'sales': 5 missing values left out of training and scoring" in res.err
    assert "column 'sales': 4 negative values (returns) set to 0" in res.err
    fc = pd.read_csv(tmp_path / "out" / "forecasts.csv")
    assert len(fc) == 3 * 2 * 6 and np.isfinite(fc["forecast"]).all()


def test_all_zero_series_and_missing_periods_are_repaired(tmp_path):
    res = invoke("run", setup(tmp_path, _zero_and_gaps(small_frame())))
    assert res.code == 0, res.err
    assert "1 series with only zero sales (120 rows), first 'S02|D1'; kept" in res.err
    assert "column 'date': 3 periods missing inside 1 series (first: 'S01|D1')" in res.err
    assert len(pd.read_csv(tmp_path / "out" / "forecasts.csv")) == 3 * 2 * 6


def test_repair_false_turns_repairs_into_errors(tmp_path):
    raw = raw_config()
    raw["data"]["repair"] = False
    config = setup(tmp_path, _nan_inf_negative(small_frame()), raw=raw)
    assert_error(invoke("run", config), tmp_path, "column 'sales' has 2 infinite values")


def test_target_series_shorter_than_the_horizon_is_forecast_in_full(tmp_path):
    frame = small_frame()
    short = (frame["store"] == "S08") & (frame["dept"] == "D1")
    frame = frame[~short | (pd.to_datetime(frame["date"]) > "2021-03-26")]  # 3 periods < 6
    res = invoke("run", setup(tmp_path, frame))
    assert res.code == 0, res.err
    fc = pd.read_csv(tmp_path / "out" / "forecasts.csv")
    mine = fc[(fc["store"] == "S08") & (fc["dept"] == "D1")]
    assert len(mine) == 6 and np.isfinite(mine["forecast"]).all() and (mine["forecast"] > 0).all()


def test_source_and_target_sharing_no_covariate_drop_it(tmp_path):
    res = invoke("run", setup(tmp_path, _target_without_prices(small_frame())))
    assert res.code == 0, res.err
    assert re.search(
        r"known column 'price' has no values in the target domains \(240 rows\); "
        r"dropped",
        res.err,
    ), res.err
    manifest = (tmp_path / "out" / "model" / "manifest.json").read_text()
    assert '"price"' not in manifest.split('"known"')[1].split("]")[0]


def test_every_row_of_the_catalogue_is_a_test():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "bad-inputs.md").read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| ") and "---" not in line]
    ids = [line.rstrip(" |").rsplit("|", 1)[1].strip().strip("`") for line in rows]
    ids = [i for i in ids if i not in ("test", "same")]
    names = set(ERRORS) | {n for n in globals() if n.startswith("test_")}
    names |= {"tests/test_bundle.py"}
    assert len(ids) >= 25
    assert [i for i in ids if i not in names] == []
    assert set(ERRORS) <= set(ids)  # and every error case is documented
