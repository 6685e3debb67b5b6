"""``with thing:`` for the test servers that have ``start()`` and ``stop()``."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self


class StartStop:
    """Mixin: entering starts the server (``start()`` returns it), leaving stops it."""

    def start(self) -> Any:
        raise TypeError(f"{type(self).__name__} must define start()")

    def stop(self) -> None:
        raise TypeError(f"{type(self).__name__} must define stop()")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
