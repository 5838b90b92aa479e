"""Shared state: the ports the pipeline calls, the store interface, memory and Redis stores,
the abuse gate, the verdict cache, review events, stored client keys."""
