"""deploy/nginx-tracker.conf for real: `nginx -t` accepts it, and nginx in front of two
tracker nodes on loopback passes each client's own address on."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import NEW_KEY, PERSON
from tests.serverproc import ServerProcess, clean_env, free_port, healthz
from tracker.tokens import Click, Message, Tokens

ROOT = Path(__file__).resolve().parents[1]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CLIENT = "127.0.0.2"  # the test's client: not nginx's own address (127.0.0.1)

if not Path(NGINX).exists():
    if os.environ.get("CI"):
        raise RuntimeError("nginx is missing: .ci/run installs Debian's nginx-light")
    pytest.skip("nginx is not installed (apt-get install nginx-light)", allow_module_level=True)


def site(port: int, nodes: list[int]) -> str:
    """The shipped site, listening on ``port`` in front of ``nodes``, static from the repo."""
    text = (ROOT / "deploy" / "nginx-tracker.conf").read_text()
    text = text.replace("listen 80;", f"listen 127.0.0.1:{port};")
    text = text.replace("127.0.0.1:8081", f"127.0.0.1:{nodes[0]}")
    text = text.replace("127.0.0.1:8082", f"127.0.0.1:{nodes[1]}")
    return text.replace("/opt/tracker/share/tracker/static/", f"{ROOT / 'static'}/")


def main_conf(work: Path, port: int, nodes: list[int]) -> Path:
    (work / "site.conf").write_text(site(port, nodes))
    (work / "tmp").mkdir(exist_ok=True)
    conf = work / "nginx.conf"
    conf.write_text(
        f"daemon off;\npid {work}/nginx.pid;\nerror_log {work}/error.log;\n"
        "events { worker_connections 256; }\n"
        f"http {{ access_log off; client_body_temp_path {work}/tmp; proxy_temp_path {work}/tmp;"
        f" fastcgi_temp_path {work}/tmp; uwsgi_temp_path {work}/tmp; scgi_temp_path {work}/tmp;"
        f" include {work}/site.conf; }}\n"
    )
    return conf


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    env = clean_env(
        TRACKER_DATA_DIR=str(tmp_path / "data"),
        TRACKER_SECRET_KEYS=NEW_KEY,
        TRACKER_API_KEYS="api-key-of-at-least-32-characters",
        TRACKER_TRUSTED_PROXIES="127.0.0.1/32",
        TRACKER_ANONYMISE_IP="none",  # whole addresses, to tell the client from nginx
        TRACKER_LOG_FORMAT="json",
    )
    started = [ServerProcess(tmp_path, env, free_port(), name=f"node{i}") for i in (1, 2)]
    for node in started:
        node.start()
    for node in started:
        node.wait_healthy()
    yield started
    for node in started:
        node.stop()


def test_nginx_accepts_the_shipped_site(tmp_path: Path) -> None:
    conf = main_conf(tmp_path, free_port(), [free_port(), free_port()])
    checked = subprocess.run([NGINX, "-t", "-c", str(conf), "-p", str(tmp_path)],
                             capture_output=True, text=True)  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr


def test_hits_through_nginx_carry_the_clients_address(
    tmp_path: Path, nodes: list[ServerProcess]
) -> None:
    port = free_port()
    work = tmp_path / "nginx-work"
    work.mkdir()
    conf = main_conf(work, port, [n.port for n in nodes])
    proxy = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(work)])
    try:
        for _ in range(100):
            if healthz(port) == 200:
                break
            time.sleep(0.05)
        tokens = Tokens([NEW_KEY])

        async def send() -> list[int]:
            connector = aiohttp.TCPConnector(local_addr=(CLIENT, 0), force_close=True)
            async with aiohttp.ClientSession(connector=connector, headers=PERSON) as session:
                statuses = []
                for i in range(40):
                    message = Message("d", f"r{i}", "c", "e")
                    click = tokens.click_token(Click(message, 0, "https://shop.example/"))
                    async with session.get(f"http://127.0.0.1:{port}/c/{click}",
                                           allow_redirects=False) as resp:  # fmt: skip
                        statuses.append(resp.status)
                async with session.get(f"http://127.0.0.1:{port}/static/ui.css") as resp:
                    statuses.append(resp.status)
                return statuses

        statuses = asyncio.run(send())
    finally:
        proxy.send_signal(signal.SIGQUIT)
        proxy.wait(timeout=10)
    assert statuses == [302] * 40 + [200]
    db = sqlite3.connect(tmp_path / "data" / "tracker.db")
    addresses = {ip for (ip,) in db.execute("SELECT ip FROM hits")}
    assert addresses == {CLIENT}, "recorded as the client nginx passed on, not as nginx"
    assert db.execute("SELECT count(*) FROM hits").fetchone()[0] == 40
