"""Console output that can never cost a run.

`chainrule train ... | head -2` closes the pipe after two lines; the next print would raise
BrokenPipeError and end the training with no model. While a command runs, the CLI writes through
`SafeStream`: once the reader has gone, the stream's file descriptor is pointed at /dev/null and
everything after is dropped silently (the run folder has it all), as `yes | head` does.
"""
from __future__ import annotations

import contextlib
import errno
import os
import sys
from typing import Any, Iterator, TextIO


def _gone(e: OSError) -> bool:
    """The reader closed the pipe (or the terminal went away)."""
    return isinstance(e, BrokenPipeError) or e.errno in (errno.EPIPE, errno.EINVAL)


class SafeStream:
    """A text stream wrapper whose write and flush never raise because the reader went away."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self.broken = False

    def _divert(self) -> None:
        """Point the stream's descriptor at /dev/null, so its buffered bytes (and Python's flush at exit)
        go nowhere instead of raising again."""
        self.broken = True
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):  # an in-memory stream (tests): nothing to divert
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)

    def write(self, text: str) -> int:
        if self.broken:
            return len(text)
        try:
            return self._stream.write(text)
        except OSError as e:
            if not _gone(e):
                raise
            self._divert()
            return len(text)

    def flush(self) -> None:
        if self.broken:
            return
        try:
            self._stream.flush()
        except OSError as e:
            if not _gone(e):
                raise
            self._divert()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, ...: the wrapped stream's
        return getattr(self._stream, name)


@contextlib.contextmanager
def safe_console() -> Iterator[None]:
    """sys.stdout and sys.stderr as SafeStreams for the duration of the block."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = SafeStream(sys.stdout), SafeStream(sys.stderr)
    try:
        yield
    finally:
        for wrapper in (sys.stdout, sys.stderr):
            if isinstance(wrapper, SafeStream):
                wrapper.flush()
        sys.stdout, sys.stderr = saved
