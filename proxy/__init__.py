"""safety-proxy: a safety-monitoring reverse proxy for OpenAI-compatible chat APIs."""

__version__ = "0.1.0"
