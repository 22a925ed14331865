"""Scale-out on a Dask distributed cluster: the per-target cells of ``compare`` and ``run``.

``[execution] backend = "dask"`` runs every (target, strategy) cell of an origin as one Dask
task. ``address`` names a running scheduler (``tcp://host:8786``); without it a
``LocalCluster`` is started in this process (threads, no serialisation) and closed afterwards.

What travels, and its limits:

- The feature tables of an origin and the source models fitted for it (the cells' shared
  state) are built and fitted on the client, then scattered once to every worker; each cell
  is a small task that names a strategy and a target. A worker never refits a source model
  the client has fitted; a strategy that asks for a new one inside its cell (``auto``'s source
  replays and inner backtest) fits it on the worker, and such fits are not counted in
  ``Comparison.source_fits``.
- On a threads-based ``LocalCluster`` (the default without ``address``) nothing is serialised.
  On a real cluster the shared state and the fitted strategies coming back are serialised by
  Dask (cloudpickle); every built-in strategy supports that (LightGBM and XGBoost boosters and
  torch modules pickle), a third-party strategy holding unpicklable state (open files, locks,
  CUDA handles) does not. This is transport only: transfercast still *saves* models in native
  formats, never as pickles.
- Every worker needs the same environment as the client (transfercast, its plugins and their
  dependencies importable under the same names).
- The whole panel still has to fit in the client's memory: the cluster spreads the per-target
  work, not the data. For source domains larger than memory, :mod:`transfercast.dask_source`
  fits the source model on a Parquet dataset with LightGBM's or XGBoost's Dask estimators.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from transfercast.errors import ConfigError, MissingDependencyError

Executor = Callable[[Callable[[Any], Any], Sequence[Any]], Iterable[Any]]


def _require_distributed() -> Any:
    try:
        import distributed
    except ImportError:  # pragma: no cover - dask is a declared dependency of the extra
        raise MissingDependencyError(
            "[execution] backend 'dask' needs dask.distributed, which is not installed; "
            "install it with: pip install 'transfercast[dask]'"
        ) from None
    return distributed


def _detach(strategy: Any) -> None:
    """Drop a fitted strategy's back-reference to the shared tables (``context_``), and its
    members' (``auto``'s ``members_``), so that only the cell's own results travel back."""
    strategy.__dict__.pop("context_", None)
    for member in getattr(strategy, "members_", None) or ():
        _detach(member)


def _in_thread(run: Callable[[Any], Any], cell: Any) -> Any:
    """``run(cell)`` on a worker thread, XGBoost's log of the thread sent to Python warnings."""
    from transfercast.engines import xgboost_logs_here

    xgboost_logs_here()
    return run(cell)


#: the caller's state of each running in-process Dask call, by token: Dask copies a task's
#: arguments even in-process, and a copy of the warnings' gatherer is not the gatherer
_CALLERS: dict[str, tuple[Any, Any]] = {}


def _call(
    run: Callable[[Any], Any], cell: Any, remote: bool, caller: Any = None
) -> tuple[Any, dict[Any, Any]]:
    """Run one cell on a worker in the caller's state, as Dask's threads do not run in the
    caller's context: its plugin manager and, in this process, its gathering of warnings
    (each said once by the call, not once per cell); ``caller`` is the token of that state in
    this process, or the manager's module names on a remote worker. Returns its result and,
    on a remote worker, the source replays it made on the worker's copy of the shared tables
    (``run.tables``, where the function has them), without their per-series detail (for
    ``replays.csv``, which the client writes)."""
    from transfercast.plugin_manager import _current, get_plugin_manager
    from transfercast.process_state import _GATHERING

    if isinstance(caller, tuple):
        pm, gathering = get_plugin_manager(caller), None
    else:
        pm, gathering = _CALLERS.get(caller, (None, None))
    token, gathered = _current.set(pm), _GATHERING.set(gathering)
    try:
        return _call_with(run, cell, remote)
    finally:
        _GATHERING.reset(gathered)
        _current.reset(token)


def _call_with(run: Callable[[Any], Any], cell: Any, remote: bool) -> tuple[Any, dict[Any, Any]]:
    tables = getattr(run, "tables", None) if remote else None
    made = (lambda: tables.__dict__.get("_replays", {})) if tables is not None else dict
    before = set(made())
    out = _in_thread(run, cell)
    if not remote:
        return out, {}
    result = out[-1] if isinstance(out, tuple) else out
    strategy = getattr(result, "strategy", None)
    if strategy is not None:
        _detach(strategy)
    # only the replays this cell made: the worker's earlier cells sent theirs
    new = {k: v for k, v in made().items() if k not in before}
    return out, {k: replace(v, detail=v.detail.iloc[:0]) for k, v in new.items()}


def dask_executor(client: Any) -> Executor:
    """An ``executor(run, cells)`` for :func:`transfercast.compare` and
    :meth:`TransferForecaster.fit` that runs each cell as a Dask task on ``client`` and yields
    the results in the order of ``cells``, each as soon as it and those before it are done (an
    interrupted comparison keeps the cells it has recorded)."""

    def execute(run: Callable[[Any], Any], cells: Sequence[Any]) -> Iterator[Any]:
        if not cells:
            return
        from transfercast.plugin_manager import active_manager

        remote = not str(client.scheduler.address).startswith("inproc://")
        shared = client.scatter(run, broadcast=True, hash=False)
        import uuid

        from transfercast.process_state import _GATHERING

        pm = active_manager()  # this call's, not whichever another thread made last
        caller: Any = pm.modules
        if not remote:
            caller = uuid.uuid4().hex
            _CALLERS[caller] = (pm, _GATHERING.get())
        n = len(cells)
        args = [[shared] * n, list(cells), [remote] * n, [caller] * n]
        futures = client.map(_call, *args, pure=False)
        tables = getattr(run, "tables", None)
        remote_replays = tables.__dict__.setdefault("_remote_replays", {}) if tables else {}
        try:
            for future in futures:
                out, made = future.result()
                remote_replays.update(made)  # the workers' replays, for the client's replays.csv
                yield out
        finally:
            client.cancel([*futures, shared])
            if not remote:
                _CALLERS.pop(caller, None)

    return execute


@contextmanager
def dask_client(
    address: str | None = None,
    *,
    n_workers: int = 1,
    threads_per_worker: int | None = None,
    processes: bool = False,
    timeout: str = "10s",
) -> Iterator[Any]:
    """A ``distributed.Client`` connected to ``address``, or to a ``LocalCluster`` started
    here (``processes=False``: threads in this process) and closed on exit."""
    distributed = _require_distributed()
    if address:
        try:
            client = distributed.Client(address, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as exc:  # ValueError: a malformed address
            raise ConfigError(
                f"[execution] address {address!r}: cannot reach the Dask scheduler ({exc})"
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    cluster = distributed.LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=processes,
        dashboard_address=":0",
        # a task's error reaches the caller, which reports it in one line: the workers'
        # own log records (the error with its traceback, the cancelled tasks) would add
        # lines of their own to stderr
        silence_logs=logging.CRITICAL,
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def local_executor(jobs: int) -> Executor | None:
    """An ``executor(run, cells)`` that runs the cells on ``jobs`` threads of this process (-1:
    every core; -2: all but one, ...) and yields their results in the order of ``cells``, each as
    soon as it and those before it are done, or ``None`` for one job (in turn, no executor)."""
    if jobs == 1:
        return None
    workers = job_count(jobs)

    def execute(run: Callable[[Any], Any], cells: Sequence[Any]) -> Iterator[Any]:
        import contextvars
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            # each in a copy of the caller's context: its plugin manager, its bundle
            futures = [
                pool.submit(contextvars.copy_context().run, _in_thread, run, c) for c in cells
            ]
            for future in futures:
                yield future.result()
        finally:  # a failed cell or an interrupt: no cell not yet begun starts
            pool.shutdown(wait=False, cancel_futures=True)

    return execute


def job_count(jobs: int) -> int:
    """The number of parallel jobs ``jobs`` asks for: itself when positive, else counted back
    from the machine's cores (-1: every core, -2: all but one, ...; at least one)."""
    return jobs if jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + jobs)


@contextmanager
def executor_for(execution: Any) -> Iterator[Executor | None]:
    """The executor an ``[execution]`` config asks for: ``None`` for the local backend (threads
    with ``jobs``), a Dask executor for ``backend = "dask"``."""
    if execution is None or execution.backend == "local":
        yield None
        return
    jobs = job_count(execution.jobs) if execution.jobs else None
    with dask_client(execution.address, threads_per_worker=jobs) as client:
        yield dask_executor(client)
