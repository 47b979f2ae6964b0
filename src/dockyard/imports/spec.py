"""The ImageStreamImport request (``spec``), validated strictly as the other image kinds are."""

from __future__ import annotations

from pydantic import Field

from dockyard.imagestreams.spec import (
    ObjectReference,
    Strict,
    TagImportPolicy,
    TagReferencePolicy,
)


class LocalObjectReference(Strict):
    name: str = ""


class RepositoryImportSpec(Strict):
    from_: ObjectReference = Field(alias="from")
    importPolicy: TagImportPolicy = Field(default_factory=TagImportPolicy)
    referencePolicy: TagReferencePolicy = Field(default_factory=TagReferencePolicy)
    includeManifest: bool = False


class ImageImportSpec(Strict):
    from_: ObjectReference = Field(alias="from")
    to: LocalObjectReference | None = None
    importPolicy: TagImportPolicy = Field(default_factory=TagImportPolicy)
    referencePolicy: TagReferencePolicy = Field(default_factory=TagReferencePolicy)
    includeManifest: bool = False


class ImageStreamImportSpec(Strict):
    import_: bool = Field(default=False, alias="import")
    repository: RepositoryImportSpec | None = None
    images: list[ImageImportSpec] = Field(default_factory=list)
