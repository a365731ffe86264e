"""An operator's mistake gets one line that names it and exit status 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.serverproc import HOST, clean_env, free_port

GOOD_KEY = "a-signing-key-of-at-least-32-characters"


def tracker(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``tracker`` command (as ``python -m tracker``) in ``tmp_path``."""
    variables = clean_env(TRACKER_DATA_DIR=str(tmp_path / "data"), **env)
    return subprocess.run(
        [sys.executable, "-m", "tracker", *args],
        cwd=tmp_path, env=variables, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def refused(done: subprocess.CompletedProcess[str], *names: str) -> str:
    """The one stderr line of a refused start, which names each of ``names``."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"TRACKER_SECRET_KEYS": "x"}, "secret_keys"),
        ({"TRACKER_SECRET_KEYS": f"{GOOD_KEY},short"}, "secret_keys"),
        ({"TRACKER_API_KEYS": "abc"}, "api_keys"),
        ({"TRACKER_FORGET_KEY": "forget"}, "forget_key"),
        ({"TRACKER_WEBHOOK_URLS": "http://127.0.0.1:9/", "TRACKER_WEBHOOK_SECRET": "s"},
         "webhook_secret"),
    ],
)  # fmt: skip
def test_weak_keys_are_refused_naming_the_setting(
    tmp_path: Path, env: dict[str, str], name: str
) -> None:
    port = str(free_port())
    done = tracker(tmp_path, "serve", "--host", HOST, "--port", port, **env)
    line = refused(done, name, "32")
    assert GOOD_KEY not in line, "keys are never printed"


def test_a_weak_key_in_the_generated_key_file_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret_keys").write_text("short\n")
    done = tracker(tmp_path, "serve", "--host", HOST, "--port", str(free_port()))
    refused(done, "secret_keys", str(data / "secret_keys"))


def test_keys_of_32_characters_are_accepted(tmp_path: Path) -> None:
    key = "k" * 32
    done = tracker(tmp_path, "db", "migrate", TRACKER_SECRET_KEYS=key, TRACKER_API_KEYS=key)
    assert done.returncode == 0, done.stderr
