"""tracker.bounces.parse alone, on real messages of the corpus (tests/data/bounces)."""

from __future__ import annotations

import pytest

from tests.bounce_corpus import CORPUS
from tracker.bounces.parse import Unreadable, parse


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
