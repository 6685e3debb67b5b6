"""The PagerDuty fake's error answers: ``{"error": {"message", "code", "errors"}}``.

The codes are those of PagerDuty's published error-code table as far as known here (2001 Invalid
Input Provided, 2006 authentication, 2010 Access Denied, 2100 Not Found); 2016 for a missing
``From`` is what a public client's tests show, 2002 "Arguments Caused Error" for a duplicate
``incident_key`` is what integrations that handle it quote, 2020 for the rate limit is a best
guess. Clients should act on the HTTP status and show the message; nothing in opsbot branches on
a code.
"""

from __future__ import annotations

from tests.fakes.pagerduty.directory import Json

DEDUP_MESSAGE = "Open incident with matching dedup key already exists on this service"


class PDError(Exception):
    """An error answer: HTTP status, PagerDuty's message, code and detail list."""

    def __init__(
        self,
        status: int,
        message: str,
        code: int,
        errors: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {message}: {errors or ''}")
        self.status = status
        self.message = message
        self.code = code
        self.errors = errors or []
        self.headers = headers or {}

    def body(self) -> Json:
        error: Json = {"message": self.message, "code": self.code}
        if self.errors:
            error["errors"] = list(self.errors)
        return {"error": error}


def invalid(*errors: str) -> PDError:
    return PDError(400, "Invalid Input Provided", 2001, list(errors))


def not_found() -> PDError:
    return PDError(404, "Not Found", 2100)


def unauthorized() -> PDError:
    return PDError(401, "Invalid Credentials", 2006)


def access_denied() -> PDError:
    return PDError(403, "Access Denied", 2010, ["A read-only API key cannot change anything."])


def from_missing() -> PDError:
    return PDError(
        400,
        'You must specify a user\'s email address in the "From" header to perform this action',
        2016,
    )


def rate_limited(retry_after: float) -> PDError:
    return PDError(429, "Rate Limit Exceeded", 2020, headers={"Retry-After": f"{retry_after:g}"})


def server_error(status: int = 500) -> PDError:
    return PDError(status, "Internal Server Error", 2000)


def duplicate_key() -> PDError:
    return PDError(400, "Arguments Caused Error", 2002, [DEDUP_MESSAGE])
