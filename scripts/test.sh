#!/usr/bin/env bash
# The one test command: sets up what the suite needs on a fresh machine, then runs everything.
#   - uv (from PyPI) and the locked environment (uv sync --frozen)
#   - Prometheus and Alertmanager from Debian, if missing (the integration tests run them)
#   - PostgreSQL is expected on 127.0.0.1:5432 (OPSBOT_TEST_POSTGRES_URL); started if it is down
#   - a Ray head is started by the tests themselves (tests/support/ray_head.py)
# Then: ruff (lint + format check), mypy, pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

if ! command -v uv >/dev/null 2>&1; then
  log "installing uv"
  python3 -m pip install --quiet "uv==0.13.9"
fi

if ! command -v prometheus >/dev/null 2>&1 || ! command -v prometheus-alertmanager >/dev/null 2>&1; then
  log "installing prometheus and prometheus-alertmanager from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
fi

if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
fi

log "uv sync --frozen --group jobs --group llm-server (scripts/sync.sh)"
# The jobs group is what Ray's workers import (torch, Ray Train and Data): the tests start a
# real local Ray head from this environment and run the training and scoring jobs on it. The
# llm-server group is the real OpenAI-compatible server and model of tests/llm_server; the first
# sync on a machine compiles llama-cpp-python (uv keeps the wheel in its cache).
./scripts/sync.sh --quiet

log "ruff"
uv run --frozen ruff check .
uv run --frozen ruff format --check .

log "mypy"
uv run --frozen mypy

log "imports: layer contracts (import-linter) and no cycles"
uv run --frozen lint-imports --no-cache
uv run --frozen python scripts/import_cycles.py

log "pytest"
uv run --frozen pytest "$@"
