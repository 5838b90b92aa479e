"""Configuration: the validated schema, the loader (file:line errors), snapshots, hot reload."""
