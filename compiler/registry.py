"""One registry type for every family of extensions (layers, activations, initializers, losses,
optimizers, schedules, gradient rules): a duplicate registration is fatal, an unknown name lists
the known ones with a did-you-mean."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from nnc.compiler.names import did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of `add`."""

        def add(item: T) -> T:
            self.add(name, item)
            return item

        return add

    def add(self, name: str, item: T) -> None:
        if name in self._items:
            raise ValueError(f"duplicate {self.kind} registration: {name!r}")
        self._items[name] = item

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            close = did_you_mean(name, self._items)
            hint = f"; did you mean {close!r}?" if close else ""
            known = ", ".join(sorted(self._items))
            raise KeyError(f"unknown {self.kind} {name!r}{hint} Known: {known}") from None

    def get(self, name: str, default: T | None = None) -> T | None:
        return self._items.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._items.items())

    def names(self) -> list[str]:
        return sorted(self._items)

    @contextmanager
    def overridden(self, name: str, item: T) -> Iterator[None]:
        """Temporarily replace an existing entry (for tests that break a rule on purpose)."""
        old = self[name]
        self._items[name] = item
        try:
            yield
        finally:
            self._items[name] = old
