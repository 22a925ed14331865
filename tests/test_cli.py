"""The command line: run, compare and demo write the documented files."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from transfercast.cli import to_toml

from .clirun import invoke
from .conftest import small_frame, small_project


def cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "transfercast.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**__import__("os").environ, "TRANSFERCAST_LOAD_PLUGINS": "", "COLUMNS": "160"},
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("proj")
    raw = small_project(
        root,
        horizon=6,
        target_history=13,
        windows=2,
        candidates=["target_only", "source_only"],
        output_dir="out",
    )
    raw["strategy"]["name"] = "source_only"
    (root / "config.toml").write_text(to_toml(raw))
    return root


def test_run_writes_forecasts(project):
    res = cli("run", str(project / "config.toml"), "--output", str(project / "run"))
    assert res.returncode == 0, res.stderr
    fc = pd.read_csv(project / "run" / "forecasts.csv")
    assert list(fc.columns) == ["store", "dept", "date", "forecast"]
    assert set(fc["store"]) == {"S06", "S07", "S08"}
    assert fc.groupby(["store", "dept"]).size().eq(6).all()
    assert pd.to_datetime(fc["date"]).min() > pd.Timestamp(small_frame()["date"].max())
    # the targets' 40 weeks, of which [task] target_history = 13 keeps the last 13
    assert (
        "note: [task] target_history = 13 kept the targets' last 13 periods and left 27 earlier "
        "ones unread" in " ".join(res.stdout.split())
    ), res.stdout


def test_compare_writes_scores_forecasts_leaderboard(project):
    out = project / "cmp"
    res = cli(
        "compare",
        str(project / "config.toml"),
        "--output",
        str(out),
        "--strategies",
        "target_only,source_only,pooled",
    )
    assert res.returncode == 0, res.stderr
    assert "Leaderboard" in res.stdout and "pooled" in res.stdout
    scores = pd.read_csv(out / "scores.csv")
    assert list(scores.columns)[:3] == ["target", "strategy", "origin"]
    assert len(scores) == 3 * 3 * 2 and (scores["status"] == "ok").all()
    fc = pd.read_csv(out / "forecasts.csv")
    assert list(fc.columns) == ["store", "dept", "date", "strategy", "origin", "forecast", "actual"]
    board = pd.read_csv(out / "leaderboard.csv")
    assert set(board["strategy"]) == {"target_only", "source_only", "pooled"}
    assert {"wape", "wins", "wape_vs_target_only", "wape_gap", "wape_gap_se"} <= set(board.columns)
    # the printed table: the leader's row shows a zero gap and no standard error
    leader_row = next(line for line in res.stdout.splitlines() if board["strategy"][0] in line)
    assert "0.000" in leader_row.split() and "-" in leader_row.split()
    assert "leader" in res.stdout and "…" not in res.stdout  # fits 80 columns uncut
    from transfercast.evaluation import tied_with_leader

    tied = tied_with_leader(board)
    assert ("no clear difference from" in res.stdout) == bool(tied)


def test_compare_uses_config_candidates(project):
    out = project / "cmp2"
    res = cli("compare", str(project / "config.toml"), "--output", str(out))
    assert res.returncode == 0, res.stderr
    assert set(pd.read_csv(out / "scores.csv")["strategy"]) == {"target_only", "source_only"}


def test_unknown_strategy_exit_2_without_output(project):
    out = project / "never"
    res = cli(
        "compare",
        str(project / "config.toml"),
        "--output",
        str(out),
        "--strategies",
        "target_only,sorce_only",
    )
    assert res.returncode == 2
    assert "unknown strategy 'sorce_only'" in res.stderr and "source_only" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategies", "pooledd"], "unknown strategy 'pooledd' (did you mean 'pooled'?)"),
        (["--jobs", "0"], "jobs 0: give the number of parallel workers"),
    ],
)
def test_demo_with_a_bad_option_writes_nothing(tmp_path, args, message):
    out = tmp_path / "demo"
    res = cli("demo", "--output", str(out), *args)
    assert res.returncode == 2 and message in res.stderr, res.stderr
    assert not out.exists()


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    res = cli("demo", "--output", str(tmp_path / "demo"), "--strategies", "target_only,source_only")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "demo" / "config.toml").exists()
    board = pd.read_csv(tmp_path / "demo" / "results" / "leaderboard.csv")
    assert board["strategy"].iloc[0] == "source_only"  # relatedness 1: transfer wins
    # a demo may write over its own files: run again into the same folder
    res = cli(
        "demo", "--output", str(tmp_path / "demo"), "--strategies", "target_only", "--jobs", "2"
    )
    assert res.returncode == 0, res.stderr
    board = pd.read_csv(tmp_path / "demo" / "results" / "leaderboard.csv")
    assert list(board["strategy"]) == ["target_only"]
    # the config records what the demo compared: the documented --resume goes on with it
    config = (tmp_path / "demo" / "config.toml").read_text()
    assert 'candidates = ["target_only"]' in config and "jobs = 2" in config
    res = cli("compare", str(tmp_path / "demo" / "config.toml"), "--resume")
    assert res.returncode == 0, res.stderr
    assert "resuming: 15 cells already scored" in res.stdout
    board = pd.read_csv(tmp_path / "demo" / "results" / "leaderboard.csv")
    assert list(board["strategy"]) == ["target_only"]


def test_a_missing_required_option_is_a_usage_line_with_exit_status_2(tmp_path):
    res = cli("predict", str(tmp_path / "model"))
    assert res.returncode == 2
    assert "Missing option '--data'" in res.stderr and "Traceback" not in res.stderr


def test_a_usage_error_stays_a_usage_line_where_click_itself_is_not_installed(tmp_path):
    """typer 0.26 and later vendor click and no longer install it: the check for a usage
    error must not import it (before: ModuleNotFoundError, exit 1)."""
    import subprocess

    code = (
        "import sys; sys.modules['click'] = None\n"  # `import click` now raises ImportError
        "from transfercast.cli import _is_usage_error\n"
        "print(_is_usage_error(ValueError('not a usage error')))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "False", res.stderr


@pytest.mark.parametrize(
    ("command", "text"),
    [
        ("run", "(default: [strategy] name)"),
        ("run", "(default: [forecast] quantiles)"),
        ("compare", "(default: [forecast] quantiles)"),
        ("compare", "LocalCluster; default: [execution] jobs)"),
        ("similarity", "(default: [task] origin or the targets' last sale)"),
        ("run", "output directory (default: [output] dir)"),
        ("compare", "output directory (default: [output] dir)"),
        ("similarity", "output directory (default: [output] dir)"),
    ],
)
def test_help_names_the_config_sections_it_defaults_to(command, text):
    """Rich markup would swallow a bare ``[section]`` in a help text."""

    done = invoke(command, "--help")
    assert done.code == 0, done.err
    assert text in " ".join(done.out.replace("│", " ").split()), done.out  # lines may wrap


@pytest.mark.parametrize("command", [[], ["compare"], ["run"], ["predict"], ["demo"]])
def test_help_shows_flags_without_a_value(command):
    # typer shows a boolean option as `--resume <bool>`, which reads as taking a value
    # (`--resume true` then reads `true` as the config file); newer typer does so for --help

    done = invoke(*command, "--help")
    lines = done.out.splitlines()
    flags = ["--help", "--version"] if not command else ["--help"]
    flags += ["--resume"] if command == ["compare"] else []
    for flag in flags:
        line = next(x for x in lines if f"{flag} " in x)
        assert "<bool>" not in line and "<" not in line, line
    if command == ["compare"]:
        assert any("--resume" in x and "skip the cells already scored" in x for x in lines)


def test_plugins_lists_a_failed_plugin_with_its_error_as_written(monkeypatch):
    """An installed plugin that failed is listed in red with its error, brackets and all."""
    from types import SimpleNamespace

    import transfercast.plugin_manager as manager

    failure = SimpleNamespace(
        plugin="tc_gpu", source="entry point", error="install 'transfercast[torch]'"
    )
    fake = SimpleNamespace(registry=SimpleNamespace(entries={}), failures=[failure])
    monkeypatch.setattr(manager, "get_plugin_manager", lambda extra=(): fake)
    res = invoke("plugins")
    assert res.code == 0, res.err
    assert "plugin failed tc_gpu (entry point): install 'transfercast[torch]'" in res.out


def test_tables_are_printed_whole_in_a_pipe(monkeypatch):
    """In a file or a pipe (80 columns) ``plugins`` cut the plugin module it exists to show
    (``transfercast.plugins.b…``); the leaderboard was already printed whole there."""
    monkeypatch.setenv("COLUMNS", "60")
    res = invoke("plugins")
    assert res.code == 0, res.err
    line = next(x for x in res.out.splitlines() if "boost_continue" in x)
    assert "transfercast.plugins.boost_continue" in line and "…" not in res.out


def test_compare_removes_the_result_files_of_an_earlier_comparison_it_does_not_write(project):
    """selection.csv, replays.csv, regret.csv and weights.png come with `auto`: a comparison
    without it into the same folder removes an earlier one's, and nothing else."""
    out = project / "again"
    (out / ".progress").mkdir(parents=True)  # an earlier comparison's store of cells
    earlier = ["selection.csv", "replays.csv", "regret.csv", "weights.png", "scores.csv"]
    for name in [*earlier, "notes.txt", "selection.csv.bak"]:
        (out / name).write_text("from an earlier run\n")
    res = cli(
        "compare",
        str(project / "config.toml"),
        "--output",
        str(out),
        "--strategies",
        "target_only,source_only",
    )
    assert res.returncode == 0, res.stderr
    for name in earlier[:4]:
        assert not (out / name).exists(), name
    assert set(pd.read_csv(out / "scores.csv")["strategy"]) == {"target_only", "source_only"}
    assert (out / "notes.txt").read_text() == (out / "selection.csv.bak").read_text()
    assert (out / "notes.txt").read_text() == "from an earlier run\n"


@pytest.mark.parametrize("option,expected", [((), 2), (("--jobs", "1"), 1), (("--jobs", "3"), 3)])
def test_jobs_on_the_command_line_overrides_the_config(tmp_path, monkeypatch, option, expected):
    """``[execution] jobs = 2``; ``--jobs 1`` runs the cells one at a time (it read as "not
    given" before), no ``--jobs`` takes the config's 2."""
    import transfercast.evaluation as evaluation

    raw = small_project(tmp_path, horizon=6, target_history=13, windows=1, output_dir="out")
    raw["execution"] = {"jobs": 2}
    (tmp_path / "config.toml").write_text(to_toml(raw))
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs["jobs"])
        raise evaluation.ConfigError("stopped here")

    monkeypatch.setattr(evaluation, "compare", spy)
    res = invoke("compare", tmp_path / "config.toml", "--strategies", "target_only", *option)
    assert res.code == 2 and "stopped here" in res.err and seen == [expected]


def test_run_fits_the_target_domains_on_execution_jobs_threads(tmp_path, monkeypatch):
    """``[execution] jobs = 2``: `run` fits its target domains on two threads, with the
    forecasts of one job."""
    import transfercast.distributed as distributed

    raw = small_project(tmp_path, horizon=6, target_history=13, windows=1, output_dir="one")
    raw["strategy"]["name"] = "source_only"
    (tmp_path / "one.toml").write_text(to_toml(raw))
    raw["execution"], raw["output"]["dir"] = {"jobs": 2}, "two"
    (tmp_path / "two.toml").write_text(to_toml(raw))
    ran = []
    made = distributed.local_executor

    def counted(jobs):
        execute = made(jobs)
        if execute is None:
            return None

        def wrapped(run, cells):
            ran.append(len(cells))
            return execute(run, cells)

        return wrapped

    monkeypatch.setattr(distributed, "local_executor", counted)
    for name in ("one", "two"):
        assert invoke("run", tmp_path / f"{name}.toml").code == 0
    assert ran == [len(raw["task"]["targets"])]  # only the run with two jobs used threads
    one, two = (pd.read_csv(tmp_path / n / "forecasts.csv") for n in ("one", "two"))
    pd.testing.assert_frame_equal(one, two)


def test_run_forecasts_from_the_targets_last_sale_when_the_sources_run_on(tmp_path):
    """The targets' data end 4 weeks before the sources': run forecasts the weeks after the
    targets' last sale (it forecast from the sources' last week, skipping those 4)."""

    raw = small_project(tmp_path, horizon=6, target_history=13, windows=1, output_dir="out")
    frame = pd.read_csv(tmp_path / raw["data"]["path"], parse_dates=["date"])
    end = frame["date"].max() - pd.Timedelta(weeks=4)
    frame = frame[~frame["store"].isin(raw["task"]["targets"]) | (frame["date"] <= end)]
    frame.to_csv(tmp_path / raw["data"]["path"], index=False)
    raw["strategy"]["name"] = "source_only"
    (tmp_path / "config.toml").write_text(to_toml(raw))
    res = invoke("run", tmp_path / "config.toml")
    assert res.code == 0, res.err
    fc = pd.read_csv(tmp_path / "out" / "forecasts.csv", parse_dates=["date"])
    assert fc["date"].min() == end + pd.Timedelta(weeks=1)


def test_compare_says_which_strategies_gave_the_same_forecasts(tmp_path):
    """On 6 weeks of history boost_continue adds no tree to source_only: the leaderboard
    says the two are one forecast, and a strategy that differs is not named."""

    raw = small_project(tmp_path, horizon=6, target_history=6, windows=1, output_dir="out")
    (tmp_path / "config.toml").write_text(to_toml(raw))
    res = invoke(
        "compare", tmp_path / "config.toml", "--strategies", "source_only,boost_continue,pooled"
    )
    assert res.code == 0, res.err
    said = [x for x in res.out.splitlines() if x.startswith("the same forecasts")]
    assert said == ["the same forecasts in every cell: source_only, boost_continue"], res.out
    report = (tmp_path / "out" / "report.html").read_text()
    assert (
        "The same forecasts in every cell (one forecast, not 2): source_only, boost_continue"
        in report
    )


def test_compare_after_similarity_into_the_same_folder_takes_its_similarity_csv(project):
    """The docs' order (similarity, then compare, both into [output] dir) stopped compare:
    "holds similarity.csv, ..., and no comparison or run wrote them". A similarity.csv of the
    user's own is still refused."""
    out = project / "sim_then_cmp"
    sim = invoke("similarity", project / "config.toml", "--output", out)
    assert sim.code == 0, sim.err
    res = invoke("compare", project / "config.toml", "--output", out, "--strategies", "naive")
    assert res.code == 0, res.err
    mine = project / "mine"
    mine.mkdir()
    (mine / "similarity.csv").write_text("store,note\nS01,keep me\n")
    res = invoke("compare", project / "config.toml", "--output", mine, "--strategies", "naive")
    assert res.code == 2 and "holds similarity.csv" in res.err


def test_plugin_commands_are_made_afresh_at_each_call(monkeypatch):
    """In one process each call of main() added the plugins' commands again, and kept those
    of a plugin TRANSFERCAST_LOAD_PLUGINS had since left out."""
    from types import SimpleNamespace

    import transfercast.plugin_manager as manager
    from transfercast import cli

    def hello() -> None:
        print("hello from a plugin")

    def plugin(cli):  # what an installed plugin's transfercast_register_commands does
        cli.command("hello")(hello)

    def with_hook(*hooks):  # pluggy's implementations, called the last registered first
        impls = [
            SimpleNamespace(function=h, plugin_name=f"p{k}", argnames=h.__code__.co_varnames[:1])
            for k, h in enumerate(hooks)
        ]
        caller = SimpleNamespace(get_hookimpls=lambda: impls)
        fake = SimpleNamespace(hook=SimpleNamespace(transfercast_register_commands=caller))
        monkeypatch.setattr(manager, "get_plugin_manager", lambda *a, **k: fake)

    with_hook(plugin)
    for _ in range(3):
        res = invoke("hello")
        assert res.code == 0 and "hello from a plugin" in res.out, res.err
    assert [c.name for c in cli.app.registered_commands].count("hello") == 1
    with_hook(lambda cli: None)  # the plugin left out
    assert invoke("hello").code == 2
    assert "hello" not in [c.name for c in cli.app.registered_commands]

    def broken(cli):
        cli.comand("oops")  # a typo in a plugin: it alone loses its commands, named

    def quiet():  # a hook that takes none of the arguments: called without them, as by pluggy
        pass

    with_hook(plugin, broken, quiet)  # the broken one called before the good one
    res = invoke("hello")
    assert res.code == 0 and "hello from a plugin" in res.out, res.err
    assert "plugin 'p1' failed to add its commands: AttributeError:" in res.err
    assert "p2" not in res.err
