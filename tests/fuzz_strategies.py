"""The fuzzing strategies: token mutations, headers, bodies, paths and whole requests, and
the URLs a click may or may not sign."""

from __future__ import annotations

import gzip
import re
import string
import zlib

from hypothesis import strategies as st

from tests.conftest import API_KEY
from tests.fuzz_harness import BASES, Request
from tracker.tokens import Message

# Mutations ----------------------------------------------------------------------------

# The base64url alphabet, in order (SPARE below depends on it).
B64 = (string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_").encode()
# fmt: off
JUNK = (
    b"%00", b"\x00", b"%ED%A0%80", b"%ED%BF%BF", b"\xed\xa0\x80", b"%C0%AF", b"%C0%80",
    b"%FF%FE", b"\xff", b"%0D%0A", b"%0d%0aSet-Cookie:%20x=1", b"%0D%0AX-Injected:%201",
    b"\r\nX-Injected: 1", b"%E2%80%AE", b"%F0%9F%98%80", "é".encode(), b"%", b"%%", b"%G0",
    b"=", b"==", b"!", b"~", b"*", b"'", b"(", b")", b";", b",", b"+", b" ", b"%20", b"\t",
    b".", b"..", b"%2E", b"%2e%2e", b"/", b"%2F", b"\\", b"%5C", b"?", b"#", b"@", b":",
    b"&", b"[", b"]", b"{", b"}", b"<script>alert(1)</script>", b"%3Cscript%3E",
    b"javascript:alert(1)", b"//evil.example", b"https://evil.example/",
)
# fmt: on
# A character whose low bits base64 does not use: ``o`` and ``p`` decode alike at the end.
SPARE = {c: bytes([B64[(B64.index(c) & ~3) + k] for k in range(4)]) for c in B64}


def percent(data: bytes) -> bytes:
    return b"%" + data.hex("%").upper().encode() if data else b""


def escape(data: bytes, also: bytes = b"") -> bytes:
    """``data`` with what is not printable ASCII, and the bytes in ``also``, percent-encoded:
    a well-formed request target (or one path segment) that still decodes to ``data``."""
    unsafe = rb"[^\x21-\x7e]" + (rb"|[" + re.escape(also) + rb"]" if also else b"")
    return re.sub(unsafe, lambda m: percent(m[0]), data)


unicode_bytes = st.text(max_size=20).map(lambda s: s.encode("utf-8", "surrogatepass"))
junk = st.one_of(
    st.sampled_from(JUNK),
    unicode_bytes,
    unicode_bytes.map(percent),
    st.binary(min_size=1, max_size=12),
)


MUTATIONS = (
    "flip spare truncate extend insert delete swap pad case percent_all percent_some"
    " overlong repeat replace"
).split()


@st.composite
def mutate(draw: st.DrawFn, token: bytes) -> bytes:
    """One edit of ``token``: the ways a token is damaged, tampered with or abused."""
    n = len(token)
    i = draw(st.integers(0, max(n - 1, 0)))
    op = draw(st.sampled_from(MUTATIONS))
    if op == "flip" and n:
        return token[:i] + bytes([draw(st.sampled_from(B64))]) + token[i + 1 :]
    if op == "spare" and n and token[-1] in SPARE:
        return token[:-1] + bytes([draw(st.sampled_from(SPARE[token[-1]]))])
    if op == "truncate":
        return token[:i]
    if op == "extend":
        return token + draw(junk)
    if op == "insert":
        return token[:i] + draw(junk) + token[i:]
    if op == "delete":
        return token[:i] + token[i + 1 :]
    if op == "swap" and b"." in token:
        payload, _, signature = token.rpartition(b".")
        return signature + b"." + payload
    if op == "pad":
        return token[:i] + b"=" * draw(st.integers(1, 4)) + token[i:]
    if op == "case":
        return token[:i] + token[i : i + 1].swapcase() + token[i + 1 :]
    if op == "percent_all":
        return percent(token)
    if op == "percent_some":
        j = draw(st.integers(i, n))
        return token[:i] + percent(token[i:j]) + token[j:]
    if op == "overlong":
        filler = bytes([draw(st.sampled_from(B64 + b"%."))])
        return token + filler * draw(st.integers(5_000, 100_000))
    if op == "repeat":
        return token * draw(st.integers(2, 30))
    if op == "replace":
        return draw(st.one_of(st.binary(max_size=40), unicode_bytes, st.sampled_from(JUNK)))
    return token


@st.composite
def token_bytes(draw: st.DrawFn) -> bytes:
    """A token of any purpose (valid, forged, unknown key) with zero to three edits."""
    token = draw(st.sampled_from(BASES)).encode()
    for _ in range(draw(st.integers(0, 3))):
        token = draw(mutate(token))
    return token


# Strategies: headers and bodies -------------------------------------------------------

# fmt: off
NASTY_VALUES = (
    b"", b"\x00", b"\xed\xa0\x80", b"\xff\xfe", b"x\r\nX-Injected: 1", b"\xe2\x80\xae",
    "Mozilla/5.0 (Ünïcödé; 🙂) ✓".encode(), b"a" * 600, b"a" * 9000, b"%0d%0a", b"\t",
)
FORWARDED = (
    b"unknown", b"::ffff:999.1.1.1", b"fe80::1%eth0", b"1.2.3.4:80", b"[::1]:80", b"", b" ",
    b"127.0.0.1", b"10.0.0.1", b"::1", b"0", b"-1", b"1.2.3.4/24",
)
OTHER_HEADERS = (
    b"Cookie", b"Referer", b"Accept", b"Accept-Encoding", b"Accept-Language", b"Origin",
    b"X-Real-IP", b"Forwarded", b"Range", b"If-None-Match", b"If-Modified-Since", b"Host",
    b"Content-Type", b"Upgrade",
)
# fmt: on


def crlf_free(value: bytes) -> bytes:
    """CR and LF would reframe the request rather than fuzz a value (and could hang it)."""
    return value.replace(b"\r", b"").replace(b"\n", b"")


Values = st.SearchStrategy[bytes]
Headers = tuple[tuple[bytes, bytes], ...]
# Values a parser accepts: any text but control characters (lone surrogates as raw bytes).
text_values = st.text(st.characters(exclude_categories=["Cc"]), max_size=80).map(
    lambda s: s.encode("utf-8", "surrogatepass")
)
# Anything: control characters, NUL, invalid UTF-8, overlong values.
any_values = st.one_of(
    text_values, st.binary(max_size=80).map(crlf_free), st.sampled_from(NASTY_VALUES)
)
# Not as random names: framing is the request builder's job (a wrong length would hang the
# exchange, not fuzz the server), and Expect has its own values below.
FRAMING_HEADERS = (b"content-length", b"transfer-encoding", b"connection", b"expect")
# Non-UTF-8 values are tested on their own (test_expect_header_that_is_not_ascii_is_a_4xx):
# with CONNECT they still reach aiohttp's own handler (noted for the reliability suite).
EXPECT_VALUES = (b"100-continue",) * 4 + (b"100-Continue", b"bogus", b"")
header_name = (
    st.text(string.ascii_letters + string.digits + "-_!#$%&'*+.^`|~", min_size=1, max_size=20)
    .map(str.encode)
    .filter(lambda n: n.lower() not in FRAMING_HEADERS)
)


def forwarded_for(values: Values) -> Values:
    hops = st.one_of(
        st.ip_addresses().map(lambda a: str(a).encode()), st.sampled_from(FORWARDED), values
    )
    return st.lists(hops, max_size=8).map(b", ".join) | st.just(b"1.1.1.1, " * 1000)


def authorizations(values: Values) -> Values:
    key = b"Bearer " + API_KEY.encode()
    return st.one_of(
        st.just(key),
        st.just(b"bearer   " + API_KEY.encode() + b"  "),
        st.sampled_from([b"Bearer", b"Bearer ", b"Basic YTpi", b"Bearer \xff\xfe", b"Bearer \x00"]),
        st.tuples(st.sampled_from([b"Bearer ", b"", b"Token "]), values).map(b"".join),
        junk.map(lambda j: key + crlf_free(j)),
    )


def headers(values: Values, unique: bool) -> st.SearchStrategy[Headers]:
    """Up to six request headers, the ones the app reads and others, valued from ``values``."""
    header = st.one_of(
        st.tuples(st.just(b"User-Agent"), values),
        st.tuples(st.just(b"X-Forwarded-For"), forwarded_for(values)),
        st.tuples(st.just(b"Authorization"), authorizations(values)),
        st.tuples(st.just(b"Expect"), st.sampled_from(EXPECT_VALUES)),
        st.tuples(st.sampled_from(OTHER_HEADERS), values),
        st.tuples(header_name, values),
    )
    if unique:
        return st.lists(header, max_size=6, unique_by=lambda h: h[0].lower()).map(tuple)
    return st.lists(header, max_size=6).map(tuple)


# Mostly headers a parser accepts, so that most requests reach the app; a quarter anything
# (aiohttp answers 400 to a control character or a duplicate User-Agent or Host).
clean_headers = headers(text_values, unique=True)
messy_headers = headers(any_values, unique=False)
header_lists = st.integers(0, 3).flatmap(lambda n: messy_headers if n == 0 else clean_headers)

# A 20 MB gzip bomb in a few kilobytes, and a valid compressed one-click body.
BOMB = gzip.compress(b"\x00" * 20_000_000)
ONE_CLICK = b"List-Unsubscribe=One-Click"
FORM = b"application/x-www-form-urlencoded"
PART_HEADERS = (
    b'Content-Disposition: form-data; name="List-Unsubscribe"',
    b'Content-Disposition: form-data; name="_charset_"',
    b'Content-Disposition: form-data; name="f"; filename="x.txt"',
    b"Content-Disposition: form-data",
    b"Content-Disposition: attachment; filename*=UTF-8''%ED%A0%80",
    b"Content-Disposition: form-data; name=\xff\xfe",
    b"Content-Type: text/plain; charset=bogus",
    b"Content-Type: text/plain; charset=utf-16",
    b"Content-Type: multipart/mixed; boundary=inner",
    b"Content-Transfer-Encoding: base64",
    b"Content-Transfer-Encoding: quoted-printable",
    b"Content-Transfer-Encoding: x-unknown",
    b"Content-Encoding: gzip",
    b"Content-Encoding: deflate",
    b"Content-Encoding: br",
    b"Content-Length: 99999999",
    b"garbage without a colon",
    b": empty name",
    b"X-Long: " + b"a" * 9000,
)
# fmt: off
PART_CONTENT = (
    b"One-Click", b"", b"\xff\xfe\x00", b"=ZZ=", b"!!!", b"A" * 40, gzip.compress(b"One-Click"),
    b"utf-8", b"x" * 40,
)
FORM_TYPES = (
    FORM, FORM + b"; charset=utf-8", FORM + b"; charset=bogus", FORM + b"; charset=utf-16",
    FORM + b"; charset=\xff", b"",
)
CHUNKED = (
    b"zz\r\nabc\r\n0\r\n\r\n", b"-1\r\n\r\n", b"3;ext=1\r\nabc\r\n0\r\n\r\n",
    b"ffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", b"3\r\nabc\r\n0\r\nTrailer: x\r\n\r\n",
)
# fmt: on
part_content = st.sampled_from(PART_CONTENT) | st.binary(max_size=200)
boundaries = st.one_of(
    st.text(string.ascii_letters + string.digits + "'()+_,-./:=? \"", max_size=90).map(str.encode),
    st.sampled_from([b"", b"\xff", b'"quoted boundary"', b"a" * 71, b"--", b";", b"\r"]),
)


@st.composite
def multipart(draw: st.DrawFn) -> tuple[bytes, bytes]:
    boundary = draw(boundaries)
    content_type = draw(
        st.sampled_from(
            [
                b"multipart/form-data; boundary=" + boundary,
                b'multipart/form-data; boundary="' + boundary + b'"',
                b"multipart/form-data",
                b"multipart/form-data; boundary=" + boundary + b"; boundary=other",
                b"multipart/mixed; boundary=" + boundary,
            ]
        )
    )
    delimiter = draw(st.sampled_from([boundary, boundary, b"other", boundary + b" "]))
    body = draw(st.sampled_from([b"", b"preamble\r\n", b"\r\n"]))
    for _ in range(draw(st.integers(0, 4))):
        lines = draw(st.lists(st.sampled_from(PART_HEADERS), max_size=4))
        body += b"--" + delimiter + b"\r\n" + b"".join(h + b"\r\n" for h in lines)
        body += b"\r\n" + draw(part_content) + b"\r\n"
    body += draw(st.sampled_from([b"--" + delimiter + b"--\r\n", b"", b"--" + delimiter]))
    body += draw(st.sampled_from([b"", b"epilogue", b"\xff" * 10]))
    return content_type, body


@st.composite
def bodies(draw: st.DrawFn) -> tuple[tuple[tuple[bytes, bytes], ...], bytes | None, bool]:
    """(extra headers, body, chunked) for a request."""
    kind = draw(
        st.sampled_from(["none", "form", "multipart", "binary", "huge", "encoded", "chunked"])
    )
    if kind == "none":
        return (), None, False
    if kind == "form":
        content_type = draw(st.sampled_from(FORM_TYPES))
        pairs = st.lists(st.tuples(unicode_bytes, unicode_bytes).map(b"=".join), max_size=5)
        body = draw(st.one_of(st.just(ONE_CLICK), pairs.map(b"&".join), st.binary()))
        return ((b"Content-Type", content_type),), body, False
    if kind == "multipart":
        content_type, body = draw(multipart())
        return ((b"Content-Type", content_type),), body, False
    if kind == "binary":
        content_type = draw(any_values)
        return ((b"Content-Type", content_type),), draw(st.binary(max_size=500)), False
    if kind == "huge":
        size = draw(st.sampled_from([65_535, 65_536, 65_537, 200_000, 1_048_577]))
        fill = draw(st.sampled_from([b"a", ONE_CLICK + b"&", b"\x00"]))
        return ((b"Content-Type", FORM),), (fill * size)[:size], False
    if kind == "encoded":
        codings = [b"gzip", b"deflate", b"br", b"zstd", b"bogus", b"gzip, gzip"]
        coding = draw(st.sampled_from(codings))
        body = draw(
            st.sampled_from([gzip.compress(ONE_CLICK), zlib.compress(ONE_CLICK), BOMB, b"junk"])
        )
        return ((b"Content-Type", FORM), (b"Content-Encoding", coding)), body, False
    payload = draw(st.one_of(st.just(ONE_CLICK), st.binary(max_size=300)))
    framed = (b"%x\r\n" % len(payload) + payload + b"\r\n" if payload else b"") + b"0\r\n\r\n"
    body = draw(st.sampled_from((framed, *CHUNKED)))
    return ((b"Content-Type", FORM),), body, True


# Strategies: paths --------------------------------------------------------------------

ROUTE_METHODS = [b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH"]
ODD_METHODS = [b"TRACE", b"CONNECT", b"PROPFIND", b"get", b"FOO", b"G\x00T", b""]
methods = st.sampled_from([b"GET"] * 6 + [b"HEAD", b"POST"] * 4 + ROUTE_METHODS + ODD_METHODS)
path_ids = st.one_of(
    token_bytes(),
    st.sampled_from([*JUNK, b"x" * 300, b"recipient-1"]),
    unicode_bytes,
    unicode_bytes.map(percent),
)
# fmt: off
QUERY_VALUES = (
    b"opened", b"clicked", b"asc", b"desc", b"include", b"0", b"-1", b"1001",
    b"99999999999999999999999", b"1e3", b"NaN",
)
# fmt: on
queries = st.lists(
    st.tuples(
        st.sampled_from([b"type", b"sort", b"limit", b"after", b"bots", b"campaign", b"x"])
        | unicode_bytes.map(percent),
        st.one_of(
            st.sampled_from(QUERY_VALUES),
            st.sampled_from(JUNK),
            unicode_bytes.map(percent),
        ),
    ).map(b"=".join),
    max_size=4,
).map(lambda qs: (b"?" + b"&".join(qs)) if qs else b"")
API_PATHS = (
    b"/api/v1/recipients/{}/tracking",
    b"/api/v1/recipients/{}/mailable",
    b"/api/v1/deliveries/{}/stats",
    b"/api/v1/deliveries/{}/urls",
    b"/api/v1/deliveries/{}/logs",
    b"/api/v1/events",
    b"/api/v1/decorate",
    b"/api/v1/{}",
    b"/api/v1",
    b"/ui/{}",
)
# fmt: off
OTHER_PATHS = (
    b"/healthz", b"/metrics", b"/static/tracker.css", b"/static/", b"/static/../../etc/passwd",
    b"/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd", b"/static/..%2f..%2ftracker.db",
    b"/static/%2e%2e/tracker/tokens.py", b"/", b"*", b"", b"//", b"/o", b"/c", b"/u",
    b"http://evil.example/c/x", b"example.com:443", b"/healthz/../metrics", b"/HEALTHZ",
)
# fmt: on


@st.composite
def targets(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["open", "click", "unsubscribe", "view", "api", "other", "raw"]))
    if kind == "open":
        suffix = draw(st.sampled_from([b".gif", b".gif", b"", b".GIF", b".png", b".gif/x"]))
        return b"/o/" + draw(token_bytes()) + suffix + draw(queries)
    if kind in ("click", "unsubscribe", "view"):
        return b"/" + kind[:1].encode() + b"/" + draw(token_bytes()) + draw(queries)
    if kind == "api":
        return draw(st.sampled_from(API_PATHS)).replace(b"{}", draw(path_ids)) + draw(queries)
    if kind == "other":
        return draw(st.sampled_from(OTHER_PATHS)) + draw(st.sampled_from([b"", b"?x=1"]))
    return draw(st.sampled_from([b"/", b"", b"/o/", b"/c/", b"/api/v1/"])) + draw(
        st.one_of(st.binary(max_size=200), unicode_bytes, junk)
    )


@st.composite
def chaos_requests(draw: st.DrawFn) -> Request:
    target = draw(targets())
    if draw(st.booleans()):  # else aiohttp's parser refuses most of them with a 400
        target = escape(target)
    extra, body, chunked = draw(bodies()) if draw(st.booleans()) else ((), None, False)
    return Request(draw(methods), target, draw(header_lists) + extra, body, chunked)


# Signed targets -----------------------------------------------------------------------

# fmt: off
HOSTS = (
    "example.com", "EXAMPLE.com", "a.b-c.example", "127.0.0.1", "[2001:db8::1]", "localhost",
    "xn--bcher-kva.example", "bücher.example", "例え.テスト", "ex_ample.com",
)
BAD_SCHEMES = (
    "javascript", "JavaScript", "data", "vbscript", "file", "ftp", "mailto", "about", "blob",
    "ws", "gopher", "tel", "chrome", "jar", "view-source",
)
BAD_URLS = (
    "", "http://", "https://", "http:/example.com/", "https:example.com", "http:///x",
    "https://:443/", "http://example.com:99999/", "http://example.com:-1/", "https://[::1/",
    "https://example.com\\@evil.example/", "http:\\\\evil.example", " http://example.com/",
    "http://example.com/\r\nSet-Cookie: x=1", "http://example.com/\nx", "http://example.com/\x00",
    "http://exa mple.com/", "http://example.com/\t", "\x00https://example.com/",
    "java\tscript:alert(1)", "javascript:alert(1)//http://example.com/",
    "data:text/html;base64,PHNjcmlwdD4=", "https://example.com/\ud800", "https://\ud800.example/",
    "https://example.com/" + "x" * 2100,
)
# fmt: on
url_text = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Zs", "Zl", "Zp"])
    | st.sampled_from(list("-._~!$&'()*+,;=:@/%")),
    max_size=40,
)


@st.composite
def http_urls(draw: st.DrawFn) -> str:
    """Absolute http(s) URLs, ASCII or not; signing one may still refuse (say, bad IDNA)."""
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    userinfo = draw(st.sampled_from(["", "user@", "user:pa%40ss@"]))
    port = draw(st.sampled_from(["", ":80", ":8443", ":65535"]))
    path = draw(url_text).replace("?", "").replace("#", "")
    query = draw(st.one_of(st.just(""), url_text.map(lambda q: "?" + q.replace("#", ""))))
    fragment = draw(st.one_of(st.just(""), url_text.map(lambda f: "#" + f)))
    host = draw(st.sampled_from(HOSTS))
    return f"{scheme}://{userinfo}{host}{port}/{path}{query}{fragment}"


ASCII_URL_CHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/%"


@st.composite
def ascii_http_urls(draw: st.DrawFn) -> str:
    """Absolute http(s) URLs of URL characters only: every one must be signable."""
    scheme = draw(st.sampled_from(["http", "https"]))
    host = draw(st.sampled_from([h for h in HOSTS if h.isascii()]))
    path = draw(st.text(ASCII_URL_CHARS, max_size=200))
    query = draw(st.text(ASCII_URL_CHARS + "?", max_size=100))
    return f"{scheme}://{host}/{path}?{query}"


bad_urls = st.one_of(
    st.tuples(st.sampled_from(BAD_SCHEMES), url_text).map(lambda t: f"{t[0]}:{t[1]}"),
    st.tuples(st.sampled_from(BAD_SCHEMES), url_text).map(lambda t: f"{t[0]}://x.example/{t[1]}"),
    url_text.map(lambda p: "//evil.example/" + p),
    url_text.map(lambda p: "/" + p),
    st.sampled_from(BAD_URLS),
    # An http(s) URL with a control character, a space or a backslash anywhere in it.
    st.tuples(
        ascii_http_urls(), st.sampled_from(list("\x00\r\n\t \x7f\\\x1b")), st.integers(0)
    ).map(lambda t: t[0][: t[2] % len(t[0])] + t[1] + t[0][t[2] % len(t[0]) :]),
)
message_ids = st.one_of(
    st.just("id"),
    st.text(min_size=1, max_size=256),
    st.text(st.characters(min_codepoint=0x10000), min_size=200, max_size=256),
)
messages = st.builds(Message, message_ids, message_ids, message_ids, message_ids)
plain_ids = st.text(string.ascii_letters + string.digits + "-_.@", min_size=1, max_size=64)
plain_messages = st.builds(Message, plain_ids, plain_ids, plain_ids, plain_ids)
signing_cases = st.one_of(
    # Plain ids and an ASCII http(s) URL: must be signed, exactly as given.
    st.tuples(st.just("ascii"), ascii_http_urls(), plain_messages, st.integers(0, 99_999)),
    # Anything else: signing may refuse, but what it signs must work.
    st.tuples(st.just("any"), http_urls(), messages, st.integers(0, 99_999)),
    st.tuples(st.just("any"), st.text(max_size=60), messages, st.just(0)),
    # Not an absolute http(s) URL: must be refused.
    st.tuples(st.just("bad"), bad_urls, plain_messages, st.just(0)),
)
