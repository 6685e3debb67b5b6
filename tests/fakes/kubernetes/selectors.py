"""Label and field selectors, parsed and matched the way the API server does.

A query string selector (``app=x,tier!=db,env in (prod,staging),!canary``) becomes a list of
``Requirement``; a ``LabelSelector`` object (``matchLabels`` + ``matchExpressions``) matches
labels and prints in the string form ``Scale.status.selector`` carries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.fakes.kubernetes.errors import Json, bad_request

_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SET = re.compile(r"^(?P<key>[^\s!=<>()]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_CMP = re.compile(r"^(?P<key>[^\s!=<>()]+)\s*(?P<op>==|!=|=|<|>)\s*(?P<value>[^\s,()]*)$")
_EXISTS = re.compile(r"^(?P<neg>!?)\s*(?P<key>[^\s!=<>()]+)$")


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid label key, or None."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _PREFIX.match(prefix)):
        return "prefix part must be a lowercase RFC 1123 subdomain"
    if not name or len(name) > 63 or not _NAME.match(name):
        return (
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
            "and end with an alphanumeric character"
        )
    return None


def label_value_problem(value: str) -> str | None:
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not _VALUE.match(value):
        return (
            "a valid label must be an empty string or consist of alphanumeric characters, '-', "
            "'_' or '.', and must start and end with an alphanumeric character"
        )
    return None


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # = != in notin exists !exists < >
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        has = self.key in labels
        value = labels.get(self.key, "")
        if self.op == "=":
            return has and value == self.values[0]
        if self.op == "!=":
            return not has or value != self.values[0]
        if self.op == "in":
            return has and value in self.values
        if self.op == "notin":
            return not has or value not in self.values
        if self.op == "exists":
            return has
        if self.op == "!exists":
            return not has
        try:
            number, bound = int(value), int(self.values[0])
        except ValueError:
            return False
        return has and (number < bound if self.op == "<" else number > bound)


def _split(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts]


def _requirement(part: str) -> Requirement:
    if m := _SET.match(part):
        values = tuple(v.strip() for v in m["values"].split(",") if v.strip())
        req = Requirement(m["key"], m["op"], values)
    elif m := _CMP.match(part):
        op = "=" if m["op"] == "==" else m["op"]
        if op in "<>" and not re.fullmatch(r"-?\d+", m["value"]):
            raise bad_request(
                f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an "
                f"integer: {m['value']!r}"
            )
        req = Requirement(m["key"], op, (m["value"],))
    elif m := _EXISTS.match(part):
        req = Requirement(m["key"], "!exists" if m["neg"] else "exists")
    else:
        raise bad_request(f"unable to parse requirement: found '{part}', expected: identifier")
    if problem := label_key_problem(req.key):
        raise bad_request(f'unable to parse requirement: Invalid value: "{req.key}": {problem}')
    for value in req.values if req.op not in "<>" else ():
        if problem := label_value_problem(value):
            raise bad_request(f'unable to parse requirement: Invalid value: "{value}": {problem}')
    return req


def parse_label_selector(text: str) -> list[Requirement]:
    if not text.strip():
        return []
    parts = _split(text)
    if any(not p for p in parts):
        raise bad_request(f"unable to parse requirement: empty requirement in {text!r}")
    return [_requirement(p) for p in parts]


def parse_field_selector(text: str, supported: tuple[str, ...]) -> list[Requirement]:
    reqs = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        m = _CMP.match(part)
        if not m or m["op"] not in ("=", "==", "!="):
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        if m["key"] not in supported:
            raise bad_request(f"field label not supported: {m['key']}")
        reqs.append(Requirement(m["key"], "!=" if m["op"] == "!=" else "=", (m["value"],)))
    return reqs


METADATA_FIELDS = ("metadata.name", "metadata.namespace")
# The field labels the API server supports per kind (pkg/registry/core/{pod,event}/strategy.go).
POD_FIELDS = (
    *METADATA_FIELDS,
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
EVENT_FIELDS = (
    *METADATA_FIELDS,
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)


def fields_of(obj: Json, labels: tuple[str, ...] = METADATA_FIELDS) -> dict[str, str]:
    """The values of ``labels`` (dotted paths) in ``obj``, ``""`` where absent; an Event's
    ``source`` is its ``source.component``."""
    values = {}
    for label in labels:
        value: Any = obj
        for part in ("source.component" if label == "source" else label).split("."):
            value = value.get(part) if isinstance(value, dict) else None
        values[label] = "" if value is None else str(value)
    return values


def matches(reqs: list[Requirement], labels: dict[str, str] | None) -> bool:
    return all(r.matches(labels or {}) for r in reqs)


def from_label_selector(selector: Json | None) -> list[Requirement]:
    """A ``LabelSelector`` object as requirements (an empty selector matches everything)."""
    selector = selector or {}
    reqs = [Requirement(k, "=", (v,)) for k, v in (selector.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expr in selector.get("matchExpressions") or []:
        op = ops[expr["operator"]]
        reqs.append(Requirement(expr["key"], op, tuple(sorted(expr.get("values") or []))))
    return sorted(reqs, key=lambda r: r.key)


def selector_string(selector: Json | None) -> str:
    """``app=x,env in (prod,staging)``: the form ``Scale.status.selector`` uses."""
    out = []
    for r in from_label_selector(selector):
        if r.op == "=":
            out.append(f"{r.key}={r.values[0]}")
        elif r.op in ("in", "notin"):
            out.append(f"{r.key} {r.op} ({','.join(r.values)})")
        else:
            out.append(r.key if r.op == "exists" else f"!{r.key}")
    return ",".join(out)


def selector_problems(selector: Any) -> list[str]:
    """What is wrong with a ``LabelSelector`` object (operators, values)."""
    if not isinstance(selector, dict):
        return ["must be an object"]
    problems = []
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        op, values = expr.get("operator"), expr.get("values") or []
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            problems.append(f"matchExpressions[{i}].operator: not a valid selector operator")
        elif op in ("In", "NotIn") and not values:
            problems.append(f"matchExpressions[{i}].values: must be specified for In or NotIn")
        elif op in ("Exists", "DoesNotExist") and values:
            problems.append(f"matchExpressions[{i}].values: may not be specified")
    return problems
