"""The server's memory of recent results, so a colormap or opacity change can re-draw without the network."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict


import camdemo


class RecentResults:
    """The most recent explanations, by key, so a colormap or opacity change can re-blend without the network.

    Bounded by the bytes of their arrays (a 1280-pixel photo's result holds about 11 MB), not by a
    count, so a classroom of small images keeps many and a few huge ones cannot fill the memory.
    """

    def __init__(self, max_bytes: int = 256 * 2**20):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[camdemo.Explanation, int, str]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def size_of(explanation: camdemo.Explanation) -> int:
        """The bytes of the result's arrays (image, heatmap, overlay, ...)."""
        return explanation.nbytes  # its pictures counted before they are drawn (on first read)

    def put(self, explanation: camdemo.Explanation, file_name: str = "image") -> str:
        """Keep ``explanation`` (of the uploaded file ``file_name``, which names its downloads); returns its key."""
        key, size = uuid.uuid4().hex, self.size_of(explanation)
        with self._lock:
            self._items[key] = (explanation, size, file_name)
            self._bytes += size
            while len(self._items) > 1 and self._bytes > self.max_bytes:
                _, (_, dropped, _) = self._items.popitem(last=False)
                self._bytes -= dropped
        return key

    def get(self, key: str | None) -> camdemo.Explanation | None:
        """The result kept under ``key``, or None if there is none (any more)."""
        if not key:
            return None
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)  # a result someone is still restyling stays
            return item[0] if item else None

    def file_name(self, key: str | None) -> str:
        """The name of the file a kept result explains ("image" if unknown)."""
        with self._lock:
            item = self._items.get(key) if key else None
            return item[2] if item else "image"

    def __len__(self) -> int:
        return len(self._items)

    @property
    def total_bytes(self) -> int:
        return self._bytes


recent_results = RecentResults()
