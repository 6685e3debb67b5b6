"""What a silence made from an incident's thread matches: the labels of its Alertmanager group.

opsbot stores an Alertmanager incident's ``groupKey`` and its alerts' common labels
(``Incident.labels``), not the group labels themselves. They are read back from the end of the
groupKey, which Alertmanager writes as ``<route key>:<group labels>``, the labels as Go prints a
label set: ``{}:{alertname="FraudScorerDown", service="fraud-scorer"}`` (sorted, each value
quoted as Go's ``%q`` quotes it). They are used only when the common labels agree (every alert
of the group carries its group labels, so each is a common label with the same value).

Otherwise the common labels are the matchers, and ``Matchers.source`` says so: a key that does
not end in a label set (a payload made by hand), a set that is empty (``group_by: []``), or one
that disagrees. The common labels match at least the group's current alerts, and maybe not a
new alert of the group that differs in one of them; the plan shows the matchers either way.

An incident from PagerDuty or declared by hand has no Alertmanager group: ``NoGroupLabels``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from bot.store.models import Incident

ALERTMANAGER = "alertmanager"  # Incident.source of the incidents the Alertmanager flow opens
GROUP = "group"
COMMON = "common"

_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
_PAIR = re.compile(rf'({_NAME})="((?:[^"\\]|\\.)*)"')


class NoGroupLabels(ValueError):
    """The incident has no Alertmanager labels to silence (the message says why)."""


@dataclass(frozen=True)
class Matchers:
    labels: dict[str, str]  # label name → value, each an equality matcher
    source: str  # GROUP: the group labels from the groupKey; COMMON: the alerts' common labels

    def describe(self) -> str:
        """``alertname="X", service="y"``: as Alertmanager shows matchers."""
        return describe(self.labels)


def describe(labels: dict[str, str]) -> str:
    return ", ".join(f'{name}="{value}"' for name, value in sorted(labels.items()))


def silence_matchers(incident: Incident) -> Matchers:
    """The equality matchers a silence of ``incident``'s alerts uses (see the module doc)."""
    if incident.source != ALERTMANAGER:
        raise NoGroupLabels(
            f"#{incident.id} came from {incident.source}, not Alertmanager: it has no alert "
            "labels to silence. Silence it in Alertmanager, or in the tool that pages for it."
        )
    common = {k: v for k, v in incident.labels.items() if v}
    group = group_labels(incident.group_key)
    if group and all(common.get(name) == value for name, value in group.items()):
        return Matchers(group, GROUP)
    if not common:
        raise NoGroupLabels(f"#{incident.id} has no alert labels stored: nothing to match on")
    return Matchers(common, COMMON)


def group_labels(group_key: str) -> dict[str, str] | None:
    """The label set a groupKey ends with, or None when it ends with none that parses."""
    start = group_key.find(":{")
    while start != -1:
        labels = _label_set(group_key[start + 1 :])
        if labels is not None:
            return labels
        start = group_key.find(":{", start + 1)
    return None


def _label_set(text: str) -> dict[str, str] | None:
    """``{a="1", b="2"}`` (the whole text) → ``{"a": "1", "b": "2"}``; None if it is not one."""
    if not (text.startswith("{") and text.endswith("}")):
        return None
    body, at = text[1:-1], 0
    labels: dict[str, str] = {}
    while at < len(body):
        if labels:
            if not body.startswith(", ", at):
                return None
            at += 2
        found = _PAIR.match(body, at)
        if found is None:
            return None
        try:
            labels[found.group(1)] = str(json.loads(f'"{found.group(2)}"'))
        except ValueError:  # a Go escape JSON lacks (\x41, \a, \U0001F600): not ours to guess
            return None
        at = found.end()
    return labels
