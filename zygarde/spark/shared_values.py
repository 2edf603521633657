"""Values a pack's trials share (a preprocessing, the folds, broadcast arrays), made once per key by the
first thread that asks and released when the last of their expected users is done (pack_runner)."""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False
    value: Any = None
    error: BaseException | None = None


class Once:
    """Values made once per key, by the first thread that asks (the others wait for it); an error is
    raised to every thread that asks. A value with unpersist() is released when the last of its
    expected users (`users`: key -> count) releases it."""

    def __init__(self, users: Counter):
        self._lock, self._entries, self._users = threading.Lock(), {}, users

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            entry = self._entries.setdefault(key, _Entry())
        with entry.lock:
            if not entry.done:
                try:
                    entry.value = make()
                except Exception as exc:  # noqa: BLE001 - every user of the key gets it
                    entry.error = exc
                entry.done = True
        if entry.error is not None:
            raise entry.error
        return entry.value

    def release(self, key: Any) -> None:
        with self._lock:
            self._users[key] -= 1
            entry = self._entries.get(key) if self._users[key] <= 0 else None
        if entry is not None and hasattr(entry.value, "unpersist"):
            entry.value.unpersist()
