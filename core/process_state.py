"""Process-wide state that transfercast changes for a moment: Python's warning filters, the
standard output's file descriptors, matplotlib's rcParams. Each is guarded by a lock, so that
calls from several threads of one process (a notebook, a web service) never restore each
other's state out of order, which would leave one call's filters or a silenced stdout behind
for the rest of the process."""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator
from typing import Any

_WARNINGS = threading.Lock()
#: held while the standard output and error are sent to /dev/null (:func:`transfercast.
#: strategy._quiet`)
STREAMS = threading.Lock()
#: held while a chart is drawn in transfercast's matplotlib style
MATPLOTLIB = threading.RLock()


@contextlib.contextmanager
def own_warnings(record: bool = False) -> Iterator[tuple[bool, list[Any]]]:
    """``warnings.catch_warnings(record=record)`` where no other thread of the process holds
    the warning state: yields ``(True, the list of warnings recorded)``. Where another thread
    does, the block runs without one and yields ``(False, [])``: its warnings reach that
    thread's block or the user as they would without transfercast, and filters the caller
    would set must not be set (they would apply to the other thread's block)."""
    if not _WARNINGS.acquire(blocking=False):
        yield False, []
        return
    try:
        with warnings.catch_warnings(record=record) as said:
            yield True, said if record else []
    finally:
        _WARNINGS.release()
