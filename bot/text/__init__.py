"""Text that crosses a trust boundary: Slack mrkdwn escaping (``mrkdwn``), untrusted text fenced
and redacted before a model reads it (``untrusted``), and model output made safe to post
(``slack_safe``). No I/O, and nothing above the standard library."""
