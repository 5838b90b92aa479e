"""The suite's redis-server helper itself (tests/support/redis_server.py): a port taken
between choosing it and binding it (by any outgoing connection's local port) must not fail
the tests that need the server, and a restart must keep the port its clients know."""

from __future__ import annotations

import socket

import pytest

from tests.support.redis_server import RedisServer


@pytest.mark.parametrize("cluster", [False, True])
def test_a_first_start_on_a_taken_port_moves_to_a_free_one(tmp_path, cluster):
    server = RedisServer(tmp_path, cluster=cluster)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", server.port))  # bound, not listening: a client's port
        taken = server.port
        server.start()
        try:
            assert server.port != taken and server.client().ping()
            server.kill()
            server.start()  # a restart: the same port
            assert server.client().ping()
        finally:
            server.kill()


def test_a_restart_on_a_taken_port_fails_and_says_why(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    server.kill()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", server.port))  # bound, not listening: a client's port
        with pytest.raises(RuntimeError, match=f"did not start on port {server.port}"):
            server.start()
