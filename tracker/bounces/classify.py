"""Judge one bounce: hard (``invalid`` or ``spam_block``) or soft, with a short reason.

Inputs are what a bounce carries: an RFC 3463 enhanced status code (``5.1.1``), the SMTP
reply or diagnostic text (which may start with its 3-digit code) and, from a provider's
webhook, its own bounce type (``Permanent``, ``Transient``, ``HardBounce``, ``blocked``).

The text decides first (many servers answer 5.0.0 to everything, and "550 5.1.1 mailbox
full" exists), then the enhanced code, then the reply code, then the provider's hint.
``invalid`` stops mail for good, so it is given only for a permanent failure whose text
or code names a missing user, domain or moved mailbox; anything unsure is not invalid.

Sources of the phrases: RFC 3463 and RFC 5248 (the enhanced codes and their meaning), the
reason lists and MTA tables of Sisimai (``lib/sisimai/reason/*.rb`` and
``lib/sisimai/lhost/*.rb`` of github.com/sisimai/rb-sisimai, BSD 2-Clause), which collect
the wording of real MTAs and providers, and the MTAs' own documentation where named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HARD = "hard_bounced"
SOFT = "soft_bounced"
INVALID = "invalid"
SPAM_BLOCK = "spam_block"


@dataclass(frozen=True)
class Classification:
    """The judgement: ``type``, the hard bounce's ``category`` (None when soft), ``reason``."""

    type: str
    category: str | None
    reason: str


# Reasons and what they make of a permanent failure: (type, category).
_KINDS: dict[str, tuple[str, str | None]] = {
    "user_unknown": (HARD, INVALID),
    "host_unknown": (HARD, INVALID),
    "moved": (HARD, INVALID),
    "blocked": (HARD, SPAM_BLOCK),
    "spam": (HARD, SPAM_BLOCK),
    "policy": (HARD, SPAM_BLOCK),
    "auth": (HARD, SPAM_BLOCK),
    "content": (HARD, SPAM_BLOCK),
    "too_large": (HARD, SPAM_BLOCK),
    "suppressed": (HARD, SPAM_BLOCK),
    "rejected": (HARD, SPAM_BLOCK),
    "filtered": (HARD, SPAM_BLOCK),
    "mailbox_full": (SOFT, None),
    "suspended": (SOFT, None),
    "expired": (SOFT, None),
    "temporary": (SOFT, None),
    "unknown": (SOFT, None),
}


def _any(*phrases: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in phrases))


# In order: the first group that matches names the reason. Sender-side causes (spam,
# blocks, policy) come before the user-unknown phrases, so that a text naming both is
# never taken for a missing mailbox.
_TEXT: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("temporary", _any(r"gr[ae]y ?list", r"not found, try again", r"try again later")),
    # Microsoft's directory-based edge blocking refuses unknown recipients so (Sisimai's
    # user-unknown list); a bare "address rejected." says nothing else.
    (
        "user_unknown",
        _any(r"recipient address rejected: access denied", r"address rejected\.?\s*(?:\(in |$)"),
    ),
    (
        "mailbox_full",
        _any(
            r"mailbox (?:is )?full",
            r"full mailbox",
            r"mail ?(?:box|folder|dir) (?:is )?(?:over|exceed)",
            r"quota",
            r"insufficient (?:disk|storage|system storage)",
            r"not (?:enough|sufficient) (?:storage|disk|space)",
            r"exceeded storage allocation",
            r"exceeds? (?:the )?(?:disk|storage|size) (?:space )?limit",
            r"mail(?:box|folder) size limit",
            r"has exceeded its (?:disk )?space",
            r"space has been used up",
            r"too many messages (?:on the server|in (?:the|this) mailbox)",
            r"no space left",
            r"boite du destinataire pleine",
            r"mailbox would exceed",
            r"too much mail data",
        ),
    ),
    (
        "auth",
        _any(
            r"\bspf\b",
            r"\bdkim\b",
            r"\bdmarc\b",
            r"sender policy framework",
            r"authenticat(?:ion|ed)",
            r"starttls is required",
            r"tls required",
            r"not authorized to send",
            r"unauthenticated",
        ),
    ),
    (
        "spam",
        _any(
            r"spam(?!haus|cop)",
            r"unsolicited",
            r"bulk (?:e-?mail|advertising|mail)",
            r"\bvirus",
            r"malware",
            r"phish",
            r"content (?:rejected|filter|denied|rejection)",
            r"(?:message|mail) content",
            r"unacceptable content",
            r"banned content",
            r"message (?:was )?filtered",
            r"looks like (?:spam|junk)",
            r"junk mail",
        ),
    ),
    (
        "blocked",
        _any(
            r"block ?list",
            r"black ?list",
            r"\bblocked\b",
            r"\bblocking\b",
            r"\brbl\b",
            r"dnsbl",
            r"spamhaus",
            r"spamcop",
            r"barracuda",
            r"reputation",
            r"(?<!not )listed (?:in|at|on|by)\b",
            r"\bbanned\b",
            r"(?:refused|rejected) - see",
            r"dynamic ip",
            r"\bzombie",
            r"not allowed to (?:send|connect)",
            r"not currently accepting mail from your ip",
            r"client host \S{0,80} ?rejected",
            r"your ip",
            r"sender ip",
            r"\babus",
            r"go away",
            r"rejecting open proxy",
            r"my name was rejected",
            r"\bhelo\b",
            r"not accepting connections",
            r"complaints",
        ),
    ),
    (
        "policy",
        _any(
            r"polic(?:y|ies)",
            r"prohibit",
            r"relay(?:ing)? (?:access )?(?:denied|not permitted|not allowed|prohibited)",
            r"unable to relay",
            r"not permitted to relay",
            r"we do not relay",
            r"not in my list of allowed rcpthosts",
            r"members-only",
            r"closed mailing list",
            r"not (?:a )?subscribed",
            r"only accepting mail from",
            r"refuses? to (?:receive|accept)",
            r"recipient preferences",
            r"blocked by the recipient",
            r"user rules",
            r"sender (?:address )?(?:rejected|denied|verify failed)",
            r"(?:sender|envelope from) (?:domain )?(?:must exist|not found|unknown)",
            r"bogus mail from",
            r"access denied",
            r"protocol violation",
            r"header (?:error|are not accepted)",
            r"not compliant",
            r"rfc ?5322",
            r"reverse dns",
            r"\brdns\b",
            r"malformed address",
            r"syntax error",
            r"\bptr\b",
            r"not accepting (?:any )?mail",
            r"notauthorized",
            r"illegal attachment",
            r"(?:no|not have|without) permission",
            r"not (?:a )?registered gateway user",
            r"administrative(?:ly)? (?:prohibition|denied)",
            # The message's From: refused (GoDaddy's IB506 "From: Domain is invalid").
            r"\bfrom:? (?:header |address |domain )?(?:domain )?is invalid",
            r"provide a valid from\b",
        ),
    ),
    (
        "too_large",
        _any(
            r"(?:message|mail) (?:size )?(?:is )?too (?:big|large)",
            r"size exceeds",
            r"exceeds? (?:the )?(?:maximum|max) (?:message )?size",
            r"message (?:length|size) exceeds",
            r"larger than (?:the )?(?:maximum|allowed)",
            r"\bmail size limit",
        ),
    ),
    (
        "suspended",
        _any(
            r"suspend",
            r"disabled",
            r"inactive",
            r"deactivated",
            r"frozen",
            r"\blocked\b",
            r"archived",
            r"terminated",
            r"extended inactivity",
            r"discontinued",
        ),
    ),
    (
        "moved",
        _any(r"has been replaced by", r"has moved", r"moved permanently"),
    ),
    # A local delivery program that failed on the receiving host (Sisimai's mailererror:
    # procmail, a pipe, a command's exit status): the server's trouble, whatever else
    # its message says ("procmail: … No such user" is procmail's, not the mailbox's).
    (
        "temporary",
        _any(
            r"procmail: ",
            r"bin/procmail",
            r"\|\| exit ",
            r"command died with status",
            r"pipe to \|",
            r"mailer error",
        ),
    ),
    (
        "host_unknown",
        _any(
            r"host (?:or domain name )?not found",
            r"unknown host",
            r"host unknown",
            r"no such domain",
            r"domain (?:does not|doesn'?t) exist",
            r"domain (?:name )?not found",
            r"unrout(?:e)?able (?:mail )?(?:address|domain)",
            r"name or service not known",
            r"nxdomain",
            r"recipient domain must exist",
            r"unknown domain",
            r"mail domain mentioned in email address is unknown",
            r"null ?mx",
            r"does not accept mail",
            r"no mx record",
            r"domain is not reachable",
            r"host unreachable",
            r"dns lookup failure: host \S{1,253} not found",
            r"illegal host/domain",
            r"invalid domain\b(?! name)",
            r"couldn'?t find a mail exchanger",
            r"no smtp service",
            r"domain name not found",
        ),
    ),
    (
        "user_unknown",
        _any(
            r"(?:user|recipient|mailbox|address|account|addressee|person)"
            r"(?: name)? (?:is )?(?:unknown|not found|does not exist|doesn'?t exist|not exist"
            r"|invalid|not known|not valid|no longer (?:valid|exists?))",
            r"no such (?:user|mailbox|recipient|address|person|account)",
            r"unknown (?:user|recipient|mailbox|address|local[- ]part|account)",
            r"invalid (?:recipient|mailbox|address|user|account)",
            r"(?:is )?not a valid (?:mailbox|recipient|user|address)",
            r"not a known user",
            r"no (?:mailbox|account) (?:by that name|here|found|available)",
            r"is not an active address",
            r"bad ?rcpt ?to",
            r"bad (?:destination )?(?:mailbox )?address",
            r"does not exist",
            r"doesn'?t have a .{0,40}account",
            r"no one at this address",
            r"there is no user",
            r"not listed in",
            r"utilisateur inconnu",
            r"recipnotfound",
            r"recipient notfound",
            r"\bno mailbox\b",
            r"not our customer",
            r"user (?:doesn'?t|does not) have",
            r"address couldn'?t be found",
            r"wasn'?t found at the destination",
            r"invalid final delivery userid",
            r"not a valid address",
            # Exchange 2003, Lotus Domino and Notes (English, French, Spanish, Japanese).
            r"recipient name is not recognized",
            r"non répertorié dans l'annuaire domino",
            r"no se encuentra en el directorio de domino",
            r"ディレクトリには見つかりません",
            r"ディレクトリのリストにありません",
        ),
    ),
    (
        "expired",
        _any(
            r"expired",
            r"giving up",
            r"queue (?:for )?too long",
            r"in the queue too long",
            r"could not be delivered for (?:more than|\d)",
            r"after multiple retries",
            r"retry time(?:out)? (?:not reached|exceeded)",
            r"failing for a long time",
            r"not reachable within",
            r"has not been collected",
            r"message timed out",
        ),
    ),
    (
        "temporary",
        _any(
            r"gr[ae]y ?list",
            r"try (?:again )?later",
            r"temporar",
            r"too many (?:connections|concurrent|smtp|errors|recipients|sessions)",
            r"rate limit",
            r"throttl",
            r"connection (?:timed out|refused|reset|dropped|lost)",
            r"time ?out",
            r"(?:service|server) (?:is )?(?:currently )?(?:not )?(?:un)?available",
            r"system error",
            r"local error",
            r"mail loop",
            r"loops back",
            r"configuration error",
            r"deferred",
            r"resources",
            r"network (?:is )?unreachable",
            r"no route to host",
            r"did not respond",
            r"transaction failed",
            r"pipe to \|",
            r"command (?:died|failed)",
            # The receiving server cannot do the TLS the sender requires (Gmail's "Remote
            # server does not support TLS"): its configuration, not the address.
            r"does not support (?:start)?tls",
        ),
    ),
    # A refusal that gives no reason ("Each of the following recipients was rejected by a
    # remote mail server", EZweb): permanent, but nothing says the address is gone.
    ("rejected", _any(r"(?:was|were) rejected by (?:a |the )?remote")),
)

# "User unknown" in answer to DATA: the recipient was accepted at RCPT TO, so the refusal
# is a filter's (mobile carriers answer so when the person's own filter refuses the
# sender: Sisimai's "filtered"), not proof that the mailbox is gone.
_AFTER_DATA = re.compile(
    r"(?:in reply to|after) (?:end of )?data\b|smtp command\W+data\b"
    r"|\b550:? : user unknown",
    re.I,
)
# Refused before any recipient was named: whatever the words, the address is not at fault.
_BEFORE_RCPT = re.compile(
    r"(?:in reply to|after) (?:mail from|helo|ehlo|initial connection)|sender address", re.I
)
# Refused in answer to RCPT TO: the moment a server says whether a mailbox exists.
_AT_RCPT = re.compile(
    r"(?:in reply to|after) rcpt\b|\[rcpt_to\]|smtp:rcpt\b|rcpt command|>>> rcpt to"
    r"|does not like recipient|progress was rcpt to",
    re.I,
)
# Providers' own words for an account that does not exist (Yahoo's "dd", Microsoft's
# directory lookup, Google Workspace's notice): no code or phase needed. Gmail's "The email
# account that you tried to reach does not exist" comes with its 550-5.1.1, which decides;
# the sentence under another server's 5.0.0 says no more than "user unknown".
_DEFINITE = re.compile(
    r"dd this user doesn'?t have a"
    r"|recipientnotfound|recipient not found by smtp address lookup"
    r"|address couldn'?t be found"
    # A lookup in the directory of the host that keeps the mailboxes, in its own words:
    # Exchange 2003 (NDR "The recipient name is not recognized", IMS code 000C05A6),
    # Lotus Domino and Notes (the Domino Directory, the Name & Address Book), Ipswitch
    # IMail's final delivery, sendmail's mail.local(8) (no such local account).
    r"|the recipient name is not recognized|\(000c05a6\) unknown recipient"
    r"|not listed in (?:the )?domino directory|non répertorié dans l'annuaire domino"
    r"|no se encuentra en el directorio de domino|domino ディレクトリには見つかりません"
    r"|not listed in public name & address book|ディレクトリのリストにありません"
    r"|invalid final delivery userid|mail\.local: unknown user",
    re.I,
)
# Postfix's reject_unlisted_recipient and its recipient maps answer RCPT TO only
# (postconf(5): "User unknown in local recipient table"), whatever command a relay that
# reports the refusal names after it.
_RCPT_ONLY = re.compile(
    r"recipient address rejected: user unknown in (?:local|virtual (?:alias|mailbox)|relay)"
    r" recipient table",
    re.I,
)
_INVALID_REASONS = ("user_unknown", "host_unknown", "moved")
_CODE = re.compile(r"^\s*([245])\d\d(?:[\s\-]|$)")
# 4.x.x and 5.x.x only: a 2.x.x in a transcript is a step that went well.
_STATUS = re.compile(r"(?<![\d.])([45])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
# A reply code inside the text ("host … said: 550 …", "…: 451 …") when none leads it.
_CODE_INSIDE = re.compile(r"(?:said|:)\s*([45])[0-5]\d(?:[\s\-]|$)")
_SPACES = re.compile(r"\s+")
_ADDRESS = re.compile(r"(?<![^\s<>()\[\]\"',;:])[^\s<>()\[\]\"',;:]+@[A-Za-z0-9\-.]+")
# What of a reply is read: replies are a line or a few; the rest is not looked at.
MAX_REPLY = 4000

# Enhanced codes (RFC 3463, RFC 5248) that decide when the text does not.
_STATUS_REASONS: dict[str, str] = {
    "1.1": "user_unknown",
    "1.2": "host_unknown",
    "1.6": "moved",
    "1.10": "host_unknown",
    "2.1": "suspended",
    "2.2": "mailbox_full",
    "2.3": "too_large",
    "3.4": "too_large",
    "4.7": "expired",
    "7.1": "policy",
    "7.23": "auth",
    "7.25": "auth",
    "7.26": "auth",
    "7.27": "host_unknown",
    "7.28": "spam",
}
_SUBJECT_REASONS: dict[str, str] = {
    "1": "rejected",
    "2": "suspended",
    "3": "temporary",
    "4": "temporary",
    "5": "rejected",
    "6": "content",
    "7": "policy",
}

# Providers' own bounce types, normalised (lower case, letters and digits only).
_HINTS: dict[str, str] = {
    "permanent": "rejected",
    "hard": "rejected",
    "hardbounce": "rejected",
    "bounce": "rejected",
    "failed": "rejected",
    "noemail": "user_unknown",
    "bademailaddress": "user_unknown",
    "invalidaddress": "user_unknown",
    "invalid": "user_unknown",
    "suppressed": "suppressed",
    "onaccountsuppressionlist": "suppressed",
    "manuallydeactivated": "suppressed",
    "transient": "temporary",
    "temporary": "temporary",
    "soft": "temporary",
    "softbounce": "temporary",
    "dnserror": "temporary",
    "technical": "temporary",
    "frequencyorvolume": "temporary",
    "mailboxunavailable": "temporary",
    "general": "temporary",
    "undetermined": "unknown",
    "unclassified": "unknown",
    "mailboxfull": "mailbox_full",
    "inboxfull": "mailbox_full",
    "messagetoolarge": "too_large",
    "contentrejected": "content",
    "attachmentrejected": "content",
    "content": "content",
    "blocked": "blocked",
    "block": "blocked",
    "reputation": "blocked",
    "spamnotification": "spam",
    "spam": "spam",
    "spamcomplaint": "spam",
}
_HINT_CHARS = re.compile(r"[^a-z0-9]")


def _known_gone(reply: str, parts: list[str]) -> bool:
    """Whether a "user unknown" reply is sure: said at RCPT TO or with a 5.1.x code, or
    in a provider's own words, and not after DATA."""
    if _RCPT_ONLY.search(reply):
        return True
    if _AFTER_DATA.search(reply):
        return False
    if _DEFINITE.search(reply) or _AT_RCPT.search(reply):
        return True
    return len(parts) == 3 and parts[:2] == ["5", "1"]


def _judge(reason: str, permanent: bool) -> Classification:
    kind, category = _KINDS[reason]
    if not permanent:
        return Classification(SOFT, None, reason)
    return Classification(kind, category, reason)


def text_reason(text: str) -> str | None:
    """The reason the wording names, or None; ``text`` in any case and spacing."""
    # An address's local part may say anything ("spam@", "does-not-exist@").
    low = _SPACES.sub(" ", _ADDRESS.sub("<address>", text).lower())
    for reason, pattern in _TEXT:
        if pattern.search(low):
            return reason
    return None


def enhanced_status(text: str | None) -> str | None:
    """The first RFC 3463 code (``5.1.1``) written in ``text``, or None."""
    found = _STATUS.search(text or "")
    return ".".join(found.groups()) if found else None


def classify(
    status: str | None = None, reply: str | None = None, hint: str | None = None
) -> Classification:
    """Judge a bounce from its enhanced ``status``, its ``reply`` text and a provider ``hint``."""
    reply = (reply or "")[:MAX_REPLY]
    code = _CODE.match(reply)
    status = (status or "").strip() or enhanced_status(reply) or ""
    if status.endswith(".0.0"):
        # A generic code says nothing: a specific one in the reply says more.
        status = enhanced_status(reply) or status
    parts = status.split(".")
    klass = parts[0] if len(parts) == 3 and parts[0] in "245" else ""
    if not klass and code:
        klass = code.group(1)
    if not klass:
        inside = _CODE_INSIDE.search(reply)
        klass = inside.group(1) if inside else ""
    # A temporary failure (4.x.x, or a 4xx reply without a code) never drops anyone.
    permanent = klass != "4"
    reason = text_reason(reply) if reply else None
    if reason is not None:
        if reason in (*_INVALID_REASONS, "mailbox_full") and _BEFORE_RCPT.search(reply):
            # No mailbox was named yet: a quota then is the sender's ("daily relay quota").
            reason = "rejected"
        elif reason == "user_unknown" and not _known_gone(reply, parts):
            # Words alone, without a 5.1.x code, a refusal at RCPT TO or a provider's own
            # words for a missing account, do not tell a missing mailbox from a filter
            # that answers "user unknown" (a person's own sender filter, after DATA): not
            # invalid. So too where the code names another cause (5.2.x disabled, 5.7.x).
            reason = "filtered"
        return _judge(reason, permanent)
    if klass:
        detail = ".".join(parts[1:]) if len(parts) == 3 else ""
        by_code = _STATUS_REASONS.get(detail) or _SUBJECT_REASONS.get(parts[1] if detail else "")
        if by_code is not None:
            return _judge(by_code, permanent)
        if klass == "5" and code and reply.lstrip().startswith("552"):
            return _judge("mailbox_full", permanent)
        if klass != "2":
            return _judge("rejected" if permanent else "temporary", permanent)
    hinted = _HINTS.get(_HINT_CHARS.sub("", (hint or "").lower()))
    if hinted is not None:
        return _judge(hinted, True)
    return Classification(SOFT, None, "unknown")
