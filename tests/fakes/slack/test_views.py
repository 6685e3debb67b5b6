"""The Slack emulator's views (modals, App Home) and trigger ids, proved through the real
``slack_sdk`` clients.

Each test names the Slack behaviour it proves; each would fail if the emulator lacked it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack.api import TRIGGER_TTL_S, SlackEmulator

CHANNEL = "C0INCIDENT"
ONCALL = "U0ONCALL"
VIEW_KEYS = {
    "id", "team_id", "type", "blocks", "private_metadata", "callback_id", "state", "hash",
    "title", "clear_on_close", "notify_on_close", "close", "submit", "previous_view_id",
    "root_view_id", "app_id", "external_id", "app_installed_team_id", "bot_id",
}  # fmt: skip


def text(value: str) -> dict[str, str]:
    return {"type": "plain_text", "text": value}


def option(label: str, value: str) -> dict[str, Any]:
    return {"text": text(label), "value": value}


SEVERITIES = [option(f"SEV{n}", str(n)) for n in range(1, 5)]


def modal(**fields: Any) -> dict[str, Any]:
    """The declare-incident modal: every element kind the bot uses, valid as it stands."""
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": "declare_incident",
        "title": text("Declare an incident"),
        "submit": text("Declare"),
        "close": text("Cancel"),
        "private_metadata": json.dumps({"channel": CHANNEL}),
        "blocks": [
            {
                "type": "input",
                "block_id": "title",
                "label": text("Title"),
                "element": {"type": "plain_text_input", "action_id": "value", "max_length": 150},
            },
            {
                "type": "input",
                "block_id": "severity",
                "label": text("Severity"),
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "options": SEVERITIES,
                    "initial_option": SEVERITIES[2],
                },
            },
            {
                "type": "input",
                "block_id": "summary",
                "optional": True,
                "label": text("What is happening"),
                "hint": text("Markdown is fine"),
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
            },
            {
                "type": "input",
                "block_id": "lead",
                "optional": True,
                "label": text("Incident lead"),
                "element": {"type": "users_select", "action_id": "value"},
            },
            {
                "type": "input",
                "block_id": "notify",
                "optional": True,
                "label": text("Notify"),
                "element": {
                    "type": "checkboxes",
                    "action_id": "value",
                    "options": [option("Stakeholders", "stakeholders"), option("Page", "page")],
                },
            },
        ],
    }
    view.update(fields)
    return view


def home_view(line: str = "No open incidents") -> dict[str, Any]:
    return {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": line}}],
    }


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=(CHANNEL,)) as emulator:
        yield emulator
        assert emulator.emulator_errors() == []


@pytest.fixture
def web(slack: SlackEmulator) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=5)


def refused(call: Callable[[], Any]) -> dict[str, Any]:
    """Slack's answer to a call it refuses (HTTP 200, ``ok: false``)."""
    with pytest.raises(SlackApiError) as exc:
        call()
    assert exc.value.response.status_code == 200
    return dict(exc.value.response.data)


def messages(answer: dict[str, Any]) -> str:
    return " ".join(answer.get("response_metadata", {}).get("messages", []))


def opened(slack: SlackEmulator, web: WebClient, view: dict[str, Any] | None = None) -> str:
    answer = web.views_open(trigger_id=slack.new_trigger_id(ONCALL), view=view or modal())
    return str(answer["view"]["id"])


# -- views.open and trigger ids -----------------------------------------------------------------


def test_open_answers_the_view_in_slacks_shape(slack: SlackEmulator, web: WebClient) -> None:
    trigger = slack.new_trigger_id(ONCALL)
    answer = web.views_open(trigger_id=trigger, view=modal())

    view = answer["view"]
    assert set(view) == VIEW_KEYS
    assert view["id"].startswith("V")
    assert view["root_view_id"] == view["id"]
    assert (view["type"], view["team_id"], view["app_id"], view["bot_id"]) == (
        "modal",
        "T0TEST",
        "A0TEST",
        "B0BOT",
    )
    assert view["callback_id"] == "declare_incident"
    assert json.loads(view["private_metadata"]) == {"channel": CHANNEL}
    assert view["state"] == {"values": {}}
    assert view["title"] == text("Declare an incident")
    assert view["submit"] == text("Declare")
    assert view["external_id"] == ""
    assert view["previous_view_id"] is None
    assert view["hash"]
    assert view["blocks"] == modal()["blocks"]

    (record,) = slack.modals()
    assert (record["id"], record["user"], record["trigger_id"]) == (view["id"], ONCALL, trigger)
    assert record["view"] == view
    assert record["closed"] is False
    assert slack.view(view["id"]) == view


def test_open_takes_the_view_as_a_json_string_in_a_form_body(
    slack: SlackEmulator, web: WebClient
) -> None:
    data = {"trigger_id": slack.new_trigger_id(ONCALL), "view": json.dumps(modal())}
    answer = web.api_call("views.open", data=data)
    assert answer["view"]["callback_id"] == "declare_incident"


async def test_open_through_the_async_client(slack: SlackEmulator) -> None:
    web = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, timeout=5)
    answer = await web.views_open(trigger_id=slack.new_trigger_id(ONCALL), view=modal())
    assert [m["id"] for m in slack.modals(ONCALL)] == [answer["view"]["id"]]


def test_generated_block_and_action_ids_where_the_app_gave_none(
    slack: SlackEmulator, web: WebClient
) -> None:
    """Slack fills in a block_id and an action_id; a view_submission is keyed by them."""
    bare = {"type": "input", "label": text("Why"), "element": {"type": "plain_text_input"}}
    view_id = opened(slack, web, modal(blocks=[bare, bare]))
    blocks = slack.view(view_id)["blocks"]
    ids = [(b["block_id"], b["element"]["action_id"]) for b in blocks]
    assert all(block_id and action_id for block_id, action_id in ids)
    assert ids[0][0] != ids[1][0]
    payload = slack.submission_payload(view_id, ONCALL, {ids[0][0]: "a", ids[1][0]: "b"})
    assert payload["view"]["state"]["values"][ids[1][0]][ids[1][1]]["value"] == "b"


def test_a_trigger_opens_one_modal(slack: SlackEmulator, web: WebClient) -> None:
    trigger = slack.new_trigger_id(ONCALL)
    web.views_open(trigger_id=trigger, view=modal())
    answer = refused(lambda: web.views_open(trigger_id=trigger, view=modal()))
    assert answer["error"] == "exchanged_trigger_id"
    assert len(slack.modals()) == 1


def test_a_trigger_expires_after_three_seconds(slack: SlackEmulator, web: WebClient) -> None:
    late = slack.new_trigger_id(ONCALL, issued_ago=TRIGGER_TTL_S + 0.5)
    answer = refused(lambda: web.views_open(trigger_id=late, view=modal()))
    assert answer["error"] == "expired_trigger_id"
    in_time = slack.new_trigger_id(ONCALL, issued_ago=TRIGGER_TTL_S - 0.5)
    web.views_open(trigger_id=in_time, view=modal())
    assert len(slack.modals()) == 1


def test_a_trigger_slack_never_issued_is_invalid(slack: SlackEmulator, web: WebClient) -> None:
    """``1.2.3``: the fixed trigger of the older request builders is not one Slack issued."""
    answer = refused(lambda: web.views_open(trigger_id="1.2.3", view=modal()))
    assert answer["error"] == "invalid_trigger_id"
    answer = refused(lambda: web.api_call("views.open", json={"view": modal()}))
    assert answer["error"] == "invalid_arguments"
    assert "trigger_id" in messages(answer)
    assert slack.modals() == []


def test_a_refused_view_leaves_the_trigger_unused(slack: SlackEmulator, web: WebClient) -> None:
    trigger = slack.new_trigger_id(ONCALL)
    refused(lambda: web.views_open(trigger_id=trigger, view=modal(title=text("t" * 25))))
    web.views_open(trigger_id=trigger, view=modal())
    assert len(slack.modals()) == 1


# -- what Slack refuses in a view ---------------------------------------------------------------


def _blocks(change: Callable[[list[dict[str, Any]]], None]) -> list[dict[str, Any]]:
    blocks = json.loads(json.dumps(modal()["blocks"]))
    change(blocks)
    return blocks


def _set(path: str, value: Any) -> Callable[[list[dict[str, Any]]], None]:
    """Set ``blocks[i]...`` at a slash path, e.g. ``1/element/options``."""

    def change(blocks: list[dict[str, Any]]) -> None:
        *parents, last = path.split("/")
        target: Any = blocks
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[last] = value

    return change


SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "s"}}
BAD_VIEWS = {
    "title-25": (modal(title=text("t" * 25)), "/view/title/text"),
    "title-mrkdwn": (modal(title={"type": "mrkdwn", "text": "t"}), "/view/title/type"),
    "no-title": ({k: v for k, v in modal().items() if k != "title"}, "field: title"),
    "submit-25": (modal(submit=text("s" * 25)), "/view/submit/text"),
    "close-25": (modal(close=text("c" * 25)), "/view/close/text"),
    "private-metadata-3001": (modal(private_metadata="m" * 3001), "/view/private_metadata"),
    "callback-id-256": (modal(callback_id="c" * 256), "/view/callback_id"),
    "external-id-256": (modal(external_id="e" * 256), "/view/external_id"),
    "101-blocks": (modal(blocks=[SECTION] * 101), "no more than 100 items"),
    "unknown-field": (modal(submit_disabled=True), "additional property: submit_disabled"),
    "input-without-submit": (modal(submit=None), "must define `submit` to use `input` block"),
    "duplicate-block-id": (
        modal(blocks=_blocks(_set("1/block_id", "title"))),
        "duplicate block_id [json-pointer:/view/blocks/1/block_id]",
    ),
    "block-id-256": (modal(blocks=_blocks(_set("0/block_id", "b" * 256))), "/view/blocks/0"),
    "101-options": (
        modal(blocks=_blocks(_set("1/element/options", [option("o", str(n)) for n in range(101)]))),
        "/view/blocks/1/element/options",
    ),
    "initial-option-not-an-option": (
        modal(blocks=_blocks(_set("1/element/initial_option", option("SEV9", "9")))),
        "/view/blocks/1/element/initial_option",
    ),
    "option-text-76": (
        modal(blocks=_blocks(_set("1/element/options/0/text/text", "o" * 76))),
        "/view/blocks/1/element/options/0/text/text",
    ),
    "option-value-151": (
        modal(blocks=_blocks(_set("1/element/options/0/value", "v" * 151))),
        "/view/blocks/1/element/options/0/value",
    ),
    "select-without-options": (
        modal(blocks=_blocks(_set("1/element/options", []))),
        "/view/blocks/1/element/options",
    ),
    "label-2001": (modal(blocks=_blocks(_set("0/label/text", "l" * 2001))), "/0/label/text"),
    "hint-2001": (modal(blocks=_blocks(_set("2/hint/text", "h" * 2001))), "/2/hint/text"),
    "label-mrkdwn": (modal(blocks=_blocks(_set("0/label/type", "mrkdwn"))), "/0/label/type"),
    "no-element": (modal(blocks=_blocks(_set("0/element", None))), "field: element"),
    "action-id-256": (
        modal(blocks=_blocks(_set("0/element/action_id", "a" * 256))),
        "/view/blocks/0/element/action_id",
    ),
    "max-length-3001": (
        modal(blocks=_blocks(_set("0/element/max_length", 3001))),
        "/view/blocks/0/element/max_length",
    ),
    "checkboxes-11": (
        modal(blocks=_blocks(_set("4/element/options", [option("c", str(n)) for n in range(11)]))),
        "/view/blocks/4/element/options",
    ),
    "initial-checkbox-not-an-option": (
        modal(blocks=_blocks(_set("4/element/initial_options", [option("x", "x")]))),
        "/view/blocks/4/element/initial_options/0",
    ),
    "text-input-in-actions": (
        modal(blocks=[{"type": "actions", "elements": [{"type": "plain_text_input"}]}]),
        "unsupported type: plain_text_input",
    ),
    "duplicate-action-id-in-a-block": (
        modal(
            blocks=[
                {
                    "type": "actions",
                    "elements": [
                        {"type": "button", "text": text("a"), "action_id": "go"},
                        {"type": "button", "text": text("b"), "action_id": "go"},
                    ],
                }
            ]
        ),
        "duplicate action_id [json-pointer:/view/blocks/0/elements/1/action_id]",
    ),
    "section-checks-from-messages": (
        modal(blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]),
        "/view/blocks/0/text/text",
    ),
    "type": (modal(type="dialog"), "/view/type"),
}


@pytest.mark.parametrize(("view", "pointer"), BAD_VIEWS.values(), ids=BAD_VIEWS.keys())
def test_views_slack_refuses_are_invalid_arguments(
    slack: SlackEmulator, web: WebClient, view: dict[str, Any], pointer: str
) -> None:
    trigger = slack.new_trigger_id(ONCALL)
    answer = refused(lambda: web.views_open(trigger_id=trigger, view=view))
    assert answer["error"] == "invalid_arguments"
    found = answer["response_metadata"]["messages"]
    assert found[0] == "[ERROR] failed to match all allowed schemas [json-pointer:/view]"
    assert pointer in " ".join(found), found
    assert slack.modals() == []


def test_view_limits_are_inclusive(slack: SlackEmulator, web: WebClient) -> None:
    """Exactly at each limit is fine: the refusals above are not refusing everything."""
    at_limit = modal(
        title=text("t" * 24),
        submit=text("s" * 24),
        close=text("c" * 24),
        private_metadata="m" * 3000,
        callback_id="c" * 255,
        external_id="e" * 255,
        blocks=_blocks(
            _set("1/element/options", [option("o" * 75, f"{n:0150d}") for n in range(100)])
        )
        + [SECTION] * 95,
    )
    at_limit["blocks"][1]["element"]["initial_option"] = option("o" * 75, f"{7:0150d}")
    at_limit["blocks"][0]["label"] = text("l" * 2000)
    at_limit["blocks"][0]["element"]["max_length"] = 3000
    at_limit["blocks"][4]["element"]["options"] = [option("c", str(n)) for n in range(10)]
    opened(slack, web, at_limit)
    assert len(slack.view(slack.modals()[0]["id"])["blocks"]) == 100


def test_a_modal_without_inputs_needs_no_submit(slack: SlackEmulator, web: WebClient) -> None:
    opened(slack, web, modal(submit=None, blocks=[SECTION]))
    assert slack.modals()[0]["view"]["submit"] is None


def test_view_too_large(slack: SlackEmulator, web: WebClient) -> None:
    big = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2900}}] * 95
    answer = refused(
        lambda: web.views_open(trigger_id=slack.new_trigger_id(ONCALL), view=modal(blocks=big))
    )
    assert answer["error"] == "view_too_large"


def test_home_through_views_open_and_modal_through_publish_are_refused(
    slack: SlackEmulator, web: WebClient
) -> None:
    trigger = slack.new_trigger_id(ONCALL)
    answer = refused(lambda: web.views_open(trigger_id=trigger, view=home_view()))
    assert answer["error"] == "invalid_arguments"
    assert "/view/type" in messages(answer)
    answer = refused(lambda: web.views_publish(user_id=ONCALL, view=modal()))
    assert answer["error"] == "invalid_arguments"
    assert "/view/type" in messages(answer)
    assert slack.modals() == []
    assert slack.homes() == {}


def test_a_home_view_has_no_modal_fields(slack: SlackEmulator, web: WebClient) -> None:
    view = {**home_view(), "submit": text("Go")}
    answer = refused(lambda: web.views_publish(user_id=ONCALL, view=view))
    assert "invalid additional property: submit" in messages(answer)


def test_external_id_is_unique_among_open_views(slack: SlackEmulator, web: WebClient) -> None:
    first = opened(slack, web, modal(external_id="declare-1"))
    answer = refused(
        lambda: web.views_open(
            trigger_id=slack.new_trigger_id(ONCALL), view=modal(external_id="declare-1")
        )
    )
    assert answer["error"] == "duplicate_external_id"
    slack.close_view(first)
    opened(slack, web, modal(external_id="declare-1"))


# -- views.update -------------------------------------------------------------------------------


def test_update_replaces_the_view_under_its_id_with_a_new_hash(
    slack: SlackEmulator, web: WebClient
) -> None:
    first = web.views_open(trigger_id=slack.new_trigger_id(ONCALL), view=modal())["view"]
    answer = web.views_update(
        view_id=first["id"], hash=first["hash"], view=modal(title=text("Declared"))
    )
    view = answer["view"]
    assert (view["id"], view["root_view_id"]) == (first["id"], first["id"])
    assert view["title"] == text("Declared")
    assert view["hash"] != first["hash"]
    (record,) = slack.modals()
    assert record["view"] == view
    assert record["updates"] == 1


def test_update_with_a_stale_hash_is_hash_conflict(slack: SlackEmulator, web: WebClient) -> None:
    first = web.views_open(trigger_id=slack.new_trigger_id(ONCALL), view=modal())["view"]
    web.views_update(view_id=first["id"], hash=first["hash"], view=modal(callback_id="two"))
    answer = refused(
        lambda: web.views_update(
            view_id=first["id"], hash=first["hash"], view=modal(callback_id="three")
        )
    )
    assert answer["error"] == "hash_conflict"
    assert slack.view(first["id"])["callback_id"] == "two"
    web.views_update(view_id=first["id"], view=modal(callback_id="four"))  # no hash: no check
    assert slack.view(first["id"])["callback_id"] == "four"


def test_update_by_external_id(slack: SlackEmulator, web: WebClient) -> None:
    view_id = opened(slack, web, modal(external_id="declare-7"))
    answer = web.views_update(external_id="declare-7", view=modal(callback_id="again"))
    assert answer["view"]["id"] == view_id
    assert answer["view"]["external_id"] == "declare-7"


def test_update_of_an_unknown_or_closed_view_is_not_found(
    slack: SlackEmulator, web: WebClient
) -> None:
    assert refused(lambda: web.views_update(view_id="V0NOPE", view=modal()))["error"] == (
        "not_found"
    )
    assert refused(lambda: web.views_update(external_id="nope", view=modal()))["error"] == (
        "not_found"
    )
    view_id = opened(slack, web)
    slack.close_view(view_id)
    assert refused(lambda: web.views_update(view_id=view_id, view=modal()))["error"] == (
        "not_found"
    )
    answer = refused(lambda: web.api_call("views.update", json={"view": modal()}))
    assert answer["error"] == "invalid_arguments"


def test_update_validates_the_view_and_keeps_its_type(slack: SlackEmulator, web: WebClient) -> None:
    view_id = opened(slack, web)
    answer = refused(lambda: web.views_update(view_id=view_id, view=modal(submit=None)))
    assert "must define `submit`" in messages(answer)
    answer = refused(lambda: web.views_update(view_id=view_id, view=home_view()))
    assert "/view/type" in messages(answer)
    assert slack.modals()[0]["updates"] == 0


# -- views.publish ------------------------------------------------------------------------------


def test_publish_keeps_one_home_per_user(slack: SlackEmulator, web: WebClient) -> None:
    first = web.views_publish(user_id=ONCALL, view=home_view())["view"]
    assert set(first) == VIEW_KEYS
    assert first["type"] == "home"
    assert first["id"].startswith("V")
    again = web.views_publish(user_id=ONCALL, view=home_view("INC-7 open"), hash=first["hash"])
    assert again["view"]["id"] == first["id"]
    assert again["view"]["hash"] != first["hash"]
    other = web.views_publish(user_id="U0OTHER", view=home_view())["view"]
    assert other["id"] != first["id"]

    home = slack.home(ONCALL)
    assert home is not None
    assert home["blocks"][0]["text"]["text"] == "INC-7 open"
    assert set(slack.homes()) == {ONCALL, "U0OTHER"}
    assert slack.home("U0NOBODY") is None
    assert slack.modals() == []


def test_publish_with_a_stale_hash_is_hash_conflict(slack: SlackEmulator, web: WebClient) -> None:
    first = web.views_publish(user_id=ONCALL, view=home_view("one"))["view"]
    web.views_publish(user_id=ONCALL, view=home_view("two"))
    answer = refused(
        lambda: web.views_publish(user_id=ONCALL, view=home_view("three"), hash=first["hash"])
    )
    assert answer["error"] == "hash_conflict"
    home = slack.home(ONCALL)
    assert home is not None
    assert home["blocks"][0]["text"]["text"] == "two"


def test_publish_needs_a_user_id(slack: SlackEmulator, web: WebClient) -> None:
    for user in ("", "C0INCIDENT", "ada"):
        answer = refused(lambda user=user: web.views_publish(user_id=user, view=home_view()))
        assert answer == {
            "ok": False,
            "error": "invalid_arguments",
            "response_metadata": {"messages": ["invalid `user_id`"]},
        }


def test_views_need_the_bot_token(slack: SlackEmulator) -> None:
    app = WebClient(token=slack.app_token, base_url=slack.api_url, timeout=5)
    answer = refused(lambda: app.views_publish(user_id=ONCALL, view=home_view()))
    assert answer["error"] == "not_allowed_token_type"


# -- view_submission ----------------------------------------------------------------------------


def test_submission_payload_in_slacks_shape(slack: SlackEmulator, web: WebClient) -> None:
    view_id = opened(slack, web)
    payload = slack.submission_payload(
        view_id,
        ONCALL,
        {
            "title": "checkout is down",
            "severity": "1",
            "lead": "U0LEAD",
            "notify": ["stakeholders", "page"],
        },
    )
    assert payload["type"] == "view_submission"
    assert payload["team"] == {"id": "T0TEST", "domain": "opsbot-test"}
    assert payload["user"]["id"] == ONCALL
    assert payload["user"]["team_id"] == "T0TEST"
    assert (payload["api_app_id"], payload["response_urls"]) == ("A0TEST", [])
    assert payload["token"]
    assert payload["trigger_id"]
    view = payload["view"]
    assert view["id"] == view_id
    assert view["callback_id"] == "declare_incident"
    assert json.loads(view["private_metadata"]) == {"channel": CHANNEL}
    assert view["state"]["values"] == {
        "title": {"value": {"type": "plain_text_input", "value": "checkout is down"}},
        "severity": {"value": {"type": "static_select", "selected_option": SEVERITIES[0]}},
        "summary": {"value": {"type": "plain_text_input", "value": None}},
        "lead": {"value": {"type": "users_select", "selected_user": "U0LEAD"}},
        "notify": {
            "value": {
                "type": "checkboxes",
                "selected_options": [
                    option("Stakeholders", "stakeholders"),
                    option("Page", "page"),
                ],
            }
        },
    }


def test_submission_keeps_initial_values(slack: SlackEmulator, web: WebClient) -> None:
    view_id = opened(slack, web)
    values = slack.submission_payload(view_id, ONCALL, {"title": "t"})["view"]["state"]["values"]
    assert values["severity"]["value"]["selected_option"] == SEVERITIES[2]  # initial_option
    assert values["notify"]["value"]["selected_options"] == []


def test_submission_trigger_opens_a_modal(slack: SlackEmulator, web: WebClient) -> None:
    """A view_submission carries a fresh trigger id, good for one more modal."""
    view_id = opened(slack, web)
    payload = slack.submission_payload(view_id, ONCALL, {"title": "t"})
    web.views_open(trigger_id=payload["trigger_id"], view=modal(callback_id="next"))
    assert [m["view"]["callback_id"] for m in slack.modals()] == ["declare_incident", "next"]


@pytest.mark.parametrize(
    ("user", "values", "closed", "wanted"),
    [
        ("U0OTHER", {"title": "t"}, False, "opened for U0ONCALL"),
        (ONCALL, {"severity": "2"}, False, "'title' is required"),
        (ONCALL, {"title": "t", "severity": "9"}, False, "no option with value '9'"),
        (ONCALL, {"title": "t" * 151}, False, "151 characters"),
        (ONCALL, {"title": "t", "notify": ["sms"]}, False, "no options ['sms']"),
        (ONCALL, {"title": "t", "lead": "ada"}, False, "user id"),
        (ONCALL, {"title": "t", "nope": "x"}, False, "no block 'nope'"),
        (ONCALL, {"title": "t"}, True, "not an open modal"),
    ],
    ids=[
        "other-user",
        "required",
        "option",
        "max-length",
        "checkbox",
        "user",
        "block",
        "closed",
    ],
)
def test_submission_slack_would_never_send_is_refused(
    slack: SlackEmulator,
    web: WebClient,
    user: str,
    values: dict[str, Any],
    closed: bool,
    wanted: str,
) -> None:
    view_id = opened(slack, web)
    if closed:
        slack.close_view(view_id)
    with pytest.raises(ValueError, match=wanted.replace("[", r"\[").replace("]", r"\]")):
        slack.submission_payload(view_id, user, values)
