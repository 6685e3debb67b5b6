# syntax=docker/dockerfile:1.7
#
# opsbot image: the `opsbot` console script on a slim Python 3.11, run as a non-root user.
#
#   docker build -t opsbot:dev .
#   docker run --rm -p 127.0.0.1:8080:8080 opsbot:dev          # SQLite in /var/lib/opsbot
#
# Two stages: the builder resolves the locked dependencies with uv (dependency layer first, so a
# code change does not reinstall them), the runtime stage gets only the virtual environment and the
# playbooks. Keep both stages on the same Python image: the venv links to its interpreter.

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

# ---------------------------------------------------------------------------------------------
FROM python:3.11.14-slim-bookworm AS builder

COPY --from=uv /uv /uvx /bin/

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /app

# 1. Third-party dependencies only, from the lock file: cached until pyproject.toml/uv.lock change.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --no-dev --no-install-project

# 2. The project itself, installed as a wheel (not editable) so the runtime needs no source tree.
COPY pyproject.toml uv.lock README.md ./
COPY bot ./bot
COPY actions ./actions
COPY ray_jobs ./ray_jobs
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# ---------------------------------------------------------------------------------------------
FROM python:3.11.14-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="opsbot" \
      org.opencontainers.image.description="ChatOps incident bot for teams running ML models in production" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric uid/gid, so Kubernetes `runAsNonRoot` can verify it.
RUN groupadd --system --gid 10001 opsbot \
 && useradd --system --uid 10001 --gid opsbot --home-dir /var/lib/opsbot --no-create-home \
        --shell /usr/sbin/nologin opsbot \
 && install -d -o opsbot -g opsbot -m 0750 /var/lib/opsbot

# Code and venv stay owned by root: the service cannot rewrite itself.
COPY --from=builder /app/.venv /app/.venv
COPY playbooks /app/playbooks

ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OPSBOT_PLAYBOOKS_DIR=/app/playbooks

# The working directory is the writable data directory: the embedded default database
# (sqlite:///./opsbot.db) and an optional opsbot.toml live here. Mount a volume on it to keep them.
WORKDIR /var/lib/opsbot
VOLUME ["/var/lib/opsbot"]

USER 10001:10001

EXPOSE 8080

# No curl in slim images: ask /healthz with the interpreter that is already there.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]

CMD ["opsbot", "serve", "--host", "0.0.0.0", "--port", "8080"]
