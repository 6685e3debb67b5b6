"""The structured log lines: what the jobs print is what the bot reads back."""

from __future__ import annotations

import json

import pytest

from ray_jobs import protocol


def test_emitted_lines_parse_back_with_opsbot_as_first_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    protocol.emit_progress(3, 10, "epoch", {"loss": 0.31, "val_auc": 0.87})
    protocol.emit_manifest("/m/manifest.json", {"kind": "train", "model_version": "abc"})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert all(line.startswith(protocol.PREFIX) for line in lines)
    assert protocol.parse_line(lines[0]) == {
        "opsbot": "progress",
        "done": 3,
        "total": 10,
        "unit": "epoch",
        "metrics": {"loss": 0.31, "val_auc": 0.87},
    }
    manifest = protocol.parse_line(lines[1])
    assert manifest is not None
    assert manifest["manifest"]["model_version"] == "abc"


@pytest.mark.parametrize(
    "prefix",
    ["", "(RayTrainWorker pid=123) ", "\x1b[36m(MapWorker pid=9, ip=10.0.0.2)\x1b[0m "],
)
def test_parse_line_finds_the_record_behind_ray_prefixes(prefix: str) -> None:
    line = prefix + json.dumps({"opsbot": "progress", "done": 1, "total": 2}) + "  \n"
    record = protocol.parse_line(line)
    assert record is not None
    assert record["done"] == 1


@pytest.mark.parametrize(
    "line",
    [
        "",
        "plain log line",
        '{"opsbot": "progress", "done": ',
        '{"opsbot": 3}',
        '{"opsbot"}',
        '{"other": "x", "opsbot": "progress"}',
        "\x00\xff garbage {{{",
        '{"opsbot": "progress", "pad": "' + "x" * (70 * 1024) + '"}',
    ],
)
def test_parse_line_returns_none_on_garbage(line: str) -> None:
    assert protocol.parse_line(line) is None


def test_latest_gives_the_last_progress_and_the_manifest() -> None:
    log = "\n".join(
        [
            "Started a local Ray instance.",
            '(RayTrainWorker pid=1) {"opsbot": "progress", "done": 1, "total": 3, "unit": "epoch"}',
            "garbage {opsbot",
            '(RayTrainWorker pid=1) {"opsbot": "progress", "done": 2, "total": 3, "unit": "epoch"}',
            '{"opsbot": "manifest", "path": "/m/manifest.json", "manifest": {"kind": "train"}}',
        ]
    )
    progress, manifest = protocol.latest(log)
    assert progress is not None
    assert progress["done"] == 2
    assert manifest is not None
    assert manifest["manifest"] == {"kind": "train"}
    assert protocol.latest("no records here") == (None, None)
