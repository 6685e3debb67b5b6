"""The job progress message and the reply when a job ends, rendered from a ``job_run`` row."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.render.jobs import JOB_STOP_ACTION, progress_bar, render_job, render_job_done
from bot.store.job_models import JobRun, JobStatus
from tests.fakes.slack.blocks import validate_blocks

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def job(**fields: Any) -> JobRun:
    values: dict[str, Any] = {
        "id": 7,
        "submission_id": "opsbot-train-fraud-scorer-7",
        "kind": "train",
        "template": "fraud-scorer",
        "entrypoint": "python -m ray_jobs.train",
        "requested_by": "U0ALICE",
        "resources": {"cpus": 2, "gpus": 1, "memory_gb": 4.0},
        "submitted_at": NOW - timedelta(minutes=2),
        "start_deadline_at": NOW + timedelta(minutes=3),
        "deadline_at": NOW + timedelta(hours=1),
    }
    values.update(fields)
    return JobRun(**values)


def running(**fields: Any) -> JobRun:
    values: dict[str, Any] = {
        "status": JobStatus.RUNNING,
        "started_at": NOW - timedelta(seconds=60),
        "progress": {
            "done": 3,
            "total": 10,
            "unit": "epoch",
            "metrics": {"val_auc": 0.912345, "loss": 0.23111},
        },
        "cost_per_gpu_hour": 3.0,
    }
    values.update(fields)
    return job(**values)


def texts(blocks: list[dict[str, Any]]) -> str:
    """Every mrkdwn string of the message, joined."""
    out = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [f["text"] for f in block.get("fields", [])]
        out += [
            e["text"] for e in block.get("elements", []) if "text" in e and e["type"] == "mrkdwn"
        ]
    return "\n".join(out)


def stop_buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        e
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("action_id") == JOB_STOP_ACTION
    ]


@pytest.mark.parametrize(
    ("done", "total", "width", "bar"),
    [
        (5, 10, 10, "▓▓▓▓▓░░░░░ 50%"),
        (0, 4, 4, "░░░░ 0%"),
        (10, 10, 20, "▓" * 20 + " 100%"),
        (15, 10, 4, "▓▓▓▓ 100%"),  # more done than the total said: full, not past it
        (-3, 10, 4, "░░░░ 0%"),
        (1, 3, 3, "▓░░ 33%"),
    ],
)
def test_progress_bar(done: float, total: float, width: int, bar: str) -> None:
    assert progress_bar(done, total, width) == bar


@pytest.mark.parametrize("total", [0, None, -5])
def test_progress_bar_without_a_known_total_is_no_bar(total: float | None) -> None:
    assert progress_bar(3, total) == ""


def test_running_job_shows_who_what_how_far_eta_cost_and_a_stop_button() -> None:
    text, blocks = render_job(running(), NOW)
    assert validate_blocks(blocks) == []
    assert text == "▶️ Training fraud-scorer (opsbot-train-fraud-scorer-7): running"
    shown = texts(blocks)
    assert "*Training* `fraud-scorer`" in blocks[0]["text"]["text"]
    for part in (
        "*Job*\n`opsbot-train-fraud-scorer-7`",
        "*Status*\n▶️ running",
        "*Started by*\n<@U0ALICE>",
        "*Resources*\n2 CPU · 1 GPU · 4 GB memory",
        "*Elapsed*\n1m00s",  # from the start, not the submission
        "*ETA*\n~2m20s",  # 3 epochs in 60 s: 7 more take 140 s
        "*Deadline*\n<!date^",
        "*Cost so far*\n~$0.05 (0.02 GPU-h at $3/h)",
        "▓▓▓▓▓▓░░░░░░░░░░░░░░ 30%  *3/10* epoch",
        "*Latest metrics* val_auc 0.9123 · loss 0.2311",
    ):
        assert part in shown
    [button] = stop_buttons(blocks)
    assert button["value"] == "7"
    assert button["style"] == "danger"
    assert button["confirm"]["title"]["text"] == "Stop this job?"
    assert "Training fraud-scorer" in button["confirm"]["text"]["text"]


@pytest.mark.parametrize("status", [JobStatus.SUBMITTED, JobStatus.PENDING])
def test_waiting_job_shows_its_start_deadline_no_eta_and_can_be_stopped(status: str) -> None:
    text, blocks = render_job(job(status=status), NOW)
    assert validate_blocks(blocks) == []
    shown = texts(blocks)
    assert "*Must start by*\n<!date^" in shown
    assert "*Elapsed*\n2m00s" in shown  # waiting since the submission
    assert "ETA" not in shown
    assert "Cost" not in shown  # no GPU price on this template
    assert len(stop_buttons(blocks)) == 1
    assert status in text


def test_eta_needs_some_progress() -> None:
    _, blocks = render_job(running(progress={"done": 0, "total": 10, "unit": "epoch"}), NOW)
    shown = texts(blocks)
    assert "ETA" not in shown
    assert "░" * 20 + " 0%  *0/10* epoch" in shown


def test_progress_without_a_total_shows_the_count_without_a_bar() -> None:
    _, blocks = render_job(running(progress={"done": 1200, "unit": "batch"}), NOW)
    shown = texts(blocks)
    assert "*1,200* batch" in shown
    assert "%" not in shown
    assert "ETA" not in shown


def test_succeeded_training_shows_the_manifest_and_no_stop_button() -> None:
    manifest = {
        "kind": "train",
        "dataset": {"path": "s3://data/fraud.parquet", "sha256": "ab" * 32, "rows": 100_000},
        "metrics": {"val_auc": 0.91234, "val_loss": 0.2},
        "timings": {"load_s": 3.2, "train_s": 120.5, "total_s": 130},
        "model_dir": "/models/fraud-scorer/3",
        "model_version": "3",
    }
    done = running(
        status=JobStatus.SUCCEEDED, ended_at=NOW + timedelta(minutes=2), manifest=manifest
    )
    text, blocks = render_job(done, NOW + timedelta(hours=5))
    assert validate_blocks(blocks) == []
    shown = texts(blocks)
    assert "*Model* v3 in `/models/fraud-scorer/3`" in shown
    assert "*Metrics* val_auc 0.9123 · val_loss 0.2" in shown
    assert "*Rows* trained on 100,000" in shown
    assert "*Timings* load 3s · train 2m00s · total 2m10s" in shown
    assert "*Elapsed*\n3m00s" in shown  # stops at the end, however late it is redrawn
    assert "ETA" not in shown
    assert "Deadline" not in shown
    assert stop_buttons(blocks) == []
    assert text.startswith("✅ Training fraud-scorer")


def test_succeeded_scoring_shows_output_rows_and_rate() -> None:
    manifest = {
        "kind": "score",
        "model_dir": "/models/fraud-scorer/3",
        "model_version": "v3",
        "input": {"path": "s3://in", "rows": 1_000_000},
        "output": {"path": "s3://out/scores.parquet", "rows": 999_000},
        "rows_per_s": 52_311.7,
        "timings": {"total_s": 19.2},
        "actors": 4,
    }
    _, blocks = render_job(job(kind="score", status=JobStatus.SUCCEEDED, manifest=manifest), NOW)
    shown = texts(blocks)
    assert "Batch scoring" in blocks[0]["text"]["text"]
    assert "*Model* v3 in" in shown  # not "vv3"
    assert "*Output* `s3://out/scores.parquet`" in shown
    assert "*Rows* read 1,000,000 · written 999,000 · 52,312/s" in shown


@pytest.mark.parametrize("status", [JobStatus.FAILED, JobStatus.STOPPED])
def test_ended_badly_shows_the_message_and_log_tail_without_a_stop_button(status: str) -> None:
    ended = running(
        status=status,
        ended_at=NOW,
        message="OOM: <!channel> look & see",
        log_tail="epoch 1 ok\nTraceback (most recent call last):\nMemoryError\n",
    )
    text, blocks = render_job(ended, NOW)
    assert validate_blocks(blocks) == []
    shown = texts(blocks)
    assert ":information_source: OOM: &lt;!channel&gt; look &amp; see" in shown
    assert (
        "*Log tail*\n```\nepoch 1 ok\nTraceback (most recent call last):\nMemoryError\n```" in shown
    )
    assert stop_buttons(blocks) == []
    assert "<!channel>" not in shown + text


def test_only_the_first_line_of_a_message_is_shown_the_log_goes_in_the_tail() -> None:
    ray_message = (
        "Job entrypoint command failed with exit code 1, last available logs:\n"
        "Traceback (most recent call last):\nModuleNotFoundError: No module named 'pandas'"
    )
    ended = running(status=JobStatus.FAILED, ended_at=NOW, message=ray_message, log_tail="x")
    text, blocks = render_job(ended, NOW)
    assert text.endswith("— Job entrypoint command failed with exit code 1, last available logs")
    assert (
        ":information_source: Job entrypoint command failed with exit code 1, last available logs"
        in texts(blocks)
    )
    assert "Traceback" not in texts(blocks)
    reply, _ = render_job_done(ended)
    assert reply == (
        "❌ Training fraud-scorer failed: "
        "Job entrypoint command failed with exit code 1, last available logs"
    )


def test_opsbots_own_user_mention_in_the_message_stays_a_mention() -> None:
    job = running(message="stop requested by <@U0BOB>", stop_requested_by="U0BOB")
    _, blocks = render_job(job, NOW)
    assert ":information_source: stop requested by <@U0BOB>" in texts(blocks)


def test_a_mention_of_someone_the_job_does_not_know_stays_text() -> None:
    # Ray's message can carry text from the job itself: it must not ping anyone.
    _, blocks = render_job(running(message="failed: ask <@U0CEO> <!channel>"), NOW)
    shown = texts(blocks)
    assert "&lt;@U0CEO&gt;" in shown
    assert "<@U0CEO>" not in shown
    assert "<!channel>" not in shown


def test_log_tail_is_cut_from_the_start_to_fit_a_section() -> None:
    log = "".join(f"line {n} & <stuff>\n" for n in range(2000)) + "the last line"
    _, blocks = render_job(running(status=JobStatus.FAILED, log_tail=log), NOW)
    assert validate_blocks(blocks) == []
    [tail] = [b["text"]["text"] for b in blocks if "Log tail" in b.get("text", {}).get("text", "")]
    assert len(tail) <= 3000
    assert len(tail) > 2900  # fills the room it has
    assert tail.startswith("*Log tail*\n```\n…")
    assert tail.endswith("line 1999 &amp; &lt;stuff&gt;\nthe last line\n```")
    assert "line 0 " not in tail


def test_log_tail_of_characters_that_grow_when_escaped_still_fits() -> None:
    log = "<" * 5000 + "```" + "&" * 5000
    _, blocks = render_job(running(status=JobStatus.FAILED, log_tail=log), NOW)
    assert validate_blocks(blocks) == []
    tail = blocks[-1]["text"]["text"]
    assert len(tail) <= 3000
    assert tail.endswith("&amp;&amp;\n```")
    assert tail.count("```") == 2  # a fence in the log cannot close the code block


HOSTILE: list[Any] = [
    None,
    True,
    "3",
    float("nan"),
    float("inf"),
    10**400,
    10**5000,  # past the digits Python will print
    ["a", 1],
    {"nested": {"deep": 1}},
    "<!channel> " + "x" * 100_000,
]


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: type(v).__name__)
def test_hostile_progress_and_manifest_values_never_raise_and_stay_valid(value: Any) -> None:
    hostile = {
        "kind": value,
        "model_dir": value,
        "model_version": value,
        "metrics": value,
        "timings": value,
        "dataset": value,
        "input": value,
        "output": value,
        "rows_per_s": value,
    }
    for status in (JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED):
        row = running(
            status=status,
            ended_at=None if status == JobStatus.RUNNING else NOW,
            resources={"cpus": value, "gpus": value, "memory_gb": value},
            progress={"done": value, "total": value, "unit": value, "metrics": value},
            manifest=hostile,
            cost_per_gpu_hour=value if isinstance(value, float) else 2.5,
        )
        for text, blocks in (render_job(row, NOW), render_job_done(row)):
            assert validate_blocks(blocks) == []
            assert "<!channel>" not in texts(blocks) + text
            assert len(text) <= 40_000


def test_hostile_strings_inside_manifest_dicts_are_escaped_and_clipped() -> None:
    manifest = {
        "model_dir": "<!channel> `rm -rf` " + "d" * 50_000,
        "model_version": "<!here>",
        "metrics": {"<!everyone>": 0.5, "huge": 1e300, "text": "high", "flag": True},
        "output": {"path": "<@U0EVIL>", "rows": "many"},
        "timings": {"total_s": 1e30, "<b>": 1},
        "rows_per_s": None,
    }
    row = job(status=JobStatus.SUCCEEDED, ended_at=NOW, manifest=manifest, progress=["junk"])
    text, blocks = render_job(row, NOW)
    reply_text, reply = render_job_done(row)
    shown = texts(blocks) + texts(reply) + text + reply_text
    assert validate_blocks(blocks) == []
    assert validate_blocks(reply) == []
    for raw in ("<!channel>", "<!here>", "<!everyone>", "<@U0EVIL>"):
        assert raw not in shown
    assert "&lt;!channel&gt;" in shown
    assert "&lt;!everyone&gt; 0.5 · huge 1e+300" in shown  # non-numbers left out
    assert "99d00h" in shown  # an absurd duration is capped
    assert len(json.dumps(blocks)) < 20_000


def test_wrong_types_at_the_top_level_of_the_row_do_not_raise() -> None:
    row = running(progress="not a dict", manifest=[1, 2], resources=None, status="weird")
    text, blocks = render_job(row, NOW)
    assert validate_blocks(blocks) == []
    assert "*Resources*\ndefault" in texts(blocks)
    assert "weird" in text


def test_done_reply_for_success_names_the_model_and_a_metric() -> None:
    row = running(
        status=JobStatus.SUCCEEDED,
        ended_at=NOW + timedelta(minutes=2, seconds=12),
        manifest={"model_version": "3", "metrics": {"val_auc": 0.91}},
    )
    text, blocks = render_job_done(row)
    assert text == "✅ Training fraud-scorer succeeded in 3m12s — model v3, val_auc 0.91"
    assert blocks[0]["text"]["text"] == text
    assert blocks[1]["elements"][0]["text"] == "job `opsbot-train-fraud-scorer-7`"
    assert validate_blocks(blocks) == []


def test_done_reply_for_scoring_counts_the_rows() -> None:
    row = job(
        kind="score",
        status=JobStatus.SUCCEEDED,
        manifest={"output": {"rows": 999_000}, "model_version": "v3"},
    )
    text, _ = render_job_done(row)
    assert text == "✅ Batch scoring fraud-scorer succeeded — model v3, 999,000 rows scored"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"status": JobStatus.FAILED, "message": "exit code 1 <!here>"},
            "❌ Training fraud-scorer failed: exit code 1 &lt;!here&gt;",
        ),
        ({"status": JobStatus.FAILED}, "❌ Training fraud-scorer failed: no reason given"),
        (
            {"status": JobStatus.STOPPED, "stop_requested_by": "U0BOB", "message": "stop"},
            "⏹ Training fraud-scorer stopped by <@U0BOB>",
        ),
        (
            {
                "status": JobStatus.STOPPED,
                "message": "still pending after its 5 min start deadline (no resources)",
            },
            "⏹ Training fraud-scorer stopped: "
            "still pending after its 5 min start deadline (no resources)",
        ),
        (
            {"status": JobStatus.STOPPED, "stop_requested_by": "<!channel>"},
            "⏹ Training fraud-scorer stopped by &lt;!channel&gt;",
        ),
    ],
)
def test_done_reply_says_how_it_ended(fields: dict[str, Any], expected: str) -> None:
    text, blocks = render_job_done(job(ended_at=NOW, **fields))
    assert text == expected
    assert validate_blocks(blocks) == []
