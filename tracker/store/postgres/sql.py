"""Run the stores' shared SQL (SQLite's spelling) on PostgreSQL.

The shared reads use ``?`` and ``:name`` placeholders and, here and there, SQLite's index
hints. PostgreSQL takes ``$1``, ``$2`` … and has no hints (its planner chooses). Quoted
strings are left alone, so ``':00:00Z'`` stays a string.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from typing import Any

_TOKEN = re.compile(
    r"'(?:[^']|'')*'"  # a string literal: copied as it is
    r"|\?"  # a positional placeholder
    r"|(?<![:\w]):([A-Za-z_]\w*)"  # a named placeholder (not a :: cast)
    r"|\s+NOT INDEXED\b|\s+INDEXED BY \w+"  # SQLite's index hints
)


@lru_cache(maxsize=512)
def _compile(sql: str) -> tuple[str, tuple[int | str, ...]]:
    """PostgreSQL's text of ``sql`` and, per ``$n``, the position or name it takes."""
    order: list[int | str] = []
    named: dict[str, int] = {}
    positional = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal positional
        token = match.group(0)
        if token.startswith("'"):
            return token
        if token == "?":
            order.append(positional)
            positional += 1
            return f"${len(order)}"
        name = match.group(1)
        if name is not None:
            if name not in named:
                order.append(name)
                named[name] = len(order)
            return f"${named[name]}"
        return ""  # an index hint

    return _TOKEN.sub(replace, sql), tuple(order)


def translate(sql: str, params: Any = ()) -> tuple[str, list[Any]]:
    """``sql`` with PostgreSQL's placeholders, and its arguments in their order."""
    text, order = _compile(sql)
    if isinstance(params, dict):
        return text, [params[key] for key in order]
    values = tuple(params)
    return text, [values[key] if isinstance(key, int) else None for key in order]


def plain(row: Any) -> dict[str, Any]:
    """A record as a dict; ``sum()`` of integers (a numeric) back to int."""
    return {k: int(v) if isinstance(v, Decimal) else v for k, v in row.items()}
