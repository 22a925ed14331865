"""Run the ``transfercast`` command line in-process with the semantics of the console script."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

from transfercast.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str


def invoke(*argv: object) -> Result:
    """Call :func:`transfercast.cli.main` with ``argv``; return the exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Result(code, out.getvalue(), err.getvalue())
