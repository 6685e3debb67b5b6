"""Block Kit for opsbot's messages: the incident root and replies (``blocks``), the enrichment
reply (``enrichment``), approval requests and outcomes (``approvals``) and Ray job messages
(``jobs``). Pure functions of their inputs: no I/O."""
