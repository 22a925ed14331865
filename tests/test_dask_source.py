"""Sources larger than memory: the source model fitted on a Parquet dataset with Dask equals the
in-memory one, and source_only / recalibrate / boost_continue forecast from it."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tests.conftest import small_frame
from transfercast.bundle import load_bundle, predict_bundle, write_bundle
from transfercast.config import parse_config
from transfercast.dask_source import (
    KEYS,
    LABEL,
    WEIGHT,
    fit_source_dask,
    forecast_with_source,
    source_rows_dask,
)
from transfercast.datasets import synthetic_config
from transfercast.engines import GBM
from transfercast.errors import ConfigError, DataError
from transfercast.forecaster import TransferForecaster
from transfercast.forecasting import OriginTables
from transfercast.plugin_manager import get_plugin_manager
from transfercast.task import TransferTask

distributed = pytest.importorskip("distributed")
pytest.importorskip("dask.dataframe")

# On one worker the Dask fit sees the same rows, in the same order, with the same parameters as
# the in-memory fit, so it grows the same trees. The only numeric difference allowed is in the
# weights: their normalising mean is summed partition by partition (last-bit differences).
# XGBoost predicts in float32, hence its looser tolerance.
RTOL = {"lightgbm": 1e-9, "xgboost": 1e-6}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """In-memory fits with one thread, as the Dask worker's."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRANSFERCAST_THREADS", "1")
        yield


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def setup():
    """The whole data set in memory (the reference) and the targets-only task for Dask."""
    frame = small_frame()
    targets = frame.attrs["targets"]
    cfg = parse_config(
        synthetic_config("unused.csv", targets, horizon=8, target_history=13, windows=2)
    )
    full = TransferTask.from_config(cfg, data=frame)
    only_targets = frame[frame["store"].isin(targets)]
    task = TransferTask.from_config(cfg, data=only_targets, require_sources=False)
    origin = full.evaluation_origins()[-1]
    tables = OriginTables(full, full.at_origin(origin), full.features)
    return {
        "frame": frame,
        "only_targets": only_targets,
        "full": full,
        "task": task,
        "origin": origin,
        "tables": tables,
    }


@pytest.fixture(scope="module")
def datasets(setup, tmp_path_factory):
    """The sources as Parquet, in two layouts: split by time (every series in every file, rows
    shuffled: Dask must shuffle) and split by store (already one series per partition). Both
    also hold the target domains' rows, which must be ignored."""
    frame, targets = setup["frame"], setup["frame"].attrs["targets"]
    root = tmp_path_factory.mktemp("sources")
    src, tgt = frame[~frame["store"].isin(targets)], frame[frame["store"].isin(targets)]
    by_time = root / "by_time"
    by_time.mkdir()
    for k, dates in enumerate(np.array_split(np.sort(src["date"].unique()), 3)):
        part = src[src["date"].isin(dates)].sample(frac=1.0, random_state=k)
        part.to_parquet(by_time / f"part{k}.parquet", index=False)
    tgt.to_parquet(by_time / "part9.parquet", index=False)
    by_store = root / "by_store"
    by_store.mkdir()
    for k, (_, part) in enumerate(src.groupby("store", sort=True)):
        part.to_parquet(by_store / f"part{k}.parquet", index=False)
    tgt.to_parquet(by_store / "part9.parquet", index=False)
    return {"by_time": by_time, "by_store": by_store}


def _reference(table) -> pd.DataFrame:
    out = table.X.copy()
    out[LABEL], out[WEIGHT] = table.y, table.weight
    out[KEYS[0]] = table.keys["unique_id"].to_numpy(object)
    out[KEYS[1]] = table.keys["anchor"].to_numpy()
    return out


@pytest.mark.parametrize("layout", ["by_time", "by_store"])
def test_rows_equal_the_in_memory_source_table(setup, datasets, client, layout):
    if layout == "by_time":  # the precondition: every file holds a piece of every series
        files = sorted(datasets[layout].glob("part[0-2].parquet"))
        ids = [set(map(tuple, pd.read_parquet(f)[["store", "dept"]].to_numpy())) for f in files]
        assert ids[0] == ids[1] == ids[2]
    rows = source_rows_dask(setup["task"], datasets[layout], setup["origin"], client)
    ref = setup["tables"].source
    assert rows.columns == list(ref.X.columns)
    assert rows.categorical == ref.categorical
    got = rows.frame.compute()
    # every series in exactly one partition
    per_part = rows.frame[KEYS[0]].map_partitions(lambda s: pd.Series(s.unique())).compute()
    assert not per_part.duplicated().any()
    expected = _reference(ref)
    assert len(got) == len(expected)
    # same rows in the same order (the order matters to LightGBM's bagging)
    np.testing.assert_array_equal(got[KEYS[0]].astype(object), expected[KEYS[0]])
    np.testing.assert_array_equal(got[KEYS[1]], expected[KEYS[1]])
    key = [KEYS[0], KEYS[1], "h"]
    got = got[list(expected.columns)].sort_values(key).reset_index(drop=True)
    expected = expected.sort_values(key).reset_index(drop=True)
    for col in ref.X.columns:
        if col in ref.categorical:  # same vocabulary, same codes
            assert got[col].dtype == expected[col].dtype
            np.testing.assert_array_equal(got[col].cat.codes, expected[col].cat.codes)
        else:
            np.testing.assert_array_equal(got[col].to_numpy(float), expected[col], err_msg=col)
    np.testing.assert_array_equal(got[LABEL], expected[LABEL])
    np.testing.assert_allclose(got[WEIGHT], expected[WEIGHT], rtol=1e-12)


@pytest.fixture(scope="module")
def lgb_model(setup, datasets, client):
    return fit_source_dask(
        "source_only", setup["task"], datasets["by_time"], setup["origin"], client
    )


@pytest.mark.parametrize("engine", ["lightgbm", "xgboost"])
def test_source_model_equals_the_in_memory_one(setup, datasets, client, lgb_model, engine):
    strategy = get_plugin_manager().registry.create("source_only", {"engine": engine})
    model = (
        lgb_model
        if engine == "lightgbm"
        else fit_source_dask(strategy, setup["task"], datasets["by_time"], setup["origin"], client)
    )
    assert isinstance(model, GBM) and model.engine == engine
    reference = strategy.fit_source(setup["tables"].source)
    assert model.columns_ == reference.columns_
    for domain in setup["task"].targets:
        X = setup["tables"].target(domain).X
        np.testing.assert_allclose(
            model.predict(X), reference.predict(X), rtol=RTOL[engine], atol=1e-12
        )


@pytest.mark.parametrize("name", ["source_only", "recalibrate", "boost_continue"])
def test_strategies_forecast_from_the_dask_source_model(setup, lgb_model, name, tmp_path):
    forecaster = forecast_with_source(name, setup["task"], lgb_model)
    fc = forecaster.predict()
    assert len(fc) == 8 * 2 * len(setup["task"].targets)  # horizon x departments x stores
    assert np.isfinite(fc["forecast"]).all()
    reference = TransferForecaster(name).fit(setup["full"], setup["origin"]).predict()
    both = fc.merge(reference, on=["store", "dept", "date"], suffixes=("", "_ref"))
    assert len(both) == len(fc)
    np.testing.assert_allclose(both["forecast"], both["forecast_ref"], rtol=1e-9)
    if name == "boost_continue":  # the source trees are kept and continued
        fitted = next(iter(forecaster.fitted_.values()))
        first = fitted.parts_[0].model.booster_
        assert first.num_trees() >= lgb_model.booster_.num_trees()
    # the fitted forecaster saves as a bundle that forecasts the targets on its own
    bundle = write_bundle(forecaster, tmp_path / "bundle")
    again = predict_bundle(load_bundle(bundle), setup["only_targets"], origin=setup["origin"])
    np.testing.assert_allclose(
        again.sort_values(["store", "dept", "date"])["forecast"],
        fc.sort_values(["store", "dept", "date"])["forecast"],
        rtol=1e-9,
    )


@pytest.mark.parametrize("name", ["pooled", "representation", "target_only"])
def test_strategies_that_need_more_than_the_source_model_are_refused(setup, client, name):
    with pytest.raises(ConfigError, match=f"strategy '{name}' cannot use a source model"):
        fit_source_dask(name, setup["task"], "unused.parquet", setup["origin"], client)


def test_the_task_must_hold_the_targets_only(setup, datasets, client):
    with pytest.raises(ConfigError, match="target domains only"):
        fit_source_dask("source_only", setup["full"], datasets["by_time"], setup["origin"], client)


def test_the_strategy_must_ask_for_the_model_given(setup, lgb_model):
    with pytest.raises(ConfigError, match="another source model"):
        forecast_with_source(
            get_plugin_manager().registry.create("boost_continue", {"engine": "xgboost"}),
            setup["task"],
            lgb_model,
        )


def test_run_command_fits_the_source_model_from_a_parquet_dataset(datasets, tmp_path):
    """``[data] sources``: `transfercast run` reads the targets from ``path`` and fits the
    source model on a local Dask cluster; forecasts equal an in-memory run on all the data."""
    import shutil

    from tests.clirun import invoke
    from transfercast.cli import to_toml

    frame = small_frame()
    targets = frame.attrs["targets"]
    frame.to_csv(tmp_path / "all.csv", index=False)
    frame[frame["store"].isin(targets)].to_csv(tmp_path / "targets.csv", index=False)
    raw = synthetic_config("all.csv", targets, horizon=8, target_history=13, output_dir="mem")
    raw["strategy"] = {"name": "source_only"}
    raw["execution"] = {"jobs": 1}
    (tmp_path / "memory.toml").write_text(to_toml(raw))
    raw["data"].update(path="targets.csv", sources=str(datasets["by_store"]))
    raw["output"]["dir"] = "dask"
    (tmp_path / "dask.toml").write_text(to_toml(raw))

    mem_res = invoke("run", tmp_path / "memory.toml")
    assert mem_res.code == 0
    res = invoke("run", tmp_path / "dask.toml")
    assert res.code == 0, res.err
    assert "random open ports" not in res.out  # LightGBM's own print stays off the output
    # the same warnings as in memory: the horizon runs past the data without planned prices
    said = "known columns without a value at forecast periods of the target series"
    assert said in mem_res.err and said in res.err
    keys = ["store", "dept", "date"]
    mem = pd.read_csv(tmp_path / "mem" / "forecasts.csv").sort_values(keys)
    dsk = pd.read_csv(tmp_path / "dask" / "forecasts.csv").sort_values(keys)
    assert len(dsk) == len(mem) == 8 * 2 * len(targets)
    np.testing.assert_allclose(dsk["forecast"], mem["forecast"], rtol=1e-9)
    assert (tmp_path / "dask" / "model" / "manifest.json").exists()

    # compare needs the sources in memory: a one-line config error, exit status 2
    res = invoke("compare", tmp_path / "dask.toml")
    assert res.code == 2
    assert "[data] sources" in res.err and "Traceback" not in res.err
    raw["strategy"] = {"name": "pooled"}
    (tmp_path / "pooled.toml").write_text(to_toml(raw))
    res = invoke("run", tmp_path / "pooled.toml")
    assert res.code == 2 and "strategy 'pooled' cannot use a source model" in res.err
    # [data] repair = false holds for the sources dataset too: a negative sale stops the run
    negative = tmp_path / "negative"
    shutil.copytree(datasets["by_store"], negative)
    part = pd.read_parquet(negative / "part0.parquet")
    part.loc[part.index[3], "sales"] = -5.0
    part.to_parquet(negative / "part0.parquet", index=False)
    raw["strategy"] = {"name": "source_only"}
    raw["data"].update(sources=str(negative), repair=False)
    (tmp_path / "strict.toml").write_text(to_toml(raw))
    res = invoke("run", tmp_path / "strict.toml")
    assert res.code == 2 and "negative values" in res.err and "Traceback" not in res.err
    del raw["data"]["repair"]
    raw["data"]["sources"] = "missing.parquet"
    (tmp_path / "missing.toml").write_text(to_toml(raw))
    res = invoke("run", tmp_path / "missing.toml")
    assert res.code == 2 and "[data] sources" in res.err and "missing.parquet" in res.err


def test_a_sources_dataset_that_is_not_parquet_is_one_line_naming_it(datasets, tmp_path):
    """``[data] sources``: a folder without Parquet files, and one with a file that is not
    Parquet, stop `run` with exit status 2 and one line on stderr naming the folder (and the
    file), before anything is written; the Dask workers' own log records add no line."""
    import os
    import shutil
    import subprocess
    import sys

    from transfercast.cli import to_toml

    frame = small_frame()
    targets = frame.attrs["targets"]
    frame[frame["store"].isin(targets)].to_csv(tmp_path / "targets.csv", index=False)
    raw = synthetic_config("targets.csv", targets, horizon=8, target_history=13, output_dir="o")
    raw["strategy"] = {"name": "source_only"}
    raw["strategies"] = {"source_only": {"engine": "lightgbm"}}
    (tmp_path / "empty").mkdir()
    shutil.copytree(datasets["by_store"], tmp_path / "bad")
    victim = sorted((tmp_path / "bad").rglob("*.parquet"))[-1]
    victim.write_text("not parquet")
    cases = {
        "empty": "empty: cannot read it as a Parquet dataset: No files satisfy",
        "bad": f"bad: {victim.relative_to(tmp_path / 'bad').as_posix()} in it cannot be read "
        f"as Parquet: Parquet magic bytes not found",
    }
    for name, message in cases.items():
        raw["data"]["sources"] = name
        raw["output"]["dir"] = f"out_{name}"
        (tmp_path / f"{name}.toml").write_text(to_toml(raw))
        env = {**os.environ, "TRANSFERCAST_LOAD_PLUGINS": "", "TRANSFERCAST_THREADS": "1"}
        res = subprocess.run(
            [sys.executable, "-m", "transfercast.cli", "run", str(tmp_path / f"{name}.toml")],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        lines = [x for x in res.stderr.splitlines() if x and not x.startswith("warning:")]
        assert res.returncode == 2, res.stderr
        assert len(lines) == 1 and message in lines[0], res.stderr
        assert not (tmp_path / f"out_{name}").exists()


def test_a_column_with_values_only_after_the_horizon_is_left_out_as_in_memory(
    setup, client, tmp_path
):
    # sources whose promotions are known only after the first origin's horizon: at that origin
    # the column has no source value, so it is left out (in memory it is: the cut panel)
    frame, targets = setup["frame"], setup["frame"].attrs["targets"]
    origin = setup["full"].evaluation_origins()[0]
    src = frame[~frame["store"].isin(targets)].assign(promo=np.nan)
    later = pd.to_datetime(src["date"]) > origin + 8 * pd.offsets.Week(weekday=4)
    src.loc[later, "promo"] = 1.0
    src.to_parquet(tmp_path / "sources.parquet", index=False)
    rows = source_rows_dask(setup["task"], tmp_path / "sources.parquet", origin, client)
    assert "promo" not in rows.columns and "promo_delta" not in rows.columns
    assert "price" in rows.columns


def test_a_column_the_targets_have_only_after_the_horizon_is_left_out_as_in_memory(
    setup, datasets, client
):
    # the targets' promotions planned only after the first origin's horizon (before: the Dask
    # path read the targets' whole frame, kept the column and forecast up to 26 % apart)
    frame, targets = setup["only_targets"], setup["frame"].attrs["targets"]
    origin = setup["full"].evaluation_origins()[0]
    early = pd.to_datetime(frame["date"]) <= origin + 8 * pd.offsets.Week(weekday=4)
    frame = frame.assign(promo=frame["promo"].where(~early))
    cfg = parse_config(synthetic_config("u.csv", targets, horizon=8, target_history=13))
    task = TransferTask.from_config(cfg, data=frame, require_sources=False)
    rows = source_rows_dask(task, datasets["by_store"], origin, client)
    assert "promo" not in rows.columns and "price" in rows.columns


def test_a_partition_panel_on_the_global_grid_keeps_each_series_first_row(setup):
    # a partition's panel starts later than the global grid: its series' first rows move with it
    from transfercast.dask_source import _on_grid

    panel = setup["full"].panel
    times = pd.date_range(end=panel.times[-1], periods=len(panel.times) + 5, freq=panel.freq)
    wide = _on_grid(panel, times)
    np.testing.assert_array_equal(wide.times[wide.start], panel.times[panel.start])


def test_the_vocabulary_holds_a_category_only_the_targets_have(setup, datasets, client):
    """Codes equal the in-memory ones, whose vocabulary is over the source and the target
    series: a department only the targets sell (D3) is in it, as in memory."""
    from transfercast.dask_source import source_rows_dask as rows_of

    frame = setup["only_targets"].copy()
    frame["dept"] = frame["dept"].replace({"D2": "D3"})
    cfg = parse_config(synthetic_config(
        "unused.csv", setup["frame"].attrs["targets"], horizon=8, target_history=13, windows=2
    ))  # fmt: skip
    task = TransferTask.from_config(cfg, data=frame, require_sources=False)
    rows = rows_of(task, datasets["by_store"], setup["origin"], client)
    assert rows.builder.categories["dept"] == ["D1", "D2", "D3"]


def test_a_column_with_values_from_the_horizons_last_period_is_kept(setup, client, tmp_path):
    """The statistics pass reads up to the horizon's end inclusive, as the in-memory cut:
    promotions known from the last forecast period on are values at this origin."""
    from transfercast.dask_source import source_rows_dask as rows_of

    frame, targets = setup["frame"], setup["frame"].attrs["targets"]
    origin = setup["full"].evaluation_origins()[0]
    src = frame[~frame["store"].isin(targets)].assign(promo=np.nan)
    src.loc[pd.to_datetime(src["date"]) >= origin + 8 * pd.offsets.Week(weekday=4), "promo"] = 1.0
    src.to_parquet(tmp_path / "sources.parquet", index=False)
    rows = rows_of(setup["task"], tmp_path / "sources.parquet", origin, client)
    assert "promo" in rows.columns


def test_a_category_first_sold_at_the_origin_is_in_the_vocabulary_as_in_memory(
    setup, client, tmp_path
):
    """The vocabulary is over the series observed up to the origin inclusive: a source
    department whose one sale is at the origin (D9) has a code, as in memory."""
    from transfercast.dask_source import source_rows_dask as rows_of

    frame, targets, origin = setup["frame"], setup["frame"].attrs["targets"], setup["origin"]
    src = frame[~frame["store"].isin(targets)]
    one = (src["store"] == src["store"].iloc[0]) & (src["dept"] == "D1")
    new = src[one & (pd.to_datetime(src["date"]) == origin)].assign(dept="D9")
    pd.concat([src, new]).to_parquet(tmp_path / "sources.parquet", index=False)
    rows = rows_of(setup["task"], tmp_path / "sources.parquet", origin, client)
    full = TransferTask.from_config(
        parse_config(synthetic_config("u.csv", targets, horizon=8, target_history=13, windows=2)),
        data=pd.concat([frame, new], ignore_index=True),
    )
    memory = OriginTables(full, full.at_origin(origin), full.features).builder.categories
    assert "D9" in memory["dept"]
    assert rows.builder.categories["dept"] == memory["dept"]


def test_a_series_split_across_two_sorted_files_is_gathered_into_one_partition(
    setup, client, tmp_path
):
    """Files sorted by series whose boundary cuts one series in two (the first file ends
    with the first half of S02|D1, the second starts with its second half) still give every
    series in one partition, and the in-memory rows."""
    from transfercast.dask_source import KEYS
    from transfercast.dask_source import source_rows_dask as rows_of

    frame, targets = setup["frame"], setup["frame"].attrs["targets"]
    src = frame[~frame["store"].isin(targets)].sort_values(["store", "dept", "date"])
    src = src.reset_index(drop=True)
    split = src.index[(src["store"] == "S02") & (src["dept"] == "D1")][30]
    (tmp_path / "ds").mkdir()
    src.iloc[:split].to_parquet(tmp_path / "ds" / "part0.parquet", index=False)
    src.iloc[split:].to_parquet(tmp_path / "ds" / "part1.parquet", index=False)
    rows = rows_of(setup["task"], tmp_path / "ds", setup["origin"], client)
    per_part = rows.frame[KEYS[0]].map_partitions(lambda s: pd.Series(s.unique())).compute()
    assert not per_part.duplicated().any()
    assert len(rows.frame.compute()) == len(setup["tables"].source.y)


def test_a_column_without_values_in_the_targets_is_left_out_as_in_memory(setup, datasets, client):
    """A known covariate the target domains never have (all NaN there) is dropped with a
    warning, as the in-memory task drops it, though the sources have it."""
    from transfercast.dask_source import source_rows_dask as rows_of
    from transfercast.data import DataWarning

    frame = setup["only_targets"].assign(price=np.nan)
    cfg = parse_config(synthetic_config(
        "u.csv", setup["frame"].attrs["targets"], horizon=8, target_history=13, windows=2
    ))  # fmt: skip
    task = TransferTask.from_config(cfg, data=frame, require_sources=False)
    with pytest.warns(DataWarning, match="column 'price' has no values"):
        rows = rows_of(task, datasets["by_store"], setup["origin"], client)
    assert "price" not in rows.columns and "promo" in rows.columns


def test_forecast_with_source_refuses_an_origin_before_the_source_models(setup, lgb_model):
    """The source model saw the sales after an earlier origin: forecasting from it leaks."""
    from transfercast.dask_source import forecast_with_source

    early = setup["origin"] - pd.offsets.Week(1, weekday=4)
    with pytest.raises(DataError, match="before the source model's origin"):
        forecast_with_source("source_only", setup["task"], lgb_model, origin=early)


def test_forecast_with_source_reads_the_targets_with_the_source_models_codes(setup, lgb_model):
    """Target rows are coded with the source model's vocabularies, not with those of the
    target data alone (here the targets sell department D1 only: D1 must keep D1's code and
    the target tables must know D2 as the source model does)."""
    from transfercast.dask_source import forecast_with_source

    frame = setup["only_targets"]
    frame = frame[frame["dept"] == "D1"]
    cfg = parse_config(synthetic_config(
        "u.csv", setup["frame"].attrs["targets"], horizon=8, target_history=13, windows=2
    ))  # fmt: skip
    task = TransferTask.from_config(cfg, data=frame, require_sources=False)
    forecaster = forecast_with_source("source_only", task, lgb_model)
    assert forecaster.tables_.builder.categories == lgb_model.categories_


def test_the_strategy_must_ask_for_the_source_params_of_the_model_given(setup, lgb_model):
    """Same engine and seed, other source_params: another source model, refused."""
    from transfercast.dask_source import forecast_with_source

    other = get_plugin_manager().registry.create(
        "boost_continue", {"source_params": {"num_boost_round": 7}}
    )
    with pytest.raises(ConfigError, match="another source model"):
        forecast_with_source(other, setup["task"], lgb_model)


def test_rows_equal_the_in_memory_ones_when_the_targets_started_before_the_sources(
    client, tmp_path
):
    """Source rows equal the in-memory ones when the sources' files begin 20 weeks after the
    targets' rows (the global grid then starts with the targets)."""
    frame = small_frame()
    targets = frame.attrs["targets"]
    late = pd.to_datetime(frame["date"]) < pd.to_datetime(frame["date"]).min() + pd.Timedelta(
        weeks=20
    )
    frame = frame[frame["store"].isin(targets) | ~late].reset_index(drop=True)
    cfg = parse_config(
        synthetic_config("unused.csv", targets, horizon=8, target_history=13, windows=2)
    )
    full = TransferTask.from_config(cfg, data=frame)
    origin = full.evaluation_origins()[-1]
    ref = OriginTables(full, full.at_origin(origin), full.features).source
    only = TransferTask.from_config(
        cfg, data=frame[frame["store"].isin(targets)], require_sources=False
    )
    frame[~frame["store"].isin(targets)].to_parquet(tmp_path / "part0.parquet", index=False)
    got = source_rows_dask(only, tmp_path, origin, client).frame.compute()
    expected = _reference(ref)
    assert len(got) == len(expected)
    np.testing.assert_array_equal(got[KEYS[1]], expected[KEYS[1]])
    for col in ref.X.columns:
        if col not in ref.categorical:
            np.testing.assert_array_equal(got[col].to_numpy(float), expected[col], err_msg=col)


def test_run_with_sources_and_quantiles_is_one_line_and_writes_nothing(datasets, tmp_path):
    """``[data] sources`` with ``[forecast] quantiles``: the replays that calibrate quantiles
    need the source rows in memory, so `run` stops with one line and writes nothing."""
    from tests.clirun import invoke
    from transfercast.cli import to_toml

    frame = small_frame()
    targets = frame.attrs["targets"]
    frame[frame["store"].isin(targets)].to_csv(tmp_path / "targets.csv", index=False)
    raw = synthetic_config("targets.csv", targets, horizon=8, target_history=13, output_dir="o")
    raw["strategy"] = {"name": "source_only"}
    raw["data"]["sources"] = str(datasets["by_store"])
    raw["forecast"] = {"quantiles": [0.1, 0.9]}
    (tmp_path / "q.toml").write_text(to_toml(raw))
    res = invoke("run", tmp_path / "q.toml")
    lines = [x for x in res.err.splitlines() if x and not x.startswith("warning:")]
    assert res.code == 2 and len(lines) == 1, res.err
    assert "[forecast] quantiles cannot be combined with [data] sources yet" in lines[0]
    assert not (tmp_path / "o").exists()


def test_one_parquet_file_is_read_named_with_a_trailing_slash_and_a_missing_one_is_named(
    setup, tmp_path
):
    from transfercast.dask_source import _read

    frame, targets = setup["frame"], setup["frame"].attrs["targets"]
    path = tmp_path / "sources.parquet"
    frame[~frame["store"].isin(targets)].to_parquet(path, index=False)
    as_file = _read(path, setup["task"]).compute()
    as_folder = _read(f"{path}/", setup["task"]).compute()
    assert len(as_folder) == len(as_file) == (~frame["store"].isin(targets)).sum()
    with pytest.raises(DataError, match=r"^source data not found: .*nowhere\.parquet$"):
        _read(tmp_path / "nowhere.parquet", setup["task"])


@pytest.mark.parametrize("layout", ["one file per series", "split by time"])
def test_a_department_not_yet_open_in_some_stores_is_read_on_its_stores_scale(
    client, tmp_path, layout
):
    """A series that has sold nothing yet is read on the scale of its domain's selling series.
    Its domain's other series must then be in its partition: the rows are partitioned by
    domain, not series (by series id, a file per series gave it a scale of 1 sales unit and
    forecasts a thousand times too high; a time split, other scales)."""
    frame = small_frame()
    targets = frame.attrs["targets"]
    dates = np.sort(frame["date"].unique())
    late = (frame["dept"] == frame["dept"].max()) & (frame["date"] < dates[len(dates) // 2])
    frame.loc[late & ~frame["store"].isin(targets[:1]), "sales"] = 0.0  # opens half-way
    cfg = parse_config(synthetic_config("unused.csv", targets, horizon=8, target_history=13))
    full = TransferTask.from_config(cfg, data=frame)
    only = TransferTask.from_config(
        cfg, data=frame[frame["store"].isin(targets)], require_sources=False
    )
    origin = full.evaluation_origins()[-1]
    src = frame[~frame["store"].isin(targets)]
    if layout == "one file per series":
        parts = [p for _, p in src.groupby(["store", "dept"])]
    else:
        parts = [src[src["date"].isin(d)] for d in np.array_split(dates, 3)]
    for k, part in enumerate(parts):
        part.to_parquet(tmp_path / f"part{k:02d}.parquet", index=False)
    model = fit_source_dask("source_only", only, tmp_path, origin, client)
    got = forecast_with_source("source_only", only, model).predict()
    want = TransferForecaster("source_only").fit(full, origin).predict()
    both = got.merge(want, on=["store", "dept", "date"], suffixes=("", "_mem"))
    assert len(both) == len(got) == len(want)
    np.testing.assert_allclose(both["forecast"], both["forecast_mem"], rtol=RTOL["lightgbm"])


def test_a_target_series_not_yet_launched_is_refused_naming_it(setup, client):
    """Its level would come from the level model, fitted on the source series in memory."""
    frame, origin = setup["only_targets"], setup["origin"]
    store, dept = frame.attrs.get("targets", setup["task"].targets)[0], frame["dept"].max()
    new = (frame["store"] == store) & (frame["dept"] == dept) & (frame["date"] <= origin)
    cfg = parse_config(
        synthetic_config("unused.csv", setup["task"].targets, horizon=8, target_history=13)
    )
    task = TransferTask.from_config(cfg, data=frame[~new], require_sources=False)
    with pytest.raises(
        ConfigError,
        match=rf"^target series '{store}\|{dept}' of domain '{store}' has no sale up to the "
        r"origin \(not launched yet\): .*give the sources in \[data\] path",
    ):
        fit_source_dask("source_only", task, "unused.parquet", origin, client)


def test_a_file_without_a_column_the_others_have_is_named(setup, client, tmp_path):
    """The dataset's columns are its first file's: a later file without one was a KeyError in
    the workers (exit 1, no file named). A Hive partition key in the path is a column."""
    frame, targets = setup["frame"], setup["frame"].attrs["targets"]
    src = frame[~frame["store"].isin(targets)]
    for k, (store, part) in enumerate(src.groupby("store")):
        part = part.drop(columns="promo") if k == 2 else part
        (tmp_path / "flat").mkdir(exist_ok=True)
        part.to_parquet(tmp_path / "flat" / f"part{k}.parquet", index=False)
        (tmp_path / "hive" / f"store={store}").mkdir(parents=True)
        part.drop(columns="store").to_parquet(tmp_path / "hive" / f"store={store}" / "a.parquet")
    with pytest.raises(
        DataError, match=r"flat: part2\.parquet in it has no column 'promo', which others have$"
    ):
        source_rows_dask(setup["task"], tmp_path / "flat", setup["origin"], client)
    with pytest.raises(DataError, match=r"hive: store=S0\d/a\.parquet in it has no column 'promo'"):
        source_rows_dask(setup["task"], tmp_path / "hive", setup["origin"], client)


def test_the_partitions_data_warnings_are_said_once_with_the_datasets_counts(
    setup, client, tmp_path
):
    """Each partition repairs its rows; the warnings sum their counts (one line per kind, as
    in memory), not one line per partition with its own count."""
    frame, targets = setup["frame"], setup["frame"].attrs["targets"]
    src = frame[~frame["store"].isin(targets)].reset_index(drop=True)
    src.loc[[5, 300, 301, 450, 451, 452], "sales"] = -3.0
    for k, (_, part) in enumerate(src.groupby("store")):
        part.to_parquet(tmp_path / f"part{k}.parquet", index=False)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        source_rows_dask(setup["task"], tmp_path, setup["origin"], client)
    negative = [str(w.message) for w in said if "negative values" in str(w.message)]
    assert negative == [f"{tmp_path}: column 'sales': 6 negative values (returns) set to 0"]


def test_a_float_store_column_in_the_dataset_names_the_stores_as_in_memory(setup, client, tmp_path):
    """Stores 1 to 8 written as 1.0 ... 8.0 (a Parquet column that once held a NaN): the
    targets' rows are left out and the series come in the in-memory order (before: "5.0" was
    not target 5, and "10.0|" sorted before "1.0|"), so the rows equal those of int stores."""
    frame = setup["frame"].assign(store=setup["frame"]["store"].str[1:].astype(int))
    targets = [int(t[1:]) for t in setup["frame"].attrs["targets"]]
    frame.to_parquet(tmp_path / "int.parquet", index=False)
    frame.assign(store=frame["store"].astype(float)).to_parquet(tmp_path / "float.parquet")
    cfg = parse_config(synthetic_config("u.csv", targets, horizon=8, target_history=13))
    task = TransferTask.from_config(
        cfg, data=frame[frame["store"].isin(targets)], require_sources=False
    )
    rows = [
        source_rows_dask(task, tmp_path / f"{kind}.parquet", setup["origin"], client)
        .frame.compute()[KEYS[0]]
        .astype(str)
        .tolist()
        for kind in ("int", "float")
    ]
    assert rows[0] == rows[1] and not any(r.split("|")[0] in map(str, targets) for r in rows[1])


def test_summed_partition_warnings_sum_only_counts(setup, client, tmp_path):
    """Two stores' files each hold a spike 10,000 x their median and gaps: the dataset's
    warning sums the counts, keeps the threshold and the names as written, and leaves out a
    share of one file (before: "more than 20000 times", series 'S2|D1', 31 % of periods)."""
    frame, targets = setup["frame"], setup["frame"].attrs["targets"]
    src = frame[~frame["store"].isin(targets)].reset_index(drop=True)
    for store in ["S01", "S02"]:
        rows = src.index[(src["store"] == store) & (src["dept"] == "D1")]
        src.loc[rows[10], "sales"] = src.loc[rows, "sales"].median() * 2e4
        src = src.drop(rows[20:40])
    for k, (_, part) in enumerate(src.groupby("store")):
        part.to_parquet(tmp_path / f"part{k}.parquet", index=False)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        source_rows_dask(setup["task"], tmp_path, setup["origin"], client)
    texts = [str(w.message) for w in said]
    spikes = [t for t in texts if "times their series' median" in t]
    assert len(spikes) == 1 and "2 values more than 10000 times" in spikes[0], texts
    assert "for series 'S01|D1'" in spikes[0]
    gaps = [t for t in texts if "periods missing inside" in t]
    assert len(gaps) == 1 and "40 periods missing inside 2 series" in gaps[0], texts
    assert "%" not in gaps[0]


def test_partition_warnings_alike_but_for_one_files_share_are_one():
    """Two files' gap warnings, one with its share and the hint read on it: one warning, the
    counts summed, without that file's share (before: two warnings, one with 33 %)."""
    from transfercast.dask_source import _summed_warnings

    texts = [
        "d: column 'date': 4 periods missing inside 1 series (first: 'S01|D1') left as missing "
        "values (33% of the periods inside the series): if a missing period means no sale, "
        "write it with 0",
        "d: column 'date': 2 periods missing inside 1 series (first: 'S02|D1') left as missing "
        "values",
    ]
    stats = [{"warnings": [(UserWarning, t)]} for t in texts]
    assert _summed_warnings(stats, "d") == [
        (
            UserWarning,
            "d: column 'date': 6 periods missing inside 2 series (first: 'S01|D1') left as "
            "missing values",
        )
    ]
