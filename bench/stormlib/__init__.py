"""The parts of the alert-storm benchmark; ``bench/storm.py`` is the entry point.

- ``common``: the constants, targets, ``HarnessError`` and ``log``;
- ``payloads``: the storm itself (groups, alerts, Alertmanager v4 deliveries, redeliveries);
- ``load``: the HTTP senders (closed and open loop) and what they record (``PhaseResult``);
- ``observe``: the bot from outside (``/metrics``, the outbox drain, RSS and CPU);
- ``slack_check``: what reached the Slack emulator (roots, replies, lost alerts);
- ``harness``: the run (emulator, database, ``opsbot serve``, the phases);
- ``report``: the verdicts (PASS/SHORT) and the table.

``storm.py`` runs as a script, so ``bench/`` (this package's parent) is on ``sys.path``, and it
puts the repository root there too for ``bot`` and ``tests.support``.
"""
