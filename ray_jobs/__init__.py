"""Job entrypoints shipped to Ray (training, batch scoring). No imports from ``bot``."""
