"""What a user agent says: mail client, device, and whether a machine sent the request.

Two maintained libraries do the reading. ua-parser (the uap-core rules, with its native
accelerator) names the client family, the OS and the device, and calls known crawlers
"Spider"; crawlerdetect (the CrawlerDetect patterns) knows many more crawlers, scanners
and HTTP libraries. Two rules are read directly: a user agent that gives a URL
("+https://example.com/bot", "http://…") or an e-mail address is a crawler introducing
itself (browsers and mail programs never do), and one naming an automation or scanning
tool the libraries miss (``TOOLS``: browser automation, security scanners, mail security
gateways' link checkers) is a bot. A user agent neither library can place (no client, no
OS; Apple's proxy sends a bare "Mozilla/5.0") is ``unknown``. A send sees few distinct
user agents, so each reading is cached.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

from crawlerdetect import CrawlerDetect
from ua_parser import parse

# ua-parser's names for clients that are mail programs (the "mail client" of reports):
# crawlerdetect's generic patterns must not call a person's mail program a crawler.
MAIL_CLIENTS = frozenset(
    {"Apple Mail", "Outlook", "Thunderbird", "Windows Live Mail", "Lotus Notes", "Airmail"}
)
# A crawler introducing itself: a URL (with or without "+") or an e-mail address.
INTRODUCES_ITSELF = re.compile(r"https?://|[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.ASCII)
# Automation and scanning tools that neither library names (checked against both).
TOOLS = re.compile(
    r"\b(?:playwright|selenium|puppeteer|cypress|webdriver|htmlunit|jsdom|slimerjs|splash"
    r"|burp suite|owasp zap|zap/\d|nuclei|detectify|barracuda|mimecast|proofpoint)\b",
    re.IGNORECASE,
)
# Mail providers' image proxies that fetch when the person opens the message (ua-parser's
# family -> the provider, the mail client of reports). Sources: README, "Proxy opens".
IMAGE_PROXIES = {"GmailImageProxy": "Gmail", "YahooMailProxy": "Yahoo Mail"}
MOBILE_OS = frozenset({"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS"})


@dataclass(frozen=True, slots=True)
class Agent:
    """One user agent, read once."""

    client: str  # ua-parser's family ("Apple Mail", "Chrome Mobile", "Other") or "Gmail"
    os: str
    device: str  # "desktop", "mobile", "tablet", "proxy", "bot" or "unknown"
    bot: bool  # a crawler, scanner or HTTP library by its own words
    image_proxy: bool  # a mail provider's image proxy (Gmail, Yahoo): hides the person

    @property
    def unknown(self) -> bool:
        """No client and no OS could be read: not a browser or mail program we know."""
        return self.device == "unknown"


_detector = CrawlerDetect()
_detector_lock = threading.Lock()  # CrawlerDetect keeps the last match on the instance


def _is_crawler(user_agent: str) -> bool:
    if INTRODUCES_ITSELF.search(user_agent) or TOOLS.search(user_agent):
        return True
    with _detector_lock:
        return bool(_detector.isCrawler(user_agent))


@lru_cache(maxsize=8192)
def read_agent(user_agent: str) -> Agent:
    """The reading of ``user_agent`` (an empty one is a machine's)."""
    if not user_agent.strip():
        return Agent("Other", "Other", "bot", True, False)
    parsed = parse(user_agent)
    client = parsed.user_agent.family if parsed.user_agent else "Other"
    os = parsed.os.family if parsed.os else "Other"
    device_family = parsed.device.family if parsed.device else "Other"
    image_proxy = client in IMAGE_PROXIES
    client = IMAGE_PROXIES.get(client, client)
    spider = device_family == "Spider"
    bot = not image_proxy and (spider or (client not in MAIL_CLIENTS and _is_crawler(user_agent)))
    if image_proxy:
        device = "proxy"
    elif bot:
        device = "bot"
    elif "iPad" in device_family or "Tablet" in device_family:
        device = "tablet"
    elif os in MOBILE_OS:
        device = "mobile"
    elif os == "Other" and client == "Other":
        device = "unknown"
    else:
        device = "desktop"
    return Agent(client, os, device, bot, image_proxy)
