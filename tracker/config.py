"""Settings: defaults, then an optional TOML file, then ``TRACKER_*`` environment variables.

Secrets that are not configured are generated once into the data directory (mode 0600)
so that ``tracker serve`` works with no configuration at all.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tracker.consent import parse_overrides

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# The verdict signals (tracker.verdicts), each switchable.
SIGNALS = ("method", "user_agent", "network", "after_send", "proximity", "honeypot")


# The shortest key accepted (generated keys have 43 characters: 256 bits, URL-safe).
MIN_KEY_LENGTH = 32
_KEY_SETTINGS = ("secret_keys", "api_keys", "forget_key", "webhook_secret")


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the key."""


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to run; frozen once loaded."""

    # Directory for the SQLite file and the generated secrets.
    data_dir: Path = Path("tracker-data")
    # Where events are stored; empty means sqlite:///<data_dir>/tracker.db.
    database_url: str = ""
    # Token signing keys, oldest first: the newest (last) signs, all verify.
    secret_keys: tuple[str, ...] = ()
    # Bearer keys accepted on /api/v1 and /ui.
    api_keys: tuple[str, ...] = ()
    # Public origin written into decorated links, without a trailing slash.
    base_url: str = "http://localhost:8080"
    # Peers whose X-Forwarded-For header gives the client address.
    trusted_proxies: tuple[Network, ...] = ()
    host: str = "0.0.0.0"
    port: int = 8080
    # SQLite durability: NORMAL survives a process crash, FULL survives power loss too.
    synchronous: str = "NORMAL"
    # Seconds SIGTERM waits for requests in flight before the writer is flushed.
    shutdown_timeout: float = 5.0
    # "json" for JSON lines, "console" for people, "auto" picks by whether stderr is a tty.
    log_format: str = "auto"
    log_level: str = "info"
    # Most hits one commit holds; more wait for the next group.
    max_group: int = 2048
    # Where a message's IPv4 / IPv6 address is cut: 24 and 48 keep the network only.
    ipv4_prefix: int = 24
    ipv6_prefix: int = 48
    # Where page assets live; empty finds the static/ folder shipped with tracker.
    static_dir: str = ""
    # Endpoints that receive every new event as signed JSON batches.
    webhook_urls: tuple[str, ...] = ()
    # HMAC-SHA256 key of the webhook signature; generated into the data dir when unset.
    webhook_secret: str = ""
    # Events per webhook request, and seconds between looks for new events when idle.
    webhook_batch: int = 100
    webhook_interval: float = 1.0
    # The largest request body accepted (the API's event batches); larger ones get 413.
    max_body: int = 1024 * 1024
    # Bot and machine-open signals in use (see tracker.verdicts); "none" switches all off.
    signals: tuple[str, ...] = SIGNALS
    # A folder of extra or replacing network lists (see tracker.netlists).
    netlists_dir: str = ""
    # A hit this soon after the message's Sent/Delivered is a machine's.
    after_send_seconds: float = 5.0
    # Clicks of one recipient on one delivery this close together are bot (0 to 3).
    proximity_seconds: float = 2.0
    # Clicks this close to a click on the honeypot link of the same message are bot.
    honeypot_seconds: float = 30.0
    # Client addresses before storage: "prefix" keeps the network (ipv4_prefix,
    # ipv6_prefix), "full" stores none at all, "none" keeps the whole address.
    anonymise_ip: str = "prefix"
    # The kill switch: "off" still serves the pixel and redirects, and records no open or
    # click (unsubscribes are always recorded: they are the person's request).
    tracking: str = "on"
    # Campaigns whose hits are counted without a recipient id, address or user agent.
    anonymous_campaigns: tuple[str, ...] = ()
    # Days raw hits (addresses, user agents) are kept; 0 keeps them forever.
    retention_days: int = 400
    # Key of the hash that keeps a forgotten person suppressed; generated when unset.
    forget_key: str = ""
    # Seconds between tracking-workflow runs (consolidation, retention); 0 switches it off.
    workflow_interval: float = 3600.0
    # Events waiting for the workflow that start a run before its schedule (reports read
    # the waiting events one by one, so a busy sender's reports stay quick); 0: never.
    workflow_backlog: int = 50_000
    # How long a write waits for SQLite's lock (another process writing) before failing.
    busy_timeout_ms: int = 5000
    # Seconds a request's head (request line and headers) may take from its first byte.
    header_timeout: float = 5.0
    # Seconds an idle connection is kept open, between requests or before the first.
    keepalive_timeout: float = 15.0
    # CPU seconds one decorate call (API or view in browser) may take before it is refused.
    decorate_seconds: float = 10.0
    # Provider webhooks (tracker.hooks); a provider whose setting is empty answers 404.
    # The SNS topic ARNs whose SES notifications /hooks/ses accepts.
    ses_topics: tuple[str, ...] = ()
    # Hosts (host[:port]) besides sns.<region>.amazonaws.com that may serve SNS signing
    # certificates and subscription confirmations: for tests.
    ses_cert_hosts: tuple[str, ...] = ()
    # SendGrid's Event Webhook verification key: base64 DER, as its console shows it, or PEM.
    sendgrid_public_key: str = ""
    # Mailgun's webhook signing key (HMAC-SHA256 of timestamp and token).
    mailgun_signing_key: str = ""
    # Postmark's webhook credentials, user:password, sent as HTTP basic auth.
    postmark_credentials: str = ""
    # The domain of the VERP return path decorate gives (b-<token>@domain); empty: none.
    bounce_domain: str = ""
    # The SMTP listener that takes bounces for bounce_domain: off while smtp_port is 0.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 0
    # The largest message the listener accepts, like max_body for POST /api/v1/bounces
    # (a message is parsed on the event loop: 1 MiB takes tens of ms): 552 above it.
    smtp_max_size: int = 1024 * 1024
    # Tracking consent (tracker.consent): "off" tracks everyone, "opt_out" all but who
    # denied, "opt_in" only who granted.
    consent: str = "off"
    # Per-campaign policies, CAMPAIGN=off|opt_out|opt_in, overriding ``consent``.
    consent_campaigns: tuple[str, ...] = ()
    # "on": an open or click whose browser sends Sec-GPC: 1 or DNT: 1 is counted without
    # identity, whatever the person's consent state.
    honour_gpc: str = "off"

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file named by ``database_url``."""
        url = self.database_url or f"sqlite:///{self.data_dir / 'tracker.db'}"
        if not url.startswith("sqlite:///"):
            raise ConfigError(f"database_url: not a SQLite URL: {url.split(':', 1)[0]}://…")
        return Path(url.removeprefix("sqlite:///"))


_LIST_KEYS = {
    "secret_keys",
    "api_keys",
    "trusted_proxies",
    "webhook_urls",
    "signals",
    "anonymous_campaigns",
    "ses_topics",
    "ses_cert_hosts",
    "consent_campaigns",
}
_INT_KEYS = {
    "port",
    "max_group",
    "ipv4_prefix",
    "ipv6_prefix",
    "webhook_batch",
    "max_body",
    "retention_days",
    "busy_timeout_ms",
    "workflow_backlog",
    "smtp_port",
    "smtp_max_size",
}
_CHOICES = {
    "anonymise_ip": ("prefix", "full", "none"),
    "tracking": ("on", "off"),
    "consent": ("off", "opt_out", "opt_in"),
    "honour_gpc": ("on", "off"),
    "log_format": ("auto", "json", "console"),
    "log_level": ("debug", "info", "warning", "error", "critical"),
}
# Inclusive bounds of the numbers; None: no upper bound.
_RANGES: dict[str, tuple[float, float | None]] = {
    "port": (0, 65535),
    "smtp_port": (0, 65535),
    "smtp_max_size": (1024, None),
    "max_group": (1, None),
    "webhook_batch": (1, None),
    "max_body": (1, None),
    "busy_timeout_ms": (0, None),
    "workflow_backlog": (0, None),
    "shutdown_timeout": (0, None),
    "after_send_seconds": (0, None),
    "honeypot_seconds": (0, None),
    "workflow_interval": (0, None),
}
_FLOAT_KEYS = {
    "shutdown_timeout",
    "webhook_interval",
    "after_send_seconds",
    "proximity_seconds",
    "honeypot_seconds",
    "workflow_interval",
    "header_timeout",
    "keepalive_timeout",
    "decorate_seconds",
}
_KNOWN = set(Settings.__dataclass_fields__)


def _split(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(part).strip() for part in value if str(part).strip()]
    raise TypeError("expected a list or a comma-separated string")


def _coerce(key: str, value: Any) -> Any:
    try:
        if key in _LIST_KEYS:
            items = _split(value)
            if key == "trusted_proxies":
                return tuple(ipaddress.ip_network(i, strict=False) for i in items)
            if key == "consent_campaigns":
                parse_overrides(items)
            if key == "signals":
                if items == ["none"]:
                    return ()
                unknown = set(items) - set(SIGNALS)
                if unknown:
                    raise ValueError(f"unknown signal {sorted(unknown)[0]!r}")
            return tuple(items)
        if key in _INT_KEYS:
            return int(value)
        if key in _FLOAT_KEYS:
            return float(value)
        if key == "data_dir":
            return Path(str(value))
        if key == "synchronous":
            level = str(value).upper()
            if level not in {"NORMAL", "FULL"}:
                raise ValueError("must be NORMAL or FULL")
            return level
        if key == "base_url":
            return str(value).rstrip("/")
        if key in _CHOICES:
            choice = str(value).lower()
            if choice not in _CHOICES[key]:
                raise ValueError(f"must be one of {', '.join(_CHOICES[key])}")
            return choice
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: {exc}") from None


def load(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Merge defaults, the TOML file at ``path``, ``TRACKER_*`` variables and overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"--config {path}: {exc}") from None
        data = data.get("tracker", data)
        for key, value in data.items():
            if key not in _KNOWN:
                raise ConfigError(f"{key}: unknown setting in {path}")
            values[key] = _coerce(key, value)
    env = os.environ if env is None else env
    for key in _KNOWN:
        raw = env.get(f"TRACKER_{key.upper()}")
        if raw is not None and raw != "":
            values[key] = _coerce(key, raw)
    for key, value in overrides.items():
        if value is not None:
            values[key] = _coerce(key, value)
    settings = Settings(**values)
    for number, url in enumerate(settings.webhook_urls, 1):
        if not url.startswith(("http://", "https://")):
            # Not quoted: a URL may carry credentials, and this line reaches the log.
            raise ConfigError(f"webhook_urls: URL {number} is not an http(s) URL")
    if settings.retention_days < 0:
        raise ConfigError("retention_days: must be 0 (forever) or more")
    if not 0 <= settings.proximity_seconds <= 3:
        raise ConfigError("proximity_seconds: must be between 0 and 3")
    if not 0 < settings.decorate_seconds <= 3600:
        raise ConfigError("decorate_seconds: must be more than 0 and at most 3600")
    if settings.ipv4_prefix not in range(0, 33) or settings.ipv6_prefix not in range(0, 129):
        raise ConfigError("ipv4_prefix/ipv6_prefix: out of range")
    for key in ("header_timeout", "keepalive_timeout"):
        if not 0 < getattr(settings, key) <= 3600:
            raise ConfigError(f"{key}: must be more than 0 and at most 3600 seconds")
    _check_values(settings)
    _check_hooks(settings)
    for name in _KEY_SETTINGS:
        value = getattr(settings, name)
        _check_keys(name, (value,) if isinstance(value, str) else value)
    return settings


_DOMAIN = re.compile(
    r"(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def _check_values(settings: Settings) -> None:
    """Refuse numbers out of range, a base URL that is not http(s), an unknown database."""
    for name, (low, high) in _RANGES.items():
        value = getattr(settings, name)
        if not math.isfinite(value) or value < low or (high is not None and value > high):
            bounds = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
            raise ConfigError(f"{name}: must be {bounds}, not {value}")
    if not settings.webhook_interval > 0 or not math.isfinite(settings.webhook_interval):
        raise ConfigError("webhook_interval: must be more than 0 seconds")
    base = urlsplit(settings.base_url)
    if base.scheme not in ("http", "https") or not base.hostname:
        raise ConfigError(
            f"base_url: must be http(s)://host[:port], not {settings.base_url[:60]!r}"
        )
    if not settings.host:
        raise ConfigError("host: must be an address to listen on (0.0.0.0, 127.0.0.1, ::)")
    if settings.bounce_domain and not _DOMAIN.fullmatch(settings.bounce_domain):
        raise ConfigError(
            f"bounce_domain: must be a domain name (bounces.example.com), "
            f"not {settings.bounce_domain[:60]!r}"
        )
    if settings.smtp_port and not settings.bounce_domain:
        raise ConfigError("smtp_port: the SMTP listener needs bounce_domain (the domain it takes)")
    url = settings.database_url
    if url and not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError(
            "database_url: must be sqlite:///PATH or postgresql://…, "
            f"not {url.split(':', 1)[0][:20]}://…"
        )


def _check_hooks(settings: Settings) -> None:
    """Refuse provider settings that could never verify a webhook (never print a secret)."""
    from tracker.hooks.signatures import load_sendgrid_key

    for topic in settings.ses_topics:
        if not topic.startswith("arn:"):
            raise ConfigError(f"ses_topics: {topic[:80]!r} is not an SNS topic ARN (arn:aws:sns:…)")
    for host in settings.ses_cert_hosts:
        if not _HOST_PORT.match(host):
            raise ConfigError(f"ses_cert_hosts: {host[:80]!r} is not host[:port]")
    if settings.sendgrid_public_key and load_sendgrid_key(settings.sendgrid_public_key) is None:
        raise ConfigError(
            "sendgrid_public_key: not an EC public key (base64 DER as SendGrid shows it, or PEM)"
        )
    user, colon, password = settings.postmark_credentials.partition(":")
    if settings.postmark_credentials and not (user and colon and password):
        raise ConfigError("postmark_credentials: must be user:password")
    if settings.mailgun_signing_key and len(settings.mailgun_signing_key) < 16:
        raise ConfigError("mailgun_signing_key: too short to be Mailgun's webhook signing key")


_HOST_PORT = re.compile(r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$")


def _check_keys(name: str, keys: tuple[str, ...], where: str = "") -> None:
    """Refuse a key anyone could guess: shorter than ``MIN_KEY_LENGTH`` (never print it)."""
    for key in keys:
        if key and len(key) < MIN_KEY_LENGTH:
            raise ConfigError(
                f"{name}: a key{where} is too short ({len(key)} characters); use at least "
                f"{MIN_KEY_LENGTH} characters, e.g. from `openssl rand -base64 32`"
            )


def _read_or_create(path: Path, make: str) -> tuple[str, ...]:
    """Keys kept one per line in ``path``; created with ``make`` (mode 0600) if absent.

    The file appears whole or not at all: it is written to a temporary file and linked
    into place, which fails if another process got there first; then that one's keys
    are read, so processes starting at once all end up with the same keys.
    """
    if not path.exists():
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(make + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process made it first: use its keys
        finally:
            temporary.unlink()
    lines = path.read_text(encoding="utf-8").split()
    return tuple(line for line in lines if line)


def _generated(name: str, path: Path) -> tuple[str, ...]:
    """The keys of setting ``name`` kept in ``path`` (generated if absent), checked."""
    keys = _read_or_create(path, new_key())
    if not keys:
        raise ConfigError(f"{name}: {path} holds no key (delete it to have one generated)")
    _check_keys(name, keys, f" in {path}")
    return keys


def with_generated_secrets(settings: Settings) -> Settings:
    """Fill missing secret and API keys from files in the data directory, creating them."""
    try:
        return _with_generated_secrets(settings)
    except OSError as exc:  # a read-only or missing directory, a full disk: name it
        reason = exc.strerror or str(exc)
        raise ConfigError(f"data_dir: cannot use {settings.data_dir}: {reason}") from None


def _with_generated_secrets(settings: Settings) -> Settings:
    # The data directory holds secrets and personal data: only its owner may read it.
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    changes: dict[str, Any] = {}
    if not settings.secret_keys:
        changes["secret_keys"] = _generated("secret_keys", secret_keys_file(settings))
    if not settings.api_keys:
        changes["api_keys"] = _generated("api_keys", settings.data_dir / "api_key")
    if not settings.forget_key:
        changes["forget_key"] = _generated("forget_key", settings.data_dir / "forget_key")[0]
    if settings.webhook_urls and not settings.webhook_secret:
        secret = _generated("webhook_secret", settings.data_dir / "webhook_secret")
        changes["webhook_secret"] = secret[0]
    return replace(settings, **changes) if changes else settings


def secret_keys_file(settings: Settings) -> Path:
    """The file that holds generated signing keys, oldest first."""
    return settings.data_dir / "secret_keys"


def new_key() -> str:
    """A fresh random key: 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)
