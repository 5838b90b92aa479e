"""The OpenAI wire protocol: request and response views, the error envelope, SSE."""
