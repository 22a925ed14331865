"""Writing results: every file goes to a temporary name in its folder and is renamed into place,
so an interrupted run never leaves a half-written file under its final name."""

from __future__ import annotations

import os
import secrets
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from transfercast.errors import TransfercastError


def sibling(path: Path, suffix: str, folder: bool = False) -> Path:
    """A new empty file (or ``folder``) beside ``path``, named ``.<its name's first 40
    characters>.<random>.<suffix>``, with the permissions the process's umask gives now (a
    name the file system allows leaves room for the rest)."""
    path = Path(path)
    while True:
        new = path.parent / f".{path.name[:40]}.{secrets.token_hex(4)}.{suffix}"
        try:
            if folder:
                os.mkdir(new, 0o777)
            else:
                os.close(os.open(new, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return new
        except FileExistsError:
            continue


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary sibling of ``path``, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = sibling(path, "tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Within: a Ctrl-C (SIGINT) or SIGTERM waits for the block to end, then takes effect as
    it would have (a few renames that must happen together: a bundle and its forecasts). Off
    the main thread, where no signal handler can be set, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    kinds = (signal.SIGINT, signal.SIGTERM)
    before = {k: signal.signal(k, lambda signum, _frame: caught.append(signum)) for k in kinds}
    try:
        yield
    finally:
        for kind, handler in before.items():
            signal.signal(kind, handler)
        if caught:
            signal.raise_signal(caught[0])  # handled now as it would have been then


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write a CSV atomically."""
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def write_text(text: str, path: Path) -> Path:
    """Write a text file atomically, in UTF-8 whatever the locale (the report declares it)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(data: bytes, path: Path) -> Path:
    """Write a binary file atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


class OutputError(TransfercastError):
    """An output path that cannot be written (a file where a folder is needed, or the reverse,
    a folder without write permission): refused before anything is computed or written."""


def refuse_long_names(path: Path, what: str) -> None:
    """An :class:`OutputError` where a part of ``path`` is longer than a file name may be
    (the file system's limit, 255 bytes where it does not say)."""
    try:
        limit = os.pathconf(_nearest_existing(Path(".").resolve()), "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    for part in Path(path).parts:
        if len(os.fsencode(part)) > limit:
            raise OutputError(
                f"{what}: the name {part[:24]}... is {len(os.fsencode(part))} bytes long, more "
                f"than the {limit} a file name may have; give a shorter one"
            )


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path(".")


def _writable(folder: Path) -> bool:
    """Whether a file can be made in ``folder``: tried with a file removed at once, since
    permission bits do not tell for root, read-only file systems or /proc."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        fd, probe = tempfile.mkstemp(prefix=".transfercast-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def check_output_dir(
    directory: Path,
    files: Iterable[str] = (),
    folders: Iterable[str] = (),
    what: str = "output directory",
    remedy: str = "choose another --output",
    inputs: Iterable[Path | None] = (),
) -> None:
    """Raise an :class:`OutputError` unless ``directory`` can hold a command's output: it (or
    the nearest folder above it that exists, when it does not) must be a writable folder, each
    of ``files`` in it must not be a folder, and each of ``folders`` in it must not be a file.
    None of ``inputs`` (the files the command reads) may be one of ``files`` or lie in one of
    ``folders``: writing it would overwrite the data. Nothing is left behind (a probe file is
    made and removed). ``remedy`` ends each message (the Python API: another folder)."""
    directory = Path(directory)
    refuse_long_names(directory, what)
    base = _nearest_existing(directory)
    if not base.is_dir():
        kind = "a file" if base.is_file() else "not a folder"
        where = "" if base == directory else f" ({base} is {kind})"
        culprit = f"is {kind}" if base == directory else "cannot be created"
        raise OutputError(f"{what} {directory} {culprit}{where}; {remedy}")
    if not _writable(base):
        raise OutputError(f"{what} {directory}: {base} is not writable; {remedy}")
    for name in files:
        if (directory / name).is_dir():
            raise OutputError(
                f"{what} {directory}: {name} in it is a folder, where a file is written; "
                f"remove it or {remedy}"
            )
        if (directory / name).is_file():
            try:  # opened to append, nothing written: a file another program locks refuses
                with open(directory / name, "ab"):
                    pass
            except OSError as exc:
                raise OutputError(
                    f"{what} {directory}: {name} in it cannot be written ({exc.strerror}); close "
                    f"the program that holds it, or {remedy}"
                ) from None
    files, folders = list(files), list(folders)
    for given in inputs:
        if given is None:
            continue
        read = Path(given).resolve()
        hit = next((n for n in files if (directory / n).resolve() == read), None) or next(
            (n for n in folders if read.is_relative_to((directory / n).resolve())), None
        )
        if hit is not None:
            raise OutputError(
                f"{what} {directory}: {hit} in it is where the command writes, and the data "
                f"{given} is there: writing it would overwrite the data; {remedy}"
            )
        inside = read.is_dir() and directory.resolve().is_relative_to(read)
        ours = directory.resolve()
        parquet = inside and any(  # Parquet files of the data's, not of an earlier run's
            p.suffix in (".parquet", ".pq") and not p.resolve().is_relative_to(ours)
            for p in read.rglob("*")
        )
        if parquet:  # else the data check says what is wrong
            raise OutputError(
                f"{what} {directory} lies inside the data folder {given}, every file of which "
                f"is read as data: the next run would read the results too; {remedy}"
            )
    for name in folders:
        path = directory / name
        if (path.exists() or path.is_symlink()) and not path.is_dir():
            raise OutputError(
                f"{what} {directory}: {name} in it is a file, where a folder is written; "
                f"remove it or {remedy}"
            )


#: the file types :func:`write_table` writes, by suffix (``.csv.gz``: gzip-compressed CSV)
TABLE_FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".csv.gz": "csv.gz",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def table_format(path: Path, option: str = "--output") -> str:
    """``"csv"``, ``"csv.gz"`` or ``"parquet"`` by the suffix of ``path`` (as for input files:
    ``.csv``, ``.txt``, ``.csv.gz``, ``.parquet``, ``.pq``); another suffix is an
    :class:`OutputError`."""
    name = Path(path).name.lower()
    fmt = next((f for suffix, f in TABLE_FORMATS.items() if name.endswith(suffix)), None)
    if fmt is None:
        suffix = Path(path).suffix
        if not suffix:  # a folder name, as `run --output` takes
            raise OutputError(
                f"{option} {path}: give a file name ending in .csv, .csv.gz or .parquet (this "
                f"option is the forecasts file, not a folder)"
            )
        raise OutputError(
            f"{option} {path}: unsupported file type '{suffix}' (use .csv, .csv.gz or .parquet)"
        )
    return fmt


def check_output_file(path: Path, option: str = "--output") -> str:
    """Raise an :class:`OutputError` unless a table can be written to ``path``: not a folder,
    a supported suffix (:func:`table_format`, returned), a folder above it that is one or can
    be created. Nothing is created."""
    path = Path(path)
    refuse_long_names(path, option)
    if path.is_dir():
        raise OutputError(f"{option} {path} is a folder; give a file name, such as forecasts.csv")
    fmt = table_format(path, option)
    check_output_dir(path.parent, files=[path.name], what=f"{option} {path}: folder")
    return fmt


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write a table atomically, as CSV or Parquet by the suffix of ``path``
    (:func:`table_format`)."""
    fmt = table_format(path)
    if fmt == "parquet":
        return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    if fmt == "csv.gz":  # the temporary file's suffix says nothing: compression is named
        return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, compression="gzip"))
    return write_csv(frame, path)
