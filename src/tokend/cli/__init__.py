"""The ``tokend`` command line. Every command reads the same Settings."""

from tokend.cli.main import app, main

__all__ = ["app", "main"]
