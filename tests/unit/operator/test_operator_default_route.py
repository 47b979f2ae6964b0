"""The default route's hostname, and the public host image streams show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from pydantic import ValidationError

from dockyard.config.model import Settings
from dockyard.operator.certificates import serving_certificate
from dockyard.operator.config import ConfigSpec
from dockyard.operator.routes import default_route_host, public_host


def settings(tmp_path: Path, **http: Any) -> Settings:
    return Settings.model_validate({"data_dir": str(tmp_path), "http": http})


def test_the_default_route_is_named_as_openshift_names_it(tmp_path: Path) -> None:
    assert (
        default_route_host(settings(tmp_path, ingressdomain="apps.example.com"))
        == "default-route-openshift-image-registry.apps.example.com"
    )
    with pytest.raises(ValidationError, match="DNS name"):
        settings(tmp_path, ingressdomain="Apps_Example")


def test_public_host_is_the_default_route_else_the_first_route(tmp_path: Path) -> None:
    served = settings(tmp_path, tlsaddr=":5443", ingressdomain="apps.example.com")
    routes = [{"name": "main", "hostname": "registry.example.com", "secretName": "tls"}]
    default = ConfigSpec.model_validate({"defaultRoute": True, "routes": routes})
    assert public_host(default, served) == (
        "default-route-openshift-image-registry.apps.example.com:5443"
    )
    assert public_host(ConfigSpec.model_validate({"routes": routes}), served) == (
        "registry.example.com:5443"
    )
    on_443 = settings(tmp_path, tlsaddr=":443")
    assert public_host(ConfigSpec.model_validate({"routes": routes}), on_443) == (
        "registry.example.com"
    )
    assert public_host(ConfigSpec(), served) == ""
    assert public_host(default, settings(tmp_path)) == ""  # no HTTPS listener: not exposed


def test_the_made_certificate_names_the_host_and_its_ca() -> None:
    made = serving_certificate("default-route-openshift-image-registry.apps.example.com")
    leaf = x509.load_pem_x509_certificate(made.certificate)
    ca = x509.load_pem_x509_certificate(made.ca)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [
        "default-route-openshift-image-registry.apps.example.com"
    ]
    assert leaf.issuer == ca.subject
    leaf.verify_directly_issued_by(ca)
