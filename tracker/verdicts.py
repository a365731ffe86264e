"""Verdicts: each open and click hit is ``human``, ``machine_open`` or ``bot``, with reasons.

Verdicts never delete a hit; reports count humans unless asked for machine traffic. The
signals, each switched on or off in the ``signals`` setting:

- ``method``: a HEAD (or any non-GET) on a tracking route is a machine's.
- ``user_agent``: a crawler, scanner or HTTP library by its user agent (ua-parser,
  crawlerdetect, a URL or e-mail address, an automation tool); a user agent that names
  no client and no OS is a machine open. A mail provider's image proxy that fetches
  when the person opens the message (Gmail, Yahoo) leaves an open a person's, with the
  reason ``image_proxy``; a click saying it is such a proxy is a bot's.
- ``network``: the client's network is on a list (``tracker.netlists``); the list says
  whether that is a bot, a machine open (Apple Mail Privacy Protection) or a provider's
  image proxy (a reason only, the open stays a person's).
- ``after_send``: the hit came within ``after_send_seconds`` of the message's Sent or
  Delivered: an open then is a machine open (prefetch, or a provider scanning through
  its proxy at delivery), a click a scanner's.
- ``proximity``: two or more clicks of one recipient on one delivery within
  ``proximity_seconds`` of each other (Marketo's pattern): all of them are bot.
- ``honeypot``: the click is on the invisible link ``decorate`` adds, or comes within
  ``honeypot_seconds`` of such a click on the same message: bot.

On the open route a machine-open reason gives ``machine_open``; on the click route every
machine reason gives ``bot`` (a proxy that fetches images does not click).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tracker.config import Settings
from tracker.events import Route
from tracker.netlists import NetMatcher, load_lists
from tracker.useragents import read_agent


class Verdict(enum.StrEnum):
    HUMAN = "human"
    MACHINE_OPEN = "machine_open"
    BOT = "bot"


@dataclass(frozen=True, slots=True)
class Context:
    """What the store knows around a hit (the message's send, neighbouring clicks)."""

    since_send: float | None = None  # seconds since the message's latest Sent/Delivered
    proximity: bool = False  # another click on the message within the proximity window
    honeypot: bool = False  # this click, or one near it, is on the honeypot link


class Judge:
    """Applies the enabled signals to one hit."""

    def __init__(
        self,
        signals: tuple[str, ...],
        networks: NetMatcher,
        after_send_seconds: float,
    ) -> None:
        self.signals = frozenset(signals)
        self._networks = networks
        self._after_send = after_send_seconds

    def judge(
        self, route: str, method: str, ip: str | None, user_agent: str, context: Context
    ) -> tuple[Verdict, str]:
        """The verdict and its reasons (comma-separated codes; a human's name a proxy)."""
        bot: list[str] = []
        machine: list[str] = []
        proxy: list[str] = []  # a provider's proxy fetching for the person: not a machine
        on = self.signals
        if "method" in on and method != "GET":
            bot.append("method")
        if "user_agent" in on:
            agent = read_agent(user_agent)
            if agent.bot:
                bot.append("user_agent")
            elif agent.image_proxy:
                (proxy if route == Route.OPEN else machine).append("image_proxy")
            elif agent.unknown:
                machine.append("unknown_agent")
        if "network" in on:
            for listed in self._networks.match(ip):
                if route in listed.routes:
                    kind = {"bot": bot, "proxy": proxy}.get(listed.verdict, machine)
                    kind.append(f"net:{listed.name}")
        if (
            "after_send" in on
            and context.since_send is not None
            and 0 <= context.since_send < self._after_send
        ):
            machine.append("after_send")
        if "proximity" in on and context.proximity:
            bot.append("proximity")
        if "honeypot" in on and context.honeypot:
            bot.append("honeypot")
        reasons = ",".join(bot + machine + proxy)
        if bot or (machine and route != Route.OPEN):
            return Verdict.BOT, reasons
        if machine:
            return Verdict.MACHINE_OPEN, reasons
        return Verdict.HUMAN, reasons


def judge_for(settings: Settings) -> Judge:
    """The judge of ``settings``: its signals, network lists and windows."""
    lists = load_lists(settings.netlists_dir) if "network" in settings.signals else []
    matcher = NetMatcher(lists, settings.ipv4_prefix, settings.ipv6_prefix)
    return Judge(settings.signals, matcher, settings.after_send_seconds)
