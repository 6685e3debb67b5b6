"""``opsbot demo``: the quick start's example events, sent to a running opsbot with fresh times.

The files in ``examples/`` are real payloads with fixed times and a fixed fingerprint. Posted
as they are, the second try is a duplicate (nothing happens) and "what changed in the last day"
finds nothing once that day has passed. The demo sends the same content as it would arrive now:

1. the deploy event (a model version shipped) six minutes before the alert, when
   ``OPSBOT_API_TOKEN`` is set (the deploy API needs it; without it there is no likely cause);
2. the firing alert, started a minute ago, with a fingerprint of its own and a ``demo`` label
   that Alertmanager would group on, so each run opens an incident of its own even while an
   earlier demo's is still open (an alert of an open group only joins that incident).

``opsbot demo --resolve`` resolves the demo's open incidents the way Alertmanager would: the
same group and alerts (read back through the read API), ``status: resolved``.
"""

from __future__ import annotations

import copy
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bot.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ALERT_BEFORE = timedelta(minutes=1)  # the alert started a minute ago
DEPLOY_BEFORE = timedelta(minutes=6)  # the deploy, six minutes before the alert
DEMO_LABEL = "demo"  # one value per run: Alertmanager would group each run on its own


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _example(name: str) -> dict[str, Any]:
    path = EXAMPLES / name
    if not path.is_file():
        raise ConfigError(f"the demo needs {path}, which is not there (a source checkout has it)")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def deploy_event(now: datetime) -> dict[str, Any]:
    event = _example("deploy-event.json")
    event["timestamp"] = _iso(now - ALERT_BEFORE - DEPLOY_BEFORE)
    return event


def _group_key(group_labels: dict[str, str]) -> str:
    """Alertmanager's group key for a route without matchers: ``{}:{a="1", b="2"}``."""
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(group_labels.items()))
    return "{}:{" + inner + "}"


def firing_alert(now: datetime, run: str | None = None) -> dict[str, Any]:
    run = run or secrets.token_hex(4)
    payload = _example("alertmanager-firing.json")
    for alert in payload["alerts"]:
        alert["labels"][DEMO_LABEL] = run
        alert["startsAt"] = _iso(now - ALERT_BEFORE)
        alert["fingerprint"] = secrets.token_hex(8)
    payload["commonLabels"][DEMO_LABEL] = run
    payload["groupLabels"][DEMO_LABEL] = run
    payload["groupKey"] = _group_key(payload["groupLabels"])
    return payload


def is_demo(incident: dict[str, Any]) -> bool:
    return f'{DEMO_LABEL}="' in (incident.get("group_key") or "")


def resolved_alerts(now: datetime, incident: dict[str, Any]) -> dict[str, Any]:
    """Alertmanager's resolved delivery for an incident's alerts (as the read API shows it)."""
    payload = _example("alertmanager-resolved.json")
    [template] = payload["alerts"]
    payload["alerts"] = []
    for alert in incident["alerts"]:
        one = copy.deepcopy(template)
        one["labels"] = alert["labels"]
        one["fingerprint"] = alert["fingerprint"]
        one["startsAt"] = alert["starts_at"]
        one["endsAt"] = _iso(now)
        payload["alerts"].append(one)
    run = incident["alerts"][0]["labels"][DEMO_LABEL]
    payload["commonLabels"][DEMO_LABEL] = run
    payload["groupLabels"][DEMO_LABEL] = run
    payload["groupKey"] = incident["group_key"]
    return payload


@dataclass
class Demo:
    url: str
    alertmanager_token: str | None
    api_token: str | None
    timeout_s: float = 10.0

    def run(self) -> list[str]:
        """Send the deploy event and a fresh alert; the lines to print."""
        now = datetime.now(UTC)
        said: list[str] = []
        if self.api_token:
            event = deploy_event(now)
            self._post("/api/v1/deployments", event, self.api_token)
            said.append(
                f"deploy event stored: {event['kind']} {event['version']} on {event['service']}, "
                "6 min before the alert"
            )
        else:
            said.append(
                "deploy event skipped: set OPSBOT_API_TOKEN (the same on the server) to see "
                "the likely cause"
            )
        answer = self._post(
            "/webhooks/alertmanager", firing_alert(now), self._token("OPSBOT_ALERTMANAGER_TOKEN")
        )
        opened = answer.get("incidents", {}).get("opened", [])
        if opened:
            said.append(f"alert stored: incident #{opened[0]} opened")
        else:
            said.append(f"alert stored, but no incident opened: {json.dumps(answer)}")
        return said

    def resolve(self) -> list[str]:
        """Resolve every open incident of the demo's alert group."""
        token = self._token("OPSBOT_API_TOKEN")
        listing = self._get("/api/v1/incidents?status=open&limit=200", token)
        ours = sorted(i["id"] for i in listing.get("incidents", []) if is_demo(i))
        if not ours:
            return ["no open demo incident"]
        said = []
        for incident_id in ours:
            detail = self._get(f"/api/v1/incidents/{incident_id}", token)
            payload = resolved_alerts(datetime.now(UTC), detail)
            self._post("/webhooks/alertmanager", payload, self._token("OPSBOT_ALERTMANAGER_TOKEN"))
            said.append(f"incident #{incident_id} resolved")
        return said

    # -- HTTP --------------------------------------------------------------------------------

    def _token(self, name: str) -> str:
        value = self.alertmanager_token if name == "OPSBOT_ALERTMANAGER_TOKEN" else self.api_token
        if not value:
            raise ConfigError(f"set {name} to the value the running opsbot has")
        return value

    def _post(self, path: str, body: dict[str, Any], token: str) -> dict[str, Any]:
        return self._call("POST", path, token, body)

    def _get(self, path: str, token: str) -> dict[str, Any]:
        return self._call("GET", path, token, None)

    def _call(
        self, method: str, path: str, token: str, body: dict[str, Any] | None
    ) -> dict[str, Any]:
        try:
            response = httpx.request(
                method,
                self.url.rstrip("/") + path,
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise ConfigError(
                f"no opsbot answers at {self.url} ({type(exc).__name__}): start it with "
                "`opsbot serve`, or pass --url"
            ) from exc
        if response.status_code == 401:
            raise ConfigError(f"{path}: opsbot refused the token (401); use the server's value")
        if response.status_code >= 300:
            raise ConfigError(f"{path}: HTTP {response.status_code}: {response.text[:300]}")
        answer: dict[str, Any] = response.json()
        return answer
