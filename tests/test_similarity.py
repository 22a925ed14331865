"""Similarity diagnostics: the statistics, the table, the hook and `transfercast similarity`."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import transfercast
from transfercast.cli import to_toml
from transfercast.datasets import synthetic_config
from transfercast.similarity import SIMILARITY_COLUMNS, psi, similarity

from .conftest import small_frame, small_task


@pytest.fixture(scope="module")
def tables():
    out = {}
    for r in (0.0, 1.0):
        task = small_task(r)
        out[r] = similarity(task, task.evaluation_origins()[-1])
    return out


def test_psi_is_zero_for_equal_and_large_for_shifted_samples():
    rng = np.random.default_rng(0)
    a = rng.normal(size=4000)
    assert psi(a, rng.normal(size=4000)) < 0.02
    assert psi(a, rng.normal(2.0, size=4000)) > 1.0
    assert np.isnan(psi(a, np.array([np.nan])))


def test_table_has_one_row_per_target_and_the_documented_columns(tables):
    table = tables[1.0]
    assert list(table.columns[: len(SIMILARITY_COLUMNS)]) == SIMILARITY_COLUMNS
    assert list(table["target"]) == ["S06", "S07", "S08"]
    assert table["domain_auc"].between(0, 1).all()
    assert (table[["psi_mean", "ks_mean", "scale_ratio"]] >= 0).all().all()
    assert table["ks_max"].le(1).all()
    assert (table["target_periods"] == 13).all()  # the cold-start cut is honoured
    assert table["target_periods"].dtype.kind == "i"  # a count of periods: 13, never 13.0


def test_season_unseen_flags_a_horizon_season_the_target_never_showed(tables):
    # the last origin's horizon rises above anything in the 13 target weeks (test_auto checks
    # the index ranges); the flag depends on the calendar and the sources only
    for table in tables.values():
        assert table["season_unseen"].dtype == bool and table["season_unseen"].all()
        assert (table["season_gap"] > 0).all()  # a forecast within the seen range misses it
        assert table["season_shown"].dtype == bool
    from transfercast.config import parse_config
    from transfercast.datasets import synthetic_sales

    frame = synthetic_sales(
        n_domains=8, series_per_domain=2, n_periods=120, n_targets=3, target_periods=100
    )
    raw = synthetic_config("unused.csv", frame.attrs["targets"], horizon=8, target_history=80)
    task = transfercast.TransferTask.from_config(parse_config(raw), data=frame)
    table = similarity(task, task.evaluation_origins()[-1])
    assert not table["season_unseen"].any()  # more than a year of history has seen it all
    assert (table["season_gap"] == 0).all()
    assert table["season_shown"].all()  # ... and the index moves over a year's weeks


def test_seasonal_profile_separates_related_from_unrelated_targets(tables):
    assert tables[1.0]["season_corr"].min() > 0.3
    assert tables[0.0]["season_corr"].max() < 0.0


def test_similarity_reads_nothing_after_the_origin():
    task = small_task(1.0)
    origin = task.evaluation_origins()[0]
    before = similarity(task, origin, targets=["S07"])
    changed = small_frame(1.0)
    late = pd.to_datetime(changed["date"]) > origin
    changed.loc[late, "sales"] *= 3.0
    from transfercast.config import parse_config

    raw = synthetic_config(
        "unused.csv", changed.attrs["targets"], horizon=8, target_history=13, windows=2
    )
    other = transfercast.TransferTask.from_config(parse_config(raw), data=changed)
    pd.testing.assert_frame_equal(before, similarity(other, origin, targets=["S07"]))


def test_plugin_diagnostics_are_merged():
    class Plugin:
        @transfercast.hookimpl
        def transfercast_similarity(self, source, target):
            return {"target_rows": float(len(target)), "sources": float(source["domain"].nunique())}

    pm = transfercast.get_plugin_manager()
    pm.add_plugin(Plugin(), "sim-test", "in-process")
    try:
        task = small_task(1.0)
        table = similarity(task, task.evaluation_origins()[-1], targets=["S06"])
    finally:
        pm.pm.unregister(name="sim-test")
    assert table.loc[0, "sources"] == 5.0
    assert table.loc[0, "target_rows"] == 2 * 13  # 2 departments x 13 weeks


def test_similarity_command_writes_csv_and_prints_a_table(tmp_path):
    frame = small_frame(1.0)
    frame.to_csv(tmp_path / "sales.csv", index=False)
    raw = synthetic_config(
        "sales.csv", frame.attrs["targets"], horizon=8, target_history=13, output_dir="out"
    )
    (tmp_path / "config.toml").write_text(to_toml(raw))
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "transfercast.cli",
            "similarity",
            str(tmp_path / "config.toml"),
            "--origin",
            "2020-12-25",
        ],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "TRANSFERCAST_LOAD_PLUGINS": "", "COLUMNS": "120"},
    )
    assert res.returncode == 0, res.stderr
    assert "season_" in res.stdout and "corr" in res.stdout and "S07" in res.stdout
    assert "…" not in res.stdout  # no header cut short
    table = pd.read_csv(tmp_path / "out" / "similarity.csv")
    assert ("not how alike the seasons are" in res.stdout) == (not table["season_shown"].all())
    assert list(table["target"]) == ["S06", "S07", "S08"]
    assert (pd.to_datetime(table["origin"]) == pd.Timestamp("2020-12-25")).all()


def test_the_similarity_table_fits_an_80_column_terminal_without_cutting_headers(tmp_path):
    frame = small_frame(1.0)
    frame.to_csv(tmp_path / "sales.csv", index=False)
    raw = synthetic_config("sales.csv", frame.attrs["targets"], horizon=8, target_history=13)
    (tmp_path / "config.toml").write_text(to_toml(raw))
    env = {**__import__("os").environ, "TRANSFERCAST_LOAD_PLUGINS": "", "COLUMNS": "80"}
    res = subprocess.run(
        [sys.executable, "-m", "transfercast.cli", "similarity", str(tmp_path / "config.toml")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert res.returncode == 0, res.stderr
    assert "…" not in res.stdout
    table = [line for line in res.stdout.splitlines() if line[:1] in "┏┃┡│└"]
    assert len(table) >= 6 and max(len(line) for line in table) <= 80
    for part in ("domain_", "auc", "season_", "unseen", "drift_", "feature"):
        assert part in res.stdout, part


def test_the_terminal_table_brackets_a_correlation_over_flat_weeks():
    from transfercast.cli import similarity_cell

    flat = pd.Series({"season_corr": -0.05, "season_shown": False, "target": 4})
    assert similarity_cell(flat, "season_corr") == "(-0.050)"
    shown = pd.Series({"season_corr": -0.05, "season_shown": True})
    assert similarity_cell(shown, "season_corr") == "-0.050"
    assert similarity_cell(flat, "target") == "4"


def test_the_recent_level_misses_a_season_its_level_window_does_not_hold():
    """With more than a year of history the season gap is 0 (every position seen), but a
    forecast held at the index over the level window still misses the horizon's season:
    ``flat`` is that miss, never below the gap, computed from the calendar and the sources."""
    from transfercast.config import parse_config
    from transfercast.datasets import synthetic_sales
    from transfercast.forecasting import OriginTables
    from transfercast.similarity import horizon_season, source_profiles

    frame = synthetic_sales(
        n_domains=8, series_per_domain=2, n_periods=120, n_targets=3, target_periods=100
    )
    raw = synthetic_config("unused.csv", frame.attrs["targets"], horizon=8, target_history=80)
    task = transfercast.TransferTask.from_config(parse_config(raw), data=frame)
    origin = task.evaluation_origins()[-1]
    tables = OriginTables(task, task.at_origin(origin), task.features)
    profile, _ = source_profiles(tables)
    for domain in frame.attrs["targets"]:
        season = horizon_season(tables, domain, 0.0)
        assert season["gap"] == 0 and season["flat"] > 0
        # by hand: the index over the horizon against its mean over the last level_window weeks
        weeks = lambda d: d.isocalendar().week.to_numpy()  # noqa: E731
        future = pd.date_range(origin, periods=9, freq=frame["date"].dt.freq or "W-FRI")[1:]
        dates = pd.DatetimeIndex(sorted(frame.loc[frame["store"] == domain, "date"].unique()))
        dates = dates[dates <= origin][-tables.builder.level_window :]
        ahead = profile.reindex(weeks(future)).to_numpy(float)
        level = profile.reindex(weeks(dates)).mean()
        assert season["flat"] == pytest.approx(np.abs(ahead - level).sum() / np.abs(ahead).sum())


def test_a_target_too_young_for_a_diagnostic_is_named_in_a_warning():
    """3 periods of history: no drift diagnostics (they need 4 training rows) and no seasonal
    correlation; the table leaves them empty and one warning says whose and why."""
    from transfercast.data import DataWarning

    task = small_task(target_history=3)
    origin = task.evaluation_origins()[-1]
    with pytest.warns(DataWarning) as caught:
        table = similarity(task, origin)
    assert table["domain_auc"].isna().all() and table["season_corr"].isna().all()
    text = [str(w.message) for w in caught if "too young" in str(w.message)]
    assert text == [
        f"similarity at {origin.date()}: 'S06', 'S07', 'S08' too young for drift (domain_auc, "
        f"psi, ks: needs 4 training rows); 'S06', 'S07', 'S08' too young for season_corr "
        f"(needs 8 periods); left empty"
    ]
    with warnings.catch_warnings():  # enough history: no such warning
        warnings.simplefilter("error", DataWarning)
        similarity(small_task(), origin)


def test_a_target_without_a_row_up_to_the_horizon_has_no_row_and_warns():
    # a target store that opens after the origin's horizon does not exist there: the others
    # get their rows, as a comparison's report needs; none at all is a one-line error
    from transfercast.config import parse_config
    from transfercast.data import DataWarning
    from transfercast.errors import DataError

    frame = small_frame()
    targets = frame.attrs["targets"]
    task = small_task()
    origin = task.evaluation_origins()[0]
    opens = origin + 10 * pd.offsets.Week(weekday=4)
    late = frame[(frame["store"] != targets[0]) | (frame["date"] > opens)]
    raw = synthetic_config("unused.csv", targets, horizon=8, target_history=13)
    late_task = transfercast.TransferTask.from_config(parse_config(raw), data=late)
    with pytest.warns(DataWarning, match=f"target domain '{targets[0]}' has no row up to"):
        table = similarity(late_task, origin)
    assert list(table["target"]) == targets[1:]
    with pytest.raises(DataError, match="no target domain has a row up to the horizon"):
        with pytest.warns(DataWarning):
            similarity(late_task, origin, targets=[targets[0]])
    with pytest.raises(DataError, match=r"unknown domain in \[task\] targets 'S99'"):
        similarity(late_task, origin, targets=["S99"])
    # a comparison at origins where no target exists yet: one line, not an empty result
    none_yet = frame[~frame["store"].isin(targets) | (frame["date"] > opens)]
    none_task = transfercast.TransferTask.from_config(parse_config(raw), data=none_yet)
    with pytest.raises(DataError, match="no target domain has a row up to the end of the hor"):
        with pytest.warns(DataWarning):
            transfercast.compare(none_task, ["target_only"], origins=[origin])


def test_matched_source_rows_see_no_more_history_than_the_target():
    """The sources compared with a young target are cut to its history, so no feature tells
    them apart by history length alone."""
    from transfercast.forecasting import OriginTables
    from transfercast.similarity import matched_source

    task = small_task(1.0)
    tables = OriginTables(task, task.at_origin(task.evaluation_origins()[-1]), task.features)
    target = tables.target("S06")
    assert "sply" in target.X and target.X["sply"].isna().all()
    matched = matched_source(tables, "S06")
    assert len(matched) and matched.X["sply"].isna().all()
    assert tables.source.X["sply"].notna().any()  # the unmatched sources have it
