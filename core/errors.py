"""Errors that the toolkit reports to its users.

A :class:`TransfercastError` is a problem with the user's input (a file, a column, a config key,
a strategy name): the command line prints its one-line message and exits with status 2, without
a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
import traceback
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


def unknown_name(kind: str, name: object, valid: Iterable[object]) -> str:
    """A one-line message for an unknown name, with the closest valid one and the valid set."""
    valid = [str(v) for v in valid]
    shown = ", ".join(valid[:12]) + (", ..." if len(valid) > 12 else "")
    return f"unknown {kind} '{name}'{closest(str(name), valid)}; valid: {shown}"


def raised_at(exc: BaseException, skip: int = 0) -> str:
    """Return `` (file.py:LINE)`` for the last line of Python code that raised ``exc``, or an
    empty string; the first ``skip`` frames (the caller's own) and the import machinery's are
    passed over, so a plugin module that fails while it is imported is named with its line."""
    frames = traceback.extract_tb(exc.__traceback__)[skip:]
    frames = [f for f in frames if not f.filename.startswith("<") and "importlib" not in f.filename]
    if not frames:
        return ""
    return f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})"
