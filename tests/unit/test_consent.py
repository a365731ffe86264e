"""Consent policies, states and per-campaign overrides (tracker.consent)."""

from __future__ import annotations

import pytest

from tracker import config
from tracker.consent import Policy, State, allows, parse_overrides, policy_for, reads_states


@pytest.mark.parametrize(
    ("policy", "granted", "denied", "unknown", "never_stated"),
    [
        (Policy.OFF, True, True, True, True),
        (Policy.OPT_OUT, True, False, True, True),
        (Policy.OPT_IN, True, False, False, False),
    ],
)
def test_each_policy_reads_each_state(
    policy: Policy, granted: bool, denied: bool, unknown: bool, never_stated: bool
) -> None:
    assert allows(policy, State.GRANTED) is granted
    assert allows(policy, State.DENIED) is denied
    assert allows(policy, State.UNKNOWN) is unknown
    assert allows(policy, None) is never_stated


def test_overrides_are_read_per_campaign() -> None:
    overrides = parse_overrides(["spring-fr = opt_in", "news=OFF"])
    assert overrides == {"spring-fr": Policy.OPT_IN, "news": Policy.OFF}
    assert policy_for(Policy.OPT_OUT, overrides, "spring-fr") is Policy.OPT_IN
    assert policy_for(Policy.OPT_OUT, overrides, "news") is Policy.OFF
    assert policy_for(Policy.OPT_OUT, overrides, "other") is Policy.OPT_OUT


@pytest.mark.parametrize(
    ("items", "named"),
    [
        (["spring"], "'spring' is not CAMPAIGN="),
        (["=opt_in"], "'=opt_in' is not CAMPAIGN="),
        (["spring=yes"], "policy must be off, opt_out or opt_in, not 'yes'"),
        (["a=opt_in", "a=off"], "'a' is given twice"),
    ],
)
def test_bad_overrides_name_the_item(items: list[str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        parse_overrides(items)


def test_states_are_read_only_when_a_policy_reads_them() -> None:
    assert not reads_states(Policy.OFF, {})
    assert not reads_states(Policy.OFF, {"a": Policy.OFF})
    assert reads_states(Policy.OFF, {"a": Policy.OPT_IN})
    assert reads_states(Policy.OPT_OUT, {})


def test_settings_default_to_off_and_read_both_keys() -> None:
    assert config.load(env={}).consent == "off"
    loaded = config.load(
        env={"TRACKER_CONSENT": "OPT_IN", "TRACKER_CONSENT_CAMPAIGNS": "a=off, b=opt_out"}
    )
    assert loaded.consent == "opt_in"
    assert loaded.consent_campaigns == ("a=off", "b=opt_out")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TRACKER_CONSENT": "yes"}, "consent: must be one of off, opt_out, opt_in"),
        ({"TRACKER_CONSENT_CAMPAIGNS": "a=maybe"}, "consent_campaigns: 'a': policy must be"),
        ({"TRACKER_CONSENT_CAMPAIGNS": "a"}, "consent_campaigns: 'a' is not CAMPAIGN="),
        ({"TRACKER_HONOUR_GPC": "yes"}, "honour_gpc: must be one of on, off"),
    ],
)
def test_bad_settings_name_the_key(env: dict[str, str], message: str) -> None:
    with pytest.raises(config.ConfigError) as raised:
        config.load(env=env)
    assert str(raised.value).startswith(message), raised.value
