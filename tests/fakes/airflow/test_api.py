"""The Airflow REST API fake, proved over plain HTTP, and opsbot's ``AirflowClient`` against it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bot.clients.airflow import AirflowClient
from bot.errors import ExternalServiceError
from tests.fakes.airflow.api import AirflowApiFake
from tests.support.server import free_port

DAG = "features_daily"
PROBLEM_KEYS = {"detail", "status", "title", "type"}


@pytest.fixture
def fake() -> Iterator[AirflowApiFake]:
    with AirflowApiFake(token="t0ken") as airflow:
        airflow.add_dag(DAG, schedule="0 3 * * *")
        yield airflow


@pytest.fixture
def http(fake: AirflowApiFake) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{fake.url}/api/v1", auth=(fake.username, fake.password), timeout=5
    ) as client:
        yield client


@pytest.fixture
def client(fake: AirflowApiFake) -> Iterator[AirflowClient]:
    with AirflowClient(fake.url, username=fake.username, password=fake.password) as c:
        yield c


# -- the fake -----------------------------------------------------------------------------------


def test_every_endpoint_needs_credentials_and_401_is_a_problem(fake: AirflowApiFake) -> None:
    with httpx.Client(base_url=f"{fake.url}/api/v1", timeout=5) as anonymous:
        for auth in (None, (fake.username, "wrong"), ("someone", fake.password)):
            answer = anonymous.get(f"/dags/{DAG}", auth=auth)
            assert answer.status_code == 401
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.headers["www-authenticate"] == "Basic"
            body = answer.json()
            assert set(body) == PROBLEM_KEYS
            assert (body["title"], body["detail"]) == ("Unauthorized", None)
            assert body["type"].endswith("#section/Errors/Unauthenticated")
        assert anonymous.get(f"/dags/{DAG}", headers={"Authorization": "Bearer t0ken"}).is_success
        wrong = anonymous.get(f"/dags/{DAG}", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        # a path the API does not have: 404 before authentication, as Flask routes first
        assert anonymous.get("/nothing/here").status_code == 404


def test_trigger_answers_200_with_a_queued_manual_run(
    fake: AirflowApiFake, http: httpx.Client
) -> None:
    answer = http.post(f"/dags/{DAG}/dagRuns", json={"dag_run_id": "r1", "conf": {"day": "x"}})

    assert answer.status_code == 200
    run = answer.json()
    assert {
        k: run[k] for k in ("dag_id", "dag_run_id", "state", "run_type", "conf", "start_date")
    } == {
        "dag_id": DAG,
        "dag_run_id": "r1",
        "state": "queued",
        "run_type": "manual",
        "conf": {"day": "x"},
        "start_date": None,
    }
    assert run["external_trigger"] is True
    assert run["logical_date"] == run["execution_date"]
    assert run["logical_date"].endswith("+00:00")
    assert http.get(f"/dags/{DAG}/dagRuns/r1").json() == run
    listed = http.get(f"/dags/{DAG}/dagRuns").json()
    assert (listed["total_entries"], listed["dag_runs"]) == (1, [run])
    assert fake.requests[0] == ("POST", f"/api/v1/dags/{DAG}/dagRuns", 200)


def test_a_run_id_or_logical_date_taken_is_409(http: httpx.Client) -> None:
    first = {"dag_run_id": "r1", "logical_date": "2025-03-01T09:00:00Z"}
    assert http.post(f"/dags/{DAG}/dagRuns", json=first).status_code == 200

    same_id = http.post(f"/dags/{DAG}/dagRuns", json={"dag_run_id": "r1"})
    same_date = http.post(
        f"/dags/{DAG}/dagRuns", json={"dag_run_id": "r2", "logical_date": "2025-03-01T09:00:00Z"}
    )

    assert same_id.status_code == 409
    assert same_id.json()["detail"] == (
        f"DAGRun with DAG ID: '{DAG}' and DAGRun ID: 'r1' already exists"
    )
    assert same_id.json()["type"].endswith("#section/Errors/AlreadyExists")
    assert same_date.status_code == 409
    assert (
        "DAGRun logical date: '2025-03-01 09:00:00+00:00' already exists"
        in (same_date.json()["detail"])
    )


def test_unknown_dags_runs_and_bad_bodies(http: httpx.Client) -> None:
    missing = http.post("/dags/nope/dagRuns", json={"dag_run_id": "r1"})
    assert missing.status_code == 404
    problem = missing.json()
    assert {k: problem[k] for k in ("detail", "status", "title")} == {
        "detail": "DAG with dag_id: 'nope' not found",
        "status": 404,
        "title": "DAG not found",
    }
    assert problem["type"].endswith("#section/Errors/NotFound")
    assert http.get("/dags/nope").json()["title"] == "DAG not found"
    gone = http.get(f"/dags/{DAG}/dagRuns/none")
    assert (gone.status_code, gone.json()["title"]) == (404, "DAGRun not found")

    bad = {
        "not an object": b"[1]",
        "conf": b'{"conf": "x"}',
        "read-only": b'{"dag_run_id": "r9", "state": "success"}',
        "run id": b'{"dag_run_id": "has space"}',
        "date": b'{"logical_date": "yesterday"}',
        "json": b"{",
    }
    for why, body in bad.items():
        answer = http.post(
            f"/dags/{DAG}/dagRuns", content=body, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400, why
        assert set(answer.json()) == PROBLEM_KEYS, why
    state = http.post(f"/dags/{DAG}/dagRuns", json={"dag_run_id": "r9", "state": "success"})
    assert state.json()["detail"] == "{'state': ['Unknown field.']}"
    assert http.get(f"/dags/{DAG}/dagRuns").json()["total_entries"] == 0


def test_runs_move_on_command_or_on_their_own(fake: AirflowApiFake, http: httpx.Client) -> None:
    http.post(f"/dags/{DAG}/dagRuns", json={"dag_run_id": "r1"})
    running = fake.set_state(DAG, "r1", "running")
    assert running["start_date"] is not None
    assert running["end_date"] is None
    done = fake.set_state(DAG, "r1", "failed")
    assert done["end_date"] is not None

    fake.auto_progress("success")
    http.post(f"/dags/{DAG}/dagRuns", json={"dag_run_id": "r2"})
    states = [http.get(f"/dags/{DAG}/dagRuns/r2").json()["state"] for _ in range(3)]
    assert states == ["running", "success", "success"]


def test_fail_next_answers_the_status_and_changes_nothing(
    fake: AirflowApiFake, http: httpx.Client
) -> None:
    fake.fail_next(1, 503, method="POST")
    answer = http.post(f"/dags/{DAG}/dagRuns", json={"dag_run_id": "r1"})
    assert answer.status_code == 503
    assert fake.runs(DAG) == []
    assert http.post(f"/dags/{DAG}/dagRuns", json={"dag_run_id": "r1"}).status_code == 200


# -- the client ---------------------------------------------------------------------------------


def test_client_trigger_twice_returns_the_same_run_marked_existing(
    fake: AirflowApiFake, client: AirflowClient
) -> None:
    first = client.trigger_dag_run(DAG, "opsbot__abc", {"day": "2025-03-01"})
    second = client.trigger_dag_run(DAG, "opsbot__abc", {"day": "2025-03-01"})

    assert first["already_existed"] is False
    assert second["already_existed"] is True
    assert second["dag_run_id"] == first["dag_run_id"] == "opsbot__abc"
    assert len(fake.runs(DAG)) == 1
    assert [s for _, _, s in fake.requests] == [200, 409, 200]
    assert client.get_dag(DAG)["is_paused"] is False


def test_client_errors_carry_airflow_words_and_status(
    fake: AirflowApiFake, client: AirflowClient
) -> None:
    with pytest.raises(ExternalServiceError) as exc:
        client.get_dag_run(DAG, "none")
    assert (exc.value.system, exc.value.status) == ("airflow", 404)
    assert "DAGRun not found" in exc.value.detail

    with pytest.raises(ExternalServiceError) as exc:
        client.trigger_dag_run("nope", "opsbot__x", {})
    assert exc.value.status == 404
    assert "DAG with dag_id: 'nope' not found" in exc.value.detail

    fake.fail_next(1, 500)
    with pytest.raises(ExternalServiceError) as exc:
        client.get_dag(DAG)
    assert exc.value.status == 500

    with (
        AirflowClient(fake.url, username=fake.username, password="wrong") as bad,
        pytest.raises(ExternalServiceError) as exc,
    ):
        bad.get_dag(DAG)
    assert exc.value.status == 401
    assert "refused the credentials" in exc.value.detail

    with AirflowClient(fake.url, token="t0ken") as bearer:
        assert bearer.get_dag(DAG)["dag_id"] == DAG


def test_client_409_for_a_taken_logical_date_is_not_an_adoption(client: AirflowClient) -> None:
    client.trigger_dag_run(DAG, "a", {}, logical_date="2025-03-01T09:00:00Z")
    with pytest.raises(ExternalServiceError) as exc:
        client.trigger_dag_run(DAG, "b", {}, logical_date="2025-03-01T09:00:00Z")
    assert exc.value.status == 409


def test_client_without_an_answer_has_no_status() -> None:
    with (
        AirflowClient(f"http://127.0.0.1:{free_port()}", username="u", password="p") as client,
        pytest.raises(ExternalServiceError) as exc,
    ):
        client.get_dag(DAG)
    assert exc.value.status is None
    assert "cannot reach" in exc.value.detail
