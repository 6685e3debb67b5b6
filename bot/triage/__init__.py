"""Triage on @mention: answers a question in an incident thread, reads, never acts.

    @opsbot why is fraud-scorer slow?
        │
    mention.answer_mention ── not an incident thread ──> how to use it (+ a service's changes)
        │
        ├── no LLM, or the LLM fails ──> fallback.fallback_answer: suspects, metrics, buttons
        │
    agent.run_triage (LangGraph)                      tools.py (read-only, each returns
        model ──tool calls──> tools ──results──┐        {status, ..., query}):
          ▲   (≤ 4 rounds, one TokenBudget)    │          incident_timeline  suspects  changes
          └────────────────────────────────────┘          metric (catalog signals only)
        │                                                 deploy_history  job_status
    answer.render_answer                                  propose_playbook (allowlist only)
        text through safe_mrkdwn, tools used, at most one playbook button
        (the root's "Run <playbook>" button: ``start_offered_playbook`` re-checks it, and the
        playbook's steps still ask a person for approval)

Nothing here writes: no tool takes a write path, and nothing imports ``actions/`` or
``bot/runner/``. World text (alerts, timeline, logs, lineage, the question) reaches the model
only redacted, capped and fenced (``bot.text.untrusted.fence``); the model's words reach Slack
only through ``bot.text.slack_safe.safe_mrkdwn``.
"""
