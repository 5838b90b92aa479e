"""The demo upstream: a deterministic OpenAI-compatible fake model."""
