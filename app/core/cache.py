"""A result cache bounded by memory, least recently used first out (Qt-free).

Fused results are kept per (pair, scaling, task, device, method) so that going back to a pair shows its
results at once. Each holds the image, its luminance and P's four maps: about 470 MB for a 12-megapixel
pair with a model and a comparison. Unbounded, a session over a folder of photographs grew without limit;
here the least recently used results are dropped once the total passes ``max_bytes`` (default 1 GiB,
``$REFUSION_CACHE_MB`` changes it). The results on screen are held by the workspace, not only here, so
dropping them from the cache never blanks a panel; it only means a later visit fuses again.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Callable, Hashable

DEFAULT_MAX_BYTES = 1 << 30


def max_bytes_from_env() -> int:
    """``$REFUSION_CACHE_MB`` in bytes, or the default for a missing or bad value (never an error)."""
    try:
        mb = float(os.environ["REFUSION_CACHE_MB"])
        return int(mb * (1 << 20)) if mb >= 0 else DEFAULT_MAX_BYTES
    except (KeyError, ValueError):
        return DEFAULT_MAX_BYTES


def result_bytes(result) -> int:  # noqa: ANN001 - app.core.results.Result
    """The memory a result holds: image, luminance and maps."""
    return int(result.image.nbytes + result.y.nbytes + sum(m.nbytes for m in (result.maps or {}).values()))


class ResultCache:
    """A mapping with a memory bound: ``put`` evicts the least recently used entries beyond ``max_bytes``
    (an entry larger than the bound alone is not kept); ``get`` counts as a use."""

    def __init__(self, max_bytes: int | None = None, size: Callable[[object], int] = result_bytes):
        self.max_bytes = max_bytes_from_env() if max_bytes is None else max_bytes
        self._size = size
        self._items: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def get(self, key: Hashable):  # noqa: ANN201
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: Hashable, value: object) -> None:
        self.pop(key)
        n = self._size(value)
        if n > self.max_bytes:
            return
        self._items[key] = (value, n)
        self.nbytes += n
        while self.nbytes > self.max_bytes:
            _, (_, old) = self._items.popitem(last=False)
            self.nbytes -= old

    def keys(self) -> list[Hashable]:
        return list(self._items)

    def pop(self, key: Hashable) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self.nbytes -= item[1]

    def drop(self, which: Callable[[Hashable], bool]) -> None:
        """Remove every entry whose key ``which`` accepts."""
        for key in [k for k in self._items if which(k)]:
            self.pop(key)
