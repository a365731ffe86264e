"""Processes started at once on a fresh data directory come up together, with one set of keys."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.serverproc import ServerProcess, clean_env, free_port
from tracker.config import Settings
from tracker.tokens import Tokens

ROUNDS, PROCESSES, STEP = 40, 4, 0.4
# Each process runs the real command line once per round, on that round's fresh data
# directory; every process enters round r at the same instant (start + r * STEP, after
# its imports), so that their first steps collide as when CI starts several at once.
AT_ONCE = """
import os, sys, time, traceback
from tracker.cli import main
start, rounds, step, data = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
for r in range(rounds):
    time.sleep(max(0.0, start + r * step - time.time()))
    os.environ["TRACKER_DATA_DIR"] = f"{data}/round-{r}"
    print(f"=== round {r}", flush=True)
    try:
        main(sys.argv[5:], prog_name="tracker", standalone_mode=False)
    except BaseException:
        print(f"round {r}:", traceback.format_exc(), file=sys.stderr, flush=True)
"""
CLICK = re.compile(r"/c/([A-Za-z0-9_.\-]+)")
pytestmark = pytest.mark.process


def test_processes_starting_at_once_on_a_fresh_directory_share_one_set_of_keys(
    settings: Settings, tmp_path: Path
) -> None:
    template = tmp_path / "email.html"
    template.write_text('<html><body><a href="https://example.com/a">A</a></body></html>')
    # SQLite: a fresh file each round. PostgreSQL: a fresh schema in the first round.
    env = clean_env(TRACKER_DATABASE_URL=settings.database_url)
    at = time.time() + 2.0
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                AT_ONCE,
                str(at),
                str(ROUNDS),
                str(STEP),
                str(tmp_path),
                "decorate",
                str(template),
                "--delivery",
                "d",
                "--campaign",
                "c",
                "--email",
                "e",
                "--recipient",
                f"r{i}",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(PROCESSES)
    ]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0 and err == "", err[:3000]

    rounds = [out.split("=== round ")[1:] for out, _ in outputs]
    for round_ in range(ROUNDS):
        data = tmp_path / f"round-{round_}"
        # No half-made or temporary key file is left beside the keys and the database.
        files = sorted(p.name for p in data.iterdir() if not p.name.startswith("tracker.db"))
        assert files == ["api_key", "forget_key", "secret_keys"], f"round {round_}: {files}"
        for name in ("api_key", "forget_key", "secret_keys"):
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
            assert len((data / name).read_text().split()) == 1, name
        tokens = Tokens((data / "secret_keys").read_text().split())
        for i in range(PROCESSES):
            # Every process signed with the one key in the file: it used the same keys.
            click = tokens.read_click(CLICK.findall(rounds[i][round_])[0])
            assert click.message.recipient == f"r{i}"


def test_a_server_that_fails_its_start_check_is_not_left_running(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, clean_env(TRACKER_DATA_DIR=str(tmp_path / "d")), free_port())
    server.start()
    try:
        with pytest.raises(AssertionError, match="not healthy"):
            server.wait_healthy(timeout=0.0)  # fails at once, while the server starts
        assert server.proc is not None and server.proc.poll() is not None, "still running"
    finally:
        server.stop()
