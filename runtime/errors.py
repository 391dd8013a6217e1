"""Failures of a command that are the user's to fix; the CLI maps each to its exit code."""

from __future__ import annotations


class RunError(Exception):
    """A run that cannot go on; the message says why and what to do (exit 1)."""
