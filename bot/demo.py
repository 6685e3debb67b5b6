"""``opsbot demo``: the quick start's example events, sent to a running opsbot with fresh times.

The files in ``examples/`` are real payloads with fixed times and a fixed fingerprint. Posted
as they are, the second try is a duplicate (nothing happens) and "what changed in the last day"
finds nothing once that day has passed. The demo sends the same content as it would arrive now:

1. the deploy event (a model version shipped), six minutes ago, when ``OPSBOT_API_TOKEN`` is
   set (the deploy API needs it; without it the thread has no "likely cause");
2. the firing alert, started a minute ago, with a fingerprint of its own.

``opsbot demo --resolve`` resolves the demo's open incident the way Alertmanager would: the
same alerts (fingerprints read back through the read API), ``status: resolved``.
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
DEPLOY_BEFORE = timedelta(minutes=6)
ALERT_BEFORE = timedelta(minutes=1)


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
    event["timestamp"] = _iso(now - DEPLOY_BEFORE)
    return event


def firing_alert(now: datetime, fingerprint: str | None = None) -> dict[str, Any]:
    payload = _example("alertmanager-firing.json")
    for alert in payload["alerts"]:
        alert["startsAt"] = _iso(now - ALERT_BEFORE)
        alert["fingerprint"] = fingerprint or secrets.token_hex(8)
    return payload


def resolved_alerts(now: datetime, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """Alertmanager's resolved delivery for ``alerts`` (as the read API shows them)."""
    payload = _example("alertmanager-resolved.json")
    [template] = payload["alerts"]
    payload["alerts"] = []
    for alert in alerts:
        one = copy.deepcopy(template)
        one["fingerprint"] = alert["fingerprint"]
        one["startsAt"] = alert["starts_at"]
        one["endsAt"] = _iso(now)
        payload["alerts"].append(one)
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
                "6 min ago"
            )
        else:
            said.append(
                "deploy event skipped: set OPSBOT_API_TOKEN (the same on the server) to see "
                "the likely cause"
            )
        answer = self._post(
            "/webhooks/alertmanager", firing_alert(now), self._token("OPSBOT_ALERTMANAGER_TOKEN")
        )
        incidents = answer.get("incidents", {})
        opened, touched = incidents.get("opened", []), incidents.get("touched", [])
        if opened:
            said.append(f"alert stored: incident #{opened[0]} opened")
        elif touched:
            said.append(
                f"alert stored: it joined incident #{touched[0]}, still open from an earlier "
                "demo (`opsbot demo --resolve` ends it)"
            )
        else:
            said.append(f"alert stored, no incident changed: {json.dumps(answer)}")
        return said

    def resolve(self) -> list[str]:
        """Resolve every open incident of the demo's alert group."""
        token = self._token("OPSBOT_API_TOKEN")
        group = _example("alertmanager-firing.json")["groupKey"]
        listing = self._get("/api/v1/incidents?status=open&limit=200", token)
        ours = [i for i in listing.get("incidents", []) if i.get("group_key") == group]
        if not ours:
            return ["no open demo incident"]
        said = []
        for incident in ours:
            detail = self._get(f"/api/v1/incidents/{incident['id']}", token)
            payload = resolved_alerts(datetime.now(UTC), detail["alerts"])
            self._post("/webhooks/alertmanager", payload, self._token("OPSBOT_ALERTMANAGER_TOKEN"))
            said.append(f"incident #{incident['id']} resolved")
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
