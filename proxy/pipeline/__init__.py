"""The request's steps, as routes/generation.py calls them (routes/body.py reads the body
and the dialect parses it first):

1. ``identify``: who is calling (Identifier.caller); routes/common.py then asks the abuse
   gate (state/ports.py) to admit them;
2. ``input_checks``: the conversation's checks and decision, before it goes upstream
   (``moderation`` runs one direction: ``checks`` with the verdict cache, then
   ``decision``; ``normalize*`` and ``views`` make what a check scores);
3. ``upstream``: the pooled client that forwards the request;
4. ``output_checks`` on a whole answer, or ``stream_relay`` on a stream (``windows``
   cuts it into the windows it checks);
5. ``record``: metrics, the log line and the outcome handed to the abuse gate.

``context`` is the per-request state every step shares.
"""
