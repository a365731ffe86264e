"""Read one raw message as a bounce mailbox received it: what does it report?

Standard shapes first, with the standard library's ``email``: an RFC 3464 delivery status
notification (``message/delivery-status``) and an RFC 5965 feedback report
(``message/feedback-report``). Then the non-standard bounces of MTAs that write their own
prose (qmail, Exim, Gmail, Yahoo, Exchange, Sendmail without a DSN …): a message from a
mailer daemon whose text names the failed addresses, found by their known shapes
(``X-Failed-Recipients``, ``<address>:`` paragraphs, ``RCPT To:<address>`` lines, indented
address lines) in the part before the returned copy. Then RFC 3834 auto-replies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses

TOKEN_HEADER = "X-Tracker-Message"
MAX_TEXT = 200_000


@dataclass(frozen=True)
class Failure:
    """One recipient the message reports on."""

    address: str
    status: str | None
    reply: str | None
    action: str | None


@dataclass(frozen=True)
class Report:
    """What a message reports: its kind, failed recipients and what names the original."""

    kind: str
    failures: tuple[Failure, ...]
    feedback_type: str | None = None
    message_id: str | None = None
    token: str | None = None
    own_id: str | None = None


class Unreadable(ValueError):
    """The bytes are not an email message at all."""


# The lookbehind starts a match only where a run of local-part characters starts, so a
# long line without "@" costs one pass, not one per character.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]"
_ADDRESS = re.compile(rf"(?<!{_LOCAL}){_LOCAL}+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_ANGLED = re.compile(r"<\s*(" + _ADDRESS.pattern + r")\s*>")
MAX_LINE = 1000
_HEADER_LINE = re.compile(r"^[A-Za-z][A-Za-z0-9\-]*:")
# The SMTP command a refusal answered, as MTAs write it (Postfix wraps its long lines, so
# the words may be split by a line break).
_COMMAND = re.compile(
    r"(?:in\s+reply\s+to|after)\s+(?:end\s+of\s+)?(?:data|rcpt\s+to|mail\s+from)\b",
    re.I,
)
# A line of a Sendmail transcript that reports another destination host
# ("550 example.org (smtp)... 550 Host unknown"): what follows is not about the address.
_TRANSCRIPT_HOST = re.compile(r"^[245]\d\d \S+ \([\w-]+\)\.\.\. ")
# ISO-2022-JP text (Japanese servers write diagnostics so) starts with an escape.
_JIS = re.compile(r"\x1b[$(][@AB]")
_QUOTED = re.compile(r"^(?:\s*>)+\s?")
# Lines of a bounce's prose that name someone other than a failed recipient.
_NOT_RECIPIENT_LINE = re.compile(
    r"^\s*(?:message-id|references|in-reply-to|from|sender|reply-to|return-path|received"
    r"|envelope-from|errors-to):"
    r"|please contact|further assistance|send mail to|mail from:|^\s*from:\s*<|\bfrom:<",
    re.I,
)
_RECIPIENT_FIELD = re.compile(r"^(?:Final|Original)-Recipient:", re.I | re.M)
_TYPED = re.compile(r"^\s*[A-Za-z0-9\-]+\s*;\s*", re.S)
_STATUS = re.compile(r"\b([45])\.(\d{1,3})\.(\d{1,3})\b")
_TOKEN_IN_TEXT = re.compile(r"^" + TOKEN_HEADER + r":\s*(\S+)", re.I | re.M)
_MESSAGE_ID_IN_TEXT = re.compile(r"^Message-I[Dd]:\s*(<[^>\s]+>)", re.I | re.M)
# Where the copy of the returned message starts in a bounce's prose.
_COPY_MARKS = re.compile(
    r"^(?:[ \t]*-+ ?(?:this is a copy|below this line|original message|the original message"
    r"|returned message|undelivered message|message text follows|original mail"
    r"|a copy of the original|forwarded message|unsent message follows)"
    r"|\s*-+ ?original message ?-+"
    r"|original message follows"
    r"|original message:\s*$"
    r"|-{2,} ?Headers of the original message"
    r"|Return-Path: ?<"
    r"|Received: from )",
    re.I | re.M,
)
_DAEMONS = re.compile(
    r"mailer-daemon|postmaster|mail delivery|mail administrator|mail system|"
    r"mailadmin|mmdf|smtp gateway|deliverymanager|mdaemon|notificat|system administrator",
    re.I,
)
_BOUNCE_SUBJECTS = re.compile(
    r"undeliver|undelivered|delivery (?:status notification|failure|failed|has failed"
    r"|problem|notification|report)|returned mail|failure notice|mail delivery failed"
    r"|could not send|not delivered|delivery error|rejected|bounce|nondeliverable"
    r"|non[- ]?remis|mail system error|permanent error|returned to sender|warning: could",
    re.I,
)
_BOUNCE_PROSE = re.compile(
    r"could not be delivered to|unable to deliver|delivery (?:has )?failed|was not delivered"
    r"|wasn'?t delivered|permanent (?:fatal )?error|undeliverable|returned to sender",
    re.I,
)
_AUTOREPLY_SUBJECTS = re.compile(
    r"^(?:auto(?:matic)?[ -]?(?:reply|response|antwort)|out of (?:the )?office|vacation"
    r"|abwesen|absence|away from)|\b(?:auto(?:matic)? ?reply|out of office|autoreply)\b",
    re.I,
)
_DAEMON_LOCALPARTS = re.compile(r"^(?:mailer-daemon|double-bounce)$", re.I)


def _text_of(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload.decode(charset, "replace")
        except LookupError:
            return payload.decode("utf-8", "replace")
    raw = part.get_payload()
    return raw if isinstance(raw, str) else ""


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    return " ".join(_unjis(str(value)).split()) if value is not None else ""


def _unjis(text: str) -> str:
    """``text`` with ISO-2022-JP runs decoded (raw in a header or DSN field)."""
    if not _JIS.search(text):
        return text
    try:
        return text.encode("ascii").decode("iso2022_jp")
    except (UnicodeError, LookupError):
        return text


def _command(text: str) -> str | None:
    """The SMTP command a refusal in ``text`` answered, in the words found."""
    found = _COMMAND.search(text)
    return " ".join(found.group(0).split()) if found else None


def _with_command(said: str, prose: str) -> str:
    """``said`` with the SMTP command named in ``prose`` when it does not name it."""
    command = _command(prose)
    if command and command.lower() not in " ".join(said.split()).lower():
        said += f" ({command})"
    return said


def _clean_address(value: str) -> str | None:
    value = _TYPED.sub("", value).strip().strip("<>").strip()
    found = _ADDRESS.search(value)
    return found.group(0).strip(".'\"").lower() if found else None


def _headers_block(text: str) -> Message:
    head = text.lstrip("\r\n").split("\n\n", 1)[0]
    return HeaderParser(policy=policy.compat32).parsestr(head)


def _returned(msg: Message) -> Message | None:
    """The copy of the original message (or its headers) that a bounce carries."""
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
        if kind in ("text/rfc822-headers", "text/rfc822-header"):
            return _headers_block(_text_of(part))
    return None


def _ids(msg: Message, returned: Message | None, prose: str) -> tuple[str | None, str | None]:
    """The returned message's Message-ID and the tracker token found in its headers."""
    message_id = _header(returned, "Message-ID") if returned is not None else ""
    token = _header(returned, TOKEN_HEADER) if returned is not None else ""
    copy = _COPY_MARKS.search(prose)
    rest = prose[copy.start() :] if copy else ""
    if not token:
        found = _TOKEN_IN_TEXT.search(prose)
        token = found.group(1) if found else ""
    if not message_id and rest:
        found = _MESSAGE_ID_IN_TEXT.search(rest)
        message_id = found.group(1) if found else ""
    return message_id or None, token or None


def _dsn_fields(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    text = _text_of(part).replace("\r\n", "\n")
    blocks = [b for b in re.split(r"\n\s*\n", text) if b.strip()]
    return [_headers_block(b) for b in blocks]


def _near(prose: str, address: str, others: tuple[str, ...] = ()) -> str:
    """What the prose says of ``address``: from its first mention, up to the next
    address it names or ten lines, and the SMTP command the failure answered."""
    low = prose.lower()
    at = low.find(address)
    if at < 0:
        return ""
    start = low.rfind("\n", 0, at) + 1
    kept: list[str] = []
    for line in prose[start:].split("\n")[:30]:
        text = line.strip()
        if not text:
            continue
        if kept and any(o in text.lower() for o in others if o != address):
            break
        if kept and _TRANSCRIPT_HOST.match(text):
            break
        kept.append(text)
        if len(kept) >= 10:
            break
    return _with_command(" ".join(kept), prose)


def _dsn(msg: Message, status_part: Message, prose: str) -> list[Failure]:
    return _recipient_blocks(_dsn_fields(status_part), prose)


def _text_dsn_blocks(text: str) -> list[Message]:
    """DSN fields written in a body whose MIME structure is broken."""
    text = text.replace("\r\n", "\n")
    blocks = [b for b in re.split(r"\n\s*\n", text) if _RECIPIENT_FIELD.search(b)]
    return [_headers_block(b.strip("\n")) for b in blocks]


def _recipient_blocks(blocks: list[Message], prose: str) -> list[Failure]:
    failures: list[Failure] = []
    notice = _before_copy(prose)
    named = [b for b in blocks if _RECIPIENT_FIELD.search(str(b))]
    for fields in blocks:
        address = _clean_address(_header(fields, "Final-Recipient")) or _clean_address(
            _header(fields, "Original-Recipient")
        )
        if address is None:
            continue
        action = _header(fields, "Action").lower() or None
        if action is not None and action not in ("failed", "failure"):
            failures.append(Failure(address, None, None, action))
            continue
        diagnostic = _TYPED.sub("", _header(fields, "Diagnostic-Code"))
        status = _header(fields, "Status") or None
        status_found = _STATUS.search(status or "")
        status = ".".join(status_found.groups()) if status_found else None
        said = ""
        if len(diagnostic) <= 10:
            # No diagnostic: what the notice says. A notice about one recipient says it
            # all of that one (a reason may stand above the address, or the address be
            # written in another form, "expanded from"); of several, only near each.
            said = _near(notice, address)
            if len(named) == 1:
                said = " ".join(notice.split())[-600:] or said
        reply = _with_command(" ".join(x for x in (diagnostic, said) if x), prose).strip() or None
        failures.append(Failure(address, status, reply, "failed"))
    return failures


def _prose(msg: Message) -> str:
    """The human-readable text of a bounce, up to the copy of the returned message."""
    texts: list[str] = []
    for part in msg.walk():
        if part.get_content_maintype() == "message":
            break
        if part.get_content_type() in ("text/plain", "text/html") and not part.is_multipart():
            text = _text_of(part)
            if part.get_content_type() == "text/html":
                text = re.sub(r"<[^>]*>", " ", text)
            texts.append(text)
            if part.get_content_type() == "text/plain":
                break
    text = "\n".join(texts).replace("\r\n", "\n")[:MAX_TEXT]
    # No MTA writes longer lines (RFC 5322: 998); longer ones are cut.
    return "\n".join(line[:MAX_LINE] for line in text.split("\n"))


def _before_copy(prose: str) -> str:
    copy = _COPY_MARKS.search(prose)
    return prose[: copy.start()] if copy else prose


def _own_addresses(msg: Message, returned: Message | None) -> set[str]:
    mine = {a.lower() for _, a in getaddresses([_header(msg, h) for h in ("From", "To")])}
    if returned is not None:
        senders = [_header(returned, h) for h in ("From", "Sender", "Return-Path", "Reply-To")]
        mine |= {a.lower() for _, a in getaddresses(senders)}
    return {a for a in mine if a}


def _prose_failures(msg: Message, prose: str, returned: Message | None) -> list[Failure]:
    """Failed addresses of a non-standard bounce, by the known shapes of its prose."""
    head = _before_copy(prose)
    if returned is None and len(head) < len(prose):
        # The copy follows the notice in the same text ("----- Unsent message follows").
        returned = _headers_block(prose[len(head) :].split("\n", 1)[-1])
    mine = _own_addresses(msg, returned)
    named = [a.strip() for a in _header(msg, "X-Failed-Recipients").split(",") if a.strip()]
    candidates = [a.lower() for a in named if _ADDRESS.fullmatch(a.strip())]
    if not candidates:
        leading: list[str] = []
        anywhere: list[str] = []
        # The bounce's own addresses are left out, but "<address>:" alone on its line
        # (qmail's shape) names a failed recipient even when someone mailed themselves.
        own: list[str] = []
        for line in head.split("\n"):
            line = _QUOTED.sub("", line)
            if _NOT_RECIPIENT_LINE.search(line):
                continue
            for found in _ANGLED.findall(line) or _ADDRESS.findall(line):
                address = found.strip(".'\"").lower()
                local = address.split("@", 1)[0]
                if _DAEMON_LOCALPARTS.match(local):
                    continue
                if address in mine:
                    if line.strip().lower() == f"<{address}>:" and address not in own:
                        own.append(address)
                    continue
                # "<address>:" or the address alone at the start of a line names a
                # failed recipient in most MTAs' prose; an address inside a sentence
                # is more often a contact or the sender.
                first = line.lstrip().lstrip("<*\"'").lower().startswith(address)
                target = leading if first else anywhere
                if address not in target:
                    target.append(address)
        candidates = leading or anywhere or own
    if not candidates and returned is not None:
        candidates = [a.lower() for _, a in getaddresses([_header(returned, "To")]) if a][:1]
    failures = []
    others = tuple(candidates)
    for address in candidates:
        said = _near(head, address, others)
        if not said.lower().replace(address, "").strip(" <>:"):
            # Only the address: the reason is written around it (Lotus Notes puts it on
            # the line above), so the end of the notice is what it says.
            said = head.strip()[-600:]
        status_found = _STATUS.search(said)
        status = ".".join(status_found.groups()) if status_found else None
        failures.append(Failure(address, status, " ".join(said.split()) or None, "failed"))
    return failures


def _arf(msg: Message, part: Message, returned: Message | None) -> Report:
    fields = (_dsn_fields(part) or [Message()])[0]
    feedback = _header(fields, "Feedback-Type").lower() or None
    named = fields.get_all("Original-Rcpt-To") or fields.get_all("Removal-Recipient") or []
    addresses = [a for a in (_clean_address(str(v)) for v in named) if a]
    if not addresses and returned is not None:
        addresses = [a for a in [_clean_address(_header(returned, "To"))] if a]
    failures = tuple(Failure(a, None, None, feedback) for a in dict.fromkeys(addresses))
    message_id, token = _ids(msg, returned, "")
    return Report("arf", failures, feedback, message_id, token, _header(msg, "Message-ID") or None)


def _hotmail_complaint(msg: Message, returned: Message | None) -> Report | None:
    """Outlook.com's (Hotmail's) feedback loop: the complained-of message attached whole,
    its recipient in ``X-HmXmrOriginalRecipient``, no feedback-report part."""
    if returned is None:
        return None
    address = _clean_address(_header(returned, "X-HmXmrOriginalRecipient"))
    if address is None:
        return None
    message_id, token = _ids(msg, returned, "")
    failure = Failure(address, None, None, "abuse")
    own_id = _header(msg, "Message-ID") or None
    return Report("arf", (failure,), "abuse", message_id, token, own_id)


def _is_bounce(msg: Message, prose: str) -> bool:
    sender = _header(msg, "From")
    subject = _header(msg, "Subject")
    return_path = _header(msg, "Return-Path")
    return (
        bool(_DAEMONS.search(sender))
        or bool(_BOUNCE_SUBJECTS.search(subject))
        or bool(_header(msg, "X-Failed-Recipients"))
        or return_path.strip() == "<>"
        and bool(_BOUNCE_SUBJECTS.search(subject))
        or bool(_BOUNCE_PROSE.search(prose[:4000]))
    )


def _is_autoreply(msg: Message) -> bool:
    auto = _header(msg, "Auto-Submitted").lower()
    return (
        auto.startswith("auto-replied")
        or bool(_header(msg, "X-Autoreply") or _header(msg, "X-Autorespond"))
        or _header(msg, "Precedence").lower() == "auto_reply"
        or bool(_AUTOREPLY_SUBJECTS.search(_header(msg, "Subject")))
    )


def parse(raw: bytes) -> Report:
    """What one raw message reports; raises Unreadable when it is no message at all."""
    if not raw.strip() or b"\x00" in raw[:4096]:
        raise Unreadable("empty or binary input")
    raw = raw.replace(b"\r\n", b"\n")
    msg = message_from_bytes(raw, policy=policy.compat32)
    if not msg.keys():
        raise Unreadable("no header fields")
    own_id = _header(msg, "Message-ID") or None
    returned = _returned(msg)
    prose = _prose(msg)
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/feedback-report":
            return _arf(msg, part, returned)
        if kind in ("message/delivery-status", "message/global-delivery-status"):
            failures = _dsn(msg, part, prose)
            if failures:
                message_id, token = _ids(msg, returned, prose)
                failed = tuple(f for f in failures if f.action == "failed")
                return Report("dsn", failed, None, message_id, token, own_id)
    complaint = _hotmail_complaint(msg, returned)
    if complaint is not None:
        return complaint
    if not msg.is_multipart() or isinstance(msg.get_payload(), str):
        body = msg.get_payload()
        text = body if isinstance(body, str) else ""
        if _RECIPIENT_FIELD.search(text) and re.search(r"^Action:", text, re.I | re.M):
            # The MIME structure is broken: the notice is the text before the fields.
            fields = re.search(r"^(?:Reporting-MTA|Final-Recipient):", text, re.I | re.M)
            prose = prose or (text[: fields.start()] if fields else "")
            failures = _recipient_blocks(_text_dsn_blocks(text), prose)
            if failures:
                copy = _COPY_MARKS.search(text)
                returned = _headers_block(text[copy.start() :]) if copy else None
                message_id, token = _ids(msg, returned, prose)
                failed = tuple(f for f in failures if f.action == "failed")
                return Report("dsn", failed, None, message_id, token, own_id)
    if _is_bounce(msg, prose):
        failures = _prose_failures(msg, prose, returned)
        if failures:
            message_id, token = _ids(msg, returned, prose)
            return Report("bounce", tuple(failures), None, message_id, token, own_id)
    if _is_autoreply(msg):
        return Report("autoreply", (), None, None, None, own_id)
    return Report("not_a_bounce", (), None, None, None, own_id)
