"""Metrics (all of them, in metrics.py), the logging set-up and tracing. Review events are
the state layer's (state/events.py)."""
