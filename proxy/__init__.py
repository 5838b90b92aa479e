"""safety-proxy: a safety-monitoring reverse proxy for OpenAI-compatible chat APIs."""

# The one place the version is written: pyproject.toml reads it from here
# ([tool.setuptools.dynamic]), the CLI, the build_info metric and the traces import it.
__version__ = "0.1.0"
