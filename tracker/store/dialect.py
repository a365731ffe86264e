"""What a store operation needs of a database: a transaction to run SQL in, and its dialect.

Every write (``tracker.store.operations``) is written once, in SQLite's spelling of SQL
(``?`` placeholders, index hints), against ``Tx``. A dialect spells the few things the
two databases say differently: a list of values to match (``IN (?, …)`` or ``= ANY(?)``),
many rows at once (``executemany`` or one ``unnest`` of arrays), ``min``/``max`` of two
values (``least``/``greatest``). The PostgreSQL driver translates the placeholders and
drops the hints (``tracker.store.postgres.sql``).

The SQLite driver's methods are coroutines that never wait: its writer thread runs an
operation to its end with ``run_now``, so the same code is synchronous there.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

from tracker.events import Hit

if TYPE_CHECKING:
    from tracker.store.recent import RecentClicks

T = TypeVar("T")

# PostgreSQL's type of each column that is not ``text`` (the arrays ``unnest`` takes).
PG_TYPES = {"id": "bigint", "hit_id": "bigint", "link": "integer"}


@dataclass(frozen=True)
class Dialect:
    """How a database spells what differs between SQLite and PostgreSQL."""

    name: str
    least: str  # the smaller of two values: min(a, b) or least(a, b)
    greatest: str
    arrays: bool  # lists bind as one array (= ANY, unnest) rather than one value each
    chunk: int  # values in one IN list (SQLite's bound parameters are limited)
    # The columns a sending system's event id is unique within: SQLite's schema keys the
    # id alone; PostgreSQL's keys hold the recipient, as every key of a table about people
    # does there (so a distributing engine can enforce them per shard).
    event_key: tuple[str, ...]
    # What a row holds for NULL in the columns an insert names ``nullable``: SQLite binds
    # None through its adapter lookup (0.2 µs a value), an empty blob at once, and
    # ``nullif(?, x'')`` makes it NULL again; no text or number equals a blob.
    null: Any = field(default=None, compare=False)

    def chunks(self, values: Sequence[T]) -> Iterator[Sequence[T]]:
        """``values`` in pieces of at most ``chunk``."""
        for start in range(0, len(values), self.chunk):
            yield values[start : start + self.chunk]

    def rows(self, types: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
        """A table of ``rows`` to select from (columns of PostgreSQL ``types``):
        ``VALUES (?, …), …`` or one ``unnest`` of arrays."""
        if self.arrays:
            arrays = ", ".join(f"?::{t}[]" for t in types)
            return f"SELECT * FROM unnest({arrays})", columns(rows, len(types))
        one = f"({','.join('?' * len(types))})"
        return f"VALUES {', '.join([one] * len(rows))}", [v for row in rows for v in row]

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """A condition that ``column`` is one of ``values`` (at most ``chunk`` of them)."""
        if self.arrays:
            return f"{column} = ANY(?)", [list(values)]
        return f"{column} IN ({','.join('?' * len(values))})", list(values)


SQLITE = Dialect(
    "sqlite", "min", "max", arrays=False, chunk=500, event_key=("event_id",), null=bytearray()
)
POSTGRES = Dialect(
    "postgres", "least", "greatest", arrays=True, chunk=1 << 62, event_key=("recipient", "event_id")
)


@lru_cache(maxsize=64)
def insert_sql(
    dialect: Dialect,
    table: str,
    fields: tuple[str, ...],
    tail: str = "",
    nullable: tuple[str, ...] = (),
) -> str:
    """An INSERT of rows with ``fields``: one per ``executemany`` item, or one array per
    field (``unnest``). Those of ``nullable`` may hold ``dialect.null`` for NULL."""
    names = ", ".join(fields)
    if dialect.arrays:
        source = f"SELECT * FROM unnest({_arrays(fields)})"
    else:
        values = ("nullif(?, x'')" if f in nullable else "?" for f in fields)
        source = f"VALUES ({','.join(values)})"
    return f"INSERT INTO {table} ({names}) {source} {tail}".rstrip()


@lru_cache(maxsize=64)
def update_sql(
    dialect: Dialect, table: str, fields: tuple[str, ...], keys: tuple[str, ...], where: str = ""
) -> str:
    """An UPDATE of rows with ``fields``, each found by ``keys`` (and ``where``, if given)."""
    also = f" AND {where}" if where else ""
    if dialect.arrays:
        sets = ", ".join(f"{f} = u.{f}" for f in fields if f not in keys)
        match = " AND ".join(f"{table}.{k} = u.{k}" for k in keys)
        names = ", ".join(fields)
        return (
            f"UPDATE {table} SET {sets} FROM unnest({_arrays(fields)}) AS u({names})"
            f" WHERE {match}{also}"
        )
    sets = ", ".join(f"{f} = :{f}" for f in fields if f not in keys)
    match = " AND ".join(f"{k} = :{k}" for k in keys)
    return f"UPDATE {table} SET {sets} WHERE {match}{also}"


def _arrays(fields: Sequence[str]) -> str:
    """``?::bigint[], ?::text[], …``: one typed array parameter per field."""
    return ", ".join(f"?::{PG_TYPES.get(f, 'text')}[]" for f in fields)


def columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows as one list per column (the arrays ``unnest`` takes)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


class Tx(Protocol):
    """An open write transaction; SQL in SQLite's spelling (see the module docstring)."""

    dialect: Dialect
    # The writer's recent clicks of busy pairs (tracker.store.recent), where it keeps them.
    recent: RecentClicks | None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; how many rows it changed."""

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """Run one query; its rows, as tuples in the SELECT's order."""

    async def fetchval(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row (None if there is none)."""

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement per row of ``rows``."""

    async def insert(
        self, table: str, rows: Sequence[NamedTuple], tail: str = "", nullable: tuple[str, ...] = ()
    ) -> int:
        """Insert ``rows`` (named tuples whose fields are columns); ``tail`` follows the
        statement (``ON CONFLICT DO NOTHING``); the fields of ``nullable`` may hold
        ``dialect.null`` for NULL. How many rows were inserted."""

    async def update(
        self, table: str, rows: Sequence[NamedTuple], keys: tuple[str, ...], where: str = ""
    ) -> None:
        """Set each row's other fields where its ``keys`` match (and ``where`` holds)."""

    # What differs by backend beyond spelling (tracker/store/README.md lists why).

    async def hit_ids(self, count: int) -> list[int]:
        """Ids for ``count`` new hits, in commit order."""

    async def prepare_hits(self, hits: Sequence[Hit]) -> None:
        """Make room for ``hits`` (PostgreSQL: their months' partitions)."""

    async def serialize(self, name: str) -> None:
        """Hold the lock named ``name`` until the transaction ends, across nodes."""

    async def drop_hits_before(self, before: str) -> int:
        """Drop whole stretches of raw hits older than ``before`` at once; how many."""


def run_now(operation: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never waits (the SQLite driver's operations)."""
    try:
        operation.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    operation.close()
    raise RuntimeError("an operation on the synchronous driver waited")
