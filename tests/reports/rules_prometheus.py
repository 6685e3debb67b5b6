"""A real Prometheus (tests/integration/promstack.py) that loads a rule file and scrapes only
itself: what drift coverage reads through ``GET /api/v1/rules``. promstack's ``Prometheus``
loads its one alert only with an Alertmanager; this one takes any rule groups, checked by
``promtool check rules`` before it starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.integration.promstack import Prometheus, binary, check_config


class RulesPrometheus(Prometheus):
    def __init__(self, tmp: Path, rules: dict[str, Any]) -> None:
        super().__init__(tmp, "http://127.0.0.1:1", job="self")
        self.exporter_target = f"127.0.0.1:{self.port}"  # itself
        self.rules = rules

    def write_config(self) -> None:
        self.rules_path.write_text(yaml.safe_dump(self.rules, sort_keys=False))
        check_config([binary("promtool"), "check", "rules", str(self.rules_path)])
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(self.rules_path)],
            "scrape_configs": [
                {"job_name": self.job, "static_configs": [{"targets": [self.exporter_target]}]}
            ],
        }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        check_config([binary("promtool"), "check", "config", str(self.config_path)])
