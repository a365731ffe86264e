"""A private Postfix instance for the tests: its own configuration, queue and ports.

Started with ``postfix -c DIR start`` from Debian's package, as root (the master must
start as root to drop privileges to ``mail_owner``). Nothing of the system's Postfix is
read or changed: every directory is in ``root``, smtpd listens on one loopback port, and
mail is injected over SMTP (``sendmail`` would need ``postdrop``, which refuses a
configuration directory that the system's main.cf does not list).
"""

from __future__ import annotations

import os
import pwd
import shutil
import smtplib
import subprocess
import tempfile
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"

# Each service runs unchained (no chroot: the queue holds no copies of /etc) and unprivileged
# where Postfix allows it; the columns are master.cf(5)'s.
MASTER_CF = """\
{listen} inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


def unavailable() -> str | None:
    """Why a private Postfix cannot run here, or None when it can."""
    if not Path(POSTFIX).is_file():
        return "Postfix is not installed (Debian package 'postfix'; .ci/run installs it)"
    if os.geteuid() != 0:
        return "a Postfix instance must be started as root"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "the system has no 'postfix' user (the Debian package creates it)"
    return None


@dataclass
class Postfix:
    """One running private instance."""

    root: Path
    port: int

    @property
    def config(self) -> Path:
        return self.root / "etc"

    def send(self, sender: str, recipient: str, message: EmailMessage) -> None:
        """Inject ``message`` over SMTP with this envelope."""
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as client:
            client.send_message(message, from_addr=sender, to_addrs=[recipient])

    def log(self) -> str:
        """The instance's mail log so far (for failure messages)."""
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def postconf(self, *args: str) -> str:
        done = subprocess.run(
            ["postconf", "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def stop(self) -> None:
        subprocess.run([POSTFIX, "-c", str(self.config), "stop"], capture_output=True, timeout=60)


def new_root() -> Path:
    """A directory for one instance that Postfix's unprivileged daemons can reach (pytest's
    own temporary directories are private to root); the caller removes it."""
    root = Path(tempfile.mkdtemp(prefix="tracker-postfix-"))
    root.chmod(0o755)
    return root


def start(root: Path, port: int, main_cf: dict[str, str], maps: dict[str, str]) -> Postfix:
    """Write the configuration (``main_cf`` on top of the base) and ``maps`` into ``root``."""
    etc, queue, data = root / "etc", root / "queue", root / "data"
    for folder in (etc, queue, data):
        folder.mkdir(parents=True)
    owner = pwd.getpwnam("postfix")
    os.chown(data, owner.pw_uid, owner.pw_gid)
    for name, text in maps.items():
        (etc / name).write_text(text)
    settings = {
        "compatibility_level": "3.6",
        "config_directory": str(etc),
        "queue_directory": str(queue),
        "data_directory": str(data),
        "meta_directory": "/etc/postfix",
        "mail_owner": "postfix",
        "setgid_group": "postdrop",
        "maillog_file": str(root / "maillog"),
        "maillog_file_prefixes": str(root),
        "inet_interfaces": "127.0.0.1",
        "inet_protocols": "ipv4",
        "mynetworks": "127.0.0.0/8",
        "smtpd_relay_restrictions": "permit_mynetworks, reject",
        "myhostname": "mail.example.test",
        "mydomain": "example.test",
        "myorigin": "$myhostname",
        "alias_maps": "",
        "alias_database": "",
        "smtputf8_enable": "no",
        "smtp_tls_security_level": "none",
        "smtpd_tls_security_level": "none",
        "biff": "no",
        "smtp_dns_support_level": "disabled",
        # Retry what is deferred soon (the listener may answer 4xx once).
        "queue_run_delay": "2s",
        "minimal_backoff_time": "2s",
        "maximal_backoff_time": "4s",
        **main_cf,
    }
    (etc / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
    (etc / "master.cf").write_text(MASTER_CF.format(listen=f"127.0.0.1:{port}"))
    done = subprocess.run(
        [POSTFIX, "-c", str(etc), "start"], capture_output=True, text=True, timeout=120
    )
    postfix = Postfix(root, port)
    if done.returncode != 0:
        raise RuntimeError(f"postfix start failed: {done.stderr}\n{postfix.log()}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=5):
                return postfix
        except OSError:
            time.sleep(0.1)
    postfix.stop()
    raise RuntimeError(f"postfix did not listen on 127.0.0.1:{port}\n{postfix.log()}")
