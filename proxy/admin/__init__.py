"""The admin HTTP API (bans, unban, principal state, review events) behind a bearer token."""
