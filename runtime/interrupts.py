"""Ctrl-C during training as a request: the loop stops at the next step boundary, with a
consistent interrupted checkpoint, and the finishing writes are never cut in half."""

from __future__ import annotations

import signal
import threading


class ForcedInterrupt(KeyboardInterrupt):
    """A second Ctrl-C: stop at once, wherever the program is."""

    def __init__(self) -> None:
        super().__init__(
            "interrupted again: stopped at once, without writing an interrupted checkpoint"
        )


class DeferredInterrupt:
    """While active, SIGINT sets `requested` instead of raising; a second SIGINT raises
    ForcedInterrupt at once (for a step that takes too long). Outside the main thread, where no
    signal handler can be installed, it does nothing."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None
        self._installed = False

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise ForcedInterrupt
        self.requested = True
