"""tracker.bounces.parse alone, on real messages of the corpus (tests/data/bounces)."""

from __future__ import annotations

import pytest

from tests.bounce_corpus import CORPUS
from tracker.bounces.parse import Failure, Unreadable, parse


def message(name: str) -> bytes:
    return (CORPUS / "messages" / name).read_bytes()


def test_a_postfix_dsn_names_each_failed_recipient_with_its_status_and_reply() -> None:
    report = parse(message("lhost-postfix-13.eml"))
    assert report.kind == "dsn"
    assert [(f.address, f.status) for f in report.failures] == [
        ("kijitora@example.jp", "5.2.1"),
        ("noraneko@example.jp", "5.2.2"),
    ]
    assert all(f.action == "failed" and f.reply for f in report.failures)


def test_a_qmail_bounce_is_read_from_its_prose() -> None:
    report = parse(message("lhost-qmail-01.eml"))
    assert report.kind == "bounce"
    (failure,) = report.failures
    assert failure.address == "kijitora@example.ne.jp"
    assert failure.reply is not None and "550 Unknown user" in failure.reply
    assert report.message_id == "<000000000.9999999999999.JavaMail.postmaster@mailhub>"


def test_an_exim_bounce_names_its_failed_recipient() -> None:
    report = parse(message("lhost-exim-01.eml"))
    assert report.kind == "bounce"
    assert [f.address for f in report.failures] == ["kijitora@example.ed.jp"]


def test_a_feedback_report_gives_its_type_and_every_recipient() -> None:
    report = parse(message("arf-16.eml"))
    assert report.kind == "arf"
    assert report.feedback_type == "abuse"
    assert "kijitora@example.com" in [f.address for f in report.failures]
    assert len(report.failures) == 7


def test_outlook_com_complaints_without_a_feedback_part_are_reports() -> None:
    report = parse(message("arf-22.eml"))
    assert (report.kind, report.feedback_type) == ("arf", "abuse")
    assert [f.address for f in report.failures] == ["kijitora@example.com"]


def test_auto_replies_delays_and_ordinary_mail_are_not_bounces() -> None:
    assert parse(message("rfc3834-01.eml")).kind == "autoreply"
    delayed = parse(message("lhost-outlook-06.eml"))
    assert delayed.kind == "dsn" and delayed.failures == ()
    assert parse(message("not-is-not-bounce-01.eml")).kind == "not_a_bounce"


def test_the_tracker_token_is_found_in_the_returned_headers() -> None:
    raw = message("lhost-postfix-13.eml").replace(
        b"\nSubject: Nyaaaan",
        b"\nX-Tracker-Message: tok.en-1\nSubject: Nyaaaan",
        1,
    )
    assert b"tok.en-1" in raw
    assert parse(raw).token == "tok.en-1"


@pytest.mark.parametrize("raw", [b"", b"   \n", b"\x00\x01binary"])
def test_no_message_at_all_is_unreadable(raw: bytes) -> None:
    with pytest.raises(Unreadable):
        parse(raw)


def only(name: str) -> Failure:
    (failure,) = parse(message(name)).failures
    return failure


def test_the_command_answered_is_found_across_a_wrapped_line() -> None:
    # Postfix wraps "(in reply to\n    RCPT TO command)"; its Diagnostic-Code does not say it.
    assert (only("lhost-postfix-36.eml").reply or "").endswith("(in reply to RCPT TO)")


def test_a_sendmail_transcript_line_of_another_host_is_not_this_address_s() -> None:
    failures = parse(message("lhost-v5sendmail-05.eml")).failures
    edu = next(f for f in failures if f.address == "kijitora@example.edu")
    assert edu.reply is not None and "Connection reset" in edu.reply
    assert "Host unknown" not in edu.reply


def test_an_indented_unsent_message_mark_starts_the_copy() -> None:
    failure = only("lhost-v5sendmail-06.eml")
    assert failure.reply is not None and "Remote protocol error" in failure.reply
    assert "Received:" not in failure.reply
    # The failed address is named only in the copy's To: it is still found.
    assert only("lhost-v5sendmail-01.eml").address == "kijitora@example.com"


def test_the_original_message_section_of_an_mms_gateway_is_the_copy() -> None:
    failure = only("lhost-verizon-01.eml")
    assert failure.address == "0000000000@vzwpix.com"
    assert failure.reply == (
        "Message could not be delivered to mobile. Error: No valid recipients for this MM"
    )


def test_a_failed_address_that_is_also_the_bounce_s_recipient_is_kept() -> None:
    # Someone mailed themselves: qmail's "<address>:" paragraph names them all the same.
    failure = only("lhost-qmail-08.eml")
    assert failure.address == "shironeko@example.ad.jp"
    assert failure.reply is not None and "disk quota exceeded" in failure.reply


def test_a_dsn_with_a_broken_mime_structure_keeps_its_notice() -> None:
    failure = only("rfc3464-06.eml")
    assert failure.reply is not None and "mail.local: unknown user: kijitora" in failure.reply


def test_a_dsn_without_a_diagnostic_takes_its_notice_of_one_recipient() -> None:
    # EZweb writes the reason above the address; Sendmail names the address "expanded from".
    ezweb = only("lhost-ezweb-02.eml")
    assert ezweb.reply is not None and "The user(s) account is disabled." in ezweb.reply
    expanded = only("rfc3464-04.eml")
    assert expanded.reply is not None and "Service unavailable" in expanded.reply


def test_japanese_in_a_dsn_field_and_around_the_address_is_read() -> None:
    domino = only("lhost-domino-02.eml")
    assert domino.reply is not None and "Domino ディレクトリには見つかりません" in domino.reply
    notes = only("lhost-notes-02.eml")
    assert notes.reply is not None and "ディレクトリのリストにありません" in notes.reply
