"""The sweeper: a scheduled safety net for the pipeline's billable resources that nobody deleted.

Every run deletes its own throughput on its failure paths, and aftercare cleans up after executions that
could not; what is left is throughput kept on purpose (``throughput_policy`` keep, or keep_if_better when
the custom model won) and anything a failed cleanup missed. A sweep:

- deletes every provisioned throughput and on-demand custom model deployment tagged ``pipeline`` = this
  deployment's tag that is at least ``max_throughput_hours`` old, unless it is tagged ``keep`` = ``true``;
- never deletes a throughput whose commitment term is still running (it cannot be deleted): it reports it;
- with ``delete_orphan_models``, also deletes the custom models that lost their evaluation: tagged
  ``pipeline`` = this deployment's tag and ``evaluation`` = ``lost`` (set by "Apply the throughput policy"
  when keep_if_better deleted the throughput because the custom model did not beat its base), at least
  ``max_throughput_hours`` old, not tagged ``keep`` = ``true``, and served by no throughput or deployment;
- with ``dry_run``, deletes nothing and reports what it would delete.

It touches nothing without the deployment's ``pipeline`` tag."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from customizer import aws
from customizer.errors import PipelineError, ResourceMissingError, SettingsError
from customizer.settings import SweepOptions
from customizer.throughput import delete_throughput

PIPELINE_TAG = "pipeline"
RUN_ID_TAG = "run-id"
KEEP_TAG = "keep"
KEEP_VALUE = "true"
EVALUATION_TAG = "evaluation"
LOST_VALUE = "lost"

Kind = Literal["provisioned throughput", "on-demand deployment", "custom model"]
Action = Literal["deleted", "would delete", "kept", "committed", "failed"]


class Finding(BaseModel):
    """One resource of the pipeline found past its lifetime, and what the sweep did with it."""

    kind: Kind
    name: str
    arn: str
    run_id: str | None = None
    age_hours: float
    action: Action
    detail: str = ""


class SweepReport(BaseModel):
    options: SweepOptions
    findings: list[Finding]

    def having(self, *actions: Action, kinds: tuple[Kind, ...] | None = None) -> list[Finding]:
        return [f for f in self.findings if f.action in actions and (kinds is None or f.kind in kinds)]

    @property
    def serving_over_lifetime(self) -> int:
        """Throughputs and deployments found past the lifetime, whatever was done with them."""
        return sum(1 for f in self.findings if f.kind != "custom model")

    @property
    def deleted_throughput_hours(self) -> list[float]:
        """The age of each provisioned throughput this sweep deleted: the hours it billed."""
        return [f.age_hours for f in self.having("deleted", kinds=("provisioned throughput",))]

    @property
    def worth_reporting(self) -> bool:
        """Something was (or in a dry run would be) deleted, or could not be."""
        return bool(self.having("deleted", "would delete", "failed"))

    def body(self, moment: datetime) -> dict[str, Any]:
        """The notice on the topic (``run_id`` and ``status`` name it in the subject)."""

        def listed(*actions: Action) -> list[dict[str, Any]]:
            return [f.model_dump(exclude={"action"}) for f in self.having(*actions)]

        return {
            "run_id": f"sweep of {moment:%Y-%m-%d %H:%M} UTC",
            "status": "SWEEP_DRY_RUN" if self.options.dry_run else "SWEEP",
            "reason": f"pipeline resources at least {self.options.max_throughput_hours:g} hours old",
            "options": self.options.model_dump(),
            "would_delete" if self.options.dry_run else "deleted": listed("would delete", "deleted"),
            "failed": listed("failed"),
            "kept": listed("kept"),
            "committed": listed("committed"),
        }


def resolve_options(configured: SweepOptions, overrides: Mapping[str, Any]) -> SweepOptions:
    """A manual run's input over the sweeper's configuration. It may not turn on model deletion that the
    deployment did not grant (the function's role cannot delete models then)."""
    try:
        options = SweepOptions.model_validate({**configured.model_dump(), **overrides})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"sweep input: {problems}") from None
    if options.delete_orphan_models and not configured.delete_orphan_models:
        raise SettingsError(
            "sweep input: delete_orphan_models is off for this deployment; set pipeline.sweeper.delete_orphan_models "
            "to true in cdk.json and deploy (the sweeper is only allowed to delete models then)"
        )
    return options


def tags_of(arn: str) -> dict[str, str] | None:
    """A resource's tags (None when it no longer exists)."""
    try:
        with aws.translate_errors("ListTagsForResource"):
            found = aws.client("bedrock").list_tags_for_resource(resourceARN=arn).get("tags", [])
    except ResourceMissingError:
        return None
    return {t["key"]: t["value"] for t in found}


def mark_lost_evaluation(model_arn: str) -> None:
    """Tag a custom model whose run deleted its throughput because it did not beat its base model: the
    sweeper's ``delete_orphan_models`` deletes such models once they are past the lifetime."""
    with aws.translate_errors("TagResource"):
        aws.client("bedrock").tag_resource(resourceARN=model_arn, tags=[{"key": EVALUATION_TAG, "value": LOST_VALUE}])


def _listed(operation: str, key: str) -> Iterator[dict[str, Any]]:
    with aws.translate_errors(operation):
        for page in aws.client("bedrock").get_paginator(operation).paginate():
            yield from page.get(key, [])


def _hours(since: datetime, now: datetime) -> float:
    return round(max(0.0, (now - since).total_seconds() / 3600), 2)


class _Sweep:
    def __init__(self, options: SweepOptions, pipeline_tag: str, now: datetime) -> None:
        self.options, self.pipeline_tag, self.now = options, pipeline_tag, now
        self.findings: list[Finding] = []
        # Custom model ARN -> what still serves it after this sweep: a model in use must not be deleted.
        self.served: dict[str, str] = {}

    def consider(
        self,
        kind: Kind,
        summary: tuple[str, str, datetime],
        delete: Callable[[], str],
        *,
        serves: str | None = None,
        hold: Callable[[], tuple[Action, str] | None] = lambda: None,
    ) -> None:
        """Judge one resource (name, ARN, creation time); ``hold`` says why it may not be deleted."""
        name, arn, created = summary
        age = _hours(created, self.now)
        tags = tags_of(arn) if age >= self.options.max_throughput_hours else None
        if tags is None or tags.get(PIPELINE_TAG) != self.pipeline_tag or not self._wanted(kind, tags):
            self._serving(serves, name)
            return
        found = {"kind": kind, "name": name, "arn": arn, "run_id": tags.get(RUN_ID_TAG), "age_hours": age}
        held = hold()
        if tags.get(KEEP_TAG, "").lower() == KEEP_VALUE:
            finding = Finding(**found, action="kept", detail=f"tagged {KEEP_TAG}={KEEP_VALUE}")
        elif held is not None:
            finding = Finding(**found, action=held[0], detail=held[1])
        elif self.options.dry_run:
            finding = Finding(**found, action="would delete")
        else:
            try:
                finding = Finding(**found, action="deleted", detail=delete())
            except PipelineError as exc:
                finding = Finding(**found, action="failed", detail=f"{type(exc).__name__}: {exc}")
        self.findings.append(finding)
        if finding.action not in ("deleted", "would delete"):
            self._serving(serves, name)

    @staticmethod
    def _wanted(kind: Kind, tags: Mapping[str, str]) -> bool:
        # Throughputs and deployments of the pipeline bill while they exist; its models only go when they lost.
        return kind != "custom model" or tags.get(EVALUATION_TAG) == LOST_VALUE

    def _serving(self, model: str | None, name: str) -> None:
        if model:
            self.served[model] = name

    def throughputs(self) -> None:
        for t in _listed("list_provisioned_model_throughputs", "provisionedModelSummaries"):
            arn = t["provisionedModelArn"]
            self.consider(
                "provisioned throughput",
                (t["provisionedModelName"], arn, t["creationTime"]),
                partial(delete_throughput, arn),
                serves=t["modelArn"],
                hold=partial(self._commitment, t),
            )

    def _commitment(self, throughput: Mapping[str, Any]) -> tuple[Action, str] | None:
        """A throughput whose commitment term still runs cannot be deleted; after its term it can."""
        term, expires = throughput.get("commitmentDuration"), throughput.get("commitmentExpirationTime")
        if not term or (expires is not None and expires <= self.now):
            return None
        until = f" until {expires.isoformat()}" if expires else ""
        return "committed", f"{term} commitment{until}: it cannot be deleted before its term ends and keeps billing"

    def deployments(self) -> None:
        for d in _listed("list_custom_model_deployments", "modelDeploymentSummaries"):
            arn, name = d["customModelDeploymentArn"], d["customModelDeploymentName"]

            def delete(arn: str = arn, name: str = name) -> str:
                with aws.translate_errors("DeleteCustomModelDeployment"):
                    aws.client("bedrock").delete_custom_model_deployment(customModelDeploymentIdentifier=arn)
                return f"deleted deployment {name}"

            self.consider("on-demand deployment", (name, arn, d["createdAt"]), delete, serves=d["modelArn"])

    def models(self) -> None:
        for m in _listed("list_custom_models", "modelSummaries"):
            arn, name = m["modelArn"], m["modelName"]

            def delete(arn: str = arn, name: str = name) -> str:
                with aws.translate_errors("DeleteCustomModel"):
                    aws.client("bedrock").delete_custom_model(modelIdentifier=arn)
                return f"deleted custom model {name}"

            def in_use(arn: str = arn) -> tuple[Action, str] | None:
                return ("kept", f"still served by {self.served[arn]}") if arn in self.served else None

            self.consider("custom model", (name, arn, m["creationTime"]), delete, hold=in_use)


def sweep(options: SweepOptions, *, pipeline_tag: str, now: datetime | None = None) -> SweepReport:
    """Sweep the deployment's throughputs and deployments (and, if asked, its models that lost)."""
    run = _Sweep(options, pipeline_tag, now or datetime.now(UTC))
    run.throughputs()
    run.deployments()
    if options.delete_orphan_models:
        run.models()
    return SweepReport(options=options, findings=run.findings)
