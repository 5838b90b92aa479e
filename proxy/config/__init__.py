"""Configuration: the validated schema (with the state layer's sections and the text
recording modes), the loader (file:line errors), snapshots, hot reload."""
