"""Shared fixtures: databases (SQLite and a real PostgreSQL), payloads, app settings, the app, the
Kubernetes API fake and a client on it."""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from bot.clients.kubernetes import KubeClient
from bot.store.engine import make_engine
from tests.fakes.kubernetes.api import KubeApiFake
from tests.fakes.kubernetes.rbac import Grants
from tests.fakes.openai.api import OpenAIFake
from tests.support.asgi import app_factory, asgi_client
from tests.support.chart_role import chart_grants, kube_fake
from tests.support.databases import reset_postgres, sqlite_copy, sqlite_template
from tests.support.ray_head import RAY_ENV, RayHead, start_head
from tests.support.socket_origins import install as _track_socket_origins
from tests.support.socket_origins import left_open as _sockets_left_open

_track_socket_origins()

# Every Ray process the tests start or talk to (head, job drivers, the bot's job client) reads
# this, and it must be the same for all of them (see tests/support/ray_head.py).
os.environ.update(RAY_ENV)

DATA = Path(__file__).parent / "data"
POSTGRES_URL = os.environ.get(
    "OPSBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def load_payload(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


@pytest.fixture
def firing() -> dict[str, Any]:
    return copy.deepcopy(load_payload("firing"))


@pytest.fixture
def resolved() -> dict[str, Any]:
    return copy.deepcopy(load_payload("resolved"))


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A fresh database on the real PostgreSQL server for this test session."""
    name = f"opsbot_test_{uuid.uuid4().hex[:10]}"
    admin = POSTGRES_URL
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file the tests' databases are copied from (migrations run once)."""
    return sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: SQLite file, then the real PostgreSQL."""
    if request.param == "sqlite":
        return sqlite_copy(request.getfixturevalue("sqlite_migrated"), tmp_path)
    url: str = request.getfixturevalue("postgres_server_url")
    reset_postgres(url)
    return url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> str:
    """A migrated, empty PostgreSQL database, for what only PostgreSQL has."""
    reset_postgres(postgres_server_url)
    return postgres_server_url


@pytest.fixture
def sqlite_url(sqlite_migrated: Path, tmp_path: Path) -> str:
    return sqlite_copy(sqlite_migrated, tmp_path)


@pytest.fixture
def make_app(sqlite_url: str) -> Callable[..., FastAPI]:
    """``make_app(**settings)``: the bot's app on this test's SQLite database."""
    return app_factory(sqlite_url)


@pytest.fixture
async def client(make_app: Callable[..., FastAPI]) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process HTTP client of ``make_app()`` (``client.app`` is the app)."""
    async with asgi_client(make_app()) as c:
        yield c


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def ray_head() -> Iterator[RayHead]:
    """One real local Ray head (job API on 127.0.0.1) for the whole test session."""
    head = start_head()
    try:
        yield head
    finally:
        head.stop()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    """A migrated SQLite database, where a test is about words, not storage (``engine`` runs on
    both backends)."""
    eng = make_engine(sqlite_url)
    yield eng
    eng.dispose()


@pytest.fixture
def openai_fake() -> Iterator[OpenAIFake]:
    with OpenAIFake() as fake:
        yield fake


# -- Kubernetes: the API fake, a kubeconfig for it, opsbot's client on it ------------------------


@pytest.fixture
def kube_grants() -> Grants | None:
    """What the ``kube`` fake allows: the chart's Role (tests/support/chart_role.py, less
    ``OPSBOT_TEST_ROLE_WITHOUT``), so the suites that drive opsbot's code against ``kube`` prove
    the chart grants what the code uses (tests/deploy/test_chart_role_proof.py). Suites that test
    the fake or the client themselves override this: ``None`` allows everything."""
    return chart_grants()


@pytest.fixture
def kube(kube_grants: Grants | None) -> Iterator[KubeApiFake]:
    """The Kubernetes API fake, empty, allowing ``kube_grants``; it must not have failed itself.
    A directory or module that wants it seeded overrides ``kube`` with one that takes ``kube``."""
    with kube_fake(kube_grants) as fake:
        yield fake
        assert fake.fake_errors() == []


@pytest.fixture
def kube_namespace() -> str:
    """The namespace of ``kubeconfig``'s context."""
    return "default"


@pytest.fixture
def kubeconfig(kube: KubeApiFake, kube_namespace: str, tmp_path: Path) -> Path:
    """A kubeconfig for ``kube`` (its bearer token, one context, current), in ``tmp_path``."""
    return kube.write_kubeconfig(tmp_path / "kubeconfig", namespace=kube_namespace)


@pytest.fixture
def kc(kubeconfig: Path) -> Iterator[KubeClient]:
    """opsbot's Kubernetes client on ``kube``, with its default timeout."""
    with KubeClient.from_kubeconfig(kubeconfig) as client:
        yield client


def _left_unclosed() -> list[str]:
    """What the run left unclosed, found by a garbage collection once the tests are done, each
    socket with the test and the stack that opened it (``tests/support/socket_origins.py``).

    A leak found during a test fails that test (``filterwarnings = error``). One found only
    after the last test (an object kept alive until the process's last collection, such as a
    client built once and never closed) fails the run here, named by where it was opened,
    rather than as an anonymous warning in pytest's own end-of-run check.
    """
    import gc
    import warnings

    with warnings.catch_warnings(record=True) as found:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    named = [f"opened here: {origin}" for origin in _sockets_left_open()]
    if named:
        return named
    return [str(w.message) for w in found if issubclass(w.category, ResourceWarning)]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    import sys

    leaks = _left_unclosed()
    for leak in leaks:
        sys.stderr.write(f"\nopsbot tests: left unclosed by the run: {leak}\n")
    if leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
