"""`tracker decorate`: real email templates and small hand-written cases."""

from __future__ import annotations

import random
import re
import time
from html import escape, unescape
from pathlib import Path

import pytest

from tracker.decorate import (
    Decorated,
    TooLarge,
    annotate_links,
    decorate,
    decorate_many,
    has_merge_tag,
)
from tracker.tokens import HONEYPOT_LINK, BadToken, Click, Message, Tokens

BASE = "http://localhost:8080"
CORPUS = Path(__file__).resolve().parent / "data" / "email-templates"
CLICK_URL = re.compile(re.escape(BASE) + r"/c/[A-Za-z0-9_.\-]+")
FOOTER = re.compile(r'<p style="[^"]*font-size:12px[^"]*"><a href="([^"]+)">Unsubscribe</a></p>')
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)

# Counted by hand in each file (and checked against SOURCES.md): the <a href> targets that
# are absolute http(s) URLs with a host, in document order.
EXPECTED_LINKS = {
    "cerberus-hybrid.html": ["https://google.com/"] * 3,
    "colorlib-28.html": [],  # every <a> is href="#"
    "leemunroe-email.html": [
        "http://htmlemail.io",
        "http://htmlemail.io/blog",
        "http://htmlemail.io",
    ],
    "mailchimp-base-boxed-basic-query.html": [
        "http://www.mailchimp.com/kb/article/"
        "im-using-the-style-designer-and-i-cant-get-my-formatting-to-change"
    ],
    "postmark-basic-full-welcome.html": ["https://example.com"],
    "sendwithus-go-survey.html": [],  # "#" anchors and "http://" placeholders only
}


# These two replace conftest's fixtures of the same names: one key, short ids.
@pytest.fixture
def tokens() -> Tokens:
    return Tokens(["test-key"])


@pytest.fixture
def message() -> Message:
    return Message("d1", "r1", "c1", "e1")


def corpus(name: str) -> str:
    return (CORPUS / name).read_bytes().decode("utf-8")


def run(html: str, tokens: Tokens, message: Message, **options: bool) -> Decorated:
    """Decorate without the honeypot link unless asked: it has its own tests below."""
    options.setdefault("honeypot", False)
    return decorate(html, message, tokens, BASE, **options)


def clicks(html: str, tokens: Tokens) -> list[Click]:
    """Every click URL in the document, verified, in document order."""
    return [tokens.read_click(url.rsplit("/", 1)[1]) for url in CLICK_URL.findall(html)]


def pixel(tokens: Tokens, message: Message) -> str:
    return (
        f'<img src="{BASE}/o/{tokens.open_token(message)}.gif" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px">'
    )


def unsubscribe(tokens: Tokens, message: Message) -> str:
    return f"{BASE}/u/{tokens.unsubscribe_token(message)}"


def view(tokens: Tokens, message: Message) -> str:
    return f"{BASE}/v/{tokens.view_token(message)}"


def undecorate(
    decorated: str, tokens: Tokens, message: Message, placeholder: str = "", archive: str = ""
) -> str:
    """Put each original href back and take out what decoration inserted."""
    html = CLICK_URL.sub(lambda m: escape(tokens.read_click(m[0].rsplit("/", 1)[1]).url), decorated)
    html = FOOTER.sub("", html, count=1).replace(pixel(tokens, message), "")
    html = html.replace(view(tokens, message), archive)
    return html.replace(unsubscribe(tokens, message), placeholder)


# The real templates ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED_LINKS))
def test_template_tracks_every_absolute_link_in_order(
    name: str, tokens: Tokens, message: Message
) -> None:
    source = corpus(name)
    counted = re.findall(r'<a\s[^>]*?href="(https?://[^"/][^"]*)"', source, re.IGNORECASE)
    assert counted == EXPECTED_LINKS[name], "hand count and independent count agree"

    result = run(source, tokens, message)

    assert result.links == tuple(enumerate(EXPECTED_LINKS[name]))
    found = clicks(result.html, tokens)
    assert [(c.link, c.url) for c in found] == list(result.links)
    assert all(c.message == message for c in found)


@pytest.mark.parametrize("name", sorted(EXPECTED_LINKS))
def test_template_is_otherwise_unchanged_byte_for_byte(
    name: str, tokens: Tokens, message: Message
) -> None:
    source = corpus(name)
    result = run(source, tokens, message)

    placeholder = "*|UNSUB|*" if "*|UNSUB|*" in source else ""
    archive = "*|ARCHIVE|*" if "*|ARCHIVE|*" in source else ""
    assert undecorate(result.html, tokens, message, placeholder, archive) == source
    assert COMMENT.findall(result.html) == COMMENT.findall(source), "comments untouched"
    assert result.html.count("<!--[if") == source.count("<!--[if")
    assert result.html.count("<![endif]-->") == source.count("<![endif]-->")
    assert result.html.count("&nbsp;") == source.count("&nbsp;")
    assert result.html.rstrip().endswith("</html>")
    body_end = result.html.rindex("</body>")
    assert result.html[:body_end].endswith(pixel(tokens, message)), "pixel right before </body>"


def test_conditional_comment_counts_match_the_sources(tokens: Tokens, message: Message) -> None:
    counts = {"cerberus-hybrid.html": 26, "colorlib-28.html": 43, "sendwithus-go-survey.html": 11}
    for name, count in counts.items():
        result = run(corpus(name), tokens, message)
        assert result.html.count("<!--[if") == count
        assert result.html.count("<![endif]-->") == count


def test_colorlib_stylesheet_link_is_left_exactly(tokens: Tokens, message: Message) -> None:
    link = (
        '<link href="https://fonts.googleapis.com/css2?family=Inter:wght@400;500;600;700;800'
        '&amp;display=swap" rel="stylesheet" type="text/css">'
    )
    source = corpus("colorlib-28.html")
    assert link in source
    result = run(source, tokens, message)
    assert link in result.html
    assert result.html.count('href="#"') == source.count('href="#"') == 14


def test_cerberus_commented_out_single_quoted_link_is_left(
    tokens: Tokens, message: Message
) -> None:
    link = "<link href='https://fonts.googleapis.com/css?family=Roboto:400,700' rel='stylesheet'"
    assert link in run(corpus("cerberus-hybrid.html"), tokens, message).html


def test_cerberus_same_url_three_times_gets_three_numbers(tokens: Tokens, message: Message) -> None:
    result = run(corpus("cerberus-hybrid.html"), tokens, message)
    urls = CLICK_URL.findall(result.html)
    assert len(set(urls)) == 3
    assert [c.link for c in clicks(result.html, tokens)] == [0, 1, 2]
    assert FOOTER.search(result.html), "no unsubscribe placeholder: the footer is added"


def test_merge_tag_hrefs_are_untouched(tokens: Tokens, message: Message) -> None:
    mailchimp = run(corpus("mailchimp-base-boxed-basic-query.html"), tokens, message).html
    for tag in ("TWITTER:PROFILEURL", "FACEBOOK:PROFILEURL", "FORWARD"):
        assert f'href="*|{tag}|*"' in mailchimp
    assert f'href="{view(tokens, message)}"' in mailchimp, "*|ARCHIVE|* is view in browser"
    assert 'href="*|UPDATE_PROFILE|*"' in mailchimp
    postmark = run(corpus("postmark-basic-full-welcome.html"), tokens, message).html
    for href in ("{{action_url}}", "mailto:{{support_email}}", "{{live_chat_url}}", "{{help_url}}"):
        assert f'href="{href}"' in postmark


def test_mailchimp_unsub_tag_becomes_the_unsubscribe_link(tokens: Tokens, message: Message) -> None:
    result = run(corpus("mailchimp-base-boxed-basic-query.html"), tokens, message)
    assert "*|UNSUB|*" not in result.html
    assert f'<a href="{unsubscribe(tokens, message)}">unsubscribe from this list</a>' in result.html
    assert not FOOTER.search(result.html), "the template has its own unsubscribe link"
    assert len(result.links) == 1, "the unsubscribe link is not numbered"


def test_sendwithus_placeholder_buttons_are_left_alone(tokens: Tokens, message: Message) -> None:
    source = corpus("sendwithus-go-survey.html")
    result = run(source, tokens, message)
    assert result.links == ()
    assert result.html.count('href="http://"') == source.count('href="http://"') == 22
    assert result.html.count('<a href="#">') == 5


def test_sendwithus_vml_buttons_with_real_urls_share_their_links_number(
    tokens: Tokens, message: Message
) -> None:
    # Fill each of the 11 survey buttons (a <v:rect> for Outlook, then its <a> fallback)
    # with a real URL, as a marketer would.
    source = corpus("sendwithus-go-survey.html")
    parts = source.split('href="http://"')
    assert len(parts) == 23
    filled = parts[0]
    for i, part in enumerate(parts[1:]):
        filled += f'href="https://example.com/score/{i // 2}"' + part

    result = run(filled, tokens, message)

    urls = [f"https://example.com/score/{n}" for n in range(11)]
    assert result.links == tuple(enumerate(urls))
    found = clicks(result.html, tokens)
    assert [(c.link, c.url) for c in found] == [pair for pair in enumerate(urls) for _ in "ab"]
    vml = re.findall(r'<v:rect [^>]*href="([^"]*)"', result.html)
    assert len(vml) == 11 and all(CLICK_URL.fullmatch(url) for url in vml)


# Which links are tracked -----------------------------------------------------------------


def test_links_are_numbered_by_position_including_outlook_comments(
    tokens: Tokens, message: Message
) -> None:
    html = (
        '<a href="https://a.example/">A</a>'
        '<!--[if mso | IE]><table><tr><td><a href="https://b.example/">B</a><![endif]-->'
        '<!--[if !mso]><!--><a href="https://c.example/">C</a><!--<![endif]-->'
        '<a href="https://a.example/">A again</a>'
    )
    result = run(html, tokens, message)
    assert result.links == (
        (0, "https://a.example/"),
        (1, "https://b.example/"),
        (2, "https://c.example/"),
        (3, "https://a.example/"),
    )
    assert [(c.link, c.url) for c in clicks(result.html, tokens)] == list(result.links)


def test_non_web_relative_and_placeholder_links_are_not_tracked(
    tokens: Tokens, message: Message
) -> None:
    hrefs = [
        "mailto:someone@example.com",
        "tel:+15555550100",
        "#top",
        "",
        "/relative/path",
        "page.html",
        "//example.com/protocol-relative",
        "{{action_url}}",
        "*|FORWARD|*",
        "https://example.com/?id={{user_id}}",
        "http://",
        "https://",
        "ftp://example.com/file",
        "javascript:alert(1)",
        f"{BASE}/c/already-tracked",
        f"{BASE}/o/pixel.gif",
    ]
    body = "".join(f'<a href="{h}">x</a>' for h in hrefs) + "<a>no href</a><a href>empty</a>"
    html = f"<html><body>{body}</body></html>"
    result = run(html, tokens, message, track_opens=False)
    assert result.links == ()
    assert result.html.startswith(f"<html><body>{body}<p ")


def test_data_track_off_is_skipped_and_not_numbered(tokens: Tokens, message: Message) -> None:
    html = (
        '<a href="https://off.example/" data-track="off">off</a>'
        "<a data-track='OFF' href='https://off.example/2'>off</a>"
        '<a href="https://on.example/" data-track="on">on</a>'
    )
    result = run(html, tokens, message)
    assert result.links == ((0, "https://on.example/"),)
    assert result.html.startswith(html[: html.index('<a href="https://on')])
    assert 'data-track="off"' in result.html and "data-track='OFF'" in result.html


def test_other_elements_with_href_are_never_touched(tokens: Tokens, message: Message) -> None:
    html = (
        '<base href="https://example.com/"><link href="https://example.com/a.css?x=1&amp;y=2">'
        '<map><area href="https://example.com/area"></map>'
        '<!-- <a href="https://example.com/commented-out">old</a> -->'
        '<style>a[href="https://example.com/"] { color: red }</style>'
    )
    result = run(html, tokens, message, track_opens=False)
    assert result.links == ()
    assert result.html.startswith(html)


def test_quote_style_is_kept_and_unquoted_becomes_double_quoted(
    tokens: Tokens, message: Message
) -> None:
    html = (
        "<a class='x' href='https://single.example/'>1</a>"
        "<a href=https://bare.example/?a=1 class=y>2</a>"
        '<a HREF = "https://double.example/">3</a>'
    )
    result = run(html, tokens, message)
    out = result.html
    assert re.search(r"<a class='x' href='http://localhost:8080/c/[^'\"]+'>1</a>", out)
    assert re.search(r'<a href="http://localhost:8080/c/[^\'"]+" class=y>2</a>', out)
    assert re.search(r'<a HREF = "http://localhost:8080/c/[^\'"]+">3</a>', out)
    assert [c.url for c in clicks(out, tokens)] == [
        "https://single.example/",
        "https://bare.example/?a=1",
        "https://double.example/",
    ]


def test_escaped_ampersand_and_surrounding_spaces(tokens: Tokens, message: Message) -> None:
    html = '<a href=" https://example.com/?a=1&amp;b=2&#38;c=3 ">x</a>'
    result = run(html, tokens, message)
    assert result.links == ((0, "https://example.com/?a=1&b=2&c=3"),)
    assert clicks(result.html, tokens)[0].url == "https://example.com/?a=1&b=2&c=3"


def test_attribute_is_written_escaped(tokens: Tokens, message: Message) -> None:
    base = "https://t.example/mail&co"
    result = decorate('<a href="https://example.com/">x</a>', message, tokens, base)
    href = re.match(r'<a href="([^"]*)">', result.html)
    assert href and "&amp;co/c/" in href[1] and "&co" not in href[1].replace("&amp;", "")
    token = unescape(href[1]).rsplit("/", 1)[1]
    assert tokens.read_click(token).url == "https://example.com/"


def test_already_decorated_links_are_not_tracked_twice(tokens: Tokens, message: Message) -> None:
    html = (
        '<html><body><a href="https://example.com/">x</a>'
        '<!--[if mso]><v:roundrect href="https://example.com/"></v:roundrect><![endif]-->'
        "</body></html>"
    )
    once = run(html, tokens, message)
    twice = run(once.html, tokens, message)
    assert twice.links == ()
    assert CLICK_URL.findall(twice.html) == CLICK_URL.findall(once.html)
    assert len(FOOTER.findall(twice.html)) == 1, "the unsubscribe link is already there"
    assert twice.html.count(pixel(tokens, message)) <= 2


def test_track_clicks_off_keeps_hrefs_and_numbering(tokens: Tokens, message: Message) -> None:
    html = '<a href="https://a.example/">a</a><a href="https://b.example/">b</a></body>'
    on = run(html, tokens, message)
    off = run(html, tokens, message, track_clicks=False)
    assert off.links == on.links == ((0, "https://a.example/"), (1, "https://b.example/"))
    assert off.html.startswith('<a href="https://a.example/">a</a><a href="https://b.example/">')
    assert not CLICK_URL.search(off.html)
    assert pixel(tokens, message) in off.html


def test_track_opens_off_adds_no_pixel(tokens: Tokens, message: Message) -> None:
    result = run("<html><body><p>Hi</p></body></html>", tokens, message, track_opens=False)
    assert "/o/" not in result.html
    assert FOOTER.search(result.html)
    assert result.html.endswith("</p></body></html>")


# VML buttons -----------------------------------------------------------------------------


def test_vml_href_shares_the_number_of_its_fallback_link(tokens: Tokens, message: Message) -> None:
    html = (
        '<a href="https://button.example/">before</a>'
        '<!--[if mso]><v:roundrect xmlns:v="urn:schemas-microsoft-com:vml" '
        'href="https://button.example/" arcsize="10%"><center>Go</center></v:roundrect>'
        '<v:oval href="https://only-vml.example/"/>'
        '<v:rect href="https://behind.example/"/><![endif]-->'
        '<a href="https://button.example/">fallback</a>'
        '<a href="https://behind.example/">text</a>'
        '<a href="https://button.example/">later</a>'
    )
    result = run(html, tokens, message)
    assert result.links == (
        (0, "https://button.example/"),
        (1, "https://button.example/"),
        (2, "https://behind.example/"),
        (3, "https://button.example/"),
        (4, "https://only-vml.example/"),
    )
    # The roundrect takes the nearest following <a> with its URL (1), not the first or last.
    assert [c.link for c in clicks(result.html, tokens)] == [0, 1, 4, 2, 1, 2, 3]


def test_vml_href_after_its_link_shares_the_preceding_number(
    tokens: Tokens, message: Message
) -> None:
    html = (
        '<a href="https://x.example/">x</a><a href="https://y.example/">y</a>'
        '<a href="https://x.example/">x again</a>'
        '<!--[if mso]><v:roundrect href="https://x.example/"></v:roundrect><![endif]-->'
    )
    result = run(html, tokens, message)
    assert result.links == (
        (0, "https://x.example/"),
        (1, "https://y.example/"),
        (2, "https://x.example/"),
    )
    assert [c.link for c in clicks(result.html, tokens)] == [0, 1, 2, 2]


# Pixel, unsubscribe and headers ----------------------------------------------------------


def test_pixel_and_footer_go_before_the_last_body_end_tag(tokens: Tokens, message: Message) -> None:
    html = "<HTML><BODY><p>x</p><!-- </body> in a comment --></BODY>\n<p>late</p></BODY ></HTML>"
    result = run(html, tokens, message)
    footer = FOOTER.search(result.html)
    assert footer and footer[1] == unsubscribe(tokens, message)
    tail = footer[0] + pixel(tokens, message)
    assert result.html == html.replace("</BODY ></HTML>", tail + "</BODY ></HTML>")


def test_body_end_inside_a_comment_is_not_used(tokens: Tokens, message: Message) -> None:
    html = "<body><p>x</p></body><!--[if mso]></body><![endif]--><!-- </body> -->"
    result = run(html, tokens, message, track_opens=True)
    assert result.html.startswith("<body><p>x</p><p ")
    assert result.html.endswith(pixel(tokens, message) + html[len("<body><p>x</p>") :])


def test_without_body_the_pixel_is_appended(tokens: Tokens, message: Message) -> None:
    result = run("<p>Hello</p>", tokens, message)
    assert result.html.startswith("<p>Hello</p><p style=")
    assert result.html.endswith(pixel(tokens, message))


def test_unsubscribe_placeholders_are_replaced_and_not_numbered(
    tokens: Tokens, message: Message
) -> None:
    html = (
        '<body><a href="{{unsubscribe_url}}">Unsubscribe</a>'
        "<p>Or paste {{unsubscribe_url}} or *|UNSUB|* in a browser.</p></body>"
    )
    result = run(html, tokens, message)
    url = unsubscribe(tokens, message)
    assert result.links == ()
    assert result.html.startswith(
        f'<body><a href="{url}">Unsubscribe</a><p>Or paste {url} or {url} in a browser.</p>'
    )
    assert not FOOTER.search(result.html)


def test_headers(tokens: Tokens, message: Message) -> None:
    result = run("", tokens, message)
    assert result.headers == {
        "List-Unsubscribe": f"<{unsubscribe(tokens, message)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "X-Tracker-Message": tokens.bounce_token(message),
    }
    assert tokens.read_unsubscribe(result.headers["List-Unsubscribe"][1:-1].rsplit("/", 1)[1])
    # The header names the message a bounce returns, and only as a bounce token.
    assert tokens.read_bounce(result.headers["X-Tracker-Message"]) == message
    with pytest.raises(BadToken):
        tokens.read_open(result.headers["X-Tracker-Message"])


# Line endings and bad input --------------------------------------------------------------


@pytest.mark.parametrize("newlines", [["\r\n"], ["\r"], ["\n"], ["\r", "\n", "\r\n", "\n\r"]])
def test_line_endings_do_not_shift_the_rewritten_hrefs(
    newlines: list[str], tokens: Tokens, message: Message
) -> None:
    lines = [
        "<!DOCTYPE html>",
        "<html><body>",
        '  <p>caf\u00e9 &nbsp; <a href="https://one.example/">one</a></p>',
        "  <table><tr><td>",
        "  <!--[if mso]>",
        '  <v:roundrect href="https://two.example/"></v:roundrect>',
        "  <![endif]-->",
        "  <a",
        '     href="https://two.example/"',
        "     >two</a></td></tr></table>",
        "</body></html>",
    ]
    html = lines[0] + "".join(
        newlines[i % len(newlines)] + line for i, line in enumerate(lines[1:])
    )
    result = run(html, tokens, message)
    assert result.links == ((0, "https://one.example/"), (1, "https://two.example/"))
    assert [c.link for c in clicks(result.html, tokens)] == [0, 1, 1]
    assert undecorate(result.html, tokens, message) == html


@pytest.mark.parametrize(
    "html",
    [
        "",
        "\x00",
        "<",
        "<a",
        "<a href=",
        '<a href="https://example.com/',
        "<a href='https://example.com/'",
        "</",
        "<!--",
        "<!--[if mso]>",
        "<!--[if mso]><a href='https://example.com/'>",
        "<![ 1 ]> <![foo[ x ]]> <![if",
        "<!DOCTYPE html [ <x ]>",
        '<a href="https://ex\x00ample.com/">nul</a>\x00</bo\x00dy>',
        "<a href=https://example.com/" + "x" * 100_000 + ">",
        '<a href="' + "&amp;" * 50_000 + '">',
        "<<<a<a<a href=<a>>>&&&#&#x;&#99999999;",
        '\u00e9\u4e2d\U0001f600<a href="https://\u00e9xample.com/\u4e2d">\u00e9</a>',
        "<style><a href='https://example.com/'></body>",
        "<script></body><a href='https://example.com/'>",
        "</body></body><body></body>",
        "<v:roundrect href=https://example.com/ / ><v: href=x>",
        "*|UNSUB|*{{unsubscribe_url}}*|UNSUB|",
    ],
)
def test_garbage_never_raises(html: str, tokens: Tokens, message: Message) -> None:
    result = run(html, tokens, message)
    assert isinstance(result.html, str)
    assert pixel(tokens, message) in result.html
    for number, url in result.links:
        assert number >= 0 and url.startswith(("http://", "https://"))


def test_links_after_malformed_markup_are_still_found(tokens: Tokens, message: Message) -> None:
    # CPython's parser gives up on "<![ 1 ]>" with an error; the links after it still count.
    html = "<![ 1 ]><![foo[ x ]]><p><a href='https://after.example/'>x</a></p></body>"
    result = run(html, tokens, message)
    assert result.links == ((0, "https://after.example/"),)
    assert undecorate(result.html, tokens, message) == html


def test_invalid_message_ids_raise_value_error(tokens: Tokens) -> None:
    with pytest.raises(ValueError):
        decorate("<p>x</p>", Message("", "r", "c", "e"), tokens, BASE)


def test_non_ascii_target_is_tracked_in_its_ascii_form(tokens: Tokens, message: Message) -> None:
    html = '<body><a href="https://exämple.com/café?q=ü">x</a></body>'
    result = decorate(html, message, tokens, BASE)
    assert result.links == ((0, "https://xn--exmple-cua.com/caf%C3%A9?q=%C3%BC"),)
    token = re.search(r'href="[^"]*/c/([^"]+)"', result.html)
    assert token is not None
    assert tokens.read_click(token.group(1)).url == result.links[0][1]


# The honeypot ---------------------------------------------------------------------------


def test_one_hidden_honeypot_link_per_message_outside_the_numbered_links(
    tokens: Tokens, message: Message
) -> None:
    source = corpus("leemunroe-email.html")
    plain = run(source, tokens, message)
    trapped = run(source, tokens, message, honeypot=True)
    assert trapped.links == plain.links, "the honeypot is not one of the delivery's links"
    found = clicks(trapped.html, tokens)
    traps = [c for c in found if c.link == HONEYPOT_LINK]
    assert len(traps) == 1 and len(found) == len(clicks(plain.html, tokens)) + 1
    assert traps[0].message == message and traps[0].url == f"{BASE}/"
    tag = re.search(r'<a href="[^"]*/c/[^"]*"[^>]*aria-hidden[^>]*></a>', trapped.html)
    assert tag is not None, "an empty anchor"
    assert "display:none" in tag[0] and "mso-hide:all" in tag[0] and 'tabindex="-1"' in tag[0]
    assert trapped.html.index(tag[0]) < trapped.html.rindex("</body>")


def test_no_honeypot_without_click_tracking(tokens: Tokens, message: Message) -> None:
    result = run(corpus("leemunroe-email.html"), tokens, message, honeypot=True,
                 track_clicks=False)  # fmt: skip
    assert "aria-hidden" not in result.html


@pytest.mark.parametrize("name", sorted(EXPECTED_LINKS))
def test_annotated_links_carry_decorates_numbers(
    name: str, tokens: Tokens, message: Message
) -> None:
    source = corpus(name)
    marked = annotate_links(source, BASE)
    numbered = re.findall(r'<a data-tracker-link="(\d+)"[^>]*?href="([^"]*)"', marked, re.I | re.S)
    tracked = run(source, tokens, message).links
    assert sorted({(int(n), unescape(url).strip()) for n, url in numbered}) == sorted(
        {(n, url) for n, url in tracked if any(int(m) == n for m, _ in numbered)}
    )
    assert {int(n) for n, _ in numbered} == {n for n, _ in tracked}, "every number is drawn"
    assert re.sub(r' data-tracker-link="\d+"', "", marked) == source, "nothing else changes"


# Bounded work ---------------------------------------------------------------------------

# The merge-tag pattern decorate used to search each URL with: the reference semantics.
OLD_MERGE_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\*\|.*?\|\*", re.DOTALL)


def test_merge_tag_check_agrees_with_the_pattern_it_replaces() -> None:
    rng = random.Random(13)
    for _ in range(20_000):
        url = "".join(rng.choice("{}%*|a\n") for _ in range(rng.randrange(12)))
        assert has_merge_tag(url) == bool(OLD_MERGE_TAG.search(url)), url


def seconds(html: str, tokens: Tokens, recipients: int) -> float:
    messages = [Message("d", f"r{i}", "c", "e") for i in range(recipients)]
    started = time.perf_counter()
    decorate_many(html, messages, tokens, BASE)
    return time.perf_counter() - started


def test_links_full_of_unclosed_merge_tags_cost_what_plain_links_cost(tokens: Tokens) -> None:
    # 240 links of 2 KB "{{{{…" (each took 14 ms per recipient to search) for 2 recipients
    # took 7 s; now about what the same template with plain 2 KB URLs takes.
    def links(tail: str) -> str:
        return "".join(f'<a href="https://shop.example/{n}/{tail}">x</a>' for n in range(240))

    plain = seconds(links("a" * 2000), tokens, 2)
    tags = seconds(links("{{" * 1000), tokens, 2)
    assert tags < 10 * plain + 0.5, (tags, plain)


def test_many_vml_buttons_are_numbered_in_linear_time(tokens: Tokens, message: Message) -> None:
    # Each VML shape looked through every <a> for its partner: the time grew with the
    # square of the buttons (10,000 buttons: 2.5 s); now twenty times the buttons take about
    # twenty times as long. The bound (80) leaves room for a busy machine's noise.
    def buttons(n: int) -> str:
        return "".join(
            f'<v:roundrect href="https://shop.example/{i}"></v:roundrect>'
            f'<a href="https://shop.example/{i}">x</a>'
            for i in range(n)
        )

    def fastest(html: str) -> float:
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            decorate(html, message, tokens, BASE, track_clicks=False)
            runs.append(time.perf_counter() - started)
        return min(runs)

    small, large = fastest(buttons(500)), fastest(buttons(10_000))
    assert large < 80 * small + 0.2, (large, small)
    result = decorate(buttons(3), message, tokens, BASE)
    assert result.links == tuple((i, f"https://shop.example/{i}") for i in range(3))


def test_links_times_recipients_over_the_bound_is_refused(tokens: Tokens) -> None:
    html = "".join(f'<a href="https://shop.example/{n}">x</a>' for n in range(5))
    messages = [Message("d", f"r{i}", "c", "e") for i in range(3)]
    assert len(decorate_many(html, messages, tokens, BASE, max_links=15)) == 3
    with pytest.raises(TooLarge, match="5 tracked links × 3 recipients is over 14"):
        decorate_many(html, messages, tokens, BASE, max_links=14)
    # Links that are not tracked cost no signature, and neither does an untracked copy.
    assert decorate_many(html, messages, tokens, BASE, max_links=0, track_clicks=False)


def test_output_over_the_bound_is_refused(tokens: Tokens) -> None:
    html = "<p>" + "x" * 1000 + '</p><a href="https://shop.example/">x</a>'
    messages = [Message("d", f"r{i}", "c", "e") for i in range(4)]
    copies = decorate_many(html, messages, tokens, BASE)
    total = sum(len(c.html) for c in copies)
    assert decorate_many(html, messages, tokens, BASE, max_output=total) == copies
    with pytest.raises(TooLarge, match="exceed"):
        decorate_many(html, messages, tokens, BASE, max_output=total - 1)
    with pytest.raises(TooLarge, match="exceed"):  # refused before any work
        decorate_many(html, messages, tokens, BASE, max_output=len(html) * 4 - 1)
