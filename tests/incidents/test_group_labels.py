"""A silence from an incident's thread matches its Alertmanager group: the labels read back from
the groupKey, else the alerts' common labels; incidents not from Alertmanager have none."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.incidents.group_labels import (
    COMMON,
    GROUP,
    NoGroupLabels,
    group_labels,
    silence_matchers,
)
from bot.store.models import Incident

COMMON_LABELS = {"alertname": "FraudScorerDown", "service": "fraud-scorer", "severity": "critical"}


def incident(group_key: str, labels: dict[str, str] = COMMON_LABELS, **kw: str) -> Incident:
    values = {"source": "alertmanager", **kw}
    return Incident(
        id=7,
        group_key=group_key,
        title="t",
        labels=labels,
        opened_at=datetime(2026, 12, 6, tzinfo=UTC),
        **values,
    )


@pytest.mark.parametrize(
    ("key", "labels"),
    [
        ('{}:{alertname="FraudScorerDown", service="fraud-scorer"}', COMMON_LABELS | {}),
        ('{}/{severity="page"}:{service="a:{b}"}', {"service": "a:{b}"}),
        ('{}:{service="say \\"hi\\" \\\\ \\n"}', {"service": 'say "hi" \\ \n'}),
        ('{}/{x=~"y:{z}"}:{a="1"}', {"a": "1"}),
        ("{}:{}", {}),
    ],
)
def test_the_group_labels_are_read_back_from_the_group_key(
    key: str, labels: dict[str, str]
) -> None:
    found = group_labels(key)
    expected = {k: v for k, v in labels.items() if k != "severity"}
    assert found == expected


@pytest.mark.parametrize(
    "key",
    [
        "pagerduty:Q1ABCDEF",
        '{}:{alertname="X"}abc123',  # a payload made by hand
        '{}:{alertname="\\x41"}',  # a Go escape JSON lacks
        '{}:{alertname="X",service="y"}',  # not Go's ", " separator
        '{}:{0bad="x"}',
    ],
)
def test_a_key_that_does_not_end_in_a_label_set_has_none(key: str) -> None:
    assert group_labels(key) is None


def test_a_silence_matches_the_group_labels_when_the_common_labels_agree() -> None:
    found = silence_matchers(incident('{}:{alertname="FraudScorerDown", service="fraud-scorer"}'))
    assert (found.labels, found.source) == (
        {"alertname": "FraudScorerDown", "service": "fraud-scorer"},
        GROUP,
    )
    assert found.describe() == 'alertname="FraudScorerDown", service="fraud-scorer"'


@pytest.mark.parametrize(
    "key",
    [
        '{}:{alertname="X"}abc123',
        "{}:{}",  # group_by: []
        '{}:{service="another"}',  # disagrees with the common labels
    ],
)
def test_otherwise_it_matches_the_common_labels_and_says_so(key: str) -> None:
    found = silence_matchers(incident(key))
    assert (found.labels, found.source) == (COMMON_LABELS, COMMON)


@pytest.mark.parametrize("source", ["pagerduty", "declared"])
def test_incidents_not_from_alertmanager_have_nothing_to_silence(source: str) -> None:
    with pytest.raises(NoGroupLabels, match=f"#7 came from {source}, not Alertmanager"):
        silence_matchers(incident("pagerduty:Q1", source=source))
    with pytest.raises(NoGroupLabels, match="no alert labels"):
        silence_matchers(incident("{}:{}", labels={}))
