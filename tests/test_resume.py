"""Resumable and fault-isolated comparisons: a killed `compare` is completed by `--resume` with
the same tables; a strategy that fails on one target is recorded and the exit status is 1."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import transfercast
from transfercast import cli
from transfercast.cli import to_toml
from transfercast.config import load_config
from transfercast.errors import ConfigError
from transfercast.evaluation import compare_config
from transfercast.plugin_manager import register_module
from transfercast.plugins.baselines import SourceOnly, TargetOnly
from transfercast.results import write_comparison
from transfercast.resume import CellStore, _started, cell_key
from transfercast.strategy import Strategy

from .clirun import invoke
from .conftest import small_frame, small_project, small_task, task_on

SLOW_PLUGIN = textwrap.dedent(
    '''
    """A strategy that takes its time, so that a test can kill a comparison midway."""
    import time

    import numpy as np

    import transfercast
    from transfercast.strategy import Strategy


    class Sleepy(Strategy):
        """The target's mean normalised sales, after a pause."""

        name = "sleepy"

        def fine_tune(self, target, source):
            time.sleep(0.3)
            self.mean_ = float(np.nanmean(target.y))

        def predict(self, table):
            return np.full(len(table), self.mean_)


    @transfercast.hookimpl
    def transfercast_register_strategies(register):
        register(Sleepy)
    '''
)
STRATEGIES = "sleepy,source_only"
SMALL_MODELS = """
[strategies.source_only]
source_params = { num_boost_round = 40 }

[strategies.target_only]
target_params = { num_boost_round = 40 }

[features]
lags = [1, 2, 4, 52]
windows = [4]
"""
TIMING = ["fit_seconds", "predict_seconds"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    (root / "tc_test_sleepy.py").write_text(SLOW_PLUGIN)
    raw = small_project(
        root,
        horizon=6,
        target_history=13,
        windows=2,
        output_dir="out",
    )
    raw["plugins"] = ["tc_test_sleepy"]
    (root / "config.toml").write_text(to_toml(raw) + SMALL_MODELS)
    return root


def _env(root) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "TRANSFERCAST_LOAD_PLUGINS": "",
        "TRANSFERCAST_THREADS": "1",
    }


def _compare(root, out, *extra) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "transfercast.cli",
            "compare",
            str(root / "config.toml"),
            "--output",
            str(out),
            "--strategies",
            STRATEGIES,
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(root),
        cwd=root,
    )


def _compare_until_cells(root, out, cells: int) -> subprocess.Popen:
    """A ``compare`` process into ``out``, returned once it has stored ``cells`` cells."""
    proc = _compare(root, out)
    deadline = time.time() + 120
    while len(list((out / ".progress").glob("*.scores.parquet"))) < cells:
        assert proc.poll() is None, "compare finished before it could be stopped"
        assert time.time() < deadline
        time.sleep(0.02)
    return proc


def _stopped_after_cells(root, out, cells: int, sig: int) -> tuple[subprocess.Popen, str]:
    """A ``compare`` into ``out`` sent ``sig`` once it stored ``cells`` cells, and its stderr.
    On a busy machine this process may be scheduled again only after the comparison finished
    (its 12 cells take about a second): then it tries again, up to three times."""
    for _ in range(3):
        proc = _compare_until_cells(root, out, cells)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            return proc, err
        shutil.rmtree(out)  # finished before the signal came: nothing was stopped
    raise AssertionError(f"compare finished before {signal.Signals(sig).name} three times")


def _tables(out) -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_csv(out / name) for name in ("scores.csv", "forecasts.csv", "leaderboard.csv")
    }


def test_killed_compare_is_completed_by_resume(project, monkeypatch):
    full, killed = project / "full", project / "killed"
    monkeypatch.syspath_prepend(str(project))
    cfg = load_config(project / "config.toml")  # the uninterrupted run, in-process
    write_comparison(compare_config(cfg, STRATEGIES.split(",")), full)
    expected = _tables(full)
    assert len(expected["scores.csv"]) == 3 * 2 * 2

    proc, _ = _stopped_after_cells(project, killed, 3, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "scores.csv").exists()  # nothing final before the end
    done = list((killed / ".progress").glob("*.scores.parquet"))
    assert 3 <= len(done) < 12
    for path in (killed / ".progress").glob("*.parquet"):  # no corrupt file under a final name
        pd.read_parquet(path)

    monkeypatch.setattr(cli, "write_compare_report", lambda *a, **k: None)  # not under test
    monkeypatch.syspath_prepend(str(project))
    res = invoke(
        "compare",
        project / "config.toml",
        "--output",
        killed,
        "--strategies",
        STRATEGIES,
        "--resume",
    )
    assert res.code == 0, res.err
    assert f"resuming: {len(done)} cells already scored" in res.out
    got = _tables(killed)
    pd.testing.assert_frame_equal(
        got["scores.csv"].drop(columns=TIMING), expected["scores.csv"].drop(columns=TIMING)
    )
    pd.testing.assert_frame_equal(got["forecasts.csv"], expected["forecasts.csv"])
    pd.testing.assert_frame_equal(got["leaderboard.csv"], expected["leaderboard.csv"])
    # the cells scored before the kill kept their timings: they were not run again
    kept = pd.concat(pd.read_parquet(p) for p in done)
    merged = got["scores.csv"].merge(
        kept.assign(origin=kept["origin"].astype(str)), on=["target", "strategy", "origin"]
    )
    np.testing.assert_allclose(merged["fit_seconds_x"], merged["fit_seconds_y"])
    assert not [p for p in killed.rglob(".*.tmp")]


def test_resume_refuses_changed_data_and_reruns_changed_params(tmp_path):
    task = small_task()
    strategies = [TargetOnly(), SourceOnly()]
    store = CellStore(tmp_path, task, strategies)
    for name in ("target_only", "source_only"):
        store.add(
            {
                "target": "S06",
                "strategy": name,
                "origin": pd.Timestamp("2021-01-01"),
                "status": "ok",
                "error": "",
            },
            None,
        )
    assert len(CellStore(tmp_path, task, strategies, resume=True).done()) == 2
    changed = [TargetOnly(), SourceOnly(seed=1)]
    assert CellStore(tmp_path, task, changed, resume=True).done() == {
        ("S06", "target_only", "2021-01-01")
    }
    other = small_task(target_history=12)
    with pytest.raises(ConfigError, match="cannot resume .*: the data, task or features differ"):
        CellStore(tmp_path, other, strategies, resume=True)
    intervals = {"quantiles": [0.1, 0.9], "method": "replay_conformal"}
    with pytest.raises(
        ConfigError,
        match=r"the quantiles or interval method differ \(no quantiles then, quantiles 0.1,0.9 by "
        r"replay_conformal now\) from the run .* drop --resume",
    ):
        CellStore(tmp_path, task, strategies, resume=True, intervals=intervals)
    # cells written by another transfercast version (or one that recorded none): not mixed
    setup = tmp_path / ".progress" / "setup.json"
    written = json.loads(setup.read_text())
    assert written["transfercast"].startswith(f"transfercast {transfercast.__version__} (")
    for then in ("transfercast 0.1.0 (results revision 1)", None):
        setup.write_text(json.dumps({**written, "transfercast": then}))
        with pytest.raises(
            ConfigError,
            match=r"its cells were written by (transfercast 0\.1\.0 "
            r"\(results revision 1\)|an earlier transfercast, which recorded none)",
        ):
            CellStore(tmp_path, task, strategies, resume=True)
    assert CellStore(tmp_path, other, strategies).done() == set()  # without --resume: afresh


def _plugin_project(tmp_path, cls: type, module_name: str) -> None:
    """``config.toml`` in ``tmp_path``: the small project, its ``plugins`` a module
    ``module_name`` (made here) that registers ``cls``."""
    module = types.ModuleType(module_name)

    @transfercast.hookimpl
    def transfercast_register_strategies(register):
        register(cls)

    module.transfercast_register_strategies = transfercast_register_strategies
    register_module(module)
    raw = small_project(tmp_path, horizon=6, target_history=13, windows=2, output_dir="out")
    raw["plugins"] = [module_name]
    (tmp_path / "config.toml").write_text(to_toml(raw) + SMALL_MODELS.split("[features]")[0])


class _FailsOnS07(Strategy):
    """The target's mean, except that it raises on target S07 while ``broken`` is set."""

    name = "flaky"
    broken = True

    def fine_tune(self, target, source):
        if type(self).broken and self.context_["domain"] == "S07":
            raise RuntimeError("flaky broke on S07 ([strategies.flaky])")
        self.mean_ = float(np.nanmean(target.y))

    def predict(self, table):
        return np.full(len(table), self.mean_)


def test_failed_cell_is_recorded_exit_1_and_rerun_on_resume(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "write_compare_report", lambda *a, **k: None)  # not under test
    _plugin_project(tmp_path, _FailsOnS07, "tc_test_flaky")
    args = ["compare", tmp_path / "config.toml", "--strategies", "flaky,target_only"]
    _FailsOnS07.broken = True
    try:
        res = invoke(*args)
        assert res.code == 1
        assert "2 cells failed" in res.err and "flaky broke on S07 ([strategies.flaky])" in res.err
        scores = pd.read_csv(tmp_path / "out" / "scores.csv")
        bad = scores[scores["status"] == "failed"]
        assert set(bad["target"]) == {"S07"} and set(bad["strategy"]) == {"flaky"}
        assert bad["error"].str.contains("RuntimeError: flaky broke on S07").all()
        assert bad["wape"].isna().all()
        assert scores.loc[scores["status"] == "ok", "strategy"].value_counts().to_dict() == {
            "flaky": 4,
            "target_only": 6,
        }
        board = pd.read_csv(tmp_path / "out" / "leaderboard.csv").set_index("strategy")
        assert board.loc["flaky", "failed"] == 2
        _FailsOnS07.broken = False  # the cause is fixed: --resume runs the failed cells only
        res = invoke(*args, "--resume")
        assert res.code == 0, res.err
        assert "resuming: 10 cells already scored" in res.out
        again = pd.read_csv(tmp_path / "out" / "scores.csv")
        assert (again["status"] == "ok").all() and len(again) == 12
        keys = ["target", "strategy", "origin"]
        before = scores[scores["status"] == "ok"].drop(columns=[*TIMING, "error"])
        after = again.merge(before[keys]).drop(columns=[*TIMING, "error"])
        pd.testing.assert_frame_equal(
            after.sort_values(keys).reset_index(drop=True),
            before.sort_values(keys).reset_index(drop=True),
        )
    finally:
        _FailsOnS07.broken = True


class _InterruptedOnS07(_FailsOnS07):
    """The target's mean; a Ctrl-C (KeyboardInterrupt) on target S07."""

    name = "interrupted"

    def fine_tune(self, target, source):
        if type(self).broken and self.context_["domain"] == "S07":
            raise KeyboardInterrupt
        self.mean_ = float(np.nanmean(target.y))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_an_interrupted_compare_says_what_it_kept_and_how_to_go_on(tmp_path, monkeypatch, jobs):
    """In turn or on two threads, the cells before the interrupted one are kept."""
    monkeypatch.setattr(cli, "write_compare_report", lambda *a, **k: None)  # not under test
    _plugin_project(tmp_path, _InterruptedOnS07, "tc_test_interrupted")
    args = ["compare", tmp_path / "config.toml", "--strategies", "target_only,interrupted"]
    args += ["--jobs", jobs]
    _InterruptedOnS07.broken = True
    try:
        res = invoke(*args)
        assert res.code == 130, res.err
        match = re.fullmatch(
            r"aborted: (\d+) finished cells kept in \S*out; rerun the command with --resume to "
            r"go on from them\n",
            res.err,
        )
        assert match, res.err
        kept = int(match.group(1))
        # the cells before S07's at the first origin, in turn or on threads, each stored as it
        # ended: S06 with both strategies, S07 with target_only
        assert kept == 3
        _InterruptedOnS07.broken = False
        res = invoke(*args, "--resume")
        assert res.code == 0, res.err
        assert f"resuming: {kept} cells already scored" in res.out
        assert len(pd.read_csv(tmp_path / "out" / "scores.csv")) == 12
    finally:
        _InterruptedOnS07.broken = True


def test_a_terminated_compare_stops_as_an_interrupted_one(project):
    """SIGTERM (a job scheduler, ``kill``): the same one line and kept cells as a Ctrl-C, exit
    status 143, and no temporary file or folder left behind."""
    out = project / "termed"
    proc, err = _stopped_after_cells(project, out, 3, signal.SIGTERM)
    assert proc.returncode == 143, err
    kept = re.fullmatch(
        r"aborted: (\d+) finished cells kept in \S+; rerun the command with "
        r"--resume to go on from them\n",
        err,
    )
    assert kept and int(kept.group(1)) >= 3, err
    assert int(kept.group(1)) == len(list((out / ".progress").glob("*.scores.parquet")))
    assert [p.name for p in out.iterdir()] == [".progress"]
    assert not list((out / ".progress").glob("*.tmp"))


def test_a_ctrl_c_while_the_results_are_written_says_what_is_kept(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "write_compare_report", interrupted)
    raw = small_project(tmp_path, horizon=4, target_history=13, windows=1, output_dir="out")
    (tmp_path / "config.toml").write_text(to_toml(raw))
    res = invoke("compare", tmp_path / "config.toml", "--strategies", "target_only")
    assert res.code == 130
    assert res.err == (
        f"aborted: 3 finished cells kept in {tmp_path / 'out'}; rerun the command with "
        f"--resume to go on from them\n"
    )


def test_a_ctrl_c_during_runs_bundle_swap_waits_for_its_forecasts(tmp_path, monkeypatch):
    """Never a new model/ beside the previous run's forecasts.csv: an interrupt that comes
    while the bundle is renamed into place takes effect once the forecasts are written."""
    from transfercast import bundle

    raw = small_project(tmp_path, horizon=4, target_history=13, windows=1, output_dir="out")
    (tmp_path / "config.toml").write_text(to_toml(raw))
    assert invoke("run", tmp_path / "config.toml", "--strategy", "target_only").code == 0
    old = (tmp_path / "out" / "forecasts.csv").read_text()
    swap = bundle._swap_into_place

    def interrupted_swap(tmp, directory):
        swap(tmp, directory)
        signal.raise_signal(signal.SIGINT)  # a Ctrl-C right after the rename

    monkeypatch.setattr(bundle, "_swap_into_place", interrupted_swap)
    res = invoke("run", tmp_path / "config.toml", "--strategy", "source_only")
    assert res.code == 130
    manifest = json.loads((tmp_path / "out" / "model" / "manifest.json").read_text())
    assert manifest["strategy"]["name"] == "source_only"
    new = (tmp_path / "out" / "forecasts.csv").read_text()
    assert new != old
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["forecasts.csv", "model"]


def test_a_folder_another_running_compare_writes_into_is_refused(tmp_path, monkeypatch):
    """Two comparisons into one folder would mix their cells; a killed run's lock is taken
    over."""
    held = []  # the lock while the report is written: a second run mixed tables and report

    def report(comp, output, *a, **k):
        held.append((Path(output) / ".progress.lock").read_text().split()[0])

    monkeypatch.setattr(cli, "write_compare_report", report)
    raw = small_project(tmp_path, horizon=4, target_history=13, windows=1, output_dir="out")
    (tmp_path / "config.toml").write_text(to_toml(raw))
    out = tmp_path / "out"
    out.mkdir()
    (out / ".progress.lock").write_text(f"{os.getppid()}\n")  # a live process, not this one
    res = invoke("compare", tmp_path / "config.toml", "--strategies", "target_only")
    assert res.code == 2
    assert res.err == (
        f"error: output directory {out} is in use by another transfercast compare (process "
        f"{os.getppid()}); wait for it to end or choose another --output (if no compare runs "
        f"there, delete {out / '.progress.lock'})\n"
    )
    assert [p.name for p in out.iterdir()] == [".progress.lock"]
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    if _started(os.getppid()):  # a live process whose id a killed run's lock names, by reuse
        (out / ".progress.lock").write_text(f"{os.getppid()} 1\n")
        res = invoke("compare", tmp_path / "config.toml", "--strategies", "target_only")
        assert res.code == 0, res.err
    (out / ".progress.lock").write_text("")  # a lock being written, a moment old: held
    res = invoke("compare", tmp_path / "config.toml", "--strategies", "target_only")
    assert res.code == 2 and "(a process starting)" in res.err, res.err
    (out / ".progress.lock").write_text(gone.stdout)  # a process that has ended
    res = invoke("compare", tmp_path / "config.toml", "--strategies", "target_only")
    assert res.code == 0, res.err
    assert not (out / ".progress.lock").exists() and (out / "scores.csv").is_file()
    assert held and set(held) == {str(os.getpid())}


def test_an_interrupted_write_leaves_the_old_file(tmp_path):
    from transfercast.outputs import atomic_write, write_text

    path = write_text("old\n", tmp_path / "scores.csv")

    def half(tmp):
        tmp.write_text("new, half-writ")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, half)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


def test_every_output_file_goes_through_atomic_write():
    """Direct writers are allowed only in outputs.py and in model ``save`` methods, which write
    into a bundle's temporary folder that is renamed whole."""
    import re

    root = Path(__file__).resolve().parents[1] / "core"
    writer = re.compile(
        r"\.to_csv\(|\.to_parquet\(|\.write_text\(|\.write_bytes\(|"
        r"savefig\((?!buf)|open\([^)]*['\"][wa]b?['\"]"
    )
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "outputs.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if writer.search(line) and "atomic_write(" not in line:
                found.append(f"{path.name}:{n}: {line.strip()}")
    assert found == []


def _cell_row(strategy: str, origin: str = "2021-01-01") -> dict:
    return {
        "target": "S06",
        "strategy": strategy,
        "origin": pd.Timestamp(origin),
        "status": "ok",
        "error": "",
    }


def _snapshot(root) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones included) with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_a_cell_store_changes_nothing_before_its_first_cell_and_discard_restores_it(tmp_path):
    task = small_task()
    strategies = [TargetOnly(), SourceOnly()]
    out = tmp_path / "out"
    first = CellStore(out, task, strategies)
    for name in ("target_only", "source_only"):
        first.add(_cell_row(name), None)
    first.commit()
    mine = f"{os.getpid()} {_started(os.getpid()) or ''}".strip() + "\n"  # id, start time
    assert (out / ".progress.lock").read_text() == mine  # held until release
    first.release()
    before = _snapshot(tmp_path)

    # afresh over it: nothing but the lock changes on disk before the first cell (the lock is
    # taken at once: two runs started together both passed); discard puts it all back
    again = CellStore(out, task, strategies)
    lock = {"out/.progress.lock": mine.encode()}
    assert _snapshot(tmp_path) == {**before, **lock} and again.done() == set()
    again.add(_cell_row("target_only", "2021-02-05"), None)
    assert _snapshot(tmp_path) != before
    again.discard()
    assert _snapshot(tmp_path) == before

    # resuming with changed parameters: the changed strategy's cells are set aside, and put back
    params = [TargetOnly(), SourceOnly(seed=1)]
    changed = CellStore(out, task, params, resume=True)
    assert _snapshot(tmp_path) == {**before, **lock}
    assert changed.done() == {("S06", "target_only", "2021-01-01")}
    changed.add(_cell_row("source_only"), None)  # the stale cell, run again
    changed.add(_cell_row("target_only", "2021-02-05"), None)  # a new cell
    assert len(CellStore(out, task, params, resume=True).done()) == 3
    changed.discard()
    assert _snapshot(tmp_path) == before

    # in a folder that did not exist: discard removes every folder the store created, before
    # its first cell as after
    CellStore(tmp_path / "a" / "b", task, strategies).discard()
    assert not (tmp_path / "a").exists()
    new = CellStore(tmp_path / "a" / "b", task, strategies)
    new.add(_cell_row("target_only"), None)
    new.discard()
    assert not (tmp_path / "a").exists()

    # commit keeps this run's store and drops the one it replaced
    last = CellStore(out, task, strategies)
    last.add(_cell_row("target_only", "2021-02-05"), None)
    last.commit()
    assert sorted(p.name for p in out.iterdir()) == [".progress", ".progress.lock"]
    last.release()
    assert [p.name for p in out.iterdir()] == [".progress"]
    assert CellStore(out, task, strategies, resume=True).done() == {
        ("S06", "target_only", "2021-02-05")
    }


class _Picky(Strategy):
    """The target's mean; a user error (ConfigError) on the target domain ``fails_on``."""

    name = "picky"
    fails_on = "S07"

    def fine_tune(self, target, source):
        if self.context_["domain"] == type(self).fails_on:
            raise ConfigError(f"[strategies.picky] cannot forecast {type(self).fails_on}")
        self.mean_ = float(np.nanmean(target.y))

    def predict(self, table):
        return np.full(len(table), self.mean_)


def test_a_compare_stopped_by_a_user_error_leaves_the_output_directory_as_it_was(
    tmp_path, monkeypatch
):
    """A failing compare into the folder of an earlier one keeps that run's files and cells
    (its `--resume` still works); into a new folder it creates nothing."""
    monkeypatch.setattr(cli, "write_compare_report", lambda *a, **k: None)  # not under test
    _plugin_project(tmp_path, _Picky, "tc_test_picky")
    config, out = tmp_path / "config.toml", tmp_path / "out"
    res = invoke("compare", config, "--strategies", "target_only")
    assert res.code == 0, res.err
    before = _snapshot(out)
    assert ".progress/setup.json" in before and "scores.csv" in before
    try:
        # S06 fails at the first cell; S07 after the cells of S06 were stored
        for fails_on in ("S06", "S07"):
            _Picky.fails_on = fails_on
            res = invoke("compare", config, "--strategies", "target_only,picky")
            assert res.code == 2, res.err
            said = f"error: {config}: [strategies.picky] cannot forecast {fails_on}"
            assert res.err.strip() == said
            assert _snapshot(out) == before
            fresh = tmp_path / "fresh" / "out"
            res = invoke("compare", config, "--strategies", "picky", "--output", fresh)
            assert res.code == 2 and not (tmp_path / "fresh").exists(), res.err
    finally:
        _Picky.fails_on = "S07"
    res = invoke("compare", config, "--strategies", "target_only", "--resume")
    assert res.code == 0, res.err
    assert "resuming: 6 cells already scored" in res.out


def test_a_resumed_comparison_with_auto_writes_every_origins_replays(tmp_path):
    """A comparison killed after auto's cells of the first origin: the resumed run writes the
    replays of both origins, as the uninterrupted run does (they were lost with the killed
    process, and the skipped auto cells did not make them again)."""
    from transfercast.evaluation import compare, resolve_strategies

    task = small_task()
    small = {"source_params": {"num_boost_round": 20}}
    params = {
        "source_only": small,
        "auto": {
            "candidates": ["source_only", "target_only"],
            "strategies": {"source_only": small},
        },
    }
    names = ["source_only", "auto"]
    origins = task.evaluation_origins()
    full = compare(task, names, params=params, origins=origins)
    assert full.replays["origin"].nunique() == 2

    chosen = resolve_strategies(names, params, transfercast.get_plugin_manager())
    first = {(str(t), n, str(origins[0].date())) for t in task.targets for n in names}
    drop = ["fit_seconds"]
    for keep_origin in (False, True):  # killed before / after the first origin's end
        directory = tmp_path / str(keep_origin)
        killed = CellStore(directory, task, chosen)
        compare(
            task,
            chosen,
            origins=origins[:1],
            on_cell=killed.add,
            on_origin=killed.add_replays if keep_origin else None,
        )
        killed.commit()  # killed here: comparison() never ran

        store = CellStore(directory, task, chosen, resume=True)
        skip = store.done()
        if keep_origin:  # the finished origin kept its replays: none of its cells runs again
            assert skip == first
        else:
            assert skip == {k for k in first if k[1] == "source_only"}
        fresh = compare(
            task, chosen, origins=origins, skip=skip, on_cell=store.add, on_origin=store.add_replays
        )
        store.commit()
        got = store.comparison(origins, names, fresh)
        pd.testing.assert_frame_equal(
            got.replays.drop(columns=drop), full.replays.drop(columns=drop), check_dtype=False
        )
    pd.testing.assert_frame_equal(
        got.scores.drop(columns=TIMING), full.scores.drop(columns=TIMING), check_dtype=False
    )
    # a later resume (nothing left to run) still has both origins' replays
    again = CellStore(directory, task, chosen, resume=True)
    cells = zip(full.scores["target"], full.scores["strategy"], full.scores["origin"], strict=True)
    assert again.done() == {cell_key(t, s, o) for t, s, o in cells}
    pd.testing.assert_frame_equal(
        again.comparison(origins, names).replays.drop(columns=drop),
        full.replays.drop(columns=drop),
        check_dtype=False,
    )


def test_a_resumed_comparison_with_quantiles_writes_every_origins_replays(tmp_path):
    """Quantile forecasts are calibrated on source replays at every cell: a comparison killed
    after its first origin, resumed, writes the replays of both origins."""
    from transfercast.evaluation import compare, resolve_strategies

    task = small_task()
    params = {"source_only": {"source_params": {"num_boost_round": 20}}}
    kw = {"quantiles": [0.1, 0.9]}
    origins = task.evaluation_origins()
    full = compare(task, ["source_only"], params=params, origins=origins, **kw)
    assert full.replays["origin"].nunique() == 2

    chosen = resolve_strategies(["source_only"], params, transfercast.get_plugin_manager())
    intervals = {"quantiles": kw["quantiles"], "method": "replay_conformal"}
    killed = CellStore(tmp_path, task, chosen, intervals=intervals)
    compare(task, chosen, origins=origins[:1], on_cell=killed.add, **kw)
    killed.commit()  # killed here: comparison() never ran

    store = CellStore(tmp_path, task, chosen, resume=True, intervals=intervals)
    assert store.done() == set()  # the first origin's replays were lost: run again
    fresh = compare(task, chosen, origins=origins, skip=store.done(), on_cell=store.add, **kw)
    store.commit()
    got = store.comparison(origins, ["source_only"], fresh)
    pd.testing.assert_frame_equal(
        got.replays.drop(columns="fit_seconds"),
        full.replays.drop(columns="fit_seconds"),
        check_dtype=False,
    )
    again = CellStore(tmp_path, task, chosen, resume=True, intervals=intervals)
    assert len(again.done()) == len(full.scores)  # now every cell is kept


def test_resuming_with_changed_parameters_sets_the_stored_replays_aside(tmp_path):
    """Replays stored under the old parameters (of a candidate the new run may not even weigh)
    never reach the resumed run's replays.csv."""
    from transfercast.replay import TABLE_COLUMNS

    task, origin = small_task(), pd.Timestamp("2021-01-01")
    store = CellStore(tmp_path, task, [SourceOnly()])
    store.add(_cell_row("source_only"), None)
    row = {"origin": origin, "n": 13, "domain": "S01", "cut": origin, "candidate": "source_only"}
    store.add_replays(origin, pd.DataFrame([row | {"wape": 0.1}]).reindex(columns=TABLE_COLUMNS))
    store.commit()
    assert len(CellStore(tmp_path, task, [SourceOnly()], resume=True).replays([origin], None))
    again = CellStore(tmp_path, task, [SourceOnly(seed=1)], resume=True)
    assert again.done() == set()
    again.add(_cell_row("source_only"), None)
    assert again.replays([origin], None).empty


def test_resuming_with_one_strategys_parameters_changed_keeps_every_strategys_replays(tmp_path):
    """The stored replays are set aside when one strategy's parameters changed, so every cell
    that reads them runs again (before: the others' cells were kept and their replays were
    lost from replays.csv, for good); the rows come in one order however the cells ran."""
    from transfercast.evaluation import compare, resolve_strategies

    task, pm = small_task(), transfercast.get_plugin_manager()
    small = {"num_boost_round": 10}
    old = {"source_only": {"source_params": small}, "target_only": {"target_params": small}}
    new = {**old, "source_only": {"source_params": {"num_boost_round": 12}}}
    names, kw = ["target_only", "source_only"], {"quantiles": [0.1, 0.9]}
    intervals = {"quantiles": kw["quantiles"], "method": "replay_conformal"}
    origins = task.evaluation_origins()
    full = compare(task, names, params=new, origins=origins, **kw)

    before = resolve_strategies(names, old, pm)
    store = CellStore(tmp_path, task, before, intervals=intervals)
    compare(task, before, origins=origins, on_cell=store.add, on_origin=store.add_replays, **kw)
    store.commit()
    after = resolve_strategies(names, new, pm)
    store = CellStore(tmp_path, task, after, resume=True, intervals=intervals)
    assert store.done() == set()
    fresh = compare(
        task, after, origins=origins, skip=store.done(), on_cell=store.add,
        on_origin=store.add_replays, **kw,
    )  # fmt: skip
    store.commit()
    got = store.comparison(origins, names, fresh).replays
    assert set(got["candidate"]) >= {"target_only", "source_only"}
    pd.testing.assert_frame_equal(
        got.drop(columns="fit_seconds"), full.replays.drop(columns="fit_seconds"),
        check_dtype=False,
    )  # fmt: skip


def test_resume_refuses_a_change_in_any_row_of_the_data(tmp_path):
    """A change to one sale, wherever it is (here the last row), is changed data."""
    store = CellStore(tmp_path, task_on(small_frame()), [TargetOnly()])
    store.add(_cell_row("target_only"), None)
    store.commit()
    frame = small_frame()
    frame.loc[frame.index[-1], "sales"] += 1.0
    with pytest.raises(ConfigError, match="the data, task or features differ"):
        CellStore(tmp_path, task_on(frame), [TargetOnly()], resume=True)


def test_resume_refuses_changed_features(tmp_path):
    """Cells scored with other [features] (lags) are not reused."""
    store = CellStore(tmp_path, task_on(small_frame()), [TargetOnly()])
    store.add(_cell_row("target_only"), None)
    store.commit()
    with pytest.raises(ConfigError, match="the data, task or features differ"):
        CellStore(tmp_path, task_on(small_frame(), lags=[1, 2]), [TargetOnly()], resume=True)


def test_resume_refuses_a_store_whose_setup_names_no_writer(tmp_path):
    """A setup.json without the ``transfercast`` key at all (written before it was
    recorded) is another writer's, as one that records None is."""
    task = small_task()
    store = CellStore(tmp_path, task, [TargetOnly()])
    store.add(_cell_row("target_only"), None)
    store.commit()
    setup = tmp_path / ".progress" / "setup.json"
    written = json.loads(setup.read_text())
    del written["transfercast"]
    setup.write_text(json.dumps(written))
    with pytest.raises(ConfigError, match="an earlier transfercast, which recorded none"):
        CellStore(tmp_path, task, [TargetOnly()], resume=True)


def test_replays_stored_again_for_an_origin_replace_the_stored_ones(tmp_path):
    """A cell run again stores its origin's replays again: the new rows replace the
    stored ones of the same (n, domain, cut, candidate), which stay only where not replaced."""
    from transfercast.replay import TABLE_COLUMNS

    def rows(wape, candidates):
        return pd.DataFrame([
            {**dict.fromkeys(TABLE_COLUMNS), "origin": "2021-01-01", "n": 1, "domain": "S01",
             "cut": "2020-06-05", "candidate": c, "wape": wape}
            for c in candidates
        ])  # fmt: skip

    store = CellStore(tmp_path, small_task(), [TargetOnly()])
    store.add_replays("2021-01-01", rows(0.5, ["pooled", "source_only"]))
    store.add_replays("2021-01-01", rows(0.2, ["pooled"]))
    got = store.replays([pd.Timestamp("2021-01-01")], None).set_index("candidate")["wape"]
    assert got.to_dict() == {"pooled": 0.2, "source_only": 0.5}


def test_a_stale_cell_not_yet_run_again_is_not_reused_by_the_next_resume(tmp_path):
    """Resumed with changed parameters and stopped before the changed strategy's cell ran
    again: the next resume must still run it (its stored scores are the old parameters')."""
    from transfercast.plugins.baselines import SourceOnly

    task = small_task()
    first = CellStore(tmp_path, task, [TargetOnly(), SourceOnly()])
    first.add(_cell_row("source_only"), None)
    first.commit()
    changed = [TargetOnly(), SourceOnly(seed=1)]
    resumed = CellStore(tmp_path, task, changed, resume=True)
    resumed.add(_cell_row("target_only"), None)  # then the run is interrupted
    resumed.commit()
    assert CellStore(tmp_path, task, changed, resume=True).done() == {
        ("S06", "target_only", "2021-01-01")
    }


def test_discard_puts_back_a_failed_cell_that_was_run_again(tmp_path):
    """Resuming runs a failed cell again; a user error later in that run must leave the
    store as it was, the failed cell's files included."""
    task = small_task()
    first = CellStore(tmp_path, task, [TargetOnly()])
    first.add({**_cell_row("target_only"), "status": "failed", "error": "boom"}, None)
    first.commit()
    store = tmp_path / ".progress"
    before = {p.name: p.read_bytes() for p in store.iterdir()}
    again = CellStore(tmp_path, task, [TargetOnly()], resume=True)
    assert again.done() == set()
    again.add(_cell_row("target_only"), None)  # the failed cell, run again
    again.discard()  # then a user error stops the run
    assert {p.name: p.read_bytes() for p in store.iterdir()} == before


def test_hourly_origins_of_one_day_are_cells_of_their_own(tmp_path, monkeypatch):
    """Cells were keyed by the origin's date: three hourly origins of one day were stored as
    one, and a resumed run kept a third of them."""
    from transfercast.datasets import synthetic_config, synthetic_sales

    frame = synthetic_sales(
        n_domains=5, series_per_domain=2, n_periods=200, n_targets=2, target_periods=80, freq="D"
    )
    hours = (frame["date"] - frame["date"].min()).dt.days
    frame["date"] = pd.Timestamp("2024-03-01") + pd.to_timedelta(hours, unit="h")
    frame.to_csv(tmp_path / "sales.csv", index=False)
    raw = synthetic_config("sales.csv", frame.attrs["targets"], horizon=6, target_history=48)
    raw["data"]["freq"] = "h"
    raw["features"] = {
        "lags": [1, 24], "windows": [24], "level_window": 24, "season_length": 24,
        "source_window": 120, "calendar": False,
    }  # fmt: skip
    raw["evaluate"] = {"windows": 3, "step": 1}
    raw["output"] = {"dir": "out"}
    (tmp_path / "config.toml").write_text(to_toml(raw))
    monkeypatch.setattr(cli, "write_compare_report", lambda *a, **k: None)  # not under test
    args = ["compare", tmp_path / "config.toml", "--strategies", "target_only,source_only"]
    assert (res := invoke(*args)).code == 0, res.err
    first = pd.read_csv(tmp_path / "out" / "scores.csv")
    assert len(first) == 3 * 2 * 2 and first["origin"].nunique() == 3
    assert (res := invoke(*args, "--resume")).code == 0, res.err
    assert "resuming: 12 cells already scored" in res.out
    again = pd.read_csv(tmp_path / "out" / "scores.csv")
    pd.testing.assert_frame_equal(again.drop(columns=TIMING), first.drop(columns=TIMING))


def test_a_resumed_comparison_warns_on_every_cell_it_writes(tmp_path):
    """The warning on forecast periods without an actual counted only the cells a resumed
    run scored itself (6 of 228 where the comparison written holds 12 of 312)."""
    raw = small_project(tmp_path, horizon=4, target_history=13, windows=2, output_dir="out")
    frame = pd.read_csv(tmp_path / "sales.csv")
    last = frame["date"].max()  # in the horizon of the last origin only
    frame.loc[(frame["store"] == "S07") & (frame["date"] == last), "sales"] = np.nan
    frame.to_csv(tmp_path / "sales.csv", index=False)
    (tmp_path / "config.toml").write_text(to_toml(raw))
    raw["evaluate"]["windows"] = 1  # a shorter run first: the last origin
    (tmp_path / "short.toml").write_text(to_toml(raw))

    def said(config: str, *args: str) -> list[str]:
        res = invoke("compare", tmp_path / config, "--strategies", "naive", *args)
        assert res.code == 0, res.err
        return [x for x in res.err.splitlines() if "have no actual" in x]

    whole = said("config.toml", "--output", tmp_path / "whole")
    assert len(said("short.toml")) == 1
    resumed = said("config.toml", "--resume")
    assert len(whole) == 1 and resumed == whole, (whole, resumed)
