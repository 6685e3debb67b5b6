"""Block Kit and message validation for the Slack emulator.

``validate_blocks`` returns what Slack puts in ``response_metadata.messages`` when it refuses
``invalid_blocks`` (``[ERROR] ... [json-pointer:/blocks/0/text]``); ``message_content`` checks
the ``blocks``, ``attachments``, ``metadata`` and ``text`` of a ``chat.postMessage`` or
``chat.update`` as Slack does.
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


def _check_text(
    obj: Any, ptr: str, errors: list[str], limit: int, plain_only: bool = False
) -> None:
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


def _check_block(block: Json, ptr: str, errors: list[str]) -> None:
    kind = block["type"]
    if kind == "section":
        if "text" not in block and "fields" not in block:
            errors.append(f"[ERROR] must provide either text or fields [json-pointer:{ptr}]")
        if "text" in block:
            _check_text(block["text"], f"{ptr}/text", errors, 3000)
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
                    _check_text(field, f"{ptr}/fields/{i}", errors, 2000)
        accessory = block.get("accessory")
        if accessory is not None and not (isinstance(accessory, dict) and "type" in accessory):
            errors.append(f"[ERROR] missing required field: type [json-pointer:{ptr}/accessory]")
    elif kind == "header":
        _check_text(block.get("text"), f"{ptr}/text", errors, 150, plain_only=True)
    elif kind == "context":
        for i, element in enumerate(_check_elements(block, ptr, errors, 10)):
            if isinstance(element, dict) and element.get("type") in ("plain_text", "mrkdwn"):
                _check_text(element, f"{ptr}/elements/{i}", errors, 3000)
    elif kind == "actions":
        for i, element in enumerate(_check_elements(block, ptr, errors, 25)):
            if isinstance(element, dict) and element.get("type") == "button":
                _check_text(element.get("text"), f"{ptr}/elements/{i}/text", errors, 75, True)
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


def validate_blocks(blocks: Any) -> list[str]:
    """Slack's ``response_metadata.messages`` for these blocks; empty when they are valid."""
    if not isinstance(blocks, list):
        return ["[ERROR] must be an array [json-pointer:/blocks]"]
    errors: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"[ERROR] no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        ptr = f"/blocks/{i}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            errors.append(f"[ERROR] missing required field: type [json-pointer:{ptr}]")
            continue
        if block["type"] not in BLOCK_TYPES:
            errors.append(f"[ERROR] unsupported type: {block['type']} [json-pointer:{ptr}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 0 < len(block_id) <= 255:
                errors.append(f"[ERROR] must be 1-255 characters [json-pointer:{ptr}/block_id]")
            elif block_id in block_ids:
                errors.append(f"[ERROR] duplicate block_id [json-pointer:{ptr}/block_id]")
            else:
                block_ids.add(block_id)
        _check_block(block, ptr, errors)
    return errors


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
