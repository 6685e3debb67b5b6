"""A fake PagerDuty REST API v2 over HTTPS (incidents, notes, outgoing v3 webhooks), driven by the
official ``pagerduty`` client (``bot/clients/pagerduty.py``).

``api.py`` holds ``PagerDutyFake``, the server; its docstring lists the other modules.
"""
