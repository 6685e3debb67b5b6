"""The Kubernetes API server's errors, as the ``Status`` objects it answers with.

``KubeError`` carries the HTTP code, the ``reason`` and the ``details``; the server turns it into
``{"kind": "Status", "apiVersion": "v1", "status": "Failure", ...}``. The constructors word their
messages the way the real API server does (``deployments.apps "x" not found``), so a client that
shows the message shows what an operator would see against a real cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    """One REST resource: ``deployments`` in group ``apps`` version ``v1`` is ``Deployment``."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``deployments.apps``: how error messages name the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """``Deployment.apps``: how validation errors name the kind."""
        return f"{self.kind}.{self.group}" if self.group else self.kind


class KubeError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: Json | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers: dict[str, str] = {}

    def status(self) -> Json:
        body: Json = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(res: Resource, name: str, **extra: Any) -> Json:
    details: Json = {"name": name} if name else {}
    if res.group:
        details["group"] = res.group
    details["kind"] = res.plural
    details.update(extra)
    return details


def not_found(res: Resource, name: str) -> KubeError:
    return KubeError(404, "NotFound", f'{res.qualified} "{name}" not found', _details(res, name))


def already_exists(res: Resource, name: str) -> KubeError:
    msg = f'{res.qualified} "{name}" already exists'
    return KubeError(409, "AlreadyExists", msg, _details(res, name))


def conflict(res: Resource, name: str, why: str) -> KubeError:
    msg = f'Operation cannot be fulfilled on {res.qualified} "{name}": {why}'
    return KubeError(409, "Conflict", msg, _details(res, name))


MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def stale(res: Resource, name: str) -> KubeError:
    return conflict(res, name, MODIFIED)


def go_value(value: Any) -> str:
    """A value as Go's ``%#v`` prints it in field errors."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        inner = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(value.items()))
        return f"map[string]string{{{inner}}}"
    return json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True)
class Cause:
    """One field error (``field.Error`` in Go)."""

    reason: str  # FieldValueRequired, FieldValueInvalid, ...
    field: str
    message: str

    def text(self) -> str:
        return f"{self.field}: {self.message}"


def required(field: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", field, "Required value" + (f": {detail}" if detail else ""))


def invalid_value(field: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueInvalid", field, f"Invalid value: {go_value(value)}: {detail}")


def unsupported(field: str, value: Any, supported: list[str]) -> Cause:
    allowed = ", ".join(json.dumps(s) for s in supported)
    msg = f"Unsupported value: {go_value(value)}: supported values: {allowed}"
    return Cause("FieldValueNotSupported", field, msg)


def duplicate(field: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", field, f"Duplicate value: {go_value(value)}")


def immutable(field: str, value: Any) -> Cause:
    return Cause(
        "FieldValueInvalid", field, f"Invalid value: {go_value(value)}: field is immutable"
    )


def invalid(res: Resource, name: str, causes: list[Cause]) -> KubeError:
    texts = [c.text() for c in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details: Json = {"name": name} if name else {}
    if res.group:
        details["group"] = res.group
    details["kind"] = res.kind
    details["causes"] = [
        {"reason": c.reason, "message": c.message, "field": c.field} for c in causes
    ]
    return KubeError(422, "Invalid", f'{res.qualified_kind} "{name}" is invalid: {joined}', details)


def unprocessable(message: str) -> KubeError:
    """A JSON patch that does not apply: 422 with the patch library's own words."""
    details = {"causes": [{"reason": "UnexpectedServerResponse", "message": message}]}
    return KubeError(422, "Invalid", message, details)


def bad_request(message: str) -> KubeError:
    return KubeError(400, "BadRequest", message)


def unsupported_media_type(accepted: list[str]) -> KubeError:
    msg = (
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(accepted)}"
    )
    return KubeError(415, "UnsupportedMediaType", msg)


def unauthorized() -> KubeError:
    return KubeError(401, "Unauthorized", "Unauthorized")


def forbidden(
    res: Resource, name: str, verb: str, namespace: str, user: str, sub: str = ""
) -> KubeError:
    target = f'{res.qualified} "{name}"' if name else res.qualified
    resource = f"{res.plural}/{sub}" if sub else res.plural
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    msg = (
        f'{target} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
        f'in API group "{res.group}"{where}'
    )
    return KubeError(403, "Forbidden", msg, _details(res, name))


def method_not_allowed(method: str) -> KubeError:
    msg = f"the server does not allow this method on the requested resource ({method})"
    return KubeError(405, "MethodNotAllowed", msg, {})


def path_not_found() -> KubeError:
    return KubeError(404, "NotFound", "the server could not find the requested resource", {})


def internal(message: str) -> KubeError:
    """An error the API server passes on unwrapped: 500 with no reason (``StatusReasonUnknown``)."""
    return KubeError(500, "", message)


FAULT_REASONS = {
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected fault"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "the server was unable to return a response in the time allotted"),
}


def injected(status: int) -> KubeError:
    reason, message = FAULT_REASONS.get(status, ("", f"injected fault ({status})"))
    err = KubeError(status, reason, message, {"retryAfterSeconds": 1} if status == 429 else None)
    if status in (429, 503):
        err.headers["Retry-After"] = "1"
    return err
