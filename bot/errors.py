"""opsbot's errors.

OpsbotError
├── ConfigError              settings that cannot work together
├── IntakeError              a webhook we refuse (carries the HTTP status and the reason)
└── ExternalServiceError     an outside system failed (system, operation, status, detail)
    └── TransportError       a chat transport call failed; ``retryable`` and ``retry_after``
                             tell the outbox whether and when to try again; ``ambiguous``
                             that no answer came back, so the call may have taken effect
"""

from __future__ import annotations


class OpsbotError(Exception):
    """Base of every error opsbot raises on purpose."""


class ConfigError(OpsbotError):
    pass


class IntakeError(OpsbotError):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


class ExternalServiceError(OpsbotError):
    def __init__(self, system: str, operation: str, status: int | None, detail: str) -> None:
        super().__init__(f"{system} {operation} failed ({status}): {detail}")
        self.system = system
        self.operation = operation
        self.status = status
        self.detail = detail


class TransportError(ExternalServiceError):
    def __init__(
        self,
        system: str,
        operation: str,
        status: int | None,
        detail: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(system, operation, status, detail)
        self.retryable = retryable
        self.retry_after = retry_after
        # No answer came back (timeout, dropped connection): the call may have taken effect.
        self.ambiguous = ambiguous
