"""The one JSON body parser for every endpoint that takes JSON (webhooks and the API).

A body that cannot be stored *because of what it contains* is an ``IntakeError(400)`` with the
reason, never an exception the route would turn into a 5xx (senders retry a 5xx forever):

- it must be UTF-8 (RFC 8259 §8.1; a UTF-8 byte order mark is ignored); UTF-16 and UTF-32 are
  refused and named;
- it is nested at most ``MAX_DEPTH`` levels deep;
- its numbers are finite (no ``NaN``, ``Infinity``, ``1e400``) and integers have at most
  ``MAX_INT_DIGITS`` digits;
- text: every string, keys included, keeps every character except the two no database can
  store, NUL (``\\u0000``) and an unpaired surrogate (``\\ud800``), which become U+FFFD, the
  replacement character. The rule is in ``storable_text``: one place, every endpoint.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.errors import IntakeError

M = TypeVar("M", bound=BaseModel)

MAX_DEPTH = 400  # lineage facets nest (struct schemas); an alert or a deploy is 3 levels deep
MAX_INT_DIGITS = 4000  # below Python's int/str conversion limit (4300)
TOO_DEEP = f"malformed JSON: nested more than {MAX_DEPTH} levels deep"
REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # after json.loads a valid pair is one character


def storable_text(text: str) -> str:
    """``text`` with NUL and unpaired surrogates replaced by U+FFFD (the rest unchanged)."""
    return _UNSTORABLE.sub(REPLACEMENT, text)


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"integer with more than {MAX_INT_DIGITS} digits")
    return int(text)


def _clean(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise IntakeError(400, TOO_DEEP)
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_text(k): _clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, depth + 1) for v in value]
    return value


def _decode(raw: bytes) -> str:
    encoding = json.detect_encoding(raw)
    if encoding not in ("utf-8", "utf-8-sig"):
        raise IntakeError(400, f"malformed JSON: body is {encoding.upper()}, JSON must be UTF-8")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise IntakeError(400, f"malformed JSON: not valid UTF-8 ({exc.reason})") from None


def load_json(raw: bytes) -> Any:
    """``raw`` parsed, with storable text only; ``IntakeError(400)`` saying what is wrong."""
    text = _decode(raw)
    try:
        data = json.loads(text, parse_constant=_constant, parse_float=_finite, parse_int=_integer)
    except json.JSONDecodeError as exc:
        raise IntakeError(400, f"malformed JSON: {exc}") from None
    except ValueError as exc:  # from the number hooks
        raise IntakeError(400, f"malformed JSON: {exc}") from None
    except RecursionError:
        raise IntakeError(400, TOO_DEEP) from None
    if _clean_already(raw):
        return data
    return _clean(data, 0)


def _clean_already(raw: bytes) -> bool:
    """Whether ``_clean`` could change nothing, told from the bytes alone (it walks every value;
    this is two scans in C). A parsed string holds NUL or a lone surrogate only through a
    ``\\u`` escape: ``json.loads`` refuses a raw control character, and the bytes were strict
    UTF-8. Nesting is at most the number of opening brackets."""
    return b"\\u" not in raw and raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH


def validation_reason(exc: ValidationError, what: str = "invalid payload") -> str:
    """The first few errors of ``exc`` as ``where: what`` (``where is required`` if missing)."""
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        missing = err["type"] == "missing"
        parts.append(f"{where} is required" if missing else f"{where}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return f"{what}: " + "; ".join(parts) + (f" (+{more} more)" if more else "")


def parse_model(model: type[M], raw: bytes) -> M:
    """``raw`` as ``model``, or ``IntakeError(400)`` naming what is wrong and where."""
    data = load_json(raw)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise IntakeError(400, validation_reason(exc)) from None
