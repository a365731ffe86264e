"""A bounded LRU cache of rendered pages (the "view in browser" copies)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

# Pages kept, and characters kept in all, per server process.
MAX_PAGES = 1024
MAX_CHARS = 32 * 1024 * 1024


class RenderCache:
    """Least recently used pages first out, past ``max_pages`` or ``max_chars``."""

    def __init__(self, max_pages: int = MAX_PAGES, max_chars: int = MAX_CHARS) -> None:
        self.max_pages, self.max_chars = max_pages, max_chars
        self.chars = 0
        self._pages: OrderedDict[Hashable, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, key: Hashable) -> str | None:
        page = self._pages.get(key)
        if page is not None:
            self._pages.move_to_end(key)
        return page

    def put(self, key: Hashable, page: str) -> None:
        if len(page) > self.max_chars:
            return
        old = self._pages.pop(key, None)
        self.chars -= len(old) if old is not None else 0
        self._pages[key] = page
        self.chars += len(page)
        while len(self._pages) > self.max_pages or self.chars > self.max_chars:
            _, dropped = self._pages.popitem(last=False)
            self.chars -= len(dropped)
