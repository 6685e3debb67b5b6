"""A pod's ``log`` subresource: ``GET /api/v1/namespaces/{ns}/pods/{name}/log``.

Answered ``text/plain`` (the kubelet's stream as the API server relays it), errors as ``Status``
objects with the API server's words:

- no ``container`` for a pod of several: 400 ``a container name must be specified for pod p,
  choose one of: [a b]``; a container the pod lacks: 400 ``container c is not valid for pod p``;
- ``previous=true`` with no earlier instance: 400 ``previous terminated container "c" in pod "p"
  not found``; the current one of a container that never started: 400 ``container "c" in pod
  "p" is waiting to start: ContainerCreating``;
- ``tailLines`` keeps the last lines, then ``limitBytes`` the first bytes of those (which may cut
  a line, or a UTF-8 character, in half); a negative ``tailLines`` or a ``limitBytes`` below 1 is
  422 ``PodLogOptions "p" is invalid``.

Tests write what a container logged with ``KubeApiFake.set_log``; ``follow`` is not served.
"""

from __future__ import annotations

from tests.fakes.kubernetes.errors import Json, Resource, bad_request, invalid, invalid_value
from tests.fakes.kubernetes.kinds import PODS
from tests.fakes.kubernetes.rbac import WATCH_VALUES
from tests.fakes.kubernetes.store import Store

LOG_OPTIONS = Resource("", "v1", "", "PodLogOptions")
FALSE_VALUES = ("0", "f", "F", "false", "FALSE", "False")  # the rest of Go's strconv.ParseBool


def _flag(query: dict[str, str], key: str) -> bool:
    value = query.get(key)
    if value is None or value == "":
        return False
    if value in WATCH_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise bad_request(f'strconv.ParseBool: parsing "{value}": invalid syntax')


def _number(query: dict[str, str], key: str) -> int | None:
    value = query.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise bad_request(f'strconv.ParseInt: parsing "{value}": invalid syntax') from exc


def _waiting(pod: Json, container: str) -> str | None:
    """Why the container has not started yet, if it never ran."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    found = next((s for s in statuses if s.get("name") == container), None)
    if found is None:
        return "ContainerCreating"
    waiting = (found.get("state") or {}).get("waiting")
    if waiting and not found.get("restartCount"):
        return str(waiting.get("reason") or "ContainerCreating")
    return None


def pod_log(store: Store, namespace: str, name: str, query: dict[str, str]) -> bytes:
    """The body of a log request; the caller holds ``store.lock``."""
    pod = store.get(PODS, namespace, name)
    if _flag(query, "follow"):
        raise bad_request("follow is not implemented by this fake API server")
    previous = _flag(query, "previous")
    tail, limit = _number(query, "tailLines"), _number(query, "limitBytes")
    causes = []
    if tail is not None and tail < 0:
        causes.append(invalid_value("tailLines", tail, "must be greater than or equal to 0"))
    if limit is not None and limit < 1:
        causes.append(invalid_value("limitBytes", limit, "must be greater than 0"))
    if causes:
        raise invalid(LOG_OPTIONS, name, causes)
    spec = pod.get("spec") or {}
    names = [str(c["name"]) for c in spec.get("containers") or []]
    names += [str(c["name"]) for c in spec.get("initContainers") or []]
    container = query.get("container") or ""
    if not container:
        if len(spec.get("containers") or []) != 1:
            raise bad_request(
                f"a container name must be specified for pod {name}, choose one of: "
                f"[{' '.join(names)}]"
            )
        container = names[0]
    elif container not in names:
        raise bad_request(f"container {container} is not valid for pod {name}")
    text = store.logs.get((namespace, name, container, previous))
    if text is None:
        if previous:
            raise bad_request(
                f'previous terminated container "{container}" in pod "{name}" not found'
            )
        if reason := _waiting(pod, container):
            raise bad_request(
                f'container "{container}" in pod "{name}" is waiting to start: {reason}'
            )
        text = ""
    lines = text.splitlines(keepends=True)
    if tail is not None:
        lines = lines[len(lines) - tail :] if tail else []
    data = "".join(lines).encode()
    return data[:limit] if limit is not None else data
