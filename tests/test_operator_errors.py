"""An operator's mistake gets one line that names it and exit status 2, never a traceback."""

from __future__ import annotations

import ctypes
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serverproc import HOST, clean_env, free_port

GOOD_KEY = "a-signing-key-of-at-least-32-characters"
# Linux's prctl option and the capabilities that let root write past file modes.
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


def tracker(
    tmp_path: Path, *args: str, run_as: dict[str, Any] | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the real ``tracker`` command (as ``python -m tracker``) in ``tmp_path``.

    A refusal comes at start: a command still running after 30 s was not refused.
    """
    variables = clean_env(TRACKER_DATA_DIR=str(tmp_path / "data"), **env)
    return subprocess.run(
        [sys.executable, "-m", "tracker", *args],
        cwd=tmp_path, env=variables, capture_output=True, text=True, timeout=30,
        **(run_as or {}),
    )  # fmt: skip


def is_log_record(line: str) -> bool:
    """A JSON log line of the server (its "starting" line comes before the store opens)."""
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("level") == "info"


def refused(done: subprocess.CompletedProcess[str], *names: str) -> str:
    """The one stderr line of a refused start, which names each of ``names``."""
    lines = [line for line in done.stderr.splitlines() if line and not is_log_record(line)]
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


def test_keys_rotate_refuses_a_weak_configured_key_in_one_line(tmp_path: Path) -> None:
    refused(tracker(tmp_path, "keys", "rotate", TRACKER_SECRET_KEYS="x"), "secret_keys", "32")


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


def serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    keys = {"TRACKER_SECRET_KEYS": GOOD_KEY, "TRACKER_API_KEYS": GOOD_KEY}
    return tracker(tmp_path, "serve", "--host", HOST, *args, **{**keys, **env})


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = serve(tmp_path, "--port", port)
    line = refused(done, port)
    assert "in use" in line, line


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_a_port_out_of_range_is_refused(tmp_path: Path, port: str) -> None:
    refused(serve(tmp_path, "--port", port), "port", port)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("log_level", "loud"),
        ("log_format", "xml"),
        ("max_group", "-1"),
        ("max_group", "0"),
        ("base_url", "ftp://x"),
        ("base_url", "https://"),
        ("base_url", "t.example.com"),
        ("port", "70000"),
        ("host", ""),
        ("shutdown_timeout", "-1"),
        ("webhook_batch", "0"),
        ("webhook_interval", "0"),
        ("max_body", "0"),
        ("busy_timeout_ms", "-5"),
        ("workflow_interval", "nan"),
        ("workflow_backlog", "-1"),
        ("after_send_seconds", "inf"),
        ("honeypot_seconds", "-3"),
        ("database_url", "mysql://db/tracker"),
        ("bounce_domain", "b-@bounces.example.com"),
        ("bounce_domain", "no spaces.example"),
        ("consent", "opt-in"),
        ("consent_campaigns", "spring=always"),
        ("consent_campaigns", "spring"),
        ("honour_gpc", "yes"),
    ],
)
def test_wrong_values_are_refused_at_start_naming_the_key(
    tmp_path: Path, name: str, value: str
) -> None:
    # Given in a file (an empty variable means "unset"), without --host/--port over it.
    config = tmp_path / "tracker.toml"
    config.write_text(f'{name} = "{value}"\n')
    keys = {"TRACKER_SECRET_KEYS": GOOD_KEY, "TRACKER_API_KEYS": GOOD_KEY}
    in_file = tracker(tmp_path, "serve", "--config", str(config), **keys)
    refused(in_file, name)
    if name not in ("host", "port"):
        port = str(free_port())
        in_env = serve(tmp_path, "--port", port, **{f"TRACKER_{name.upper()}": value})
        refused(in_env, name)


def without_root_override() -> None:
    """In the child, before exec: drop root's power to write where the modes say no."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """A data directory (mode 0555) the tracker process cannot write, and how to run it.

    As root, which writes anywhere, the process runs without that override.
    """
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o555)
    run_as: dict[str, Any] = {"preexec_fn": without_root_override} if os.geteuid() == 0 else {}
    try:
        yield tmp_path, run_as
    finally:
        data.chmod(0o755)


def test_a_read_only_data_directory_is_one_line(
    read_only_dir: tuple[Path, dict[str, Any]],
) -> None:
    top, run_as = read_only_dir
    port = str(free_port())
    # The generated keys cannot be written.
    fresh = tracker(top, "serve", "--host", HOST, "--port", port, run_as=run_as)
    refused(fresh, str(top / "data"))
    # Keys configured: the database cannot be created.
    keys = {"TRACKER_SECRET_KEYS": GOOD_KEY, "TRACKER_API_KEYS": GOOD_KEY,
            "TRACKER_FORGET_KEY": GOOD_KEY}  # fmt: skip
    keyed = tracker(top, "serve", "--host", HOST, "--port", port, run_as=run_as, **keys)
    refused(keyed, str(top / "data" / "tracker.db"))
    # The commands that open the store say the same.
    exported = tracker(top, "export", run_as=run_as, **keys)
    refused(exported, str(top / "data" / "tracker.db"))
    rotated = tracker(top, "keys", "rotate", run_as=run_as)
    refused(rotated, str(top / "data"))


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"TRACKER_SENDGRID_PUBLIC_KEY": "bm90IGEga2V5"}, "sendgrid_public_key"),
        ({"TRACKER_POSTMARK_CREDENTIALS": "only-a-user"}, "postmark_credentials"),
        ({"TRACKER_SES_TOPICS": "MyTopic"}, "ses_topics"),
        ({"TRACKER_SES_CERT_HOSTS": "https://localhost/"}, "ses_cert_hosts"),
        ({"TRACKER_MAILGUN_SIGNING_KEY": "key-abc123"}, "mailgun_signing_key"),
    ],
)  # fmt: skip
def test_provider_settings_that_cannot_verify_are_refused(
    tmp_path: Path, env: dict[str, str], name: str
) -> None:
    done = serve(tmp_path, "--port", str(free_port()), **env)
    line = refused(done, name)
    if name in ("mailgun_signing_key", "postmark_credentials"):
        assert next(iter(env.values())) not in line, "secrets are never printed"
