"""The dashboard's sessions and failed logins, in the store so every worker and node sees
them: a session is a row (the SHA-256 of its id, the fingerprint of the key that made it,
its expiry), ended by deleting the row; a failed login is a row per anonymised client."""

from __future__ import annotations

from typing import Any

from tracker.store.base import SessionChange, SqlValue


class SessionRecords:
    """Session and failed-login reads and writes; mixed into each store."""

    async def _write(self, unit: Any) -> None:
        raise NotImplementedError

    async def _rows(self, sql: str, params: Any) -> list[Any]:
        raise NotImplementedError

    async def _change(self, *statements: tuple[str, tuple[SqlValue, ...]]) -> None:
        await self._write(SessionChange(statements))

    async def start_session(self, digest: str, key_print: str, expires: int, client: str) -> None:
        await self._change(
            ("INSERT INTO ui_sessions (digest, key_print, expires) VALUES (?,?,?)",
             (digest, key_print, expires)),
            ("DELETE FROM ui_login_failures WHERE client = ?", (client,)),
        )  # fmt: skip

    async def session(self, digest: str) -> tuple[str, int] | None:
        rows = await self._rows(
            "SELECT key_print, expires FROM ui_sessions WHERE digest = ?", (digest,)
        )
        return (str(rows[0]["key_print"]), int(rows[0]["expires"])) if rows else None

    async def end_session(self, digest: str) -> None:
        await self._change(("DELETE FROM ui_sessions WHERE digest = ?", (digest,)))

    async def end_sessions_except(self, key_prints: list[str], now: int) -> None:
        marks = ",".join("?" * len(key_prints)) or "NULL"
        await self._change(
            (f"DELETE FROM ui_sessions WHERE key_print NOT IN ({marks})", tuple(key_prints)),
            ("DELETE FROM ui_sessions WHERE expires <= ?", (now,)),
        )

    async def login_failed(self, client: str, at: int, window: int) -> None:
        await self._change(
            ("INSERT INTO ui_login_failures (client, at) VALUES (?,?)", (client, at)),
            ("DELETE FROM ui_login_failures WHERE at <= ?", (at - window,)),
        )

    async def login_failures(self, client: str, since: int) -> tuple[int, int | None]:
        rows = await self._rows(
            "SELECT count(*) AS n, min(at) AS oldest FROM ui_login_failures"
            " WHERE client = ? AND at > ?",
            (client, since),
        )
        oldest = rows[0]["oldest"]
        return int(rows[0]["n"]), None if oldest is None else int(oldest)
