"""What changed: deploy events from CI/CD (code and model versions), later lineage and K8s."""
