"""A value each process builds from the database and rebuilds when staff change its data.

Used for the screening automaton (the lexicon) and the sector model (staff corrections).
A version number in the shared cache (Redis in production) is the signal: whoever
changes the data calls :meth:`VersionedBuild.bump`, and every process rebuilds its copy
on its next :meth:`VersionedBuild.get`. Reading the version costs one cache lookup.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from django.core.cache import cache

T = TypeVar("T")


class VersionedBuild(Generic[T]):
    def __init__(self, key: str, build: Callable[[], T]) -> None:
        self.key = key
        self._build = build
        self._lock = threading.Lock()
        self._built: tuple[int, T] | None = None

    def get(self) -> T:
        """This process's value, rebuilt (once, under a lock) if the version moved."""
        version = int(cache.get(self.key, 0))
        built = self._built
        if built is not None and built[0] == version:
            return built[1]
        with self._lock:
            if self._built is None or self._built[0] != version:
                self._built = (version, self._build())
            return self._built[1]

    def bump(self) -> None:
        """Tell every process that the underlying data changed."""
        try:
            cache.incr(self.key)
        except ValueError:
            cache.set(self.key, 1, None)

    def reset(self) -> None:
        """Forget this process's copy (tests do, after the database was flushed)."""
        with self._lock:
            self._built = None
