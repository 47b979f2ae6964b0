"""``spec.proxy`` as the environment of the workers' outbound clients."""

from __future__ import annotations

from dockyard.operator.config import Proxy
from dockyard.operator.reconciler import proxy_environment


def test_each_field_is_set_in_both_spellings() -> None:
    proxy = Proxy(http="http://proxy:3128", https="http://proxy:3129", noProxy=".internal")
    assert proxy_environment(proxy) == {
        "HTTP_PROXY": "http://proxy:3128",
        "HTTPS_PROXY": "http://proxy:3129",
        "NO_PROXY": ".internal",
        "http_proxy": "http://proxy:3128",
        "https_proxy": "http://proxy:3129",
        "no_proxy": ".internal",
    }


def test_empty_fields_leave_the_process_variables() -> None:
    assert proxy_environment(Proxy()) == {}
    assert proxy_environment(Proxy(https="http://proxy:3129")) == {
        "HTTPS_PROXY": "http://proxy:3129",
        "https_proxy": "http://proxy:3129",
    }
