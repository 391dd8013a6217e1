"""Failures of a command that are the user's to fix; the CLI maps each to its exit code."""

from __future__ import annotations


class RunError(Exception):
    """A run that cannot go on; the message says why and what to do (exit 1)."""


class RunInUse(RunError):
    """Another process holds the run directory's lock."""


class UsageError(Exception):
    """A command line that cannot work as given (exit 2)."""
