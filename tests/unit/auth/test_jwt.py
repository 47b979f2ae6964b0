from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt as pyjwt
import pytest
from hypothesis import given, strategies as st

from dockyard.auth.access import CATALOG, pull, push
from dockyard.auth.jwt import (
    InvalidTokenError,
    RegistryClaims,
    SigningKey,
    issue,
    new_signing_key,
    verify,
)

KEY = SigningKey("k1", b"k" * 64)  # 64 bytes, so the HS512 forgery below is a strong one
KEYS = {KEY.kid: KEY}
ISSUER = "dockyard"
AUDIENCE = "dockyard-registry"
NOW = 1_700_000_000.0
TTL = 300.0
ACCESS = (pull("proj/app"), push("proj/app"))


def _issue(key: SigningKey = KEY) -> tuple[str, RegistryClaims]:
    return issue(
        "alice",
        ACCESS,
        groups=("devs", "system:authenticated"),
        token_id="tok-1",
        key=key,
        issuer=ISSUER,
        audience=AUDIENCE,
        ttl=TTL,
        now=NOW,
    )


def _verify(token: str, now: float = NOW + 1, leeway: float = 5) -> RegistryClaims:
    return verify(token, keys=KEYS, issuer=ISSUER, audience=AUDIENCE, now=now, leeway=leeway)


def _payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": AUDIENCE,
        "exp": NOW + TTL,
        "nbf": NOW,
        "iat": NOW,
        "jti": "jti-1",
        "grp": ["devs"],
        "tid": None,
        "access": [{"type": "repository", "name": "proj/app", "actions": ["pull"]}],
    }
    payload.update(changes)
    return payload


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: Any) -> str:
    return _b64(json.dumps(value).encode())


def _hand_signed(header: Any, payload: Any, secret: bytes = KEY.secret) -> str:
    """Sign any JSON by hand, so no library check stands between the test and ``verify``."""
    signing_input = f"{_segment(header)}.{_segment(payload)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _header(**changes: Any) -> dict[str, Any]:
    return {"alg": "HS256", "typ": "JWT", "kid": KEY.kid, **changes}


def _rejects(token: str, reason: str | None, **kwargs: Any) -> None:
    with pytest.raises(InvalidTokenError, match=reason):
        _verify(token, **kwargs)


# keys


def test_signing_key_needs_32_bytes_and_an_id() -> None:
    SigningKey("k", b"x" * 32)
    with pytest.raises(ValueError, match="32 bytes"):
        SigningKey("k", b"x" * 31)
    with pytest.raises(ValueError, match="id"):
        SigningKey("", b"x" * 32)


def test_signing_key_repr_hides_the_secret() -> None:
    assert "kkkk" not in repr(KEY)
    assert "k1" in repr(KEY)


def test_new_signing_key_is_random_and_long_enough() -> None:
    first, second = new_signing_key(), new_signing_key()
    assert len(first.secret) >= 32
    assert first.kid and first.kid != second.kid
    assert first.secret != second.secret


# issue


def test_issue_writes_the_docker_token_claims_and_kid() -> None:
    token, claims = issue(
        "alice",
        [pull("a/b"), pull("c/d"), push("a/b"), pull("a/b"), CATALOG],
        groups=["devs"],
        token_id="tok-1",
        key=KEY,
        issuer=ISSUER,
        audience=AUDIENCE,
        ttl=TTL,
        now=NOW,
    )
    header = pyjwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    assert header["kid"] == "k1"
    payload = pyjwt.decode(token, options={"verify_signature": False})
    assert payload == {
        "iss": ISSUER,
        "sub": "alice",
        "aud": AUDIENCE,
        "exp": NOW + TTL,
        "nbf": NOW,
        "iat": NOW,
        "jti": claims.jwt_id,
        "grp": ["devs"],
        "tid": "tok-1",
        "access": [
            {"type": "repository", "name": "a/b", "actions": ["pull", "push"]},
            {"type": "repository", "name": "c/d", "actions": ["pull"]},
            {"type": "registry", "name": "catalog", "actions": ["*"]},
        ],
    }
    assert claims.access == (pull("a/b"), push("a/b"), pull("c/d"), CATALOG)
    assert (claims.issued_at, claims.expires_at) == (NOW, NOW + TTL)


def test_issue_gives_every_token_its_own_id() -> None:
    assert _issue()[1].jwt_id != _issue()[1].jwt_id


@pytest.mark.parametrize("ttl", [0.0, -1.0, float("inf"), float("nan")])
def test_issue_refuses_a_ttl_that_is_not_positive_and_finite(ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        issue("alice", ACCESS, key=KEY, issuer=ISSUER, audience=AUDIENCE, ttl=ttl, now=NOW)


# verify: what passes


def test_verify_returns_what_issue_signed() -> None:
    token, claims = _issue()
    verified = _verify(token)
    assert verified == claims
    assert verified.subject == "alice"
    assert verified.groups == ("devs", "system:authenticated")
    assert verified.access == ACCESS
    assert verified.token_id == "tok-1"


def test_verify_without_token_id_or_access() -> None:
    token, _ = issue("bob", [], key=KEY, issuer=ISSUER, audience=AUDIENCE, ttl=TTL, now=NOW)
    claims = _verify(token)
    assert (claims.subject, claims.access, claims.groups, claims.token_id) == ("bob", (), (), None)


def test_verify_picks_the_key_by_kid_so_keys_can_rotate() -> None:
    old, new = SigningKey("old", b"o" * 32), SigningKey("new", b"n" * 32)
    old_token, _ = _issue(old)
    new_token, _ = _issue(new)
    both = {"old": old, "new": new}
    for token in (old_token, new_token):
        assert (
            verify(token, keys=both, issuer=ISSUER, audience=AUDIENCE, now=NOW).subject == "alice"
        )
    with pytest.raises(InvalidTokenError, match="unknown signing key"):
        verify(old_token, keys={"new": new}, issuer=ISSUER, audience=AUDIENCE, now=NOW)


def test_verify_uses_the_clock_when_no_time_is_given() -> None:
    token, _ = issue("alice", ACCESS, key=KEY, issuer=ISSUER, audience=AUDIENCE, ttl=TTL)
    assert verify(token, keys=KEYS, issuer=ISSUER, audience=AUDIENCE).subject == "alice"
    with pytest.raises(InvalidTokenError, match="expired"):
        verify(_issue()[0], keys=KEYS, issuer=ISSUER, audience=AUDIENCE)  # signed in 2023


# verify: times


def test_verify_refuses_an_expired_token_after_the_leeway() -> None:
    token, claims = _issue()
    assert _verify(token, now=claims.expires_at + 4.5).subject == "alice"
    _rejects(token, "expired", now=claims.expires_at + 5)
    _rejects(token, "expired", now=claims.expires_at + 3600)
    _rejects(token, "expired", now=claims.expires_at, leeway=0)


def test_verify_refuses_a_token_not_yet_valid() -> None:
    token, _ = _issue()
    assert _verify(token, now=NOW - 4).subject == "alice"
    _rejects(token, "not yet valid", now=NOW - 6)


def test_verify_refuses_a_token_issued_in_the_future() -> None:
    token = _hand_signed(_header(), _payload(nbf=NOW - 100, iat=NOW + 100))
    _rejects(token, "issued in the future", now=NOW)


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", ["9999999999", True, [1], {"t": 1}])
def test_verify_refuses_times_that_are_not_numbers(claim: str, value: Any) -> None:
    _rejects(_hand_signed(_header(), _payload(**{claim: value})), f"claim {claim}")


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 10**400])
def test_verify_refuses_times_out_of_range(claim: str, value: float) -> None:
    _rejects(_hand_signed(_header(), _payload(**{claim: value})), f"claim {claim}")


# verify: tampering and keys


def test_verify_refuses_a_tampered_payload() -> None:
    token, _ = _issue()
    header, _, signature = token.split(".")
    forged = _payload(sub="admin", grp=["system:masters"])
    _rejects(f"{header}.{_segment(forged)}.{signature}", "bad signature")


def test_verify_refuses_a_tampered_signature() -> None:
    token, _ = _issue()
    header, payload, signature = token.split(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    _rejects(f"{header}.{payload}.{flipped}", "bad signature")
    _rejects(f"{header}.{payload}.", "bad signature")


def test_verify_refuses_a_token_signed_with_another_key_under_the_same_kid() -> None:
    impostor = SigningKey(KEY.kid, b"i" * 64)
    token, _ = _issue(impostor)
    _rejects(token, "bad signature")


@pytest.mark.parametrize("kid", ["k2", "", "K1", "k1 "])
def test_verify_refuses_an_unknown_kid(kid: str) -> None:
    _rejects(_hand_signed(_header(kid=kid), _payload()), "unknown signing key")


@pytest.mark.parametrize("kid", [1, None, ["k1"], {"k1": 1}])
def test_verify_refuses_a_kid_that_is_not_a_string(kid: Any) -> None:
    _rejects(_hand_signed(_header(kid=kid), _payload()), "malformed token|unknown signing key")


def test_verify_refuses_a_token_without_kid() -> None:
    header = _header()
    del header["kid"]
    _rejects(_hand_signed(header, _payload()), "unknown signing key")


# verify: algorithms


def test_verify_refuses_alg_none() -> None:
    token = f"{_segment({'alg': 'none', 'typ': 'JWT', 'kid': 'k1'})}.{_segment(_payload())}."
    _rejects(token, "algorithm not allowed")


@pytest.mark.parametrize(
    "alg", ["none", "None", "NONE", "hs256", "HS384", "RS256", "ES256", "PS256"]
)
def test_verify_refuses_other_algorithms_before_checking_the_signature(alg: str) -> None:
    # A valid HS256 signature under any other alg: only the header check can refuse it.
    _rejects(_hand_signed(_header(alg=alg), _payload()), "algorithm not allowed")


def test_verify_refuses_hs512_even_when_signed_with_the_right_secret() -> None:
    token = pyjwt.encode(_payload(), KEY.secret, algorithm="HS512", headers={"kid": KEY.kid})
    assert pyjwt.decode(
        token, KEY.secret, algorithms=["HS512"], audience=AUDIENCE, options={"verify_exp": False}
    )
    _rejects(token, "algorithm not allowed")


def test_verify_refuses_an_rs256_token() -> None:
    fake_rsa_signature = _b64(b"\x01" * 256)
    header = {"alg": "RS256", "typ": "JWT", "kid": KEY.kid}
    token = f"{_segment(header)}.{_segment(_payload())}.{fake_rsa_signature}"
    _rejects(token, "algorithm not allowed")


def test_verify_refuses_a_token_without_alg() -> None:
    header = _header()
    del header["alg"]
    _rejects(_hand_signed(header, _payload()), "algorithm not allowed")


def test_verify_refuses_critical_header_extensions() -> None:
    _rejects(_hand_signed(_header(crit=["exp"]), _payload()), "malformed token|critical")
    _rejects(_hand_signed(_header(crit=["b64"], b64=True), _payload()), "critical")


# verify: claims


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"])
def test_verify_refuses_a_token_missing_a_required_claim(claim: str) -> None:
    payload = _payload()
    del payload[claim]
    _rejects(_hand_signed(_header(), payload), f"missing claim {claim}")
    _rejects(_hand_signed(_header(), _payload(**{claim: None})), f"missing claim {claim}")


@pytest.mark.parametrize("aud", ["other", [AUDIENCE, "other"], [AUDIENCE], 5])
def test_verify_refuses_a_wrong_audience(aud: Any) -> None:
    _rejects(_hand_signed(_header(), _payload(aud=aud)), "wrong audience")


def test_verify_refuses_a_token_issued_for_another_audience() -> None:
    token, _ = _issue()
    with pytest.raises(InvalidTokenError, match="wrong audience"):
        verify(token, keys=KEYS, issuer=ISSUER, audience="other", now=NOW)


@pytest.mark.parametrize("iss", ["other", "", [ISSUER], 5])
def test_verify_refuses_a_wrong_issuer(iss: Any) -> None:
    _rejects(_hand_signed(_header(), _payload(iss=iss)), "wrong issuer")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"sub": 5}, "malformed token"),
        ({"jti": ["x"]}, "malformed token"),
        ({"grp": "devs"}, "malformed groups"),
        ({"grp": ["devs", 1]}, "malformed groups"),
        ({"tid": 5}, "malformed token id"),
        ({"access": {"type": "repository"}}, "malformed access"),
        ({"access": ["repository:proj/app:pull"]}, "malformed access"),
        ({"access": [{"type": "repository", "name": "proj/app"}]}, "malformed access"),
        (
            {"access": [{"type": "repository", "name": "a/b", "actions": "pull"}]},
            "malformed access",
        ),
        ({"access": [{"type": "repository", "name": "a/b", "actions": [1]}]}, "malformed access"),
        ({"access": [{"type": 1, "name": "a/b", "actions": ["pull"]}]}, "malformed access"),
    ],
)
def test_verify_refuses_malformed_claims(changes: dict[str, Any], reason: str) -> None:
    _rejects(_hand_signed(_header(), _payload(**changes)), reason)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c.d",
        "....",
        f"{_segment([1, 2])}.{_segment(_payload())}.sig",
        f"{_segment(_header())}.not-base64!.sig",
        "é.é.é",
        "\ud800.x.y",
    ],
)
def test_verify_refuses_garbage(token: str) -> None:
    _rejects(token, None)


def test_verify_refuses_a_payload_that_is_not_an_object() -> None:
    _rejects(_hand_signed(_header(), [1, 2, 3]), "malformed token")


def test_verify_refuses_an_oversized_token() -> None:
    token = _hand_signed(_header(), _payload(pad="x" * 20_000))
    _rejects(token, "too long")


# fuzzing: nothing but InvalidTokenError, whatever comes in

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_CLAIM_NAMES = st.sampled_from(
    ["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "grp", "tid", "access"]
) | st.text(max_size=4)
_HEADER_NAMES = st.sampled_from(["alg", "kid", "typ", "crit", "b64", "jku"]) | st.text(max_size=4)


@given(st.text(max_size=300))
def test_verify_fuzz_text(token: str) -> None:
    with pytest.raises(InvalidTokenError):
        _verify(token)


@given(st.lists(st.text("ABCDEFabcdef0123456789-_=", max_size=40), min_size=1, max_size=5))
def test_verify_fuzz_segments(segments: list[str]) -> None:
    with pytest.raises(InvalidTokenError):
        _verify(".".join(segments))


@given(
    header=st.dictionaries(_HEADER_NAMES, _JSON, max_size=4),
    claims=st.dictionaries(_CLAIM_NAMES, _JSON, max_size=5),
    keep_header=st.booleans(),
)
def test_verify_fuzz_signed_claims(
    header: dict[str, Any], claims: dict[str, Any], keep_header: bool
) -> None:
    """Validly signed tokens with arbitrary header fields and claim values reach every check."""
    full_header = header if keep_header else {**header, "alg": "HS256", "kid": KEY.kid}
    try:
        verified = _verify(_hand_signed(full_header, _payload(**claims)))
    except InvalidTokenError:
        return
    assert isinstance(verified.subject, str)
    assert all(isinstance(a.action, str) for a in verified.access)


@given(_JSON)
def test_verify_fuzz_payload_of_any_json(payload: Any) -> None:
    with pytest.raises(InvalidTokenError):
        _verify(_hand_signed(_header(), payload))
