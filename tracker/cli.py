"""The ``tracker`` command line: serve, decorate, keys."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import click
import structlog

from tracker import logs
from tracker.config import (
    ConfigError,
    Settings,
    load,
    new_key,
    secret_keys_file,
    with_generated_secrets,
)
from tracker.eventtypes import FIGURES
from tracker.filemodes import private_umask

if TYPE_CHECKING:
    from tracker.store.base import Store

F = TypeVar("F", bound=Callable[..., Any])
log = structlog.get_logger("tracker")


def config_option(func: F) -> F:
    """``--config FILE``: a TOML file with the same keys as the TRACKER_* variables."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="TOML file of settings (environment variables override it).",
    )(func)


class OperatorError(click.ClickException):
    """An operator's mistake: one line that names it (no traceback), exit status 2."""

    exit_code = 2


def settings_from(config_path: Path | None, **overrides: Any) -> Settings:
    """Load settings, turning a bad value into a clear command-line error."""
    try:
        return with_generated_secrets(load(config_path, **overrides))
    except ConfigError as exc:
        raise OperatorError(f"configuration: {exc}") from None


def with_store(settings: Settings, use: Callable[[Any], Any]) -> Any:
    """Open the store of ``settings``, await ``use(store)``, close it; ``use``'s result."""
    from tracker.store import open_store

    async def run() -> Any:
        store = open_store(settings)
        try:
            await store.open()
        except (OSError, sqlite3.Error) as exc:  # a read-only directory, a full disk
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            where = _describe_database(settings)
            raise OperatorError(f"cannot open the database {where}: {reason}") from None
        try:
            return await use(store)
        finally:
            await store.close()

    return asyncio.run(run())


@click.group()
@click.version_option(package_name="tracker")
@click.pass_context
def main(ctx: click.Context) -> None:
    """tracker: tracking pixel and redirect server for email marketing."""
    # Databases, backups, exports and keys hold tracking data or secrets: 0600 whatever
    # the shell's umask (restored when the command ends, for callers in-process).
    before = private_umask()
    ctx.call_on_close(lambda: os.umask(before))
    # Log lines go to stderr for every command (structlog's default is stdout, where
    # `export` and `report --json` write their output); `serve` configures them again
    # from its settings.
    logs.configure(
        os.environ.get("TRACKER_LOG_FORMAT", "auto"), os.environ.get("TRACKER_LOG_LEVEL", "info")
    )


@main.command()
@config_option
@click.option("--host", default=None, help="Address to listen on (default 0.0.0.0).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8080).")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Server processes sharing the port (SO_REUSEPORT).",
)
@click.option("--reuse-port", is_flag=True, help="Share the port with other processes.")
def serve(
    config_path: Path | None,
    host: str | None,
    port: int | None,
    workers: int,
    reuse_port: bool,
) -> None:
    """Start the server; with no configuration it keeps its data in ./tracker-data."""
    from tracker.app import create_app

    settings = settings_from(config_path, host=host, port=port)
    logs.configure(settings.log_format, settings.log_level)
    if workers > 1:
        from tracker.workers import Supervisor, worker_command

        # The secrets exist now (settings_from made them), so every worker reads the same.
        log.info("starting workers", workers=workers, port=settings.port)
        sys.exit(Supervisor(worker_command(sys.argv[1:]), workers).run())
    log.info(
        "starting",
        data_dir=str(settings.data_dir.resolve()),
        database=_describe_database(settings),
        secret_keys_file=str(secret_keys_file(settings).resolve()),
        api_key_file=str((settings.data_dir / "api_key").resolve()),
        base_url=settings.base_url,
    )
    from tracker import serving
    from tracker.store.base import UnknownSchema

    app = create_app(settings)
    serving.prepare(app)
    try:
        serving.run(
            app,
            new_event_loop(),
            settings.host,
            settings.port,
            settings.shutdown_timeout,
            reuse_port,
            lambda: log.info("listening", host=settings.host, port=settings.port),
            serving.Deadlines(settings.header_timeout, settings.keepalive_timeout),
        )
    except UnknownSchema as exc:  # a newer tracker wrote this database: refuse, plainly
        log.error("refusing to start", error=str(exc))
        raise click.ClickException(str(exc)) from None
    except serving.StoreFailed as exc:
        where = _describe_database(settings)
        raise OperatorError(f"cannot open the database {where}: {exc}") from None
    except serving.ListenFailed as exc:
        raise OperatorError(str(exc)) from None
    log.info("stopped")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop when it is installed (it is a dependency on CPython/Unix)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _describe_database(settings: Settings) -> str:
    url = settings.database_url
    if not url or url.startswith("sqlite:"):
        return str(settings.sqlite_path.resolve())
    parts = urlsplit(url)  # never the credentials, nor the query
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


@main.command()
@config_option
@click.argument("template", type=click.File("r", encoding="utf-8"))
@click.option("--delivery", required=True, help="Delivery id (one mailing).")
@click.option("--campaign", required=True, help="Campaign id.")
@click.option("--email", "email_id", required=True, help="Email (template) id.")
@click.option("--recipient", required=True, help="Recipient id.")
@click.option("--json", "as_json", is_flag=True, help="Print {html, headers} as JSON.")
@click.option("--track-opens/--no-track-opens", default=True, help="Insert the open pixel.")
@click.option("--track-clicks/--no-track-clicks", default=True, help="Rewrite links.")
def decorate(
    config_path: Path | None,
    template: IO[str],
    delivery: str,
    campaign: str,
    email_id: str,
    recipient: str,
    as_json: bool,
    track_opens: bool,
    track_clicks: bool,
) -> None:
    """Print TEMPLATE with tracked links, the pixel and an unsubscribe link.

    Also registers the delivery's numbered links for reports, and TEMPLATE as RECIPIENT's
    copy for their "view in browser" link.
    """
    from tracker import decorate as decorating
    from tracker.consent import Policy, campaign_policy, untracked_positions
    from tracker.store.base import DeliveryTemplate
    from tracker.tokens import Message, Tokens

    settings = settings_from(config_path)
    html = template.read()
    message = Message(delivery, recipient, campaign, email_id)
    policy = campaign_policy(settings.consent, settings.consent_campaigns, campaign)
    states = (
        with_store(settings, lambda store: store.consent_states([recipient]))
        if policy is not Policy.OFF
        else {}
    )
    try:
        result = decorating.decorate_many(
            html,
            [message],
            Tokens(settings.secret_keys),
            settings.base_url,
            track_opens=track_opens,
            track_clicks=track_clicks,
            honeypot="honeypot" in settings.signals,
            untracked=untracked_positions(policy, states, [recipient]),
            preferences=policy is not Policy.OFF,
        )[0]
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    registration = DeliveryTemplate(
        delivery,
        campaign,
        email_id,
        html,
        result.links,
        track_opens,
        track_clicks,
        recipients=(recipient,),
        untracked=() if result.tracked else (recipient,),
    )

    with_store(settings, lambda store: store.register_delivery(registration))
    if as_json:
        click.echo(json.dumps(decorating.answer(result, settings.bounce_domain), indent=2))
    else:
        click.echo(result.html, nl=False)


@main.command()
@config_option
@click.argument("message_file", type=click.File("rb"))
@click.option(
    "--post/--no-post",
    default=False,
    help="Also POST a real one-click unsubscribe to the message's URL: it unsubscribes the "
    "message's recipient (use a seed address). Default: off.",
)
@click.option("--cafile", default=None, help="Trust this CA bundle for the POST (staging).")
def check(
    config_path: Path | None, message_file: IO[bytes], post: bool, cafile: str | None
) -> None:
    """Pre-flight check of MESSAGE_FILE (.eml): RFC 8058 headers, DKIM, links, pixel.

    Changes nothing unless --post is given.
    """
    from tracker.check import check_message
    from tracker.tokens import Tokens

    settings = settings_from(config_path)
    tokens = Tokens(settings.secret_keys)
    results = check_message(message_file.read(), tokens, post=post, cafile=cafile)
    for result in results:
        click.echo(f"{'PASS' if result.ok else 'FAIL'}  {result.name}: {result.detail}")
    if not post:
        click.echo(
            "SKIP  one-click POST: not sent (--post sends it and unsubscribes the recipient)"
        )
    if not all(result.ok for result in results):
        sys.exit(1)


@main.group()
def keys() -> None:
    """Manage token signing keys."""


@keys.command()
@config_option
def rotate(config_path: Path | None) -> None:
    """Add a new signing key: it signs from the next start on; older keys still verify."""
    try:
        configured = load(config_path)
    except ConfigError as exc:
        raise OperatorError(f"configuration: {exc}") from None
    key = new_key()
    if configured.secret_keys:
        click.echo(
            "Signing keys come from TRACKER_SECRET_KEYS or --config, which tracker does not "
            "edit. Append this key (newest last) and restart every node:\n" + key
        )
        return
    try:
        settings = with_generated_secrets(configured)
    except ConfigError as exc:
        raise OperatorError(f"configuration: {exc}") from None
    path = secret_keys_file(settings)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(key + "\n")
    count = len(path.read_text(encoding="utf-8").split())
    click.echo(
        f"Added a signing key to {path} ({count} keys). Restart the server to sign with it; "
        "links signed with the older keys keep working."
    )


@main.command()
@config_option
@click.option(
    "--since",
    default=None,
    help="Only hits from this time on (ISO 8601, e.g. 2026-11-01 or 2026-11-01T08:00Z).",
)
def rescore(config_path: Path | None, since: str | None) -> None:
    """Judge stored hits again with today's signals and network lists; reports follow."""
    from tracker.events import iso

    settings = settings_from(config_path)
    start = "0000"
    if since is not None:
        try:
            moment = datetime.fromisoformat(since)
        except ValueError:
            raise click.BadParameter("not an ISO 8601 date or time", param_hint="--since") from None
        start = iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))

    judged, changed = with_store(settings, lambda store: store.rescore(start))
    click.echo(f"Judged {judged} hits again; {changed} verdicts changed.")


@main.command()
@config_option
@click.argument("recipient")
def forget(config_path: Path | None, recipient: str) -> None:
    """Erase RECIPIENT's hits and events; an unsubscribed or bounced person stays so."""

    settings = settings_from(config_path)

    hits, events = with_store(settings, lambda store: store.forget(recipient))
    click.echo(f"Forgot {recipient}: {hits} hits and {events} events deleted.")


@main.group()
def workflow() -> None:
    """The tracking workflow (consolidation into report tables, retention)."""


@workflow.command("run")
@config_option
def workflow_run(config_path: Path | None) -> None:
    """Run the tracking workflow once, now (beside a running server too)."""
    from tracker.app import utc_now
    from tracker.workflow import Workflow, WorkflowFailed

    settings = settings_from(config_path)

    try:
        unit = with_store(settings, lambda store: Workflow(store, settings, utc_now).run())
    except WorkflowFailed as exc:
        raise click.ClickException(f"the run failed and is recorded: {exc}") from None
    click.echo(
        f"Workflow run: {unit.rows_read} events read, {unit.rows_written} report rows"
        f" written, {unit.expired} expired hits deleted; watermark {unit.watermark}."
    )


@main.group()
def report() -> None:
    """Reports as readable tables (or JSON)."""


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain text table: a header, a rule, one line per row."""
    cells = [[str(c) for c in columns]] + [
        ["" if row.get(c) is None else str(row.get(c)) for c in columns] for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
             for line in cells]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


BOTS_OPTION = click.option(
    "--bots",
    type=click.Choice(["exclude", "include", "only"]),
    default="exclude",
    help="Machine traffic: left out (default), counted too, or alone.",
)


@report.command("delivery")
@config_option
@click.argument("delivery")
@BOTS_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def report_delivery(config_path: Path | None, delivery: str, bots: str, as_json: bool) -> None:
    """DELIVERY's statistics and its links' clicks."""
    from tracker.routes.replies import BOTS

    traffic = BOTS[bots]

    async def read(store: Any) -> dict[str, Any] | None:
        if not await store.delivery_known(delivery):
            return None
        return {
            "stats": await store.delivery_stats(delivery, traffic),
            "urls": await store.delivery_urls(delivery, traffic),
        }

    found = with_store(settings_from(config_path), read)
    if found is None:
        click.echo(
            f"Error: no delivery {delivery!r}: nothing was sent, decorated or tracked for it",
            err=True,
        )
        sys.exit(2)
    if as_json:
        click.echo(json.dumps({"delivery": delivery, **found}, indent=2))
        return
    stats = found["stats"]
    lines = [{"figure": k, "value": stats[k]} for _, k in FIGURES]
    lines += [{"figure": f"{k} rate", "value": v} for k, v in stats["rates"].items()]
    lines += [{"figure": k.replace("_", " "), "value": v} for k, v in stats["bots"].items()]
    lines += [{"figure": "first activity", "value": stats["first_activity"]},
              {"figure": "last activity", "value": stats["last_activity"]}]  # fmt: skip
    click.echo(f"Delivery {delivery} ({bots} bots)\n")
    click.echo(_table(lines, ["figure", "value"]))
    click.echo("\n" + _table(found["urls"], ["link", "clicks", "unique_clickers", "share", "url"]))


@report.command("recipient")
@config_option
@click.argument("recipient")
@BOTS_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def report_recipient(config_path: Path | None, recipient: str, bots: str, as_json: bool) -> None:
    """RECIPIENT's activity log, oldest first."""
    from tracker.routes.replies import BOTS

    async def read(store: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = await store.recipient_tracking(
            recipient, None, False, 10_000, BOTS[bots]
        )
        return items

    items = with_store(settings_from(config_path), read)
    if as_json:
        click.echo(json.dumps({"recipient": recipient, "items": items}, indent=2))
        return
    click.echo(f"Recipient {recipient} ({bots} bots)\n")
    click.echo(_table(items, ["at", "type", "delivery", "link", "verdict", "url"]))


EXPORT_COLUMNS = ["cursor", "id", "type", "at", "delivery", "recipient", "campaign", "email",
                  "message", "link", "url", "category", "reason", "status", "cause", "flag",
                  "verdict", "state"]  # fmt: skip


@main.command()
@config_option
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="jsonl")
@click.option("--after", type=int, default=0, help="Resume after this cursor.")
@click.option("--type", "event_type", default=None, help="Only events of this type.")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-")
def export(
    config_path: Path | None, fmt: str, after: int, event_type: str | None, output: IO[str]
) -> None:
    """Write the activity log in commit order, as CSV or JSON lines (each with its cursor)."""
    import csv

    from tracker.store.maintenance import event_pages

    writer = csv.DictWriter(output, EXPORT_COLUMNS, extrasaction="ignore") if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()

    async def read(store: Store) -> int:
        written = 0
        async for page in event_pages(store, after, event_type):
            for item in page:
                if writer is not None:
                    writer.writerow(item)
                else:
                    output.write(json.dumps(item) + "\n")
            written += len(page)
        return written

    count = with_store(settings_from(config_path), read)
    click.echo(f"{count} events exported.", err=True)


@main.group()
def db() -> None:
    """The database's schema."""


@db.command("migrate")
@config_option
def db_migrate(config_path: Path | None) -> None:
    """Bring the database to this tracker's schema (the server also does it at start)."""
    from tracker.store.base import UnknownSchema
    from tracker.store.maintenance import migrate

    settings = settings_from(config_path)
    postgres = settings.database_url.startswith(("postgresql:", "postgres:"))
    where = _describe_database(settings) if postgres else str(settings.sqlite_path)
    try:
        before, now = asyncio.run(migrate(settings))
    except UnknownSchema as exc:
        raise click.ClickException(str(exc)) from None
    if before == now:
        click.echo(f"{where}: schema version {now}, nothing to do.")
    else:
        click.echo(f"{where}: schema version {before} -> {now}.")


@db.command("backup")
@config_option
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
def db_backup(config_path: Path | None, target: Path) -> None:
    """Copy the SQLite database to TARGET while the server runs (SQLite's online backup)."""
    from tracker.store.maintenance import backup

    settings = settings_from(config_path)
    if settings.database_url.startswith(("postgresql:", "postgres:")):
        raise click.ClickException(
            "the store is PostgreSQL: back it up with pg_dump (see deploy/backup.md)"
        )
    if target.exists():
        raise click.ClickException(f"{target} exists: give a new file")
    check = backup(settings.sqlite_path, target)
    if check != "ok":
        raise click.ClickException(f"the copy failed its integrity check: {check}")
    click.echo(f"Backed up {settings.sqlite_path} to {target} (integrity check ok).")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
