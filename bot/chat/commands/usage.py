"""The ``/ops help`` text: every command, one line each."""

USAGE = """Usage: /ops <command>
  help                      this text
  home                      yours: open incidents, approvals waiting for you, running jobs,
                            the latest summaries, on call (Slack: the App Home tab)
  incidents [open|resolved|all]
                            incidents, newest first (open by default)
  incident <id>             one incident: status, alerts and its timeline
  note [#id] <text>         add a note to an incident's timeline (and its thread)
  summary [#id]             the post-incident summary (posted in the thread; resolved or so far)
  followups [open|mine|all] [#id]
                            follow-ups from `follow-up:` / `todo:` / `action item:` notes,
                            newest first (open by default; mine: open, owned by you)
  followup done <number>    mark a follow-up done (the summary has a Done button for each)
  deploys <service>         recent deploys of a service (code and model versions)
  changes <service> [since] deploys, model versions and data changes, newest first
                            (since: 30m, 6h, 2d, 2w up to 365d, or a time like
                            2026-11-27T03:00Z; default 24h)
  report [30d]              reliability KPIs: incidents, MTTA/MTTR, change failure rate,
                            rollbacks, top alerts (period 24h to 365d; default 30d)
  rollback <service> [to <revision>]   roll the Deployment back (approval per policy)
  scale <service> <replicas>           scale it (through its HPA when one owns it)
  restart <service>                    rolling restart
  rerun <pipeline>                     rerun a data / training pipeline
  playbooks                            the runbook playbooks
  run <playbook> <service> [key=value…]  run one
  approve <token> / reject <token>     decide an approval (Slack has buttons); reject is
                                       for approvers, or the requester (it withdraws it)
  withdraw <token>                     withdraw your own request before it is decided
  ack <incident> / resolve <incident>  here and on its PagerDuty incident
  oncall [service]                     who is on call (PagerDuty), level by level, and the next
                                       hand-over (no service: the incident's, else all paged)
  page [#id] [service] [--urgency low] [message…]
                                       page the service's on-call: open a PagerDuty incident
                                       for the incident (its service by default) and link it
  page [#id] @name|email|service|<policy id>… [message…]
                                       on an incident already on PagerDuty: ask more
                                       responders (no one named: its service's policy)
  declare [--service S] [--severity sev2] [--page] <title…>
                                       open an incident by hand (Slack: no title opens a form)
  severity <sev1…> [#id]               change an incident's severity (PagerDuty urgency too)
  lead <@someone|me> [#id]             name the incident lead
  silence <1h|4h|monday|until <time>> [#id]
                                       silence the incident's alerts in Alertmanager
                                       (its group labels; any length 5m to 7d; monday: next
                                       Monday 09:00 UTC; until 2026-12-08T14:00Z)
  silences [#id]                       active silences opsbot made, with their numbers
  unsilence [<number>|<silence id>|#id]  expire one, or the incident's active ones
  update [#id] <text…>                 a status update: thread, timeline, stakeholders' channel
  train <template> [key=value…]        start a training job on Ray (gpus=1, wait=true, …)
  score <template> [key=value…]        start a batch-scoring job on Ray
  jobs / job <id> / stop <id>          Ray jobs: running and recent, one job, stop one
                                       (--incident N: follow the job in that incident's thread)
  Add --dry-run to any of these to see the plan without changing anything."""
