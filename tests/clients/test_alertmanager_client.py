"""``AlertmanagerClient`` against the real Alertmanager 0.25 (Debian) on loopback: silences made,
read, listed by matchers and expired; alerts read with their silenced state; Alertmanager's own
words on a refusal."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.clients.alertmanager import AlertmanagerClient, Matcher, filter_matchers
from bot.errors import ExternalServiceError
from tests.support.alertmanager import SilencingStack
from tests.support.server import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SilencingStack]:
    with SilencingStack(tmp_path_factory.mktemp("alertmanager")) as running:
        yield running


@pytest.fixture
def client(stack: SilencingStack) -> Iterator[AlertmanagerClient]:
    with AlertmanagerClient(stack.url, timeout_s=5) as adapter:
        yield adapter


def labels() -> dict[str, str]:
    return {"alertname": "ClientTest", "service": f"svc-{uuid.uuid4().hex[:8]}"}


def test_a_silence_is_made_read_and_listed_as_alertmanager_keeps_it(
    client: AlertmanagerClient,
) -> None:
    matching = labels()
    now = datetime.now(UTC)
    ends = (now + timedelta(hours=4)).replace(microsecond=0)
    silence_id = client.create_silence(
        matching, starts_at=now, ends_at=ends, created_by="opsbot (U0ALICE)", comment="why"
    )

    silence = client.get_silence(silence_id)
    assert silence.state == "active"
    assert silence.matchers == tuple(Matcher(k, v) for k, v in matching.items())
    assert silence.equality_matchers() == matching
    assert silence.ends_at == ends
    assert (silence.created_by, silence.comment) == ("opsbot (U0ALICE)", "why")
    assert [s.id for s in client.list_silences(matching)] == [silence_id]
    assert [s.id for s in client.list_silences({"service": matching["service"]})] == [silence_id]
    assert client.list_silences({**matching, "service": "another"}) == []
    assert silence_id in {s.id for s in client.list_silences()}


def test_a_value_with_quotes_and_backslashes_is_matched_as_written(
    client: AlertmanagerClient,
) -> None:
    odd = {"alertname": "ClientTest", "service": f'a "quoted" \\ value, x=y }} {uuid.uuid4()}'}
    assert filter_matchers({"a": 'b"c'}) == ['a="b\\"c"']
    now = datetime.now(UTC)
    silence_id = client.create_silence(
        odd, starts_at=now, ends_at=now + timedelta(hours=1), created_by="t", comment="c"
    )
    assert [s.id for s in client.list_silences(odd)] == [silence_id]
    assert client.get_silence(silence_id).equality_matchers() == odd


def test_alerts_say_which_silence_suppresses_them(
    stack: SilencingStack, client: AlertmanagerClient
) -> None:
    silenced, control = labels(), labels()
    now = datetime.now(UTC)
    silence_id = client.create_silence(
        silenced, starts_at=now, ends_at=now + timedelta(hours=1), created_by="t", comment="c"
    )
    stack.fire(silenced, control)

    [alert] = client.alerts(silenced)
    assert alert.labels == silenced
    assert (alert.state, alert.silenced_by) == ("suppressed", (silence_id,))
    [other] = client.alerts(control)
    assert (other.state, other.silenced_by) == ("active", ())
    assert {a.fingerprint for a in client.alerts({"alertname": "ClientTest"})} >= {
        alert.fingerprint,
        other.fingerprint,
    }


def test_expiring_ends_a_silence_and_may_be_repeated(client: AlertmanagerClient) -> None:
    now = datetime.now(UTC)
    silence_id = client.create_silence(
        labels(), starts_at=now, ends_at=now + timedelta(hours=1), created_by="t", comment="c"
    )
    client.expire_silence(silence_id)
    expired = client.get_silence(silence_id)
    assert expired.state == "expired"
    assert expired.ends_at <= datetime.now(UTC)
    client.expire_silence(silence_id)  # Alertmanager accepts it again: nothing changes
    assert client.get_silence(silence_id).state == "expired"


def test_an_unknown_silence_is_a_404_on_every_call(client: AlertmanagerClient) -> None:
    unknown = str(uuid.uuid4())
    for call in (client.get_silence, client.expire_silence):
        with pytest.raises(ExternalServiceError) as raised:
            call(unknown)
        assert (raised.value.system, raised.value.status) == ("alertmanager", 404)
    with pytest.raises(ValueError, match="not an Alertmanager silence id"):
        client.get_silence("../status")


def test_a_refusal_carries_alertmanagers_message(client: AlertmanagerClient) -> None:
    now = datetime.now(UTC)
    with pytest.raises(ExternalServiceError) as raised:
        client.create_silence(
            labels(), starts_at=now, ends_at=now - timedelta(hours=1), created_by="t", comment="c"
        )
    assert raised.value.operation == "create_silence"
    assert raised.value.status == 400
    assert "end time" in raised.value.detail  # Alertmanager's words, unquoted
    assert not raised.value.detail.startswith('"')
    with pytest.raises(ExternalServiceError) as bad_name:
        client.create_silence(
            {"0bad": "x"},
            starts_at=now,
            ends_at=now + timedelta(hours=1),
            created_by="t",
            comment="c",
        )
    assert 'invalid label name "0bad"' in bad_name.value.detail


def test_no_answer_is_an_error_without_status() -> None:
    with (
        AlertmanagerClient(f"http://127.0.0.1:{free_port()}", timeout_s=2) as nobody,
        pytest.raises(ExternalServiceError) as raised,
    ):
        nobody.list_silences()
    assert raised.value.status is None
    assert "ConnectError" in raised.value.detail


def test_the_api_prefix_may_be_given_or_not(stack: SilencingStack) -> None:
    for url in (stack.url, f"{stack.url}/", f"{stack.url}/api/v2"):
        with AlertmanagerClient(url) as adapter:
            assert adapter.base_url == stack.url
            assert isinstance(adapter.list_silences(), list)
