"""One long-lived process (a notebook, a service): calls from several threads never leave
each other's process-wide state behind, and each call uses its own plugins."""

from __future__ import annotations

import concurrent.futures as cf
import os
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import pandas as pd
import pytest

import transfercast as tc
from transfercast.cli import to_toml
from transfercast.plugin_manager import clear_plugin_cache, get_plugin_manager

from .conftest import register_strategies, small_task


class _Warny(tc.Strategy):
    """The recent level; says which call it belongs to, after a pause."""

    name = "warny"

    class Params(tc.StrategyParams):
        tag: str = "x"
        sleep: float = 0.0

    needs_history = False

    def source_spec(self):
        return None

    def fine_tune(self, target, source):
        time.sleep(self.params.sleep)
        warnings.warn(f"warny says {self.params.tag}", UserWarning, stacklevel=1)

    def predict(self, table):
        return np.ones(len(table))


@pytest.fixture
def warny():
    yield register_strategies("tc_test_warny", _Warny)
    clear_plugin_cache()


def test_two_compares_in_threads_say_their_own_warnings_and_restore_the_state(warny):
    """The first compare to end restored the warning state it saw (the other's recorder):
    one call's warnings were lost, the other's said twice, and every later warning of the
    process went to a list nobody read. Now the call that holds the state says its own once
    and the other's pass through; nothing is lost and the state is the user's after."""
    task = small_task()
    tc.compare(task, ["naive", "warny"], plugins=[warny])  # libraries add filters on import
    seen: list[str] = []

    def hook(message, category, filename, lineno, file=None, line=None):
        seen.append(str(message))

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = hook
        filters = list(warnings.filters)

        def run(tag: str, sleep: float):
            params = {"warny": {"tag": tag, "sleep": sleep}}
            return tc.compare(task, ["naive", "warny"], params=params, plugins=[warny])

        with cf.ThreadPoolExecutor(2) as pool:
            first = pool.submit(run, "A", 0.02)
            time.sleep(0.3)
            second = pool.submit(run, "B", 0.5)
            first.result(), second.result()
        # A's said once; B's, raised while A held the warning state, as raised (once a cell)
        said = [m for m in seen if m.startswith("warny")]
        assert said.count("warny says A") == 1 and "warny says B" in said, said
        assert warnings.showwarning is hook and warnings.filters == filters
        warnings.warn("said after", UserWarning, stacklevel=1)
        assert seen[-1] == "said after"


def test_engine_probes_in_two_threads_leave_the_standard_streams(capfd):
    """Checking new LightGBM parameters silences stdout and stderr for a moment; two threads
    doing it at once restored each other's /dev/null for good."""
    stdout, fd1 = sys.stdout, os.fstat(1)
    registry = get_plugin_manager().registry

    def make(k: int) -> None:
        for i in range(40):
            registry.create("source_only", {"source_params": {"learning_rate": 0.01 + k + i / 1e4}})

    with cf.ThreadPoolExecutor(2) as pool:
        list(pool.map(make, [1, 2]))
    assert sys.stdout is stdout and os.path.samestat(os.fstat(1), fd1)
    print("still printed")
    assert "still printed" in capfd.readouterr().out
    # the probe silences only the standard error, where LightGBM prints its fatal errors: any
    # thread's standard output meanwhile is kept
    from transfercast.strategy import _quiet

    with _quiet():
        print("printed during a probe", flush=True)
        os.write(2, b"a fatal error\n")
    said = capfd.readouterr()
    assert "printed during a probe" in said.out and "a fatal error" not in said.err


def test_auto_in_one_thread_reads_its_own_plugins_while_another_thread_makes_its_own(warny):
    """auto looked its candidates up in the plugin manager of the latest call in the process:
    a plain compare in another thread made a valid auto run fail ("unknown ... 'warny'")."""
    task = small_task()
    params = {"auto": {"candidates": ["warny", "naive"], "strategies": {"warny": {"sleep": 0.05}}}}
    stop = threading.Event()

    def other() -> int:
        n = 0
        while not stop.is_set():
            tc.strategies()  # the built-ins' manager, made active in this thread
            n += 1
        return n

    with cf.ThreadPoolExecutor(2) as pool:
        busy = pool.submit(other)
        try:
            comp = tc.compare(task, ["auto"], params=params, plugins=[warny])
        finally:
            stop.set()
        assert busy.result() > 0
    assert (comp.scores["status"] == "ok").all(), comp.scores["error"].tolist()


def _same_named_plugin(folder, name: str, factor: float) -> None:
    """A project folder with the plugin module ``name``: strategy 'mine', forecasting
    ``factor`` times the recent level."""
    folder.mkdir()
    (folder / f"{name}.py").write_text(
        textwrap.dedent(f'''
            import numpy as np
            import transfercast as tc

            class Mine(tc.Strategy):
                """{factor} x 1."""
                name = "mine"
                needs_history = False
                def source_spec(self):
                    return None
                def fine_tune(self, target, source):
                    pass
                def predict(self, table):
                    return np.full(len(table), {factor})
                def save(self, directory):
                    return {{}}
                @classmethod
                def load(cls, directory, manifest):
                    return cls(manifest["params"])

            @tc.hookimpl
            def transfercast_register_strategies(register):
                register(Mine)
        ''')
    )


def test_a_bundle_refuses_another_projects_plugin_module_of_the_same_name(tmp_path):
    """Two projects, each with its strategies.py: a bundle of the first, loaded after the
    second's module was imported, forecast with the second's code in silence."""
    from transfercast.bundle import BundleError, load_bundle, write_bundle

    name = "tc_test_same_name"
    for project, factor in (("p1", 1.0), ("p2", 2.0)):
        _same_named_plugin(tmp_path / project, name, factor)
    task = small_task()
    sys.path.insert(0, str(tmp_path / "p1"))
    try:
        model = tc.TransferForecaster("mine", plugins=[name]).fit(task)
        write_bundle(model, tmp_path / "model")
        assert len(load_bundle(tmp_path / "model").strategies) == len(task.targets)
        sys.path[0] = str(tmp_path / "p2")
        del sys.modules[name]
        clear_plugin_cache()
        get_plugin_manager([name])  # the second project's module, imported in this process
        with pytest.raises(BundleError, match=rf"plugin module '{name}' was imported from "):
            load_bundle(tmp_path / "model")
        # a copy of the first project (the same file elsewhere) is the same code: it loads
        (tmp_path / "copy").mkdir()
        (tmp_path / "copy" / f"{name}.py").write_bytes(
            (tmp_path / "p1" / f"{name}.py").read_bytes()
        )
        sys.path[0] = str(tmp_path / "copy")
        del sys.modules[name]
        clear_plugin_cache()
        assert len(load_bundle(tmp_path / "model").strategies) == len(task.targets)
    finally:
        sys.path.remove(sys.path[0])
        sys.modules.pop(name, None)
        clear_plugin_cache()


def test_a_config_compares_with_its_own_plugin_module_after_another_projects_was_loaded(tmp_path):
    """Two projects, each with its strategies module of one name: comparing the first's config
    after loading the second's ran the second's code (forecasts exactly twice as large)."""
    from transfercast.config import load_config
    from transfercast.evaluation import compare_config

    from .conftest import small_project

    name = "tc_test_same_config_name"
    configs = []
    for project, factor in (("c1", 1.0), ("c2", 2.0)):
        _same_named_plugin(tmp_path / project, name, factor)
        raw = small_project(tmp_path / project, horizon=4, target_history=13, windows=1)
        raw["plugins"] = [name]
        (tmp_path / project / "config.toml").write_text(to_toml(raw))
        configs.append(tmp_path / project / "config.toml")
    try:
        first = load_config(configs[0])
        alone = compare_config(first, ["mine"]).forecasts["forecast"]
        load_config(configs[1])  # another notebook cell, another request
        again = compare_config(first, ["mine"]).forecasts["forecast"]
        pd.testing.assert_series_equal(again, alone)
    finally:
        sys.modules.pop(name, None)
        for config in configs:
            if str(config.parent) in sys.path:
                sys.path.remove(str(config.parent))
        clear_plugin_cache()


def test_a_block_of_another_thread_that_closes_while_a_call_gathers_leaves_no_filter_behind():
    """Thread B's ``catch_warnings`` block ignoring RuntimeWarning opened before a call's
    gathering and closed within it. The gathering's own ``catch_warnings`` put back, at its
    end, the filters it found: B's ignore, for the rest of the process (seen in a notebook
    after 150 compares beside a fitting thread)."""
    from transfercast.process_state import gathered_warnings

    with warnings.catch_warnings():  # this test's own filters, put back at its end
        before = list(warnings.filters)
        opened, gathering = threading.Event(), threading.Event()

        def other() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                opened.set()
                gathering.wait(10)  # closes while the call gathers

        thread = threading.Thread(target=other)
        thread.start()
        assert opened.wait(10)
        with gathered_warnings():
            gathering.set()
            thread.join()
        assert warnings.filters == before
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            np.nanmean(np.array([np.nan]))
        assert [w.category for w in said] == [RuntimeWarning]


def test_two_cells_blocks_closing_out_of_order_within_a_call_leave_no_filter_behind():
    """Two cell threads' ``catch_warnings`` blocks overlapping within one gathering (the
    second opens in the first's copy, the first closes first): the second puts back the
    first's copy, ``ignore`` and all. Removing only the call's own filter left that copy in
    the process; later comparisons' warnings went silent."""
    from transfercast.process_state import gathered_warnings

    with warnings.catch_warnings():
        before = list(warnings.filters)
        first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

        def first() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                first_in.set()
                second_in.wait(10)
            first_out.set()

        def second() -> None:
            first_in.wait(10)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                second_in.set()
                first_out.wait(10)

        with gathered_warnings():
            cells = [threading.Thread(target=first), threading.Thread(target=second)]
            for cell in cells:
                cell.start()
            for cell in cells:
                cell.join()
        assert warnings.filters == before


def test_filters_another_thread_adds_while_a_call_gathers_stay_after_it():
    """The gathering put back, at its end, the list it had installed: a filter a notebook
    cell added meanwhile (an ``error`` for its own warning) was gone after the compare."""
    from transfercast.process_state import gathered_warnings

    with warnings.catch_warnings():
        added = threading.Event()

        def other() -> None:
            warnings.filterwarnings("error", message="rv43 overflow")
            added.set()

        with gathered_warnings():
            thread = threading.Thread(target=other)
            thread.start()
            assert added.wait(10)
            thread.join()
        assert [f[0] for f in warnings.filters if f[1] and f[1].pattern == "rv43 overflow"] == [
            "error"
        ]
        assert not [f for f in warnings.filters if f == ("always", None, Warning, None, 0)]


def test_xgboost_warnings_in_a_cells_thread_are_python_warnings():
    """XGBoost sends its native log to Python warnings only in the thread that imported it;
    a cell on another thread (``jobs = 2``) wrote its raw lines to the standard error, past
    the filters boost_continue sets and the command line's one-line warnings."""
    xgb = pytest.importorskip("xgboost")
    from transfercast.distributed import local_executor

    def run(cell):
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            rows = xgb.DMatrix(np.arange(4.0).reshape(4, 1), label=np.ones(4))
            xgb.train({"rv43_unknown": 1, "nthread": 1}, rows, 1)
        return [str(w.message) for w in said]

    (said,) = list(local_executor(2)(run, [1]))
    assert any('"rv43_unknown"' in text and "not used" in text for text in said), said


def test_a_misspelt_xgboost_parameter_is_refused_while_another_call_gathers_warnings():
    """The probe reads XGBoost's "not used" warning; while another thread gathered the
    process's warnings it read none, accepted the key and cached that for the process."""
    from transfercast.process_state import gathered_warnings
    from transfercast.strategy import _xgboost_unused

    pytest.importorskip("xgboost")
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with gathered_warnings():
            inside.set()
            leave.wait(60)

    thread = threading.Thread(target=other)
    thread.start()
    try:
        assert inside.wait(10)
        said = _xgboost_unused('{"max_dept": 3, "seed": 41}')  # uncached: a key of its own
    finally:
        leave.set()
        thread.join()
    assert said == (
        "unknown XGBoost parameter 'max_dept' (did you mean 'max_depth'?) (see XGBoost's "
        "parameter list)"
    )


def test_an_xgboost_whose_log_hook_cannot_be_set_is_probed_in_a_child_process(monkeypatch):
    """Where XGBoost's per-thread log hook cannot be set, the probe asks a child process."""
    from transfercast import strategy

    pytest.importorskip("xgboost")
    monkeypatch.setattr(strategy, "_xgboost_probe_here", lambda xgb, probe: None)
    said = strategy._xgboost_unused.__wrapped__('{"max_dept": 3}')
    assert said.startswith("unknown XGBoost parameter 'max_dept' (did you mean 'max_depth'?)")


def test_gathered_warnings_keep_this_calls_own_and_never_swallow_anothers():
    """A compare gathers the warnings of its own context only: another thread's, raised
    meanwhile, reach the user as raised (an engine probe or a report dropped them); and a
    block of another thread that restores the gatherer after the call has ended leaves a hook
    that passes everything on (it left a recorder nobody read, for the rest of the process)."""
    from transfercast.process_state import gathered_warnings

    seen: list[str] = []

    def hook(message, category, filename, lineno, file=None, line=None):
        seen.append(str(message))

    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with warnings.catch_warnings():  # a library's block, opened while the call gathers
            warnings.warn("another thread's", UserWarning, stacklevel=1)
            inside.set()
            leave.wait(10)  # closed after the call ended: it restores the gatherer

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = hook
        with gathered_warnings() as said:
            thread = threading.Thread(target=other)
            thread.start()
            assert inside.wait(10)
            warnings.warn("this call's", UserWarning, stacklevel=1)
        leave.set()
        thread.join()
        assert [str(w.message) for w in said] == ["this call's"]
        assert seen == ["another thread's"]
        warnings.warn("said after", UserWarning, stacklevel=1)
        assert seen[-1] == "said after"
