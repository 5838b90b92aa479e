"""Shared state: the store interface, memory and Redis stores, the abuse gate, the verdict cache."""
