"""In-memory storage. A real deployment would use MongoDB (see ``config.MongoDBSettings``)."""

from threading import Lock
from typing import Generic, Optional, TypeVar

from pydantic import BaseModel

T = TypeVar("T", bound=BaseModel)


class InMemoryStore(Generic[T]):
    """A thread-safe id -> model map with auto-incrementing integer ids."""

    def __init__(self) -> None:
        self._items: dict[int, T] = {}
        self._next_id = 1
        self._lock = Lock()

    def next_id(self) -> int:
        """Reserve and return the next id."""
        with self._lock:
            value = self._next_id
            self._next_id += 1
            return value

    def put(self, key: int, value: T) -> T:
        """Insert or replace a value."""
        with self._lock:
            self._items[key] = value
        return value

    def get(self, key: int) -> Optional[T]:
        """Value for ``key``, or None."""
        return self._items.get(key)

    def delete(self, key: int) -> bool:
        """Remove ``key``; True when it existed."""
        with self._lock:
            return self._items.pop(key, None) is not None

    def list(self) -> list[T]:
        """All values, ordered by id."""
        return [self._items[k] for k in sorted(self._items)]

    def clear(self) -> None:
        """Remove everything and restart ids at 1."""
        with self._lock:
            self._items.clear()
            self._next_id = 1
