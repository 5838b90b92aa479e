"""``runtime: remote``: a ``type: detoxify`` or ``type: transformers`` check scored by an Open
Inference Protocol server (KServe v2 REST: MLServer, KServe, Triton) instead of in-process.

A light package: options.py (pydantic and the standard library) is read by the config
loader; protocol.py (sans-IO wire format), gather.py (micro-batching of concurrent calls) and
client.py (aiohttp) are what the proxy runs; mlserver_runtime.py is the server side, an
MLServer runtime, and the only module that imports mlserver (nothing imports it: MLServer
loads it by name from model-settings.json).
"""
