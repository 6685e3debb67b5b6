"""Where each socket of the test run was opened, so one left unclosed can be named by its origin.

``install()`` wraps ``socket.socket``: its constructor notes the test running and the stack, and
its finalizer, before the real one (which warns and closes), records a socket still open then.
``left_open()`` gives those records. Only sockets made through ``socket.socket`` (all of the
standard library's, httpx's, asyncio's and psycopg's) are seen.
"""

from __future__ import annotations

import _socket
import os
import socket
import traceback
from typing import Any

_ORIGINS: dict[int, str] = {}
_LEFT_OPEN: list[str] = []
_INSTALLED = False


def install() -> None:
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    original_init = socket.socket.__init__

    def init(self: socket.socket, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        test = os.environ.get("PYTEST_CURRENT_TEST", "(no test running)")
        stack = "".join(traceback.format_stack(limit=30)[:-1])
        _ORIGINS[id(self)] = f"opened during {test}\n{stack}"

    def finalize(self: socket.socket) -> None:
        origin = _ORIGINS.pop(id(self), None)
        if origin is not None and self.fileno() != -1:
            _LEFT_OPEN.append(f"{self!r}\n{origin}")
        _socket.socket.__del__(self)

    socket.socket.__init__ = init  # type: ignore[method-assign]
    socket.socket.__del__ = finalize  # type: ignore[attr-defined]


def left_open() -> list[str]:
    """Each socket finalized while still open, with where it was opened; then forgets them."""
    found = list(_LEFT_OPEN)
    _LEFT_OPEN.clear()
    return found
