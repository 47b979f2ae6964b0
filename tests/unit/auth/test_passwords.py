from __future__ import annotations

import bcrypt
import pytest
from hypothesis import given, settings, strategies as st

from dockyard.auth import passwords
from dockyard.auth.passwords import (
    hash_password,
    is_bcrypt_hash,
    parse_htpasswd,
    validate_password,
    validate_user_name,
    verify_password,
)

FAST = 4
PASSWORD = "correct horse"
SALT_BODY = "abcdefghijklmnopqrstuO"  # 22 characters, valid padding bits
VALID_BODY = SALT_BODY + "a" * 31
# A fixed salt: parameters built from it get the same test ids in every process (xdist).
HASH = bcrypt.hashpw(PASSWORD.encode(), f"$2b$04${SALT_BODY}".encode()).decode()


# hash_password / verify_password


def test_hash_password_makes_a_bcrypt_hash_that_verifies() -> None:
    hashed = hash_password(PASSWORD, rounds=FAST)
    assert hashed.startswith("$2b$04$")
    assert is_bcrypt_hash(hashed)
    assert verify_password(PASSWORD, hashed)
    assert not verify_password(PASSWORD + "!", hashed)


def test_hash_password_salts_every_hash() -> None:
    assert hash_password(PASSWORD, rounds=FAST) != hash_password(PASSWORD, rounds=FAST)


def test_hash_password_uses_cost_12_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []
    real_gensalt = bcrypt.gensalt

    def gensalt(rounds: int = 12, prefix: bytes = b"2b") -> bytes:
        asked.append(rounds)
        return real_gensalt(FAST, prefix)

    monkeypatch.setattr(bcrypt, "gensalt", gensalt)
    hash_password(PASSWORD)
    assert passwords.DEFAULT_ROUNDS == 12
    assert asked == [12]


@pytest.mark.parametrize("password", ["short", "x" * 73, "é" * 37])
def test_hash_password_applies_the_policy(password: str) -> None:
    with pytest.raises(ValueError, match="password"):
        hash_password(password, rounds=FAST)


def test_verify_password_accepts_2a_and_2y_spellings() -> None:
    body = HASH[len("$2b$") :]
    assert verify_password(PASSWORD, "$2a$" + body)
    assert verify_password(PASSWORD, "$2y$" + body)


@pytest.mark.parametrize(
    "hashed",
    [
        "",
        PASSWORD,
        "$apr1$abcdefgh$0123456789abcdefghijkl",
        "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
        "abJnggxhB/yWI",
        HASH[:-1],
        HASH + "a",
        HASH + "\n",
        "$2b$03$" + VALID_BODY,
        "$2b$32$" + VALID_BODY,
        "$2x$04$" + VALID_BODY,
        "$2b$04$" + "a" * 53,  # right shape, but salt padding bits bcrypt refuses
    ],
)
def test_verify_password_is_false_for_a_malformed_hash(hashed: str) -> None:
    assert verify_password(PASSWORD, hashed) is False


def test_verify_password_refuses_a_password_longer_than_bcrypt_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first_72 = "p" * 72
    truncating_tool_hash = bcrypt.hashpw(first_72.encode(), bcrypt.gensalt(FAST)).decode()
    assert verify_password(first_72, truncating_tool_hash)
    assert verify_password(first_72 + "anything", truncating_tool_hash) is False
    # bcrypt before 5.0 (the floor is 4.1) silently truncates instead of raising.
    real_checkpw = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda pw, hashed: real_checkpw(pw[:72], hashed))
    assert verify_password(first_72 + "anything", truncating_tool_hash) is False


def test_verify_password_is_false_for_a_password_that_is_not_unicode_text() -> None:
    assert verify_password("\ud800 lone surrogate", HASH) is False


@settings(max_examples=50, deadline=None)
@given(password=st.text(max_size=100), hashed=st.text(max_size=80))
def test_verify_password_never_raises(password: str, hashed: str) -> None:
    assert verify_password(password, hashed) in (True, False)


# is_bcrypt_hash


@pytest.mark.parametrize(
    "value", ["$2a$04$" + VALID_BODY, "$2b$12$" + VALID_BODY, "$2y$31$" + VALID_BODY, HASH]
)
def test_is_bcrypt_hash_accepts_bcrypt(value: str) -> None:
    assert is_bcrypt_hash(value)


@pytest.mark.parametrize(
    "value",
    [
        "$2b$03$" + VALID_BODY,
        "$2b$32$" + VALID_BODY,
        "$2b$4$" + VALID_BODY,
        "$2x$04$" + VALID_BODY,
        "$2$04$" + VALID_BODY,
        "$2b$04$" + VALID_BODY[:-1],
        "$2b$04$" + VALID_BODY + "a",
        "$2b$04$" + VALID_BODY + "\n",
        "$2b$04$" + VALID_BODY[:-1] + "!",
        "$apr1$abcdefgh$0123456789abcdefghijkl",
    ],
)
def test_is_bcrypt_hash_refuses_others(value: str) -> None:
    assert not is_bcrypt_hash(value)


# validate_password


@pytest.mark.parametrize("password", ["12345678", "x" * 72, "é" * 36, "pass word"])
def test_validate_password_accepts_8_chars_to_72_bytes(password: str) -> None:
    assert validate_password(password) == password


def test_validate_password_refuses_fewer_than_8_characters() -> None:
    with pytest.raises(ValueError, match="at least 8 characters"):
        validate_password("1234567")


@pytest.mark.parametrize("password", ["x" * 73, "é" * 37])
def test_validate_password_refuses_more_than_72_bytes(password: str) -> None:
    with pytest.raises(ValueError, match="72 bytes"):
        validate_password(password)


def test_validate_password_refuses_text_that_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="Unicode"):
        validate_password("\ud800 12345678")


# validate_user_name


@pytest.mark.parametrize(
    "name", ["alice", "Alice.Smith", "alice@example.com", "Zoë", "system", "a" * 253, "a-b_c+d"]
)
def test_validate_user_name_accepts(name: str) -> None:
    assert validate_user_name(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("a" * 254, "253"),
        ("a/b", "'/'"),
        ("a%b", "'%'"),
        ("a:b", "':'"),
        (".", "'.'"),
        ("..", "'..'"),
        ("~", "'~'"),
        ("system:admin", "reserved"),
        ("system:", "reserved"),
        ("al ice", "whitespace"),
        ("alice\t", "whitespace"),
        ("alice\n", "whitespace"),
        ("ali\x00ce", "control"),
        ("ali\x7fce", "control"),
        ("ali\u200bce", "control"),  # zero-width space, a format character
        ("ali\u00a0ce", "whitespace"),  # no-break space
    ],
)
def test_validate_user_name_refuses(name: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_user_name(name)


# parse_htpasswd


def test_parse_htpasswd_reads_users_and_skips_blanks_and_comments() -> None:
    other = hash_password("another secret", rounds=FAST)
    content = f"# users\r\n\r\nalice:{HASH}\r\n   \n  # indented comment\nbob:{other}\n"
    assert parse_htpasswd(content) == [("alice", HASH), ("bob", other)]


def test_parse_htpasswd_of_an_empty_file_is_empty() -> None:
    assert parse_htpasswd("") == []
    assert parse_htpasswd("# nothing\n\n") == []


def test_parse_htpasswd_refuses_a_line_without_colon_and_does_not_echo_it() -> None:
    with pytest.raises(ValueError, match="line 3") as raised:
        parse_htpasswd(f"# c\nalice:{HASH}\nplaintextsecret\n")
    assert "plaintextsecret" not in str(raised.value)


@pytest.mark.parametrize(
    ("hashed", "kind"),
    [
        ("$apr1$abcdefgh$0123456789abcdefghijkl", "MD5"),
        ("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "SHA"),
        ("abJnggxhB/yWI", "crypt"),
        ("$2b$03$" + VALID_BODY, "malformed bcrypt"),
    ],
)
def test_parse_htpasswd_refuses_non_bcrypt_hashes(hashed: str, kind: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_htpasswd(f"alice:{HASH}\nbob:{hashed}\n")
    message = str(raised.value)
    assert "line 2" in message
    assert kind in message
    assert "htpasswd -B" in message
    assert hashed not in message


@pytest.mark.parametrize("user", ["", "system:admin", "a/b", "..", "al ice"])
def test_parse_htpasswd_validates_user_names(user: str) -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_htpasswd(f"alice:{HASH}\n{user}:{HASH}\n")


def test_parse_htpasswd_refuses_a_user_twice() -> None:
    with pytest.raises(ValueError, match=r"line 2.*twice"):
        parse_htpasswd(f"alice:{HASH}\nalice:{HASH}\n")
