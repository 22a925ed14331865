"""The ``transfercast`` command line.

Bad input ends with exit status 2 and one line naming the file, column, key or value at fault;
nothing is written before the input has been validated, and files are written atomically.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

from transfercast.data import period_text
from transfercast.errors import ConfigError, TransfercastError, one_line, raised_at

if TYPE_CHECKING:
    import click


class _HelpFlag:
    """Shows ``--help`` as the flag it is: newer typer prints it as ``--help <bool>``."""

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = ""
        return option


class _Group(_HelpFlag, TyperGroup):
    pass


class _Command(_HelpFlag, TyperCommand):
    pass


app = typer.Typer(
    cls=_Group,
    help="Transfer learning for sales forecasting: compare and run transfer strategies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        import transfercast

        console.print(f"transfercast {transfercast.__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        metavar="",  # a flag: no `<bool>` value in the help
        help="print the version",
    ),
) -> None:
    """Transfer learning for sales forecasting: compare and run transfer strategies."""


# no markup: names, paths and error text print as written (a "[section]" stays in them)
console = Console(markup=False)
err_console = Console(stderr=True, markup=False)


OUTPUT_HELP = "output directory (default: \\[output] dir)"


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


LEADERBOARD_COLUMNS = {  # column -> header (NARROW_DROP: the first to go on a narrow terminal)
    "strategy": "strategy",
    "wape": "wape",
    "wape_gap": "gap to\nleader",
    "wape_gap_se": "gap\ns.e.",
    "mase": "mase",
    "bias": "bias",
    "wins": "wins",
    "failed": "failed",  # shown only when a cell failed
    "wape_vs_target_only": "vs\ntarget\nonly",
    "sql": "sql",
    "coverage_80": "cover\n80%",
    "coverage_95": "cover\n95%",
}


def quantiles_option(value: str | None, cfg) -> list[float]:
    """``--quantiles 0.1,0.5,0.9`` (or the config's ``[forecast] quantiles`` when not given);
    a bad level is one line naming the option and the value."""
    from transfercast.intervals import check_quantiles

    if value is None:
        return list(cfg.forecast.quantiles) if cfg is not None else []
    try:
        return check_quantiles([float(v) for v in _split(value) or []])
    except ValueError as exc:
        raise ConfigError(f"--quantiles {value!r}: {exc}") from None


def origin_option(value: str | None) -> str | None:
    """``--origin``, checked to be a date (one line naming the option and the value); returned
    as given."""
    import pandas as pd

    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        ts = pd.NaT
    if pd.isna(ts):
        raise ConfigError(f"--origin {value!r} is not a date; give one such as 2021-03-26")
    from transfercast.data import refuse_unordered_date

    refuse_unordered_date(value, ts, "--origin", ConfigError)
    return value


def check_threads() -> None:
    """A ``TRANSFERCAST_THREADS`` that is not a number of threads stops a command before it
    reads anything (one line naming the variable and its value)."""
    from transfercast.engines import env_threads

    env_threads()


# help texts are rich markup: a literal "[" is written "\\["
QUANTILES_HELP = (
    "comma-separated quantile levels, e.g. 0.1,0.5,0.9 (default: \\[forecast] quantiles)"
)


#: leaderboard columns left out, in this order, while the table is wider than the terminal
NARROW_DROP = (
    "coverage_95",
    "sql",
    "bias",
    "mase",
    "wape_vs_target_only",
    "coverage_80",
    "wins",
    "wape_gap_se",
    "wape_gap",
)


def _leaderboard_table(board, cols: list[str], title: str) -> Table:
    from rich import box

    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True)
    for col in cols:
        left = col == "strategy"
        justify = "left" if left else "right"
        table.add_column(LEADERBOARD_COLUMNS[col], justify=justify, no_wrap=True)
    for _, row in board.iterrows():
        cells = []
        for col in cols:
            v = row[col]
            if isinstance(v, float):
                cells.append("-" if v != v else f"{v:.3f}")  # NaN: nothing to show
            else:
                cells.append(str(v))
        table.add_row(*cells)
    return table


def print_leaderboard(board, title: str = "Leaderboard", same: Any = ()) -> None:
    """Print the main leaderboard columns as a rich table (all of them, ``wape_std`` included,
    are in leaderboard.csv): mean WAPE, the paired gap to the leader and its standard error,
    MASE, bias, wins, failed cells (when any), WAPE relative to ``target_only``, and the
    interval scores when quantiles were asked for; then the strategies the backtest cannot
    tell from the leader, and each group of strategies with the ``same`` forecasts. A terminal
    too narrow for the table gets it without the columns of :data:`NARROW_DROP` it cannot
    hold, named below it; output that is no terminal (a file, a pipe) gets every column."""
    cols = [c for c in LEADERBOARD_COLUMNS if c in board.columns]
    if "failed" in cols and not board["failed"].any():
        cols.remove("failed")
    print_fitted(lambda c: _leaderboard_table(board, c, title), cols, NARROW_DROP, "leaderboard")
    from transfercast.evaluation import tied_with_leader, unmeasured

    leader = board["strategy"].iloc[0] if len(board) else ""
    tied = tied_with_leader(board)
    if tied:
        text = f"no clear difference from {leader} (gap within its 95 % interval): "
        console.print(text + ", ".join(tied), soft_wrap=True)
    alone = unmeasured(board)
    if alone:
        console.print(
            f"one cell shared with {leader}, no standard error: the backtest cannot tell "
            f"{', '.join(alone)} from it",
            soft_wrap=True,
        )
    for group in same:
        console.print(f"the same forecasts in every cell: {', '.join(group)}", soft_wrap=True)


def _natural_width(table: Table) -> int:
    """The width ``table`` takes unconstrained by the console's."""
    return console.measure(table, options=console.options.update(max_width=10_000)).maximum


def print_fitted(make: Any, cols: list[str], drop: tuple[str, ...], csv: str) -> None:
    """Print the table ``make(cols)`` builds: whole in a file or a pipe; in a terminal too
    narrow for it, without the columns of ``drop`` (in that order) it cannot hold, named
    below it (they are in ``<csv>.csv``), so that no figure is cut."""
    cols, left_out = list(cols), []
    table = make(cols)
    if console.is_terminal:
        for col in drop:
            if _natural_width(table) <= console.width:
                break
            if col in cols:
                cols.remove(col)
                left_out.append(col)
                table = make(cols)
    print_table(table)
    if left_out:
        console.print(
            f"left out for the terminal's width (in {csv}.csv): {', '.join(left_out)}",
            soft_wrap=True,
        )


def print_table(table: Table) -> None:
    """Print ``table`` on stdout: in a terminal fitted to its width, in a file or a pipe
    whole (no figure or name cut to the 80 columns a pipe is given)."""
    if console.is_terminal:
        console.print(table)
        return
    width = max(console.width, _natural_width(table))
    Console(file=console.file, width=width, markup=False).print(table)


@app.command("plugins", cls=_Command)
def plugins_cmd(
    config: Path | None = typer.Option(None, "--config", help="also load the config's plugins"),
) -> None:
    """List registered strategies: name, plugin, source and description."""
    from transfercast.plugin_manager import get_plugin_manager

    extra = _load_config(config).plugins if config else []
    pm = get_plugin_manager(extra)
    table = Table(title="Strategies")
    for col in ("name", "plugin", "source", "description"):
        table.add_column(col)
    for entry in pm.registry.entries.values():
        also = f" (also {', '.join(entry.aliases)})" if entry.aliases else ""
        table.add_row(entry.name + also, entry.plugin, entry.source, entry.description)
    print_table(table)
    for f in pm.failures:
        failure = f"{f.plugin} ({f.source}): {f.error}"
        console.print(Text("plugin failed", style="red"), failure, soft_wrap=True)


@app.command("run", cls=_Command)
def run_cmd(
    config: Path = typer.Argument(..., help="TOML config file"),
    strategy: str | None = typer.Option(
        None, "--strategy", help="strategy (default: \\[strategy] name)"
    ),
    output: Path | None = typer.Option(None, "--output", help=OUTPUT_HELP),
    quantiles: str | None = typer.Option(None, "--quantiles", help=QUANTILES_HELP),
) -> None:
    """Fit on all data up to the origin and write forecasts.csv."""
    from transfercast.bundle import check_replaceable, write_bundle
    from transfercast.evaluation import check_tables, resolve_strategies
    from transfercast.forecaster import TransferForecaster
    from transfercast.outputs import check_output_dir
    from transfercast.resume import PROGRESS_DIR
    from transfercast.task import TransferTask

    check_threads()
    cfg = _load_config(config)
    cfg.forecast.quantiles = quantiles_option(quantiles, cfg)
    name = strategy or cfg.strategy.name
    pm = config_plugin_manager(cfg)
    # every [strategies.NAME] table checked as compare checks them; the one for this strategy
    # found under its name or an alias
    (chosen,) = resolve_strategies([name], cfg.strategies, pm)
    out = output or cfg.output_dir()
    check_output_dir(out, files=["forecasts.csv"], folders=["model"], inputs=_inputs(cfg))
    # a run without a bundle (a strategy that cannot be saved) wrote this header
    written = [*cfg.data.series, cfg.data.time, "forecast"]
    ours = {"forecasts.csv": lambda path: _header_starts(path, written)}
    _refuse_foreign_results(Path(out), ("forecasts.csv",), PROGRESS_DIR, "run", ours)
    check_replaceable(out / "model", what=f"output directory {out}: ")
    sources = cfg.sources_path()
    task = TransferTask.from_config(cfg, require_sources=sources is None)
    check_tables(cfg.strategies, task, pm)
    pm.hook.transfercast_run_started(kind="run", config=cfg)
    if sources is not None:
        if cfg.forecast.quantiles:
            raise ConfigError(
                "[forecast] quantiles cannot be combined with [data] sources yet: the source "
                "replays that calibrate them need the source rows in memory"
            )
        model = run_with_dask_sources(cfg, chosen, task, sources)
        forecasts = model.predict()
    else:
        model = TransferForecaster(
            chosen,
            plugins=cfg.plugins,
            quantiles=cfg.forecast.quantiles,
            interval_method=cfg.forecast.method,
        )
        from transfercast.distributed import executor_for, local_executor

        with executor_for(cfg.execution) as executor:  # Dask, else [execution] jobs threads
            executor = executor or local_executor(cfg.execution.jobs)
            forecasts = model.fit(task, executor=executor).predict()
        hidden = task.hidden_history(model.origin_)
        if hidden:
            console.print(
                f"note: {task.hidden_text(hidden, past=True)}; remove it to forecast from all "
                f"of their history",
                soft_wrap=True,
            )

    # the bundle first: a strategy whose save() returns what no bundle can hold stops the run
    # (one line naming it) before anything is written
    def commit() -> None:  # with the bundle's rename, an interrupt held till both are done
        _commit_forecasts(task, forecasts, out)

    try:
        bundle = write_bundle(model, out / "model", plugins=cfg.plugins, then=commit)
    except NotImplementedError as exc:  # no bundle: the forecasts alone
        bundle, unsaved = None, exc
        commit()
    path = out / "forecasts.csv"
    pm.hook.transfercast_run_finished(kind="run", config=cfg, result=forecasts)
    console.print(
        f"{len(forecasts)} forecasts after the origin "
        f"{period_text(model.origin_, task.timezone)} written to "
        f"{path}",
        soft_wrap=True,
    )
    if bundle is None:
        err_console.print(f"warning: no model bundle written: {unsaved}", soft_wrap=True)
    else:
        console.print(f"model bundle written to {bundle}", soft_wrap=True)


def _commit_forecasts(task, forecasts, out: Path) -> None:
    """Write ``forecasts.csv`` beside the bundle just renamed into place; where that fails,
    an earlier run's file goes too (it would not be the new bundle's forecasts)."""
    from transfercast.results import write_forecasts

    try:
        write_forecasts(task, forecasts, out)
    except BaseException:
        (out / "forecasts.csv").unlink(missing_ok=True)
        raise


def run_with_dask_sources(cfg, strategy, task, sources: Path):
    """``run`` with ``[data] sources``: the source model fitted on Dask from the Parquet
    dataset (``[execution] address``, or a local cluster), the targets fitted here."""
    from transfercast.dask_source import check_strategy, fit_source_dask, forecast_with_source
    from transfercast.distributed import dask_client, job_count

    strategy = check_strategy(strategy)
    origin = task.forecast_origin()
    ex = cfg.execution
    threads = job_count(ex.jobs) if ex is not None and ex.jobs else None  # -2: all but one
    with dask_client(ex.address if ex is not None else None, threads_per_worker=threads) as client:
        source_model = fit_source_dask(strategy, task, sources, origin, client)
    return forecast_with_source(strategy, task, source_model)


def config_plugin_manager(cfg):
    """The plugin manager for a config; a module named in its ``plugins`` that fails to import
    or register is a user error (:func:`~transfercast.plugin_manager.get_plugin_manager` raises
    it, naming the module and the reason), and so is a ``[strategy] name`` it does not register,
    whichever command reads the config."""
    from transfercast.plugin_manager import get_plugin_manager

    pm = get_plugin_manager(cfg.plugins)
    try:
        pm.registry.get(cfg.strategy.name)
    except TransfercastError as exc:
        raise ConfigError(f"[strategy] name: {exc}") from None
    return pm


@app.command("predict", cls=_Command)
def predict_cmd(
    model_dir: Path = typer.Argument(..., help="a model bundle written by `run` (<output>/model)"),
    data: Path = typer.Option(..., "--data", help="CSV or Parquet file with the same columns"),
    output: Path = typer.Option(
        Path("forecasts.csv"),
        "--output",
        help="forecasts file to write (.csv, .csv.gz or .parquet)",
    ),
    origin: str | None = typer.Option(
        None, "--origin", help="forecast origin (default: the targets' last sale in --data)"
    ),
    quantiles: str | None = typer.Option(
        None,
        "--quantiles",
        help="comma-separated quantile levels, among those the bundle was calibrated for "
        "(default: all of them)",
    ),
) -> None:
    """Forecast from new data with a saved model bundle; write forecasts.csv."""
    from transfercast.bundle import load_bundle, predict_bundle
    from transfercast.data import read_table
    from transfercast.outputs import check_output_file, write_table

    check_threads()
    check_output_file(output)
    check_not_input(output, data)
    if output.resolve().is_relative_to(model_dir.resolve()):
        raise TransfercastError(
            f"--output {output} is inside the model bundle {model_dir}: writing the forecasts "
            f"there could overwrite the saved models; choose another --output"
        )
    origin_option(origin)
    levels = quantiles_option(quantiles, None) if quantiles is not None else None
    bundle = load_bundle(model_dir)
    frame = read_table(data, [*bundle.data["series"], bundle.data["domain"]], bundle.data["target"])
    forecasts = predict_bundle(
        bundle,
        frame,
        origin=origin,
        source_name=str(data),
        quantiles=levels,
        origin_name="--origin",
    )
    when = forecasts.attrs.pop("origin")
    path = write_table(forecasts, output)
    console.print(
        f"{len(forecasts)} forecasts after the origin {when} with the "
        f"'{bundle.manifest['strategy']['name']}' model written to {path}",
        soft_wrap=True,
    )


def _header_starts(path: Path, columns: list[str]) -> bool:
    """Whether the CSV file ``path`` begins with a header naming ``columns`` in this order."""
    import csv

    try:
        with open(path, encoding="utf-8", newline="") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return header[: len(columns)] == [str(c) for c in columns]


def _written_by_similarity(path: Path) -> bool:
    """Whether a ``similarity.csv`` has the header ``transfercast similarity`` writes."""
    from transfercast.similarity import SIMILARITY_COLUMNS

    return _header_starts(path, SIMILARITY_COLUMNS)


def _refuse_foreign_results(
    output: Path,
    files: tuple[str, ...],
    progress: str,
    command: str = "compare",
    ours: dict[str, Any] | None = None,
) -> None:
    """Refuse an output folder holding files named like those ``command`` writes
    (``scores.csv``, ``report.html``, ``forecasts.csv``, ...) that no comparison or run of
    transfercast wrote: no ``.progress`` store, no model bundle, and a header other than the
    one transfercast writes (``ours``: a test per file name; ``similarity.csv``'s is known).
    The command replaces (``compare`` also removes) such files, and these are the user's."""
    from transfercast.bundle import MANIFEST

    if (output / progress).is_dir() or (output / "model" / MANIFEST).is_file():
        return
    ours = {"similarity.csv": _written_by_similarity, **(ours or {})}
    found = [name for name in files if (output / name).exists()]
    found = [name for name in found if not (name in ours and ours[name](output / name))]
    if found:
        does = "replaces or removes" if command == "compare" else "replaces"
        raise TransfercastError(
            f"output directory {output} holds {', '.join(found)}, which {command} {does}, and "
            f"no comparison or run wrote them; choose another --output or move them"
        )


def _inputs(cfg) -> list[Path]:
    """The data files a config reads (``[data] path`` and ``sources``), resolved."""
    return [cfg.resolve(p) for p in (cfg.data.path, cfg.data.sources) if p is not None]


def check_not_input(output: Path, data: Path) -> None:
    """Refuse an ``--output`` that is the ``--data`` file (or lies in a ``--data`` folder of
    Parquet files): the forecasts would overwrite the data they came from."""
    try:
        same = output.exists() and data.exists() and os.path.samefile(output, data)
    except OSError:
        same = False
    same = same or output.resolve() == data.resolve()
    if same or (data.is_dir() and output.resolve().is_relative_to(data.resolve())):
        where = "is" if same else "is inside"
        raise TransfercastError(
            f"--output {output} {where} the --data {data}: writing the forecasts would "
            f"overwrite the data; choose another --output"
        )


def _progress() -> Progress:
    """The progress bar of a comparison on stderr; none where stderr is not a terminal (a log
    file or a pipe gets the one-line errors and warnings without a bar's last frame)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
        disable=not err_console.is_terminal,
    )


def run_compare(
    cfg, strategies: list[str] | None, output: Path, jobs: int | None, resume: bool = False
) -> int:
    """Run a comparison from a validated config, write its files, print the leaderboard.

    Every finished cell is stored under ``<output>/.progress`` at once; ``resume`` skips the
    cells stored by an earlier, interrupted or shorter, run (see :mod:`transfercast.resume`)."""
    from transfercast.evaluation import (
        check_jobs,
        compare,
        resolve_strategies,
        same_forecasts,
        warn_scoring,
    )
    from transfercast.results import write_comparison
    from transfercast.resume import CellStore
    from transfercast.task import TransferTask

    check_threads()
    jobs = cfg.execution.jobs if jobs is None else jobs  # --jobs, else [execution] jobs
    check_jobs(jobs)
    _check_comparison_output(output, _inputs(cfg))
    pm = config_plugin_manager(cfg)
    names = strategies or cfg.strategy.candidates or None
    said = "--strategies" if strategies else "[strategy] candidates"  # the file is added to it
    for n in names or []:
        try:
            pm.registry.get(n)
        except TransfercastError as exc:
            raise TransfercastError(f"{said}: {exc}") from None
    task = TransferTask.from_config(cfg)
    origins = task.evaluation_origins(cfg.evaluate)
    chosen = resolve_strategies(names, cfg.strategies, pm)
    fc = cfg.forecast
    intervals = {"quantiles": fc.quantiles, "method": fc.method} if fc.quantiles else None
    store = CellStore(output, task, chosen, resume=resume, intervals=intervals)
    try:  # the lock is held until the tables and the report are written
        ran = {s.name for s in chosen}
        skip = {k for k in store.done() if k[1] in ran} if resume else set()
        if skip:  # cells are kept in the store: a crash says --resume goes on from them
            _COMPARING.append(True)

        def keep(*cell: Any) -> None:
            store.add(*cell)
            if not _COMPARING:
                _COMPARING.append(True)

        if skip:
            console.print(f"resuming: {len(skip)} cells already scored in {output}")
        pm.hook.transfercast_run_started(kind="compare", config=cfg)
        from transfercast.distributed import executor_for

        try:
            execution = cfg.execution.model_copy(update={"jobs": jobs})  # --jobs: Dask's too
            with executor_for(execution) as executor, _progress() as bar:
                job = bar.add_task("compare", total=None)

                def tick(done: int, total: int) -> None:
                    bar.update(job, completed=done, total=total)

                try:
                    comp = compare(
                        task,
                        chosen,
                        params=cfg.strategies,
                        origins=origins,
                        jobs=jobs,
                        plugins=cfg.plugins,
                        progress=tick,
                        skip=skip,
                        on_cell=keep,
                        on_origin=store.add_replays,
                        executor=executor,
                        quantiles=fc.quantiles,
                        interval_method=fc.method,
                    )
                    if not skip:  # a resumed run keeps the cells scored before
                        _refuse_nothing_scored(comp.scores)
                except TransfercastError:
                    bar.live.transient = True  # the error is the one line on stderr
                    raise
        except TransfercastError:
            store.discard()  # a user error: the output directory is left as it was
            raise
        except KeyboardInterrupt:
            _say_aborted(store, output)
            raise
        finally:
            store.commit()  # done, or interrupted: the cells stored stay for --resume
        try:
            comp = store.comparison(origins, [s.name for s in chosen], comp)
            if skip:  # the warnings on the whole comparison, stored cells included
                warn_scoring(comp.scores, comp.forecasts, task)
            write_comparison(comp, output)
            write_compare_report(comp, output, origins[-1], cfg.plugins)
        except KeyboardInterrupt:  # every cell is stored: --resume writes the tables
            _say_aborted(store, output)
            raise
    finally:
        store.release()
    pm.hook.transfercast_run_finished(kind="compare", config=cfg, result=comp)
    print_leaderboard(comp.leaderboard(), same=same_forecasts(comp.forecasts))
    console.print(f"results written to {output}", soft_wrap=True)
    skipped = comp.scores[comp.scores["status"] == "skipped"]
    if len(skipped):
        console.print(
            f"{len(skipped)} cells skipped (first: {one_line(skipped['error'].iloc[0])})",
            soft_wrap=True,
        )
    if comp.failed:
        first = comp.scores[comp.scores["status"] == "failed"].iloc[0]
        at = f"target {str(first['target'])!r} at {period_text(first['origin'], task.timezone)}"
        err_console.print(
            f"{int((comp.scores['status'] == 'failed').sum())} cells failed; see scores.csv "
            f"(first: {first['strategy']}, {at}: {one_line(first['error'])})",
            soft_wrap=True,
        )
        return 1
    return 0


def _say_aborted(store, output: Path) -> None:
    """The one line of an interrupted comparison: the cells kept and how to go on."""
    err_console.print(
        f"aborted: {len(store.done())} finished cells kept in {output}; rerun the command with "
        f"--resume to go on from them",
        soft_wrap=True,
    )
    _SHOWN.add(ABORTED)


def _refuse_nothing_scored(scores) -> None:
    """Stop with a config error when every cell of the run was skipped: no strategy could
    forecast a target (those that need the target's history, before launch)."""
    if len(scores) and (scores["status"] == "skipped").all():
        raise ConfigError(
            f"nothing to compare: every cell was skipped (first: {scores['error'].iloc[0]}); "
            "add a strategy that forecasts from the sources, e.g. source_only"
        )


def write_compare_report(comp, output: Path, origin, plugins) -> None:
    """Write the similarity table (at the latest origin), the plots and ``report.html``; a
    failure here is reported as a warning, never loses the comparison's files."""
    from transfercast.report import write_compare_report as write

    write(comp, output, origin, plugins)  # the same arguments, as the command's step to patch


@app.command("similarity", cls=_Command)
def similarity_cmd(
    config: Path = typer.Argument(..., help="TOML config file"),
    origin: str | None = typer.Option(
        None,
        "--origin",
        help="cut the data here (default: \\[task] origin or the targets' last sale)",
    ),
    output: Path | None = typer.Option(None, "--output", help=OUTPUT_HELP),
) -> None:
    """Source/target similarity diagnostics per target domain; writes similarity.csv."""
    from transfercast.evaluation import check_tables, resolve_strategies
    from transfercast.forecaster import in_zone
    from transfercast.outputs import check_output_dir, write_csv
    from transfercast.resume import PROGRESS_DIR
    from transfercast.similarity import similarity
    from transfercast.task import TransferTask

    check_threads()
    origin_option(origin)
    cfg = _load_config(config)
    pm = config_plugin_manager(cfg)
    if cfg.strategies:  # a misspelt key stops this command as it stops the others
        resolve_strategies(list(cfg.strategies), cfg.strategies, pm)
    out = output or cfg.output_dir()
    check_output_dir(out, files=["similarity.csv"], inputs=_inputs(cfg))
    _refuse_foreign_results(Path(out), ("similarity.csv",), PROGRESS_DIR, "similarity")
    if (Path(out) / PROGRESS_DIR).is_dir():  # its report shows its own similarity.csv
        raise TransfercastError(
            f"output directory {out} holds a comparison, whose similarity.csv (at its last "
            "origin) the report shows; choose another --output"
        )
    task = TransferTask.from_config(cfg)
    check_tables(cfg.strategies, task, pm)
    if origin is not None:  # on the grid, within the data: named as the option it came from
        origin = task.check_origins([origin], "--origin")[0]
    table = similarity(task, origin, plugins=cfg.plugins)
    path = write_csv(in_zone(table, task, []), Path(out) / "similarity.csv")
    title = f"Similarity at {pd_date(table['origin'].iloc[0])}"
    shown = [
        "target",
        "domain_auc",
        "psi_mean",
        "ks_mean",
        "season_corr",
        "scale_ratio",
        "season_unseen",
        "drift_feature",
    ]

    def view(cols: list[str]) -> Table:  # a header wraps at its underscores, figures never
        out = Table(title=title)
        for col in cols:
            out.add_column(
                col.replace("_", "_\n"),
                justify="left" if col in ("target", "drift_feature") else "right",
                min_width=min(len(p) for p in col.split("_")) + 1,
                no_wrap=col != "target",
            )
        for _, row in table.iterrows():
            out.add_row(*[similarity_cell(row, c) for c in cols])
        return out

    narrow = ("drift_feature", "season_unseen", "scale_ratio", "psi_mean", "ks_mean")
    print_fitted(view, shown, narrow, "similarity")
    if "regime_level_ratio" in table:
        regimes = Table(title="New regime against old regime (regime_* columns)")
        shown = ["target", "regime_start", *REGIME_SHOWN]
        for col in shown:
            header = col if col == "regime_start" else col.removeprefix("regime_")
            regimes.add_column(header, justify="left" if col == "target" else "right")
        for _, row in table[table["old_regime"].astype(str) != ""].iterrows():
            regimes.add_row(*[similarity_cell(row, c) for c in shown])
        print_table(regimes)
    if not table["season_shown"].all():
        console.print(
            "(season_corr): the sources' seasonal index hardly moves over the target's periods, "
            "so the correlation measures noise there, not how alike the seasons are",
            soft_wrap=True,
        )
    console.print(f"similarity table written to {path}", soft_wrap=True)


#: the regime columns of the terminal table (similarity.csv holds the old regime's name too)
REGIME_SHOWN = ["regime_level_ratio", "regime_psi", "regime_ks", "regime_season_corr"]


def similarity_cell(row: Any, column: str) -> str:
    """One cell of the terminal similarity table: floats to three decimals, a date as an ISO
    date, a seasonal correlation over periods without a season (``season_shown`` false) in
    parentheses."""
    value = row[column]
    if column == "regime_start":
        return pd_date(value)
    if not isinstance(value, float):
        return str(value)
    if column == "season_corr" and not row.get("season_shown", True):
        return f"({value:.3f})"
    return f"{value:.3f}"


def pd_date(value) -> str:
    """A timestamp as an ISO date, with its time of day where it has one."""
    from transfercast.data import period_text

    return period_text(value)


@app.command("compare", cls=_Command)
def compare_cmd(
    config: Path = typer.Argument(..., help="TOML config file"),
    strategies: str | None = typer.Option(None, "--strategies", help="comma-separated names"),
    output: Path | None = typer.Option(None, "--output", help=OUTPUT_HELP),
    jobs: int | None = typer.Option(
        None,
        "--jobs",
        help="parallel workers (-1: all cores; with the dask backend, threads per worker of its "
        "LocalCluster; default: \\[execution] jobs)",
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        metavar="",  # a flag: no `<bool>` value in the help
        help="skip the cells already scored in the output directory",
    ),
    quantiles: str | None = typer.Option(None, "--quantiles", help=QUANTILES_HELP),
) -> None:
    """Evaluate strategies at rolling origins; write scores, forecasts and the leaderboard."""

    cfg = _load_config(config)
    cfg.forecast.quantiles = quantiles_option(quantiles, cfg)
    code = run_compare(cfg, _split(strategies), output or cfg.output_dir(), jobs, resume)
    raise typer.Exit(code)


@app.command("demo", cls=_Command)
def demo_cmd(
    output: Path = typer.Option(Path("transfercast-demo"), "--output", help="output directory"),
    relatedness: float = typer.Option(1.0, "--relatedness", help="0 (unrelated) .. 1 (same)"),
    strategies: str | None = typer.Option(None, "--strategies", help="comma-separated names"),
    jobs: int = typer.Option(1, "--jobs", help="parallel workers"),
) -> None:
    """Write synthetic data and a config, then compare every strategy on them."""
    from transfercast.config import parse_config
    from transfercast.datasets import synthetic_config, synthetic_sales
    from transfercast.evaluation import check_jobs
    from transfercast.outputs import check_output_dir, write_csv, write_text

    if not 0 <= relatedness <= 1:
        raise TransfercastError(f"--relatedness must be in [0, 1], got {relatedness}")
    check_threads()
    check_output_dir(output, files=["sales.csv", "config.toml"], folders=["results"])
    _refuse_overwriting_a_project(output)
    frame = synthetic_sales(relatedness=relatedness)
    check_jobs(jobs)  # the options are checked before anything is written
    # the config says what this demo compares, so that `compare config.toml --resume` goes on
    raw = synthetic_config(
        "sales.csv", frame.attrs["targets"], output_dir="results", candidates=_split(strategies)
    )
    if jobs != 1:
        raw["execution"] = {"jobs": jobs}
    cfg = parse_config(raw, source="demo", base_dir=output.resolve())
    pm = config_plugin_manager(cfg)
    for name in _split(strategies) or []:
        pm.registry.get(name)
    _check_comparison_output(output / "results")  # as compare will, before the demo writes
    write_csv(frame, output / "sales.csv")
    write_text(DEMO_MARK + to_toml(raw), output / "config.toml")
    console.print(
        f"synthetic data (relatedness {relatedness}) and config written to {output}; "
        f"comparing strategies on targets {', '.join(frame.attrs['targets'])}",
        soft_wrap=True,
    )
    raise typer.Exit(run_compare(cfg, _split(strategies), output / "results", jobs))


#: the first line of the config a demo writes: a demo may overwrite its own files, no others
DEMO_MARK = "# written by `transfercast demo`: rerunning it overwrites this folder's files\n"


def _check_comparison_output(output: Path, inputs: Sequence[Path] = ()) -> None:
    """A one-line error where ``compare`` may not write its tables into ``output``: a file of
    them is a folder or an input, or they are files no comparison wrote."""
    from transfercast.outputs import check_output_dir
    from transfercast.results import COMPARISON_FILES
    from transfercast.resume import PREVIOUS_DIR, PROGRESS_DIR

    folders = [PROGRESS_DIR, PREVIOUS_DIR]
    check_output_dir(output, files=COMPARISON_FILES, folders=folders, inputs=inputs)
    _refuse_foreign_results(output, COMPARISON_FILES, PROGRESS_DIR)


def _refuse_overwriting_a_project(output: Path) -> None:
    """Refuse a ``demo --output`` folder whose ``sales.csv`` or ``config.toml`` a demo did not
    write (the user's own project): the demo would overwrite them."""
    config = output / "config.toml"
    ours = config.is_file() and config.read_text(errors="replace").startswith(DEMO_MARK)
    for name in ("config.toml", "sales.csv"):
        if (output / name).exists() and not ours:
            raise TransfercastError(
                f"demo --output {output}: {name} there was not written by a demo, and the demo "
                f"would overwrite it; choose another --output"
            )


def to_toml(raw: dict) -> str:
    """A small TOML writer for config mappings (tables of scalars and lists)."""

    def val(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"{k} = {val(v)}" for k, v in raw.items() if not isinstance(v, dict)]
    for k, v in raw.items():
        if isinstance(v, dict):
            scalars = {kk: vv for kk, vv in v.items() if not isinstance(vv, dict)}
            if scalars or not v:
                lines += ["", f"[{k}]"] + [f"{kk} = {val(vv)}" for kk, vv in scalars.items()]
            for kk, vv in v.items():
                if isinstance(vv, dict):
                    lines += ["", f"[{k}.{kk}]"] + [f"{a} = {val(b)}" for a, b in vv.items()]
    return "\n".join(lines) + "\n"


def _register_plugin_commands() -> None:
    """The installed plugins' commands on the command line, afresh at each call of
    :func:`main` (in one process, one call's plugins are not the next one's)."""
    from transfercast.plugin_manager import get_plugin_manager

    if not _BUILTIN:
        _BUILTIN.extend([list(app.registered_commands), list(app.registered_groups)])
    app.registered_commands[:], app.registered_groups[:] = (list(x) for x in _BUILTIN)
    try:
        impls = get_plugin_manager().hook.transfercast_register_commands.get_hookimpls()
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the CLI
        err_console.print(Text("plugin commands failed:", style="red"), one_line(str(exc)))
        impls = []
    for impl in reversed(impls):  # each plugin alone: one broken keeps the others
        try:  # with the arguments it takes, as pluggy calls it
            impl.function(**{"cli": app} if "cli" in impl.argnames else {})
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the CLI
            said = f"plugin '{impl.plugin_name}' failed to add its commands:"
            err_console.print(Text(said, style="red"), one_line(f"{type(exc).__name__}: {exc}"))


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (data repairs above all) as one line on stderr, each text once per command
    (the same warning comes from every strategy and cell that meets it)."""
    text = str(message)
    if text in _SHOWN:
        return
    _SHOWN.add(text)
    err_console.print(f"warning: {one_line(text)}", soft_wrap=True, highlight=False)


_SHOWN: set[str] = set()  # the warnings this command printed
_BUILTIN: list[list[Any]] = []  # the commands and groups of the command line without plugins
ABORTED = "\0aborted"  # in _SHOWN once an interrupted command said what it kept


def _is_usage_error(exc: Exception) -> bool:
    """Whether ``exc`` is a click usage error (a missing or bad option), from click itself or
    from the copy of click that newer typer releases vendor as ``typer._click`` (and install
    without click itself)."""
    try:
        import click
    except ImportError:
        click = None
    if click is not None and isinstance(exc, click.exceptions.ClickException):
        return True
    vendored = sys.modules.get("typer._click.exceptions")
    return vendored is not None and isinstance(exc, vendored.ClickException)


#: the encodings of a C or POSIX locale without UTF-8 mode
ASCII_NAMES = {"ascii", "ansi_x3.4-1968", "us-ascii"}

#: set, a crash of a command (a plugin's bug, say) shows its traceback, not one line
TRACEBACK_ENV = "TRANSFERCAST_TRACEBACK"

_CONFIG_FILE: list[str] = []  # the config file this command read, for errors that lack it
_COMPARING: list[bool] = []  # set once a comparison stores cells, for a crash's error line


def _load_config(path: Path) -> Any:
    """The validated config at ``path``, remembered for the errors of its ``[strategies.*]``
    tables (validated later, when the strategies are made)."""
    from transfercast.config import load_config

    cfg = load_config(path)
    _CONFIG_FILE[:] = [str(path)]
    return cfg


_TERMINATED: list[bool] = []  # set when a SIGTERM stopped the process's own command


def _on_sigterm(_signum: int, _frame: Any) -> None:
    """A SIGTERM stops the command as a Ctrl-C does (files cleaned up, cells kept)."""
    _TERMINATED.append(True)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors exit with status 2 and one line on stderr.

    ``argv`` defaults to the process arguments (tests pass their own)."""
    if argv is None:  # the process's own command: a SIGTERM unwinds it like a Ctrl-C
        signal.signal(signal.SIGTERM, _on_sigterm)
        # a local Dask cluster's shutdown under load can leave a timed-out future that asyncio
        # logs when it is collected ("Future exception was never retrieved"): lines on stderr
        # beside the command's own one-line error, which say nothing a user can act on
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    for stream in (sys.stdout, sys.stderr):  # a name the terminal's encoding lacks: '?', no crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    _register_plugin_commands()
    _CONFIG_FILE.clear()
    _SHOWN.clear()
    _COMPARING.clear()
    try:
        with warnings.catch_warnings():
            if not sys.warnoptions:  # -W or PYTHONWARNINGS: the user's filters hold
                warnings.simplefilter("default")
                # a library's deprecation notice about another library's code (dask calling
                # pandas) says nothing to the user; this package's own calls' still show
                for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
                    warnings.filterwarnings("ignore", category=category, module=r"(?!transfercast)")
            warnings.showwarning = _show_warning
            code = app(args=argv, standalone_mode=False)
    except TransfercastError as exc:
        message = str(exc)
        if message.startswith(("[strategies.", "[strategy] ")) and _CONFIG_FILE:
            message = f"{_CONFIG_FILE[0]}: {message}"
        err_console.print(f"error: {one_line(message)}", soft_wrap=True, highlight=False)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    except Exception as exc:  # click usage errors (click's own, or the copy newer typer vendors)
        if _is_usage_error(exc):
            exc.show()
            sys.exit(2)
        if os.environ.get(TRACEBACK_ENV):
            raise
        ascii = sys.getfilesystemencoding() in ASCII_NAMES  # LC_ALL=C without UTF-8 mode
        if isinstance(exc, UnicodeEncodeError) and ascii and exc.encoding.lower() in ASCII_NAMES:
            bad = exc.object[exc.start : exc.end]
            err_console.print(  # a file name under LC_ALL=C: the user's to fix, not a crash
                f"error: {exc.object!r} holds {bad!r}, which this system's text encoding "
                f"({exc.encoding}) cannot write: use a UTF-8 locale (export LANG=C.UTF-8)",
                soft_wrap=True,
                highlight=False,
            )
            sys.exit(2)
        if isinstance(exc, OSError) and exc.filename:  # a full disk, a file another holds
            what = f"{exc.filename}: {exc.strerror}"
        else:
            what = f"{type(exc).__name__}: {exc}{raised_at(exc)}"
        kept = " (the finished cells are kept: --resume goes on from them)" if _COMPARING else ""
        err_console.print(
            f"error: {what}{kept}; {TRACEBACK_ENV}=1 shows the traceback",
            soft_wrap=True,
            highlight=False,
        )
        sys.exit(1)
    if code == 130 and ABORTED not in _SHOWN:  # typer returns 130 for an interrupt it caught
        err_console.print("aborted")
    if code == 130 and argv is None:  # the process's own command, interrupted
        # a fit on another thread (a Dask worker's LightGBM or torch) may still be running:
        # the interpreter's teardown would abort on it ("terminate called ..."), so leave now;
        # every file was closed when the command unwound
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(143 if _TERMINATED else 130)
    if isinstance(code, int) and code:  # click returns typer.Exit's code when not standalone
        sys.exit(code)


if __name__ == "__main__":
    main()
