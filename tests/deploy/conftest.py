"""Fixtures for the deployment tests: the real Compose v2 binary and the resolved compose model."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.helpers import COMPOSE_FILE, DEV_ENV_FILE, RunCompose, compose_binary


@pytest.fixture(scope="module")
def compose_bin() -> Path:
    path = compose_binary()
    # The Go binary itself, not the Python wrapper (which always exits 0).
    assert path.read_bytes()[:4] == b"\x7fELF", f"{path} is not the compose ELF binary"
    assert os.access(path, os.X_OK), f"{path} is not executable"
    return path


@pytest.fixture(scope="module")
def run_compose(compose_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> RunCompose:
    """``docker-compose -f FILE [-f OVERRIDE...] --env-file ENV_FILE ARGS...``, hermetic.

    No variables from the developer's shell and no .env from the checkout. ``env_file`` is the
    development profile (deploy/compose/dev.env) unless a test names another; ``env_file=None``
    passes an empty one, as a `docker compose up` with no .env would see. ``env`` adds variables
    for one call (they win over the env file, as the shell does).
    """
    home = tmp_path_factory.mktemp("compose-home")
    empty_env_file = home / "empty.env"
    empty_env_file.write_text("")

    def run(
        *args: str,
        file: Path = COMPOSE_FILE,
        overrides: Sequence[Path] = (),
        env_file: Path | None = DEV_ENV_FILE,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        files = [arg for path in (file, *overrides) for arg in ("-f", str(path))]
        argv = [str(compose_bin), *files, "--env-file", str(env_file or empty_env_file), *args]
        environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
        environ.update(env or {})
        return subprocess.run(
            argv, cwd=file.parent, env=environ, capture_output=True, text=True, timeout=60
        )

    return run


@pytest.fixture(scope="module")
def model(run_compose: RunCompose) -> dict[str, Any]:
    """The fully resolved compose model with the development profile (defaults applied, anchors
    and paths expanded)."""
    result = run_compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
