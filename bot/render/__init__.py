"""Block Kit for opsbot's messages: the incident root and replies (``blocks``), the enrichment
reply (``enrichment``), approval requests and outcomes (``approvals``), Ray job messages
(``jobs``) and silences (``silences``: the select, the root's line, the thread's replies).
Pure functions of their inputs: no I/O."""
