"""Process-wide state that transfercast changes for a moment: Python's warning hooks and
filters, the standard error's file descriptor, matplotlib's rcParams. Calls from several
threads of one process (a notebook, a web service) must neither restore each other's state
out of order nor catch each other's warnings. Python's own ``warnings.catch_warnings`` puts
back a snapshot of the filters when its block ends, which is not safe across threads; the
gathering here adds one filter and takes that one away, nothing else.

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
    shown (Python's filters are one list per process: while a call gathers, its ``always``
    filter comes first for every thread, so another thread's ``ignore`` or ``error`` filter
    does not apply to it meanwhile). Where another thread already gathers, this call's
    warnings are shown as raised and ``None`` is yielded."""
    if not _WARNINGS.acquire(blocking=False):
        yield None
        return
    # no snapshot put back at the end (``catch_warnings``): where another thread's block
    # opened before this call and closed within it, the snapshot would hold that block's
    # filters (an "ignore") for the rest of the process, and it would drop the filters other
    # threads added meanwhile
    always = ("always", None, Warning, None, 0)
    installed = warnings.filters
    installed.insert(0, always)
    gatherer = Gatherer(warnings.showwarning)
    warnings.showwarning = gatherer
    token = _GATHERING.set(gatherer)
    _filters_mutated()
    try:
        yield gatherer.said
    finally:
        gatherer.open = False
        _GATHERING.reset(token)
        if warnings.showwarning is gatherer:  # else another block put back its own hook
            warnings.showwarning = gatherer.then
        # this call's filter leaves every list that holds it, a snapshot of another block too;
        # filters others added meanwhile stay. A current list that holds it is a copy a block
        # made within the call and left in place (two of its cells' blocks closing out of
        # order): the list of the call's start goes back, without the blocks' own filters
        current = warnings.filters
        copied = current is not installed and any(f is always for f in current)
        for filters in (installed, current):
            filters[:] = [f for f in filters if f is not always]
        if copied:
            warnings.filters = installed
        _filters_mutated()
        _WARNINGS.release()


def _filters_mutated() -> None:
    """Tell Python's warning machinery that its filters changed (it caches their version)."""
    mutated = getattr(warnings, "_filters_mutated", None)
    if mutated is not None:  # Python up to 3.13
        mutated()
    elif hasattr(warnings, "_filters_mutated_lock_held"):  # 3.14 on, as catch_warnings does
        with warnings._lock:  # type: ignore[attr-defined]
            warnings._filters_mutated_lock_held()  # type: ignore[attr-defined]
