"""Resumable comparisons: every scored cell is kept on disk as soon as it is done.

`compare` writes each (target, strategy, origin) cell into ``<output>/.progress/`` (its scores
row, forecasts and selection, each file written atomically, the scores row last: a cell counts
as done only once its scores file exists). ``compare --resume`` skips the cells found there and
builds the final tables from the store, in the order of an uninterrupted run, so both give the
same files. ``setup.json`` holds a fingerprint of the data, task and features and a hash of each
strategy's parameters, and the version and results revision that wrote them: resuming after
the data or either of those changed is refused, and a strategy whose parameters changed is run
again.

A comparison stopped by a user error (exit status 2) leaves the output directory as it was: the
store is made only when the first cell is done, and what it replaces is kept aside until the run
ends (see :class:`CellStore`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from transfercast.errors import ConfigError
from transfercast.evaluation import SCORE_COLUMNS, Comparison
from transfercast.outputs import atomic_write, write_text
from transfercast.replay import TABLE_COLUMNS, replay_order
from transfercast.strategy import Strategy
from transfercast.task import TransferTask, origin_text

PROGRESS_DIR = ".progress"
PREVIOUS_DIR = ".progress.previous"  # what a running comparison replaced, until it ends
LOCK_FILE = ".progress.lock"  # the process id of the comparison writing the folder
SETUP = "setup.json"
CELL_FILES = ("scores", "forecasts", "selection")  # <stem>.<name>.parquet of a cell
REPLAY_KEYS = ["n", "domain", "cut", "candidate"]  # a row of an origin's replays table


def setup_fingerprint(task: TransferTask, intervals: Any = None) -> str:
    """A hash of everything that makes cells comparable: data, task settings, features and the
    quantile forecasts asked for (``intervals``: levels and method, or ``None``)."""
    h = hashlib.sha256(pd.util.hash_pandas_object(task.frame, index=False).to_numpy().tobytes())
    settings = {
        "columns": list(task.frame.columns),
        **task.settings(),
        "features": task.features.model_dump(),
        **({"intervals": intervals} if intervals else {}),
    }
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return h.hexdigest()


#: raised with every change that moves a forecast or a score, so that ``--resume`` never mixes
#: cells scored before it with cells scored after (2: 2026-12-06, the leak fixes of that day; 3:
#: 2026-12-07, the quantile models of `pooled` fitted on the target domains in a fixed order;
#: 4: 2026-12-07, XGBoost's added trees on the source margin with settings of their own; a 0/1
#: known column without its planned value at its usual value; 5: 2026-12-07, SQL scaled by the
#: one-step naive error at every history length, no SQL where a quantile is missing)
RESULTS_REVISION = 5


def writer() -> str:
    """The transfercast version and results revision that score cells now, as text."""
    import transfercast

    return f"transfercast {transfercast.__version__} (results revision {RESULTS_REVISION})"


def _intervals_text(intervals: Any) -> str:
    """How a resume error names a run's quantile settings."""
    if not intervals:
        return "no quantiles"
    levels = ",".join(f"{q:g}" for q in intervals["quantiles"])
    return f"quantiles {levels} by {intervals['method']}"


def params_hash(strategy: Strategy) -> str:
    """A hash of a strategy's class and parameters."""
    blob = json.dumps(
        {
            "cls": f"{type(strategy).__module__}.{type(strategy).__qualname__}",
            "params": strategy.get_params(),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cell_key(target: Any, strategy: str, origin: Any) -> tuple[str, str, str]:
    """The key of a cell, as :func:`transfercast.compare` takes it in ``skip``."""
    return str(target), str(strategy), origin_text(origin)


def _file_stem(key: tuple[str, str, str]) -> str:
    return hashlib.sha1("\0".join(key).encode()).hexdigest()[:20]


def _replays_path(directory: Path, origin: Any) -> Path:
    """Where the store keeps the source replays of one origin (``replays.csv``'s rows)."""
    return directory / f"replays.{origin_text(origin)}.parquet"


def _uses_replays(selection: Path) -> bool:
    """Whether a cell's stored selection comes from source replays (``auto``'s
    ``replay_<candidate>`` columns): its origin's replays belong to the comparison."""
    if not selection.is_file():
        return False
    import pyarrow.parquet as pq

    return any(str(c).startswith("replay_") for c in pq.read_schema(selection).names)


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


def _started(pid: int) -> str | None:
    """When process ``pid`` started, as the system counts it (Linux: clock ticks since boot,
    from ``/proc``), or ``None`` where the system does not tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]  # field 22, after the command's name
    except (OSError, IndexError):
        return None


class CellStore:
    """The on-disk store of finished cells of one comparison output directory.

    ``resume=False`` starts afresh (any earlier store is replaced); ``resume=True`` keeps the
    cells whose setup and strategy parameters still match.

    The store takes the output directory's lock (``.progress.lock``, its process id) when it
    is made and holds it until :meth:`release`, after the tables and the report are written,
    so that two runs never mix their files. Nothing else on disk changes until the first cell
    is stored (:meth:`open`), so a run stopped by an error before that leaves the output
    directory as it was. After that, the store it replaces (or, resuming, the cells it
    replaces) is kept aside in ``.progress.previous`` until the run ends: :meth:`commit` drops
    it, :meth:`discard` (a run stopped by a user error) puts it back and removes what this run
    added, folders included.
    """

    def __init__(
        self,
        output: Path,
        task: TransferTask,
        strategies: Sequence[Strategy],
        *,
        resume: bool = False,
        intervals: Any = None,
    ):
        self.directory = Path(output) / PROGRESS_DIR
        self.previous = Path(output) / PREVIOUS_DIR
        self.lock = Path(output) / LOCK_FILE
        self._check_free()
        self.task = task
        self.setup = {
            "transfercast": writer(),
            "fingerprint": setup_fingerprint(task, intervals),
            "strategies": {s.name: params_hash(s) for s in strategies},
            "intervals": intervals,
        }
        self.resuming = False  # an earlier store of the same setup is continued
        # quantile forecasts are calibrated on source replays: then every cell replays
        self.every_cell_replays = bool(intervals)
        self._ran: set[pd.Timestamp] = set()  # the origins of the cells stored by this run
        self.stale: set[str] = set()  # strategies whose parameters changed: run again
        self._opened = False
        self._locked = False
        self._created: Path | None = None  # the highest folder this run created
        self._added: set[str] = set()  # file stems of the cells stored by this run
        if resume and (self.directory / SETUP).is_file():
            old = json.loads((self.directory / SETUP).read_text())
            if old.get("transfercast") != self.setup["transfercast"]:
                then = old.get("transfercast") or "an earlier transfercast, which recorded none"
                raise ConfigError(
                    f"cannot resume in {output}: its cells were written by {then}, this is "
                    f"{self.setup['transfercast']}, and they would be mixed; drop --resume or "
                    f"choose another --output"
                )
            if old.get("fingerprint") != self.setup["fingerprint"]:
                what = "the data, task or features differ"
                if "intervals" in old and old["intervals"] != intervals:
                    then, now = _intervals_text(old["intervals"]), _intervals_text(intervals)
                    what = f"the quantiles or interval method differ ({then} then, {now} now)"
                raise ConfigError(
                    f"cannot resume in {output}: {what} from the run that wrote it; drop "
                    f"--resume or choose another --output"
                )
            old_params = old.get("strategies", {})
            self.stale = {
                n for n, h in self.setup["strategies"].items() if old_params.get(n, h) != h
            }
            merged = {**old_params, **self.setup["strategies"]}
            self.setup = {**self.setup, "strategies": merged}
            self.resuming = True
        missing = [p for p in (self.lock.parent, *self.lock.parent.parents) if not p.exists()]
        self._created = missing[-1] if missing else None
        self._take_lock()

    # -- the store's life ----------------------------------------------------------------------
    def _holder(self) -> int | None:
        """The process id of another running command that holds the output directory: the
        lock's process, alive and (where the system tells) started when the lock says, so that
        a killed run's id taken by another process frees it; a lock being written (empty, a
        moment old) is held too."""
        try:
            text = self.lock.read_text().split()
            if not text:
                young = time.time() - self.lock.stat().st_mtime < 5
                return -1 if young else None
            pid, start = int(text[0]), (text[1] if len(text) > 1 else None)
        except (OSError, ValueError):
            return None
        if pid <= 0 or pid == os.getpid():
            return None
        try:
            os.kill(pid, 0)  # signal 0: only whether the process exists
        except ProcessLookupError:
            return None  # left by a killed run
        except OSError:  # another user's process, alive
            pass
        now = _started(pid)
        return None if start and now and start != now else pid

    def _check_free(self) -> None:
        """Refuse an output directory another running ``compare`` writes into (their cells
        and tables would mix)."""
        pid = self._holder()
        if pid is not None:
            who = f"process {pid}" if pid > 0 else "a process starting"
            raise ConfigError(
                f"output directory {self.lock.parent} is in use by another transfercast "
                f"compare ({who}); wait for it to end or choose another --output (if "
                f"no compare runs there, delete {self.lock})"
            )

    def _take_lock(self) -> None:
        self.lock.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            self._check_free()  # a live holder is refused; a killed run's lock is taken over
            fd = os.open(self.lock, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o666)
        try:
            os.write(fd, f"{os.getpid()} {_started(os.getpid()) or ''}".strip().encode() + b"\n")
        finally:
            os.close(fd)
        self._locked = True

    def release(self) -> None:
        """The run is over, its tables written (or it stopped): give up the output directory's
        lock and remove the folders this run created that are left empty."""
        if self._locked and self._holder() is None:
            self.lock.unlink(missing_ok=True)
        self._locked = False
        if self._created is not None:  # folders this run created, when they are empty
            for folder in (self.directory, *self.directory.parents):
                if folder.exists():
                    try:
                        folder.rmdir()
                    except OSError:
                        break
                if folder == self._created:
                    break

    def open(self) -> None:
        """Make the store on disk (called by the first :meth:`add`): a fresh one, the earlier
        one set aside; or, resuming, the earlier one with the cells of strategies whose
        parameters changed set aside."""
        if self._opened:
            return
        if self.previous.exists():  # left by a run killed before it ended
            shutil.rmtree(self.previous)
        if not self.resuming and self.directory.exists():
            self.directory.rename(self.previous)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._opened = True
        for tmp in self.directory.glob(".*.tmp"):  # left by a run killed while writing
            tmp.unlink(missing_ok=True)
        if self.resuming:
            self._set_aside(self.directory / SETUP, copy=True)  # replaced below, atomically
            for path in self.directory.glob("*.scores.parquet"):
                if pd.read_parquet(path, columns=["strategy"])["strategy"].iloc[0] in self.stale:
                    self._set_aside(path)  # parameters changed: that cell is run again
            if self.stale:  # the replays may come from a strategy run again: made again too
                for path in self.directory.glob("replays.*.parquet"):
                    self._set_aside(path)
        write_text(json.dumps(self.setup, indent=2) + "\n", self.directory / SETUP)

    def _set_aside(self, path: Path, copy: bool = False) -> None:
        """Move (or copy) ``path`` of the store to ``.progress.previous``, once: the version
        from before this run."""
        if path.exists() and not (self.previous / path.name).exists():
            self.previous.mkdir(exist_ok=True)
            if copy:
                shutil.copy2(path, self.previous / path.name)
            else:
                os.replace(path, self.previous / path.name)

    def commit(self) -> None:
        """The run ended (or was interrupted): drop what :meth:`open` set aside; the cells
        stored stay for ``--resume``."""
        shutil.rmtree(self.previous, ignore_errors=True)
        self._added.clear()

    def discard(self) -> None:
        """The run stopped on a user error: put the output directory back as it was."""
        if not self._opened:
            self.release()
            return
        if not self.resuming:
            shutil.rmtree(self.directory, ignore_errors=True)
            if self.previous.exists():
                self.previous.rename(self.directory)
        else:
            for stem in self._added:
                for suffix in CELL_FILES:
                    Path(f"{self.directory / stem}.{suffix}.parquet").unlink(missing_ok=True)
            if self.previous.exists():
                for path in self.previous.iterdir():
                    os.replace(path, self.directory / path.name)
                self.previous.rmdir()
        self.release()
        self._opened = False
        self._added.clear()

    # -- writing -------------------------------------------------------------------------------
    def add(
        self,
        row: dict[str, Any],
        forecasts: pd.DataFrame | None,
        selection: pd.DataFrame | None = None,
    ) -> None:
        """Store one finished cell (the ``on_cell`` callback of :func:`compare`)."""
        self.open()
        key = cell_key(row["target"], row["strategy"], row["origin"])
        stem = self.directory / _file_stem(key)
        if self.resuming and stem.name not in self._added:  # a failed cell run again
            for suffix in CELL_FILES:
                self._set_aside(Path(f"{stem}.{suffix}.parquet"))
        self._added.add(stem.name)
        self._ran.add(pd.Timestamp(row["origin"]))
        for suffix, frame in (("forecasts", forecasts), ("selection", selection)):
            path = Path(f"{stem}.{suffix}.parquet")
            if frame is not None and len(frame):
                _write_parquet(frame.reset_index(drop=True), path)
            else:
                path.unlink(missing_ok=True)
        columns = [*SCORE_COLUMNS, *(k for k in row if k not in SCORE_COLUMNS)]
        _write_parquet(pd.DataFrame([row], columns=columns), Path(f"{stem}.scores.parquet"))

    # -- reading -------------------------------------------------------------------------------
    def _rows(self) -> dict[tuple[str, str, str], pd.DataFrame]:
        if not self._opened and not self.resuming:
            return {}  # the cells on disk are an earlier run's, replaced by this one
        out = {}
        for path in self.directory.glob("*.scores.parquet"):
            row = pd.read_parquet(path)
            r = row.iloc[0]
            if not self._opened and r["strategy"] in self.stale:
                continue  # its parameters changed: run again
            out[cell_key(r["target"], r["strategy"], r["origin"])] = row
        return out

    def done(self) -> set[tuple[str, str, str]]:
        """Keys of the cells scored successfully (failed cells are run again on resume), less
        those whose selection came from source replays that the store does not hold (a run
        interrupted before their origin ended kept none of its replays): they are run again, so that
        ``replays.csv`` holds every origin's replays, as after an uninterrupted run."""
        out = set()
        for key, row in self._rows().items():
            if row["status"].iloc[0] != "ok":
                continue
            # replays of a run with a strategy whose parameters changed are set aside on open
            kept = _replays_path(self.directory, key[2]).is_file() and not self.stale
            if not kept and (
                self.every_cell_replays
                or _uses_replays(Path(f"{self.directory / _file_stem(key)}.selection.parquet"))
            ):
                continue
            out.add(key)
        return out

    def add_replays(self, origin: Any, rows: pd.DataFrame | None) -> None:
        """Store the source replays of one origin (``replays.csv``'s rows; none is stored as
        an empty table: the origin's replays are complete); the ``on_origin`` callback of
        :func:`compare`, so that a run killed later keeps the finished origins'. Rows already
        stored for the origin that ``rows`` do not replace (same history length, domain, cut
        and candidate) are kept, all in :func:`~transfercast.replay.replay_order`."""
        self.open()
        path = _replays_path(self.directory, origin)
        rows = pd.DataFrame(columns=TABLE_COLUMNS) if rows is None or not len(rows) else rows
        if path.is_file():
            stored = pd.read_parquet(path)
            if len(stored):
                rows = pd.concat([rows, stored], ignore_index=True) if len(rows) else stored
                rows = rows.drop_duplicates(REPLAY_KEYS, ignore_index=True)
        _write_parquet(replay_order(rows), path)

    def replays(self, origins: Sequence[pd.Timestamp], fresh: pd.DataFrame | None) -> pd.DataFrame:
        """Store the source replays this run made (``fresh``: ``replays.csv``'s rows, of the
        origins whose replaying cells ran), and return those of every origin in the store, in
        the order of ``origins`` (an uninterrupted run's ``replays.csv``)."""
        if not self._opened and not self.resuming:  # the store is an earlier run's
            return fresh if fresh is not None else pd.DataFrame()
        fresh = pd.DataFrame(columns=TABLE_COLUMNS) if fresh is None or not len(fresh) else fresh
        made = {pd.Timestamp(o): rows for o, rows in fresh.groupby("origin")}
        for origin in sorted(self._ran | set(made)):  # the origins whose cells ran
            self.add_replays(origin, made.get(origin))
        self._ran.clear()
        paths = [_replays_path(self.directory, o) for o in origins]
        frames = [f for f in (pd.read_parquet(p) for p in paths if p.is_file()) if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def comparison(
        self,
        origins: Sequence[pd.Timestamp],
        strategies: Sequence[str],
        fresh: Comparison | None = None,
    ) -> Comparison:
        """The comparison of the planned cells, in the order of an uninterrupted run; the other
        fields are taken from ``fresh`` (this run's own comparison) when given."""
        rows = self._rows()
        scores, forecasts, selections = [], [], []
        for origin in origins:
            for target in self.task.targets:
                for name in strategies:
                    key = cell_key(target, name, origin)
                    if key not in rows:
                        continue
                    row = rows[key].copy()
                    row["target"] = [target]
                    scores.append(row)
                    stem = self.directory / _file_stem(key)
                    for suffix, bucket in (("forecasts", forecasts), ("selection", selections)):
                        path = Path(f"{stem}.{suffix}.parquet")
                        if path.is_file():
                            bucket.append(pd.read_parquet(path))
        table = (
            pd.concat(scores, ignore_index=True) if scores else pd.DataFrame(columns=SCORE_COLUMNS)
        )
        table["error"] = table["error"].fillna("")
        fc = (
            pd.concat(forecasts, ignore_index=True)
            if forecasts
            else pd.DataFrame(
                columns=["strategy", "origin", "unique_id", "ds", "forecast", "actual"]
            )
        )
        sel = pd.concat(selections, ignore_index=True) if selections else pd.DataFrame()
        replays = self.replays(origins, None if fresh is None else fresh.replays)
        if fresh is not None:
            return dataclasses.replace(
                fresh, scores=table, forecasts=fc, selection=sel, task=self.task, replays=replays
            )
        return Comparison(table, fc, sel, 0, self.task, replays)
