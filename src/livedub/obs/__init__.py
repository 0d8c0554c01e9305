"""Observability: structured logs, Prometheus metrics, redaction of secrets."""
