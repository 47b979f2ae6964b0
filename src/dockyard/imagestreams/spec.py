"""The parts of image stream objects that clients write, validated strictly."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dockyard.errors import invalid_field
from dockyard.registry.reference import TAG_RE


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ObjectReference(Strict):
    kind: Literal["DockerImage", "ImageStreamTag", "ImageStreamImage"]
    name: str = Field(min_length=1, max_length=1024)
    namespace: str | None = None


class TagImportPolicy(Strict):
    insecure: bool = False
    scheduled: bool = False
    importMode: Literal["Legacy", "PreserveOriginal"] = "Legacy"


class TagReferencePolicy(Strict):
    type: Literal["Source", "Local"] = "Source"


class TagReference(Strict):
    name: str
    annotations: dict[str, str] | None = None
    from_: ObjectReference | None = Field(default=None, alias="from")
    reference: bool = False
    generation: int | None = None
    importPolicy: TagImportPolicy = Field(default_factory=TagImportPolicy)
    referencePolicy: TagReferencePolicy = Field(default_factory=TagReferencePolicy)

    @field_validator("name")
    @classmethod
    def _tag(cls, value: str) -> str:
        if not TAG_RE.fullmatch(value):
            raise ValueError("must be a tag: up to 128 of [A-Za-z0-9_.-], not starting with . or -")
        return value


class ImageLookupPolicy(Strict):
    local: bool = False


class ImageStreamSpec(Strict):
    lookupPolicy: ImageLookupPolicy = Field(default_factory=ImageLookupPolicy)
    dockerImageRepository: str = ""
    tags: list[TagReference] = Field(default_factory=list)

    @field_validator("tags")
    @classmethod
    def _unique(cls, value: list[TagReference]) -> list[TagReference]:
        names = [tag.name for tag in value]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise ValueError(f"tag {duplicate!r} appears more than once")
        return value


def parse_model(model: type[Strict], data: Any, kind: str, name: str, prefix: str) -> Any:
    """Validate ``data``; a failure names the first field at fault, Kubernetes style."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        error = exc.errors()[0]
        path = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
        raise invalid_field(kind, name, error["msg"], path) from None
