"""The fake API server's storage: create, get, list, update, patch and delete with the checks
and bookkeeping the real registry does.

One global ``resourceVersion`` counter is bumped on every write; an object carries the value of
its last write. ``metadata.generation`` goes up when ``spec`` changes. Updates and patches are
optimistic: a ``metadata.resourceVersion`` that is not the current one is 409 Conflict; an update
without one is unconditional (as for every built-in kind here). A write that changes nothing
writes nothing. ``status`` is not writable through the main resource; ``update_status`` (the
``status`` subresource) writes only it. ``dryRun=All`` does
everything but store. Deleting an owner deletes its dependents (or orphans them).

After each stored write the kind's controller hook runs (``controllers.py``). Not
thread-safe on its own: callers hold ``Store.lock``.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tests.fakes.kubernetes.custom_kinds import validate_status
from tests.fakes.kubernetes.errors import (
    Cause,
    Json,
    KubeError,
    Resource,
    already_exists,
    bad_request,
    conflict,
    internal,
    invalid,
    invalid_value,
    not_found,
    required,
    stale,
    unsupported,
)
from tests.fakes.kubernetes.kinds import JOBS, KINDS, Kind
from tests.fakes.kubernetes.patch import apply_patch
from tests.fakes.kubernetes.selectors import METADATA_FIELDS, Requirement, fields_of, matches
from tests.fakes.kubernetes.validation import validate_labels

Hook = Callable[["Store", Json, "Json | None", datetime], None]
_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"


def stamp(at: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, to the second, as the API server writes timestamps."""
    if at.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(obj: Json) -> Json:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


class Store:
    def __init__(self, hooks: dict[str, Hook] | None = None) -> None:
        self.lock = threading.RLock()
        self.objects: dict[str, dict[tuple[str, str], Json]] = {}
        self.hooks = hooks or {}
        self.clock: datetime | None = None
        self._rv = 1000
        # controller settings and bookkeeping, read by k8s_controllers
        self.hold = False
        self.auto_jobs = False
        self.rollouts: dict[tuple[str, str], Any] = {}
        # What each container wrote: (namespace, pod, container, previous instance) -> text.
        self.logs: dict[tuple[str, str, str, bool], str] = {}

    # -- bookkeeping ----------------------------------------------------------------------------

    def now(self) -> datetime:
        return (self.clock or datetime.now(UTC)).replace(microsecond=0)

    def next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def table(self, res: Resource) -> dict[tuple[str, str], Json]:
        return self.objects.setdefault(res.plural, {})

    def find(self, res: Resource, ns: str, name: str) -> Json | None:
        return self.table(res).get((ns, name))

    def get(self, res: Resource, ns: str, name: str) -> Json:
        obj = self.find(res, ns, name)
        if obj is None:
            raise not_found(res, name)
        return obj

    def save(self, res: Resource, obj: Json) -> Json:
        """Store ``obj`` (a controller's write): a new resourceVersion, no checks, no hooks."""
        _meta(obj)["resourceVersion"] = self.next_rv()
        self.table(res)[(obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj
        return obj

    def remove(self, res: Resource, ns: str, name: str) -> None:
        if self.table(res).pop((ns, name), None) is not None:
            self.next_rv()
        if res.plural == "pods":  # a pod's logs go with it
            for key in [k for k in self.logs if k[:2] == (ns, name)]:
                del self.logs[key]

    def _written(self, kind: Kind, obj: Json, old: Json | None, at: datetime | None) -> None:
        hook = self.hooks.get(kind.resource.plural)
        if hook is not None:
            hook(self, obj, old, at or self.now())

    # -- list -----------------------------------------------------------------------------------

    def select(
        self,
        res: Resource,
        ns: str | None,
        labels: list[Requirement],
        fields: list[Requirement],
        limit: int = 0,
        cont: str = "",
        field_labels: tuple[str, ...] = METADATA_FIELDS,
    ) -> tuple[list[Json], Json]:
        found = sorted(
            (key, obj)
            for key, obj in self.table(res).items()
            if (ns is None or key[0] == ns)
            and matches(labels, _meta(obj).get("labels"))
            and matches(fields, fields_of(obj, field_labels))
        )
        if cont:
            try:
                start = tuple(json.loads(base64.urlsafe_b64decode(cont))["start"])
            except (ValueError, KeyError, TypeError) as exc:
                raise bad_request(f"continue key is not valid: {exc}") from exc
            found = [(k, o) for k, o in found if k > start]
        meta: Json = {"resourceVersion": self.resource_version}
        if limit and len(found) > limit:
            last = found[limit - 1][0]
            token = json.dumps({"start": list(last)}).encode()
            meta["continue"] = base64.urlsafe_b64encode(token).decode()
            meta["remainingItemCount"] = len(found) - limit
            found = found[:limit]
        return [obj for _, obj in found], meta

    # -- create ---------------------------------------------------------------------------------

    def _check_body(self, res: Resource, body: Any, ns: str) -> Json:
        if not isinstance(body, dict):
            raise bad_request(
                f"json: cannot unmarshal a non-object into Go value of type {res.kind}"
            )
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if api_version not in (None, "", res.api_version):
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({res.api_version})"
            )
        if kind not in (None, "", res.kind):
            raise bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({res.kind})"
            )
        meta = body.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise bad_request("json: cannot unmarshal metadata into Go value of type v1.ObjectMeta")
        meta = meta or {}
        if meta.get("namespace") not in (None, "", ns):
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        for key in ("labels", "annotations"):
            values = meta.get(key)
            if values is not None and (
                not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values())
            ):
                raise bad_request(
                    f"json: cannot unmarshal into Go struct field ObjectMeta.metadata.{key} of "
                    "type map[string]string"
                )
        return body

    def _validate(
        self, kind: Kind, obj: Json, old: Json | None, causes: list[Cause] | None = None
    ) -> None:
        causes = list(causes or [])
        validate_labels(causes, "metadata.labels", _meta(obj).get("labels"))
        causes += kind.validate(obj, old)
        if causes:
            raise invalid(kind.resource, _meta(obj).get("name", ""), causes)

    def create(
        self, kind: Kind, ns: str, body: Any, *, dry_run: bool = False, at: datetime | None = None
    ) -> Json:
        res = kind.resource
        body = self._check_body(res, body, ns)
        meta = dict(body.get("metadata") or {})
        if meta.get("resourceVersion"):
            raise internal("resourceVersion should not be set on objects to be created")
        name = meta.get("name") or ""
        if not name and meta.get("generateName"):
            name = meta["generateName"] + "".join(random.choices(_SUFFIX, k=5))
        if not name:
            raise invalid(res, "", [required("metadata.name", "name or generateName is required")])
        if problem := kind.name_problem(name):
            raise invalid(res, name, [invalid_value("metadata.name", name, problem)])
        if self.find(res, ns, name) is not None:
            raise already_exists(res, name)
        obj: Json = copy.deepcopy(body)
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        for key in ("uid", "creationTimestamp", "generation", "deletionTimestamp", "managedFields"):
            meta.pop(key, None)
        meta.update(
            name=name,
            namespace=ns,
            uid=str(uuid.uuid4()),
            creationTimestamp=stamp(at or self.now()),
        )
        if kind.has_generation:
            meta["generation"] = 1
        obj["metadata"] = meta
        obj["status"] = copy.deepcopy(initial_status(res))
        kind.default(obj)
        self._validate(kind, obj, None, kind.prepare(obj))
        if dry_run:
            return obj
        self.save(res, obj)
        self._written(kind, obj, None, at)
        return obj

    # -- update, patch --------------------------------------------------------------------------

    def update(
        self,
        kind: Kind,
        ns: str,
        name: str,
        body: Any,
        *,
        dry_run: bool = False,
        at: datetime | None = None,
    ) -> Json:
        res = kind.resource
        old = self.get(res, ns, name)
        body = self._check_body(res, body, ns)
        meta = dict(body.get("metadata") or {})
        if meta.get("name") not in (None, name):
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                f"({name})"
            )
        old_meta = old["metadata"]
        if meta.get("resourceVersion") and meta["resourceVersion"] != old_meta["resourceVersion"]:
            raise stale(res, name)
        if meta.get("uid") and meta["uid"] != old_meta["uid"]:
            raise conflict(
                res,
                name,
                f"Precondition failed: UID in precondition: {meta['uid']}, UID in object meta: "
                f"{old_meta['uid']}",
            )
        obj: Json = copy.deepcopy(body)
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        for key in (
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
            "resourceVersion",
        ):
            if key in old_meta:
                meta[key] = old_meta[key]
        meta.pop("managedFields", None)
        obj["metadata"] = meta
        obj["status"] = copy.deepcopy(old.get("status", {}))
        kind.default(obj)
        self._validate(kind, obj, old)
        if kind.has_generation and obj.get("spec") != old.get("spec"):
            meta["generation"] = int(old_meta.get("generation", 1)) + 1
        if obj == old or dry_run:
            return old if obj == old else obj
        self.save(res, obj)
        self._written(kind, obj, old, at)
        return obj

    def patch(
        self,
        kind: Kind,
        ns: str,
        name: str,
        content_type: str,
        body: bytes,
        *,
        dry_run: bool = False,
        at: datetime | None = None,
    ) -> Json:
        old = self.get(kind.resource, ns, name)
        patched = apply_patch(content_type, old, body)
        if not isinstance(patched, dict):
            raise bad_request(f"the patched object is not a {kind.resource.kind}")
        return self.update(kind, ns, name, patched, dry_run=dry_run, at=at)

    def update_status(
        self,
        kind: Kind,
        ns: str,
        name: str,
        wanted: Any,
        *,
        dry_run: bool = False,
        at: datetime | None = None,
    ) -> Json:
        """A write to the ``status`` subresource: only ``status`` is taken from ``wanted`` (the
        object as the client sent it, or as its patch made it); the rest stays. The same
        ``metadata.resourceVersion`` precondition as for the main resource; no new generation."""
        res = kind.resource
        old = self.get(res, ns, name)
        body = self._check_body(res, wanted, ns)
        meta = body.get("metadata") or {}
        if meta.get("name") not in (None, name):
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                f"({name})"
            )
        if meta.get("resourceVersion") and meta["resourceVersion"] != old["metadata"].get(
            "resourceVersion"
        ):
            raise stale(res, name)
        obj = copy.deepcopy(old)
        status = body.get("status")
        obj["status"] = copy.deepcopy(status) if status is not None else {}
        causes = status_problems(kind, obj)
        if causes:
            raise invalid(res, name, causes)
        if obj == old or dry_run:
            return old if obj == old else obj
        self.save(res, obj)
        self._written(kind, obj, old, at)
        return obj

    # -- delete ---------------------------------------------------------------------------------

    def delete(
        self, kind: Kind, ns: str, name: str, options: Json, *, dry_run: bool = False
    ) -> Json:
        res = kind.resource
        old = self.get(res, ns, name)
        pre = options.get("preconditions") or {}
        for key, label in (("resourceVersion", "ResourceVersion"), ("uid", "UID")):
            want, have = pre.get(key), old["metadata"].get(key)
            if want and want != have:
                raise conflict(
                    res,
                    name,
                    f"Precondition failed: {label} in precondition: {want}, {label} in object "
                    f"meta: {have}",
                )
        policy = options.get("propagationPolicy")
        if options.get("orphanDependents") is True:
            policy = policy or "Orphan"
        if policy not in (None, "Orphan", "Background", "Foreground"):
            cause = unsupported(
                "propagationPolicy", policy, ["Foreground", "Background", "Orphan", "nil"]
            )
            raise KubeError(
                422,
                "Invalid",
                f'DeleteOptions.meta.k8s.io "" is invalid: {cause.text()}',
                {
                    "group": "meta.k8s.io",
                    "kind": "DeleteOptions",
                    "causes": [
                        {"reason": cause.reason, "message": cause.message, "field": cause.field}
                    ],
                },
            )
        if policy is None:
            policy = "Orphan" if res == JOBS else "Background"
        details: Json = {"name": name}
        if res.group:
            details["group"] = res.group
        details.update(kind=res.plural, uid=old["metadata"]["uid"])
        if not dry_run:
            self.remove(res, ns, name)
            self._collect(old, orphan=policy == "Orphan")
            hook = self.hooks.get(f"delete:{res.plural}")
            if hook is not None:
                hook(self, old, None, self.now())
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }

    def _collect(self, owner: Json, *, orphan: bool) -> None:
        """The garbage collector: dependents of a deleted owner go too, or lose the reference."""
        uid = owner["metadata"]["uid"]
        for kind in KINDS.values():
            for obj in list(self.table(kind.resource).values()):
                refs = _meta(obj).get("ownerReferences") or []
                if not any(r.get("uid") == uid for r in refs):
                    continue
                if orphan:
                    obj = copy.deepcopy(obj)
                    rest = [r for r in refs if r.get("uid") != uid]
                    obj["metadata"]["ownerReferences"] = rest
                    if not rest:
                        del obj["metadata"]["ownerReferences"]
                    self.save(kind.resource, obj)
                else:
                    self.remove(
                        kind.resource, obj["metadata"]["namespace"], obj["metadata"]["name"]
                    )
                    self._collect(obj, orphan=False)


def status_problems(kind: Kind, obj: Json) -> list[Cause]:
    """What the kind's schema finds wrong with ``obj``'s status (a status subresource write)."""
    return validate_status(kind.resource, obj)


def initial_status(res: Resource) -> Json:
    """What ``status`` reads as right after create, before any controller has written it."""
    return {
        "replicasets": {"replicas": 0},
        "horizontalpodautoscalers": {"desiredReplicas": 0},
    }.get(res.plural, {})
