"""Block Kit for opsbot's messages: the incident root and replies (``blocks``), the enrichment
reply (``enrichment``), approval requests and outcomes (``approvals``), Ray job messages
(``jobs``), silences (``silences``: the select, the root's line, the thread's replies) and
paging (``paging``: who is on call, the root's On call field, the Page button). Pure functions of
their inputs: no I/O."""
