"""The App Home tab: one person's incidents, approvals, jobs, summaries and on-call, kept current.

    facts.py     store → HomeFacts for one user (read_world once, facts_for each viewer); the
         │       approvals through the executor's own approver check
         ├── bot/render/home.py   HomeFacts → the ``home`` view (Block Kit), or text lines
    viewers.py   the ``home_view`` rows: who opened the tab, the hash last published to them
    refresh.py   Homes: publish on opening and after a click on the tab; the ``homes`` loop
                 (one leader) republishes changed homes, at most 40 a minute

Slack in: ``bot/chat/slack/home.py`` (``app_home_opened``); the tab's buttons are the approval
and job messages' own, decided by their listeners (``bot/chat/slack/buttons.py``). The console:
``/ops home`` prints the same sections (``bot/chat/commands/home.py``).
"""
