"""User agents read alone: crawlers that introduce themselves, automation and scanning tools."""

from __future__ import annotations

import pytest

from tracker.useragents import read_agent

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/126.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.mark.parametrize(
    "user_agent",
    [
        # A URL or an e-mail address: a crawler introducing itself (the libraries miss these).
        "Foo/1.0 (admin@foo.example)",
        "acme-fetcher/2.3 (+https://acme.example/fetcher)",
        "Mozilla/5.0 (compatible; zzqx; http://zzqx.example/about)",
        "linkwatch 0.9 contact: ops@linkwatch.example",
        # Automation and scanning tools the libraries miss.
        CHROME + " Playwright/1.44",
        CHROME + " Selenium/4.21",
        CHROME + " Puppeteer",
        CHROME + " Cypress/13.6.0",
        "Mozilla/5.0 (X11; Linux x86_64) jsdom/22.1.0",
        "Mozilla/5.0 HtmlUnit/2.70",
        "SlimerJS",
        "WebDriver",
        "Mozilla/5.0 (compatible; Burp Suite)",
        FIREFOX + " OWASP ZAP",
        "ZAP/2.14",
        FIREFOX + " Nuclei",
        "Mozilla/5.0 (compatible; Detectify)",
        "Mozilla/5.0 (compatible; Splash)",
        "Mozilla/5.0 (compatible; Barracuda Sentinel)",
        "Mimecast URL Protect",
        "Proofpoint URL Defense",
    ],
)
def test_a_crawler_or_tool_naming_itself_is_a_bot(user_agent: str) -> None:
    agent = read_agent(user_agent)
    assert agent.bot and agent.device == "bot", agent


@pytest.mark.parametrize(
    "user_agent",
    [
        CHROME,
        FIREFOX,
        CHROME + " Edg/126.0.0.0",
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
        " (KHTML, like Gecko) Mobile/15E148",
        # An Electron mail app is a person's program, not an automation tool.
        CHROME + " Mailspring/1.13.3 Electron/28.0.0",
    ],
)
def test_people_s_programs_are_not_bots(user_agent: str) -> None:
    assert not read_agent(user_agent).bot


def test_a_user_agent_naming_nothing_stays_unknown_unless_it_introduces_itself() -> None:
    assert read_agent("Mozilla/5.0").unknown
    assert not read_agent("Mozilla/5.0").bot
    assert read_agent("Mozilla/5.0 (+https://crawler.example)").bot


@pytest.mark.parametrize(
    ("user_agent", "client"),
    [
        (
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0"
            " (via ggpht.com GoogleImageProxy)",
            "Gmail",
        ),
        ("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", "Yahoo Mail"),
    ],
)
def test_a_mail_provider_s_image_proxy_is_named_for_the_provider_and_is_no_bot(
    user_agent: str, client: str
) -> None:
    agent = read_agent(user_agent)
    assert (agent.client, agent.device, agent.image_proxy, agent.bot) == (
        client,
        "proxy",
        True,
        False,
    )


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (CHROME, "desktop"),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko)"
            " Chrome/126.0.6478.122 Mobile Safari/537.36",
            "mobile",
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
            " (KHTML, like Gecko) Mobile/15E148",
            "tablet",
        ),
        ("", "bot"),
        ("   ", "bot"),
    ],
)
def test_the_device_is_read_from_the_user_agent(user_agent: str, device: str) -> None:
    assert read_agent(user_agent).device == device
