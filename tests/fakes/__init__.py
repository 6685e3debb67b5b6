"""Protocol-faithful fakes of the services opsbot talks to, for tests and benchmarks.

One sub-package per service, each a real HTTP server on 127.0.0.1 driven by the real client:

    kubernetes/   KubeApiFake      (kubernetes.api)
    slack/        SlackEmulator    (slack.api, Web API + Socket Mode)
    pagerduty/    PagerDutyFake    (pagerduty.api, HTTPS)
    openai/       OpenAIFake       (openai.api)
    airflow/      AirflowApiFake   (airflow.api)

Import from the module: ``from tests.fakes.slack.api import SlackEmulator``.
"""
