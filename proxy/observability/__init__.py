"""Metrics, structured logs and review events."""
