"""What opsbot tells Prometheus about the work it holds, read from the database at scrape time.

    GET /metrics ─> StateReader.refresh()   one bounded read (a thread, a deadline, one in flight)
                        │ ok: a WorkState        timeout / error / busy: counted, gauges left out
                        v
                    WorkStateCollector       renders the last read as gauges, then the job
                                             tracker's lag where this replica leads "jobs"

work_state.py   the cheap, indexed queries: open incidents, outbox, runs, approvals, jobs
collector.py    the prometheus_client Collector that renders them
reader.py       the bounded read, and ``opsbot_ready``

These gauges are the same on every replica of a fleet: alert rules and panels take their max.
"""
