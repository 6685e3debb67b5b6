"""The Slack emulator's views: modals and the App Home tab, and the trigger ids that open modals.

Trigger ids. Slack puts a ``trigger_id`` in each interaction it posts to the app (a slash
command, a shortcut, a block_actions click, a view_submission); the app may exchange it for one
modal, once, within 3 seconds. Tests take one from ``new_trigger_id(user)`` and put it in what
they post to the bot; ``views.open`` answers Slack's errors for the others:
``invalid_trigger_id`` (never issued), ``exchanged_trigger_id`` ("already exchanged in a previous
call"), ``expired_trigger_id`` (older than ``TRIGGER_TTL_S``). The modal opens for the user the
trigger was issued to. A refused call does not use the trigger up.

The methods, with a bot token, ``view`` a JSON object or a JSON string as the SDK sends it:

- ``views.open(trigger_id, view)``: a ``modal`` only.
- ``views.update(view_id | external_id, view, hash?)``: ``not_found`` for an unknown or closed
  view, ``hash_conflict`` when ``hash`` is not the view's current one; the view keeps its id and
  its type, and gets a new ``hash``.
- ``views.publish(user_id, view, hash?)``: a ``home`` only, one per user, kept under one id;
  ``hash_conflict`` as for an update; ``invalid_arguments`` ("invalid `user_id`") for a user id
  that is not ``U…``/``W…``.

Each answers ``{"ok": true, "view": {...}}`` in Slack's shape (``id`` V…, ``team_id``, ``type``,
``blocks`` with a ``block_id`` and ``action_id`` generated where the app gave none,
``private_metadata``, ``callback_id``, ``state: {"values": {}}``, ``hash``, ``title``,
``close``, ``submit``, ``clear_on_close``, ``notify_on_close``, ``previous_view_id``,
``root_view_id``, ``app_id``, ``external_id``, ``app_installed_team_id``, ``bot_id``).

What Slack refuses, refused here. ``view_too_large`` over 250 kB; ``duplicate_external_id`` for an
``external_id`` another open view or home holds; ``invalid_arguments`` with Slack's
``response_metadata.messages`` (``[ERROR] failed to match all allowed schemas
[json-pointer:/view]`` and then one line per fault) for a view that is not one of Slack's view
schemas: ``type`` ``modal`` or ``home`` (and the one the method takes), no field beyond the
schema's, a modal's ``title`` (required), ``submit`` and ``close`` plain_text of at most 24
characters, ``submit`` required when the blocks hold an ``input`` block (``must define `submit` to
use `input` block``), at most 100 ``blocks`` checked as ``blocks.py`` checks a message's (block
ids unique, input blocks, select options, ``initial_option`` among the options, ...),
``private_metadata`` at most 3000 characters, ``callback_id`` and ``external_id`` at most 255.
The messages' wording follows the ones Slack is seen to send where known; the rest are the
emulator's, in the same form.

Not emulated: ``views.push``, ``view_closed``, response_action (the test tells the emulator a
modal closed with ``close_view``), workflow steps.

What tests read back: ``modals()`` (opened with ``views.open``, who for, the current view),
``view(id)``, ``home(user)``, ``homes()``; ``submission_payload(view_id, user, values)`` builds the
``view_submission`` Slack would post when that user submits the modal with those values.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from tests.fakes.slack.args import ApiError, Json, json_arg
from tests.fakes.slack.blocks import check_text, validate_blocks
from tests.fakes.slack.methods import BOT_ID, TEAM_ID, WebApiMethods
from tests.fakes.slack.socket import APP_ID

TRIGGER_TTL_S = 3.0  # Slack: "expires in 3 seconds"
MAX_VIEW_BLOCKS = 100
MAX_VIEW_TITLE = 24  # title, submit, close
MAX_PRIVATE_METADATA = 3000
MAX_CALLBACK_ID = 255
MAX_EXTERNAL_ID = 255
MAX_VIEW_BYTES = 250 * 1024  # view_too_large: "greater than 250kb"
VERIFICATION_TOKEN = "legacy-verification-token-unused"  # tests/support/slack_requests.py's
TEAM_DOMAIN = "opsbot-test"

MODAL_FIELDS = frozenset(
    {
        "type", "title", "blocks", "close", "submit", "private_metadata", "callback_id",
        "clear_on_close", "notify_on_close", "external_id",
    }
)  # fmt: skip
HOME_FIELDS = frozenset({"type", "blocks", "private_metadata", "callback_id", "external_id"})
HOME_TITLE = {"type": "plain_text", "text": "View Title", "emoji": True}  # Slack's default
SCHEMAS = "[ERROR] failed to match all allowed schemas [json-pointer:/view]"
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
STATEFUL = ("plain_text_input", "static_select", "checkboxes", "users_select")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def validate_view(view: Any) -> list[str]:
    """Slack's ``response_metadata.messages`` for this view; empty when it is valid."""
    if not isinstance(view, dict):
        return ["[ERROR] must be an object [json-pointer:/view]"]
    kind = view.get("type")
    if kind not in ("modal", "home"):
        return [SCHEMAS, "[ERROR] must be one of [modal, home] [json-pointer:/view/type]"]
    errors: list[str] = []
    fields = MODAL_FIELDS if kind == "modal" else HOME_FIELDS
    errors += [
        f"[ERROR] invalid additional property: {key} [json-pointer:/view]"
        for key in view
        if key not in fields
    ]
    if kind == "modal":
        if "title" not in view:
            errors.append("[ERROR] missing required field: title [json-pointer:/view]")
        else:
            check_text(view["title"], "/view/title", errors, MAX_VIEW_TITLE, plain_only=True)
        for key in ("submit", "close"):
            if view.get(key) is not None:
                check_text(view[key], f"/view/{key}", errors, MAX_VIEW_TITLE, plain_only=True)
        for flag in ("clear_on_close", "notify_on_close"):
            if flag in view and not isinstance(view[flag], bool):
                errors.append(f"[ERROR] must be a boolean [json-pointer:/view/{flag}]")
    if "blocks" not in view:
        errors.append("[ERROR] missing required field: blocks [json-pointer:/view]")
    else:
        blocks = view["blocks"]
        errors += validate_blocks(blocks, limit=MAX_VIEW_BLOCKS, at="/view/blocks")
        if kind == "modal" and view.get("submit") is None and isinstance(blocks, list):
            errors += [
                f"[ERROR] must define `submit` to use `input` block "
                f"[json-pointer:/view/blocks/{i}/input]"
                for i, block in enumerate(blocks)
                if isinstance(block, dict) and block.get("type") == "input"
            ]
    for key, limit in (
        ("private_metadata", MAX_PRIVATE_METADATA),
        ("callback_id", MAX_CALLBACK_ID),
        ("external_id", MAX_EXTERNAL_ID),
    ):
        value = view.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            errors.append(f"[ERROR] must be a string [json-pointer:/view/{key}]")
        elif len(value) > limit:
            errors.append(
                f"[ERROR] must be less than {limit + 1} characters [json-pointer:/view/{key}]"
            )
    return [SCHEMAS, *errors] if errors else []


def _short_id(seed: str, taken: set[str]) -> str:
    """A Slack-like generated id ("hspI", "maBWU"), stable for a seed, not one in ``taken``."""
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    out = ""
    while len(out) < 4 or out in taken:
        digest, rest = divmod(digest, len(_ALPHABET))
        out += _ALPHABET[rest]
    taken.add(out)
    return out


def _elements(block: Json) -> list[Json]:
    """The interactive elements of a block (input element, actions elements, accessory)."""
    kind = block.get("type")
    if kind == "input":
        found = [block.get("element")]
    elif kind == "actions":
        found = list(block.get("elements") or [])
    elif kind == "section":
        found = [block.get("accessory")]
    else:
        found = []
    return [e for e in found if isinstance(e, dict) and e.get("type") != "image"]


def _with_ids(blocks: list[Json], seed: str) -> list[Json]:
    """The blocks as Slack stores them: a ``block_id`` on each block, an ``action_id`` on each
    interactive element, generated where the app gave none."""
    out = copy.deepcopy(blocks)
    taken = {b["block_id"] for b in out if isinstance(b.get("block_id"), str)}
    for i, block in enumerate(out):
        if not block.get("block_id"):
            block["block_id"] = _short_id(f"{seed}/{i}", taken)
        elements = _elements(block)
        ids = {e["action_id"] for e in elements if isinstance(e.get("action_id"), str)}
        for j, element in enumerate(elements):
            if not element.get("action_id"):
                element["action_id"] = _short_id(f"{seed}/{i}/{j}", ids)
    return out


def _options(element: Json) -> list[Json]:
    found = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        found += group.get("options") or []
    return found


def _empty_state(element: Json) -> Json:
    """An element's state before the user touches it: its initial value, if any."""
    kind = element["type"]
    if kind == "plain_text_input":
        return {"type": kind, "value": element.get("initial_value")}
    if kind == "static_select":
        return {"type": kind, "selected_option": copy.deepcopy(element.get("initial_option"))}
    if kind == "checkboxes":
        return {"type": kind, "selected_options": copy.deepcopy(element.get("initial_options", []))}
    return {"type": kind, "selected_user": element.get("initial_user")}  # users_select


def _chosen_state(element: Json, value: Any, where: str) -> Json:
    """An element's state once the user has entered ``value``, as Slack's client allows it."""
    kind = element["type"]
    if value is None:
        return {**_empty_state(element), **_cleared(kind)}
    if kind == "plain_text_input":
        if not isinstance(value, str):
            raise ValueError(f"{where}: a plain_text_input takes a str, not {value!r}")
        low, high = element.get("min_length", 0), element.get("max_length", 3000)
        if not low <= len(value) <= high:
            raise ValueError(
                f"{where}: {len(value)} characters; Slack's client allows {low}-{high} here"
            )
        return {"type": kind, "value": value or None}
    if kind == "static_select":
        wanted = value.get("value") if isinstance(value, Mapping) else value
        for option in _options(element):
            if option.get("value") == wanted:
                return {"type": kind, "selected_option": copy.deepcopy(option)}
        values = [o.get("value") for o in _options(element)]
        raise ValueError(f"{where}: no option with value {wanted!r} (options: {values})")
    if kind == "checkboxes":
        if isinstance(value, str) or not isinstance(value, list):
            raise ValueError(f"{where}: checkboxes take a list of option values, not {value!r}")
        by_value = {o.get("value"): o for o in _options(element)}
        missing = [v for v in value if v not in by_value]
        if missing:
            raise ValueError(f"{where}: no options {missing} (options: {list(by_value)})")
        return {"type": kind, "selected_options": [copy.deepcopy(by_value[v]) for v in value]}
    if not (isinstance(value, str) and USER_ID.match(value)):  # users_select
        raise ValueError(f"{where}: a users_select takes a user id (U…), not {value!r}")
    return {"type": kind, "selected_user": value}


def _cleared(kind: str) -> Json:
    return {
        "plain_text_input": {"value": None},
        "static_select": {"selected_option": None},
        "checkboxes": {"selected_options": []},
        "users_select": {"selected_user": None},
    }[kind]


def _is_empty(state: Json) -> bool:
    return not (
        state.get("value") or state.get("selected_option") or state.get("selected_options")
    ) and not state.get("selected_user")


def submitted_state(blocks: list[Json], values: Mapping[str, Any]) -> Json:
    """``view.state.values`` as Slack sends it with a view_submission: every stateful element
    (``{block_id: {action_id: {"type": ..., ...}}}``), at its initial value unless ``values``
    (``{block_id: value}``, or ``{block_id: {action_id: value}}`` for a block with several
    elements) sets it. Raises ``ValueError`` for what Slack's client would not submit: an unknown
    block or action, a value the element does not offer, a required input left empty."""
    state: Json = {}
    elements: dict[tuple[str, str], Json] = {}
    for block in blocks:
        for element in _elements(block):
            if element["type"] in STATEFUL:
                block_state = state.setdefault(block["block_id"], {})
                block_state[element["action_id"]] = _empty_state(element)
                elements[(block["block_id"], element["action_id"])] = element
    for block_id, given in values.items():
        if block_id not in state:
            raise ValueError(f"no block {block_id!r} with an input in this view ({list(state)})")
        if isinstance(given, Mapping) and set(given) <= set(state[block_id]) and given:
            pairs = list(given.items())
        elif len(state[block_id]) == 1:
            pairs = [(next(iter(state[block_id])), given)]
        else:
            raise ValueError(
                f"block {block_id!r} holds {list(state[block_id])}: give {{action_id: value}}"
            )
        for action_id, value in pairs:
            element = elements[(block_id, action_id)]
            state[block_id][action_id] = _chosen_state(element, value, f"{block_id}/{action_id}")
    for block in blocks:
        if block.get("type") != "input" or block.get("optional", False):
            continue
        element = block["element"]
        entered = state[block["block_id"]].get(element["action_id"])
        if entered is not None and _is_empty(entered):
            raise ValueError(
                f"input block {block['block_id']!r} is required (not optional): Slack's "
                f"client does not submit the form while it is empty"
            )
    return state


class ViewApiMethods(WebApiMethods):
    """The views half of ``SlackEmulator`` (which sets every attribute declared here)."""

    _lock: Any  # threading.RLock
    _triggers: dict[str, Json]  # trigger id -> {"user", "issued" (monotonic), "exchanged"}
    _trigger_seq: int
    _views: dict[str, Json]  # view id -> {"id", "view", "user", "trigger_id", "closed", ...}
    _homes: dict[str, str]  # user -> the id of their home view
    _view_seq: int

    def _handlers(self) -> dict[str, Callable[[Json], Json]]:
        return {
            **super()._handlers(),
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
        }

    # -- trigger ids ----------------------------------------------------------------------

    def new_trigger_id(self, user_id: str, *, issued_ago: float = 0.0) -> str:
        """A trigger id Slack issued to ``user_id``'s interaction ``issued_ago`` seconds ago
        (more than ``TRIGGER_TTL_S``: already expired), in Slack's ``digits.digits.hex`` form."""
        with self._lock:
            self._trigger_seq += 1
            trigger_id = (
                f"{int(time.time() * 1000)}.{self._trigger_seq:08d}.{secrets.token_hex(16)}"
            )
            self._triggers[trigger_id] = {
                "user": user_id,
                "issued": time.monotonic() - issued_ago,
                "exchanged": False,
            }
            return trigger_id

    def _trigger(self, trigger_id: str) -> Json:
        """The trigger, if ``views.open`` may exchange it now (it is not marked exchanged yet)."""
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise ApiError("invalid_trigger_id")
        if trigger["exchanged"]:
            raise ApiError("exchanged_trigger_id")
        if time.monotonic() - trigger["issued"] > TRIGGER_TTL_S:
            raise ApiError("expired_trigger_id")
        return trigger

    # -- the methods ------------------------------------------------------------------------

    @staticmethod
    def _view_arg(args: Json, kind: str | None) -> Json:
        """The ``view`` argument, valid, and of ``kind`` (``None``: either)."""
        raw = args.get("view")
        if raw in (None, ""):
            raise ApiError("invalid_arguments", ["[ERROR] missing required field: view"])
        view = json_arg(raw, "invalid_arguments")
        size = len(raw.encode()) if isinstance(raw, str) else len(json.dumps(view).encode())
        if size > MAX_VIEW_BYTES:
            raise ApiError("view_too_large")
        errors = validate_view(view)
        if errors:
            raise ApiError("invalid_arguments", errors)
        if kind is not None and view["type"] != kind:
            raise ApiError(
                "invalid_arguments",
                [SCHEMAS, f"[ERROR] must be one of [{kind}] [json-pointer:/view/type]"],
            )
        return view

    def _check_external_id(self, external_id: str, own_id: str | None) -> None:
        if not external_id:
            return
        for rec in self._views.values():
            other = rec["id"] != own_id and not rec["closed"]
            if other and rec["view"]["external_id"] == external_id:
                raise ApiError("duplicate_external_id")

    def _render_view(self, view_id: str, view: Json, external_id: str, version: int) -> Json:
        home = view["type"] == "home"
        return {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": view["type"],
            "blocks": _with_ids(view["blocks"], f"{view_id}/{version}"),
            "private_metadata": view.get("private_metadata") or "",
            "callback_id": view.get("callback_id") or "",
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_urlsafe(6)}",
            "title": copy.deepcopy(HOME_TITLE if home else view["title"]),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": copy.deepcopy(view.get("close")),
            "submit": copy.deepcopy(view.get("submit")),
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": APP_ID,
            "external_id": external_id,
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }

    def _new_view(self, view: Json, user: str, trigger_id: str | None) -> Json:
        self._view_seq += 1
        view_id = f"V0VW{self._view_seq:07d}"
        rec: Json = {
            "id": view_id,
            "view": self._render_view(view_id, view, view.get("external_id") or "", 0),
            "user": user,
            "trigger_id": trigger_id,
            "opened_at": time.monotonic(),
            "closed": False,
            "updates": 0,
        }
        self._views[view_id] = rec
        return rec

    def _replace_view(self, rec: Json, view: Json) -> None:
        external_id = view.get("external_id") or rec["view"]["external_id"]
        rec["updates"] += 1
        root = rec["view"]["root_view_id"]
        rec["view"] = self._render_view(rec["id"], view, external_id, rec["updates"])
        rec["view"]["root_view_id"] = root

    def _views_open(self, args: Json) -> Json:
        trigger_id = args.get("trigger_id") or args.get("interactivity_pointer")
        if not isinstance(trigger_id, str) or not trigger_id:
            raise ApiError("invalid_arguments", ["invalid `trigger_id`"])
        trigger = self._trigger(trigger_id)
        view = self._view_arg(args, "modal")
        self._check_external_id(view.get("external_id") or "", None)
        trigger["exchanged"] = True
        rec = self._new_view(view, trigger["user"], trigger_id)
        return {"ok": True, "view": copy.deepcopy(rec["view"])}

    def _views_update(self, args: Json) -> Json:
        view_id, external_id = args.get("view_id") or None, args.get("external_id") or None
        if view_id is None and external_id is None:
            raise ApiError("invalid_arguments", ["either `view_id` or `external_id` is required"])
        if view_id is not None:
            rec = self._views.get(str(view_id))
        else:
            rec = next(
                (
                    r
                    for r in self._views.values()
                    if not r["closed"] and r["view"]["external_id"] == external_id
                ),
                None,
            )
        if rec is None or rec["closed"]:
            raise ApiError("not_found")
        wanted_hash = args.get("hash")
        if wanted_hash not in (None, "") and wanted_hash != rec["view"]["hash"]:
            raise ApiError("hash_conflict")
        view = self._view_arg(args, rec["view"]["type"])
        self._check_external_id(view.get("external_id") or "", rec["id"])
        self._replace_view(rec, view)
        return {"ok": True, "view": copy.deepcopy(rec["view"])}

    def _views_publish(self, args: Json) -> Json:
        user = args.get("user_id")
        if not isinstance(user, str) or not USER_ID.match(user):
            raise ApiError("invalid_arguments", ["invalid `user_id`"])
        view = self._view_arg(args, "home")
        current = self._views.get(self._homes.get(user, ""))
        wanted_hash = args.get("hash")
        stale = current is not None and wanted_hash != current["view"]["hash"]
        if wanted_hash not in (None, "") and stale:
            raise ApiError("hash_conflict")
        own_id = current["id"] if current is not None else None
        self._check_external_id(view.get("external_id") or "", own_id)
        if current is None:
            current = self._new_view(view, user, None)
            self._homes[user] = current["id"]
        else:
            self._replace_view(current, view)
        return {"ok": True, "view": copy.deepcopy(current["view"])}

    # -- state for tests ------------------------------------------------------------------

    @staticmethod
    def _public_view(rec: Json) -> Json:
        keys = ("id", "user", "trigger_id", "closed", "updates", "opened_at")
        return {**{k: rec[k] for k in keys}, "view": copy.deepcopy(rec["view"])}

    def modals(self, user: str | None = None) -> list[Json]:
        """Modals opened with ``views.open``, oldest first: ``id``, ``user`` (who it opened
        for: the trigger's user), ``trigger_id``, ``view`` (the current view, as Slack answers
        it), ``closed``, ``updates`` (how many ``views.update``), ``opened_at`` (monotonic)."""
        with self._lock:
            return [
                self._public_view(rec)
                for rec in self._views.values()
                if rec["view"]["type"] == "modal" and user in (None, rec["user"])
            ]

    def view(self, view_id: str) -> Json:
        """The current view ``view_id`` (a modal or a home), as Slack answers it."""
        with self._lock:
            rec = self._views.get(view_id)
            if rec is None:
                raise KeyError(f"no view {view_id!r}; views: {list(self._views)}")
            return copy.deepcopy(rec["view"])

    def home(self, user: str) -> Json | None:
        """``user``'s App Home view as last published, or None if none was."""
        with self._lock:
            view_id = self._homes.get(user)
            return None if view_id is None else copy.deepcopy(self._views[view_id]["view"])

    def homes(self) -> dict[str, Json]:
        """Every published App Home view, by user."""
        with self._lock:
            return {u: copy.deepcopy(self._views[v]["view"]) for u, v in self._homes.items()}

    def close_view(self, view_id: str) -> None:
        """The modal is closed (submitted and acked without a response_action, or dismissed):
        ``views.update`` answers ``not_found`` from now on, and it cannot be submitted."""
        with self._lock:
            self._views[view_id]["closed"] = True

    def submission_payload(
        self, view_id: str, user_id: str, values: Mapping[str, Any] | None = None
    ) -> Json:
        """The ``view_submission`` payload Slack posts when ``user_id`` submits modal
        ``view_id`` with ``values`` (``{block_id: value}``: a str for a plain_text_input, an
        option's value for a static_select, a list of option values for checkboxes, a user id
        for a users_select; ``{block_id: {action_id: value}}`` for a block with several). The
        fields left out keep their initial values. It carries a fresh ``trigger_id``.

        Raises ``ValueError`` for a submission Slack would never send: a closed view or a home,
        another user than the one it opened for, a value the form does not offer, a required
        input left empty."""
        with self._lock:
            rec = self._views.get(view_id)
            if rec is None:
                raise KeyError(f"no view {view_id!r}; views: {list(self._views)}")
            if rec["view"]["type"] != "modal" or rec["closed"]:
                raise ValueError(f"view {view_id} is not an open modal")
            if user_id != rec["user"]:
                raise ValueError(f"modal {view_id} opened for {rec['user']}, not {user_id}")
            view = copy.deepcopy(rec["view"])
            view["state"] = {"values": submitted_state(view["blocks"], values or {})}
            return {
                "type": "view_submission",
                "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
                "user": {
                    "id": user_id,
                    "username": user_id.lower(),
                    "name": user_id.lower(),
                    "team_id": TEAM_ID,
                },
                "api_app_id": APP_ID,
                "token": VERIFICATION_TOKEN,
                "trigger_id": self.new_trigger_id(user_id),
                "view": view,
                "response_urls": [],
                "is_enterprise_install": False,
                "enterprise": None,
            }
