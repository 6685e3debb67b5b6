"""From an HTTP request to a store call, and back to the API server's JSON.

Paths are the real ones: ``/apis/{group}/{version}/namespaces/{ns}/{plural}[/{name}[/scale]]``
and ``/apis/{group}/{version}/{plural}`` (every namespace); the core group's are under
``/api/v1`` (pods, events, and a pod's ``log``, which answers ``text/plain``). Lists are
``<Kind>List`` with ``metadata.resourceVersion``; their items carry no ``kind``/``apiVersion`` (as
with the real server over JSON). ``DELETE`` answers a ``Status`` with ``status: Success``. The
scale subresource of a Deployment reads and writes ``Scale`` (autoscaling/v1) with the
Deployment's resourceVersion. A custom resource's ``status`` subresource reads the whole object
and writes only its ``status``; a strategic merge patch of a custom resource is 415, as for CRDs.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import yaml

from tests.fakes.kubernetes.errors import (
    Json,
    Resource,
    bad_request,
    invalid,
    invalid_value,
    method_not_allowed,
    path_not_found,
    required,
    stale,
    unsupported_media_type,
)
from tests.fakes.kubernetes.kinds import DEPLOYMENTS, Kind, kind_for
from tests.fakes.kubernetes.logs import pod_log
from tests.fakes.kubernetes.patch import APPLY, JSON_PATCH, MERGE_PATCH, STRATEGIC, apply_patch
from tests.fakes.kubernetes.selectors import (
    parse_field_selector,
    parse_label_selector,
    selector_string,
)
from tests.fakes.kubernetes.store import Store

SCALE = Resource("autoscaling", "v1", "scale", "Scale")
# What the API server accepts in a PATCH of a custom resource: no strategic merge patch.
CUSTOM_PATCH_TYPES = [JSON_PATCH, MERGE_PATCH, APPLY]
BODY_TYPES = [
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/cbor",
]
VERSION = {
    "major": "1",
    "minor": "33",
    "gitVersion": "v1.33.0-opsbot-fake",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-04-23T00:00:00Z",
    "goVersion": "go1.24.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}


@dataclass(frozen=True)
class Call:
    """What a request asks for: the verb as RBAC names it, the kind, where, and the body."""

    verb: str
    kind: Kind | None
    namespace: str
    name: str
    subresource: str
    query: dict[str, str]
    content_type: str
    body: bytes


def parse(method: str, path: str, query: dict[str, str], content_type: str, body: bytes) -> Call:
    parts = [p for p in path.split("/") if p]
    if parts == ["version"]:
        if method != "GET":
            raise method_not_allowed(method)
        return Call("version", None, "", "", "", query, content_type, body)
    if len(parts) >= 3 and parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise path_not_found()
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    elif len(rest) != 1:
        raise path_not_found()
    kind = kind_for(group, version, rest[0])
    if kind is None or len(rest) > 3:
        raise path_not_found()
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if sub and sub not in kind.subresources:
        raise path_not_found()
    verbs = {
        ("GET", False): "list",
        ("POST", False): "create",
        ("GET", True): "get",
        ("PUT", True): "update",
        ("PATCH", True): "patch",
        ("DELETE", True): "delete",
    }
    verb = verbs.get((method, bool(name)))
    if verb is None or (not namespace and verb != "list") or (sub and verb == "delete"):
        raise method_not_allowed(method)
    if (kind.read_only or sub == "log") and verb not in ("get", "list"):
        raise method_not_allowed(method)
    if verb == "list" and query.get("watch") in ("true", "1"):
        raise bad_request("watch is not implemented by this fake API server")
    return Call(verb, kind, namespace, name, sub, query, content_type, body)


def _dry_run(call: Call) -> bool:
    value = call.query.get("dryRun")
    if value in (None, ""):
        return False
    if value != "All":
        raise bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    return True


def _decode(call: Call) -> Any:
    # No Content-Type means the first supported one (JSON), as the API server negotiates it.
    if call.content_type not in ("", "application/json", "application/yaml"):
        raise unsupported_media_type(BODY_TYPES)
    try:
        if call.content_type == "application/yaml":
            return yaml.safe_load(call.body or b"")
        return json.loads(call.body or b"null")
    except (ValueError, yaml.YAMLError) as exc:
        raise bad_request(f"error decoding the request body: {exc}") from exc


def _public(obj: Json) -> Json:
    return copy.deepcopy(obj)


def _item(obj: Json) -> Json:
    item = copy.deepcopy(obj)
    item.pop("apiVersion", None)
    item.pop("kind", None)
    return item


def handle(store: Store, call: Call) -> tuple[int, Json | bytes]:
    """The answer to ``call`` (bytes: ``text/plain``); the caller holds ``store.lock``."""
    if call.verb == "version":
        return 200, dict(VERSION)
    kind = call.kind
    assert kind is not None
    res = kind.resource
    if call.subresource == "scale":
        return _scale(store, kind, call)
    if call.subresource == "log":
        return 200, pod_log(store, call.namespace, call.name, call.query)
    if kind.custom and call.verb == "patch" and call.content_type == STRATEGIC:
        raise unsupported_media_type(CUSTOM_PATCH_TYPES)
    if call.subresource == "status":
        return _status(store, kind, call)
    if call.verb == "list":
        labels = parse_label_selector(call.query.get("labelSelector", ""))
        fields = parse_field_selector(call.query.get("fieldSelector", ""), kind.field_labels)
        try:
            limit = int(call.query.get("limit") or 0)
        except ValueError as exc:
            raise bad_request(f"invalid limit: {call.query['limit']}") from exc
        items, meta = store.select(
            res,
            call.namespace or None,
            labels,
            fields,
            limit,
            call.query.get("continue", ""),
            kind.field_labels,
        )
        return 200, {
            "kind": f"{res.kind}List",
            "apiVersion": res.api_version,
            "metadata": meta,
            "items": [_item(o) for o in items],
        }
    if call.verb == "get":
        return 200, _public(store.get(res, call.namespace, call.name))
    dry_run = _dry_run(call)
    if call.verb == "create":
        return 201, _public(store.create(kind, call.namespace, _decode(call), dry_run=dry_run))
    if call.verb == "update":
        obj = store.update(kind, call.namespace, call.name, _decode(call), dry_run=dry_run)
        return 200, _public(obj)
    if call.verb == "patch":
        obj = store.patch(
            kind, call.namespace, call.name, call.content_type, call.body, dry_run=dry_run
        )
        return 200, _public(obj)
    options: Json = {}
    if call.body:
        decoded = _decode(call)
        if decoded is not None and not isinstance(decoded, dict):
            raise bad_request("json: cannot unmarshal the body into DeleteOptions")
        options = decoded or {}
        if options.get("dryRun"):
            dry_run = dry_run or options["dryRun"] == ["All"]
    if "propagationPolicy" in call.query:
        options["propagationPolicy"] = call.query["propagationPolicy"]
    if call.query.get("orphanDependents") in ("true", "false"):
        options["orphanDependents"] = call.query["orphanDependents"] == "true"
    return 200, store.delete(kind, call.namespace, call.name, options, dry_run=dry_run)


# -- the status subresource of a custom resource -----------------------------------------------


def _status(store: Store, kind: Kind, call: Call) -> tuple[int, Json]:
    """GET answers the whole object; PUT and PATCH change only its ``status``."""
    obj = store.get(kind.resource, call.namespace, call.name)
    if call.verb == "get":
        return 200, _public(obj)
    if call.verb == "update":
        wanted = _decode(call)
    else:
        wanted = apply_patch(call.content_type, obj, call.body)
    updated = store.update_status(kind, call.namespace, call.name, wanted, dry_run=_dry_run(call))
    return 200, _public(updated)


# -- the scale subresource ----------------------------------------------------------------------


def scale_of(dep: Json) -> Json:
    meta = dep["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta.get("resourceVersion", ""),
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": int(dep["spec"].get("replicas") or 0)},
        "status": {
            "replicas": int((dep.get("status") or {}).get("replicas", 0)),
            "selector": selector_string(dep["spec"].get("selector")),
        },
    }


def _scale(store: Store, kind: Kind, call: Call) -> tuple[int, Json]:
    if kind.resource != DEPLOYMENTS:
        raise path_not_found()
    dep = store.get(DEPLOYMENTS, call.namespace, call.name)
    if call.verb == "get":
        return 200, scale_of(dep)
    dry_run = _dry_run(call)
    if call.verb == "update":
        wanted = _decode(call)
    else:
        wanted = apply_patch(call.content_type, scale_of(dep), call.body)
    if not isinstance(wanted, dict):
        raise bad_request("json: cannot unmarshal the body into Go value of type autoscaling.Scale")
    if wanted.get("apiVersion") not in (None, "", "autoscaling/v1") or wanted.get("kind") not in (
        None,
        "",
        "Scale",
    ):
        raise bad_request(
            f"the kind in the data ({wanted.get('apiVersion')}, Kind={wanted.get('kind')}) does "
            "not match the expected kind (autoscaling/v1, Kind=Scale)"
        )
    meta = wanted.get("metadata") or {}
    if meta.get("name") not in (None, call.name):
        raise bad_request(
            f"the name of the object ({meta.get('name')}) does not match the name on the URL "
            f"({call.name})"
        )
    if (
        meta.get("resourceVersion")
        and meta["resourceVersion"] != dep["metadata"]["resourceVersion"]
    ):
        raise stale(DEPLOYMENTS, call.name)
    replicas = (wanted.get("spec") or {}).get("replicas")
    if replicas is None:
        replicas = 0
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        raise bad_request(
            "json: cannot unmarshal into Go struct field ScaleSpec.spec.replicas of type int32"
        )
    if replicas < 0:
        cause = invalid_value("spec.replicas", replicas, "must be greater than or equal to 0")
        raise invalid(SCALE, call.name, [cause])
    if not meta.get("name") and call.verb == "update":
        raise invalid(SCALE, "", [required("metadata.name")])
    body = copy.deepcopy(dep)
    body["spec"]["replicas"] = replicas
    updated = store.update(kind, call.namespace, call.name, body, dry_run=dry_run)
    return 200, scale_of(updated)
