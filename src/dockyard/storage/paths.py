"""Every storage key, computed in one place.

The layout is CNCF Distribution's, so a directory or bucket written by Distribution or the
OpenShift registry can be read in place.
"""

from __future__ import annotations

ROOT = "/docker/registry/v2"


def blob_data_path(algorithm: str, hex_digest: str) -> str:
    return f"{ROOT}/blobs/{algorithm}/{hex_digest[:2]}/{hex_digest}/data"


def blobs_root() -> str:
    return f"{ROOT}/blobs"


def repositories_root() -> str:
    return f"{ROOT}/repositories"


def upload_dir(repository: str, upload_id: str) -> str:
    return f"{ROOT}/repositories/{repository}/_uploads/{upload_id}"


def upload_data_path(repository: str, upload_id: str) -> str:
    return f"{upload_dir(repository, upload_id)}/data"


def upload_started_at_path(repository: str, upload_id: str) -> str:
    return f"{upload_dir(repository, upload_id)}/startedat"
