"""Ctrl-C (SIGINT) and SIGTERM during training as a request: the loop stops at the next step
boundary, with a consistent interrupted checkpoint, and the finishing writes are never cut in
half. A second signal stops at once, except while the interrupted checkpoint itself is being
saved: that save is finished first (else the run would end with no checkpoint at all)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ForcedInterrupt(KeyboardInterrupt):
    """A second Ctrl-C: stop at once, wherever the program is."""

    def __init__(self) -> None:
        super().__init__(
            "interrupted again: stopped at once, without writing an interrupted checkpoint"
        )


class DeferredInterrupt:
    """While active, SIGINT or SIGTERM sets `requested` (and `signal_name`) instead of raising; a
    second one raises ForcedInterrupt at once (for a step that takes too long), unless inside
    `shielded()`. Outside the main thread, where no signal handler can be installed, it does
    nothing."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""
        self.again = False  # a further signal arrived while shielded
        self._shielded = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}

    @contextlib.contextmanager
    def shielded(self) -> Iterator[None]:
        """Further signals are noted (`again`), not raised, until the block ends."""
        self._shielded = True
        try:
            yield
        finally:
            self._shielded = False

    def _handle(self, signum, frame) -> None:
        if self.requested:
            if self._shielded:
                self.again = True
                return
            raise ForcedInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name
