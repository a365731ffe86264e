"""The verdict rule as first written, every new click against every stored neighbour:
the reference the faster searches and bounded reads are checked against."""

from __future__ import annotations

from tracker.events import Route
from tracker.store.scoring import Neighbour, Probe, Scored, Scoring, seconds
from tracker.tokens import HONEYPOT_LINK
from tracker.verdicts import Context, Verdict


def reference_decide(
    probes: list[Probe],
    scoring: Scoring,
    sends: dict[tuple[str, str], list[str]],
    stored: dict[tuple[str, str], list[Neighbour]],
) -> Scored:
    """The rule as first written: every probe against every neighbour of its pair."""
    on = scoring.judge.signals
    clicks = [p for p in probes if p.route == Route.CLICK and p.method == "GET"]
    click_ids = {p.id for p in clicks}
    probe_ids = {p.id for p in probes}
    pending: dict[tuple[str, str], list[Neighbour]] = {}
    for p in clicks:
        pending.setdefault((p.delivery, p.recipient), []).append(
            Neighbour(p.id, seconds(p.at), p.link, None, "")
        )
    result = Scored([])

    def flip(n: Neighbour, reason: str) -> None:
        if n.id in probe_ids or n.verdict == Verdict.BOT and reason in n.reasons.split(","):
            return
        reasons = [r for r in n.reasons.split(",") if r]
        if n.id in result.flipped:
            reasons = result.flipped[n.id].split(",")
        if reason not in reasons:
            reasons.append(reason)
        result.flipped[n.id] = ",".join(reasons)

    for p in probes:
        key = (p.delivery, p.recipient)
        at = seconds(p.at)
        since = None
        for sent_at in sends.get(key, ()):
            if seconds(sent_at) <= at:
                since = at - seconds(sent_at)
        proximity = honeypot = False
        if p.id in click_ids:
            others = pending.get(key, []) + [
                n for n in stored.get(key, []) if n.id not in probe_ids
            ]
            for n in others:
                if n.id == p.id:
                    continue
                gap = abs(n.seconds - at)
                if gap <= scoring.proximity_seconds and n.link != p.link and "proximity" in on:
                    proximity = True
                    flip(n, "proximity")
                if p.link == HONEYPOT_LINK and gap <= scoring.honeypot_seconds and "honeypot" in on:
                    flip(n, "honeypot")
                if n.link == HONEYPOT_LINK and gap <= scoring.honeypot_seconds:
                    honeypot = True
            honeypot = honeypot or p.link == HONEYPOT_LINK
        context = Context(since, proximity, honeypot)
        result.verdicts.append(scoring.judge.judge(p.route, p.method, p.ip, p.user_agent, context))
    return result
