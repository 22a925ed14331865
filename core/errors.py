"""Errors that the toolkit reports to its users.

A :class:`TransfercastError` is a problem with the user's input (a file, a column, a config key,
a strategy name): the command line prints its one-line message and exits with status 2, without
a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
import sys
import sysconfig
import traceback
import unicodedata
from collections.abc import Iterable
from pathlib import Path


class TransfercastError(Exception):
    """A user-facing error with a one-line message naming the culprit."""


class ConfigError(TransfercastError):
    """The configuration file or a parameter table is invalid."""


class DataError(TransfercastError):
    """The input data is missing, malformed or inconsistent with the config."""


class HistoryRequired(DataError):
    """A strategy needs the target's own history, and the target domain has none (pre-launch)
    or too little for one training row: a comparison records the cell as ``skipped`` with this
    message."""


class MissingDependencyError(TransfercastError):
    """A strategy needs an optional extra that is not installed."""


def closest(name: str, valid: Iterable[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest valid name, or an empty string."""
    match = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


def one_line(value: object) -> str:
    """``value`` as text on one line that a terminal shows as it is: line breaks written
    ``\\n`` (a key holding one), other control characters (a terminal's escape sequences),
    the line and paragraph separators and the bidirectional overrides (which reorder the text
    shown) as Python writes them, ``\\x1b``; every other character, a joiner in a Persian
    name or a no-break space included, as it is."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(repr(c)[1:-1] if _hides(c) else c for c in text)


def _hides(char: str) -> bool:
    """Whether ``char`` can change what a terminal shows around it (see :func:`one_line`)."""
    code = ord(char)
    return (
        unicodedata.category(char) == "Cc"
        or code in (0x2028, 0x2029)
        or 0x202A <= code <= 0x202E
        or 0x2066 <= code <= 0x2069
    )


def unknown_name(kind: str, name: object, valid: Iterable[object]) -> str:
    """A one-line message for an unknown name, with the closest valid one and the valid set
    (its first 40: every strategy a few plugins add)."""
    valid = [str(v) for v in valid]
    shown = ", ".join(one_line(v) for v in valid[:40]) + (", ..." if len(valid) > 40 else "")
    return f"unknown {kind} '{one_line(name)}'{one_line(closest(str(name), valid))}; valid: {shown}"


#: packages whose frames a message passes over for the caller's line that led into them
LIBRARIES = frozenset(
    ("pandas", "numpy", "scipy", "sklearn", "lightgbm", "xgboost", "torch", "pyarrow")
    + ("pydantic", "pluggy", "dask", "distributed")
)


def _in_library(filename: str) -> bool:
    """Whether a frame's file is the standard library's or one of :data:`LIBRARIES`' (its
    top-level package as imported: the first folder below the import path it lies under)."""
    path = Path(filename).resolve()
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    if stdlib in path.parents and "site-packages" not in path.parts:
        return True
    roots = [Path(p).resolve() for p in sys.path if p]
    under = [r for r in roots if r in path.parents]
    if not under:
        return False
    top = path.relative_to(max(under, key=lambda r: len(r.parts))).parts[0]
    return top in LIBRARIES


def raised_at(exc: BaseException, skip: int = 0) -> str:
    """Return `` (file.py:LINE)`` for the last line of Python code that raised ``exc``, or an
    empty string; the first ``skip`` frames (the caller's own) and the import machinery's are
    passed over, so a plugin module that fails while it is imported is named with its line.
    Where a library raised (the standard library, :data:`LIBRARIES`), the last line outside it
    that called it comes first: `` (my_plugin.py:24, in base.py:3819)``."""
    frames = traceback.extract_tb(exc.__traceback__)[skip:]
    frames = [f for f in frames if not f.filename.startswith("<") and "importlib" not in f.filename]
    if not frames:
        return ""
    last = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}"
    ours = [f for f in frames if not _in_library(f.filename)]
    if not ours or ours[-1] is frames[-1]:
        return f" ({last})"
    return f" ({Path(ours[-1].filename).name}:{ours[-1].lineno}, in {last})"
