"""The ``ImagePruner`` (``imagepruners.imageregistry.operator.openshift.io/cluster``): its spec
as openshift/api has it, the operator's defaults, and the checks that refuse what cannot run.

Pod placement fields (``resources``, ``affinity``, ``nodeSelector``, ``tolerations``) and
``logLevel`` are kept and do nothing here: the pruner runs inside the registry, not as a pod.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from dockyard.config.model import parse_duration
from dockyard.metadata.resources import ResourceType
from dockyard.operator.config import GROUP, Spec
from dockyard.pruning.plan import PruneOptions
from dockyard.pruning.schedule import ScheduleError, parse_schedule

IMAGE_PRUNER = ResourceType(GROUP, "ImagePruner", "imagepruners", namespaced=False)
NAME = "cluster"
DEFAULT_SCHEDULE = "0 0 * * *"
DEFAULT_KEEP_TAG_REVISIONS = 3
DEFAULT_KEEP_YOUNGER_THAN = "60m"
DEFAULT_HISTORY_LIMIT = 3

Cause = tuple[str, str, str]


class ImagePrunerSpec(Spec):
    schedule: str = ""
    suspend: bool | None = None
    keep_tag_revisions: int | None = Field(None, alias="keepTagRevisions", ge=0)
    keep_younger_than: int | None = Field(None, alias="keepYoungerThan", ge=0)
    """Deprecated, in nanoseconds; ``keepYoungerThanDuration`` wins when both are set."""
    keep_younger_than_duration: str | None = Field(None, alias="keepYoungerThanDuration")
    resources: dict[str, Any] | None = None
    affinity: dict[str, Any] | None = None
    node_selector: dict[str, str] | None = Field(None, alias="nodeSelector")
    tolerations: list[dict[str, Any]] | None = None
    successful_jobs_history_limit: int | None = Field(
        None, alias="successfulJobsHistoryLimit", ge=0
    )
    failed_jobs_history_limit: int | None = Field(None, alias="failedJobsHistoryLimit", ge=0)
    ignore_invalid_image_references: bool | None = Field(None, alias="ignoreInvalidImageReferences")
    log_level: Literal["Normal", "Debug", "Trace", "TraceAll", ""] = Field("", alias="logLevel")


def problems(spec: ImagePrunerSpec) -> list[Cause]:
    causes: list[Cause] = []
    if spec.schedule:
        try:
            parse_schedule(spec.schedule)
        except ScheduleError as exc:
            causes.append(("spec.schedule", "FieldValueInvalid", f"Invalid value: {exc}"))
    if spec.keep_younger_than_duration is not None:
        try:
            parse_duration(spec.keep_younger_than_duration)
        except ValueError as exc:
            causes.append(
                ("spec.keepYoungerThanDuration", "FieldValueInvalid", f"Invalid value: {exc}")
            )
    return causes


def with_defaults(spec: ImagePrunerSpec) -> ImagePrunerSpec:
    """What OpenShift's operator fills in: a daily schedule, 3 revisions, 60 minutes, 3 runs
    of history each way."""
    return spec.model_copy(
        update={
            "schedule": spec.schedule or DEFAULT_SCHEDULE,
            "suspend": bool(spec.suspend),
            "keep_tag_revisions": DEFAULT_KEEP_TAG_REVISIONS
            if spec.keep_tag_revisions is None
            else spec.keep_tag_revisions,
            "keep_younger_than_duration": spec.keep_younger_than_duration
            or (None if spec.keep_younger_than is not None else DEFAULT_KEEP_YOUNGER_THAN),
            "successful_jobs_history_limit": _or(spec.successful_jobs_history_limit),
            "failed_jobs_history_limit": _or(spec.failed_jobs_history_limit),
            "ignore_invalid_image_references": bool(spec.ignore_invalid_image_references),
            "log_level": spec.log_level or "Normal",
        }
    )


def _or(limit: int | None) -> int:
    return DEFAULT_HISTORY_LIMIT if limit is None else limit


def dump(spec: ImagePrunerSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def parse(obj: dict[str, Any]) -> ImagePrunerSpec:
    """The spec of a stored ImagePruner (validated and defaulted when it was written)."""
    return with_defaults(ImagePrunerSpec.model_validate(obj.get("spec") or {}))


def options_of(spec: ImagePrunerSpec, prune_registry: bool) -> PruneOptions:
    if spec.keep_younger_than_duration:
        keep = parse_duration(spec.keep_younger_than_duration)
    else:
        keep = (spec.keep_younger_than or 0) / 1e9
    return PruneOptions(
        keep_tag_revisions=spec.keep_tag_revisions or 0,
        keep_younger_than=keep,
        prune_registry=prune_registry,
        ignore_invalid_refs=bool(spec.ignore_invalid_image_references),
    )
