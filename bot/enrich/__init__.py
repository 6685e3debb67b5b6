"""Enrichment: what changed before an incident, the metrics around it, a chart, ranked suspects."""
