"""Did-you-mean for names a user may have misspelt: one helper for every message that offers one.

Only the standard library is imported here, so that any module (the spec checks, the registries,
the runtime's data readers) can use it without pulling in anything else.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: object, choices: Iterable[object]) -> str | None:
    """The choice closest to word (a likely typo of it), or None when none is close.

    Case is ignored ('Digits' finds 'digits'); non-string choices are skipped.
    """
    names = [c for c in choices if isinstance(c, str)]
    if not isinstance(word, str) or not names:
        return None
    folded = {c.lower(): c for c in names}
    if word.lower() in folded:
        return folded[word.lower()]
    bare = {_bare(c): c for c in names}  # MaxPool2d, max-pool2d: max_pool2d
    if _bare(word) in bare:
        return bare[_bare(word)]
    close = difflib.get_close_matches(word.lower(), list(folded), n=1, cutoff=0.6)
    return folded[close[0]] if close else None


def _bare(name: str) -> str:
    """name without case, '_' and '-'."""
    return name.lower().replace("_", "").replace("-", "")


def suggestion(word: object, choices: Iterable[object]) -> str:
    """' (did you mean 'x'?)' for a close choice, else '': to append to a message."""
    guess = did_you_mean(word, choices)
    return f" (did you mean {guess!r}?)" if guess is not None and guess != word else ""
