"""The read the consent check adds to a group of hits, on a large ``consent`` table.

    python -m bench.consent_lookup [--states 1000000]

Fills a SQLite file (tracker's schema) with ``--states`` people's states, then times the
writer's lookup (``SELECT recipient, state FROM consent WHERE recipient IN (…)``) for
groups of 1, 16 and 64 random people: microseconds per lookup and per hit.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from tracker.store.sqlite.schema import migrate

STATES = ("granted", "denied", "unknown")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--states", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "consent.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        migrate(conn)
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO consent VALUES (?, ?, '2026-01-01T00:00:00.000000Z', 'import', NULL)",
            ((f"person-{n:07d}", STATES[n % 3]) for n in range(args.states)),
        )
        conn.execute("COMMIT")
        for group in (1, 16, 64):
            picks = [[f"person-{random.randrange(args.states):07d}" for _ in range(group)]
                     for _ in range(20_000 // group)]  # fmt: skip
            began = time.perf_counter()
            for chunk in picks:
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT recipient, state FROM consent WHERE recipient IN ({marks})"
                conn.execute(sql, chunk).fetchall()
            spent = time.perf_counter() - began
            print(f"group of {group:>2}: {spent / len(picks) * 1e6:6.0f} µs per lookup, "
                  f"{spent / (len(picks) * group) * 1e6:5.1f} µs per hit")  # fmt: skip
        conn.close()


if __name__ == "__main__":
    main()
