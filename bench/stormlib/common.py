"""Constants shared by the benchmark's parts, the harness error, and the log line."""

from __future__ import annotations

import time

CHANNEL = "C0INCIDENT"
AM_TOKEN = "bench-alertmanager-token"
BOT_TOKEN = "xoxb-test-token"
SIGNING_SECRET = "bench-signing-secret"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

MAX_ALERTS = 1_000_000
MAX_REQUEST_S = 30.0
RSS_INTERVAL_S = 0.1
DRAIN_POLL_S = 1.0
DRAIN_STABLE_S = 3.0
PROGRESS_S = 10.0

FULL_DEFAULTS = {"alerts": 10_000, "groups": 200, "latency_seconds": 10.0, "latency_groups": 10}
QUICK_DEFAULTS = {"alerts": 1000, "groups": 20, "latency_seconds": 3.0, "latency_groups": 5}

TARGET_INGEST_ALERTS_S = 1000.0
TARGET_ACK_P99_MS = 50.0
TARGET_RSS_MB = 300.0


class HarnessError(RuntimeError):
    """The benchmark itself could not run (not: the bot was slow or lost something)."""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)
