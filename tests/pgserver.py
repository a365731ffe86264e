"""A real PostgreSQL server for the tests, from the system's packages, in a temporary
directory on a loopback port; and a schema per test within it.

``TRACKER_TEST_POSTGRES_URL`` names a server to use instead (a database the tests may
create schemas in). Without either, the PostgreSQL half of the suite is skipped, unless
``TRACKER_TEST_REQUIRE_POSTGRES=1`` (as in CI) makes that an error.
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import asyncpg

from tests.serverproc import free_port
from tracker.store.postgres.sql import plain, translate


def binaries() -> Path | None:
    """The newest installed PostgreSQL's bin directory."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """``initdb`` + ``pg_ctl start`` in a temporary directory; ``stop`` removes it."""

    def __init__(self) -> None:
        bindir = binaries()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="tracker-pg-"))
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        os.chmod(self.dir, 0o755)
        if os.geteuid() == 0:  # initdb refuses root: the server runs as the postgres user
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync")  # fmt: skip
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
            " -c max_connections=200 -c fsync=off"
        )
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-o", options,
                  "-l", str(self.dir / "log"), "-w", "start")  # fmt: skip

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


_schemas = itertools.count(1)


class _Loop(threading.Thread):
    """An event loop of its own on a thread, keeping one connection per URL, so a test
    (whose own loop may be running) reads rows without a connection per query."""

    def __init__(self) -> None:
        super().__init__(name="pg-test", daemon=True)
        self.loop = asyncio.new_event_loop()
        self.conns: dict[str, Any] = {}
        self.start()

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def fetch(self, url: str, sql: str, args: list[Any]) -> list[dict[str, Any]]:
        conn = self.conns.pop(url, None)
        if conn is None or conn.is_closed():
            conn = await asyncpg.connect(url)
        self.conns[url] = conn  # the most recent last; a few are kept
        while len(self.conns) > 4:
            await self.conns.pop(next(iter(self.conns))).close()
        return [plain(row) for row in await conn.fetch(sql, *args)]

    async def forget(self, prefix: str) -> None:
        for url in [u for u in self.conns if u.startswith(prefix)]:
            await self.conns.pop(url).close()


_loop: _Loop | None = None


def _on_loop(coroutine: Any) -> Any:
    global _loop
    if _loop is None:
        _loop = _Loop()
    return asyncio.run_coroutine_threadsafe(coroutine, _loop.loop).result(timeout=120)


def query(url: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Run ``sql`` (SQLite's spelling is translated) on the URL's connection; the rows."""
    text, args = translate(sql, params)
    result: list[dict[str, Any]] = _on_loop(_fetch(url, text, args))
    return result


async def _fetch(url: str, text: str, args: list[Any]) -> list[dict[str, Any]]:
    assert _loop is not None
    return await _loop.fetch(url, text, args)


def new_database(server_url: str) -> str:
    """A fresh database for this session; its URL."""
    name = f"tracker_test_{os.getpid()}"
    query(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    query(server_url, f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    if _loop is not None:
        _on_loop(_loop.forget(url))
    server_url = url.rsplit("/", 1)[0] + "/postgres"
    query(server_url, f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


def new_schema(database_url: str) -> str:
    """A fresh schema of the session's database; the URL that uses it. Schemas are left
    to the database's drop at the end of the session: a test's app may still hold its
    connections when its fixtures are torn down."""
    name = f"t{next(_schemas)}"
    query(database_url, f"CREATE SCHEMA {name}")
    return f"{database_url}?search_path={name}"
