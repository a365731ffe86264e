"""Tracking consent: each person's state, the policy that reads it, and the verdict.

Pure: the store keeps the states (``consent`` and ``consent_history``), the settings
give the policy (``TRACKER_CONSENT``) and its per-campaign overrides
(``TRACKER_CONSENT_CAMPAIGNS``), and ``allows`` says whether a person may be tracked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum


class State(StrEnum):
    """What a person said about being tracked."""

    GRANTED = "granted"
    DENIED = "denied"
    UNKNOWN = "unknown"


class Policy(StrEnum):
    """How states are read: ``off`` tracks everyone (no state is read), ``opt_out``
    tracks unless denied, ``opt_in`` tracks only who granted."""

    OFF = "off"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


class Source(StrEnum):
    """How a state was given."""

    API = "api"
    PAGE = "page"
    IMPORT = "import"


# The longest wording of a consent text kept with a change.
MAX_TEXT = 2000


def allows(policy: Policy, state: State | None) -> bool:
    """Whether a person in ``state`` (None: never stated, i.e. unknown) may be tracked."""
    if policy is Policy.OFF:
        return True
    if policy is Policy.OPT_OUT:
        return state is not State.DENIED
    return state is State.GRANTED


def parse_overrides(items: Iterable[str]) -> dict[str, Policy]:
    """``campaign=policy`` items as a map; ValueError naming the first bad item."""
    found: dict[str, Policy] = {}
    for item in items:
        campaign, sep, value = item.partition("=")
        campaign, value = campaign.strip(), value.strip().lower()
        if not sep or not campaign:
            raise ValueError(f"{item[:60]!r} is not CAMPAIGN=off|opt_out|opt_in")
        if value not in Policy.__members__.values():
            raise ValueError(
                f"{campaign[:60]!r}: policy must be off, opt_out or opt_in, not {value[:20]!r}"
            )
        if campaign in found:
            raise ValueError(f"{campaign[:60]!r} is given twice")
        found[campaign] = Policy(value)
    return found


def policy_for(default: Policy, overrides: Mapping[str, Policy], campaign: str) -> Policy:
    """The policy a campaign's hits and sends are held to."""
    return overrides.get(campaign, default)


def reads_states(default: Policy, overrides: Mapping[str, Policy]) -> bool:
    """Whether any campaign's policy reads states (else no hit needs a lookup)."""
    return default is not Policy.OFF or any(p is not Policy.OFF for p in overrides.values())


def campaign_policy(default: str, overrides: Iterable[str], campaign: str) -> Policy:
    """The policy of ``campaign`` from the settings' ``consent`` and ``consent_campaigns``."""
    return policy_for(Policy(default), parse_overrides(overrides), campaign)


def untracked_positions(
    policy: Policy, states: Mapping[str, str], recipients: Iterable[str]
) -> frozenset[int]:
    """The positions of ``recipients`` whose state (``states``; absent: never stated)
    ``policy`` does not allow to track."""
    if policy is Policy.OFF:
        return frozenset()
    return frozenset(
        i for i, r in enumerate(recipients)
        if not allows(policy, State(states[r]) if r in states else None)
    )  # fmt: skip
