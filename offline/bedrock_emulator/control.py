"""The ``bedrock`` control plane: customization jobs, custom models, provisioned throughput, custom model
deployments and tags. Each public method is one operation: it takes the parsed input (member names as in
botocore's service model, constraints already checked) and returns the output members."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from customizer import invocation_logs
from customizer.errors import SettingsError
from customizer.families import BaseModel, CustomizationType, base_model
from offline.bedrock_emulator.errors import ServiceError, conflict, invalid, not_found
from offline.bedrock_emulator.resources import (
    IN_PROGRESS,
    STOPPING,
    CustomModel,
    Deployment,
    Job,
    Throughput,
)
from offline.bedrock_emulator.store import Store
from offline.bedrock_emulator.training import read_and_check, read_logs_and_check

Params = Mapping[str, Any]
RFT = CustomizationType.REINFORCEMENT_FINE_TUNING
Output = dict[str, Any]
R = TypeVar("R", Job, CustomModel, Throughput, Deployment)
Named = TypeVar("Named", Throughput, Deployment)
MAX_TAGS = 50
DEFAULT_PAGE = 100


def _fingerprint(params: Params) -> str:
    """The request without its idempotency token: a retry with the same token must match it."""
    return json.dumps({k: v for k, v in params.items() if k != "clientRequestToken"}, sort_keys=True, default=str)


def _tag_map(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {t["key"]: t["value"] for t in tags or ()}


class ControlPlane:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ---- foundation models ----

    def get_foundation_model(self, p: Params) -> Output:
        with self.store.lock:
            return self.store.catalog.get(p["modelIdentifier"], self.store.advance())

    def list_foundation_models(self, p: Params) -> Output:
        with self.store.lock:
            return self.store.catalog.list(p, self.store.advance())

    # ---- customization jobs ----

    def create_model_customization_job(self, p: Params) -> Output:
        model, base_id = self._base_model(p["baseModelIdentifier"])
        ctype = self._customization_type(model, p.get("customizationType", "FINE_TUNING"))
        with self.store.lock:
            # Offered in this region today, and not past its end of life (the catalog, as GetFoundationModel says).
            self.store.catalog.check_customization(model, ctype, self.store.advance())
        validators = [v["s3Uri"] for v in (p.get("validationDataConfig") or {}).get("validators", [])]
        if ctype is CustomizationType.DISTILLATION:
            self._check_distillation(model, p)
            hyperparameters: dict[str, str] = {}
        elif ctype is CustomizationType.REINFORCEMENT_FINE_TUNING:
            self._check_rft(model, p, bool(validators))
            hyperparameters = {}
        else:
            if p.get("customizationConfig"):
                raise invalid(f"customizationConfig is not used for customization type {ctype.value}.")
            hyperparameters = self._hyperparameters(model, p.get("hyperParameters") or {}, bool(validators))
        training_uri = p["trainingDataConfig"].get("s3Uri")
        logs = p["trainingDataConfig"].get("invocationLogsConfig")
        if bool(training_uri) == bool(logs):
            raise invalid("trainingDataConfig needs exactly one of s3Uri and invocationLogsConfig.")
        if logs and ctype not in invocation_logs.CONVERTERS:
            raise invalid(f"invocationLogsConfig is not supported for customization type {ctype.value}.")
        token, fingerprint = p.get("clientRequestToken"), _fingerprint(p)
        with self.store.lock:
            self.store.advance()
            existing = self._existing_job(p, token, fingerprint)
            if existing:
                return {"jobArn": existing}
            job_id, model_id = self.store.new_id(), self.store.new_id()
        job_arn = self.store.arn(f"model-customization-job/{base_id}/{job_id}")
        # The job reads its data as its role (when authorizing: service_roles); a refusal fails the job.
        objects = self.store.objects_as(p["roleArn"], job_arn)
        # Read outside the lock: S3 may be slow, and the emulator keeps answering meanwhile.
        data = (
            read_logs_and_check(objects, model=model, customization_type=ctype, config=logs)
            if logs
            else read_and_check(
                objects,
                model=model,
                customization_type=ctype,
                hyperparameters=hyperparameters,
                training_uri=training_uri,
                validation_uris=validators,
            )
        )
        with self.store.lock:
            now = self.store.advance()
            existing = self._existing_job(p, token, fingerprint)
            if existing:
                return {"jobArn": existing}
            seconds = self.store.durations.job_seconds

            def third(n: int) -> datetime:
                return now + timedelta(seconds=seconds * n / 3)

            job = Job(
                arn=job_arn,
                job_id=job_id,
                model_id=model_id,
                name=p["jobName"],
                model_name=p["customModelName"],
                token=token,
                fingerprint=fingerprint,
                role_arn=p["roleArn"],
                base_model=model,
                base_model_arn=self.store.foundation_model_arn(base_id),
                customization_type=ctype,
                hyperparameters=hyperparameters,
                training_config=dict(p["trainingDataConfig"]),
                validation_config=p.get("validationDataConfig"),
                output_config=dict(p["outputDataConfig"]),
                customization_config=p.get("customizationConfig"),
                kms_key_arn=self._kms_key_arn(p.get("customModelKmsKeyId")),
                vpc_config=p.get("vpcConfig"),
                model_tags=list(p.get("customModelTags") or []),
                created=now,
                phase_ends=(third(1), third(2), third(3)),
                data=data,
                stop_seconds=self.store.durations.stop_seconds,
                objects=objects if objects is not self.store.objects else None,
            )
            self._apply_planned_job_faults(job, seconds)
            self.store.resources.jobs[job.arn] = job
            self.store.resources.tags[job.arn] = _tag_map(p.get("jobTags"))
            return {"jobArn": job.arn}

    def _apply_planned_job_faults(self, job: Job, seconds: float) -> None:
        faults = self.store.faults
        if faults.next_job_failure is not None:
            job.planned_failure, faults.next_job_failure = faults.next_job_failure, None
        if faults.next_job_stops:
            job.planned_stop_at, faults.next_job_stops = job.created + timedelta(seconds=seconds / 2), False

    def _existing_job(self, p: Params, token: str | None, fingerprint: str) -> str | None:
        """The ARN of the job an idempotent retry refers to; an error for a name already taken."""
        for job in self.store.resources.jobs.values():
            same_token = token is not None and job.token == token
            if job.name == p["jobName"]:
                if not same_token:
                    raise invalid("The provided job name is currently in use.")
                if job.fingerprint != fingerprint:
                    raise conflict("The clientRequestToken was already used by a different request.")
                return job.arn
            if same_token:
                raise conflict("The clientRequestToken was already used by a different request.")
        model_name = p["customModelName"]
        taken = any(m.name == model_name for m in self.store.resources.models.values()) or any(
            j.model_name == model_name and j.status in (IN_PROGRESS, STOPPING)
            for j in self.store.resources.jobs.values()
        )
        if taken:
            raise invalid("The provided custom model name is currently in use.")
        return None

    @staticmethod
    def _base_model(identifier: str) -> tuple[BaseModel, str]:
        model_id = identifier
        if identifier.startswith("arn:"):
            if ":foundation-model/" not in identifier:
                raise invalid(f"The emulator customizes foundation models only, not {identifier}.")
            model_id = identifier.rsplit("/", 1)[-1]
        try:
            return base_model(model_id), model_id
        except SettingsError as exc:
            raise invalid(f"The provided base model identifier {model_id} is invalid or cannot be customized.") from exc

    @staticmethod
    def _customization_type(model: BaseModel, value: str) -> CustomizationType:
        try:
            ctype = CustomizationType(value)
            model.data_format(ctype)
        except (ValueError, SettingsError) as exc:
            raise invalid(f"The base model {model.model_id} does not support customization type {value}.") from exc
        return ctype

    def _check_distillation(self, model: BaseModel, p: Params) -> None:
        """The teacher must be one the student may learn from (the families' pairs); a distillation job takes no
        hyperparameters. The messages' wording is this project's guess at the service's (README)."""
        teacher_config = ((p.get("customizationConfig") or {}).get("distillationConfig") or {}).get(
            "teacherModelConfig"
        )
        if not teacher_config:
            raise invalid("customizationConfig.distillationConfig is required for customization type DISTILLATION.")
        teacher = str(teacher_config["teacherModelIdentifier"]).rsplit("foundation-model/", 1)[-1]
        if teacher not in model.distillation_teachers:
            raise invalid(
                f"The teacher model {teacher} is not supported for distillation into {model.model_id}. Supported "
                f"teacher models: {', '.join(model.distillation_teachers)}."
            )
        try:  # offered in this region today (the catalog, as GetFoundationModel says)
            self.store.catalog.get(teacher, self.store.clock.now())
        except ServiceError as exc:
            raise invalid(f"The teacher model {teacher} is not available in {self.store.catalog.region}.") from exc
        if p.get("hyperParameters"):
            raise invalid("hyperParameters are not supported for customization type DISTILLATION.")

    @staticmethod
    def _check_rft(model: BaseModel, p: Params, has_validation: bool) -> None:
        """``customizationConfig.rftConfig`` with its grader (botocore makes graderConfig optional; a job without
        one is refused here, a guess at the service) and its hyperparameters (botocore's ranges, checked with the
        request's constraints; the two without a range in the service model by families/rft.py); no top-level
        hyperParameters. The messages' wording is a guess (README)."""
        config = (p.get("customizationConfig") or {}).get("rftConfig")
        if config is None:
            raise invalid("customizationConfig.rftConfig is required for customization type REINFORCEMENT_FINE_TUNING.")
        if not ((config.get("graderConfig") or {}).get("lambdaGrader") or {}).get("lambdaArn"):
            raise invalid("customizationConfig.rftConfig.graderConfig.lambdaGrader.lambdaArn is required.")
        if p.get("hyperParameters"):
            raise invalid(
                "hyperParameters are not supported for customization type REINFORCEMENT_FINE_TUNING; use "
                "customizationConfig.rftConfig.hyperParameters."
            )
        given = dict(config.get("hyperParameters") or {})
        try:
            model.resolve_hyperparameters(given, has_validation_data=has_validation, customization_type=RFT)
        except SettingsError as exc:
            where = "customizationConfig.rftConfig.hyperParameters."
            raise invalid(str(exc).replace("settings.hyperparameters.", where)) from exc

    @staticmethod
    def _hyperparameters(model: BaseModel, given: Mapping[str, str], has_validation: bool) -> dict[str, str]:
        try:
            return model.resolve_hyperparameters(given, has_validation_data=has_validation)
        except SettingsError as exc:
            raise invalid(str(exc).replace("settings.hyperparameters.", "hyperParameters.")) from exc

    def _kms_key_arn(self, key_id: str | None) -> str | None:
        if key_id is None or key_id.startswith("arn:"):
            return key_id
        settings = self.store.settings
        return f"arn:aws:kms:{settings.region}:{settings.account_id}:{key_id if '/' in key_id else 'key/' + key_id}"

    def get_model_customization_job(self, p: Params) -> Output:
        with self.store.lock:
            now = self.store.advance()
            return self.store.job(p["jobIdentifier"]).describe(now)

    def list_model_customization_jobs(self, p: Params) -> Output:
        with self.store.lock:
            now = self.store.advance()
            jobs = [
                j
                for j in self.store.resources.jobs.values()
                if p.get("statusEquals") in (None, j.status) and p.get("nameContains", "") in j.name
            ]
            page, token = _page(jobs, p, lambda j: j.created)
            return _present(modelCustomizationJobSummaries=[j.summary(now) for j in page], nextToken=token)

    def stop_model_customization_job(self, p: Params) -> Output:
        with self.store.lock:
            now = self.store.advance()
            self.store.stop(self.store.job(p["jobIdentifier"]), now)
            return {}

    # ---- custom models ----

    def get_custom_model(self, p: Params) -> Output:
        with self.store.lock:
            self.store.advance()
            return self.store.model(p["modelIdentifier"]).describe()

    def list_custom_models(self, p: Params) -> Output:
        with self.store.lock:
            self.store.advance()
            base_arn = p.get("baseModelArnEquals") or p.get("foundationModelArnEquals")
            models = [
                m
                for m in self.store.resources.models.values()
                if p.get("nameContains", "") in m.name
                and base_arn in (None, m.job.base_model_arn)
                and p.get("modelStatus") in (None, "Active")
            ]
            page, token = _page(models, p, lambda m: m.created)
            return _present(modelSummaries=[m.summary() for m in page], nextToken=token)

    def delete_custom_model(self, p: Params) -> Output:
        with self.store.lock:
            self.store.advance()
            model = self.store.model(p["modelIdentifier"])
            resources = self.store.resources
            users = [t.name for t in resources.throughputs.values() if t.model_arn == model.arn]
            users += [d.name for d in resources.deployments.values() if d.model.arn == model.arn]
            if users:
                raise conflict(f"The custom model {model.name} is in use by {', '.join(users)}; delete those first.")
            del resources.models[model.arn]
            resources.tags.pop(model.arn, None)
            return {}

    # ---- provisioned throughput ----

    def create_provisioned_model_throughput(self, p: Params) -> Output:
        with self.store.lock:
            now = self.store.advance()
            token, fingerprint = p.get("clientRequestToken"), _fingerprint(p)
            existing = self._existing_named(
                self.store.resources.throughputs.values(), p["provisionedModelName"], token, fingerprint
            )
            if existing:
                return {"provisionedModelArn": existing}
            model_arn, base = self._servable(p["modelId"])
            self.store.catalog.check_throughput(base)
            faults = self.store.faults
            throughput = Throughput(
                arn=self.store.arn(f"provisioned-model/{self.store.new_id()}"),
                name=p["provisionedModelName"],
                model_arn=model_arn,
                foundation_model_arn=self.store.foundation_model_arn(base.model_id),
                base_model=base,
                model_units=int(p["modelUnits"]),
                commitment=p.get("commitmentDuration"),
                token=token,
                fingerprint=fingerprint,
                created=now,
                ready_at=now + timedelta(seconds=self.store.durations.throughput_seconds),
                planned_failure=faults.next_throughput_failure,
            )
            faults.next_throughput_failure = None
            self.store.resources.throughputs[throughput.arn] = throughput
            self.store.resources.tags[throughput.arn] = _tag_map(p.get("tags"))
            return {"provisionedModelArn": throughput.arn}

    def _servable(self, model_id: str) -> tuple[str, BaseModel]:
        """The ARN and base model of what a throughput serves: a custom model, or a foundation model."""
        try:
            custom = self.store.model(model_id)
            return custom.arn, custom.base_model
        except ServiceError:
            pass
        plain = model_id.rsplit("/", 1)[-1] if ":foundation-model/" in model_id else model_id
        if not model_id.startswith("arn:") or ":foundation-model/" in model_id:
            try:
                return self.store.foundation_model_arn(plain), base_model(plain)
            except SettingsError:
                pass
        raise not_found(f"The model {model_id} couldn't be found.")

    @staticmethod
    def _existing_named(items: Iterable[Named], name: str, token: str | None, fingerprint: str) -> str | None:
        for item in items:
            if item.name == name:
                if token is not None and item.token == token and item.fingerprint == fingerprint:
                    return item.arn
                raise invalid(f"The provided name {name} is currently in use.")
            if token is not None and item.token == token:
                raise conflict("The clientRequestToken was already used by a different request.")
        return None

    def get_provisioned_model_throughput(self, p: Params) -> Output:
        with self.store.lock:
            self.store.advance()
            return self.store.throughput(p["provisionedModelId"]).describe()

    def list_provisioned_model_throughputs(self, p: Params) -> Output:
        with self.store.lock:
            self.store.advance()
            items = [
                t
                for t in self.store.resources.throughputs.values()
                if p.get("statusEquals") in (None, t.status)
                and p.get("modelArnEquals") in (None, t.model_arn)
                and p.get("nameContains", "") in t.name
            ]
            page, token = _page(items, p, lambda t: t.created)
            return _present(provisionedModelSummaries=[t.summary() for t in page], nextToken=token)

    def delete_provisioned_model_throughput(self, p: Params) -> Output:
        with self.store.lock:
            now = self.store.advance()
            throughput = self.store.throughput(p["provisionedModelId"])
            expires = throughput.commitment_expires
            if throughput.commitment and expires is not None and now < expires:
                raise invalid(
                    f"The provisioned model {throughput.name} has a {throughput.commitment} commitment until "
                    f"{expires.isoformat()} and can't be deleted before it ends."
                )
            del self.store.resources.throughputs[throughput.arn]
            self.store.resources.tags.pop(throughput.arn, None)
            return {}

    # ---- custom model deployments (on-demand) ----

    def create_custom_model_deployment(self, p: Params) -> Output:
        with self.store.lock:
            now = self.store.advance()
            token, fingerprint = p.get("clientRequestToken"), _fingerprint(p)
            existing = self._existing_named(
                self.store.resources.deployments.values(), p["modelDeploymentName"], token, fingerprint
            )
            if existing:
                return {"customModelDeploymentArn": existing}
            model = self.store.model(p["modelArn"])
            if not model.base_model.on_demand_deployment:
                raise invalid(
                    f"On-demand deployment is not supported for models customized from {model.base_model.model_id}; "
                    "use provisioned throughput."
                )
            deployment = Deployment(
                arn=self.store.arn(f"custom-model-deployment/{self.store.new_id()}"),
                name=p["modelDeploymentName"],
                model=model,
                description=p.get("description"),
                token=token,
                fingerprint=fingerprint,
                created=now,
                ready_at=now + timedelta(seconds=self.store.durations.deployment_seconds),
            )
            self.store.resources.deployments[deployment.arn] = deployment
            self.store.resources.tags[deployment.arn] = _tag_map(p.get("tags"))
            return {"customModelDeploymentArn": deployment.arn}

    def get_custom_model_deployment(self, p: Params) -> Output:
        with self.store.lock:
            self.store.advance()
            return self.store.deployment(p["customModelDeploymentIdentifier"]).describe()

    def list_custom_model_deployments(self, p: Params) -> Output:
        with self.store.lock:
            self.store.advance()
            items = [
                d
                for d in self.store.resources.deployments.values()
                if p.get("statusEquals") in (None, d.status)
                and p.get("modelArnEquals") in (None, d.model.arn)
                and p.get("nameContains", "") in d.name
            ]
            page, token = _page(items, p, lambda d: d.created, after="createdAfter", before="createdBefore")
            return _present(modelDeploymentSummaries=[d.summary() for d in page], nextToken=token)

    def delete_custom_model_deployment(self, p: Params) -> Output:
        with self.store.lock:
            self.store.advance()
            deployment = self.store.deployment(p["customModelDeploymentIdentifier"])
            del self.store.resources.deployments[deployment.arn]
            self.store.resources.tags.pop(deployment.arn, None)
            return {}

    # ---- tags ----

    def tag_resource(self, p: Params) -> Output:
        with self.store.lock:
            self.store.advance()
            self.store.taggable(p["resourceARN"])
            tags = {**self.store.resources.tags.get(p["resourceARN"], {}), **_tag_map(p["tags"])}
            if len(tags) > MAX_TAGS:
                raise ServiceError(
                    "TooManyTagsException",
                    f"A resource can have at most {MAX_TAGS} tags; this one would have {len(tags)}.",
                )
            self.store.resources.tags[p["resourceARN"]] = tags
            return {}

    def untag_resource(self, p: Params) -> Output:
        with self.store.lock:
            self.store.advance()
            self.store.taggable(p["resourceARN"])
            tags = self.store.resources.tags.get(p["resourceARN"], {})
            for key in p["tagKeys"]:
                tags.pop(key, None)
            return {}

    def list_tags_for_resource(self, p: Params) -> Output:
        with self.store.lock:
            self.store.advance()
            self.store.taggable(p["resourceARN"])
            tags = self.store.resources.tags.get(p["resourceARN"], {})
            return {"tags": [{"key": k, "value": v} for k, v in tags.items()]}

    def operations(self) -> dict[str, Callable[[Params], Output]]:
        return {
            "GetFoundationModel": self.get_foundation_model,
            "ListFoundationModels": self.list_foundation_models,
            "CreateModelCustomizationJob": self.create_model_customization_job,
            "GetModelCustomizationJob": self.get_model_customization_job,
            "ListModelCustomizationJobs": self.list_model_customization_jobs,
            "StopModelCustomizationJob": self.stop_model_customization_job,
            "GetCustomModel": self.get_custom_model,
            "ListCustomModels": self.list_custom_models,
            "DeleteCustomModel": self.delete_custom_model,
            "CreateProvisionedModelThroughput": self.create_provisioned_model_throughput,
            "GetProvisionedModelThroughput": self.get_provisioned_model_throughput,
            "ListProvisionedModelThroughputs": self.list_provisioned_model_throughputs,
            "DeleteProvisionedModelThroughput": self.delete_provisioned_model_throughput,
            "CreateCustomModelDeployment": self.create_custom_model_deployment,
            "GetCustomModelDeployment": self.get_custom_model_deployment,
            "ListCustomModelDeployments": self.list_custom_model_deployments,
            "DeleteCustomModelDeployment": self.delete_custom_model_deployment,
            "TagResource": self.tag_resource,
            "UntagResource": self.untag_resource,
            "ListTagsForResource": self.list_tags_for_resource,
        }


def _present(**values: Any) -> Output:
    return {k: v for k, v in values.items() if v is not None}


def _page(
    items: list[R],
    p: Params,
    created: Callable[[R], datetime],
    *,
    after: str = "creationTimeAfter",
    before: str = "creationTimeBefore",
) -> tuple[list[R], str | None]:
    """Filter by creation time, sort (newest first unless sortOrder=Ascending), and cut one page."""
    chosen = [
        i
        for i in items
        if (p.get(after) is None or created(i) > p[after]) and (p.get(before) is None or created(i) < p[before])
    ]
    chosen.sort(key=created, reverse=p.get("sortOrder", "Descending") == "Descending")
    try:
        start = int(p.get("nextToken") or 0)
    except ValueError as exc:
        raise invalid("The nextToken is not valid.") from exc
    size = int(p.get("maxResults") or DEFAULT_PAGE)
    end = start + size
    return chosen[start:end], (str(end) if end < len(chosen) else None)
