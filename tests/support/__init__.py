"""The suite's helpers, one module per concept: ``ports`` (free loopback ports),
``serving`` (an aiohttp app on a loopback port), ``redis_server`` (a real redis-server or
Redis Cluster), ``upstream`` (the fake OpenAI-compatible server and the wire-format
builders), ``raw_http`` (a client that sends a path verbatim), ``scripted`` (the scripted
classifier). The fixtures built on them are in tests/conftest.py."""
