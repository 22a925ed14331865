"""The ``transfercast`` command line.

Bad input ends with exit status 2 and one line naming the file, column, key or value at fault;
nothing is written before the input has been validated, and files are written atomically.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from transfercast.errors import TransfercastError

app = typer.Typer(
    help="Transfer learning for sales forecasting: compare and run transfer strategies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def print_leaderboard(board, title: str = "Leaderboard") -> None:
    """Print a leaderboard as a rich table."""
    table = Table(title=title)
    for col in board.columns:
        table.add_column(str(col), justify="left" if col == "strategy" else "right")
    for _, row in board.iterrows():
        cells = []
        for col in board.columns:
            v = row[col]
            cells.append(f"{v:.3f}" if isinstance(v, float) else str(v))
        table.add_row(*cells)
    console.print(table)


@app.command("plugins")
def plugins_cmd(
    config: Optional[Path] = typer.Option(None, "--config", help="also load the config's plugins"),
) -> None:
    """List registered strategies: name, plugin, source and description."""
    from transfercast.config import load_config
    from transfercast.plugin_manager import get_plugin_manager

    extra = load_config(config).plugins if config else []
    pm = get_plugin_manager(extra)
    table = Table(title="Strategies")
    for col in ("name", "plugin", "source", "description"):
        table.add_column(col)
    for entry in pm.registry.entries.values():
        table.add_row(entry.name, entry.plugin, entry.source, entry.description)
    console.print(table)
    for f in pm.failures:
        console.print(f"[red]plugin failed[/red] {f.plugin} ({f.source}): {f.error}", soft_wrap=True)


@app.command("run")
def run_cmd(
    config: Path = typer.Argument(..., help="TOML config file"),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="strategy (default: [strategy] name)"),
    output: Optional[Path] = typer.Option(None, "--output", help="output directory"),
) -> None:
    """Fit on all data up to the origin and write forecasts.csv."""
    from transfercast.config import load_config
    from transfercast.forecaster import TransferForecaster
    from transfercast.plugin_manager import get_plugin_manager
    from transfercast.results import write_forecasts
    from transfercast.task import TransferTask

    cfg = load_config(config)
    name = strategy or cfg.strategy.name
    pm = get_plugin_manager(cfg.plugins)
    entry = pm.registry.get(name)
    task = TransferTask.from_config(cfg)
    pm.hook.transfercast_run_started(kind="run", config=cfg)
    model = TransferForecaster(entry.name, plugins=cfg.plugins, **cfg.strategies.get(entry.name, {}))
    forecasts = model.fit(task).predict()
    out = output or cfg.output_dir()
    path = write_forecasts(task, forecasts, out)
    pm.hook.transfercast_run_finished(kind="run", config=cfg, result=forecasts)
    console.print(f"{len(forecasts)} forecasts from {model.origin_.date()} written to {path}")


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )


def run_compare(cfg, strategies: list[str] | None, output: Path, jobs: int) -> int:
    """Run a comparison from a validated config, write its files, print the leaderboard."""
    from transfercast.evaluation import compare
    from transfercast.plugin_manager import get_plugin_manager
    from transfercast.results import write_comparison
    from transfercast.task import TransferTask

    pm = get_plugin_manager(cfg.plugins)
    names = strategies or cfg.strategy.candidates or None
    for n in names or []:
        pm.registry.get(n)
    task = TransferTask.from_config(cfg)
    origins = task.evaluation_origins(cfg.evaluate)
    pm.hook.transfercast_run_started(kind="compare", config=cfg)
    with _progress() as bar:
        job = bar.add_task("compare", total=None)

        def tick(done: int, total: int) -> None:
            bar.update(job, completed=done, total=total)

        comp = compare(
            task,
            names,
            params=cfg.strategies,
            origins=origins,
            jobs=jobs,
            plugins=cfg.plugins,
            progress=tick,
        )
    write_comparison(comp, output)
    pm.hook.transfercast_run_finished(kind="compare", config=cfg, result=comp)
    print_leaderboard(comp.leaderboard())
    console.print(f"results written to {output}")
    if comp.failed:
        failed = comp.scores[comp.scores["status"] != "ok"]
        err_console.print(f"{len(failed)} cells failed; see scores.csv (first: {failed['error'].iloc[0]})")
        return 1
    return 0


@app.command("compare")
def compare_cmd(
    config: Path = typer.Argument(..., help="TOML config file"),
    strategies: Optional[str] = typer.Option(None, "--strategies", help="comma-separated names"),
    output: Optional[Path] = typer.Option(None, "--output", help="output directory"),
    jobs: int = typer.Option(1, "--jobs", help="parallel workers (-1: all cores)"),
) -> None:
    """Evaluate strategies at rolling origins; write scores, forecasts and the leaderboard."""
    from transfercast.config import load_config

    cfg = load_config(config)
    code = run_compare(cfg, _split(strategies), output or cfg.output_dir(), jobs)
    raise typer.Exit(code)


@app.command("demo")
def demo_cmd(
    output: Path = typer.Option(Path("transfercast-demo"), "--output", help="output directory"),
    relatedness: float = typer.Option(1.0, "--relatedness", help="0 (unrelated) .. 1 (same)"),
    strategies: Optional[str] = typer.Option(None, "--strategies", help="comma-separated names"),
    jobs: int = typer.Option(1, "--jobs", help="parallel workers"),
) -> None:
    """Write synthetic data and a config, then compare every strategy on them."""
    from transfercast.config import parse_config
    from transfercast.datasets import synthetic_config, synthetic_sales
    from transfercast.outputs import write_csv, write_text

    if not 0 <= relatedness <= 1:
        raise TransfercastError(f"--relatedness must be in [0, 1], got {relatedness}")
    frame = synthetic_sales(relatedness=relatedness)
    raw = synthetic_config("sales.csv", frame.attrs["targets"], output_dir="results")
    cfg = parse_config(raw, source="demo", base_dir=output.resolve())
    write_csv(frame, output / "sales.csv")
    write_text(to_toml(raw), output / "config.toml")
    console.print(
        f"synthetic data (relatedness {relatedness}) and config written to {output}; "
        f"comparing strategies on targets {', '.join(frame.attrs['targets'])}"
    )
    raise typer.Exit(run_compare(cfg, _split(strategies), output / "results", jobs))


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
    from transfercast.plugin_manager import get_plugin_manager

    try:
        get_plugin_manager().hook.transfercast_register_commands(cli=app)
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the CLI
        err_console.print(f"[red]plugin commands failed:[/red] {exc}")


def main() -> None:
    """Entry point: user errors exit with status 2 and one line on stderr."""
    _register_plugin_commands()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            app(standalone_mode=False)
    except TransfercastError as exc:
        err_console.print(f"error: {exc}", soft_wrap=True, markup=False, highlight=False)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
