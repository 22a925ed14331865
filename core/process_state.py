"""Process-wide state that transfercast changes for a moment: Python's warning hooks and
filters, the standard error's file descriptor, matplotlib's rcParams. Calls from several
threads of one process (a notebook, a web service) must neither restore each other's state
out of order nor catch each other's warnings.

Warnings are gathered by a :class:`Gatherer` put in place of ``warnings.showwarning``: it keeps
the warnings raised in the context of the call that put it there (its worker threads run in a
copy of that context) and passes every other one on to the hook it replaced. Where a block of
another thread restores it after its call has ended, it passes everything on: no warning is
lost to a list nobody reads.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_WARNINGS = threading.Lock()
_GATHERING: ContextVar[Gatherer | None] = ContextVar("transfercast_gathering", default=None)
#: held while the standard error is sent to /dev/null (:func:`transfercast.strategy._quiet`)
STREAMS = threading.Lock()
#: held while a chart is drawn in transfercast's matplotlib style
MATPLOTLIB = threading.RLock()


class Gatherer:
    """A ``warnings.showwarning`` that keeps the warnings of one call's context."""

    def __init__(self, then: Any) -> None:
        self.said: list[warnings.WarningMessage] = []
        self.then = then  # the hook it replaced
        self.open = True

    def __call__(self, message, category, filename, lineno, file=None, line=None) -> None:
        if self.open and _GATHERING.get() is self:
            self.said.append(warnings.WarningMessage(message, category, filename, lineno))
        else:
            self.then(message, category, filename, lineno, file, line)


@contextlib.contextmanager
def gathered_warnings() -> Iterator[list[warnings.WarningMessage] | None]:
    """Within: every warning raised in this call's context is kept, not shown (each one, not
    once per place), and yielded as a list when the block ends; other threads' warnings are
    shown as they would be. Where another thread already gathers, this call's warnings are
    shown as raised and ``None`` is yielded."""
    if not _WARNINGS.acquire(blocking=False):
        yield None
        return
    try:
        with warnings.catch_warnings():
            gatherer = Gatherer(warnings.showwarning)
            warnings.showwarning = gatherer
            warnings.simplefilter("always")
            token = _GATHERING.set(gatherer)
            try:
                yield gatherer.said
            finally:
                gatherer.open = False
                _GATHERING.reset(token)
    finally:
        _WARNINGS.release()
