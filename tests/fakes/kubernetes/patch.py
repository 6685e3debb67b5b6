"""The three patch formats the API server accepts for built-in kinds.

- ``application/json-patch+json`` (RFC 6902): add/remove/replace/move/copy/test; an op that does
  not apply (a failed ``test`` included) is 422, a body that is not a list of ops is 400.
- ``application/merge-patch+json`` (RFC 7386): maps merge, ``null`` deletes, lists replace.
- ``application/strategic-merge-patch+json``: like merge patch, but lists that the Go types mark
  ``patchStrategy:"merge"`` merge item by item on their ``patchMergeKey`` (containers and env by
  ``name``, container ports by ``containerPort``, volume mounts by ``mountPath``, ...), and the
  ``$patch`` (replace/delete), ``$retainKeys``, ``$setElementOrder/`` and
  ``$deleteFromPrimitiveList/`` directives work.

``application/apply-patch+yaml`` (server-side apply) is not implemented: 415, naming that.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.fakes.kubernetes.errors import (
    KubeError,
    bad_request,
    internal,
    unprocessable,
    unsupported_media_type,
)

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
PATCH_TYPES = [JSON_PATCH, MERGE_PATCH, APPLY, STRATEGIC, "application/apply-patch+cbor"]

# patchMergeKey of the list fields with patchStrategy "merge" in the kinds this fake serves.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "volumes": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "resourceClaims": "name",
    "schedulingGates": "name",
    "resizePolicy": "resourceName",
    "topologySpreadConstraints": "topologyKey",
    "ownerReferences": "uid",
    "conditions": "type",
}
PRIMITIVE_MERGE = {"finalizers"}  # lists of strings merged as sets


def apply_patch(content_type: str, original: Any, body: bytes) -> Any:
    """``original`` with the patch in ``body`` applied; ``original`` is not changed."""
    if content_type == APPLY or content_type == "application/apply-patch+cbor":
        raise KubeError(
            415,
            "UnsupportedMediaType",
            "server-side apply (application/apply-patch+yaml) is not implemented by this fake; "
            "use a strategic merge, merge or JSON patch",
        )
    if content_type not in PATCH_TYPES:
        raise unsupported_media_type(PATCH_TYPES)
    try:
        patch = json.loads(body or b"null")
    except ValueError as exc:
        raise bad_request(f"error decoding patch: {exc}") from exc
    if content_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request(
                f"json: cannot unmarshal {_go_type(patch)} into Go value of type jsonpatch.Patch"
            )
        return json_patch(original, patch)
    if not isinstance(patch, dict):
        go_type = "map[string]interface {}"
        raise bad_request(
            f"json: cannot unmarshal {_go_type(patch)} into Go value of type {go_type}"
        )
    if content_type == MERGE_PATCH:
        return merge_patch(original, patch)
    return strategic_merge(original, patch)


def _go_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "bool"}.get(
        type(value), "number" if isinstance(value, (int, float)) else "null"
    )


# -- RFC 7386 -----------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- strategic merge patch ---------------------------------------------------------------------


def strategic_merge(original: Any, patch: dict[str, Any]) -> Any:
    merged = _merge_map(original if isinstance(original, dict) else {}, patch)
    return {} if merged is None else merged


def _strip(value: Any) -> Any:
    """A new value from a patch: directives and nulls removed, as if merged onto nothing."""
    if isinstance(value, dict):
        merged = _merge_map({}, value)
        return {} if merged is None else merged
    if isinstance(value, list):
        return [_strip(v) for v in value if not (isinstance(v, dict) and "$patch" in v)]
    return value


def _merge_map(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any] | None:
    patch = dict(patch)
    directive = patch.pop("$patch", None)
    if directive == "delete":
        return None
    if directive == "replace":
        return _strip(patch)  # type: ignore[no-any-return]
    if directive is not None:
        raise bad_request(f"Unknown patch type: {directive}")
    retain = patch.pop("$retainKeys", None)
    orders: dict[str, list[Any]] = {}
    deletions: dict[str, list[Any]] = {}
    result = copy.deepcopy(original)
    for key in [k for k in patch if k.startswith("$")]:
        value = patch.pop(key)
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
        elif key.startswith("$deleteFromPrimitiveList/"):
            deletions[key.split("/", 1)[1]] = value
        else:
            raise bad_request(f"unknown patch directive: {key}")
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            base = result.get(key)
            merged = _merge_map(base if isinstance(base, dict) else {}, value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        else:
            result[key] = value
    for key, values in deletions.items():
        if isinstance(result.get(key), list):
            result[key] = [v for v in result[key] if v not in values]
    for key, order in orders.items():
        if isinstance(result.get(key), list):
            result[key] = _reorder(key, result[key], order)
    if retain is not None:
        if not isinstance(retain, list):
            raise bad_request("$retainKeys must be a list of strings")
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(field: str, original: Any, patch: list[Any]) -> list[Any]:
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [_strip(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    base = copy.deepcopy(original) if isinstance(original, list) else []
    if field in PRIMITIVE_MERGE:
        return base + [v for v in patch if v not in base]
    key = MERGE_KEYS.get(field)
    if key is None or not all(isinstance(i, dict) for i in patch):
        return [_strip(i) for i in patch]
    for item in patch:
        if key not in item:
            shown = " ".join(f"{k}:{v}" for k, v in sorted(item.items()))
            raise internal(f"map: map[{shown}] does not contain declared merge key: {key}")
        at = next(
            (i for i, o in enumerate(base) if isinstance(o, dict) and o.get(key) == item[key]),
            None,
        )
        if item.get("$patch") == "delete":
            if at is not None:
                del base[at]
            continue
        if at is None:
            base.append(_strip(item))
        else:
            merged = _merge_map(base[at], item)
            base[at] = merged if merged is not None else base[at]
    return base


def _reorder(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    key = MERGE_KEYS.get(field)

    def ident(v: Any) -> Any:
        return v.get(key) if key and isinstance(v, dict) else v

    wanted = [ident(o) if isinstance(o, dict) else o for o in order]
    ranked = sorted(
        enumerate(items),
        key=lambda p: (wanted.index(ident(p[1])) if ident(p[1]) in wanted else len(wanted), p[0]),
    )
    return [v for _, v in ranked]


# -- RFC 6902 -----------------------------------------------------------------------------------


def _tokens(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise unprocessable(f"invalid JSON pointer: {path!r}")
    if path == "":
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _index(container: list[Any], token: str, path: str, op: str, *, adding: bool) -> int:
    if token == "-" and adding:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise unprocessable(f"{op} operation does not apply: doc is missing path: {path!r}")
    index = int(token)
    if index > len(container) or (index == len(container) and not adding):
        raise unprocessable(f"{op} operation does not apply: doc is missing path: {path!r}")
    return index


def _parent(doc: Any, path: str, op: str) -> tuple[Any, str]:
    tokens = _tokens(path)
    if not tokens:
        raise unprocessable(f"{op} operation does not apply: cannot {op} the whole document")
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, path, op, adding=False)]
        else:
            raise unprocessable(f"{op} operation does not apply: doc is missing path: {path!r}")
    return node, tokens[-1]


def _get(doc: Any, path: str, op: str) -> Any:
    node = doc
    for token in _tokens(path):
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, path, op, adding=False)]
        else:
            raise unprocessable(f"{op} operation does not apply: doc is missing path: {path!r}")
    return node


def _add(doc: Any, path: str, value: Any, op: str = "add") -> Any:
    if path == "":
        return copy.deepcopy(value)
    parent, last = _parent(doc, path, op)
    if isinstance(parent, dict):
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, path, op, adding=True), copy.deepcopy(value))
    else:
        raise unprocessable(f"{op} operation does not apply: doc is missing path: {path!r}")
    return doc


def _remove(doc: Any, path: str, op: str = "remove") -> Any:
    parent, last = _parent(doc, path, op)
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, path, op, adding=False))
    raise unprocessable(f"{op} operation does not apply: doc is missing path: {path!r}")


def json_patch(original: Any, ops: list[Any]) -> Any:
    doc = copy.deepcopy(original)
    for op in ops:
        if not isinstance(op, dict):
            raise bad_request("json: cannot unmarshal a patch operation that is not an object")
        kind, path, source = op.get("op"), op.get("path"), op.get("from", "")
        if not isinstance(path, str) or not isinstance(source, str):
            raise unprocessable(f"{kind} operation does not apply: invalid path: {path!r}")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise unprocessable(f"{kind} operation does not apply: missing value")
        if kind == "add":
            doc = _add(doc, path, op["value"])
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            if path == "":
                doc = copy.deepcopy(op["value"])
                continue
            parent, last = _parent(doc, path, "replace")
            if isinstance(parent, dict) and last in parent:
                parent[last] = copy.deepcopy(op["value"])
            elif isinstance(parent, list):
                parent[_index(parent, last, path, "replace", adding=False)] = copy.deepcopy(
                    op["value"]
                )
            else:
                raise unprocessable(
                    f"replace operation does not apply: doc is missing key: {path}: missing value"
                )
        elif kind in ("move", "copy"):
            if kind == "move" and f"{path}/".startswith(f"{source}/"):
                raise unprocessable(f"move operation does not apply: {path} is inside {source}")
            value = _remove(doc, source, kind) if kind == "move" else _get(doc, source, kind)
            doc = _add(doc, path, value, kind)
        elif kind == "test":
            try:
                found = _get(doc, path, "test")
            except KubeError:
                found = _MISSING
            if found != op["value"] or found is _MISSING:
                raise unprocessable(f"testing value {path} failed: test failed")
        else:
            raise unprocessable(f"Unexpected kind: {kind}")
    return doc


_MISSING = object()
