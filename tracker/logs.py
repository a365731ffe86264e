"""structlog configuration: JSON lines in production, readable lines in a terminal."""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO, cast

import structlog
from aiohttp.http_exceptions import HttpProcessingError

# A reason aiohttp gives for refusing a request is kept only when it is one of its fixed
# phrases: no quotes (what the client sent is quoted), backslashes or controls.
_PHRASE = re.compile(r"[A-Za-z0-9 ,.()-]{1,100}")


class _Stderr:
    """Whatever ``sys.stderr`` is when a line is written (a command run in-process, as
    click's test runner does, swaps it): never stdout, where a command's output goes."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(log_format: str = "auto", level: str = "info") -> None:
    """Set up structlog once; ``auto`` means console for a tty, JSON otherwise."""
    as_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    threshold = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(cast(TextIO, _Stderr())),
        cache_logger_on_first_use=True,
    )
    # Other libraries' loggers go through the standard library.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(message)s")
    # aiohttp's own (server errors, access) would write the client's address and the bytes
    # of a malformed request, with a traceback: each becomes one line of ours instead.
    aiohttp_log = logging.getLogger("aiohttp")
    aiohttp_log.handlers[:] = [AiohttpLines()]
    aiohttp_log.propagate = False
    aiohttp_log.setLevel(min(threshold, logging.INFO))


def refusal_reason(exc: HttpProcessingError) -> str | None:
    """aiohttp's phrase for a refused request ("Invalid header value char"), without the
    bytes it quotes after it; None when the phrase itself may hold what the client sent."""
    phrase = exc.message.split("\n", 1)[0].split(":", 1)[0].strip()
    return phrase if _PHRASE.fullmatch(phrase.replace("n't", "nt")) else None


class AiohttpLines(logging.Handler):
    """aiohttp's log records as structlog lines: the format string, never its arguments
    (the client's address), and of an exception its kind and aiohttp's fixed phrase."""

    def __init__(self) -> None:
        super().__init__()
        self._log = structlog.get_logger("tracker.http")

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            # A malformed request, answered 400 (or 413 …) by aiohttp: the client's doing.
            self._log.log(
                min(record.levelno, logging.INFO),
                "bad request",
                status=exc.code,
                error=type(exc).__name__,
                reason=refusal_reason(exc),
            )
        elif exc is not None:
            # A failure in a handler (answered 500): a bug, kept with its traceback.
            self._log.log(
                record.levelno,
                "request failed",
                error=type(exc).__name__,
                exc_info=record.exc_info,
            )
        else:
            self._log.log(record.levelno, "aiohttp", message=str(record.msg)[:200])
