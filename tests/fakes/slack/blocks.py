"""Block Kit and message validation for the Slack emulator.

``validate_blocks`` returns what Slack puts in ``response_metadata.messages`` when it refuses
``invalid_blocks`` (``[ERROR] ... [json-pointer:/blocks/0/text]``); ``message_content`` checks
the ``blocks``, ``attachments``, ``metadata`` and ``text`` of a ``chat.postMessage`` or
``chat.update`` as Slack does. A view's blocks (``views.py``) go through the same checks, with
the view's limit (100) and pointers under ``/view/blocks``.

A ``section`` may carry ``expand`` (a boolean; false, or absent, lets Slack collapse long text
behind "see more").

The interactive elements opsbot uses are checked to Block Kit's reference limits: ``button``
(text 75, value 2000, url 3000, style), ``static_select`` (1-100 ``options`` or
``option_groups``; an option's text is plain_text of at most 75 characters, its value at most 150,
its description at most 75; ``initial_option`` must be one of the options), ``checkboxes``
(1-10 options, ``initial_options`` among them), ``users_select`` (``initial_user``),
``plain_text_input`` (``max_length`` 1-3000, ``min_length`` 0-3000, ``multiline`` a boolean) and
every element's ``action_id`` (1-255 characters, unique within its block) and ``placeholder``
(plain_text, at most 150). An ``input`` block has a plain_text ``label`` and ``hint`` of at most
2000 characters and exactly one ``element`` of an input kind; the text-input kinds work in input
blocks only.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.slack.args import ApiError, Json, json_arg

MAX_BLOCKS = 50
MAX_TEXT = 40_000

BLOCK_TYPES = {
    "actions", "context", "divider", "file", "header", "image", "input", "markdown",
    "rich_text", "section", "table", "video", "context_actions",
}  # fmt: skip
# Elements an ``input`` block may hold; the ``*_input`` kinds work in input blocks only.
INPUT_ELEMENTS = {
    "plain_text_input", "email_text_input", "url_text_input", "number_input", "rich_text_input",
    "file_input", "static_select", "multi_static_select", "external_select",
    "multi_external_select", "users_select", "multi_users_select", "conversations_select",
    "multi_conversations_select", "channels_select", "multi_channels_select", "checkboxes",
    "radio_buttons", "datepicker", "timepicker", "datetimepicker",
}  # fmt: skip
INPUT_ONLY = {
    "plain_text_input", "email_text_input", "url_text_input", "number_input", "file_input",
}  # fmt: skip
MAX_ID = 255  # block_id, action_id
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_SELECT_OPTIONS = 100
MAX_CHECKBOX_OPTIONS = 10
MAX_INPUT_LENGTH = 3000  # plain_text_input max_length / min_length
MAX_LABEL = 2000  # input label and hint
MAX_PLACEHOLDER = 150


def check_text(obj: Any, ptr: str, errors: list[str], limit: int, plain_only: bool = False) -> None:
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if not isinstance(obj, dict):
        errors.append(f"[ERROR] must be a text object [json-pointer:{ptr}]")
        return
    if obj.get("type") not in allowed:
        errors.append(f"[ERROR] must be one of {list(allowed)} [json-pointer:{ptr}/type]")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        errors.append(f"[ERROR] must be more than 0 characters [json-pointer:{ptr}/text]")
    elif len(text) > limit:
        errors.append(f"[ERROR] must be less than {limit + 1} characters [json-pointer:{ptr}/text]")


def _check_elements(block: Json, ptr: str, errors: list[str], limit: int) -> list[Any]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        errors.append(f"[ERROR] must provide at least 1 item [json-pointer:{ptr}/elements]")
        return []
    if len(elements) > limit:
        errors.append(f"[ERROR] no more than {limit} items allowed [json-pointer:{ptr}/elements]")
    for i, element in enumerate(elements):
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            errors.append(f"[ERROR] missing required field: type [json-pointer:{ptr}/elements/{i}]")
    return elements


def _check_string(
    value: Any, ptr: str, errors: list[str], limit: int, *, required: bool = False
) -> None:
    if value is None:
        if required:
            errors.append(f"[ERROR] missing required field [json-pointer:{ptr}]")
        return
    if not isinstance(value, str):
        errors.append(f"[ERROR] must be a string [json-pointer:{ptr}]")
    elif not value:
        errors.append(f"[ERROR] must be more than 0 characters [json-pointer:{ptr}]")
    elif len(value) > limit:
        errors.append(f"[ERROR] must be less than {limit + 1} characters [json-pointer:{ptr}]")


def _check_options(
    options: Any, ptr: str, errors: list[str], limit: int, plain_only: bool
) -> list[Json]:
    """An element's ``options`` (option objects); the well-formed ones, for ``initial_*``."""
    if not isinstance(options, list) or not options:
        errors.append(f"[ERROR] must provide at least 1 item [json-pointer:{ptr}]")
        return []
    if len(options) > limit:
        errors.append(f"[ERROR] no more than {limit} items allowed [json-pointer:{ptr}]")
    good: list[Json] = []
    for i, option in enumerate(options):
        at = f"{ptr}/{i}"
        if not isinstance(option, dict):
            errors.append(f"[ERROR] must be an object [json-pointer:{at}]")
            continue
        before = len(errors)
        check_text(option.get("text"), f"{at}/text", errors, MAX_OPTION_TEXT, plain_only)
        _check_string(option.get("value"), f"{at}/value", errors, MAX_OPTION_VALUE, required=True)
        if "description" in option:
            check_text(option["description"], f"{at}/description", errors, MAX_OPTION_TEXT, True)
        if len(errors) == before:
            good.append(option)
    return good


def _same_option(a: Any, b: Json) -> bool:
    """Slack matches an initial option to an option by its text and value."""
    if not isinstance(a, dict) or not isinstance(a.get("text"), dict):
        return False
    return a.get("value") == b.get("value") and a["text"].get("text") == b["text"].get("text")


def _check_select(element: Json, ptr: str, errors: list[str]) -> None:
    has_options, has_groups = "options" in element, "option_groups" in element
    if has_options == has_groups:
        errors.append(f"[ERROR] must provide either options or option_groups [json-pointer:{ptr}]")
        return
    if has_options:
        options = _check_options(
            element["options"], f"{ptr}/options", errors, MAX_SELECT_OPTIONS, True
        )
    else:
        groups = element["option_groups"]
        options = []
        if not isinstance(groups, list) or not groups:
            at = f"{ptr}/option_groups"
            errors.append(f"[ERROR] must provide at least 1 item [json-pointer:{at}]")
            return
        if len(groups) > MAX_SELECT_OPTIONS:
            errors.append(
                f"[ERROR] no more than {MAX_SELECT_OPTIONS} items allowed "
                f"[json-pointer:{ptr}/option_groups]"
            )
        for g, group in enumerate(groups):
            at = f"{ptr}/option_groups/{g}"
            if not isinstance(group, dict):
                errors.append(f"[ERROR] must be an object [json-pointer:{at}]")
                continue
            check_text(group.get("label"), f"{at}/label", errors, MAX_OPTION_TEXT, True)
            options += _check_options(
                group.get("options"), f"{at}/options", errors, MAX_SELECT_OPTIONS, True
            )
    initial = element.get("initial_option")
    if initial is not None and not any(_same_option(initial, o) for o in options):
        errors.append(
            f"[ERROR] initial_option must match one of the options "
            f"[json-pointer:{ptr}/initial_option]"
        )


def _check_checkboxes(element: Json, ptr: str, errors: list[str]) -> None:
    options = _check_options(
        element.get("options"), f"{ptr}/options", errors, MAX_CHECKBOX_OPTIONS, False
    )
    initial = element.get("initial_options")
    if initial is None:
        return
    if not isinstance(initial, list):
        errors.append(f"[ERROR] must be an array [json-pointer:{ptr}/initial_options]")
        return
    for i, chosen in enumerate(initial):
        if not any(_same_option(chosen, o) for o in options):
            errors.append(
                f"[ERROR] initial_options must match the options "
                f"[json-pointer:{ptr}/initial_options/{i}]"
            )


def _check_length_bound(value: Any, ptr: str, errors: list[str], low: int) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        errors.append(f"[ERROR] must be an integer [json-pointer:{ptr}]")
    elif not low <= value <= MAX_INPUT_LENGTH:
        errors.append(f"[ERROR] must be between {low} and {MAX_INPUT_LENGTH} [json-pointer:{ptr}]")


def _check_element(element: Any, ptr: str, errors: list[str], action_ids: set[str]) -> None:
    """An interactive element, wherever it sits (``action_ids``: those already in its block)."""
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return  # reported by the caller
    kind = element["type"]
    action_id = element.get("action_id")
    _check_string(action_id, f"{ptr}/action_id", errors, MAX_ID)
    if isinstance(action_id, str) and action_id:
        if action_id in action_ids:
            errors.append(f"[ERROR] duplicate action_id [json-pointer:{ptr}/action_id]")
        action_ids.add(action_id)
    if "placeholder" in element:
        check_text(element["placeholder"], f"{ptr}/placeholder", errors, MAX_PLACEHOLDER, True)
    if kind == "button":
        check_text(element.get("text"), f"{ptr}/text", errors, 75, True)
        _check_string(element.get("value"), f"{ptr}/value", errors, 2000)
        _check_string(element.get("url"), f"{ptr}/url", errors, 3000)
        if element.get("style") not in (None, "primary", "danger"):
            errors.append(f"[ERROR] must be one of [primary, danger] [json-pointer:{ptr}/style]")
    elif kind == "static_select":
        _check_select(element, ptr, errors)
    elif kind == "checkboxes":
        _check_checkboxes(element, ptr, errors)
    elif kind == "users_select":
        user = element.get("initial_user")
        if user is not None and not (isinstance(user, str) and user[:1] in ("U", "W")):
            errors.append(f"[ERROR] must be a user ID [json-pointer:{ptr}/initial_user]")
    elif kind == "plain_text_input":
        initial = element.get("initial_value")
        if initial is not None and not isinstance(initial, str):
            errors.append(f"[ERROR] must be a string [json-pointer:{ptr}/initial_value]")
        if "multiline" in element and not isinstance(element["multiline"], bool):
            errors.append(f"[ERROR] must be a boolean [json-pointer:{ptr}/multiline]")
        _check_length_bound(element.get("max_length"), f"{ptr}/max_length", errors, 1)
        _check_length_bound(element.get("min_length"), f"{ptr}/min_length", errors, 0)


def _check_input(block: Json, ptr: str, errors: list[str]) -> None:
    check_text(block.get("label"), f"{ptr}/label", errors, MAX_LABEL, plain_only=True)
    if "hint" in block:
        check_text(block["hint"], f"{ptr}/hint", errors, MAX_LABEL, plain_only=True)
    for flag in ("optional", "dispatch_action"):
        if flag in block and not isinstance(block[flag], bool):
            errors.append(f"[ERROR] must be a boolean [json-pointer:{ptr}/{flag}]")
    element = block.get("element")
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        errors.append(f"[ERROR] missing required field: element [json-pointer:{ptr}]")
    elif element["type"] not in INPUT_ELEMENTS:
        errors.append(
            f"[ERROR] unsupported type: {element['type']} [json-pointer:{ptr}/element/type]"
        )
    else:
        _check_element(element, f"{ptr}/element", errors, set())


def _check_interactive(element: Any, ptr: str, errors: list[str], action_ids: set[str]) -> None:
    """An element in an actions block or a section's accessory: no text-input kinds."""
    if isinstance(element, dict) and element.get("type") in INPUT_ONLY:
        errors.append(f"[ERROR] unsupported type: {element['type']} [json-pointer:{ptr}/type]")
        return
    _check_element(element, ptr, errors, action_ids)


def _check_block(block: Json, ptr: str, errors: list[str]) -> None:
    kind = block["type"]
    if kind == "section":
        if "text" not in block and "fields" not in block:
            errors.append(f"[ERROR] must provide either text or fields [json-pointer:{ptr}]")
        if "text" in block:
            check_text(block["text"], f"{ptr}/text", errors, 3000)
        if "fields" in block:
            fields = block["fields"]
            if not isinstance(fields, list) or not fields:
                errors.append(f"[ERROR] must provide at least 1 item [json-pointer:{ptr}/fields]")
            else:
                if len(fields) > 10:
                    errors.append(
                        f"[ERROR] no more than 10 items allowed [json-pointer:{ptr}/fields]"
                    )
                for i, field in enumerate(fields):
                    check_text(field, f"{ptr}/fields/{i}", errors, 2000)
        if "expand" in block and not isinstance(block["expand"], bool):
            errors.append(f"[ERROR] must be a boolean [json-pointer:{ptr}/expand]")
        accessory = block.get("accessory")
        if accessory is not None and not (isinstance(accessory, dict) and "type" in accessory):
            errors.append(f"[ERROR] missing required field: type [json-pointer:{ptr}/accessory]")
        elif accessory is not None:
            _check_interactive(accessory, f"{ptr}/accessory", errors, set())
    elif kind == "header":
        check_text(block.get("text"), f"{ptr}/text", errors, 150, plain_only=True)
    elif kind == "context":
        for i, element in enumerate(_check_elements(block, ptr, errors, 10)):
            if isinstance(element, dict) and element.get("type") in ("plain_text", "mrkdwn"):
                check_text(element, f"{ptr}/elements/{i}", errors, 3000)
    elif kind == "actions":
        action_ids: set[str] = set()
        for i, element in enumerate(_check_elements(block, ptr, errors, 25)):
            _check_interactive(element, f"{ptr}/elements/{i}", errors, action_ids)
    elif kind == "input":
        _check_input(block, ptr, errors)
    elif kind == "image":
        if not isinstance(block.get("image_url"), str) and "slack_file" not in block:
            errors.append(f"[ERROR] missing required field: image_url [json-pointer:{ptr}]")
        alt = block.get("alt_text")
        if not isinstance(alt, str) or not alt or len(alt) > 2000:
            errors.append(f"[ERROR] must be 1-2000 characters [json-pointer:{ptr}/alt_text]")
    elif kind == "markdown":
        text = block.get("text")
        if not isinstance(text, str) or not text or len(text) > 12000:
            errors.append(f"[ERROR] must be 1-12000 characters [json-pointer:{ptr}/text]")


def validate_blocks(blocks: Any, *, limit: int = MAX_BLOCKS, at: str = "/blocks") -> list[str]:
    """Slack's ``response_metadata.messages`` for these blocks; empty when they are valid.

    ``limit`` and ``at``: a message's (50, ``/blocks``) unless given, a view's are 100 and
    ``/view/blocks``."""
    if not isinstance(blocks, list):
        return [f"[ERROR] must be an array [json-pointer:{at}]"]
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(f"[ERROR] no more than {limit} items allowed [json-pointer:{at}]")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        ptr = f"{at}/{i}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            errors.append(f"[ERROR] missing required field: type [json-pointer:{ptr}]")
            continue
        if block["type"] not in BLOCK_TYPES:
            errors.append(f"[ERROR] unsupported type: {block['type']} [json-pointer:{ptr}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 0 < len(block_id) <= MAX_ID:
                errors.append(f"[ERROR] must be 1-255 characters [json-pointer:{ptr}/block_id]")
            elif block_id in block_ids:
                errors.append(f"[ERROR] duplicate block_id [json-pointer:{ptr}/block_id]")
            else:
                block_ids.add(block_id)
        _check_block(block, ptr, errors)
    return errors


def message_attachments(args: Json) -> list[Json]:
    """Legacy ``attachments`` of a post (Alertmanager's ``slack_configs`` send only these), as
    Slack stores them: each numbered by an ``id`` from 1."""
    if args.get("attachments") in (None, ""):
        return []
    attachments = json_arg(args["attachments"], "invalid_attachments")
    if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
        raise ApiError("invalid_attachments")
    return [{**a, "id": i} for i, a in enumerate(attachments, start=1)]


def message_content(args: Json) -> tuple[list[Json] | None, Json | None]:
    """Validated ``blocks`` and ``metadata`` of a post or an update (None when absent)."""
    blocks = None
    if args.get("blocks") not in (None, ""):
        blocks = json_arg(args["blocks"], "invalid_blocks_format")
        if not isinstance(blocks, list):
            raise ApiError("invalid_blocks_format")
        errors = validate_blocks(blocks)
        if errors:
            raise ApiError("invalid_blocks", errors)
    if args.get("attachments") not in (None, ""):
        attachments = json_arg(args["attachments"], "invalid_attachments")
        if not isinstance(attachments, list):
            raise ApiError("invalid_attachments")
    metadata = None
    if args.get("metadata") not in (None, ""):
        metadata = json_arg(args["metadata"], "invalid_metadata_format")
        if not isinstance(metadata, dict):
            raise ApiError("invalid_metadata_format")
        if not isinstance(metadata.get("event_type"), str) or not isinstance(
            metadata.get("event_payload"), dict
        ):
            raise ApiError("invalid_metadata_schema")
    text = args.get("text")
    if text is not None and len(str(text)) > MAX_TEXT:
        raise ApiError("msg_too_long")
    return blocks, metadata
