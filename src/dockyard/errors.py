"""The one error model.

Every layer raises these; only ``dockyard.http.errors`` renders them. Registry errors carry an OCI
error code whose default HTTP status and message come from one table, the way Distribution's
``errcode`` registry declares them. Resource errors become Kubernetes ``Status`` objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar


class ErrorCode(StrEnum):
    BLOB_UNKNOWN = "BLOB_UNKNOWN"
    BLOB_UPLOAD_INVALID = "BLOB_UPLOAD_INVALID"
    BLOB_UPLOAD_UNKNOWN = "BLOB_UPLOAD_UNKNOWN"
    DIGEST_INVALID = "DIGEST_INVALID"
    MANIFEST_BLOB_UNKNOWN = "MANIFEST_BLOB_UNKNOWN"
    MANIFEST_INVALID = "MANIFEST_INVALID"
    MANIFEST_UNKNOWN = "MANIFEST_UNKNOWN"
    NAME_INVALID = "NAME_INVALID"
    NAME_UNKNOWN = "NAME_UNKNOWN"
    SIZE_INVALID = "SIZE_INVALID"
    UNAUTHORIZED = "UNAUTHORIZED"
    DENIED = "DENIED"
    UNSUPPORTED = "UNSUPPORTED"
    TOOMANYREQUESTS = "TOOMANYREQUESTS"
    UNKNOWN = "UNKNOWN"
    UNAVAILABLE = "UNAVAILABLE"
    RANGE_INVALID = "RANGE_INVALID"
    TAG_INVALID = "TAG_INVALID"
    PAGINATION_NUMBER_INVALID = "PAGINATION_NUMBER_INVALID"


@dataclass(frozen=True)
class CodeInfo:
    status: int
    message: str


CODES: dict[ErrorCode, CodeInfo] = {
    ErrorCode.BLOB_UNKNOWN: CodeInfo(404, "blob unknown to registry"),
    ErrorCode.BLOB_UPLOAD_INVALID: CodeInfo(400, "blob upload invalid"),
    ErrorCode.BLOB_UPLOAD_UNKNOWN: CodeInfo(404, "blob upload unknown to registry"),
    ErrorCode.DIGEST_INVALID: CodeInfo(400, "provided digest did not match uploaded content"),
    ErrorCode.MANIFEST_BLOB_UNKNOWN: CodeInfo(
        400, "manifest references a blob unknown to registry"
    ),
    ErrorCode.MANIFEST_INVALID: CodeInfo(400, "manifest invalid"),
    ErrorCode.MANIFEST_UNKNOWN: CodeInfo(404, "manifest unknown"),
    ErrorCode.NAME_INVALID: CodeInfo(400, "invalid repository name"),
    ErrorCode.NAME_UNKNOWN: CodeInfo(404, "repository name not known to registry"),
    ErrorCode.SIZE_INVALID: CodeInfo(400, "provided length did not match content length"),
    ErrorCode.UNAUTHORIZED: CodeInfo(401, "authentication required"),
    ErrorCode.DENIED: CodeInfo(403, "requested access to the resource is denied"),
    ErrorCode.UNSUPPORTED: CodeInfo(405, "the operation is unsupported"),
    ErrorCode.TOOMANYREQUESTS: CodeInfo(429, "too many requests"),
    ErrorCode.UNKNOWN: CodeInfo(500, "unknown error"),
    ErrorCode.UNAVAILABLE: CodeInfo(503, "service unavailable"),
    ErrorCode.RANGE_INVALID: CodeInfo(416, "invalid content range"),
    ErrorCode.TAG_INVALID: CodeInfo(400, "manifest tag did not match URI"),
    ErrorCode.PAGINATION_NUMBER_INVALID: CodeInfo(400, "invalid number of results requested"),
}


class RegistryError(Exception):
    """An error of the distribution API, rendered as ``{"errors": [...]}``."""

    code: ClassVar[ErrorCode] = ErrorCode.UNKNOWN

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: Any = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or CODES[self.code].message
        self.detail = detail
        self.status = status or CODES[self.code].status
        self.headers = headers or {}
        super().__init__(self.message)

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"code": self.code.value, "message": self.message}
        if self.detail is not None:
            entry["detail"] = self.detail
        return {"errors": [entry]}


class BlobUnknownError(RegistryError):
    code = ErrorCode.BLOB_UNKNOWN


class BlobUploadInvalidError(RegistryError):
    code = ErrorCode.BLOB_UPLOAD_INVALID


class BlobUploadUnknownError(RegistryError):
    code = ErrorCode.BLOB_UPLOAD_UNKNOWN


class DigestInvalidError(RegistryError):
    code = ErrorCode.DIGEST_INVALID


class ManifestBlobUnknownError(RegistryError):
    code = ErrorCode.MANIFEST_BLOB_UNKNOWN


class ManifestInvalidError(RegistryError):
    code = ErrorCode.MANIFEST_INVALID


class ManifestUnknownError(RegistryError):
    code = ErrorCode.MANIFEST_UNKNOWN


class NameInvalidError(RegistryError):
    code = ErrorCode.NAME_INVALID


class NameUnknownError(RegistryError):
    code = ErrorCode.NAME_UNKNOWN


class SizeInvalidError(RegistryError):
    code = ErrorCode.SIZE_INVALID


class UnauthorizedError(RegistryError):
    code = ErrorCode.UNAUTHORIZED


class DeniedError(RegistryError):
    code = ErrorCode.DENIED


class UnsupportedError(RegistryError):
    code = ErrorCode.UNSUPPORTED


class TooManyRequestsError(RegistryError):
    code = ErrorCode.TOOMANYREQUESTS


class UnknownError(RegistryError):
    code = ErrorCode.UNKNOWN


class UnavailableError(RegistryError):
    code = ErrorCode.UNAVAILABLE


class RangeInvalidError(RegistryError):
    code = ErrorCode.RANGE_INVALID


class TagInvalidError(RegistryError):
    code = ErrorCode.TAG_INVALID


class PaginationNumberInvalidError(RegistryError):
    code = ErrorCode.PAGINATION_NUMBER_INVALID


Cause = tuple[str, str, str]
"""``(field, reason, message)``: why a body is refused."""


class StatusError(Exception):
    """An error of the resource API, rendered as a Kubernetes ``Status``."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        super().__init__(message)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str, group: str = "") -> StatusError:
    """Kubernetes' 404 for an object: ``images.image.openshift.io "sha256:…" not found``."""
    return StatusError(
        404,
        "NotFound",
        f'{_qualified(resource, group)} "{name}" not found',
        {"name": name, "group": group, "kind": resource},
    )


def already_exists(resource: str, name: str, group: str = "") -> StatusError:
    return StatusError(
        409,
        "AlreadyExists",
        f'{_qualified(resource, group)} "{name}" already exists',
        {"name": name, "group": group, "kind": resource},
    )


def conflict(resource: str, name: str, group: str = "") -> StatusError:
    """A write at a stale ``resourceVersion``."""
    return StatusError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": the object'
        " has been modified; please apply your changes to the latest version and try again",
        {"name": name, "group": group, "kind": resource},
    )


def invalid(qualified: str, name: str, causes: Sequence[Cause]) -> StatusError:
    """A 422 in Kubernetes' words; ``causes`` are ``(field, reason, message)``."""
    described = [f"{field}: {message}" if field else message for field, _, message in causes]
    summary = described[0] if len(described) == 1 else f"[{', '.join(described)}]"
    return StatusError(
        422,
        "Invalid",
        f'{qualified} "{name}" is invalid: {summary}',
        {
            "name": name,
            "kind": qualified.partition(".")[0],
            "causes": [
                {"reason": reason, "message": message, "field": field}
                for field, reason, message in causes
            ],
        },
    )


def invalid_field(kind: str, name: str, message: str, field: str | None = None) -> StatusError:
    """A 422 for one field (or the whole object, without ``field``)."""
    return invalid(kind, name, [(field or "", "FieldValueInvalid", message)])


class ConfigError(Exception):
    """A setting that cannot work; the message names the key."""
