"""Scale-out on Dask: compare on a LocalCluster gives exactly the local scores and forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import small_frame
from transfercast.config import parse_config
from transfercast.datasets import synthetic_config
from transfercast.distributed import dask_client, dask_executor, executor_for
from transfercast.errors import ConfigError
from transfercast.evaluation import compare
from transfercast.task import TransferTask

pytest.importorskip("distributed")  # the dask extra

STRATEGIES = ["target_only", "source_only"]
METRIC_COLUMNS = [
    "target",
    "strategy",
    "origin",
    "wape",
    "mae",
    "rmse",
    "mase",
    "rmsse",
    "bias",
    "status",
]


def _task() -> TransferTask:
    frame = small_frame()
    raw = synthetic_config(
        "unused.csv", frame.attrs["targets"], horizon=8, target_history=13, windows=1
    )
    return TransferTask.from_config(parse_config(raw), data=frame)


@pytest.fixture(scope="module")
def local():
    """The reference: the same comparison run serially in this process."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRANSFERCAST_THREADS", "1")
        return compare(_task(), STRATEGIES)


@pytest.fixture(scope="module")
def process_client():
    """One Dask worker in another process, shared by the tests that cross that boundary."""
    with dask_client(n_workers=1, threads_per_worker=1, processes=True) as client:
        yield client


def _same(a, b) -> None:
    pd.testing.assert_frame_equal(
        a.scores[METRIC_COLUMNS].reset_index(drop=True),
        b.scores[METRIC_COLUMNS].reset_index(drop=True),
    )
    key = ["strategy", "origin", "unique_id", "ds"]
    fa = a.forecasts.sort_values(key).reset_index(drop=True)
    fb = b.forecasts.sort_values(key).reset_index(drop=True)
    np.testing.assert_allclose(fa["forecast"], fb["forecast"], rtol=1e-12)


def test_threads_local_cluster_equals_local(local, monkeypatch):
    monkeypatch.setenv("TRANSFERCAST_THREADS", "1")
    with dask_client(n_workers=1, threads_per_worker=2) as client:
        comp = compare(_task(), STRATEGIES, executor=dask_executor(client))
    assert (comp.scores["status"] == "ok").all()
    _same(local, comp)
    assert comp.source_fits == local.source_fits == 1  # fitted once on the client, shared


def test_process_worker_equals_local(local, process_client, monkeypatch):
    """A worker in another process: the shared tables, source model and fitted strategies
    cross a serialisation boundary and the scores are still identical."""
    monkeypatch.setenv("TRANSFERCAST_THREADS", "1")
    comp = compare(_task(), STRATEGIES, executor=dask_executor(process_client))
    _same(local, comp)


def test_auto_and_its_replays_come_back_from_a_process_worker(process_client, monkeypatch):
    """``auto`` (whose fitted members hold the worker's tables) crosses back, and the replays
    made on the worker reach ``replays.csv`` as in a local run."""
    monkeypatch.setenv("TRANSFERCAST_THREADS", "1")
    small = {"source_params": {"num_boost_round": 20}}
    auto = {"candidates": ["source_only", "target_only"], "strategies": {"source_only": small}}
    kw = dict(params={"source_only": small, "auto": auto}, quantiles=[0.1, 0.9])
    here = compare(_task(), ["source_only", "auto"], **kw)
    there = compare(_task(), ["source_only", "auto"], executor=dask_executor(process_client), **kw)
    assert (there.scores["status"] == "ok").all()
    _same(here, there)
    assert len(here.replays) and set(here.replays["candidate"]) >= {"source_only", "target_only"}
    pd.testing.assert_frame_equal(
        there.replays.drop(columns="fit_seconds"), here.replays.drop(columns="fit_seconds")
    )


def test_execution_config_dask_backend(local, monkeypatch):
    """``[execution] backend = "dask"`` (no address: a LocalCluster) gives the local scores."""
    monkeypatch.setenv("TRANSFERCAST_THREADS", "1")
    raw = synthetic_config()
    raw["execution"] = {"backend": "dask", "jobs": 2}
    cfg = parse_config(raw)
    with executor_for(cfg.execution) as executor:
        assert executor is not None
        comp = compare(_task(), STRATEGIES, executor=executor)
    _same(local, comp)


def test_local_backend_yields_no_executor():
    cfg = parse_config(synthetic_config())
    with executor_for(cfg.execution) as ex:
        assert ex is None


def test_unreachable_scheduler_is_a_config_error():
    with pytest.raises(ConfigError, match=r"\[execution\] address"):
        with dask_client("tcp://127.0.0.1:9", timeout="1s"):
            pass
    with pytest.raises(ConfigError, match=r"\[execution\] address 'notaurl': cannot reach"):
        with dask_client("notaurl", timeout="1s"):  # no port: dask's ValueError
            pass


def test_an_address_selects_dask_and_refuses_the_local_backend():
    raw = synthetic_config()
    raw["execution"] = {"address": "tcp://127.0.0.1:9"}
    assert parse_config(raw).execution.backend == "dask"
    raw["execution"]["backend"] = "local"
    with pytest.raises(ConfigError, match=r"address 'tcp://127.0.0.1:9' is a Dask scheduler's, "):
        parse_config(raw)


def test_forecaster_fit_on_dask_equals_local(process_client, monkeypatch):
    """`run`'s per-target work on a Dask worker process gives the local forecasts."""
    from transfercast.forecaster import TransferForecaster

    monkeypatch.setenv("TRANSFERCAST_THREADS", "1")
    task = _task()
    want = TransferForecaster("source_only").fit(task).predict()
    ex = dask_executor(process_client)
    got = TransferForecaster("source_only").fit(task, executor=ex).predict()
    pd.testing.assert_frame_equal(want, got)


def test_the_dask_executor_hands_each_cell_on_in_order_before_a_later_one_fails():
    """Cells finished before a failing one reach the caller first (compare stores them, so an
    interrupted or stopped run keeps them), and the results keep the order of the cells."""

    def run(cell):
        if cell == 3:
            raise ConfigError("cell 3 stops the run")
        return cell * 10

    got = []
    with dask_client(threads_per_worker=1) as client:
        with pytest.raises(ConfigError, match="cell 3 stops the run"):
            for out in dask_executor(client)(run, [1, 2, 3, 4]):
                got.append(out)
        assert list(dask_executor(client)(run, [2, 1, 4])) == [20, 10, 40]
    assert got == [10, 20]


def test_dask_cells_read_the_plugins_of_their_call_not_those_another_thread_loaded_last():
    """Dask's threads do not run in the caller's context: a cell read the manager of whichever
    get_plugin_manager call ran last in the process (auto's plugin candidate was then unknown
    and the whole compare stopped)."""
    import threading
    import types

    from transfercast.plugin_manager import (
        active_manager,
        clear_plugin_cache,
        get_plugin_manager,
        register_module,
    )

    register_module(types.ModuleType("rv43_empty_plugin"), "rv43_empty_plugin")
    try:
        with dask_client(threads_per_worker=1) as client:  # its threads: before the call
            get_plugin_manager(["rv43_empty_plugin"])  # this call's manager
            other = threading.Thread(target=get_plugin_manager)  # another thread's, made last
            other.start()
            other.join()
            got = list(dask_executor(client)(lambda cell: active_manager().modules, [1, 2]))
        assert got == [("rv43_empty_plugin",)] * 2
    finally:
        clear_plugin_cache()


def test_a_calls_warnings_raised_in_its_dask_cells_are_gathered_as_its_own():
    """Dask copies a task's arguments and runs it outside the caller's context: a comparison's
    warning was said once per cell (6 for 6) instead of once."""
    import warnings

    from transfercast.process_state import gathered_warnings

    def run(cell):
        warnings.warn(f"cell {cell}", UserWarning, stacklevel=1)
        return cell

    with dask_client(threads_per_worker=1) as client:
        with warnings.catch_warnings(record=True) as shown:
            warnings.simplefilter("always")
            with gathered_warnings() as said:
                assert list(dask_executor(client)(run, [1, 2])) == [1, 2]
    assert sorted(str(w.message) for w in said) == ["cell 1", "cell 2"]
    assert not [w for w in shown if str(w.message).startswith("cell")]


def test_the_jobs_option_of_compare_sets_the_dask_clusters_threads(tmp_path, monkeypatch):
    """``compare --jobs N`` with ``backend = "dask"`` is the LocalCluster's threads per worker,
    as ``[execution] jobs`` is (it was dropped there)."""
    import contextlib

    from transfercast import distributed
    from transfercast.cli import to_toml

    from .clirun import invoke
    from .conftest import small_project

    seen = []

    @contextlib.contextmanager
    def recording(execution):
        seen.append((execution.backend, execution.jobs))
        yield None  # the cells then run locally: only the settings are under test

    monkeypatch.setattr(distributed, "executor_for", recording)
    raw = small_project(tmp_path, windows=1, output_dir="out")
    raw["execution"] = {"backend": "dask", "jobs": 1}
    (tmp_path / "config.toml").write_text(to_toml(raw))
    res = invoke("compare", tmp_path / "config.toml", "--strategies", "target_only", "--jobs", "3")
    assert res.code == 0, res.err
    assert seen == [("dask", 3)]


def test_all_but_one_core_means_that_with_the_dask_backend_too(monkeypatch):
    """``[execution] jobs = -2`` with Dask's local cluster: all cores but one per worker, as
    with the local backend (before: every core, the cluster's default)."""
    import contextlib
    import os
    from types import SimpleNamespace

    import transfercast.distributed as distributed

    asked = []

    @contextlib.contextmanager
    def client(address, threads_per_worker=None):
        asked.append(threads_per_worker)
        yield None

    monkeypatch.setattr(distributed, "dask_client", client)
    monkeypatch.setattr(distributed, "dask_executor", lambda c: None)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    for jobs in (-2, -1, 2):
        with distributed.executor_for(SimpleNamespace(backend="dask", jobs=jobs, address=None)):
            pass
    assert asked == [3, 4, 2]
