"""Classifier families. Each module scores texts; none knows about HTTP or config files.

Use :func:`classifiers.registry.build` to make a classifier from its ``type:`` name.
"""
