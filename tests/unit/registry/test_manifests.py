from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from hypothesis import given, strategies as st

from dockyard.errors import ErrorCode, ManifestInvalidError
from dockyard.registry.digest import Digest, digest_of
from dockyard.registry.manifests import (
    DOCKER_FOREIGN_LAYER,
    Descriptor,
    ParsedManifest,
    Platform,
    parse_manifest,
)
from dockyard.registry.mediatypes import (
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
)

LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_DIGEST = "sha256:" + "c" * 64
LAYER_DIGEST = "sha256:" + "1" * 64
LAYER2_DIGEST = "sha512:" + "2" * 128
CHILD_DIGEST = "sha256:" + "d" * 64
SUBJECT_DIGEST = "sha256:" + "5" * 64


def desc(media_type: Any, digest: Any, size: int = 10, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def oci_manifest(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": desc(OCI_CONFIG, CONFIG_DIGEST, 452),
        "layers": [desc(LAYER_TYPE, LAYER_DIGEST, 78343), desc(LAYER_TYPE, LAYER2_DIGEST, 5)],
    }
    body.update(overrides)
    return body


def oci_index(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            desc(
                OCI_MANIFEST,
                CHILD_DIGEST,
                500,
                platform={
                    "architecture": "arm64",
                    "os": "linux",
                    "variant": "v8",
                    "os.version": "10.0.17763.1879",
                },
            )
        ],
    }
    body.update(overrides)
    return body


def encode(body: Any) -> bytes:
    return json.dumps(body).encode()


def invalid(body: Any, content_type: str | None = OCI_MANIFEST) -> ManifestInvalidError:
    content = body if isinstance(body, bytes) else encode(body)
    with pytest.raises(ManifestInvalidError) as info:
        parse_manifest(content, content_type)
    assert info.value.code is ErrorCode.MANIFEST_INVALID
    assert info.value.status == 400
    return info.value


# --- valid documents -------------------------------------------------------------------------


def test_oci_image_manifest_fields() -> None:
    body = oci_manifest(annotations={"org.opencontainers.image.created": "2024-01-01"})
    parsed = parse_manifest(encode(body), OCI_MANIFEST)
    assert parsed.media_type == OCI_MANIFEST
    assert not parsed.is_index
    assert parsed.config == Descriptor(OCI_CONFIG, Digest("sha256", "c" * 64), 452)
    assert [(d.digest.algorithm, d.size) for d in parsed.layers] == [
        ("sha256", 78343),
        ("sha512", 5),
    ]
    assert parsed.manifests == ()
    assert parsed.subject is None
    assert dict(parsed.annotations) == {"org.opencontainers.image.created": "2024-01-01"}
    # Distribution spec, listing referrers: no artifactType means the config's media type.
    assert parsed.artifact_type == OCI_CONFIG
    assert [str(d.digest) for d in parsed.blob_references()] == [
        CONFIG_DIGEST,
        LAYER_DIGEST,
        LAYER2_DIGEST,
    ]


def test_artifact_with_empty_layers_and_artifact_type() -> None:
    body = oci_manifest(
        artifactType="application/vnd.example.sbom+json",
        config=desc(OCI_EMPTY, "sha256:" + "4" * 64, 2),
        layers=[],
        subject=desc(OCI_MANIFEST, SUBJECT_DIGEST, 1234),
    )
    parsed = parse_manifest(encode(body), OCI_MANIFEST)
    assert parsed.layers == ()
    assert parsed.artifact_type == "application/vnd.example.sbom+json"
    assert parsed.subject == Descriptor(OCI_MANIFEST, Digest("sha256", "5" * 64), 1234)
    assert [str(d.digest) for d in parsed.blob_references()] == ["sha256:" + "4" * 64]


def test_empty_artifact_type_falls_back_to_config_media_type() -> None:
    body = oci_manifest(artifactType="", config=desc(OCI_EMPTY, CONFIG_DIGEST, 2))
    assert parse_manifest(encode(body), OCI_MANIFEST).artifact_type == OCI_EMPTY


def test_oci_index_with_platforms() -> None:
    body = oci_index(
        artifactType="application/vnd.example.bundle",
        subject=desc(OCI_INDEX, SUBJECT_DIGEST, 9),
        annotations={"k": "v"},
    )
    parsed = parse_manifest(encode(body), OCI_INDEX)
    assert parsed.is_index
    assert parsed.config is None
    assert parsed.layers == ()
    assert len(parsed.manifests) == 1
    child = parsed.manifests[0]
    assert child.media_type == OCI_MANIFEST
    assert str(child.digest) == CHILD_DIGEST
    assert child.platform == Platform("arm64", "linux", "v8", "10.0.17763.1879")
    assert parsed.subject is not None and str(parsed.subject.digest) == SUBJECT_DIGEST
    assert parsed.artifact_type == "application/vnd.example.bundle"
    assert dict(parsed.annotations) == {"k": "v"}
    assert parsed.blob_references() == ()


def test_index_without_artifact_type_has_none() -> None:
    parsed = parse_manifest(encode(oci_index()), OCI_INDEX)
    assert parsed.artifact_type is None


def test_empty_index_is_allowed() -> None:
    parsed = parse_manifest(encode(oci_index(manifests=[])), OCI_INDEX)
    assert parsed.manifests == ()


def test_platform_minimal() -> None:
    body = oci_index(
        manifests=[
            desc(OCI_MANIFEST, CHILD_DIGEST, platform={"architecture": "amd64", "os": "linux"})
        ]
    )
    child = parse_manifest(encode(body), OCI_INDEX).manifests[0]
    assert child.platform == Platform("amd64", "linux")


def test_docker_schema2_manifest() -> None:
    body = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": desc(DOCKER_CONFIG, CONFIG_DIGEST, 7023),
        "layers": [desc("application/vnd.docker.image.rootfs.diff.tar.gzip", LAYER_DIGEST, 32654)],
        # Docker types have no subject; like Distribution, the field is ignored, not honoured.
        "subject": desc(OCI_MANIFEST, SUBJECT_DIGEST, 1),
    }
    parsed = parse_manifest(encode(body), DOCKER_MANIFEST)
    assert parsed.media_type == DOCKER_MANIFEST
    assert parsed.subject is None
    assert parsed.artifact_type == DOCKER_CONFIG
    assert len(parsed.blob_references()) == 2


def test_docker_manifest_list() -> None:
    body = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_LIST,
        "manifests": [
            desc(
                DOCKER_MANIFEST,
                CHILD_DIGEST,
                7143,
                platform={"architecture": "ppc64le", "os": "linux"},
            )
        ],
    }
    parsed = parse_manifest(encode(body), DOCKER_MANIFEST_LIST)
    assert parsed.is_index
    assert parsed.manifests[0].platform == Platform("ppc64le", "linux")
    assert parsed.artifact_type is None


def test_annotations_are_read_only() -> None:
    parsed = parse_manifest(encode(oci_manifest(annotations={"a": "b"})), OCI_MANIFEST)
    with pytest.raises(TypeError):
        parsed.annotations["a"] = "c"  # type: ignore[index]


def test_unknown_fields_are_ignored() -> None:
    body = oci_manifest(future={"anything": [1, 2]})
    body["config"]["futureField"] = True
    assert parse_manifest(encode(body), OCI_MANIFEST).config is not None


def test_blob_references_dedupes_and_keeps_order() -> None:
    body = oci_manifest(
        layers=[
            desc(LAYER_TYPE, LAYER_DIGEST),
            desc(LAYER_TYPE, CONFIG_DIGEST),
            desc(LAYER_TYPE, LAYER_DIGEST),
        ]
    )
    refs = parse_manifest(encode(body), OCI_MANIFEST).blob_references()
    assert [str(d.digest) for d in refs] == [CONFIG_DIGEST, LAYER_DIGEST]


# --- media type determination ----------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [None, "", "application/json", "application/octet-stream", "application/json; charset=utf-8"],
)
def test_generic_content_type_uses_body_media_type(content_type: str | None) -> None:
    assert parse_manifest(encode(oci_index()), content_type).media_type == OCI_INDEX
    body = oci_manifest()
    body["mediaType"] = DOCKER_MANIFEST
    assert parse_manifest(encode(body), content_type).media_type == DOCKER_MANIFEST


@pytest.mark.parametrize("content_type", [None, "application/json"])
def test_detection_without_any_media_type(content_type: str | None) -> None:
    manifest = oci_manifest()
    del manifest["mediaType"]
    index = oci_index()
    del index["mediaType"]
    assert parse_manifest(encode(manifest), content_type).media_type == OCI_MANIFEST
    assert parse_manifest(encode(index), content_type).media_type == OCI_INDEX


def test_specific_content_type_without_body_media_type() -> None:
    body = oci_manifest()
    del body["mediaType"]
    assert parse_manifest(encode(body), OCI_MANIFEST).media_type == OCI_MANIFEST


def test_content_type_parameters_and_case_are_ignored() -> None:
    ct = "Application/VND.OCI.Image.Manifest.v1+JSON ; charset=utf-8"
    assert parse_manifest(encode(oci_manifest()), ct).media_type == OCI_MANIFEST


def test_body_media_type_must_match_content_type() -> None:
    err = invalid(oci_manifest(), OCI_INDEX)
    assert OCI_MANIFEST in err.message and OCI_INDEX in err.message
    assert "does not match" in err.message


def test_neither_config_nor_manifests() -> None:
    err = invalid({"schemaVersion": 2}, None)
    assert "cannot determine the manifest type" in err.message


def test_both_config_and_manifests_without_type() -> None:
    body = oci_manifest(manifests=[])
    del body["mediaType"]
    err = invalid(body, None)
    assert "both 'manifests' and 'config'" in err.message


def test_docker_manifest_requires_media_type() -> None:
    body = oci_manifest()
    del body["mediaType"]
    err = invalid(body, DOCKER_MANIFEST)
    assert "mediaType is required" in err.message


def test_docker_list_requires_media_type() -> None:
    body = oci_index()
    del body["mediaType"]
    err = invalid(body, DOCKER_MANIFEST_LIST)
    assert "mediaType is required" in err.message


@pytest.mark.parametrize(
    "content_type",
    ["application/vnd.oci.artifact.manifest.v1+json", "text/plain", "application/vnd.foo+json"],
)
def test_unsupported_content_type(content_type: str) -> None:
    err = invalid(oci_manifest(), content_type)
    assert "unsupported manifest media type" in err.message
    assert content_type in err.message


def test_unsupported_body_media_type() -> None:
    err = invalid(oci_manifest(mediaType="application/vnd.example+json"), None)
    assert "unsupported manifest media type" in err.message


def test_body_media_type_must_be_string() -> None:
    err = invalid(oci_manifest(mediaType=5), None)
    assert "mediaType must be a string" in err.message


@pytest.mark.parametrize("content_type", [DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED])
def test_schema1_content_type_refused(content_type: str) -> None:
    err = invalid(b"not even json", content_type)
    assert "schema1" in err.message and "not supported" in err.message


def test_schema1_body_refused() -> None:
    body = {"schemaVersion": 1, "name": "a/b", "tag": "latest", "fsLayers": [], "signatures": []}
    assert "schema1" in invalid(body, None).message
    assert "schema1" in invalid(oci_manifest(mediaType=DOCKER_SCHEMA1), None).message


@pytest.mark.parametrize("version", [None, 3, 0, "2", 2.0, True, [2]])
def test_schema_version_must_be_two(version: Any) -> None:
    body = oci_manifest()
    if version is None:
        del body["schemaVersion"]
    else:
        body["schemaVersion"] = version
    err = invalid(body)
    assert "schemaVersion must be the integer 2" in err.message


# --- document shape --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b"\xef\xbb\xbf{}", "not valid JSON"),
        (b"[]", "must be a JSON object, got a list"),
        (b"null", "must be a JSON object, got null"),
        (b'"x"', "must be a JSON object"),
        (b'{"schemaVersion": 2, "schemaVersion": 2}', "duplicate key 'schemaVersion'"),
        (b'{"schemaVersion": NaN}', "NaN is not allowed"),
        (b'{"schemaVersion": ' + b"9" * 5000 + b"}", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_bad_documents(content: bytes, fragment: str) -> None:
    assert fragment in invalid(content).message


def test_config_required() -> None:
    body = oci_manifest()
    del body["config"]
    assert "config is required" in invalid(body).message
    assert "config is required" in invalid(oci_manifest(config=None)).message


@pytest.mark.parametrize("layers", [None, {}, "x", 3])
def test_layers_must_be_a_list(layers: Any) -> None:
    body = oci_manifest(layers=layers)
    if layers is None:
        del body["layers"]
    assert "layers must be a list" in invalid(body).message


@pytest.mark.parametrize("manifests", [None, {}, "x"])
def test_index_manifests_must_be_a_list(manifests: Any) -> None:
    body = oci_index(manifests=manifests)
    if manifests is None:
        del body["manifests"]
    assert "manifests must be a list" in invalid(body, OCI_INDEX).message


def test_manifest_with_manifests_field_is_ambiguous() -> None:
    err = invalid(oci_manifest(manifests=[]))
    assert "must not have 'manifests'" in err.message


@pytest.mark.parametrize("field", ["config", "layers"])
def test_index_with_manifest_fields_is_ambiguous(field: str) -> None:
    body = oci_index(**{field: desc(OCI_CONFIG, CONFIG_DIGEST) if field == "config" else []})
    assert f"must not have '{field}'" in invalid(body, OCI_INDEX).message


# --- descriptors -----------------------------------------------------------------------------


def layer_error(layer: Any) -> ManifestInvalidError:
    return invalid(oci_manifest(layers=[desc(LAYER_TYPE, LAYER_DIGEST), layer]))


def test_descriptor_must_be_object() -> None:
    assert "layers[1] must be a descriptor object" in layer_error("sha256:abc").message


def test_descriptor_media_type_required() -> None:
    layer = desc(LAYER_TYPE, LAYER_DIGEST)
    del layer["mediaType"]
    err = layer_error(layer)
    assert "layers[1].mediaType must be a string" in err.message
    assert err.detail["field"] == "layers[1]"


@pytest.mark.parametrize("media_type", ["", "tar", "a/b/c", "a /b", "/b", 7])
def test_descriptor_media_type_grammar(media_type: Any) -> None:
    assert "layers[1].mediaType" in layer_error(desc(media_type, LAYER_DIGEST)).message


@pytest.mark.parametrize(
    ("digest", "fragment"),
    [
        ("sha256:" + "A" * 64, "lowercase hex"),
        ("sha256:abc", "64 lowercase hex"),
        ("md5:" + "0" * 32, "not supported"),
        ("garbage", "expected algorithm:hex"),
        ("sha256:" + "a" * 64 + "\n", "expected algorithm:hex"),
    ],
)
def test_bad_digest_becomes_manifest_invalid(digest: str, fragment: str) -> None:
    err = layer_error(desc(LAYER_TYPE, digest, 3))
    assert type(err) is ManifestInvalidError
    assert err.message.startswith("layers[1].digest: ")
    assert fragment in err.message
    assert err.detail == {
        "field": "layers[1]",
        "descriptor": {"mediaType": LAYER_TYPE, "digest": digest, "size": 3},
    }


def test_error_detail_is_strict_json() -> None:
    err = invalid(
        b'{"schemaVersion": 2, "config": {"mediaType": "a/b", "digest": 1e400}, "layers": []}'
    )
    assert err.detail["descriptor"] == {"mediaType": "a/b", "digest": "Infinity"}
    json.dumps(err.to_json(), allow_nan=False)


def test_digest_must_be_string() -> None:
    assert "layers[1].digest must be a string" in layer_error(desc(LAYER_TYPE, 12)).message


@pytest.mark.parametrize("size", [-1, True, False, 1.0, "10", None, 2**63])
def test_bad_size(size: Any) -> None:
    layer = desc(LAYER_TYPE, LAYER_DIGEST)
    layer["size"] = size
    assert "layers[1].size must be an integer" in layer_error(layer).message


def test_size_bounds_accepted() -> None:
    body = oci_manifest(
        layers=[desc(LAYER_TYPE, LAYER_DIGEST, 0), desc(LAYER_TYPE, LAYER2_DIGEST, 2**63 - 1)]
    )
    assert [d.size for d in parse_manifest(encode(body), OCI_MANIFEST).layers] == [0, 2**63 - 1]


def test_config_descriptor_errors_name_config() -> None:
    err = invalid(oci_manifest(config=desc(OCI_CONFIG, "sha256:zz")))
    assert err.message.startswith("config.digest")


def test_child_and_subject_errors_name_their_path() -> None:
    assert (
        "manifests[0].size"
        in invalid(oci_index(manifests=[desc(OCI_MANIFEST, CHILD_DIGEST, -5)]), OCI_INDEX).message
    )
    assert "subject must be a descriptor" in invalid(oci_manifest(subject="x")).message
    assert "subject.digest" in invalid(oci_manifest(subject=desc(OCI_MANIFEST, "nope"))).message


@pytest.mark.parametrize(
    "platform",
    ["linux", {"os": "linux"}, {"architecture": "amd64"}, {"architecture": 1, "os": "linux"}],
)
def test_bad_platform(platform: Any) -> None:
    body = oci_index(manifests=[desc(OCI_MANIFEST, CHILD_DIGEST, platform=platform)])
    assert "manifests[0].platform" in invalid(body, OCI_INDEX).message


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"variant": 8}, "platform.variant"),
        ({"os.version": 10}, "platform.os.version"),
        ({"os.features": "win32k"}, "platform.os.features"),
        ({"os.features": [1]}, "platform.os.features"),
    ],
)
def test_bad_platform_optional_fields(extra: dict[str, Any], fragment: str) -> None:
    platform = {"architecture": "amd64", "os": "windows", **extra}
    body = oci_index(manifests=[desc(OCI_MANIFEST, CHILD_DIGEST, platform=platform)])
    assert fragment in invalid(body, OCI_INDEX).message


@pytest.mark.parametrize("annotations", [[], "a=b", {"a": 1}, {"a": None}, {"a": ["b"]}])
def test_bad_manifest_annotations(annotations: Any) -> None:
    assert (
        "annotations must be a map of strings"
        in invalid(oci_manifest(annotations=annotations)).message
    )


def test_bad_descriptor_annotations() -> None:
    err = layer_error(desc(LAYER_TYPE, LAYER_DIGEST, annotations={"k": 5}))
    assert "layers[1].annotations must be a map of strings" in err.message


def test_lone_surrogate_in_annotation_refused() -> None:
    content = encode(oci_manifest()).replace(
        b'"schemaVersion"', b'"annotations": {"k": "\\ud800"}, "schemaVersion"'
    )
    assert "lone surrogate" in invalid(content).message


@pytest.mark.parametrize("artifact_type", [5, "not a media type", "a/b/c"])
def test_bad_artifact_type(artifact_type: Any) -> None:
    assert "artifactType" in invalid(oci_manifest(artifactType=artifact_type)).message


def test_bad_descriptor_artifact_type() -> None:
    err = layer_error(desc(LAYER_TYPE, LAYER_DIGEST, artifactType="nope"))
    assert "layers[1].artifactType" in err.message


@pytest.mark.parametrize("urls", ["https://x", [1], {"u": "https://x"}])
def test_bad_urls(urls: Any) -> None:
    assert (
        "layers[1].urls must be a list of strings"
        in layer_error(desc(LAYER_TYPE, LAYER_DIGEST, urls=urls)).message
    )


# --- foreign layers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "media_type",
    [DOCKER_FOREIGN_LAYER, "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"],
)
def test_foreign_layers_are_not_blob_references(media_type: str) -> None:
    foreign = desc(media_type, LAYER2_DIGEST, urls=["https://mcr.example/layer.tar.gz"])
    body = oci_manifest(layers=[desc(LAYER_TYPE, LAYER_DIGEST), foreign])
    parsed = parse_manifest(encode(body), OCI_MANIFEST)
    assert parsed.layers[1].urls == ("https://mcr.example/layer.tar.gz",)
    assert [str(d.digest) for d in parsed.blob_references()] == [CONFIG_DIGEST, LAYER_DIGEST]


def test_ordinary_layer_with_urls_is_still_a_blob_reference() -> None:
    body = oci_manifest(layers=[desc(LAYER_TYPE, LAYER_DIGEST, urls=["https://x/y"])])
    refs = parse_manifest(encode(body), OCI_MANIFEST).blob_references()
    assert LAYER_DIGEST in [str(d.digest) for d in refs]


def test_foreign_layer_needs_urls() -> None:
    err = layer_error(desc(DOCKER_FOREIGN_LAYER, LAYER2_DIGEST))
    assert "foreign layer type" in err.message and "no urls" in err.message


@pytest.mark.parametrize(
    "url", ["ftp://x/y", "file:///etc/passwd", "https://x/y#frag", "http://[::1"]
)
def test_foreign_layer_urls_must_be_http(url: str) -> None:
    err = layer_error(desc(DOCKER_FOREIGN_LAYER, LAYER2_DIGEST, urls=[url]))
    assert "is not an http or https URL" in err.message


# --- embedded data ---------------------------------------------------------------------------


def test_embedded_data_accepted_when_it_matches() -> None:
    data = b"{}"
    config = desc(OCI_EMPTY, str(digest_of(data)), 2, data=base64.b64encode(data).decode())
    assert parse_manifest(encode(oci_manifest(config=config)), OCI_MANIFEST).config is not None


@pytest.mark.parametrize(
    ("data", "size", "fragment"),
    [
        ("e30=", 3, "decodes to 2 bytes but size is 3"),
        ("W10=", 2, "does not match config.digest"),
        ("e30", 2, "not valid base64"),
        ("é", 2, "not valid base64"),
        (5, 2, "must be a base64 string"),
    ],
)
def test_embedded_data_must_match(data: Any, size: int, fragment: str) -> None:
    config = desc(OCI_EMPTY, str(digest_of(b"{}")), size, data=data)
    assert fragment in invalid(oci_manifest(config=config)).message


# --- properties ------------------------------------------------------------------------------

CONTENT_TYPES = st.sampled_from(
    [None, "", "application/json", OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


def _parse_or_invalid(content: bytes, content_type: str | None) -> ParsedManifest | None:
    try:
        return parse_manifest(content, content_type)
    except ManifestInvalidError as exc:
        assert exc.message
        # The error must render as strict JSON, as the HTTP layer will send it.
        json.dumps(exc.to_json(), allow_nan=False)
        return None


@given(st.binary(max_size=300), CONTENT_TYPES | st.text(max_size=30))
def test_arbitrary_bytes_raise_only_manifest_invalid(
    content: bytes, content_type: str | None
) -> None:
    _parse_or_invalid(content, content_type)


@given(JSON, CONTENT_TYPES)
def test_arbitrary_json_raises_only_manifest_invalid(value: Any, content_type: str | None) -> None:
    _parse_or_invalid(json.dumps(value).encode(), content_type)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _paths(child, (*prefix, i))
    return found


BASES = st.sampled_from([oci_manifest(), oci_index(subject=desc(OCI_INDEX, SUBJECT_DIGEST))])


@given(BASES, st.data(), JSON, CONTENT_TYPES)
def test_mutated_valid_manifest_raises_only_manifest_invalid(
    base: dict[str, Any], data: st.DataObject, replacement: Any, content_type: str | None
) -> None:
    body = copy.deepcopy(base)
    path = data.draw(st.sampled_from(_paths(body)[1:]))
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = replacement
    parsed = _parse_or_invalid(json.dumps(body).encode(), content_type)
    if parsed is not None:
        # Whatever got through must still satisfy the invariants the service relies on.
        assert all(d.size >= 0 for d in (*parsed.layers, *parsed.manifests))
        assert parsed.is_index == (parsed.config is None)
