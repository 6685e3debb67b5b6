"""OpenLineage run events in, per-dataset changes out.

schema.py    the RunEvent as producers send it (required fields checked, facets read leniently)
store.py     record an event: dedupe, merge it into its run, compute the changes of a finished run
diff.py      pure: what changed in a dataset between two runs (schema, row count, version)
queries.py   what enrichment and commands read: ``data_changes``, ``upstream_of``, ``recent_runs``
freshness.py when each dataset last succeeded, what its job did since, what it reads
"""
