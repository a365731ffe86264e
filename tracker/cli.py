"""The ``tracker`` command line: serve, decorate, keys."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, TypeVar
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
from tracker.events import EventType
from tracker.eventtypes import FIGURES
from tracker.filemodes import private_umask
from tracker.progress import Progress, duration

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


class Command(click.Command):
    """A command whose line in its group's help is its whole first line, not cut at 45."""

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.short_help or (self.help or "").strip().split("\n", 1)[0]


class Group(click.Group):
    command_class = Command
    group_class = type  # subgroups are Groups too

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.short_help or (self.help or "").strip().split("\n", 1)[0]


def summary(as_json: bool, text: str, **fields: Any) -> None:
    """A command's last word: a sentence, or with ``--json`` one JSON object."""
    click.echo(json.dumps(fields) if as_json else text)


def interrupted(progress: Progress | None, next_step: str) -> NoReturn:
    """Ctrl-C between chunks: say how far the command got and how to go on; exit 130."""
    done = ""
    if progress is not None and progress.begun:
        done = f" after {progress.so_far()} in {duration(progress.seconds)}"
    click.echo(f"\nInterrupted{done}. {next_step}", err=True)
    sys.exit(130)


@click.group(cls=Group, context_settings={"show_default": True, "max_content_width": 100})
@click.version_option(package_name="tracker")
@click.pass_context
def main(ctx: click.Context) -> None:
    """tracker: tracking pixel and redirect server for email marketing.

    Shell completion: eval "$(_TRACKER_COMPLETE=bash_source tracker)" (zsh_source, fish_source).
    """
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
    """Start the server; with no configuration it keeps its data in ./tracker-data.

    \b
    Example: tracker serve --port 8080 --workers 2
    """
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
@click.option("--json", "as_json", is_flag=True, help="Print {html, headers, metadata} as JSON.")
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

    \b
    Example: tracker decorate email.html --delivery spring-1 --campaign spring
             --email sale-v3 --recipient subscriber-4711 --json
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

    \b
    Example: tracker check message.eml
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
    """Add a new signing key: it signs from the next start on; older keys still verify.

    \b
    Example: tracker keys rotate
    """
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
@click.option("--json", "as_json", is_flag=True, help="No bar; the summary as one JSON object.")
def rescore(config_path: Path | None, since: str | None, as_json: bool) -> None:
    """Judge stored hits again with today's signals and network lists; reports follow.

    \b
    Example: tracker rescore --since 2026-11-01
    """
    from tracker.events import iso

    settings = settings_from(config_path)
    start = "0000"
    if since is not None:
        try:
            moment = datetime.fromisoformat(since)
        except ValueError:
            raise click.BadParameter("not an ISO 8601 date or time", param_hint="--since") from None
        start = iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))

    progress = Progress("Rescoring", "hits", as_json=as_json)

    async def run(store: Store) -> tuple[int, int]:
        with progress.begin(await store.count_judged_hits(start)):
            return await store.rescore(start, progress.advance)

    try:
        judged, changed = with_store(settings, run)
    except KeyboardInterrupt:
        interrupted(progress, "What was judged is kept; running it again"
                    " judges every hit again from the start (harmless).")  # fmt: skip
    took = progress.seconds
    summary(
        as_json,
        f"Judged {judged:,} hits again in {duration(took)}; {changed:,} verdicts changed.",
        judged=judged,
        changed=changed,
        seconds=round(took, 3),
    )


@main.command()
@config_option
@click.argument("recipient")
@click.option("--json", "as_json", is_flag=True, help="No bar; the summary as one JSON object.")
def forget(config_path: Path | None, recipient: str, as_json: bool) -> None:
    """Erase RECIPIENT's hits and events; an unsubscribed or bounced person stays so.

    \b
    Example: tracker forget subscriber-4711
    """

    settings = settings_from(config_path)

    started = time.monotonic()
    try:
        hits, events = with_store(settings, lambda store: store.forget(recipient))
    except KeyboardInterrupt:
        interrupted(None, "Forgetting is one transaction: nothing or all of it is done;"
                    " run it again to be sure.")  # fmt: skip
    seconds = time.monotonic() - started
    took = duration(seconds)
    text = f"Forgot {recipient}: {hits:,} hits and {events:,} events deleted in {took}."
    if hits == events == 0:
        text = f"Nothing stored names {recipient!r}: nothing deleted ({took})."
    summary(as_json, text, recipient=recipient, hits=hits, events=events,
            seconds=round(seconds, 3))  # fmt: skip


@main.group()
def workflow() -> None:
    """The tracking workflow (consolidation into report tables, retention)."""


@workflow.command("run")
@config_option
@click.option("--json", "as_json", is_flag=True, help="No bar; the summary as one JSON object.")
def workflow_run(config_path: Path | None, as_json: bool) -> None:
    """Run the tracking workflow once, now (beside a running server too).

    \b
    Example: tracker workflow run
    """
    from tracker.app import utc_now
    from tracker.store.units import WorkflowRun
    from tracker.workflow import Workflow, WorkflowFailed

    settings = settings_from(config_path)

    progress = Progress("Consolidating", "events", as_json=as_json)

    async def run(store: Store) -> WorkflowRun:
        with progress.begin(await store.workflow_backlog()):
            return await Workflow(store, settings, utc_now).run(progress.advance)

    try:
        unit = with_store(settings, run)
    except WorkflowFailed as exc:
        raise click.ClickException(
            f"the run failed and is recorded: {exc}; run it again once the database is back"
        ) from None
    except KeyboardInterrupt:
        interrupted(progress, "Each chunk is committed with the watermark:"
                    " running it again continues where this one stopped.")  # fmt: skip
    took = progress.seconds
    summary(
        as_json,
        f"Workflow run in {duration(took)}: {unit.rows_read:,} events read,"
        f" {unit.rows_written:,} report rows written, {unit.expired:,} expired hits deleted;"
        f" watermark {unit.watermark}.",
        events_read=unit.rows_read,
        report_rows_written=unit.rows_written,
        expired_hits_deleted=unit.expired,
        watermark=unit.watermark,
        seconds=round(took, 3),
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


def percent(rate: float | None) -> str:
    """``67.6 %`` (rates are fractions in the store and in JSON); ``-`` when undefined."""
    return "-" if rate is None else f"{rate * 100:.1f} %"


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
    """DELIVERY's statistics and its links' clicks.

    \b
    Example: tracker report delivery spring-sale-1 --bots include
    """
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
    lines += [{"figure": "tracked sent", "value": stats["tracked_sent"]},
              {"figure": "tracked delivered", "value": stats["tracked_delivered"]}]  # fmt: skip
    lines += [{"figure": f"{k.replace('_', ' ')} rate", "value": percent(v)}
              for k, v in stats["rates"].items()]  # fmt: skip
    lines += [{"figure": f"consent {k}", "value": v} for k, v in stats["consent"].items()]
    lines += [{"figure": k.replace("_", " "), "value": v} for k, v in stats["bots"].items()]
    lines += [{"figure": f"hard bounced {k}", "value": v}
              for k, v in stats["hard_bounced_by_category"].items()]  # fmt: skip
    lines += [{"figure": "complaints", "value": stats["complaints"]}]
    lines += [{"figure": "first activity", "value": stats["first_activity"]},
              {"figure": "last activity", "value": stats["last_activity"]}]  # fmt: skip
    click.echo(f"Delivery {delivery} ({bots} bots)\n")
    click.echo(_table(lines, ["figure", "value"]))
    urls = [{**u, "share": percent(u.get("share"))} for u in found["urls"]]
    click.echo("\n" + _table(urls, ["link", "clicks", "unique_clickers", "share", "url"]))


@report.command("recipient")
@config_option
@click.argument("recipient")
@BOTS_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def report_recipient(config_path: Path | None, recipient: str, bots: str, as_json: bool) -> None:
    """RECIPIENT's activity log, oldest first.

    \b
    Example: tracker report recipient subscriber-4711 --json
    """
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


EVENT_TYPES = [t.value for t in EventType]
EMPTY_AS_NULL = ("campaign", "email")  # stored as '' when the sender gave none


@main.command()
@config_option
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="jsonl",
              help="JSON lines or CSV with a header.")  # fmt: skip
@click.option("--after", type=click.IntRange(min=0), default=0, help="Resume after this cursor.")
@click.option("--type", "event_type", type=click.Choice(EVENT_TYPES), default=None,
              help="Only events of this type.")  # fmt: skip
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-",
              help="Where to write (- is standard output).")  # fmt: skip
def export(
    config_path: Path | None, fmt: str, after: int, event_type: str | None, output: IO[str]
) -> None:
    """Write the activity log in commit order, as CSV or JSON lines (each with its cursor).

    \b
    Example: tracker export --type clicked --format csv -o clicks.csv
    """
    import csv

    from tracker.store.maintenance import event_pages

    writer = csv.DictWriter(output, EXPORT_COLUMNS, extrasaction="ignore") if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    progress = Progress("Exporting", "events")
    last = [after]

    async def read(store: Store) -> int:
        with progress.begin(await store.count_events_after(after, event_type)):
            async for page in event_pages(store, after, event_type):
                for item in page:
                    for key in EMPTY_AS_NULL:
                        if item.get(key) == "":
                            item[key] = None
                    if writer is not None:
                        writer.writerow(item)
                    else:
                        output.write(json.dumps(item) + "\n")
                output.flush()
                last[0] = int(page[-1]["cursor"])
                progress.advance(len(page))
            return progress.done

    try:
        count = with_store(settings_from(config_path), read)
    except KeyboardInterrupt:
        interrupted(progress, f"Everything up to cursor {last[0]} is written:"
                    f" run it again with --after {last[0]} to continue.")  # fmt: skip
    of_type = f" of type {event_type}" if event_type else ""
    if count == 0:
        click.echo(f"No events{of_type} after cursor {after}: nothing exported.", err=True)
        return
    took = duration(progress.seconds)
    click.echo(f"{count:,} events{of_type} exported in {took}; the last cursor is {last[0]}"
               f" (--after {last[0]} continues from there).", err=True)  # fmt: skip


@main.command()
@config_option
@click.argument("paths", nargs=-1, required=True, type=click.Path(readable=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Judge and match, store nothing.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message.")
@click.option("--summary", "summary_only", is_flag=True, help="Print the summary line only.")
def bounces(
    config_path: Path | None,
    paths: tuple[Path, ...],
    dry_run: bool,
    as_json: bool,
    summary_only: bool,
) -> None:
    """Take bounce messages from .eml files, maildirs and mboxes (each PATH a file or folder).

    \b
    Example: tracker bounces /var/mail/bounces.mbox ~/Maildir/.Bounces --dry-run
    """
    from tracker import bounce_files

    try:
        bounce_files.check(list(paths))
    except bounce_files.SourceError as exc:
        raise OperatorError(str(exc)) from None
    settings = settings_from(config_path)
    tally = bounce_files.Tally()
    progress = Progress("Reading bounces", "messages", as_json=as_json)

    async def take_all(store: Store) -> None:
        from tracker.tokens import Tokens

        taker = bounce_files.taker(store, Tokens(settings.secret_keys), dry_run)
        with progress.begin(None):
            for path in paths:
                for label, raw in bounce_files.messages(path):
                    outcome = await taker(raw)
                    progress.advance(1)
                    tally.add(outcome)
                    if as_json and not summary_only:
                        click.echo(json.dumps({"source": label, **outcome}))
                    elif not summary_only:
                        click.echo(bounce_files.line(label, outcome))

    try:
        with_store(settings, take_all)
    except bounce_files.SourceError as exc:
        raise OperatorError(str(exc)) from None
    except KeyboardInterrupt:
        interrupted(progress, "What was taken is stored; taking the same"
                    " messages again stores nothing twice.")  # fmt: skip
    if as_json:
        click.echo(json.dumps({"summary": tally.counts(dry_run)}))
    else:
        click.echo(tally.line(dry_run))


@main.group()
def db() -> None:
    """The database's schema."""


@db.command("migrate")
@config_option
def db_migrate(config_path: Path | None) -> None:
    """Bring the database to this tracker's schema (the server also does it at start).

    \b
    Example: tracker db migrate
    """
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
@click.option("--json", "as_json", is_flag=True, help="No bar; the summary as one JSON object.")
def db_backup(config_path: Path | None, target: Path, as_json: bool) -> None:
    """Copy the SQLite database to TARGET while the server runs (SQLite's online backup).

    \b
    Example: tracker db backup /var/backups/tracker-$(date +%F).db
    """
    from tracker.store.maintenance import backup

    settings = settings_from(config_path)
    if settings.database_url.startswith(("postgresql:", "postgres:")):
        raise click.ClickException(
            "the store is PostgreSQL: back it up with pg_dump (see deploy/backup.md)"
        )
    if target.exists():
        raise click.ClickException(f"{target} exists: give a new file")
    if not settings.sqlite_path.exists():
        raise OperatorError(f"no database at {settings.sqlite_path}: nothing to back up")
    pages = sqlite3.connect(f"file:{settings.sqlite_path}?mode=ro", uri=True)
    try:
        total = int(pages.execute("PRAGMA page_count").fetchone()[0])
    finally:
        pages.close()
    progress = Progress("Backing up", "pages", as_json=as_json)
    copied = [0]

    def step(done: int, _: int) -> None:
        progress.advance(max(0, done - copied[0]))
        copied[0] = done

    try:
        with progress.begin(total):
            check = backup(settings.sqlite_path, target, step)
    except KeyboardInterrupt:
        target.unlink(missing_ok=True)
        interrupted(progress, f"The partial copy {target} is removed: run it again.")
    if check != "ok":
        raise click.ClickException(f"the copy failed its integrity check: {check}")
    size = target.stat().st_size / 1_000_000
    summary(
        as_json,
        f"Backed up {settings.sqlite_path} to {target} ({size:,.1f} MB) in"
        f" {duration(progress.seconds)}; integrity check ok.",
        source=str(settings.sqlite_path),
        target=str(target),
        megabytes=round(size, 1),
        pages=total,
        seconds=round(progress.seconds, 3),
        integrity="ok",
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
