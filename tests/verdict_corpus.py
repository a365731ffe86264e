"""A labelled corpus of tracking hits: who really sent each one, and when.

Real user agents (mail programs, browsers, mail providers' image proxies, and the
two crawler lists of ``tests/data``), real networks (Apple's, Google's, the security
gateways' of ``tracker/netlists``, documentation ranges for homes and offices) and the
timings each kind of client shows. It is built from a fixed seed, so every run is the
same. Each hit carries its true label: ``human``, ``machine_open`` or ``bot``.

It holds what honest verdicts get wrong, too: people who open within seconds of
delivery, people who click two links in a second, crawlers whose user agent says
nothing; the test reports precision and recall with them in.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from tracker.tokens import HONEYPOT_LINK

CRAWLERS = Path(__file__).resolve().parent / "data" / "user-agents"

APPLE_MAIL_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
APPLE_MAIL_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Mobile/15E148"
)
APPLE_MPP = "Mozilla/5.0"
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/126.0.6478.122 Mobile Safari/537.36"
)
DESKTOP_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/126.0.0.0 Safari/537.36"
)
EDGE = DESKTOP_CHROME + " Edg/126.0.0.0"
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)"
OUTLOOK_OLD = "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

LINKS = 4


@dataclass(frozen=True)
class LabelledHit:
    seconds: float  # after the delivery's send started
    route: str  # "open" or "click"
    method: str
    recipient: str
    link: int | None
    user_agent: str
    ip: str
    label: str  # "human", "machine_open" or "bot"


def delivered_at(recipient_index: int) -> float:
    """Seconds after the send started when this recipient's copy was delivered."""
    return 0.2 * recipient_index


def crawler_agents(name: str = "crawler-user-agents-sample.json") -> list[str]:
    """A crawler list of ``tests/data/user-agents`` (its source, date and licence in it)."""
    data = json.loads((CRAWLERS / name).read_text(encoding="utf-8"))
    return list(data["user_agents"])


def build(seed: int = 20261123) -> tuple[list[str], list[LabelledHit]]:
    """The recipients and the labelled hits, in time order."""
    rnd = random.Random(seed)
    hits: list[LabelledHit] = []
    people: list[str] = []

    def person(kind: str) -> tuple[str, float]:
        name = f"{kind}-{len(people):03d}"
        people.append(name)
        return name, delivered_at(len(people) - 1)

    def home() -> str:
        return f"81.{rnd.randrange(2, 200)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"

    def office() -> str:
        return f"192.0.2.{rnd.randrange(1, 255)}"

    def hit(at: float, route: str, who: str, ua: str, ip: str, label: str,
            link: int | None = None, method: str = "GET") -> None:  # fmt: skip
        hits.append(LabelledHit(at, route, method, who, link, ua, ip, label))

    hours = 3600.0
    # Apple Mail with Mail Privacy Protection: Apple's proxy fetches at delivery; the
    # person may read (and their own open is a person's) and click later. Apple Mail is
    # the most used mail program, Gmail the most used provider: the two largest cohorts.
    for _ in range(60):
        who, t = person("apple")
        apple = f"17.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
        hit(t + rnd.uniform(1, 60), "open", who, APPLE_MPP, apple, "machine_open")
        if rnd.random() < 0.5:
            hit(t + rnd.uniform(1, 20) * hours, "open", who,
                rnd.choice([APPLE_MAIL_MAC, APPLE_MAIL_IPHONE]), home(), "human")  # fmt: skip
        if rnd.random() < 0.4:
            hit(t + rnd.uniform(1, 30) * hours, "click", who, IPHONE_SAFARI, home(), "human",
                rnd.randrange(LINKS))  # fmt: skip
    # Gmail and Yahoo: their image proxies fetch the pixel when the person opens: the
    # person's open, through the proxy.
    for _ in range(40):
        who, t = person("gmail")
        opened = t + rnd.uniform(0.2, 40) * hours
        if rnd.random() < 0.8:
            proxy = f"66.249.{rnd.randrange(80, 94)}.{rnd.randrange(1, 255)}"
            hit(opened, "open", who, GMAIL_PROXY, proxy, "human")
        else:
            hit(opened, "open", who, YAHOO_PROXY, f"98.137.{rnd.randrange(256)}.9",
                "human")  # fmt: skip
        if rnd.random() < 0.5:
            hit(opened + rnd.uniform(20, 600), "click", who,
                rnd.choice([DESKTOP_CHROME, ANDROID_CHROME]), home(), "human",
                rnd.randrange(LINKS))  # fmt: skip
    # A provider scanning at delivery through the same proxy: a machine's open (the
    # person's later open is served from the proxy's cache and reaches no server).
    for _ in range(15):
        who, t = person("proxyscan")
        if rnd.random() < 0.7:
            proxy = f"66.249.{rnd.randrange(80, 94)}.{rnd.randrange(1, 255)}"
            hit(t + rnd.uniform(0.5, 4), "open", who, GMAIL_PROXY, proxy, "machine_open")
        else:
            hit(t + rnd.uniform(0.5, 4), "open", who, YAHOO_PROXY,
                f"98.137.{rnd.randrange(256)}.9", "machine_open")  # fmt: skip
    # Outlook and Thunderbird load images themselves: their opens are people's.
    for kind, agents, browser in (
        ("outlook", [OUTLOOK, OUTLOOK_OLD], EDGE),
        ("thunderbird", [THUNDERBIRD], FIREFOX),
    ):
        for _ in range(15 if kind == "outlook" else 10):
            who, t = person(kind)
            opened = t + rnd.uniform(0.1, 48) * hours
            ip = office()
            hit(opened, "open", who, rnd.choice(agents), ip, "human")
            if rnd.random() < 0.6:
                hit(opened + rnd.uniform(5, 300), "click", who, browser, ip, "human",
                    rnd.randrange(LINKS))  # fmt: skip
    # Behind a security gateway: it fetches the pixel and follows every link within
    # seconds of delivery, from its own network, as a browser; the person reads later.
    gateways = ["40.107.{}.{}", "52.101.{}.{}", "205.139.110.{1}", "148.163.{}.{}"]
    for _ in range(25):
        who, t = person("gated")
        gateway = rnd.choice(gateways).format(rnd.randrange(128, 160), rnd.randrange(1, 255))
        scan = t + rnd.uniform(0.5, 3)
        hit(scan, "open", who, DESKTOP_CHROME, gateway, "bot")
        for link in range(LINKS):
            hit(scan + rnd.uniform(0.05, 1.5), "click", who, DESKTOP_CHROME, gateway, "bot", link)
        if rnd.random() < 0.5:
            hit(t + rnd.uniform(1, 24) * hours, "click", who, EDGE, office(), "human",
                rnd.randrange(LINKS))  # fmt: skip
    # A scanner from a network on no list, hours later: every link in a second.
    for _ in range(10):
        who, t = person("scanned")
        start = t + rnd.uniform(1, 6) * hours
        ip = f"203.0.113.{rnd.randrange(1, 255)}"
        for link in range(LINKS):
            hit(start + 0.3 * link, "click", who, DESKTOP_CHROME, ip, "bot", link)
    # A slower scanner, one link every six seconds, the invisible honeypot link among them.
    for _ in range(5):
        who, t = person("trapped")
        start = t + rnd.uniform(1, 6) * hours
        ip = f"198.51.100.{rnd.randrange(1, 255)}"
        order = [0, 1, HONEYPOT_LINK, 2, 3]
        for step, link in enumerate(order):
            hit(start + 6 * step, "click", who, FIREFOX, ip, "bot", link)
    # Link checkers ask with HEAD.
    for _ in range(10):
        who, t = person("checked")
        hit(t + rnd.uniform(60, 7200), "click", who, DESKTOP_CHROME, office(), "bot",
            rnd.randrange(LINKS), method="HEAD")  # fmt: skip
    # Crawlers and preview fetchers that got hold of a link: each agent of the sample once.
    for agent in crawler_agents() + crawler_agents("well-known-bots-sample.json"):
        who, t = person("crawled")
        hit(t + rnd.uniform(1, 72) * hours, "click", who, agent,
            f"198.18.{rnd.randrange(256)}.{rnd.randrange(1, 255)}", "bot",
            rnd.randrange(LINKS))  # fmt: skip
    # People the signals can get wrong: opening within seconds of delivery, clicking a
    # link twice (a double click), clicking two links within a second.
    for _ in range(2):
        who, t = person("quick")
        hit(t + rnd.uniform(1, 4), "open", who, APPLE_MAIL_MAC, home(), "human")
    for _ in range(3):
        who, t = person("double")
        at = t + rnd.uniform(1, 10) * hours
        link = rnd.randrange(LINKS)
        ip = home()
        hit(at, "click", who, ANDROID_CHROME, ip, "human", link)
        hit(at + 0.4, "click", who, ANDROID_CHROME, ip, "human", link)
    for _ in range(2):
        who, t = person("hasty")
        at = t + rnd.uniform(1, 10) * hours
        ip = home()
        hit(at, "click", who, DESKTOP_CHROME, ip, "human", 0)
        hit(at + 1.2, "click", who, DESKTOP_CHROME, ip, "human", 1)
    hits.sort(key=lambda h: h.seconds)
    return people, hits
