"""Nothing after the forecast origin may influence a forecast made at that origin.

Every registered strategy (each ``mode`` of a strategy that has one), and ``auto`` with its
default candidates, forecasts at one origin from the data as it is and from the data with its
future changed, in the source and the target domains alike: the target column after the origin
scrambled, set to NaN, or (with the rows beyond the horizon deleted) removed. Known covariates
are read over the horizon by definition, so they change only beyond ``origin + horizon``. The
forecasts must not move (to within 1e-9 relative), nor their quantiles: the recursive runs,
``auto`` and ``run`` forecast quantiles too, calibrated on source replays.
"""

from __future__ import annotations

import contextlib
import importlib.util
from functools import cache
from typing import Any, Literal, get_args, get_origin

import numpy as np
import pandas as pd
import pytest

import transfercast as tc
from transfercast.config import parse_config
from transfercast.data import DataWarning
from transfercast.datasets import synthetic_config
from transfercast.errors import DataError, MissingDependencyError
from transfercast.plugin_manager import get_plugin_manager
from transfercast.strategy import GBMParams
from transfercast.testing import change_future

from .conftest import small_frame

HORIZON = 6
KNOWN = ("price", "promo", "is_holiday")
FUTURES = ["scrambled", "nan", "deleted"]
TARGET_HISTORY = 13
#: small models, so that every strategy fits in a few seconds; a strategy without an entry (a
#: future one) runs with its defaults, with these engine parameters when it takes them
GBM = {
    "source_params": {"num_boost_round": 12, "num_leaves": 7},
    "target_params": {"num_boost_round": 8, "num_leaves": 7},
}
SMALL: dict[str, dict[str, Any]] = {
    # its added trees: its own rounds and patience (target_params may not set their count)
    "boost_continue": {"rounds": 10, "patience": 3, "target_params": {"num_leaves": 7}},
    "l2sp": {"hidden": [8], "source_epochs": 1, "epochs": 3, "patience": 1, "batch_size": 256},
    "representation": {
        "representations": ["prediction", "leaves", "embedding", "entities"],
        "embedding_epochs": 1,
    },
}


def _cases() -> dict[str, tuple[str, dict[str, Any]]]:
    """Every registered strategy but ``auto`` with small parameters, once per value of its
    ``mode`` parameter when it has one; by id."""
    registry = get_plugin_manager().registry
    cases: dict[str, tuple[str, dict[str, Any]]] = {}
    torch = importlib.util.find_spec("torch") is not None  # l2sp and the embedding need it
    for name in tc.strategies():
        if name == "auto" or (name == "l2sp" and not torch):
            continue
        params_model = registry.get(name).cls.Params
        params = {**(GBM if issubclass(params_model, GBMParams) else {}), **SMALL.get(name, {})}
        if not torch and "representations" in params:
            params["representations"] = [r for r in params["representations"] if r != "embedding"]
        mode = params_model.model_fields.get("mode")
        if mode is not None and get_origin(mode.annotation) is Literal:
            for m in get_args(mode.annotation):
                cases[f"{name}[{m}]"] = (name, {**params, "mode": m})
        else:
            cases[name] = (name, params)
    return cases


CASES = _cases()


def _task(frame: pd.DataFrame, formulation: str = "direct") -> tc.TransferTask:
    raw = synthetic_config(
        "unused.csv", frame.attrs["targets"], horizon=HORIZON, target_history=TARGET_HISTORY
    )
    raw["features"] = {"formulation": formulation}
    return tc.TransferTask.from_config(parse_config(raw), data=frame)


def _change_future(frame: pd.DataFrame, origin: pd.Timestamp, how: str) -> pd.DataFrame:
    return change_future(frame, origin, how, HORIZON, KNOWN)


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    return small_frame()


@pytest.fixture(scope="session")
def origin(frame: pd.DataFrame) -> pd.Timestamp:
    """The earliest evaluation origin: the most periods after it, in sources and targets."""
    origin = _task(frame).evaluation_origins()[0]
    assert (frame["date"] > origin + HORIZON * pd.offsets.Week(weekday=4)).any()
    return origin


def _rounds() -> list[dict[str, str]]:
    """The cases in rounds of one case per strategy (strategy name -> case id), so that one
    comparison runs a round and its strategies share their source models."""
    rounds: list[dict[str, str]] = []
    for case, (name, _) in CASES.items():
        free = next((r for r in rounds if name not in r), None)
        if free is None:
            rounds.append(free := {})
        free[name] = case
    return rounds


ROUNDS = _rounds()
RECURSIVE = ["target_only", "source_only", "pooled"]
QUANTILES = [0.05, 0.5, 0.95]


def _auto_params() -> dict[str, Any]:
    """``auto`` with its default candidates, each with small models, and one replay cut."""
    small = {name: params for name, params in CASES.values()}  # the last mode of each
    small["representation"] = {**small["representation"], "representations": ["prediction"]}
    return {"auto": {"strategies": small, "cuts": 1}}


@pytest.fixture(scope="session")
def comparison(frame: pd.DataFrame, origin: pd.Timestamp):
    """``comparison(future, run)``: the comparison at the origin on the data with ``future``
    changed (``"present"``: unchanged), computed once per session. ``run`` is a round of
    :data:`ROUNDS` (an int), ``"recursive"`` (:data:`RECURSIVE` with the recursive
    formulation) or ``"auto"``."""

    @cache
    def run(future: str, which: int | str) -> tc.Comparison:
        if future == "present":
            data = frame
        elif future == "before_cut":
            data = _change_before_cut(frame, origin)
        else:
            data = _change_future(frame, origin, future)
        if which == "auto":
            names, params, formulation = ["auto"], _auto_params(), "direct"
        elif which == "recursive":
            names, params, formulation = RECURSIVE, dict.fromkeys(RECURSIVE, GBM), "recursive"
        else:
            cases = ROUNDS[int(which)]
            names, formulation = list(cases), "direct"
            params = {name: CASES[case][1] for name, case in cases.items()}
        qs = QUANTILES if which in ("auto", "recursive") else ()
        task = _task(data, formulation)
        cmp = tc.compare(task, names, params=params, origins=[origin], quantiles=qs)
        failed = cmp.scores[cmp.scores["status"] != "ok"]
        assert failed.empty, failed[["strategy", "target", "error"]].to_string()
        assert len(cmp.forecasts) == len(names) * len(frame.attrs["targets"]) * 2 * HORIZON
        return cmp

    return run


def _change_before_cut(frame: pd.DataFrame, origin: pd.Timestamp) -> pd.DataFrame:
    """``frame`` with the targets' sales and known covariates scrambled before the first of
    the ``target_history`` periods a backtest leaves them (periods a store that young has not
    lived)."""
    out = frame.copy()
    cut = origin - (TARGET_HISTORY - 1) * pd.offsets.Week(weekday=4)
    rows = frame["store"].isin(frame.attrs["targets"]) & (frame["date"] < cut)
    rng = np.random.default_rng(2)
    for col in ["sales", *KNOWN]:
        out[col] = out[col].astype(float)
        out.loc[rows, col] = rng.uniform(0, 50 if col != "sales" else 1e6, rows.sum())
    return out


def _assert_same_forecasts(before: pd.DataFrame, after: pd.DataFrame) -> None:
    """The same series and periods, forecasts equal to within 1e-9 relative, and actuals that
    did change (or went missing), so that the check is not vacuous."""
    key = ["strategy", "unique_id", "ds"]
    before, after = (f.sort_values(key).reset_index(drop=True) for f in (before, after))
    pd.testing.assert_frame_equal(before[key], after[key])
    cols = ["forecast", *(c for c in before.columns if c.startswith("q"))]
    assert set(cols) <= set(after.columns)
    for col in cols:
        assert np.isfinite(before[col]).all(), col
        np.testing.assert_allclose(after[col], before[col], rtol=1e-9, atol=0, err_msg=col)
    assert not np.allclose(before["actual"], after["actual"], equal_nan=True)


def _round_of(case: str) -> tuple[str, int | str]:
    """The strategy of ``case`` and the comparison run that holds it (``auto``: its own);
    the test is skipped where the strategy's dependencies are not installed."""
    if case == "auto":
        return "auto", "auto"
    name = CASES[case][0]
    try:
        get_plugin_manager().registry.get(name).cls.check_available()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    return name, next(i for i, r in enumerate(ROUNDS) if r.get(name) == case)


@pytest.mark.parametrize("future", FUTURES)
@pytest.mark.parametrize("case", list(CASES))
def test_no_strategy_reads_the_future(case, future, comparison):
    name, k = _round_of(case)

    def mine(cmp: tc.Comparison) -> pd.DataFrame:
        return cmp.forecasts[cmp.forecasts["strategy"] == name]

    _assert_same_forecasts(mine(comparison("present", k)), mine(comparison(future, k)))


@pytest.mark.parametrize("case", [*CASES, "auto"])
def test_a_backtest_reads_nothing_of_a_target_before_its_history(case, comparison, frame, origin):
    # target_history = 13 simulates a store 13 periods old: its sales and known covariates
    # (prices, promotions) before those periods must not move a forecast
    name, k = _round_of(case)
    before, after = comparison("present", k), comparison("before_cut", k)
    assert not np.allclose(frame["price"], _change_before_cut(frame, origin)["price"])
    key = ["strategy", "unique_id", "ds"]
    mine = [c.forecasts[c.forecasts["strategy"] == name].sort_values(key) for c in (before, after)]
    for col in ["forecast", *(c for c in mine[0].columns if c.startswith("q"))]:
        np.testing.assert_allclose(mine[1][col], mine[0][col], rtol=1e-9, atol=0, err_msg=col)


@pytest.mark.parametrize("future", FUTURES)
def test_recursive_formulation_ignores_the_future(future, comparison):
    before, after = comparison("present", "recursive"), comparison(future, "recursive")
    _assert_same_forecasts(before.forecasts, after.forecasts)


@pytest.mark.parametrize("future", FUTURES)
def test_auto_choice_and_forecast_ignore_the_future(future, comparison):
    # auto with its default candidates: its replays on the sources, its inner backtest on the
    # target and every member it fits read nothing after the origin
    before, after = comparison("present", "auto"), comparison(future, "auto")
    _assert_same_forecasts(before.forecasts, after.forecasts)
    assert len(before.selection) == len(after.selection) > 0
    pd.testing.assert_frame_equal(before.selection, after.selection, check_exact=False, rtol=1e-9)


@pytest.mark.parametrize("future", ["scrambled", "deleted"])
def test_run_forecast_ignores_rows_after_configured_origin(future, frame, origin):
    def fit(task: tc.TransferTask) -> pd.DataFrame:
        model = tc.TransferForecaster("pooled", quantiles=QUANTILES, **GBM)
        return model.fit(task, origin=origin).predict()

    fc = fit(_task(frame))
    fc2 = fit(_task(_change_future(frame, origin, future)))
    assert list(fc.columns[-4:]) == ["forecast", "q0.05", "q0.5", "q0.95"]
    pd.testing.assert_frame_equal(fc, fc2, check_exact=False, rtol=1e-9, atol=0)
    assert fc["date"].min() == origin + pd.offsets.Week(weekday=4)
    assert len(fc) == len(frame.attrs["targets"]) * 2 * HORIZON


PRELAUNCH = ["source_only", "pooled", "boost_continue", "representation", "auto"]


@pytest.fixture(scope="session")
def prelaunch(frame: pd.DataFrame, origin: pd.Timestamp):
    """``prelaunch(future)``: the comparison with no target history (``target_history = 0``)
    on the data with ``future`` changed, once per session."""

    @cache
    def run(future: str) -> tc.Comparison:
        data = frame if future == "present" else _change_future(frame, origin, future)
        raw = synthetic_config("unused.csv", frame.attrs["targets"], horizon=HORIZON)
        raw["task"]["target_history"] = 0
        task = tc.TransferTask.from_config(parse_config(raw), data=data)
        params = {n: p for n, p in CASES.values() if n in PRELAUNCH}  # the last mode of each
        params["representation"] = {**params["representation"], "representations": ["prediction"]}
        small = {n: CASES[n][1] for n in ("source_only", "pooled")}
        params["auto"] = {"candidates": ["target_only", *small], "strategies": small, "cuts": 1}
        cmp = tc.compare(task, PRELAUNCH, params=params, origins=[origin], quantiles=QUANTILES)
        assert (cmp.scores["status"] == "ok").all(), cmp.scores["error"].tolist()
        return cmp

    return run


@pytest.mark.parametrize("future", FUTURES)
def test_pre_launch_forecasts_ignore_the_future(future, prelaunch):
    # a target with no history: its level comes from the level model of the sources, cut at
    # the origin; auto's replays cut the sources to no history at their cuts
    before, after = prelaunch("present"), prelaunch(future)
    _assert_same_forecasts(before.forecasts, after.forecasts)
    pd.testing.assert_frame_equal(before.selection, after.selection, check_exact=False, rtol=1e-9)


def _forecast(
    frame: pd.DataFrame, origin: pd.Timestamp, history: int | None, warns: bool = True
) -> pd.DataFrame:
    raw = synthetic_config("unused.csv", frame.attrs["targets"], horizon=HORIZON)
    raw["task"]["target_history"] = history
    if history is None:
        del raw["task"]["target_history"]
    task = tc.TransferTask.from_config(parse_config(raw), data=frame)
    with pytest.warns(DataWarning) if warns else contextlib.nullcontext():
        return tc.TransferForecaster("pooled", **GBM).fit(task, origin=origin).predict()


@pytest.mark.parametrize("future", FUTURES)
def test_a_target_that_sells_only_after_the_origin_is_forecast_the_same(future, frame, origin):
    # whether a target is forecast before launch at an origin is judged on the data cut there:
    # the sales it made after the origin neither change its forecast nor turn it into an error
    target = frame.attrs["targets"][0]
    late = frame.assign(
        sales=frame["sales"].where((frame["store"] != target) | (frame["date"] > origin))
    )
    before = _forecast(late, origin, None)
    after = _forecast(_change_future(late, origin, future), origin, None)
    pd.testing.assert_frame_equal(before, after, check_exact=False, rtol=1e-9, atol=0)
    assert set(before["store"]) == set(frame.attrs["targets"])


@pytest.mark.parametrize("history", [13, 0])
def test_a_target_series_that_starts_after_the_horizon_does_not_exist_at_the_origin(
    history, frame, origin
):
    # a department that a target store opens months after the horizon: its rows are all
    # after origin + horizon, so at the origin it is neither forecast (before launch) nor
    # able to move the other series' forecasts (through the pre-launch rows it would add)
    target = frame.attrs["targets"][0]
    beyond = frame["date"] > origin + (HORIZON + 10) * pd.offsets.Week(weekday=4)
    late = frame[beyond & (frame["store"] == target) & (frame["dept"] == "D1")]
    more = pd.concat([frame, late.assign(dept="D9")], ignore_index=True)
    more.attrs = frame.attrs
    before = _forecast(frame, origin, history, warns=history == 0)
    after = _forecast(more, origin, history, warns=history == 0)
    pd.testing.assert_frame_equal(before, after, check_exact=False, rtol=1e-9, atol=0)


@pytest.mark.parametrize("future", ["scrambled", "nan"])
def test_a_target_domain_that_starts_after_the_horizon_has_no_cell_at_the_origin(
    future, frame, origin
):
    # a store listed as a target that opens after the origin's horizon: a backtest leaves it
    # out at that origin (it does not exist yet), and the other targets' forecasts there do
    # not depend on what it sells later
    late_store = frame.attrs["targets"][0]
    opens = origin + (HORIZON + 10) * pd.offsets.Week(weekday=4)
    late = frame[(frame["store"] != late_store) | (frame["date"] > opens)]
    late.attrs = frame.attrs

    def run(data: pd.DataFrame) -> tc.Comparison:
        with pytest.warns(DataWarning, match=f"target domain '{late_store}' has no row up to"):
            return tc.compare(_task(data), ["pooled"], params={"pooled": GBM}, origins=[origin])

    before, after = run(late), run(_change_future(late, origin, future))
    assert late_store not in set(before.scores["target"])
    assert set(before.scores["target"]) == set(frame.attrs["targets"]) - {late_store}
    _assert_same_forecasts(before.forecasts, after.forecasts)
    # a forecast at that origin (`run` with `[task] origin`) has nothing to give it: an error
    with pytest.raises(DataError, match=f"'{late_store}' has no row up to the end of the hor"):
        tc.TransferForecaster("pooled", **GBM).fit(_task(late), origin=origin)


def test_a_key_value_in_rows_after_the_horizon_does_not_rename_the_other_series(frame, origin):
    # departments coded as numbers (1.0, 2.0, as a float column reads): a source series coded
    # 2.5 whose rows all lie after the horizon neither turns the others' ids into '1.0' nor
    # moves any forecast at the origin (the young sources' ages are drawn from the ids)
    coded = frame.assign(dept=frame["dept"].map({"D1": 1.0, "D2": 2.0}))
    coded.attrs = frame.attrs
    beyond = coded["date"] > origin + (HORIZON + 1) * pd.offsets.Week(weekday=4)
    late = coded[beyond & (coded["store"] == "S01") & (coded["dept"] == 1.0)]
    more = pd.concat([coded, late.assign(dept=2.5)], ignore_index=True)
    more.attrs = frame.attrs
    before = _forecast(coded, origin, 13, warns=False)
    after = _forecast(more, origin, 13, warns=False)
    assert set(before["dept"]) == set(after["dept"]) == {1, 2}
    pd.testing.assert_frame_equal(
        before, after, check_dtype=False, check_exact=False, rtol=1e-9, atol=0
    )


def test_a_csv_code_in_rows_after_the_horizon_does_not_retype_the_keys(frame, origin, tmp_path):
    # department codes written 01, 02 in a CSV file: a later code X9, in rows after the
    # horizon, neither turns them into 1, 2 (or back) nor moves a forecast at the origin
    from transfercast.data import read_table

    coded = frame.assign(dept=frame["dept"].map({"D1": "01", "D2": "02"}))
    beyond = coded["date"] > origin + (HORIZON + 1) * pd.offsets.Week(weekday=4)
    late = coded[beyond & (coded["store"] == "S01") & (coded["dept"] == "01")]
    coded.to_csv(tmp_path / "codes.csv", index=False)
    pd.concat([coded, late.assign(dept="X9")]).to_csv(tmp_path / "more.csv", index=False)
    before, after = (
        read_table(tmp_path / f"{name}.csv", ["store", "dept"]) for name in ("codes", "more")
    )
    assert set(before["dept"]) == {"01", "02"} and set(after["dept"]) == {"01", "02", "X9"}
    for data in (before, after):
        data.attrs = frame.attrs
    pd.testing.assert_frame_equal(
        _forecast(before, origin, 13, warns=False), _forecast(after, origin, 13, warns=False)
    )


def test_a_covariate_left_out_is_chosen_on_data_up_to_the_horizon(frame, origin):
    # a known column without target values up to the horizon is left out at that origin,
    # whatever the target's values beyond the horizon
    beyond = frame["date"] > origin + HORIZON * pd.offsets.Week(weekday=4)
    target = frame["store"].isin(frame.attrs["targets"])
    base = frame.assign(promo=frame["promo"].astype(float).where(~target | beyond))
    blank = base.assign(promo=base["promo"].where(~target))
    before, after = _forecast(base, origin, 13), _forecast(blank, origin, 13)
    pd.testing.assert_frame_equal(before, after, check_exact=False, rtol=1e-9, atol=0)


def test_a_static_column_kind_is_chosen_on_series_seen_by_the_origin(frame, origin):
    # a source series that appears only after the origin, with text in the numeric column
    # `size`, neither turns `size` categorical nor moves any forecast at the origin
    from transfercast.forecasting import OriginTables

    late = frame[(frame["store"] == "S01") & (frame["dept"] == "D1") & (frame["date"] > origin)]
    late = late.assign(dept="D9", size="unknown")
    more = pd.concat([frame, late], ignore_index=True)
    more.attrs = frame.attrs
    assert more["size"].dtype == object
    for data in (frame, more):
        task = _task(data)
        builder = OriginTables(task, task.at_origin(origin), task.features).builder
        assert builder.static_numeric == ["size"]
    before = _forecast(frame, origin, 13, warns=False)
    after = _forecast(more, origin, 13, warns=False)
    pd.testing.assert_frame_equal(before, after, check_exact=False, rtol=1e-9, atol=0)


def test_an_origin_tables_actuals_are_out_of_a_strategy_reach(frame, origin):
    # the tables a strategy gets (through context_) refuse the actuals after their origin;
    # an inner origin's come from the outer origin's cut panel
    from transfercast.errors import DataError
    from transfercast.forecasting import OriginTables

    task = _task(frame)
    tables = OriginTables(task, task.at_origin(origin), task.features)
    target = frame.attrs["targets"][0]
    with pytest.raises(DataError, match="not readable from its tables"):
        tables.actuals(target)
    inner = tables.at(tables.data.origin_idx - HORIZON)
    assert inner.actuals(target)["ds"].max() <= origin
