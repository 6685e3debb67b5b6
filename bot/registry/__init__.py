"""The MLflow Model Registry as a change source.

    MLflow webhook ──> POST /webhooks/mlflow (bot/web/registry_routes.py: signature, size, JSON)
                          │
                          v
                       intake.py   a delivery → a Change; the inbox row (deduped on the
                          │        delivery id) and the change, in one transaction
    MLflow REST API       v
    (no webhooks) ──> poller.py ─> store.py   record a Change once (unique dedupe key), with
                                      │       the alias and tag state it moves: MLflow sends
                                      │       only an alias's new holder, opsbot keeps the old
                                      v
                                   queries.py   registry_changes(): ChangeEvent(kind="model",
                                                source="registry") for enrichment and
                                                /ops changes, in words ("alias champion of
                                                fraud-model moved 7 → 8")

The tables are in ``bot/store/registry_models.py``; the REST adapter is
``bot/clients/mlflow_registry.py``; the delivery's schema and signature are
``bot/intake/mlflow_schema.py``.
"""
