"""The bad-input catalogue (docs/bad-inputs.md): every row is a test here.

A bad input either stops the command with exit status 2 and one line naming the culprit (and no
output directory), or is repaired with a warning that counts the rows affected.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import transfercast as tc
from transfercast.cli import to_toml
from transfercast.config import parse_config
from transfercast.data import DataWarning, standardize
from transfercast.datasets import synthetic_config, synthetic_sales
from transfercast.errors import DataError, TransfercastError
from transfercast.forecaster import TransferForecaster
from transfercast.task import TransferTask

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


def _with_data(**data) -> dict:
    """:func:`raw_config` with ``[data]`` keys changed."""
    raw = raw_config()
    raw["data"].update(data)
    return raw


def setup(tmp_path, frame=None, raw=None, text=None, extra=SMALL):
    """Write sales.csv (a frame, or raw ``text``) and config.toml; return the config path."""
    if isinstance(text, bytes):  # a file in another encoding
        (tmp_path / "sales.csv").write_bytes(text)
    elif text is not None:
        (tmp_path / "sales.csv").write_text(text)
    else:
        (frame if frame is not None else small_frame()).to_csv(tmp_path / "sales.csv", index=False)
    config = tmp_path / "config.toml"
    config.write_text(raw if isinstance(raw, str) else to_toml(raw or raw_config()) + extra)
    return config


def assert_error(res, tmp_path, *patterns):
    assert res.code == 2, (res.code, res.err)
    line = res.err.strip()
    # one line, and nothing before it (not a progress bar's blank last frame)
    assert res.err.count("\n") == 1 and "Traceback" not in res.err, res.err
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
    """Dates with and without a time zone: the first ten rows with one."""
    stamps = pd.to_datetime(frame["date"])
    text = [
        d.strftime("%Y-%m-%d") + ("T00:00:00+05:00" if k < 10 else "") for k, d in enumerate(stamps)
    ]
    return frame.assign(date=text)


def _shift_one_day(frame):
    frame = frame.copy()
    frame["date"] = pd.to_datetime(frame["date"])
    frame.loc[7, "date"] -= pd.Timedelta(days=1)
    return frame


def _set(frame, col, values):
    """``frame`` with ``frame.loc[idx, col] = v`` for each item of ``values`` (rows by index)."""
    frame = frame.copy()
    frame[col] = frame[col].astype(float)
    for idx, v in values.items():
        frame.loc[idx, col] = v
    return frame


def _day_month(frame, fmt):
    """``frame`` with its dates written as text in ``fmt`` (``"%d/%m/%Y"``)."""
    return frame.assign(date=pd.to_datetime(frame["date"]).dt.strftime(fmt))


# row 60 is source series 'S01|D1' at 2020-02-28; rows 240.. are store 'S03'
S01_D1_2020_02_28 = 60


def _restyle(frame, store, date):
    """``frame`` with store ``store``'s ``store_type`` set to "Z" from ``date`` on."""
    frame = frame.copy()
    after = (frame["store"] == store) & (pd.to_datetime(frame["date"]) >= date)
    frame.loc[after, "store_type"] = "Z"
    return frame


def _alike_keys(frame):
    """``frame`` with series S02|D1 renamed to store 'S02|D1', dept 'Z' and S02|D2 to store
    'S02', dept 'D1|Z': two keys that both join to 'S02|D1|Z'."""
    frame = frame.copy()
    one = (frame["store"] == "S02") & (frame["dept"] == "D1")
    two = (frame["store"] == "S02") & (frame["dept"] == "D2")
    frame.loc[one, ["store", "dept"]] = ["S02|D1", "Z"]
    frame.loc[two, ["store", "dept"]] = ["S02", "D1|Z"]
    return frame


def _with_table(name: str, body: str, run: str | None = None) -> str:
    """The config (``[strategy] name = run`` when given) with a ``[strategies.NAME]`` table
    holding ``body``."""
    raw = raw_config() if run is None else {**raw_config(), "strategy": {"name": run}}
    return to_toml(raw) + f"\n[strategies.{name}]\n{body}\n"


def _source_table(line: str, engine: str = "lightgbm") -> str:
    """The config with a ``[strategies.source_only]`` table holding ``line`` (and the engine)."""
    chosen = "engine = 'xgboost'\n" if engine == "xgboost" else ""
    return _with_table("source_only", chosen + line)


ERRORS = {
    "empty file": dict(text="", patterns=[r"sales\.csv: the file is empty"]),
    "header only": dict(text="store,dept,date,sales\n", patterns=["the file has no rows"]),
    "semicolon-separated file": dict(
        text="store;dept;date;sales\nS01;D1;2020-01-03;5\n",
        patterns=[r"sales\.csv: reads as one column 'store;dept;date;sales': the file is"],
    ),
    "tab-separated file": dict(
        text="store\tdept\tdate\tsales\nS01\tD1\t2020-01-03\t5\n",
        patterns=[r"sales\.csv: reads as one column .*: the file is separated by tabs; save it"],
    ),
    "Excel's separator hint line": dict(
        text="sep=;\nstore;dept;date;sales\nS01;D1;2020-01-03;5\nS01;D1;2020-01-10;6\n",
        patterns=[r"sales\.csv: the first line 'sep=;' is Excel's separator hint, not a header"],
    ),
    "Excel's separator hint line, commas": dict(
        text="sep=,\nstore,dept,date,sales\nS01,D1,2020-01-03,5\n",
        patterns=[r"sales\.csv: the first line 'sep=,' is Excel's separator hint, not a header"],
    ),
    "file not in UTF-8 (cp1252)": dict(
        text="store,dept,date,sales\nK\u00f6ln,D1,2020-01-03,5\n".encode("cp1252"),
        patterns=[
            r"sales\.csv: is not UTF-8 text: byte 0xf6 on line 2 \('K\u00f6ln,D1,2020-01-03,5' "
            r"in Windows' cp1252\); save it as UTF-8 \(Excel: 'CSV UTF-8'\)$"
        ],
    ),
    "file in UTF-16 (Excel's Unicode text)": dict(
        text="store\tdept\tdate\tsales\nS01\tD1\t2020-01-03\t5\n".encode("utf-16"),
        patterns=[r"sales\.csv: is UTF-16 text \(Excel's 'Unicode text'\): save it as UTF-8"],
    ),
    "an origin written day-first": dict(
        raw=raw_config(origin="25.12.2020"),
        patterns=[
            r"\[task\] origin '25\.12\.2020': write the date as YYYY-MM-DD \(a TOML date, or "
            r"text such as '2020-12-25' if that is the day meant\)$"
        ],
    ),
    "--origin written day-first": dict(
        command="similarity",
        args=["--origin", "25/12/2020"],
        patterns=[r"--origin '25/12/2020': write the date as YYYY-MM-DD \(a TOML date, or text"],
    ),
    "missing column": dict(
        frame=lambda f: f.rename(columns={"sales": "sale"}),
        patterns=["missing column 'sales', the target column", "did you mean 'sale'"],
    ),
    "unparseable date": dict(
        frame=lambda f: _retype(f, "date", {3: "2020-13-45"}),
        patterns=["column 'date' has an unparseable date '2020-13-45'"],
    ),
    "empty date": dict(
        frame=lambda f: _retype(f, "date", {3: None}), patterns=["column 'date' has an empty date"]
    ),
    "dates with and without a time zone": dict(
        frame=_mixed_tz,
        patterns=[
            r"column 'date' mixes dates with and without a time zone \('2019-03-15', "
            r"'2019-01-04T00:00:00\+05:00'\); write them all one way$"
        ],
    ),
    "ambiguous day/month dates": dict(  # daily: both readings lie on the grid
        frame=lambda f: _day_month(f[pd.to_datetime(f["date"]).dt.day <= 12], "%d/%m/%Y"),
        raw=to_toml(_with_data(freq="D")),
        patterns=[
            r"column 'date' has ambiguous dates: '04/01/2019' reads day-first or month-first",
            r"write ISO dates \(YYYY-MM-DD\)$",
        ],
    ),
    "time column of numbers that are not years": dict(
        frame=lambda f: f.assign(date=pd.to_datetime(f["date"]).dt.strftime("%Y%m%d").astype(int)),
        patterns=[r"column 'date' has a number that is not a year \(1000\.\.9999\): 20190104 \("],
    ),
    "date with a time of day": dict(
        frame=lambda f: pd.concat([f, _retype(f.iloc[[5]], "date", {5: "2019-02-08 12:00"})]),
        patterns=[
            r"column 'date' has a time of day other than midnight: '2019-02-08 12:00' in 1 rows; "
            r"\[data\] freq 'W-FRI' periods are dates"
        ],
    ),
    "empty series key": dict(
        frame=lambda f: _retype(f, "store", {3: None}),
        patterns=[
            r"sales\.csv: column 'store' has an empty series key value in 1 rows \(first: row 5\)$"
        ],
    ),
    "a series key column named unique_id": dict(
        frame=lambda f: f.rename(columns={"dept": "unique_id"}),
        raw=to_toml(_with_data(series=["store", "unique_id"])),
        command="compare",
        patterns=[
            r"sales\.csv: \[data\] series column 'unique_id': it is the name of the series id "
            r"that transfercast adds to the table; rename it in the file and in the config "
            r"\('series_id', say\)$"
        ],
    ),
    "a known column named as a feature": dict(
        frame=lambda f: f.rename(columns={"price": "week"}),
        raw=to_toml(_with_data(known=["week", "promo", "is_holiday"])),
        patterns=[
            r"sales\.csv: known column 'week' has the name of a feature transfercast builds "
            r"\(a calendar feature\); rename the column$"
        ],
    ),
    "a known column name the boosting engines refuse": dict(
        frame=lambda f: f.rename(columns={"price": "price [EUR]"}),
        raw=to_toml(_with_data(known=["price [EUR]", "promo", "is_holiday"])),
        patterns=[
            r"sales\.csv: known column 'price \[EUR\]': the boosting engines \(LightGBM, XGBoost\) "
            r"refuse \[ \] in a feature's name; rename the column \('price \(EUR\)', say\)$"
        ],
    ),
    "a static column named domain": dict(
        frame=lambda f: f.rename(columns={"store_type": "domain"}),
        raw=to_toml(_with_data(static=["domain", "size"])),
        patterns=[
            r"sales\.csv: \[data\] static column 'domain': transfercast adds a column 'domain' "
            r"to the table \(its domain of each row\); rename it"
        ],
    ),
    "a series key or time column named like an output column": dict(
        frame=lambda f: f.rename(columns={"dept": "origin"}),
        raw=to_toml(_with_data(series=["store", "origin"])),
        command="compare",
        patterns=[
            r"sales\.csv: \[data\] series column 'origin': the forecasts hold a column 'origin' "
            r"\(the forecast origin\) beside it; rename it in the file and in the config "
            r"\('series_origin', say\)$"
        ],
    ),
    "a time column named like a quantile column": dict(
        frame=lambda f: f.rename(columns={"date": "q0.9"}),
        raw=to_toml(_with_data(time="q0.9")),
        patterns=[
            r"sales\.csv: \[data\] time column 'q0\.9': the forecasts hold a column "
            r"'q0\.9' \(a quantile forecast\)"
        ],
    ),
    "no series key column": dict(
        raw=to_toml(_with_data(series=[])),
        patterns=[r"sales\.csv: \[data\] series is empty: name the column\(s\) of a series' key$"],
    ),
    "a series key column named twice": dict(
        raw=to_toml(_with_data(series=["store", "dept", "store"])),
        patterns=[r"sales\.csv: \[data\] series names column 'store' twice$"],
    ),
    "the sales as a known covariate": dict(
        raw=to_toml(_with_data(known=["price", "sales"])),
        patterns=[
            r"sales\.csv: \[data\] known column 'sales' is also the target \(the sales\) column: "
            r"a column has one role$"
        ],
    ),
    "a column both static and known": dict(
        raw=to_toml(_with_data(known=["price", "size"])),
        patterns=[r"sales\.csv: \[data\] column 'size' is both static and known"],
    ),
    "a series key column also known": dict(
        raw=to_toml(_with_data(known=["price", "dept"])),
        patterns=[
            r"sales\.csv: \[data\] column 'dept' is both a series key column and known: a key "
            r"names a series, a known covariate varies over its periods; list it once$"
        ],
    ),
    "a number given as text": dict(
        raw=to_toml(raw_config(horizon="8")),
        patterns=[r"\[task\] key 'horizon': Input should be a valid integer \(got '8'\)$"],
    ),
    "a whole number given as a decimal": dict(
        raw=to_toml({**raw_config(), "evaluate": {"windows": 2.0}}),
        command="compare",
        patterns=[r"\[evaluate\] key 'windows': Input should be a valid integer \(got 2\.0\)$"],
    ),
    "a strategy's parameters under [strategy]": dict(
        raw=to_toml(raw_config()) + "\n[strategy.pooled]\ntarget_weight = 5.0\n",
        patterns=[
            r"unknown \[strategy\] key 'pooled' \(a strategy's parameters go in a table "
            r"\[strategies\.pooled\]\)$"
        ],
    ),
    "the strategy to run under [strategies]": dict(
        raw=to_toml(raw_config()) + '\n[strategies]\nname = "pooled"\n',
        extra="",
        patterns=[
            r"\[strategies\] key 'name': \[strategies\] holds one table per strategy "
            r"\(\[strategies\.NAME\]\); the strategy to run is \[strategy\] name$"
        ],
    ),
    "a strategy's parameter under [strategies]": dict(
        raw=to_toml(raw_config()) + "\n[strategies]\ntarget_weight = 5.0\n",
        extra="",
        patterns=[
            r"\[strategies\] key 'target_weight': \[strategies\] holds one table per strategy "
            r"\(\[strategies\.NAME\]\); a strategy's parameter goes in its table "
            r"\(\[strategies\.NAME\] target_weight = \.\.\.\)$"
        ],
    ),
    "the strategies to compare under [strategies]": dict(
        raw=to_toml(raw_config()) + '\n[strategies]\ncandidates = ["pooled"]\n',
        extra="",
        patterns=[r"\(\[strategies\.NAME\]\); the strategy to run is \[strategy\] candidates$"],
    ),
    "base_dir in a config": dict(
        raw='base_dir = "/elsewhere"\n' + to_toml(raw_config()),
        patterns=[r"config\.toml: unknown key 'base_dir'$"],
    ),
    "a top-level key after a table": dict(
        raw=to_toml(raw_config()) + '\nplugins = ["my_plugin"]\n',
        extra="",
        patterns=[
            r"unknown \[output\] key 'plugins' \(top-level key 'plugins' must come before the "
            r"first \[table\]\)$"
        ],
    ),
    "evaluation origins and windows together": dict(
        raw=to_toml({**raw_config(), "evaluate": {"origins": ["2021-01-29"], "windows": 2}}),
        command="compare",
        patterns=[
            r"config\.toml: \[evaluate\]: origins are given, so windows would go unread: keep "
            r"one way of placing the origins$"
        ],
    ),
    "a lag listed twice": dict(
        raw=to_toml({**raw_config(), "features": {"lags": [1, 2, 2]}}),
        extra="",
        patterns=[r"\[features\] key 'lags': lists 2 twice \(got \[1, 2, 2\]\)$"],
    ),
    "a number given as true": dict(
        raw=to_toml(raw_config(horizon=True)),
        patterns=[r"\[task\] key 'horizon': give a number, not true or false \(got True\)$"],
    ),
    "duplicate series/period rows": dict(
        frame=lambda f: pd.concat([f, f.iloc[[5, 6]]]),
        patterns=["duplicate rows for series 'S01|D1'", "2 duplicates"],
    ),
    "duplicate rows over planned rows": dict(  # actuals appended, the planned rows left in
        frame=lambda f: pd.concat([f, f[f["date"] == f["date"].max()].assign(sales=np.nan)]),
        patterns=[r"^error: \S*sales.csv: duplicate rows for series 'S01\|D1' at "],
    ),
    "a series key without the domain column": dict(  # dept alone names no series
        raw=to_toml(_with_data(series=["dept"])),
        patterns=[
            r"duplicate rows for series 'D1' at 2019-01-04 \(.* in columns dept \+ 'date'\); they "
            r"lie in domains 'S01' and 'S02': add the domain column 'store' to \[data\] series$"
        ],
    ),
    "series keys that read alike": dict(
        frame=_alike_keys,
        patterns=["both read 'S02|D1|Z'", "columns store, dept contains '|'"],
    ),
    "irregular periods": dict(
        frame=_shift_one_day, patterns=["irregular periods", "not on the 'W-FRI' grid"]
    ),
    "non-numeric target": dict(
        frame=lambda f: _retype(f, "sales", {9: "12,5"}),
        patterns=["column 'sales' is not numeric: value '12,5'"],
    ),
    "sales beyond the float32 range": dict(
        frame=lambda f: _set(f, "sales", {S01_D1_2020_02_28: 1e300, 61: -1e300}),
        patterns=[
            r"sales\.csv: column 'sales' has a value the engines cannot represent "
            r"\(beyond float32, \|x\| > 3\.4e\+38\): 1e\+300 for series 'S01\|D1' "
            r"at 2020-02-28 \(2 rows\)$"
        ],
    ),
    "infinite known covariate": dict(
        frame=lambda f: _set(f, "price", {S01_D1_2020_02_28: np.inf, 61: -np.inf}),
        patterns=[
            r"sales\.csv: known column 'price' has a value the engines cannot represent "
            r"\(beyond float32.*\): inf for series 'S01\|D1' at 2020-02-28 \(2 rows\)$"
        ],
    ),
    "known covariate beyond the float32 range": dict(
        frame=lambda f: _set(f, "promo", {S01_D1_2020_02_28: 5e38}),
        patterns=[
            r"known column 'promo' has a value the engines cannot represent .*: 5e\+38 "
            r"for series 'S01\|D1' at 2020-02-28 \(1 rows\)$"
        ],
    ),
    "static covariate beyond the float32 range": dict(
        frame=lambda f: f.assign(size=np.where(f["store"] == "S03", 1e39, f["size"])),
        patterns=[
            r"static column 'size' has a value the engines cannot represent .*: 1e\+39 "
            r"for series 'S03\|D1' at 2019-01-04 \(240 rows\)$"
        ],
    ),
    "origin after the data": dict(
        raw=raw_config(origin="2021-05-14"),
        patterns=[
            r"\[task\] origin 2021-05-14 is after the last period of the data \(2021-04-16\)"
        ],
    ),
    "origin before the data": dict(
        raw=raw_config(origin="2018-12-28"),
        patterns=[
            r"\[task\] origin 2018-12-28 is before the first period of the data \(2019-01-04\)$"
        ],
    ),
    "pre-launch target without a static covariate": dict(
        frame=lambda f: f.assign(size=np.where(f["store"] == "S06", np.nan, f["size"])),
        raw=raw_config(target_history=0),
        patterns=[
            r"sales.csv: static column 'size' has no value in pre-launch target domain 'S06'; "
            r"the level model that estimates a pre-launch level from the source domains needs it"
        ],
    ),
    "pre-launch target series without a static value": dict(
        frame=lambda f: f.assign(
            size=np.where((f["store"] == "S06") & (f["dept"] == "D2"), np.nan, f["size"])
        ),
        raw=raw_config(target_history=0, origin="2021-02-19"),
        patterns=[
            r"target domain 'S06': static column 'size' has no value for series 'S06\|D2', "
            r"which has no sales up to the origin; the level model"
        ],
    ),
    "pre-launch target with a static value of 0 read on a log scale": dict(
        frame=lambda f: f.assign(size=np.where(f["store"] == "S06", 0, f["size"])),
        raw=raw_config(target_history=0, origin="2021-02-19"),
        patterns=[
            r"target domain 'S06': static column 'size' is 0 for series 'S06\|D1', which has "
            r"no sales up to the origin; the level model reads 'size' on a log scale \(every "
            r"source series has it above 0\), where it has no value of 0 or below$"
        ],
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
    "misspelt required config key": dict(
        raw=to_toml(
            {
                **raw_config(),
                "task": {
                    **{k: v for k, v in raw_config()["task"].items() if k != "horizon"},
                    "horizn": 6,
                },
            }
        ),
        patterns=[r"unknown \[task\] key 'horizn' \(did you mean 'horizon'\?\)"],
    ),
    "target listed twice": dict(
        raw=to_toml(raw_config(targets=["S06", "S06"])),
        patterns=[r"\[task\] targets lists domain 'S06' twice"],
    ),
    "evaluation origin listed twice": dict(
        raw=to_toml({**raw_config(), "evaluate": {"origins": ["2021-01-29", "2021-01-29"]}}),
        command="compare",
        patterns=[r"\[evaluate\] origins lists 2021-01-29 twice"],
    ),
    "wrong config type": dict(
        raw=to_toml(raw_config(horizon="six")), patterns=[r"\[task\] key 'horizon'", "'six'"]
    ),
    "no workers in the config": dict(
        raw=to_toml({**raw_config(), "execution": {"jobs": 0}}),
        command="compare",
        patterns=[r"\[execution\] key 'jobs'", "or -1 for all cores"],
    ),
    "no workers on the command line": dict(
        command="compare",
        args=["--jobs", "0"],
        patterns=["jobs 0: give the number of parallel workers, or -1 for all cores"],
    ),
    "malformed config": dict(raw="[data\npath = 'sales.csv'\n", patterns=["not valid TOML"]),
    "unknown strategy parameter": dict(
        raw=_with_table("source_only", "engin = 'xgboost'"),
        extra="",
        patterns=[
            r"config\.toml: \[strategies.source_only\]: unknown key 'engin' \(did you mean "
            r"'engine'\?\)"
        ],
    ),
    "unknown strategy parameter in similarity": dict(
        command="similarity",
        raw=_with_table("pooled", "target_wieght = 2.0"),
        extra="",
        patterns=[
            r"config\.toml: \[strategies.pooled\]: unknown key 'target_wieght' \(did you mean "
            r"'target_weight'\?\)"
        ],
    ),
    "misspelt engine parameter": dict(
        raw=_source_table("source_params = { num_leave = 7 }"),
        extra="",
        patterns=[
            r"\[strategies.source_only\]: source_params: unknown LightGBM parameter 'num_leave' "
            r"\(did you mean 'num_leaves'\?\)"
        ],
    ),
    "unknown interval method": dict(
        raw=to_toml({**raw_config(), "forecast": {"quantiles": [0.1, 0.9], "method": "bootstrap"}}),
        patterns=[
            r"unknown interval method 'bootstrap' \(\[forecast\] method; interval_method in "
            r"Python\): the built-in ones are 'replay_conformal' and 'quantile'"
        ],
    ),
    "unknown interval method in a comparison": dict(
        raw=to_toml({**raw_config(), "forecast": {"quantiles": [0.1, 0.9], "method": "bootstrap"}}),
        command="compare",
        patterns=[r"^error: unknown interval method 'bootstrap'"],
    ),
    "misspelt XGBoost parameter": dict(
        raw=_source_table("target_params = { max_dept = 3 }", "xgboost"),
        extra="",
        patterns=[
            r"\[strategies.source_only\]: target_params: unknown XGBoost parameter 'max_dept' "
            r"\(did you mean 'max_depth'\?\)"
        ],
    ),
    "engine parameter of the wrong type": dict(
        raw=_source_table("source_params = { num_leaves = 'six' }"),
        extra="",
        patterns=[
            r"\[strategies.source_only\]: source_params: LightGBM refuses the parameters: "
            r"Parameter num_leaves should be of type int, got \"six\""
        ],
    ),
    "XGBoost parameter out of range": dict(
        raw=_source_table("source_params = { subsample = 1.5 }", "xgboost"),
        extra="",
        patterns=[
            r"\[strategies.source_only\]: source_params: XGBoost refuses the parameters: value "
            r"1.5 for Parameter subsample exceed bound \[0,1\]"
        ],
    ),
    "misspelt XGBoost objective": dict(
        raw=_source_table("source_params = { objective = 'reg:squarederor' }", "xgboost"),
        extra="",
        patterns=[r"XGBoost refuses the parameters: Unknown objective function: `reg:squarederor`"],
    ),
    "a seed in an engine table": dict(
        raw=_source_table("source_params = { random_state = 5 }"),
        extra="",
        patterns=[
            r"source_params: random_state is the strategy's own: set the key seed of its table"
        ],
    ),
    "threads in an engine table": dict(
        raw=_source_table("source_params = { nthread = 2 }", "xgboost"),
        extra="",
        patterns=[r"nthread: the engines' threads are set by the TRANSFERCAST_THREADS variable"],
    ),
    "n_estimators under XGBoost": dict(
        raw=_source_table("source_params = { n_estimators = 50 }", "xgboost"),
        extra="",
        patterns=[
            r"unknown XGBoost parameter 'n_estimators': the number of trees is num_boost_round"
        ],
    ),
    "XGBoost tree_method exact": dict(
        raw=_source_table("source_params = { tree_method = 'exact' }", "xgboost"),
        extra="",
        patterns=[r"tree_method 'exact' cannot split the categorical columns every feature table"],
    ),
    "misspelt strategy table in run": dict(
        raw=_with_table("poolde", "target_weight = 50.0"),
        extra="",
        patterns=[
            r"config\.toml: \[strategies\.poolde\]: unknown strategy 'poolde' \(did you "
            r"mean 'pooled'\?\)"
        ],
    ),
    "bad table of a strategy not run": dict(
        raw=_with_table("pooled", "target_weight = -1.0"),
        extra="",
        patterns=[r"\[strategies.pooled\] key 'target_weight': .* \(got -1.0\)"],
    ),
    "bad candidate table of auto not run": dict(
        raw=_with_table("auto.strategies.pooled", "target_weigth = 1.0"),
        extra="",
        patterns=[
            r"config\.toml: \[strategies\.auto\.strategies\.pooled\]: unknown key 'target_weigth' "
            r"\(did you mean 'target_weight'\?\)"
        ],
    ),
    "unknown candidate of auto not run": dict(
        raw=_with_table("auto", 'candidates = ["pooled", "bogus"]'),
        extra="",
        patterns=[r"\[strategies\.auto\] candidates: unknown strategy 'bogus'"],
    ),
    "misspelt strategy name read by compare": dict(
        raw=to_toml({**raw_config(), "strategy": {"name": "poold"}}),
        command="compare",
        patterns=[
            r"config\.toml: \[strategy\] name: unknown strategy 'poold' \(did you mean 'pooled'\?\)"
        ],
    ),
    "misspelt strategy among [strategy] candidates": dict(
        raw=to_toml({**raw_config(), "strategy": {"candidates": ["pooledd"]}}),
        command="compare",
        patterns=[
            r"config\.toml: \[strategy\] candidates: unknown strategy 'pooledd' \(did you mean "
            r"'pooled'\?\)"
        ],
    ),
    "early stopping in engine parameters": dict(
        raw=_source_table("target_params = { early_stopping_rounds = 5 }"),
        extra="",
        patterns=[
            r"\[strategies.source_only\]: target_params: early_stopping_rounds would have no "
            r"effect: these models hold out no rows to stop on"
        ],
    ),
    "boost_continue target_params it sets itself": dict(
        raw=_with_table(
            "boost_continue", "target_params = { learning_rate = 0.5 }", "boost_continue"
        ),
        extra="",
        patterns=[
            r"\[strategies.boost_continue\]: target_params: learning_rate is set by "
            r"\[strategies.boost_continue\] learning_rate, not target_params"
        ],
    ),
    "infinite strategy parameter": dict(
        raw=_with_table("pooled", "target_weight = inf", "pooled"),
        extra="",
        patterns=[r"\[strategies.pooled\] key 'target_weight': .*finite.* \(got inf\)"],
    ),
    "round count that is not a whole number": dict(
        raw=_source_table("source_params = { num_boost_round = -5 }"),
        extra="",
        patterns=[
            r"\[strategies.source_only\]: source_params: num_boost_round must be a whole number "
            r"of 1 or more, got -5"
        ],
    ),
    "unknown covariate to recalibrate": dict(
        raw=_with_table("recalibrate", "covariates = ['discount']", "recalibrate"),
        extra="",
        patterns=[
            r"\[strategies.recalibrate\] covariates: 'discount' is not a known covariate; "
            r"valid: price, promo, is_holiday$"
        ],
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
    "origin that is not a date": dict(
        command="similarity",
        args=["--origin", "notadate"],
        patterns=[r"^error: --origin 'notadate' is not a date; give one such as 2021-03-26$"],
    ),
    "horizon longer than the data allows": dict(
        raw=to_toml(raw_config(horizon=60)),
        command="compare",
        patterns=["horizon 60 is longer than the data allows"],
    ),
    "regime start after the data": dict(
        raw=to_toml(raw_config(regime_start="2030-01-04")),
        patterns=[
            r"\[task\] regime_start 2030-01-04 is after the last period of the data "
            r"\(2019-01-04 to 2021-04-16\)"
        ],
    ),
    "regime start before the data": dict(
        raw=to_toml(raw_config(regime_start="2018-06-01")),
        command="compare",
        patterns=[r"\[task\] regime_start 2018-06-01 is at or before the first period"],
    ),
    "regime start written day first": dict(
        raw=to_toml(raw_config(regime_start="04/12/2020")),
        patterns=[
            r"\[task\] regime_start '04/12/2020': write the date as YYYY-MM-DD \(a TOML date, "
            r"or text such as '2020-04-12' if that is the day meant\)"
        ],
    ),
    "regime start of another type": dict(
        raw=to_toml(raw_config(regime_start=20201204)),
        patterns=[
            r"config\.toml: \[task\] key 'regime_start': give a date \(YYYY-MM-DD\) or a table "
            r"of target domain = date"
        ],
    ),
    "regime start for a domain that is not a target": dict(
        raw=to_toml(raw_config(regime_start={"S01": "2021-01-01"})),
        patterns=[r"unknown target domain in \[task\] regime_start 'S01'", "valid: S06, S07"],
    ),
    "static covariate that changes within a series": dict(
        frame=lambda f: _restyle(f, "S01", "2020-02-28"),
        patterns=[r"sales\.csv: static column 'store_type' varies within series 'S01\|D1'$"],
    ),
    "static covariate that changes after the regime start": dict(
        frame=lambda f: _restyle(f, "S06", "2021-02-05"),
        raw=to_toml(raw_config(regime_start="2021-01-01")),
        patterns=[
            r"sales\.csv: static column 'store_type' varies within series 'S06\|D1' "
            r"\(a static column may change only at \[task\] regime_start\)$"
        ],
    ),
    "regime start after the origin": dict(
        raw=to_toml(raw_config(regime_start="2021-01-01", origin="2020-12-25")),
        patterns=[
            r"\[task\] regime_start 2021-01-01 leaves target domain 'S06' no period up to "
            r"the origin 2020-12-25"
        ],
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


def test_a_domain_named_in_another_unicode_form_is_the_same_domain(tmp_path):
    """macOS tools write a combining diaeresis (NFD); a config typed elsewhere the composed
    letter (NFC): the same store, not "unknown domain 'Zürich' (did you mean 'Zürich'?)"."""
    from transfercast.task import match_domains

    present = np.array(["Z\u00fcrich", "K\u00f6ln", "S01"], dtype=object)
    assert match_domains(["Zu\u0308rich", "S01"], present, "targets") == ["Z\u00fcrich", "S01"]
    nfd = np.array(["Ko\u0308ln", "S01"], dtype=object)
    assert match_domains(["K\u00f6ln"], nfd, "targets") == ["Ko\u0308ln"]
    with pytest.raises(DataError, match="unknown domain"):
        match_domains(["Koln"], nfd, "targets")
    # a regime start keyed by the name in the other form, and new data for a saved model
    nfc = {"store": {"S06": "Z\u00fcrich"}, "dept": {"D1": "B\u00e4ckerei"}}
    frame = small_frame().replace(nfc)
    kw = dict(series=["store", "dept"], time="date", target="sales", domain="store", horizon=6)
    task = TransferTask(
        frame, **kw, targets=["Zu\u0308rich"], regime_start={"Zu\u0308rich": "2021-01-01"}
    )
    assert list(task.regime_start) == ["Z\u00fcrich"]
    # a file that holds both spellings as two stores: each key names its own, exactly
    # (and says so: one store written so in part of its rows would become two)
    both = frame.replace({"store": {"S07": "Zu\u0308rich"}})
    with pytest.warns(DataWarning, match=r"column 'store' writes 'Zürich' in two Unicode forms"):
        task = TransferTask(
            both,
            **kw,
            targets=["Z\u00fcrich", "Zu\u0308rich"],
            regime_start={"Z\u00fcrich": "2021-01-01"},
        )
    assert list(task.regime_start) == ["Z\u00fcrich"]
    model = TransferForecaster("target_only", target_params={"num_boost_round": 5})
    model.fit(TransferTask(frame, **kw, targets=["Z\u00fcrich"]))
    from transfercast.bundle import load_bundle, predict_bundle, write_bundle

    bundle = load_bundle(write_bundle(model, tmp_path / "model"))
    nfd = {"store": {"Z\u00fcrich": "Zu\u0308rich"}, "dept": {"B\u00e4ckerei": "Ba\u0308ckerei"}}
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # not a department the model never saw
        got = predict_bundle(bundle, frame.replace(nfd))
    pd.testing.assert_frame_equal(got, predict_bundle(bundle, frame))


def test_a_config_file_not_in_utf8_is_a_clear_error(tmp_path):
    """Notepad's "ANSI" (cp1252): exit 2 naming the file, the byte and its line (before: an
    internal UnicodeDecodeError, exit 1)."""
    config = setup(tmp_path)
    text = config.read_text().replace('targets = ["S06"', '# K\u00f6ln\ntargets = ["S06"')
    config.write_bytes(text.encode("cp1252"))
    line = 1 + text[: text.index("K\u00f6ln")].count("\n")
    assert_error(
        invoke("run", config), tmp_path,
        rf"config\.toml: is not UTF-8 text: byte 0xf6 on line {line} \('# K\u00f6ln' in Windows'",
    )  # fmt: skip


def test_missing_data_file_and_config(tmp_path):
    res = invoke("run", tmp_path / "nope.toml")
    assert_error(res, tmp_path, "config file not found")
    config = setup(tmp_path)
    (tmp_path / "sales.csv").unlink()
    assert_error(invoke("run", config), tmp_path, "data file not found")
    (tmp_path / "sales.csv").mkdir()  # a folder of the data's name, with a CSV file in it
    (tmp_path / "sales.csv" / "part.csv").write_text("store,dept\n")
    assert_error(
        invoke("run", config), tmp_path, r"sales\.csv: is a folder without Parquet files; name a"
    )


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
    assert (
        "1 series with only zero sales (120 rows), first 'S02|D1'; kept as they are: the models "
        "learn from them what series that never sold go on to sell, unless their whole domain "
        "sold nothing (for a series not launched yet, leave its sales empty" in res.err
    )
    assert "column 'date': 3 periods missing inside 1 series (first: 'S01|D1')" in res.err
    assert len(pd.read_csv(tmp_path / "out" / "forecasts.csv")) == 3 * 2 * 6


def test_a_known_column_missing_beside_sales_is_counted_and_named(tmp_path):
    """Prices missing in weeks that sold: a warning counts them and names the first (before:
    read as missing in silence); the planned rows after the last sale are not counted."""
    frame = small_frame()
    holes = frame.index[(frame["store"] == "S03") & (frame["dept"] == "D2")][[4, 9, 30]]
    frame.loc[holes, "price"] = np.nan
    res = invoke("run", setup(tmp_path, frame))
    assert res.code == 0, res.err
    first = pd.Timestamp(frame.loc[holes[0], "date"]).date()
    assert (
        f"known column 'price': 3 missing values in rows with sales (first 'S03|D2' at "
        f"{first}); the models read them as missing (give the value where it is known)"
    ) in res.err, res.err


def test_repair_false_turns_repairs_into_errors(tmp_path):
    raw = raw_config()
    raw["data"]["repair"] = False
    frame = _nan_inf_negative(small_frame())
    config = setup(tmp_path, frame, raw=raw)
    at = pd.Timestamp(frame.loc[20, "date"]).date()
    assert_error(
        invoke("run", config),
        tmp_path,
        rf"column 'sales' has 2 infinite values \(first inf for series 'S01\|D1' at {at}\)$",
    )
    frame["sales"] = frame["sales"].replace(np.inf, 1.0)
    config = setup(tmp_path, frame, raw=raw)
    at = pd.Timestamp(frame.loc[3, "date"]).date()
    said = rf"has 3 missing values \(first for series 'S01\|D1' at {at}\)$"
    assert_error(invoke("run", config), tmp_path, said)
    config = setup(tmp_path, frame.fillna({"sales": 1.0}), raw=raw)
    at = pd.Timestamp(frame.loc[30, "date"]).date()
    said = rf"has 4 negative values \(first -12\.5 for series 'S01\|D1' at {at}\)$"
    assert_error(invoke("run", config), tmp_path, said)


def test_values_beyond_float32_are_refused_by_the_python_api_too():
    frame = _set(small_frame(), "sales", {S01_D1_2020_02_28: 1e300})
    raw = synthetic_config("unused.csv", TARGETS, horizon=6, target_history=13)
    with pytest.raises(DataError) as err:
        TransferTask.from_config(parse_config(raw), data=frame)
    assert str(err.value) == (
        "data: column 'sales' has a value the engines cannot represent (beyond float32, "
        "|x| > 3.4e+38): 1e+300 for series 'S01|D1' at 2020-02-28 (1 rows)"
    )
    # the largest float32 itself is representable, and only warned about as extreme
    fine = _set(small_frame(), "sales", {S01_D1_2020_02_28: float(np.finfo(np.float32).max)})
    with pytest.warns(DataWarning, match="1 values more than 10000 times their series' median"):
        TransferTask.from_config(parse_config(raw), data=fine)


def test_an_extreme_sales_value_is_kept_with_a_warning_naming_it(tmp_path):
    # 1e10 in a source series whose other weeks sell about 1e4: representable, but it dominates
    # the series' level and the models' fit, so it must not pass silently
    frame = _set(small_frame(), "sales", {S01_D1_2020_02_28: 1e10})
    res = invoke("run", setup(tmp_path, frame))
    assert res.code == 0, res.err
    assert (
        "column 'sales': 1 values more than 10000 times their series' median, largest 1e+10 "
        "for series 'S01|D1' at 2020-02-28 (" in res.err
    ), res.err
    assert "check it" in res.err
    fc = pd.read_csv(tmp_path / "out" / "forecasts.csv")
    assert len(fc) == 3 * 2 * 6 and np.isfinite(fc["forecast"]).all()


def test_whole_sales_grouped_by_dots_are_warned_about(tmp_path):
    """A German export writes 1219 as 1.219 and 710 as 710: read as 1.219, a thousandth of the
    sales. A warning names the column and the first such value; decimals written otherwise
    (1.25, 0.500) are no such sign and say nothing."""
    frame = small_frame()
    sales = (frame["sales"] / 20).round().astype(int)  # about 100 to 3000 a week
    grouped = sales.map(lambda v: f"{v:,}".replace(",", "."))
    res = invoke("run", setup(tmp_path, frame.assign(sales=grouped)))
    assert res.code == 0, res.err
    first = grouped[grouped.str.contains(".", regex=False)].iloc[0]
    assert (
        f"sales.csv: column 'sales': every value written with a '.' has three digits after it "
        f"({grouped.str.contains('.', regex=False).sum()} values, first '{first}', read as "
        f"{float(first):g}) and none written without one reaches 1000" in res.err
    ), res.err
    for other in (sales / 4, (sales % 1000) + 0.5):  # quarters; thousands cut, halves
        (tmp_path / "out").rename(tmp_path / f"out{len(list(tmp_path.glob('out*')))}")
        res = invoke("run", setup(tmp_path, frame.assign(sales=other)))
        assert res.code == 0 and "three digits after it" not in res.err, res.err


def test_empty_static_cells_of_a_series_take_its_value(tmp_path):
    """Planned rows with the known covariates filled and the static ones left empty: the
    series' one value fills them (before: "varies within series"), the same forecasts."""
    frame = small_frame()
    for name in ("full", "blank"):
        (tmp_path / name).mkdir()
    res = invoke("run", setup(tmp_path / "full", frame))
    assert res.code == 0, res.err
    last = frame.groupby(["store", "dept"]).tail(3).index
    frame.loc[last, ["store_type", "size"]] = np.nan
    res = invoke("run", setup(tmp_path / "blank", frame))
    assert res.code == 0 and "varies within" not in res.err, res.err
    full, blank = (pd.read_csv(tmp_path / n / "out" / "forecasts.csv") for n in ("full", "blank"))
    pd.testing.assert_frame_equal(full, blank)


def test_real_sales_values_get_no_extreme_value_warning():
    # the weekly Walmart departments (up to ~700k a week, with returns and near-zero weeks)
    # are at most a few hundred times their series' median: far below the warning's bar
    walmart = Path(__file__).resolve().parents[2] / "shared" / "data" / "walmart" / "train.csv.zip"
    if walmart.exists():
        frame = pd.read_csv(walmart)
        series, target = ["Store", "Dept"], "Weekly_Sales"
    else:  # a stand-in with the same traits: spikes 400x the median, returns, tiny weeks
        frame = small_frame()
        frame.loc[S01_D1_2020_02_28, "sales"] *= 400
        frame.loc[[3, 70], "sales"] = [-500.0, 0.01]
        series, target = ["store", "dept"], "sales"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        standardize(
            frame,
            series=series,
            time=frame.columns[2],
            target=target,
            domain=series[0],
            freq="W-FRI",
            source="walmart",
        )
    assert not [w for w in caught if "times their series' median" in str(w.message)]


def _standardize(frame, time="date", freq="W-FRI"):
    return standardize(
        frame, series=["store", "dept"], time=time, target="sales", domain="store", freq=freq
    )


def test_an_empty_date_in_a_datetime_column_is_named_as_such(tmp_path):
    # a Parquet file's datetime column with a NaT was "a time of day other than midnight: 'NaT'"
    frame = small_frame()
    frame["date"] = pd.to_datetime(frame["date"])
    frame.loc[7, "date"] = pd.NaT
    frame.to_parquet(tmp_path / "sales.parquet")
    raw = raw_config()
    raw["data"]["path"] = "sales.parquet"
    config = setup(tmp_path, raw=raw)
    res = invoke("compare", config)
    assert_error(
        res,
        tmp_path,
        r"^error: .*sales\.parquet: column 'date' has an empty date "
        r"\(row 8 of the table, 1 rows\)$",
    )


def test_day_and_month_first_dates_are_read_in_one_order():
    # daily dates over more than a year: a day-first date with a day of 12 or less also reads
    # month-first, so only one order reads every value, and the whole column is read in it
    frame = synthetic_sales(
        n_domains=6, series_per_domain=2, n_targets=2, n_periods=400, freq="D", target_periods=120
    )
    truth = pd.to_datetime(frame["date"])
    # 2-digit years: day, month or year first, with any separator (dd-mm-yy and yy/mm/dd
    # were read value by value, some days as months)
    formats = ["%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d/%m/%y", "%Y-%m-%d"]
    for fmt in [*formats, "%d-%m-%y", "%m-%d-%y", "%y-%m-%d", "%y/%m/%d"]:
        out = _standardize(_day_month(frame, fmt), freq="D")
        read = out["ds"].to_numpy()
        assert (read == pd.to_datetime(out["date"], format=fmt).to_numpy()).all(), fmt
        assert sorted(read) == sorted(truth.to_numpy()), fmt


def test_quarters_written_as_r_writes_them_are_read_as_quarters():
    """tsibble's yearquarter as text ("1998 Q1", fpp3's data sets) reads as "1998Q1" does."""
    quarters = pd.period_range("1998Q1", periods=12, freq="Q")
    frame = pd.DataFrame(
        {"store": np.repeat(["A", "B"], 12), "dept": "D1", "sales": 1.0,
         "quarter": np.tile([f"{q.year} Q{q.quarter}" for q in quarters], 2)}
    )  # fmt: skip
    out = _standardize(frame, time="quarter", freq="QS")
    assert sorted(out["ds"].unique()) == list(quarters.to_timestamp())
    bad = frame.assign(quarter=frame["quarter"].str.replace("Q1", "Q5"))
    with pytest.raises(DataError, match=r"unparseable date .1998 Q5' \(6 rows\): write dates"):
        _standardize(bad, time="quarter", freq="QS")


def test_integer_years_are_read_as_years():
    years = np.tile(np.arange(1990, 2021), 2)
    frame = pd.DataFrame(
        {"store": np.repeat(["A", "B"], 31), "dept": "D1", "year": years, "sales": 1.0}
    )
    for column in [years, years.astype(float), years.astype(str)]:
        out = _standardize(frame.assign(year=column), time="year", freq="YS")
        assert (out["ds"] == pd.to_datetime(out["year"].astype(int).astype(str))).all()
        assert out["ds"].min() == pd.Timestamp("1990-01-01")
    with pytest.raises(DataError, match=r"column 'year' has a number that is not a year .*: 12 "):
        _standardize(frame.assign(year=np.arange(62) + 12), time="year", freq="YS")


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
        r"known column 'price' has no values in the target domains at origin 2021-04-16; "
        r"left out of the features there",
        res.err,
    ), res.err
    import json

    manifest = json.loads((tmp_path / "out" / "model" / "manifest.json").read_text())
    assert "price" in manifest["data"]["known"]
    assert manifest["features"]["builder"]["known"] == ["promo", "is_holiday"]


def test_unsold_series_of_a_selling_target_is_forecast_before_launch(tmp_path):
    frame = small_frame()
    late = (frame["store"] == "S06") & (frame["dept"] == "D2")
    after = pd.to_datetime(frame["date"]) > "2021-03-05"
    actual = frame.loc[late & after, "sales"].head(6).mean()
    frame = frame[~late | after]
    res = invoke("run", setup(tmp_path, frame, raw=raw_config(origin="2021-03-05")))
    assert res.code == 0, res.err
    assert (
        "target domain 'S06' has 1 series with no sales up to the origin 2021-03-05 (first "
        "'S06|D2'): forecast before launch, their level estimated from the source domains"
        in res.err
    ), res.err
    fc = pd.read_csv(tmp_path / "out" / "forecasts.csv")
    assert len(fc) == len(TARGETS) * 2 * 6  # every series, the unsold one included
    new = fc[(fc["store"] == "S06") & (fc["dept"] == "D2")]
    assert len(new) == 6 and np.isfinite(new["forecast"]).all()
    assert 0.7 < new["forecast"].mean() / actual < 1.4  # the level model's estimate
    # the bundle holds the level model: predict on the same data forecasts the same
    out = tmp_path / "p.csv"
    res = invoke(
        "predict",
        tmp_path / "out" / "model",
        "--data",
        tmp_path / "sales.csv",
        "--origin",
        "2021-03-05",
        "--output",
        out,
    )
    assert res.code == 0, res.err
    again = pd.read_csv(out)
    again = again[(again["store"] == "S06") & (again["dept"] == "D2")]
    np.testing.assert_allclose(again["forecast"], new["forecast"], rtol=1e-9)


def test_target_without_sales_up_to_the_origin_is_forecast_before_launch(tmp_path):
    # the stores open a week after the origin: their rows in the horizon say they exist
    res = invoke("run", setup(tmp_path, raw=raw_config(origin="2020-07-10")))
    assert res.code == 0, res.err
    said = "have no sales up to the origin 2020-07-10: they are forecast before launch, their "
    assert [x for x in res.err.splitlines() if "no sales up to the origin" in x] == [
        f"warning: {tmp_path / 'sales.csv'}: target domains 'S06', 'S07', 'S08' {said}level "
        "estimated from the source domains"
    ], res.err  # one line for the three (before: one each)
    fc = pd.read_csv(tmp_path / "out" / "forecasts.csv")
    assert set(fc["store"]) == set(TARGETS) and len(fc) == len(TARGETS) * 2 * 6
    assert np.isfinite(fc["forecast"]).all() and (fc["forecast"] > 0).all()


UNWRITABLE_OUTPUTS = {  # a file or folder in the way of an output -> the error it gets
    "out": r"output directory \S*out is a file; choose another --output$",
    "out/forecasts.csv/": r"\S*out: forecasts\.csv in it is a folder, where a file is written",
    "out/model": r"\S*out: model in it is a file, where a folder is written",
    "out/scores.csv/": r"\S*out: scores\.csv in it is a folder",
    "out/.progress": r"\S*out: \.progress in it is a file",
    "out/similarity.csv/": r"\S*out: similarity\.csv in it is a folder",
}


@pytest.mark.parametrize(
    ("command", "path"),
    [
        ("run", "out"),
        ("compare", "out"),
        ("similarity", "out"),
        ("run", "out/forecasts.csv/"),
        ("run", "out/model"),
        ("compare", "out/scores.csv/"),
        ("compare", "out/.progress"),
        ("similarity", "out/similarity.csv/"),
    ],
)
def test_an_output_path_that_cannot_be_written_is_refused_before_the_data_is_read(
    command, path, tmp_path, monkeypatch
):
    config = setup(tmp_path)

    def unread(*args, **kwargs):
        raise AssertionError("the data was read before the output path was checked")

    monkeypatch.setattr(TransferTask, "from_config", unread)
    target = tmp_path / path
    if path.endswith("/"):
        target.mkdir(parents=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("mine\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    res = invoke(command, config)
    assert res.code == 2, res.err
    assert len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err, res.err
    assert re.search(UNWRITABLE_OUTPUTS[path], res.err.strip()), res.err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert target.is_dir() or target.read_text() == "mine\n"


@pytest.mark.parametrize(
    ("command", "written"), [("run", "forecasts.csv"), ("compare", "scores.csv")]
)
def test_data_where_the_command_writes_its_output_is_refused(command, written, tmp_path):
    """``[data] path = "forecasts.csv"`` beside ``[output] dir = "."`` would overwrite the data."""
    small_frame().to_csv(tmp_path / written, index=False)
    raw = raw_config()
    raw["data"]["path"] = written
    raw["output"]["dir"] = "."
    (tmp_path / "config.toml").write_text(to_toml(raw) + SMALL)
    saved = (tmp_path / written).read_bytes()
    res = invoke(command, tmp_path / "config.toml")
    assert res.code == 2, res.err
    assert re.search(
        rf"output directory \S+: {written} in it is where the command writes, and the data "
        rf"\S*{written} is there: writing it would overwrite the data; choose another --output$",
        res.err.strip(),
    ), res.err
    assert (tmp_path / written).read_bytes() == saved


@pytest.mark.parametrize("command", ["run", "compare", "similarity"])
def test_an_output_folder_inside_a_data_folder_is_refused(command, tmp_path):
    """A folder of Parquet files is read whole: results written inside it were accepted once,
    then every later run read them as data and stopped."""
    data = tmp_path / "sales"
    data.mkdir()
    small_frame().to_parquet(data / "part0.parquet", index=False)
    raw = raw_config()
    raw["data"]["path"] = "sales"
    raw["output"]["dir"] = "sales/results"
    (tmp_path / "config.toml").write_text(to_toml(raw) + SMALL)
    res = invoke(command, tmp_path / "config.toml")
    assert res.code == 2, res.err
    assert res.err.strip().endswith(
        f"sales/results lies inside the data folder {data}, every file of which is read as "
        "data: the next run would read the results too; choose another --output"
    ), res.err
    assert [p.name for p in data.iterdir()] == ["part0.parquet"]
    # a folder of no Parquet file (path = "."): the data's own error, not the output's
    (data / "part0.parquet").unlink()
    raw["data"]["path"] = "."
    raw["output"]["dir"] = "out"
    (tmp_path / "config.toml").write_text(to_toml(raw) + SMALL)
    res = invoke(command, tmp_path / "config.toml")
    assert res.code == 2 and "is a folder without Parquet files" in res.err, res.err
    if command == "similarity":
        return  # into a comparison's folder it stops for that (its own test)
    (tmp_path / "out" / ".progress").mkdir(parents=True)  # an earlier comparison's cells
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "out" / ".progress" / "c.scores.parquet")
    res = invoke(command, tmp_path / "config.toml")  # the data's error (it reads config.toml)
    assert res.code == 2 and "lies inside the data folder" not in res.err, res.err


def test_similarity_into_a_comparison_folder_is_refused(tmp_path):
    """``similarity`` after ``compare`` replaced the comparison's similarity.csv (at another
    origin) beside the report that shows the old one."""
    config = setup(tmp_path)
    assert invoke("compare", config, "--strategies", "naive").code == 0
    written = (tmp_path / "out" / "similarity.csv").read_bytes()
    res = invoke("similarity", config)
    assert res.code == 2, res.err
    assert res.err.strip().endswith(
        "holds a comparison, whose similarity.csv (at its last origin) the report shows; "
        "choose another --output"
    ), res.err
    assert (tmp_path / "out" / "similarity.csv").read_bytes() == written
    assert invoke("similarity", config, "--output", tmp_path / "elsewhere").code == 0


def test_demo_refuses_a_folder_holding_a_project_it_did_not_write(tmp_path):
    (tmp_path / "config.toml").write_text("[data]\n")
    (tmp_path / "sales.csv").write_text("mine\n")
    res = invoke("demo", "--output", tmp_path, "--strategies", "pooled")
    assert res.code == 2, res.err
    assert "config.toml there was not written by a demo" in res.err, res.err
    assert (tmp_path / "config.toml").read_text() == "[data]\n"
    assert (tmp_path / "sales.csv").read_text() == "mine\n"
    assert not (tmp_path / "results").exists()


def test_a_model_folder_that_is_not_a_bundle_is_never_replaced(tmp_path):
    """``run`` writes its bundle to ``<output>/model``; a folder of the user's files there stays."""
    config = setup(tmp_path)
    notes = tmp_path / "out" / "model" / "my_notes.txt"
    notes.parent.mkdir(parents=True)
    notes.write_text("important\n")
    res = invoke("run", config)
    assert res.code == 2, res.err
    assert re.search(
        r"output directory \S*out: \S*model holds files that are not a transfercast model bundle "
        r"\(no manifest\.json\), and the bundle would replace them; remove them or choose another "
        r"--output$",
        res.err.strip(),
    ), res.err
    assert notes.read_text() == "important\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model"]
    # a bundle an earlier run wrote is replaced, as before
    notes.unlink()
    assert invoke("run", config).code == 0
    assert invoke("run", config).code == 0
    assert (tmp_path / "out" / "model" / "manifest.json").is_file()
    # and so does the Python API's writer
    from transfercast.bundle import BundleError, write_bundle

    kw = dict(series=["store", "dept"], time="date", target="sales", domain="store")
    task = TransferTask(small_frame(), **kw, targets=TARGETS, horizon=2, target_history=8)
    model = TransferForecaster("target_only", target_params={"num_boost_round": 5}).fit(task)
    with pytest.raises(BundleError, match=r"holds files that are not a transfercast model bundle"):
        write_bundle(model, notes.parent.parent)
    assert (tmp_path / "out" / "forecasts.csv").is_file()


def test_an_output_folder_no_file_can_be_made_in_is_refused_though_root_may_write_anywhere(
    tmp_path,
):
    """Permission bits do not stop root; a folder of /proc refuses every new file all the same."""
    config = setup(tmp_path)
    res = invoke("compare", config, "--output", "/proc/transfercast-out")
    assert res.code == 2, res.err
    assert re.search(
        r"output directory /proc/transfercast-out: /proc is not writable; choose another --output$",
        res.err.strip(),
    ), res.err


def test_predict_refuses_an_output_that_is_a_folder_its_data_or_an_unknown_type(tmp_path):
    res = invoke("run", setup(tmp_path), "--strategy", "source_only")
    assert res.code == 0, res.err
    model, data = tmp_path / "out" / "model", tmp_path / "sales.csv"
    saved = data.read_bytes()
    (tmp_path / "link.csv").symlink_to(data)
    cases = {
        tmp_path / "out": r"--output \S*out is a folder; give a file name, such as forecasts\.csv$",
        "": r"--output \. is a folder",  # the current folder
        data: r"--output \S*sales\.csv is the --data \S*sales\.csv: writing the forecasts would "
        r"overwrite the data; choose another --output$",
        tmp_path / "link.csv": r"--output \S*link\.csv is the --data",
        tmp_path / "f.xlsx": r"--output \S*f\.xlsx: unsupported file type '\.xlsx' "
        r"\(use \.csv, \.csv\.gz or \.parquet\)$",
        tmp_path / "f.gz": r"--output \S*f\.gz: unsupported file type '\.gz'",  # not a CSV
        data / "f.csv": r"--output \S*f\.csv: folder \S*sales\.csv is a file",
        tmp_path
        / "new": r"--output \S*new: give a file name ending in \.csv, \.csv\.gz or \.parquet "
        r"\(this option is the forecasts file, not a folder\)$",
        # a LightGBM model file ends in .txt, which --output reads as a CSV file
        next(model.rglob("*.txt")): r"--output \S*\.txt is inside the model bundle \S*model: "
        r"writing the forecasts there could overwrite the saved models; choose another --output$",
    }
    saved_model = {p: p.read_bytes() for p in model.rglob("*") if p.is_file()}
    for output, pattern in cases.items():
        res = invoke("predict", model, "--data", data, "--output", output)
        assert res.code == 2, (output, res.err)
        assert len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err, res.err
        assert re.search(pattern, res.err.strip()), (pattern, res.err)
    assert data.read_bytes() == saved
    assert {p: p.read_bytes() for p in model.rglob("*") if p.is_file()} == saved_model
    assert not (tmp_path / "f.xlsx").exists()
    # a .parquet output is a Parquet file, with the rows and columns of the CSV one
    for name in ("fc.csv", "fc.parquet"):
        res = invoke("predict", model, "--data", data, "--output", tmp_path / name)
        assert res.code == 0, res.err
    csv, parquet = pd.read_csv(tmp_path / "fc.csv"), pd.read_parquet(tmp_path / "fc.parquet")
    assert list(parquet.columns) == list(csv.columns) and len(parquet) == len(csv) == 3 * 2 * 6
    np.testing.assert_allclose(parquet["forecast"], csv["forecast"])


@pytest.mark.parametrize("value", ["abc", "-1", "1.5"])
def test_a_thread_count_that_is_not_a_number_is_refused(value, tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERCAST_THREADS", value)
    for command in ("run", "compare"):
        assert_error(
            invoke(command, setup(tmp_path)),
            tmp_path,
            rf"^error: environment variable TRANSFERCAST_THREADS='{re.escape(value)}': give a "
            r"whole number of threads per model fit, such as 4 \(0 or unset: the defaults\)$",
        )


def test_every_row_of_the_catalogue_is_a_test():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "bad-inputs.md").read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| ") and "---" not in line]
    ids = [line.rstrip(" |").rsplit("|", 1)[1].strip().strip("`") for line in rows]
    ids = [i for i in ids if i not in ("test", "same")]
    names = set(ERRORS) | {n for n in globals() if n.startswith("test_")}
    names |= {
        f"tests/test_{m}.py"
        for m in (
            "bundle",
            "prelaunch",
            "plugins",
            "plugin_contract",
            "regime",
            "replay",
            "resume",
            "dask_source",
            "leakage",
            "l2sp_without_torch",
        )
    }
    from . import test_bundle, test_data, test_frequencies  # rows tested there, by name

    names |= set(test_frequencies.ERRORS)
    for module in (test_bundle, test_data, test_frequencies):
        names |= {n for n in vars(module) if n[:5] == "test_"}
    assert len(ids) >= 25
    assert [i for i in ids if i not in names] == []
    assert set(ERRORS) <= set(ids)  # and every error case is documented


def test_a_config_with_a_byte_order_mark_and_home_paths_is_read(tmp_path, monkeypatch):
    from transfercast.config import load_config

    monkeypatch.setenv("HOME", str(tmp_path))
    raw = raw_config()
    raw["data"]["path"] = "~/sales.csv"
    raw["output"]["dir"] = "~/out"
    (tmp_path / "proj").mkdir()
    path = tmp_path / "proj" / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf" + to_toml(raw).encode())
    cfg = load_config(path)
    assert cfg.data_path() == tmp_path / "sales.csv"
    assert cfg.output_dir() == tmp_path / "out"


def test_predict_names_the_model_folder_of_a_run_folder(tmp_path):
    res = invoke("run", setup(tmp_path), "--strategy", "source_only")
    assert res.code == 0, res.err
    data = tmp_path / "sales.csv"
    res = invoke("predict", tmp_path / "out", "--data", data, "--output", tmp_path / "f.csv")
    assert res.code == 2 and res.err.count("\n") == 1, res.err
    assert re.search(
        r"out: not a transfercast model bundle \(no manifest\.json\) "
        r"\(did you mean \S*out/model\?\)$",
        res.err.strip(),
    ), res.err
    res = invoke("predict", tmp_path / "nowhere", "--data", data, "--output", tmp_path / "f.csv")
    assert re.search(
        r"nowhere: no such folder; give the model folder `run` wrote$", res.err.strip()
    )
    assert not (tmp_path / "f.csv").exists()


def test_a_crash_inside_a_command_is_one_line_with_exit_status_1(tmp_path, monkeypatch):
    """A bug (a plugin's, say) is no bad input: exit status 1, one line naming the exception and
    where it was raised; ``TRANSFERCAST_TRACEBACK=1`` lets the traceback through."""
    import transfercast.similarity

    def broken(*args, **kwargs):
        raise RuntimeError("the diagnostics broke")

    monkeypatch.setattr(transfercast.similarity, "similarity", broken)
    config = setup(tmp_path)
    res = invoke("similarity", config)
    assert res.code == 1, res.err
    assert re.fullmatch(
        r"error: RuntimeError: the diagnostics broke \(test_bad_inputs\.py:\d+\); "
        r"TRANSFERCAST_TRACEBACK=1 shows the traceback\n",
        res.err,
    ), res.err

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", "/data/out/similarity.csv")

    monkeypatch.setattr(transfercast.similarity, "similarity", full)
    res = invoke("similarity", config)
    assert res.code == 1 and res.err == (
        "error: /data/out/similarity.csv: No space left on device; TRANSFERCAST_TRACEBACK=1 "
        "shows the traceback\n"
    ), res.err
    monkeypatch.setenv("TRANSFERCAST_TRACEBACK", "1")
    with pytest.raises(OSError, match="No space left"):
        invoke("similarity", config)


def test_version_prints_the_package_version():
    res = invoke("--version")
    assert res.code == 0 and res.out == f"transfercast {tc.__version__}\n", res.out
    # `python -m transfercast` is the same command line
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "transfercast", "--version"], capture_output=True, text=True
    )
    assert run.returncode == 0 and run.stdout == res.out, run.stderr


def test_compare_never_removes_files_named_like_its_own_that_it_did_not_write(tmp_path):
    """A folder that held no comparison (no .progress store, no bundle) and holds a user's
    selection.csv: compare would remove it (it writes none without auto), so it stops first."""
    config = setup(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "selection.csv").write_text("mine\n")
    (mine / "report.html").write_text("<p>mine</p>\n")
    res = invoke("compare", config, "--output", mine, "--strategies", "target_only")
    assert res.code == 2 and res.err.count("\n") == 1, res.err
    assert re.search(
        r"output directory \S*mine holds selection\.csv, report\.html, which compare replaces or "
        r"removes, and no comparison or run wrote them; choose another --output or move them$",
        res.err.strip(),
    ), res.err
    assert sorted(p.name for p in mine.iterdir()) == ["report.html", "selection.csv"]
    assert (mine / "selection.csv").read_text() == "mine\n"


def test_run_and_similarity_never_replace_a_file_named_like_theirs_they_did_not_write(tmp_path):
    """A hand-made forecasts.csv (similarity.csv) in a folder that held no run or comparison:
    run (similarity) stops before reading the data and leaves it as it was (before: replaced
    in silence); beside a run's bundle, run replaces its own forecasts.csv."""
    config = setup(tmp_path)
    for command, name, extra in (
        ("run", "forecasts.csv", ["--strategy", "target_only"]),
        ("similarity", "similarity.csv", []),
    ):
        mine = tmp_path / f"mine_{command}"
        mine.mkdir()
        (mine / name).write_text("mine\n")
        res = invoke(command, config, "--output", mine, *extra)
        assert res.code == 2 and res.err.count("\n") == 1, res.err
        assert re.search(
            rf"output directory \S*mine_{command} holds {name}, which {command} replaces, and no "
            r"comparison or run wrote them; choose another --output or move them$",
            res.err.strip(),
        ), res.err
        assert [p.name for p in mine.iterdir()] == [name]
        assert (mine / name).read_text() == "mine\n"
    again = tmp_path / "again"
    assert invoke("run", config, "--output", again, "--strategy", "target_only").code == 0
    first = (again / "forecasts.csv").read_text()
    assert invoke("run", config, "--output", again, "--strategy", "source_only").code == 0
    assert (again / "forecasts.csv").read_text() != first


def test_an_output_file_another_program_holds_is_refused_before_anything_is_written(
    tmp_path, monkeypatch
):
    """forecasts.csv open in a spreadsheet that locks it (Windows), or made immutable: opening it
    to append fails, and run stops before it fits or writes anything (its new model would
    otherwise stand beside the old forecasts)."""
    import builtins

    import transfercast.outputs

    config = setup(tmp_path)
    assert invoke("run", config, "--strategy", "source_only").code == 0
    locked = tmp_path / "out" / "forecasts.csv"
    before = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}

    def refusing(file, mode="r", *args, **kwargs):
        if Path(file) == locked and mode != "r":
            raise PermissionError(13, "Permission denied", str(file))
        return builtins.open(file, mode, *args, **kwargs)

    monkeypatch.setattr(transfercast.outputs, "open", refusing, raising=False)
    res = invoke("run", config, "--strategy", "target_only")
    assert res.code == 2 and res.err.count("\n") == 1, res.err
    assert re.search(
        r"output directory \S*out: forecasts\.csv in it cannot be written \(Permission denied\); "
        r"close the program that holds it, or choose another --output$",
        res.err.strip(),
    ), res.err
    assert {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()} == before
    # predict's --output too
    res = invoke(
        "predict", tmp_path / "out" / "model", "--data", tmp_path / "sales.csv", "--output", locked
    )
    assert res.code == 2 and "forecasts.csv in it cannot be written" in res.err, res.err
    assert {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()} == before


def test_a_target_domain_whose_rows_end_before_the_origin_is_named(tmp_path):
    """S06's last 3 weeks are missing (an export that lags the others): its forecasts start
    after the shared origin, so those weeks would be neither history nor forecast unnoticed."""
    frame = small_frame()
    last = frame["date"].max()
    frame = frame[~((frame["store"] == "S06") & (frame["date"] > last - pd.Timedelta(weeks=3)))]
    res = invoke("run", setup(tmp_path, frame), "--strategy", "source_only")
    assert res.code == 0, res.err
    assert (
        "target domain 'S06' has no rows in the 3 periods up to the origin "
        f"{pd.Timestamp(last).date()} (its last: "
        f"{(pd.Timestamp(last) - pd.Timedelta(weeks=3)).date()}): they are neither in its history "
        "nor forecast" in " ".join(res.err.split())
    ), res.err
    assert "'S07' has no rows" not in res.err
    # S06 and S07 lag alike (some of a consultancy's clients sent their latest sales, S08's
    # did): one line naming them, not one per store
    frame = small_frame()
    late = frame["store"].isin(["S06", "S07"]) & (frame["date"] > last - pd.Timedelta(weeks=3))
    frame = frame[~late]
    (tmp_path / "out").rename(tmp_path / "first")
    res = invoke("run", setup(tmp_path, frame), "--strategy", "source_only")
    assert res.code == 0, res.err
    said = " ".join(res.err.split())
    assert said.count("no rows in the 3 periods") == 1, res.err
    assert "target domains 'S06', 'S07' have no rows in the 3 periods" in said, res.err
    assert "(their last: " in said and "neither in their history nor forecast" in said


def test_task_counts_are_whole_numbers():
    frame = small_frame()
    kw = dict(series=["store", "dept"], time="date", target="sales", domain="store")
    for key, value in [("horizon", 2.5), ("horizon", "abc"), ("horizon", True), ("horizon", 0)]:
        with pytest.raises(DataError, match=rf"^\[task\] {key} must be a whole number of 1 or "):
            TransferTask(frame, **kw, targets=TARGETS, **{key: value})
    with pytest.raises(DataError, match=r"target_history must be a whole number of 0 or more"):
        TransferTask(frame, **kw, targets=TARGETS, horizon=6, target_history=8.5)
    task = TransferTask(frame, **kw, targets=TARGETS, horizon=6.0, target_history=np.int64(8))
    assert (task.horizon, task.target_history) == (6, 8)
    assert isinstance(task.target_history, int)


def test_a_time_zone_on_the_origin_is_dropped_and_from_config_wants_a_config():
    frame = small_frame()
    kw = dict(series=["store", "dept"], time="date", target="sales", domain="store")
    task = TransferTask(
        frame, **kw, targets=TARGETS, horizon=6, origin=pd.Timestamp("2021-03-05", tz="UTC")
    )
    assert task.origin == pd.Timestamp("2021-03-05") and task.origin.tzinfo is None
    with pytest.raises(TransfercastError, match="takes a Config, not str; read a file with"):
        TransferTask.from_config("config.toml")


def test_a_forecast_past_the_data_without_planned_known_values_is_warned():
    frame = small_frame()
    kw = dict(series=["store", "dept"], time="date", target="sales", domain="store")
    kw |= dict(targets=TARGETS, horizon=6, known=["price", "promo"], static=["size"])
    params = {"source_params": {"num_boost_round": 10}}
    with pytest.warns(DataWarning) as caught:
        tc_forecast(TransferTask(frame, **kw), params)
    texts = [str(w.message) for w in caught if "known columns" in str(w.message)]
    assert texts == [
        "data: known columns without a value at forecast periods of the target series after "
        "the origin 2021-04-16: 'price' (36 of 36), 'promo' (36 of 36), first 'price' of "
        "'S06|D1' at 2021-04-23; the forecasts take each series' mean over its last 8 periods "
        "there (its usual value for a 0/1 column such as a promotion flag: give 0 where there "
        "is none planned; give the planned values in rows after the last sale)"
    ]
    with warnings.catch_warnings():  # an origin inside the data: the values are there
        warnings.simplefilter("error", DataWarning)
        tc_forecast(TransferTask(frame, **kw, origin="2021-03-05"), params)


def tc_forecast(task, params):
    return TransferForecaster("source_only", **params).fit(task).predict()


def test_a_domain_column_named_domain_may_be_a_series_key():
    """The long format many users have: the domain column called ``domain`` and part of the
    series key (it was taken twice, and every origin computation failed)."""
    frame = small_frame().rename(columns={"store": "domain"})
    task = TransferTask(
        frame, series=["domain", "dept"], time="date", target="sales", domain="domain",
        targets=TARGETS, horizon=6, target_history=13,
    )  # fmt: skip
    assert list(task.panel.domains[:2]) == ["S01", "S01"]
    assert len(task.evaluation_origins()) == 3
    fc = tc_forecast(task, {"source_params": {"num_boost_round": 10}})
    assert list(fc.columns[:3]) == ["domain", "dept", "date"]
    assert sorted(fc["domain"].unique()) == TARGETS


def test_empty_sales_after_the_last_sale_are_planned_periods_not_missing_values(tmp_path):
    """Rows after a series' last sale with an empty sales cell hold the planned known values
    of the forecast horizon: no 'missing values' warning, no known-value warning, and `run`
    forecasts those very periods with those values."""
    frame = small_frame()
    dates = pd.to_datetime(frame["date"])
    last = dates.max()
    future = frame[dates > last - pd.Timedelta(weeks=6)].copy()
    future["date"] = (pd.to_datetime(future["date"]) + pd.Timedelta(weeks=6)).dt.date.astype(str)
    future["sales"] = np.nan
    frame.loc[dates == dates.min(), "sales"] = np.nan  # one real gap per series at the start
    both = pd.concat([frame, future], ignore_index=True)
    res = invoke("run", setup(tmp_path, both))
    assert res.code == 0, res.err
    gaps = int((dates == dates.min()).sum())  # the series observed from the first period
    assert f"column 'sales': {gaps} missing values left out" in res.err  # the real gaps only
    assert "known columns without a value" not in res.err
    fc = pd.read_csv(tmp_path / "out" / "forecasts.csv")
    assert sorted(fc["date"].unique()) == sorted(future["date"].unique())


@pytest.mark.parametrize("text", [{"S03": "unknown"}, "thousands"])
def test_a_numeric_static_column_with_text_is_warned_about(text):
    """Sizes written 151,315 or one 'unknown': the column reads as categories (the level
    model and the features lose the number), said in a warning naming the first text."""
    frame = small_frame()
    size = frame["size"].astype(str)
    if text == "thousands":
        size = frame["size"].map(lambda v: f"{v:,}")
        first = size.iloc[0]
    else:
        size[frame["store"] == "S03"] = "unknown"
        first = "unknown"
    said = r"static column 'size' holds numbers in \d+ of its \d+ values, but also text "
    with pytest.warns(DataWarning, match=said + rf"\(first '{first}'\): it is read as categories"):
        standardize(
            frame.assign(size=size), series=["store", "dept"], time="date", target="sales",
            domain="store", freq="W-FRI", static=["store_type", "size"],
        )  # fmt: skip


def test_a_key_value_na_is_a_value_not_a_missing_cell(tmp_path):
    """Stores keyed 'NA' (North America) and 'null': in key and domain columns only an empty
    cell is missing, so both stay series of their own (before: "empty series key value")."""
    frame = small_frame()
    frame["store"] = frame["store"].replace({"S01": "NA", "S02": "null"})
    res = invoke("run", setup(tmp_path, frame))
    assert res.code == 0, res.err
    from transfercast.data import read_table

    stores = set(read_table(tmp_path / "sales.csv", ["store", "dept"])["store"])
    assert {"NA", "null"} <= stores


@pytest.mark.parametrize(
    "period,freq,first",
    [("M", "ME", "2019-01-31"), ("M", "MS", "2019-01-01"), ("Q", "QE", "2019-03-31"),
     ("W-FRI", "W-FRI", "2019-01-04")],
)  # fmt: skip
def test_a_column_of_pandas_periods_is_read_on_the_grid_of_freq(period, freq, first):
    """A DataFrame's Period column (visnights' quarters, say) is read as the date ``freq``
    labels each period by; it was refused as off the grid, or as unparseable."""
    per = pd.period_range("2019-01-01", periods=6, freq=period)
    frame = pd.DataFrame(
        {"store": np.repeat(["A", "B"], 6), "dept": "D", "sales": 1.0,
         "t": pd.Series(list(per) * 2, dtype=per.dtype)}
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the all-equal sales' warnings
        out = _standardize(frame, time="t", freq=freq)
    assert out["ds"].min() == pd.Timestamp(first) and out["ds"].nunique() == 6


@pytest.mark.parametrize("targets", [[6, 7, 8], [6.0, 7.0, 8.0]])
def test_a_whole_number_float_key_column_names_domains_as_integers(tmp_path, targets):
    """Stores keyed 1.0 .. 8.0 (a float column in a CSV written from Parquet) are stores 1 .. 8:
    ``targets = [6, 7, 8]`` (or ``[6.0, ...]``) finds them and the outputs name store 6, not
    6.0 (before: "unknown domain 6", and series named '6.0|D1')."""
    frame = small_frame()
    frame["store"] = frame["store"].str[1:].astype(float)
    raw = raw_config()
    raw["task"]["targets"] = targets
    res = invoke("run", setup(tmp_path, frame, raw=raw))
    assert res.code == 0, res.err
    text = (tmp_path / "out" / "forecasts.csv").read_text().splitlines()
    assert text[0].startswith("store,dept,")
    assert {line.split(",")[0] for line in text[1:]} == {"6", "7", "8"}


@pytest.mark.parametrize("zone", ["Europe/Berlin", "+05:00"])
def test_dates_with_a_utc_offset_are_read_as_the_dates_written(tmp_path, zone):
    """Weekly dates written at local midnight with their UTC offset, one offset (``+05:00``) or
    two (Berlin's winter and summer time) are the dates written (before: "mixes time zones",
    or a time of day "in UTC" the evening before); the forecasts are those of plain dates."""
    frame = small_frame()
    stamps = pd.to_datetime(frame["date"])
    if zone.startswith("+"):
        text = stamps.dt.strftime("%Y-%m-%dT00:00:00") + zone
    else:
        text = stamps.dt.tz_localize(zone).map(lambda d: d.isoformat())
    assert text.str[-6:].nunique() == (2 if zone == "Europe/Berlin" else 1)
    (tmp_path / "zone").mkdir()
    (tmp_path / "plain").mkdir()
    res = invoke("run", setup(tmp_path / "zone", frame.assign(date=text)))
    assert res.code == 0, res.err
    res = invoke("run", setup(tmp_path / "plain", frame))
    assert res.code == 0, res.err
    zoned = pd.read_csv(tmp_path / "zone" / "out" / "forecasts.csv")
    plain = pd.read_csv(tmp_path / "plain" / "out" / "forecasts.csv")
    pd.testing.assert_frame_equal(zoned, plain)


def test_a_target_that_sold_nothing_over_the_horizon_is_named_not_a_numpy_warning():
    """Store S07 sells nothing over the last horizon: its cell has no WAPE, so the leaderboard
    leaves it out, and a warning says so once (before: silently, after numpy's bare "divide
    by zero encountered in scalar divide" from an infinite wql)."""
    frame = small_frame()
    raw = raw_config(target_history=13)
    raw["evaluate"]["windows"] = 1
    raw["strategies"] = {"source_only": {"source_params": {"num_boost_round": 20}}}
    task = TransferTask.from_config(parse_config(raw), data=frame)
    origin = task.evaluation_origins()[-1]
    dates = pd.to_datetime(frame["date"])
    frame.loc[(frame["store"] == "S07") & (dates > origin), "sales"] = 0.0
    task = TransferTask.from_config(parse_config(raw), data=frame)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        comp = tc.compare(task, ["source_only"], quantiles=[0.1, 0.9])
    said = [str(w.message) for w in caught if "sold nothing over their horizon" in str(w.message)]
    assert said == [
        f"1 target-origin cells sold nothing over their horizon (first: target 'S07' after "
        f"{origin.date()}): WAPE and bias are undefined there and the leaderboard's WAPE "
        f"columns leave them out, as do the interval scores scaled by the sales; their MAE, RMSE, "
        f"MASE, RMSSE, coverage and sql count in the leaderboard's means"
    ]
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    cell = comp.scores[(comp.scores["target"] == "S07") & (comp.scores["origin"] == origin)]
    assert cell["wape"].isna().all() and cell["wql"].isna().all() and (cell["mae"] > 0).all()
    said = ["rmse", "mase", "rmsse", "coverage_80", "sql"]  # the warning's list
    assert cell[said].notna().all().all() and cell[["width_80", "pinball_q0.1"]].isna().all().all()
    board = comp.leaderboard().set_index("strategy")
    assert board.loc["source_only", "cells"] == len(comp.scores) - 1
    # the other metrics average every cell, the one that sold nothing too (an over-forecast
    # of a closed store is an error the leaderboard shows)
    assert board.loc["source_only", "mae"] == pytest.approx(comp.scores["mae"].mean())
    assert board.loc["source_only", "wape"] == pytest.approx(comp.scores["wape"].mean())


def test_the_command_line_prints_each_warning_once(tmp_path):
    """A target series that sold nothing lately meets every strategy's intervals: its warning
    is printed once, not once per strategy."""
    frame = small_frame()
    raw = raw_config()
    raw["evaluate"]["windows"] = 1
    raw["forecast"] = {"quantiles": [0.1, 0.9]}
    raw["strategy"]["candidates"] = ["target_only", "source_only"]
    task = TransferTask.from_config(parse_config(raw), data=frame)
    origin = task.evaluation_origins()[-1]
    dates = pd.to_datetime(frame["date"])
    quiet = (frame["store"] == "S07") & (frame["dept"] == "D1")
    frame.loc[quiet & (dates > origin - pd.Timedelta(weeks=10)) & (dates <= origin), "sales"] = 0
    res = invoke("compare", setup(tmp_path, frame, raw=raw))
    assert res.code == 0, res.err
    said = [line for line in res.err.splitlines() if "sold nothing in the periods" in line]
    assert len(said) == 1, res.err


def test_compare_warnings_are_said_on_an_interrupt_and_filter_by_module():
    """``compare`` holds the cells' warnings to say each once: an interrupt lost them, and
    they were said as from a file path, so that ``module="transfercast"`` missed them."""
    from transfercast.evaluation import _each_warning_once

    with pytest.warns(DataWarning, match="said before the interrupt") as caught:
        with pytest.raises(KeyboardInterrupt), _each_warning_once():
            warnings.warn("said before the interrupt", DataWarning, stacklevel=1)
            raise KeyboardInterrupt
    assert len(caught) == 1
    frame = small_frame()
    frame.loc[frame["store"] == "S08", "store_type"] = "Z"  # a category the sources lack
    task = TransferTask.from_config(parse_config(raw_config()), data=frame)
    late = task.evaluation_origins()[-1]
    early = late - pd.Timedelta(weeks=60)  # before the targets' first rows: a warning inside
    for ignore, expected in ((False, 1), (True, 0)):
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            if ignore:
                warnings.filterwarnings("ignore", module="transfercast")
            tc.compare(task, ["naive"], origins=[early, late])
        for text in ("left out at that origin", "holds 'Z'"):  # the second said for our caller
            assert len([w for w in said if text in str(w.message)]) == expected, text


def test_the_command_line_keeps_the_users_warning_filters(tmp_path, monkeypatch):
    """``-W ignore`` or ``PYTHONWARNINGS=ignore`` silence the warnings; the CLI replaced the
    filters with its own, so that only ``2>/dev/null`` did, errors included."""
    import sys

    frame = small_frame()
    frame.loc[frame["sales"].index[:3], "sales"] = -5.0
    config = setup(tmp_path, frame)
    loud = invoke("compare", config, "--strategies", "naive", "--output", tmp_path / "a")
    assert loud.code == 0 and "warning:" in loud.err, loud.err
    monkeypatch.setattr(sys, "warnoptions", ["ignore"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quiet = invoke("compare", config, "--strategies", "naive", "--output", tmp_path / "b")
    assert quiet.code == 0 and quiet.err == "", quiet.err


def test_many_missing_periods_hint_that_absent_rows_may_be_zero_sales():
    """Sales exported as transactions (no row for a week without a sale): most periods are
    missing inside the series, and the warning says that a missing period meaning no sale
    is written with 0 (before: no hint; the level and the scores read only the selling weeks)."""
    frame = small_frame()
    rng = np.random.default_rng(0)
    keep = (rng.random(len(frame)) < 0.5) | frame["date"].isin(frame["date"].iloc[[0, -1]])
    with pytest.warns(DataWarning) as caught:
        standardize(
            frame[keep], series=["store", "dept"], time="date", target="sales",
            domain="store", freq="W-FRI",
        )  # fmt: skip
    said = [str(w.message) for w in caught if "periods missing inside" in str(w.message)]
    assert len(said) == 1 and re.search(
        r"left as missing values \(\d\d% of the periods inside the series\): if a missing "
        r"period means no sale, write it with 0$",
        said[0],
    ), said


@pytest.mark.parametrize(
    "stores, subject",
    [
        (["S07"], "target domain 'S07' has 1 series"),
        (["S07", "S08"], "target domains 'S07', 'S08' have 2 series"),
    ],
)
def test_a_target_series_whose_rows_stopped_is_named(stores, subject):
    """A target series with no row in the level window before the origin (a delisted
    product): a warning names it and says how it is forecast (before: nothing said). The
    same note about several target domains is one line naming them (a panel of 40 target
    stores read 95 warnings at one origin before, one per store and kind)."""
    frame = small_frame()
    dates = pd.to_datetime(frame["date"])
    gone = frame["store"].isin(stores) & (frame["dept"] == "D1")
    frame = frame[~(gone & (dates > dates.max() - pd.Timedelta(weeks=10)))]
    origin, said = _warned_at_the_forecast_origin(frame, "no row in the")
    assert said == [
        f"data: {subject} with no row in the 8 periods up to the origin {origin.date()} "
        f"(first 'S07|D1'): forecast at their mean over their history; if they stopped "
        f"selling, leave them out of the targets' data"
    ]


def test_a_target_series_whose_last_rows_are_late_is_named():
    """One target series without its last 2 weeks while its store has them (a late export):
    those weeks are neither its history nor forecast; a warning names it (before: nothing)."""
    frame = small_frame()
    dates = pd.to_datetime(frame["date"])
    late = (frame["store"] == "S07") & (frame["dept"] == "D2")
    frame = frame[~(late & (dates > dates.max() - pd.Timedelta(weeks=2)))]
    origin, said = _warned_at_the_forecast_origin(frame, "whose rows end before")
    its_last = (origin - pd.Timedelta(weeks=2)).date()
    assert said == [
        f"data: target domain 'S07' has 1 series whose rows end before their domain's last "
        f"period up to the origin {origin.date()} (first 'S07|D2', its last: {its_last}): "
        f"those periods are neither in their history nor forecast, as their forecasts start "
        f"after the origin; give those periods' sales (0 where nothing sold)"
    ]


def test_a_misspelt_plugin_module_beside_the_config_is_suggested(tmp_path):
    """A plugin module named with a typo: the error says where it looked and the module beside
    the config with the nearest name (before: only Python's "No module named")."""
    config = setup(tmp_path, raw=to_toml({**raw_config(), "plugins": ["tc_shrink_seasonl"]}))
    (tmp_path / "tc_shrink_seasonal.py").write_text("import transfercast\n")
    assert_error(
        invoke("compare", config, "--strategies", "source_only"),
        tmp_path,
        r"plugin module 'tc_shrink_seasonl' named in 'plugins' failed to load: "
        r"ModuleNotFoundError: No module named 'tc_shrink_seasonl'; no such module beside the "
        rf"config \({re.escape(str(tmp_path))}\) or on the import path \(did you mean "
        r"'tc_shrink_seasonal'\?\)$",
    )


def test_a_daily_target_series_without_rows_on_a_weekday_is_named():
    """Daily data: target series with no row on any Sunday in their history (a store closed on
    Sundays, its closed days not written) are forecast on Sundays like the days they sell; a
    warning says so and what to write, one line per set of such days (before: nothing, and 11 %
    of a 28-day forecast fell on closed days). Written with 0, the Sundays are history, and
    nothing is said."""
    frame = synthetic_sales(
        n_domains=6, series_per_domain=2, n_targets=2, n_periods=120, freq="D", target_periods=60
    )
    frame["date"] = pd.to_datetime(frame["date"])
    kw = dict(series=["store", "dept"], time="date", target="sales", domain="store",
              targets=["S05", "S06"], horizon=14, freq="D")  # fmt: skip
    day = frame["date"].dt.dayofweek
    sunday = frame["store"].isin(["S05", "S06"]) & (day == 6)
    weekend = (frame["store"] == "S05") & (frame["dept"] == "D1") & (day == 5)
    zeros = frame.assign(sales=frame["sales"].where(~(sunday | weekend), 0.0))
    for data, named in ((frame[~(sunday | weekend)], True), (zeros, False)):
        task = TransferTask(data, **kw)
        origin = pd.Timestamp(task.forecast_origin()).date()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            task.at_origin(task.forecast_origin())
        said = sorted(str(w.message) for w in caught if "no row on any" in str(w.message))
        tail = (
            f"in four weeks or more of history up to the origin {origin} (first 'S0{{}}|D{{}}'), "
            f"and forecast on those days like the days they sold; if closed then, write those "
            f"days with 0"
        )
        expected = [
            "data: target domain 'S05' has 1 series with no row on any Saturday or Sunday "
            + tail.format(5, 1),
            "data: target domains 'S05', 'S06' have 3 series with no row on any Sunday "
            + tail.format(5, 2),
        ]
        assert said == (expected if named else []), said


def test_a_target_store_that_sold_nothing_in_a_recent_week_is_named():
    """Every series of a target store at 0 in one recent week, having sold every week before
    (a closure, or an export of zeros): its recent level reads the 0s as sales, and a warning
    says so (before: forecasts fell by 30-50 % in silence); a store whose zero weeks are usual
    is not named."""
    frame = small_frame()
    dates = pd.to_datetime(frame["date"])
    week = dates.max() - pd.Timedelta(weeks=3)
    frame.loc[(frame["store"] == "S07") & (dates == week), "sales"] = 0.0
    origin, said = _warned_at_the_forecast_origin(frame, "sold nothing in any")
    assert said == [
        f"data: target domain 'S07' sold nothing in any of its 2 series at {week.date()} (of "
        f"the 8 periods up to the origin {origin.date()}), having sold in every period before: "
        f"its recent level reads them as sales of 0; if it was closed, leave those rows out"
    ]
    # a zero week before the level window too (in its 13 weeks read): how it sells
    frame.loc[(frame["store"] == "S07") & (dates == week - pd.Timedelta(weeks=6)), "sales"] = 0
    assert _closures(frame) == []
    # four departments, one without a row that week (Walmart's export leaves such rows out):
    # named too (before: every series needed a row, and the closure passed in silence)
    wide = synthetic_sales(
        n_domains=8, series_per_domain=4, n_periods=120, n_targets=3, target_periods=40
    )
    wide_dates = pd.to_datetime(wide["date"])
    closed = (wide["store"] == "S07") & (wide_dates == week)
    wide.loc[closed, "sales"] = 0.0
    wide = wide[~(closed & (wide["dept"] == "D4"))]
    _, said = _warned_at_the_forecast_origin(wide, "sold nothing in any")
    assert (
        len(said) == 1
        and f"'S07' sold nothing in any of its 4 series at {week.date()}" in (said[0])
    )
    # an intermittent store (each department sells in 35 % of weeks, else a row of 0 or none):
    # its weeks of 0 are how it sells, never a closure (the half rule alone warned at 22 of 48)
    base = synthetic_sales(
        n_domains=4, series_per_domain=4, n_periods=80, n_targets=1, target_periods=40, seed=2
    )
    rng = np.random.default_rng(0)
    quiet = (base["store"] == "S04") & (rng.random(len(base)) >= 0.35)
    base.loc[quiet, "sales"] = 0.0
    base = base[~(quiet & (rng.random(len(base)) < 0.5))]
    keys = dict(series=["store", "dept"], time="date", target="sales", domain="store")
    task = TransferTask(base, **keys, targets=["S04"], horizon=4, target_history=13)
    for origin in sorted(base["date"].unique())[-20:-4]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            task.at_origin(pd.Timestamp(origin), absent="skip")
        assert not [w for w in caught if "sold nothing in any" in str(w.message)], origin
    # a store with one series left in the window, or one whose first week sold nothing
    frame = small_frame()
    s07 = frame["store"] == "S07"
    stopped = s07 & (frame["dept"] == "D1") & (dates > week - pd.Timedelta(weeks=4))
    one = frame[~stopped].copy()
    one.loc[(one["store"] == "S07") & (pd.to_datetime(one["date"]) == week), "sales"] = 0.0
    assert _closures(one) == []
    opening = frame.copy()
    first = dates[frame["store"] == "S08"].min()
    opening.loc[(frame["store"] == "S08") & (dates == first), "sales"] = 0.0
    assert _closures(opening, origin=first + pd.Timedelta(weeks=3)) == []


def _closures(frame: pd.DataFrame, origin: pd.Timestamp | None = None) -> list[str]:
    """The closure warnings cutting the small task on ``frame`` at ``origin`` gives."""
    raw = synthetic_config("unused.csv", TARGETS, horizon=6)
    task = TransferTask.from_config(parse_config(raw), data=frame)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task.at_origin(origin if origin is not None else task.forecast_origin())
    return [str(w.message) for w in caught if "sold nothing in any" in str(w.message)]


def _warned_at_the_forecast_origin(frame: pd.DataFrame, fragment: str):
    """The forecast origin of the small task on ``frame``, and the warnings holding
    ``fragment`` that cutting the data there gives."""
    raw = synthetic_config("unused.csv", TARGETS, horizon=6)
    task = TransferTask.from_config(parse_config(raw), data=frame)
    with pytest.warns(DataWarning) as caught:
        task.at_origin(task.forecast_origin())
    said = [str(w.message) for w in caught if fragment in str(w.message)]
    return pd.Timestamp(task.forecast_origin()), said


def test_a_target_series_that_sold_nothing_lately_is_named():
    """A target series whose last ``level_window`` periods are zero (a pause, or a product
    that stopped selling): a warning names it and says on what scale it is forecast (before:
    nothing said, and the forecast at its old level read as a mistake); a series with one
    sale in the window is not named."""
    frame = small_frame()
    dates = pd.to_datetime(frame["date"])
    recent = dates > dates.max() - pd.Timedelta(weeks=10)
    frame.loc[(frame["store"] == "S07") & (frame["dept"] == "D1") & recent, "sales"] = 0.0
    some = (frame["store"] == "S08") & (frame["dept"] == "D1") & recent
    frame.loc[some, "sales"] = 0.0
    frame.loc[frame.index[some][-3], "sales"] = 5000.0
    origin, said = _warned_at_the_forecast_origin(frame, "sold nothing in the")
    assert said == [
        f"data: target domain 'S07' has 1 series that sold nothing in the 8 periods up to the "
        f"origin {origin.date()} (first 'S07|D1'): forecast on "
        f"the scale of their mean sales over their history, as after a pause (where they never "
        f"sold, at what source series that sold nothing went on to sell); if they stopped "
        f"selling, leave them out of the targets' data"
    ]


def test_column_names_lightgbm_would_merge_or_miscount_are_refused_but_not_by_predict():
    """``price eur`` beside ``price_eur`` (LightGBM writes spaces as _: "appears more than one
    time") and a header with a line break (LightGBM: "wrong size of feature_names"), each one
    line; a saved model's task (``require_sources=False``) fits no engine and is not refused."""
    frame = small_frame()
    kw = dict(series=["store", "dept"], time="date", target="sales", domain="store",
              targets=TARGETS, horizon=4)  # fmt: skip
    both = frame.assign(price_eur=frame["price"]).rename(columns={"price": "price eur"})
    said = r"^data: columns 'price eur' and 'price_eur' name one feature for LightGBM, which "
    with pytest.raises(DataError, match=said + r"writes a space as _; rename one of them$"):
        TransferTask(both, known=["price eur", "price_eur"], **kw)
    broken = frame.rename(columns={"price": "price\n(EUR)"})
    with pytest.raises(DataError, match=r"known column 'price\\n\(EUR\)': the boosting engines "
                       r"\(LightGBM, XGBoost\) refuse \\n in a feature's name"):  # fmt: skip
        TransferTask(broken, known=["price\n(EUR)"], **kw)
    TransferTask(broken, known=["price\n(EUR)"], require_sources=False, **kw)


def test_a_target_domain_that_never_sold_is_named_with_what_to_do():
    """Every series of a target store at 0 over its whole history: the note said they were
    forecast "as after a pause", at what never-selling source series went on to sell, where no
    source series had never sold (source_only forecast it at 15,440 a week)."""
    frame = small_frame()
    frame.loc[frame["store"] == "S07", "sales"] = 0.0
    origin, said = _warned_at_the_forecast_origin(frame, "sold nothing in any period")
    assert said == [  # (the task keeps the targets' last 13 periods: a cold start)
        f"data: target domain 'S07' sold nothing in any period up to the origin {origin.date()} "
        f"(13 periods of 0): its series are forecast on the scale of the sources' selling "
        f"series; if it has not opened yet, leave its rows of 0 out (it is then forecast before "
        f"launch), and if it is closed, leave it out of the targets"
    ]
    _, paused = _warned_at_the_forecast_origin(frame, "as after a pause")
    assert not [w for w in paused if "'S07'" in w]


def test_an_engine_alias_replaces_the_default_it_names():
    """LightGBM's aliases (``eta``, ``subsample``, ``min_child_samples``) set the parameter
    they name (before: the default stayed under the main name, which LightGBM prefers, so the
    alias was ignored); XGBoost's ``tree_method`` is the user's when given."""
    from transfercast.engines import engine_params

    p = engine_params("lightgbm", "source", {"eta": 0.5, "subsample": 0.3,
                                             "min_child_samples": 50}, 0)  # fmt: skip
    assert p["learning_rate"] == 0.5 and p["bagging_fraction"] == 0.3
    assert p["min_data_in_leaf"] == 50 and not {"eta", "subsample", "min_child_samples"} & set(p)
    assert engine_params("xgboost", "source", {"tree_method": "approx"}, 0)["tree_method"] == (
        "approx"
    )
    assert engine_params("xgboost", "source", {}, 0)["tree_method"] == "hist"
    frame = small_frame()
    raw = synthetic_config("unused.csv", TARGETS, horizon=6)
    task = TransferTask.from_config(parse_config(raw), data=frame)
    fc = {
        name: TransferForecaster("source_only", source_params=params).fit(task).predict()
        for name, params in [("main", {"learning_rate": 0.5}), ("alias", {"eta": 0.5}), ("", {})]
    }
    np.testing.assert_allclose(fc["alias"]["forecast"], fc["main"]["forecast"])
    assert not np.allclose(fc["alias"]["forecast"], fc[""]["forecast"])


def test_a_candidate_table_auto_does_not_read_is_named():
    """``[strategies.source_only] engine = "xgboost"`` beside ``auto``: auto's candidate
    source_only takes ``[strategies.auto.strategies.source_only]``, so a warning says the
    top-level table is not read there (before: auto fitted LightGBM without a word)."""
    from transfercast.evaluation import resolve_strategies
    from transfercast.plugin_manager import get_plugin_manager

    params = {
        "source_only": {"engine": "xgboost"},
        "auto": {"candidates": ["source_only", "pooled"]},
    }
    pm = get_plugin_manager()
    with pytest.warns(DataWarning) as caught:
        resolve_strategies(["auto", "source_only"], params, pm)
    said = [str(w.message) for w in caught if "not read by auto" in str(w.message)]
    assert said == [
        "[strategies.source_only] is not read by auto: its candidate 'source_only' takes "
        "[strategies.auto.strategies.source_only] (absent: the defaults); copy the table "
        "there to use it"
    ]
    params["auto"]["strategies"] = {"source_only": {"engine": "xgboost"}}
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        resolve_strategies(["auto", "source_only"], params, pm)


@pytest.mark.parametrize("engine", ["lightgbm", "xgboost"])
def test_a_forecast_past_the_data_reads_missing_planned_values_as_the_recent_mean(engine):
    """Without rows for the horizon, a known covariate takes each series' mean over its level
    window, a 0/1 flag its usual value there (a promotion in 2 of 8 weeks: none, not a quarter
    of one): the forecasts equal those with planned rows holding these (before: read as
    missing, XGBoost's forecasts rose by 75 %, LightGBM's by 8 %, on a reviewer's data)."""
    frame = small_frame()
    kw = dict(series=["store", "dept"], time="date", target="sales", domain="store")
    kw |= dict(targets=TARGETS, horizon=6, known=["price", "promo"], static=["size"])
    params = {"engine": engine, "source_params": {"num_boost_round": 20}}
    with pytest.warns(DataWarning, match="known columns without a value"):
        bare = tc_forecast(TransferTask(frame, **kw), params)
    dates = pd.to_datetime(frame["date"])
    last = frame[frame["store"].isin(TARGETS) & (dates > dates.max() - pd.Timedelta(weeks=8))]
    recent = last.groupby(["store", "dept"])[["price", "promo"]].mean().reset_index()
    assert set(frame["promo"].dropna()) == {0, 1} and recent["promo"].between(0.01, 0.49).any()
    recent["promo"] = recent["promo"].round()
    future = [
        recent.assign(date=(dates.max() + pd.Timedelta(weeks=k)).strftime("%Y-%m-%d"))
        for k in range(1, 7)
    ]
    static = frame.drop_duplicates(["store", "dept"])[["store", "dept", "size"]]
    planned = pd.concat([frame, *(f.merge(static, on=["store", "dept"]) for f in future)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        with_rows = tc_forecast(TransferTask(planned, **kw), params)
    np.testing.assert_allclose(bare["forecast"], with_rows["forecast"], rtol=1e-9)


@pytest.mark.parametrize("engine", ["lightgbm", "xgboost"])
def test_per_feature_engine_parameters_are_left_to_the_fit(engine):
    """``monotone_constraints`` with one entry per feature column is valid: the value probe
    (one column) does not judge it (before: "refuses the parameters" for a correct table)."""
    from transfercast.strategy import engine_param_problem

    table = {"monotone_constraints": [0] * 29}
    if engine == "xgboost":
        table = {"monotone_constraints": "(" + ",".join(["0"] * 29) + ")"}
    assert engine_param_problem(engine, table) is None


def _unread(monkeypatch):
    def unread(*args, **kwargs):
        raise AssertionError("the data was read before the command checked its input")

    monkeypatch.setattr(TransferTask, "from_config", unread)


def test_demo_takes_relatedness_0_and_refuses_below(tmp_path):
    """``--relatedness 0`` (unrelated sources) is in range, below it is not; ``--jobs 0``
    stops the demo before it writes."""
    out = tmp_path / "demo"
    res = invoke("demo", "--output", out, "--relatedness", "0", "--jobs", "0")
    assert res.code == 2 and "jobs 0: give the number of parallel workers" in res.err, res.err
    res = invoke("demo", "--output", out, "--relatedness", "-0.1")
    assert res.code == 2 and "--relatedness must be in [0, 1], got -0.1" in res.err, res.err
    assert not out.exists()


def test_demo_refuses_an_output_that_is_a_file(tmp_path):
    """A file as ``demo --output``: one line, exit status 2, the file kept."""
    (tmp_path / "demo").write_text("mine\n")
    res = invoke("demo", "--output", tmp_path / "demo")
    assert res.code == 2 and res.err.count("\n") == 1, res.err
    assert re.search(r"output directory \S*demo is a file; choose another --output$", res.err)
    assert (tmp_path / "demo").read_text() == "mine\n"


def test_predict_refuses_an_output_inside_a_data_folder_of_parquet_files(tmp_path):
    """``predict --output`` inside a ``--data`` folder of Parquet files is refused: the
    forecasts would be read as data next time."""
    assert invoke("run", setup(tmp_path), "--strategy", "source_only").code == 0
    data = tmp_path / "parts"
    data.mkdir()
    small_frame().to_parquet(data / "part-0.parquet", index=False)
    res = invoke(
        "predict", tmp_path / "out" / "model", "--data", data, "--output", data / "fc.parquet"
    )
    assert res.code == 2 and res.err.count("\n") == 1, res.err
    assert re.search(r"--output \S*fc\.parquet is inside the --data \S*parts:", res.err)
    assert sorted(p.name for p in data.iterdir()) == ["part-0.parquet"]


def test_compare_refuses_a_users_similarity_csv(tmp_path, monkeypatch):
    """A user's ``similarity.csv`` in the output folder is refused before the data is
    read: compare's report would replace it."""
    config = setup(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "similarity.csv").write_text("mine\n")
    _unread(monkeypatch)
    res = invoke("compare", config, "--strategies", "target_only")
    assert res.code == 2 and res.err.count("\n") == 1, res.err
    assert "holds similarity.csv, which compare replaces" in res.err
    assert (tmp_path / "out" / "similarity.csv").read_text() == "mine\n"


def test_strategies_option_ignores_empty_names(tmp_path, monkeypatch):
    """``--strategies target_only, ,`` (trailing commas) is ``target_only``."""
    import transfercast.evaluation as evaluation

    seen = []

    def spy(task, chosen, **kwargs):
        seen.append([s.name for s in chosen])
        raise evaluation.ConfigError("stopped here")

    monkeypatch.setattr(evaluation, "compare", spy)
    res = invoke("compare", setup(tmp_path), "--strategies", "target_only, ,")
    assert res.code == 2 and "stopped here" in res.err and seen == [["target_only"]], res.err


def test_each_command_prints_its_own_warnings_again(tmp_path):
    """A warning printed by one call of main() (a test, a notebook) is printed by the next
    call too."""
    config = setup(tmp_path, _nan_inf_negative(small_frame()))
    for output in ("a", "b"):
        res = invoke("similarity", config, "--output", tmp_path / output)
        assert res.code == 0, res.err
        assert "column 'sales': 2 infinite values treated as missing" in res.err, res.err


def test_the_leaderboard_shows_a_failed_column_only_when_a_cell_failed(capsys):
    """The printed leaderboard has a "failed" column only when there are failed cells."""
    from transfercast.cli import print_leaderboard

    board = pd.DataFrame(
        {"strategy": ["a", "b"], "wape": [0.1, 0.2], "wins": [2, 0], "failed": [0, 0]}
    )
    print_leaderboard(board)
    assert "failed" not in capsys.readouterr().out
    print_leaderboard(board.assign(failed=[0, 2]))
    assert "failed" in capsys.readouterr().out


def test_the_leaderboard_shows_whole_figures_on_a_narrow_terminal_and_in_a_pipe(monkeypatch):
    """An 80-column terminal gets the columns that fit, every figure whole, and a line naming
    those left out; a pipe or a file (rich's 80 columns by default) gets every column (before:
    both showed "0.1…" for WAPE once the failed and interval columns were in)."""
    import io

    from rich.console import Console

    from transfercast import cli

    board = pd.DataFrame(
        {
            "strategy": ["auto", "representation"],
            **{c: [0.105, 0.13] for c in ("wape", "wape_gap", "wape_gap_se", "mase")},
            **{c: [-0.012, 0.437] for c in ("bias", "wape_vs_target_only", "sql")},
            **{"wins": [2, 0], "failed": [0, 1], "coverage_80": [0.797, 0.7]},
            "coverage_95": [0.951, 0.9],
        }
    )
    for terminal in (True, False):
        buf = io.StringIO()
        console = Console(file=buf, width=80, force_terminal=terminal, color_system=None)
        monkeypatch.setattr(cli, "console", console)
        cli.print_leaderboard(board)
        out = buf.getvalue()
        assert "…" not in out and "0.105" in out and "representation" in out, out
        if terminal:
            assert max(map(len, out.splitlines())) <= 80, out
            assert "left out for the terminal's width (in leaderboard.csv): coverage_95" in out
        else:
            assert "0.951" in out and "-0.012" in out and "left out" not in out, out
    # 40 columns: the gap columns and wins go too, never a figure cut to "0.1…"
    buf = io.StringIO()
    monkeypatch.setattr(
        cli, "console", Console(file=buf, width=40, force_terminal=True, color_system=None)
    )
    cli.print_leaderboard(board)
    out = buf.getvalue()
    table = [x for x in out.splitlines() if not x.startswith("left out")]
    assert "…" not in out and "0.105" in out and max(map(len, table)) <= 40, out
    assert "coverage_80, wins, wape_gap_se" in out


def test_the_similarity_table_drops_columns_on_a_narrow_terminal_never_cuts_figures(
    tmp_path, monkeypatch
):
    """At 60 columns ``domain_auc`` read "0.5…" and ``drift_feature`` was cut off the edge
    without a word; the leaderboard's rule now holds: columns dropped and named."""
    import io

    from rich.console import Console

    from transfercast import cli

    buf = io.StringIO()
    monkeypatch.setattr(
        cli, "console", Console(file=buf, width=60, force_terminal=True, color_system=None)
    )
    res = invoke("similarity", setup(tmp_path))
    assert res.code == 0, res.err
    out = buf.getvalue()
    table = [x for x in out.splitlines() if not x.startswith(("left out", "similarity table"))]
    assert "…" not in out and max(map(len, table)) <= 60, out
    assert "left out for the terminal's width (in similarity.csv): drift_feature" in out


def test_compare_checks_the_strategy_names_before_reading_the_data(tmp_path, monkeypatch):
    """An unknown ``--strategies`` name is named before the data is read (a large data file
    is not loaded to report a typo)."""
    config = setup(tmp_path)
    _unread(monkeypatch)
    assert_error(
        invoke("compare", config, "--strategies", "target_only,sorce_only"),
        tmp_path,
        r"^error: --strategies: unknown strategy 'sorce_only' \(did you mean 'source_only'\?\)",
    )


def test_a_crash_inside_compare_says_the_finished_cells_are_kept(tmp_path, monkeypatch):
    """A compare that crashes (a plugin's bug) after a cell was stored points to ``--resume``
    (the test beside it in test_plugin_contract.py: one that crashes before says nothing)."""
    import transfercast.evaluation as evaluation

    real = evaluation.compare

    def broken(*args, on_cell=None, **kwargs):
        def stored(*cell):
            on_cell(*cell)
            raise RuntimeError("a plugin broke")

        return real(*args, on_cell=stored, **kwargs)

    monkeypatch.setattr(evaluation, "compare", broken)
    res = invoke("compare", setup(tmp_path), "--strategies", "target_only")
    assert res.code == 1 and res.err.count("\n") == 1, res.err
    assert re.search(
        r"^error: RuntimeError: a plugin broke \(test_\w+\.py:\d+\) \(the finished cells are "
        r"kept: --resume goes on from them\); TRANSFERCAST_TRACEBACK=1 shows the traceback$",
        res.err.strip(),
    ), res.err


def test_demo_refuses_a_folder_holding_only_a_users_sales_csv(tmp_path):
    """``demo`` refuses a folder holding a ``sales.csv`` it did not write, even without a
    ``config.toml``: the user's file is kept."""
    (tmp_path / "sales.csv").write_text("mine\n")
    res = invoke("demo", "--output", tmp_path, "--strategies", "pooled")
    assert res.code == 2 and res.err.count("\n") == 1, res.err
    assert "sales.csv there was not written by a demo" in res.err, res.err
    assert (tmp_path / "sales.csv").read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sales.csv"]


def test_demo_checks_its_results_folder_before_writing_its_data(tmp_path):
    """A ``results/`` holding a user's report: the demo stops before writing ``sales.csv``
    and ``config.toml`` (before: both were left behind, then compare refused the folder)."""
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "report.html").write_text("my notes\n")
    res = invoke("demo", "--output", tmp_path, "--strategies", "naive")
    assert res.code == 2 and res.err.count("\n") == 1, res.err
    assert "holds report.html" in res.err, res.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_predict_checks_its_origin_option_before_reading_the_bundle(tmp_path):
    """A bad ``--origin`` is named first, before the bundle and the data are read."""
    res = invoke(
        "predict", tmp_path / "nowhere", "--data", tmp_path / "sales.csv",
        "--output", tmp_path / "f.csv", "--origin", "2021-13-45",
    )  # fmt: skip
    assert res.code == 2, res.err
    assert res.err == "error: --origin '2021-13-45' is not a date; give one such as 2021-03-26\n"


def test_a_finished_comparison_leaves_no_set_aside_store(tmp_path, monkeypatch):
    """The earlier run's cells, set aside while a comparison runs, are removed when it
    ends."""
    from transfercast import cli

    monkeypatch.setattr(cli, "write_compare_report", lambda *a, **k: None)  # not under test
    config = setup(tmp_path)
    for _ in range(2):
        assert invoke("compare", config, "--strategies", "target_only").code == 0
    assert (tmp_path / "out" / ".progress").is_dir()
    assert not (tmp_path / "out" / ".progress.previous").exists()


def test_forecast_periods_without_an_actual_are_counted_and_named():
    """A sparse export (no row for a week without a sale) leaves forecast periods without an
    actual; the scores leave them out, and one warning says how many and what to do (before:
    nothing, and WAPE on such data read 0.02-0.06 lower than with the zeros written)."""
    frame = small_frame()
    dates = pd.to_datetime(frame["date"])
    series = (frame["store"] == "S07") & (frame["dept"] == "D1")
    gone = series & (dates > dates.max() - pd.Timedelta(weeks=20)) & (frame.index % 3 == 0)
    task = TransferTask(
        frame[~gone], series=["store", "dept"], time="date", target="sales", domain="store",
        targets=TARGETS, horizon=6, target_history=13,
    )  # fmt: skip
    with pytest.warns(DataWarning) as caught:
        small = {"target_only": {"target_params": {"num_boost_round": 5}}}
        comp = tc.compare(task, ["target_only"], params=small)
    said = [str(w.message) for w in caught if "no actual" in str(w.message)]
    n, total = int(comp.forecasts["actual"].isna().sum()), len(comp.forecasts)
    assert n > 0 and said == [
        f"{n} of {total} forecast periods of the target series ({100 * n / total:.0f} %) have "
        f"no actual in the data (no row, or an empty sales cell; first 'S07|D1' at "
        f"{comp.forecasts.loc[comp.forecasts['actual'].isna(), 'ds'].min().date()}) and are left "
        f"out of the scores; if a missing row means no sale, write it with 0 so that the scores "
        f"count those periods"
    ]


def test_unsold_series_say_whether_some_or_all_sold_before_the_cut():
    """Series of a selling target store without a sale in its last ``target_history``
    periods: the note says "some of them" sold before when one did and one never did (before:
    "having sold before" for all of them)."""
    frame = small_frame()
    dates = pd.to_datetime(frame["date"])
    last = dates.max()
    d1 = (frame["store"] == "S07") & (frame["dept"] == "D1")
    frame.loc[d1 & (dates > last - pd.Timedelta(weeks=14)), "sales"] = np.nan
    new = frame[(frame["store"] == "S07") & (frame["dept"] == "D2") & (dates == last)]
    frame = pd.concat([frame, new.assign(dept="D3", sales=np.nan)], ignore_index=True)
    raw = synthetic_config("unused.csv", TARGETS, horizon=6)
    task = TransferTask.from_config(parse_config(raw), data=frame)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task.at_origin(last - pd.Timedelta(weeks=1))
    said = [str(w.message) for w in caught if "with no sales in the last" in str(w.message)]
    assert said == [
        f"data: target domain 'S07' has 2 series with no sales in the last 13 periods up to "
        f"the origin {(last - pd.Timedelta(weeks=1)).date()} (first 'S07|D1'), some of them "
        f"having sold before ([task] target_history = 13): forecast before launch, their level "
        f"estimated from the source domains"
    ], [str(w.message) for w in caught]


def test_long_output_names_are_written_or_refused_before_any_work(tmp_path, monkeypatch):
    """A legal 250-byte ``--output`` name failed after the model had run (its temporary
    file's name was 14 bytes longer, and the error named it, exit 1); a name over the limit
    crashed in ``Path.exists`` (exit 1). The first is written, the second refused at once."""
    from transfercast.outputs import OutputError, check_output_dir, check_output_file, write_csv

    monkeypatch.chdir(tmp_path)
    legal = "f" * 246 + ".csv"
    written = write_csv(pd.DataFrame({"a": [1]}), tmp_path / legal)
    assert written.read_text() == "a\n1\n"
    assert [p.name for p in tmp_path.iterdir()] == [legal]
    config = setup(tmp_path)
    res = invoke("run", config, "--output", "d" * 300)
    assert res.code == 2, res.err
    assert res.err.strip() == (
        "error: output directory: the name dddddddddddddddddddddddd... is 300 bytes long, more "
        "than the 255 a file name may have; give a shorter one"
    )
    with pytest.raises(OutputError, match=r"^--output: the name f{24}\.\.\. is 304 bytes long"):
        check_output_file(Path("f" * 300 + ".csv"))
    check_output_dir(tmp_path)  # a short name passes


@pytest.mark.parametrize("command", ["run", "compare", "similarity"])
def test_recalibrates_covariates_are_checked_when_another_strategy_runs(tmp_path, command):
    """The check lived in recalibrate's fit: a config running another strategy (or none)
    passed with the misspelt covariate, where every other table's bad value is refused."""
    raw = _with_table("recalibrate", "covariates = ['discount']", "source_only")
    config = setup(tmp_path, raw=raw, extra="")
    args = ["--strategies", "naive"] if command == "compare" else []
    assert_error(
        invoke(command, config, *args),
        tmp_path,
        r"\[strategies.recalibrate\] covariates: 'discount' is not a known covariate; "
        r"valid: price, promo, is_holiday$",
    )


def test_tables_nested_in_autos_and_a_forecasters_own_are_checked_against_the_task(tmp_path):
    """auto's nested tables passed the task's check (a nested recalibrate table failed only
    after the other fits, naming a table the config does not have), and so did
    ``TransferForecaster``'s own parameters."""
    raw = _with_table("auto.strategies.recalibrate", "covariates = ['discount']", "naive")
    config = setup(tmp_path, raw=raw, extra="")
    assert_error(
        invoke("run", config),
        tmp_path,
        r"\[strategies.auto.strategies.recalibrate\] covariates: 'discount' is not a known "
        r"covariate; valid: price, promo, is_holiday$",
    )
    task = TransferTask.from_config(parse_config(raw_config()), data=small_frame())
    model = tc.TransferForecaster("recalibrate", covariates=["discount"])
    with pytest.raises(tc.TransfercastError, match=r"covariates: 'discount' is not a known"):
        model.fit(task)


def test_a_config_or_manifest_nested_too_deeply_is_a_line_not_a_crash(tmp_path):
    """A list nested thousands deep in a config, or in a bundle's manifest.json, stopped the
    parser with a RecursionError (exit 1, the crash status): it is bad input."""
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    assert_error(invoke("compare", deep), tmp_path,
                 r"deep\.toml: not valid TOML: nested too deeply to read$")  # fmt: skip
    model = tmp_path / "model"
    model.mkdir()
    (model / "manifest.json").write_text('{"deep": ' + "[" * 200_000 + "]" * 200_000 + "}")
    res = invoke("predict", model, "--data", tmp_path / "none.csv", "--output", tmp_path / "f.csv")
    assert_error(res, tmp_path, r"manifest\.json: not valid JSON \(nested too deeply to read\)$")


def test_a_name_holding_a_terminals_control_characters_is_shown_escaped(tmp_path):
    """A store named with an escape sequence (one that sets the window title and erases the
    line above) reached the terminal raw in the error's list of valid names."""
    frame = small_frame()
    first = sorted(frame["store"].unique())[0]
    hostile = "T0\x1b]0;OWNED\x07\x1b[2K"
    frame["store"] = frame["store"].replace(first, hostile)
    raw = raw_config()
    raw["task"]["targets"] = ["nope"]
    res = invoke("compare", setup(tmp_path, frame, raw))
    assert_error(res, tmp_path, r"unknown domain in \[task\] targets 'nope'",
                 re.escape(r"T0\x1b]0;OWNED\x07\x1b[2K"))  # fmt: skip
    assert "\x1b" not in res.err and "\x07" not in res.err
    from transfercast.errors import one_line

    # a joiner in a Persian name and a no-break space are text; a bidi override reorders it
    assert one_line("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 A\xa0B") == (
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 A\xa0B"
    )
    assert one_line("a\u202eb\tc") == "a\\u202eb\\tc"


def test_a_numpy_whole_number_of_rounds_is_a_whole_number():
    # a round count computed with numpy (np.int64) is as whole as Python's int
    from transfercast.strategy import engine_param_problem

    assert engine_param_problem("lightgbm", {"num_boost_round": np.int64(50)}) is None
    assert "whole number" in engine_param_problem("lightgbm", {"num_boost_round": np.float64(5)})
