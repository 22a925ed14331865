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
from transfercast.errors import DataError
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
        f"(needs 8 weeks); left empty"
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


def _two_domains(shift_f=0.0, shift_ratio=0.0, n_dates=12, per_date=20, seed=0):
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2020-01-03", periods=n_dates, freq="W-FRI")

    def frame(n, fs, rs):
        anchor = np.repeat(dates, n)
        return pd.DataFrame(
            {
                "f": rng.normal(fs, 1, len(anchor)),
                "ratio": rng.normal(rs, 1, len(anchor)),
                "_anchor": anchor,
            }
        )

    return frame(3 * per_date, 0.0, 0.0), frame(per_date, shift_f, shift_ratio)


def _by_hand(frame, sources, target, origin, periods=13):
    """season_corr and scale_ratio computed from the frame by ISO week."""
    frame = frame[pd.to_datetime(frame["date"]) <= origin]
    tot = frame.groupby(["store", "date"])["sales"].sum()
    src = [tot.loc[s] for s in sources]
    tgt = tot.loc[target].iloc[-periods:]
    week = lambda s: pd.to_datetime(s.index).isocalendar().week.to_numpy()  # noqa: E731
    prof = pd.concat([(s / s.mean()).groupby(week(s)).mean() for s in src], axis=1).mean(axis=1)
    tprof = (tgt / tgt.mean()).groupby(week(tgt)).mean()
    common = tprof.index.intersection(prof.index)
    corr = np.corrcoef(tprof[common], prof[common])[0, 1]
    return corr, tgt.mean() / np.median([s.mean() for s in src])


def test_domain_auc_is_high_for_separable_domains_and_reads_the_label():
    from transfercast.similarity import _auc

    s, t = _two_domains(shift_f=4.0)
    assert _auc(s, t, ["f"]) > 0.95  # a shifted feature: separable, not below 0.5
    s, t = _two_domains(shift_ratio=4.0)
    assert _auc(s, t, ["f"]) > 0.95  # only the label differs: the label is compared


def test_domain_auc_skips_a_feature_the_target_mostly_lacks():
    from transfercast.similarity import _auc

    s, t = _two_domains()
    s = s.assign(g=0.0)
    t = t.assign(g=np.where(np.arange(len(t)) % 2, 10.0, np.nan))  # half missing, far off
    assert _auc(s, t, ["f", "g"]) < 0.7


def test_domain_auc_folds_are_contiguous_blocks_of_anchor_dates(monkeypatch):
    import sklearn.ensemble

    from transfercast.similarity import _auc

    seen = []

    class Spy(sklearn.ensemble.HistGradientBoostingClassifier):
        def fit(self, X, y):
            self.train_ = X[:, 0]
            return super().fit(X, y)

        def predict_proba(self, X):
            seen.append((self.train_, X[:, 0]))
            return super().predict_proba(X)

    monkeypatch.setattr(sklearn.ensemble, "HistGradientBoostingClassifier", Spy)
    s, t = _two_domains()
    s["f"], t["f"] = (
        s["_anchor"].dt.day_of_year.astype(float),
        t["_anchor"].dt.day_of_year.astype(float),
    )
    _auc(s, t, ["f"])
    assert len(seen) == 4
    for train, test in seen:  # no training date inside a test fold's span of dates
        assert not ((train >= test.min()) & (train <= test.max())).any()


def test_season_corr_and_scale_ratio_match_a_computation_by_hand(tables):
    task = small_task(1.0)
    origin = task.evaluation_origins()[-1]
    table = tables[1.0].set_index("target")
    for target in task.targets:
        corr, scale = _by_hand(small_frame(1.0), task.sources, target, origin)
        assert table.loc[target, "season_corr"] == pytest.approx(corr, rel=1e-6)
        assert table.loc[target, "scale_ratio"] == pytest.approx(scale, rel=1e-6)


def test_source_profile_is_a_mean_of_indices_around_one():
    from transfercast.forecasting import OriginTables
    from transfercast.similarity import source_profiles

    task = small_task(1.0)
    tables = OriginTables(task, task.at_origin(task.evaluation_origins()[-1]), task.features)
    profile, _ = source_profiles(tables)
    assert profile.mean() == pytest.approx(1.0, abs=0.1)


def test_a_horizon_trough_below_the_seen_range_is_unseen_and_its_gap_is_relative(
    monkeypatch,
):
    import transfercast.similarity as sim
    from transfercast.forecasting import OriginTables

    task = small_task(1.0)
    origin = task.evaluation_origins()[-1]
    tables = OriginTables(task, task.at_origin(origin), task.features)
    future = pd.date_range(origin, periods=9, freq="W-FRI")[1:]
    weeks = future.isocalendar().week.to_numpy()
    profile = pd.Series(1.0, index=np.arange(1, 54))
    profile[weeks] = 0.5  # the horizon sells half of anything the target has seen
    monkeypatch.setattr(sim, "source_profiles", lambda tables: (profile, [1.0]))
    season = sim.horizon_season(tables, "S06", 0.1)
    assert season["unseen"] and season["gap"] == pytest.approx(1.0)


def test_season_shown_needs_twice_the_tolerance_and_defaults_to_true():
    from transfercast.similarity import season_shown

    assert not season_shown({"seen_range": (1.0, 1.15)}, 0.1)
    assert season_shown({"seen_range": (1.0, 1.25)}, 0.1)
    assert season_shown({"unseen": False, "gap": 0.0}, 0.1)


def test_the_drift_columns_summarise_the_feature_drift_of_the_matched_rows(tables):

    from transfercast.forecasting import OriginTables
    from transfercast.similarity import feature_drift, matched_source

    task = small_task(1.0)
    t = OriginTables(task, task.at_origin(task.evaluation_origins()[-1]), task.features)
    table = tables[1.0].set_index("target")
    for target in task.targets:
        exclude = [*t.builder.known, *t.builder.static_numeric]
        drift = feature_drift(matched_source(t, target), t.target(target), exclude)
        assert "ratio" in set(drift["feature"])
        row = table.loc[target]
        assert row["psi_mean"] == pytest.approx(drift["psi"].mean())
        assert row["psi_max"] == pytest.approx(drift["psi"].max())
        assert row["ks_mean"] == pytest.approx(drift["ks"].mean())
        assert row["ks_max"] == pytest.approx(drift["ks"].max())
        assert row["drift_feature"] == drift.loc[drift["psi"].idxmax(), "feature"]
        assert not set(t.builder.known) & set(drift["feature"])


def test_season_corr_needs_eight_periods():
    from transfercast.similarity import similarity

    task = small_task(1.0, target_history=7)
    with pytest.warns(UserWarning, match="too young for season_corr"):
        table = similarity(task, task.evaluation_origins()[-1])
    assert table["season_corr"].isna().all()


def test_source_rows_cover_every_anchor_date_of_the_target():
    from transfercast.forecasting import OriginTables
    from transfercast.similarity import _frames

    task = small_task(1.0)
    t = OriginTables(task, task.at_origin(task.evaluation_origins()[-1]), task.features)
    s, tg = _frames(t.source, t.target("S06"))
    assert set(tg["_anchor"]) <= set(s["_anchor"])


def test_daily_season_corr_needs_eight_weeks_not_eight_days():
    from transfercast.similarity import similarity

    from .test_frequencies import task_at

    task = task_at("daily")  # 21 days of target history: 3 or 4 ISO weeks
    with pytest.warns(UserWarning, match=r"too young for season_corr \(needs 8 weeks\)"):
        table = similarity(task, task.evaluation_origins()[-1])
    assert (table["target_periods"] >= 8).all() and table["season_corr"].isna().all()


def test_matched_source_rows_count_the_same_history_as_the_targets():
    from transfercast.forecasting import OriginTables
    from transfercast.similarity import matched_source

    task = small_task(1.0)
    t = OriginTables(task, task.at_origin(task.evaluation_origins()[-1]), task.features)
    target, matched = t.target("S06"), matched_source(t, "S06")
    assert matched.X["n_obs"].max() == target.X["n_obs"].max()
    assert matched.X["n_obs"].min() == target.X["n_obs"].min()


def test_the_regime_level_ratio_reads_the_old_regimes_year_before_the_change():
    from transfercast.similarity import similarity

    from .test_regime import START, changed_frame, regime_task

    frame = changed_frame("level", 0.0)
    task = regime_task(frame)
    origin = task.forecast_origin()
    table = similarity(task, origin).set_index("target")
    dates = pd.to_datetime(frame["date"])
    for target in table.index:
        tot = frame[frame["store"] == target].groupby(dates)["sales"].sum()
        new = tot[(tot.index >= START) & (tot.index <= origin)]
        old = tot[(tot.index < START) & (tot.index >= pd.Timestamp(START) - pd.DateOffset(years=1))]
        weeks = lambda s: s.index.isocalendar().week  # noqa: E731
        old, new = old[weeks(old).isin(weeks(new))], new[weeks(new).isin(weeks(old))]
        expected = new.mean() / old.mean()
        assert table.loc[target, "regime_level_ratio"] == pytest.approx(expected, rel=1e-6)


def test_shared_features_keep_a_feature_constant_on_one_side_only():
    """A feature constant in the target (a promotion a young target never ran) but varying in
    the sources is drift the diagnostics must see; one constant on both sides, one too rarely
    observed, a categorical column and a missing one are left out."""
    from transfercast.features import FeatureTable
    from transfercast.similarity import shared_features

    def table(**cols):
        X = pd.DataFrame(cols)
        n = len(X)
        keys = pd.DataFrame({"anchor": pd.date_range("2021-01-01", periods=n, freq="W-FRI")})
        return FeatureTable(X=X, y=np.ones(n), keys=keys, level=np.ones(n), categorical=["dept"])

    n = 12
    varying = np.arange(n, dtype=float)
    source = table(
        promo=varying % 2,
        flat=np.ones(n),
        rare=np.r_[varying[:9], [np.nan] * 3],
        dept=np.zeros(n),
        lag_ratio_1=varying,
    )
    target = table(promo=np.zeros(n), flat=np.ones(n), rare=varying, dept=np.ones(n))
    assert shared_features(source, target) == ["promo"]


def test_an_origin_off_the_grid_is_named_so_and_one_plugin_module_is_one_module():
    """``similarity`` checks its origin as ``compare`` does (a date a day off the weekly grid
    read as "outside the data"), and takes one plugin module name as ``compare`` does (it
    loaded each of its letters)."""
    task = small_task(1.0)
    origin = task.evaluation_origins()[-1]
    with pytest.raises(
        DataError,
        match=rf"^origin {(origin + pd.Timedelta(days=1)).date()} is "
        r"not on the 'W-FRI' grid",
    ):
        similarity(task, origin + pd.Timedelta(days=1))
    named = similarity(task, origin, targets=["S06"], plugins="transfercast.plugins.baselines")
    plain = similarity(task, origin, targets=["S06"])
    pd.testing.assert_frame_equal(named, plain)


def test_a_target_copied_from_a_source_shows_no_drift_in_a_shared_calendar_covariate():
    """T01 is S01's last 30 weeks: the holiday flag, the same in every store, drifts by
    nothing (before: PSI 1.03, the sources' *_delta read weeks the target's cut hides)."""
    from transfercast.datasets import synthetic_sales
    from transfercast.forecasting import OriginTables
    from transfercast.similarity import feature_drift, matched_source

    sales = synthetic_sales(
        n_domains=6, series_per_domain=2, n_periods=120, n_targets=2, target_periods=30, seed=1
    )
    src = sales[~sales["store"].isin(sales.attrs["targets"])]
    last = sorted(src["date"].unique())[-30:]
    copy = src[(src["store"] == "S01") & src["date"].isin(last)].assign(store="T01")
    task = transfercast.TransferTask(
        pd.concat([src, copy], ignore_index=True), series=["store", "dept"], time="date",
        target="sales", domain="store", targets=["T01"], horizon=8, target_history=13,
        known=["is_holiday"],
    )  # fmt: skip
    tables = OriginTables(task, task.at_origin(task.forecast_origin()), task.features)
    drift = feature_drift(matched_source(tables, "T01"), tables.target("T01"), exclude=[])
    assert drift.set_index("feature").loc["is_holiday_delta", "psi"] == pytest.approx(0, abs=1e-9)


def test_a_gap_in_a_source_series_is_no_season_of_its_domain():
    """Flat sales with no season; one department of every source store has no rows in weeks
    40-52 of a year: those weeks hold no total, not totals a fifth lower (before: a season
    the target's horizon "never showed", season_gap 0.29)."""
    rng = np.random.default_rng(0)
    dates = pd.date_range("2019-01-04", periods=156, freq="W-FRI")
    frame = pd.DataFrame(
        [
            (store, dept, d, 100 * (1 + 0.02 * rng.standard_normal()))
            for store in ["S1", "S2", "S3", "S4", "T1"]
            for dept in ["D1", "D2"]
            for k, d in enumerate(dates)
            if store != "T1" or k >= 156 - 30
        ],
        columns=["store", "dept", "date", "sales"],
    )
    week = frame["date"].dt.isocalendar().week
    gap = (frame["store"] != "T1") & (frame["dept"] == "D2") & (frame["date"].dt.year == 2019)
    task = transfercast.TransferTask(
        frame[~(gap & week.between(40, 52))], series=["store", "dept"], time="date",
        target="sales", domain="store", targets=["T1"], horizon=13, target_history=13,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = similarity(task, dates[-14])
    assert not sim["season_unseen"].iloc[0] and sim["season_gap"].iloc[0] < 0.01
    assert sim["scale_ratio"].iloc[0] == pytest.approx(1.0, abs=0.01)


def test_a_target_too_young_for_the_domain_classifier_to_split_has_no_auc():
    """Six weeks of two series: each fold trains on 10-20 rows, under the 20 a leaf needs, so
    every fold predicted its prior and the AUC was exactly 0.5, "indistinguishable", even for
    a target whose sales jump 100-fold every other week."""
    from transfercast.config import parse_config
    from transfercast.data import DataWarning
    from transfercast.datasets import synthetic_sales

    frame = synthetic_sales(n_domains=6, series_per_domain=2, n_periods=120, n_targets=2,
                            target_periods=10, relatedness=0.0)  # fmt: skip
    wild = frame["store"].isin(frame.attrs["targets"])
    frame.loc[wild, "sales"] = np.where(np.arange(wild.sum()) % 2 == 0, 500.0, 50000.0)
    raw = synthetic_config("x.csv", frame.attrs["targets"], horizon=4, target_history=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task = transfercast.TransferTask.from_config(parse_config(raw), data=frame)
    with pytest.warns(DataWarning, match=r"'S05', 'S06' too young for domain_auc \(too few rows "
                      r"for its classifier to tell the target's from the sources'\)"):  # fmt: skip
        table = similarity(task, task.evaluation_origins()[-1])
    assert table["domain_auc"].isna().all()
    assert table["ks_max"].notna().all()  # the other drift measures stand
