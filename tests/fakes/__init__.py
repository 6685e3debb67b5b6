"""Protocol-faithful fakes of the services opsbot talks to, for tests and benchmarks."""

from tests.fakes.slack_api import SlackEmulator

__all__ = ["SlackEmulator"]
