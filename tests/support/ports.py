"""Free loopback ports for the servers the tests start (proxies, fake upstreams, Redis,
Prometheus, CLI subprocesses): the one place the suite asks the OS for a port."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A 127.0.0.1 port nothing listens on now. The OS picks it, and rarely hands it out
    again soon; a server started on it at once gets it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_cluster_port() -> int:
    """A free port whose Redis Cluster bus port (port + 10000, every Redis version's
    default) is free too."""
    while True:
        port = free_port()
        if port + 10_000 > 65_535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
        return port
