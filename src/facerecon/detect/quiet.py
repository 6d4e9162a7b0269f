"""Silence what native libraries write straight to file descriptor 2.

MediaPipe's C++ side (TensorFlow Lite, absl logging) prints INFO and WARNING lines on fd 2 directly, so
neither environment variables set after it loads nor Python's sys.stderr can hold them back. While any
thread is inside `quiet_native_stderr()`, fd 2 points at the null device; our own messages are printed
outside such blocks. Nesting and threads are counted, so the first to enter and the last to leave swap fd 2.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Point file descriptor 2 at the null device for the duration of the block."""
    _enter()
    try:
        yield
    finally:
        _leave()


def _enter() -> None:
    global _depth, _saved_fd
    with _lock:
        if _depth == 0:
            sys.stderr.flush()
            _saved_fd = os.dup(2)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
        _depth += 1


def _leave() -> None:
    global _depth, _saved_fd
    with _lock:
        _depth -= 1
        if _depth == 0 and _saved_fd is not None:
            sys.stderr.flush()
            os.dup2(_saved_fd, 2)
            os.close(_saved_fd)
            _saved_fd = None
