"""tracker.verify alone: the fast verifier reads exactly what itsdangerous signs."""

from __future__ import annotations

import zlib

import pytest
from itsdangerous import Signer, URLSafeSerializer, base64_encode

from tracker.verify import BadSignature, Verifier

SALT = "tracker-open"
OLD, NEW = "old-key-at-least-32-characters-long", "new-key-at-least-32-characters-long"
PAYLOAD = ["delivery", "recipient", "campaign", "email"]


def signed(key: str, payload: object, salt: str = SALT) -> str:
    return URLSafeSerializer(key, salt=salt).dumps(payload)


def test_tokens_of_every_configured_key_verify() -> None:
    verifier = Verifier([OLD, NEW], SALT, 4096)
    assert verifier.loads(signed(NEW, PAYLOAD)) == PAYLOAD
    assert verifier.loads(signed(OLD, PAYLOAD)) == PAYLOAD


def test_a_compressed_payload_verifies() -> None:
    long = ["x" * 500, "y" * 500]
    token = signed(NEW, long)
    assert token.startswith(".")  # itsdangerous compressed it
    assert Verifier([NEW], SALT, 4096).loads(token) == long


@pytest.mark.parametrize(
    "token",
    [
        signed("a-key-this-verifier-never-had-32-chars", PAYLOAD),
        signed(NEW, PAYLOAD, salt="tracker-click"),
        "",
        ".",
        "no-dot-at-all",
        "é" + signed(NEW, PAYLOAD),
    ],
)
def test_unknown_keys_other_salts_and_garbage_are_refused(token: str) -> None:
    with pytest.raises(BadSignature):
        Verifier([OLD, NEW], SALT, 4096).loads(token)


def test_a_changed_payload_or_signature_is_refused() -> None:
    token = signed(NEW, PAYLOAD)
    value, _, signature = token.rpartition(".")
    verifier = Verifier([NEW], SALT, 4096)
    flipped = "A" if signature[0] != "A" else "B"
    with pytest.raises(BadSignature):
        verifier.loads(f"{value}.{flipped}{signature[1:]}")
    with pytest.raises(BadSignature):
        verifier.loads(f"{value[:-1]}.{signature}")
    with pytest.raises(BadSignature):
        verifier.loads(f"{value}.{signature}=")  # a padded spelling of the same signature


def test_a_signed_payload_that_is_not_json_is_refused() -> None:
    value = base64_encode(b"not json")
    token = Signer(NEW, salt=SALT).sign(value).decode()
    with pytest.raises(BadSignature, match="cannot be decoded"):
        Verifier([NEW], SALT, 4096).loads(token)


def test_a_payload_inflating_past_the_limit_is_refused() -> None:
    payload = b"[" + b" " * 10_000 + b"1]"
    value = b"." + base64_encode(zlib.compress(payload, 9))
    token = Signer(NEW, salt=SALT).sign(value).decode()
    assert Verifier([NEW], SALT, 20_000).loads(token) == [1]
    with pytest.raises(BadSignature):
        Verifier([NEW], SALT, 4096).loads(token)
