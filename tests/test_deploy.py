"""The container and compose files in deploy/: what they name exists and agrees.

No container engine runs here; the files are read as the engine would read them, and
the compose deployment's nginx site is checked by ``nginx -t``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DEPLOY = ROOT / "deploy"


def test_the_container_file_copies_what_exists_and_runs_tracker_unprivileged() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        *sources, _ = line.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    assert re.search(r"^USER tracker$", text, re.M), "not as root"
    assert 'CMD ["tracker", "serve"]' in text
    assert "/healthz" in text and "STOPSIGNAL SIGTERM" in text


def test_compose_runs_two_nodes_on_postgresql_behind_nginx() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "tracker-a", "tracker-b", "nginx"}
    nginx_ip = services["nginx"]["networks"]["tracker"]["ipv4_address"]
    for name in ("tracker-a", "tracker-b"):
        node = services[name]
        env = node["environment"]
        assert env["TRACKER_DATABASE_URL"].startswith("postgresql://tracker:")
        assert env["TRACKER_DATABASE_URL"].endswith("@postgres:5432/tracker")
        assert env["TRACKER_TRUSTED_PROXIES"] == f"{nginx_ip}/32", "only nginx is believed"
        for shared in ("TRACKER_SECRET_KEYS", "TRACKER_API_KEYS", "TRACKER_FORGET_KEY"):
            assert shared in env, f"{name}: every node needs the same {shared}"
        assert node["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert (DEPLOY / node["build"]["context"] / node["build"]["dockerfile"]).exists()
    for volume in services["nginx"]["volumes"]:
        assert (DEPLOY / volume.split(":")[0]).exists(), volume
    example = (DEPLOY / "compose.env.example").read_text()
    for needed in set(re.findall(r"\$\{(\w+):\?\}", (DEPLOY / "compose.yaml").read_text())):
        assert f"{needed}=" in example, f"{needed} is missing from compose.env.example"


@pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed")
def test_the_compose_nginx_site_passes_nginx_t(tmp_path: Path) -> None:
    site = (DEPLOY / "nginx-compose.conf").read_text()
    # The nodes' names resolve inside compose only: loopback stands in for them here.
    site = site.replace("tracker-a:8080", "127.0.0.1:8081").replace(
        "tracker-b:8080", "127.0.0.1:8082"
    )
    site = site.replace("/srv/tracker/static/", f"{ROOT / 'static'}/")
    (tmp_path / "site.conf").write_text(site)
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events { worker_connections 64; }\n"
        f"http {{ access_log off; client_body_temp_path {tmp_path}; proxy_temp_path {tmp_path};"
        f" fastcgi_temp_path {tmp_path}; uwsgi_temp_path {tmp_path}; scgi_temp_path {tmp_path};"
        f" include {tmp_path}/site.conf; }}\n"
    )
    checked = subprocess.run(
        [NGINX, "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr
