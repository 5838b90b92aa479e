"""HTTP route handlers: each reads like a short script of pipeline steps."""
