"""Running as a fleet: several ``opsbot serve`` replicas on one PostgreSQL, any of which may die.

Every replica serves HTTP. Each kind of background work has one owner at a time: the replica
holding that kind's lock. When it dies its lock goes with its database session, and another
replica takes the work within a second or two.

    replica ──dedicated connection──> PostgreSQL
      │   pg_advisory_lock(replica)        liveness: held for the replica's life
      │   pg_try_advisory_lock(kind)       leadership: outbox, enrich, jobs, summaries, runs
      │   LISTEN/NOTIFY opsbot_wake        "rows were committed": wakes the leader wherever it is
      └── idle_session_timeout + keepalives: a frozen or cut-off replica loses its locks

    coordinator.py  the ``Coordinator`` every replica holds, and the one to use for a database URL
    postgres.py     the PostgreSQL coordinator (advisory locks on a dedicated connection)
    sqlite.py       SQLite: one ``serve`` per file (a file lock), liveness by lock files
    leading.py      runs a background loop only while this replica leads its kind
    drain.py        SIGTERM: not ready, hand over background work, finish requests, exit

Work that a replica does on its own (an action applied after a click, a playbook step) carries
its ``owner``: the ``runs`` leader adopts it only when that replica is dead
(``bot.runner.takeover``).
"""
