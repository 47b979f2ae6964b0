"""The metrics secret as ``/extensions/v2/metrics`` checks it."""

from __future__ import annotations

import base64

from pydantic import SecretStr
from starlette.requests import Request

from dockyard.http.metrics import sends_secret


def request_with(authorization: str | None) -> Request:
    headers = [] if authorization is None else [(b"authorization", authorization.encode())]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_secret_is_a_basic_password_of_any_user_or_a_bearer() -> None:
    secret = SecretStr("s3cret-for-scrapes")
    assert sends_secret(request_with(basic("any", "s3cret-for-scrapes")), secret)
    assert sends_secret(request_with(basic("", "s3cret-for-scrapes")), secret)
    assert sends_secret(request_with("Bearer s3cret-for-scrapes"), secret)
    assert not sends_secret(request_with(basic("any", "s3cret-for-scrapeS")), secret)
    assert not sends_secret(request_with(None), secret)
    assert not sends_secret(request_with("Basic !!!"), secret)


def test_no_secret_or_an_empty_one_opens_nothing() -> None:
    assert not sends_secret(request_with(basic("any", "")), SecretStr(""))
    assert not sends_secret(request_with(basic("any", "x")), None)
