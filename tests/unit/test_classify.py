"""tracker.bounces.classify alone: the judgement of one bounce from its code and text."""

from __future__ import annotations

import pytest

from tracker.bounces.classify import Classification, classify, enhanced_status

HARD_INVALID = ("hard_bounced", "invalid")
SPAM_BLOCK = ("hard_bounced", "spam_block")
SOFT = ("soft_bounced", None)


def judged(result: Classification) -> tuple[str, str | None]:
    return result.type, result.category


@pytest.mark.parametrize(
    ("status", "reply", "expected", "reason"),
    [
        # Gmail, Postfix, Exchange/Outlook.com, Yahoo: the address is gone.
        (
            "5.1.1",
            "550-5.1.1 The email account that you tried to reach does not exist.",
            HARD_INVALID,
            "user_unknown",
        ),
        (
            None,
            "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown in "
            "local recipient table",
            HARD_INVALID,
            "user_unknown",
        ),
        (
            None,
            "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
            HARD_INVALID,
            "user_unknown",
        ),
        (
            None,
            "554 delivery error: dd This user doesn't have a yahoo.com account",
            HARD_INVALID,
            "user_unknown",
        ),
        (
            "5.4.4",
            "Host or domain name not found. Name service error for name=example.invalid",
            HARD_INVALID,
            "host_unknown",
        ),
        # The sender's problem: blocked, never a reason to drop the address.
        (None, "550 5.7.1 blocked by spam filter", SPAM_BLOCK, "spam"),
        (
            None,
            "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
            SPAM_BLOCK,
            "blocked",
        ),
        (
            "5.7.26",
            "550-5.7.26 This mail has been blocked because the sender is "
            "unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM.",
            SPAM_BLOCK,
            "auth",
        ),
        (
            None,
            "550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please "
            "contact your Internet service provider since part of their network is on our "
            "block list (S3150)",
            SPAM_BLOCK,
            "blocked",
        ),
        (None, "553 5.7.1 <a@example.org>: Relay access denied", SPAM_BLOCK, "policy"),
        (None, "552 5.3.4 Message size exceeds fixed limit", SPAM_BLOCK, "too_large"),
        # Soft: full, temporary, expired.
        (None, "552 5.2.2 <a@example.org>: mailbox full", SOFT, "mailbox_full"),
        (
            "4.2.2",
            "452 4.2.2 The email account that you tried to reach is over quota.",
            SOFT,
            "mailbox_full",
        ),
        (
            None,
            "450 4.2.0 <a@example.org>: Recipient address rejected: Greylisted, see "
            "http://postgrey.schweikert.ch/",
            SOFT,
            "temporary",
        ),
        (
            None,
            "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to "
            "unexpected volume or user complaints",
            SOFT,
            "blocked",
        ),
        ("4.4.7", "", SOFT, "expired"),
        (
            None,
            "421 Too many concurrent SMTP connections; please try again later.",
            SOFT,
            "temporary",
        ),
        (None, "retry timeout exceeded", SOFT, "expired"),
    ],
)
def test_real_replies_are_judged(
    status: str | None, reply: str, expected: tuple[str, str | None], reason: str
) -> None:
    result = classify(status, reply)
    assert judged(result) == expected
    assert result.reason == reason


def test_the_text_knows_better_than_the_code() -> None:
    # "550 5.1.1 … mailbox full" exists: the person stays mailable.
    assert judged(classify("5.1.1", "550 5.1.1 mailbox full")) == SOFT
    # Many servers say 5.0.0 for everything: the words decide.
    assert judged(classify("5.0.0", "550 5.0.0 Message rejected as spam")) == SPAM_BLOCK
    said_at_rcpt = "550 5.0.0 <a@b>... User unknown (in reply to RCPT TO command)"
    assert judged(classify("5.0.0", said_at_rcpt)) == HARD_INVALID


def test_user_unknown_is_invalid_only_when_it_is_sure() -> None:
    # With a 5.1.x code, at RCPT TO, or in a provider's own words for a missing account.
    assert judged(classify(reply="550 5.1.1 <a@b>... User unknown")) == HARD_INVALID
    qmail = "<a@b>: 192.0.2.1 does not like recipient. Remote host said: 550 User unknown"
    assert judged(classify(reply=qmail)) == HARD_INVALID
    assert judged(classify(reply="554 delivery error: dd This user doesn't have a "
                                 "yahoo.com account")) == HARD_INVALID  # fmt: skip
    # Words alone, or after DATA (a filter's answer), or a code naming another cause.
    alone = classify("5.0.0", "550 5.0.0 <a@b>... User unknown")
    assert (judged(alone), alone.reason) == (SPAM_BLOCK, "filtered")
    after_data = "550 5.1.1 <a@b>: User unknown (in reply to end of DATA command)"
    assert judged(classify(reply=after_data)) == SPAM_BLOCK
    assert judged(classify("5.2.1", "550 5.2.1 <a@b>... User Unknown")) == SPAM_BLOCK
    # Refused before any recipient was named: the sender's address is at fault.
    sender = "553 5.1.8 Domain of sender address x@y does not exist (in reply to MAIL FROM)"
    assert judged(classify(reply=sender)) == SPAM_BLOCK


def test_a_code_alone_decides_when_the_text_says_nothing_known() -> None:
    assert judged(classify("5.1.1", "550 Rejected")) == HARD_INVALID
    assert judged(classify("5.2.2")) == SOFT
    assert judged(classify("5.7.1")) == SPAM_BLOCK
    assert judged(classify(reply="550 Requested action not taken")) == SPAM_BLOCK
    assert judged(classify(reply="451 Requested action aborted")) == SOFT


def test_unsure_is_never_invalid() -> None:
    # A generic permanent failure is a block for 24 h, not the end of the address.
    assert judged(classify("5.0.0")) == SPAM_BLOCK
    assert judged(classify("5.4.4")) == SOFT
    assert (
        judged(classify(reply="550 5.5.0 Requested action not taken: mailbox unavailable"))
        == SPAM_BLOCK
    )
    # User unknown said as a temporary failure: the server may know better tomorrow.
    assert (
        judged(classify("4.1.1", "450 4.1.1 <a@b>: Recipient address rejected: unverified address"))
        == SOFT
    )
    # A text naming both a block and an unknown user is a block.
    assert (
        judged(classify(reply="550 5.1.1 User unknown; blocked using bl.spamcop.net")) == SPAM_BLOCK
    )


def test_a_provider_hint_is_used_only_when_code_and_text_do_not_decide() -> None:
    assert judged(classify(hint="Permanent")) == SPAM_BLOCK
    assert judged(classify(hint="HardBounce")) == SPAM_BLOCK
    assert judged(classify(hint="Transient")) == SOFT
    assert judged(classify(hint="blocked")) == SPAM_BLOCK
    assert classify(hint="MailboxFull").reason == "mailbox_full"
    assert judged(classify("5.1.1", "550 5.1.1 user unknown", hint="Transient")) == HARD_INVALID


def test_nothing_known_is_an_unclear_answer() -> None:
    assert classify() == Classification("soft_bounced", None, "unknown")
    assert classify(reply="something odd", hint="no-such-type").reason == "unknown"


def test_the_enhanced_code_is_read_from_the_text() -> None:
    assert enhanced_status("550-5.1.1 The email account") == "5.1.1"
    assert enhanced_status("smtp; 550 #5.1.0 Address rejected") == "5.1.0"
    assert enhanced_status("version 1.2.3.4 of nothing") is None
    assert enhanced_status(None) is None


@pytest.mark.parametrize(
    "reply",
    [
        # Exchange 2003's NDR, Lotus Domino and Notes (English and Japanese), IMail's and
        # mail.local's final delivery: a lookup in the mailbox host's own directory.
        "kijitora@example.jp The recipient name is not recognized MSEXCH:IMS:NNN:CAT:NEKO 0 "
        "(000C05A6) Unknown Recipient",
        "because: User some.name (a@example.jp) not listed in Domino Directory",
        "ユーザーNeko (a@example.co.jp) は Domino ディレクトリには見つかりません。",
        "------- Failure Reasons -------- ディレクトリのリストにありません a@example.co.jp",
        "Invalid final delivery userid: a@example.co.jp",
        "mail.local: unknown user: kijitora 554 <a@example.net>... Service unavailable",
    ],
)
def test_a_directory_lookup_in_its_own_words_is_sure(reply: str) -> None:
    result = classify(None, reply)
    assert (judged(result), result.reason) == (HARD_INVALID, "user_unknown")


def test_postfix_recipient_tables_answer_rcpt_to_whatever_a_relay_reports() -> None:
    # m-FILTER names DATA, the last command it sent; Postfix's table lookup answers RCPT TO.
    mfilter = (
        "-------server message 550 5.1.1 <a@b.jp>: Recipient address rejected: User unknown "
        "in local recipient table -------SMTP command DATA"
    )
    assert judged(classify(None, mfilter)) == HARD_INVALID
    # The same words about the sender are the sender's problem.
    sender = "553 5.1.0 <a@b.jp>: Sender address rejected: User unknown in local recipient table"
    assert judged(classify(None, sender)) == SPAM_BLOCK


def test_gmail_s_sentence_without_gmail_s_code_is_not_sure() -> None:
    # Gmail says it with 550-5.1.1; another server writing it with 5.0.0 says no more than
    # "user unknown" without a code.
    words = "The email account that you tried to reach does not exist."
    assert (judged(classify("5.0.0", words)), classify("5.0.0", words).reason) == (
        SPAM_BLOCK,
        "filtered",
    )
    assert judged(classify("5.1.1", "550-5.1.1 " + words)) == HARD_INVALID


def test_a_local_delivery_program_s_failure_is_soft() -> None:
    procmail = 'procmail: Couldn\'t create "/var/spool/mail/neko" id: r.example.org: No such user'
    assert (judged(classify("5.1.1", procmail)), classify("5.1.1", procmail).reason) == (
        SOFT,
        "temporary",
    )
    pipe = "554 \"|IFS=' ' && exec /usr/local/bin/procmail -f- || exit 75 #kijitora\""
    assert judged(classify("5.5.0", pipe)) == SOFT


def test_a_quota_before_any_recipient_is_the_sender_s() -> None:
    relay = (
        "SMTP error from remote mail server after initial connection: 554 neko22 : CAT : "
        "You've reached your daily relay quota - 203.0.113.0"
    )
    assert (judged(classify(None, relay)), classify(None, relay).reason) == (
        SPAM_BLOCK,
        "rejected",
    )
    # At RCPT TO or after it, a quota is the mailbox's.
    assert judged(classify(None, "552 Error: disk quota exceeded")) == SOFT


@pytest.mark.parametrize(
    ("reply", "expected", "reason"),
    [
        (
            "SMTP error from remote mail server after end of data: 550 5.2.0 <a@b> From: "
            "Domain is invalid. Please provide a valid From: IB506",
            SPAM_BLOCK,
            "policy",
        ),
        (
            "<a@ezweb.ne.jp> Each of the following recipients was rejected by a remote mail "
            "server.",
            SPAM_BLOCK,
            "rejected",
        ),
        (
            "Google tried to deliver your message, but it was rejected by the recipient "
            "domain. The error that the other server returned was: 500 Remote server does "
            "not support TLS (state 6).",
            SOFT,
            "temporary",
        ),
        # "rejected by" decides only when nothing else is said.
        (
            "Google tried to deliver your message, but it was rejected by the server for the "
            "recipient domain example.org by mx.example.org. [192.0.2.1]. The error that the "
            "other server returned was: 550 5.1.1 <a@example.org>... User unknown",
            HARD_INVALID,
            "user_unknown",
        ),
    ],
)
def test_more_wordings(reply: str, expected: tuple[str, str | None], reason: str) -> None:
    result = classify(None, reply)
    assert (judged(result), result.reason) == (expected, reason)
