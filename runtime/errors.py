"""Failures of a command that are the user's to fix; the CLI maps each to its exit code."""

from __future__ import annotations

# the exit codes of the nnc command (runtime/cli.py has the table that maps failures to them)
EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_CHECK, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class RunError(Exception):
    """A run that cannot go on; the message says why and what to do (exit 1)."""


class RunInUse(RunError):
    """Another process holds the run directory's lock."""


class UsageError(Exception):
    """A command line that cannot work as given (exit 2)."""
