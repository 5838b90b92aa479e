"""The wire APIs, sans-IO: one dialect per API (chat, responses, completions, messages,
embeddings, moderations), error envelopes, the blocked shapes, the SSE codec."""
