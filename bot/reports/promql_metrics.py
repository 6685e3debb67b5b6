"""The metric names a PromQL expression reads, by a small tokenizer (no PromQL parser here).

    rate(model_drift_psi{feature="amount"}[5m]) > on (job) group_left () drift_limit
    ──── ─────────────── ───────────────── ──     ──────── ──────────    ───────────
    func metric          label matchers    range  grouping list          metric

A metric name is an identifier (``[a-zA-Z_:][a-zA-Z0-9_:]*``) that is

- not followed by ``(`` (a function, or an aggregation with its argument),
- not a keyword, compared case-insensitively as Prometheus does (aggregations such as ``sum`` and
  ``topk``, ``by``/``without``/``on``/``ignoring``/``group_left``/``group_right``, the set
  operators, ``bool``, ``offset``, ``atan2``, ``inf``, ``nan``),
- not inside ``{...}`` (label matchers), ``[...]`` (ranges, subqueries) or a string,
- not in the label list after ``by``/``without``/``on``/``ignoring``/``group_left``/
  ``group_right``.

A selector that names its metric in a matcher (``{__name__="model_drift_psi"}``) reads that
metric. Comments (``#`` to the end of the line) and numbers and durations are skipped.
Prometheus 2.42 has no ``/api/v1/parse_query``; the rules API hands back each rule's expression
as Prometheus printed it after parsing, which this reads the same way.

An unterminated string, an unclosed ``{``/``[``/``(`` or a stray closing bracket is a
``PromQLError`` naming the position.
"""

from __future__ import annotations

import re

KEYWORDS = frozenset(
    {
        # aggregation operators
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
        # binary operators and modifiers
        "and",
        "or",
        "unless",
        "atan2",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        # number literals
        "inf",
        "nan",
    }
)
LABEL_LISTS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})

_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_NUMBER = re.compile(r"(0[xX][0-9a-fA-F]+|[0-9.][0-9a-zA-Z_.]*)")  # 1.5e3, 0x1F, 5m, 1h30m
_SPACE = re.compile(r"\s*")
_LITERAL = r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)"""
_NAME_MATCHER = re.compile(r"(?<![a-zA-Z0-9_])__name__\s*=\s*" + _LITERAL)
_CLOSING = {"(": ")", "{": "}", "[": "]"}


class PromQLError(ValueError):
    """The expression cannot be read: what is wrong and where."""


def metric_names(expr: str) -> frozenset[str]:
    """Every metric name ``expr`` reads (see the module docstring)."""
    names: set[str] = set()
    i, n = 0, len(expr)
    opened: list[tuple[str, int]] = []  # brackets still open: (bracket, position)
    while i < n:
        ch = expr[i]
        if ch.isspace():
            i += 1
        elif ch == "#":
            end = expr.find("\n", i)
            i = n if end < 0 else end + 1
        elif ch in "\"'`":
            i = _string_end(expr, i)
        elif ch == "{":
            end = _matchers_end(expr, i)
            names.update(_name_matchers(expr[i + 1 : end - 1]))
            i = end
        elif ch == "[":
            end = expr.find("]", i)
            if end < 0:
                raise PromQLError(f"`[` at {i} is never closed")
            i = end + 1
        elif ch == "(":
            opened.append((ch, i))
            i += 1
        elif ch in ")}]":
            if not opened or _CLOSING[opened[-1][0]] != ch:
                raise PromQLError(f"`{ch}` at {i} closes nothing")
            opened.pop()
            i += 1
        elif (number := _NUMBER.match(expr, i)) is not None:
            i = number.end()
        elif (ident := _IDENT.match(expr, i)) is not None:
            word, i = ident.group(), ident.end()
            after = _SPACE.match(expr, i)
            nxt = after.end() if after else i
            lowered = word.lower()
            if lowered in LABEL_LISTS and nxt < n and expr[nxt] == "(":
                i = _list_end(expr, nxt)
            elif lowered in KEYWORDS or (nxt < n and expr[nxt] == "("):
                continue  # a keyword, or a function / aggregation taking what follows
            else:
                names.add(word)
        else:
            i += 1  # an operator: + - * / % ^ == != < > , @ :
    if opened:
        bracket, at = opened[-1]
        raise PromQLError(f"`{bracket}` at {at} is never closed")
    return frozenset(names)


def _string_end(expr: str, start: int) -> int:
    """The position after the string literal that opens at ``start``."""
    quote = expr[start]
    i = start + 1
    while i < len(expr):
        if expr[i] == "\\" and quote != "`":
            i += 2
            continue
        if expr[i] == quote:
            return i + 1
        i += 1
    raise PromQLError(f"the string opened at {start} is never closed")


def _matchers_end(expr: str, start: int) -> int:
    """The position after the ``}`` that closes the matchers opened at ``start``."""
    i = start + 1
    while i < len(expr):
        ch = expr[i]
        if ch in "\"'`":
            i = _string_end(expr, i)
        elif ch == "}":
            return i + 1
        else:
            i += 1
    raise PromQLError(f"`{{` at {start} is never closed")


def _list_end(expr: str, start: int) -> int:
    """The position after the label list ``( a, b )`` that opens at ``start``."""
    end = expr.find(")", start)
    if end < 0:
        raise PromQLError(f"`(` at {start} is never closed")
    return end + 1


def _name_matchers(matchers: str) -> set[str]:
    """Metric names given by equality matchers on ``__name__`` (a regex names no one metric)."""
    found = set()
    for match in _NAME_MATCHER.finditer(matchers):
        literal = match.group(1)
        value = literal[1:-1]
        if literal[0] != "`":
            value = re.sub(r"\\(.)", r"\1", value)
        if _IDENT.fullmatch(value):
            found.add(value)
    return found
