"""The package version: one place, read by cnnvis.__version__, pyproject.toml and run.json."""

__version__ = "0.1.0"
