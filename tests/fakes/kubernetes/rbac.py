"""RBAC for the Kubernetes API fake: which Role rules allow a request, decided as the API server
decides it.

A request is first turned into its attributes the way the API server's ``RequestInfoFactory``
does (before any handler runs, so a path the fake does not serve is still authorized first):

    GET one object = get     GET a collection = list     ?watch=true (or /watch/...) = watch
    POST = create            PUT = update                PATCH = patch
    DELETE one = delete      DELETE a collection = deletecollection

``resource`` is ``<plural>`` or ``<plural>/<subresource>`` (``deployments/scale``). A rule allows
the request when its ``apiGroups``, ``resources`` and ``verbs`` each contain the request's value
or ``*`` (``resourceNames``, when given, must contain the object's name; a list or a create never
matches a rule with names). ``Grants`` are the Roles bound to the bot, per namespace, plus the
rules of a ClusterRole bound cluster-wide; everything else is forbidden.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

WATCH_VALUES = ("1", "t", "T", "true", "TRUE", "True")  # Go's strconv.ParseBool
NAMELESS_VERBS = ("list", "watch", "create", "deletecollection")


@dataclass(frozen=True)
class Attributes:
    """What RBAC sees of one request to a resource."""

    verb: str
    api_group: str
    version: str
    resource: str  # the plural, without the subresource
    subresource: str
    namespace: str
    name: str

    @property
    def full_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def attributes(method: str, path: str, query: Mapping[str, str]) -> Attributes | None:
    """The request's RBAC attributes; None for a non-resource URL (``/version``, ``/apis``)."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    watch_path = rest[0] == "watch"
    if watch_path:
        rest = rest[1:]
    namespace = ""
    if len(rest) >= 2 and rest[0] == "namespaces":
        # /namespaces/{ns} alone is the Namespace object itself.
        if len(rest) == 2:
            return _attrs(method, query, watch_path, group, version, ["namespaces", rest[1]], "")
        namespace, rest = rest[1], rest[2:]
    return _attrs(method, query, watch_path, group, version, rest, namespace)


def _attrs(
    method: str,
    query: Mapping[str, str],
    watch_path: bool,
    group: str,
    version: str,
    rest: list[str],
    namespace: str,
) -> Attributes | None:
    if not rest:
        return None
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = "/".join(rest[2:])
    verb = {
        "GET": "get" if name else "list",
        "HEAD": "get" if name else "list",
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if name else "deletecollection",
    }.get(method.upper(), method.lower())
    if watch_path or (verb == "list" and query.get("watch") in WATCH_VALUES):
        verb = "watch"
    return Attributes(verb, group, version, resource, subresource, namespace, name)


@dataclass(frozen=True)
class Rule:
    """One ``PolicyRule`` of a Role or ClusterRole."""

    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    resource_names: tuple[str, ...] = ()

    @classmethod
    def from_manifest(cls, rule: Mapping[str, Any]) -> Rule:
        unknown = set(rule) - {"apiGroups", "resources", "verbs", "resourceNames"}
        if unknown:
            raise ValueError(f"rule fields the fake does not enforce: {sorted(unknown)}")
        return cls(
            tuple(rule.get("apiGroups") or ()),
            tuple(rule.get("resources") or ()),
            tuple(rule.get("verbs") or ()),
            tuple(rule.get("resourceNames") or ()),
        )

    def allows(self, a: Attributes) -> bool:
        resource_ok = any(
            r in ("*", a.full_resource) or (r == f"*/{a.subresource}" and a.subresource)
            for r in self.resources
        )
        names_ok = not self.resource_names or (
            a.verb not in NAMELESS_VERBS and a.name in self.resource_names
        )
        return (
            any(g in ("*", a.api_group) for g in self.api_groups)
            and resource_ok
            and any(v in ("*", a.verb) for v in self.verbs)
            and names_ok
        )

    def permissions(self) -> set[Permission]:
        """Each (apiGroup, resource, verb) this rule grants (wildcards as written)."""
        return {
            Permission(g, r, v) for g in self.api_groups for r in self.resources for v in self.verbs
        }


@dataclass(frozen=True, order=True)
class Permission:
    """One (apiGroup, resource, verb): the unit a rule-removal proof takes away."""

    api_group: str
    resource: str
    verb: str

    def __str__(self) -> str:
        return (
            f"{self.verb}:{self.resource}.{self.api_group}"
            if self.api_group
            else (f"{self.verb}:{self.resource}")
        )

    @classmethod
    def parse(cls, text: str) -> Permission:
        """``patch:deployments/scale.apps`` (``verb:resource.group``; no group: the core one)."""
        verb, _, target = text.partition(":")
        resource, _, group = target.partition(".")
        if not verb or not resource:
            raise ValueError(f"{text!r} is not verb:resource[.group]")
        return cls(group, resource, verb)


def without(rules: Iterable[Rule], removed: Permission) -> list[Rule]:
    """``rules`` with one permission taken away (a rule split as needed, empty ones dropped)."""
    kept: list[Rule] = []
    for rule in rules:
        if removed not in rule.permissions():
            kept.append(rule)
            continue
        for group in rule.api_groups:
            for resource in rule.resources:
                verbs = tuple(v for v in rule.verbs if Permission(group, resource, v) != removed)
                if verbs:
                    kept.append(Rule((group,), (resource,), verbs, rule.resource_names))
    return kept


@dataclass(frozen=True)
class Grants:
    """The rules bound to the bot: per namespace (Role + RoleBinding), and everywhere
    (ClusterRole + ClusterRoleBinding)."""

    namespaced: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict)
    cluster: tuple[Rule, ...] = ()

    def allows(self, a: Attributes) -> bool:
        if any(rule.allows(a) for rule in self.cluster):
            return True
        return bool(a.namespace) and any(
            rule.allows(a) for rule in self.namespaced.get(a.namespace, ())
        )
