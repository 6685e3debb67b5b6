"""Protocol-faithful fakes of the services opsbot talks to, for tests and benchmarks.

One sub-package per service, each a real HTTP server on 127.0.0.1 driven by the real client:

    kubernetes/   KubeApiFake      (kubernetes.api)
    slack/        SlackEmulator    (slack.api, Web API + Socket Mode)
    pagerduty/    PagerDutyFake    (pagerduty.api, HTTPS)
    openai/       OpenAIFake       (openai.api)
    airflow/      AirflowApiFake   (airflow.api)

``server.py`` (``ThreadedServer``, ``drain``) runs an aiohttp app on 127.0.0.1 in a daemon thread
with its own loop: the Slack, Kubernetes, PagerDuty and OpenAI fakes are built on it.
Import from the module: ``from tests.fakes.slack.api import SlackEmulator``.
"""
