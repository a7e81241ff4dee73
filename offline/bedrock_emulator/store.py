"""The emulator's state and how it moves with time.

Nothing runs in the background: every request first brings each resource up to the clock's ``now``
(``advance``), applying the transitions whose deadlines have passed, at the time they were due. A finished
job writes its metric files and creates its custom model at that moment, so a caller that sees Completed can
read both right away."""

from __future__ import annotations

import json
import random
import string
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from customizer.distillation_outputs import PROMPT_INSIGHTS, SYNTHETIC_SAMPLES
from customizer.families import CustomizationType
from offline.bedrock_emulator.answering import BaseAnswerer, NearestExample
from offline.bedrock_emulator.authorization import MODEL_KEY_ACTIONS, Authorizer, Check
from offline.bedrock_emulator.catalog import Catalog
from offline.bedrock_emulator.clock import Clock
from offline.bedrock_emulator.config import Durations, EmulatorSettings
from offline.bedrock_emulator.errors import invalid, not_found
from offline.bedrock_emulator.faults import Faults
from offline.bedrock_emulator.reinforcement import GraderError, LambdaRewardFunctions, RewardFunctions, train
from offline.bedrock_emulator.resources import (
    ACTIVE,
    COMPLETED,
    CREATING,
    FAILED,
    IN_PROGRESS,
    IN_SERVICE,
    STOPPED,
    STOPPING,
    CustomModel,
    Deployment,
    Job,
    Resources,
    Throughput,
)
from offline.bedrock_emulator.service_roles import RoleObjects, objects_as
from offline.bedrock_emulator.training import (
    TRAINING_METRICS,
    VALIDATION_METRICS,
    Metrics,
    ObjectStore,
    ObjectStoreError,
    job_metrics,
)

T = TypeVar("T", Job, CustomModel, Throughput, Deployment)
_ID_ALPHABET = string.ascii_lowercase + string.digits
_FAIL, _STOP, _GRADE, _COMPLETE = "fail", "stop", "grade", "complete"


class Store:
    def __init__(
        self,
        settings: EmulatorSettings,
        clock: Clock,
        objects: ObjectStore,
        graders: RewardFunctions | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.objects = objects
        # Reinforcement fine-tuning's reward functions, called through Lambda's Invoke (reinforcement.py).
        self.graders: RewardFunctions = graders or LambdaRewardFunctions(settings.region)
        self.lock = threading.RLock()
        self.resources = Resources()
        self.durations: Durations = settings.durations
        self.faults = Faults(seed=settings.seed)
        self.catalog = Catalog(settings.region)
        self.calls: dict[str, int] = {}  # per operation
        self.invocations: dict[str, int] = {}  # runtime calls per modelId, answered or refused by the model
        self.evaluation_job_arns: set[str] = set()  # taggable too (evaluation.EvaluationJobs holds the jobs)
        # IAM: set by BedrockEmulator.authorize_with (None: nothing is authorized, jobs use ``objects``).
        self.authorizer: Authorizer | None = None
        self._ids = random.Random(settings.seed)

    # ---- names ----

    def new_id(self) -> str:
        return "".join(self._ids.choice(_ID_ALPHABET) for _ in range(12))

    def peek_ids(self, count: int) -> list[str]:
        """The next ``count`` ids ``new_id`` will give, without taking them."""
        state = self._ids.getstate()
        try:
            return [self.new_id() for _ in range(count)]
        finally:
            self._ids.setstate(state)

    def arn(self, resource: str) -> str:
        return f"arn:aws:bedrock:{self.settings.region}:{self.settings.account_id}:{resource}"

    def foundation_model_arn(self, model_id: str) -> str:
        return f"arn:aws:bedrock:{self.settings.region}::foundation-model/{model_id}"

    def objects_as(self, role_arn: str, source_arn: str) -> ObjectStore:
        """What a job with this service role reads and writes through (as the role when authorizing)."""
        return objects_as(self.authorizer, self.objects, role_arn, source_arn, self.settings.s3_endpoint_url)

    def reset(self) -> None:
        self.resources = Resources()
        self.evaluation_job_arns = set()
        self.calls = {}
        self.invocations = {}

    # ---- lookups (by ARN or name) ----

    @staticmethod
    def _find(items: dict[str, T], identifier: str, name_of: str, what: str) -> T:
        if identifier in items:
            return items[identifier]
        for item in items.values():
            if getattr(item, name_of) == identifier:
                return item
        raise not_found(f"The specified {what} {identifier} couldn't be found.")

    def job(self, identifier: str) -> Job:
        return self._find(self.resources.jobs, identifier, "name", "model customization job")

    def model(self, identifier: str) -> CustomModel:
        return self._find(self.resources.models, identifier, "name", "custom model")

    def throughput(self, identifier: str) -> Throughput:
        return self._find(self.resources.throughputs, identifier, "name", "provisioned model")

    def deployment(self, identifier: str) -> Deployment:
        return self._find(self.resources.deployments, identifier, "name", "custom model deployment")

    def taggable(self, arn: str) -> None:
        found = arn in self.resources.jobs or arn in self.resources.models
        found = found or arn in self.resources.throughputs or arn in self.resources.deployments
        found = found or arn in self.evaluation_job_arns
        if not found:
            raise not_found(f"The resource {arn} couldn't be found.")

    # ---- time ----

    def advance(self) -> datetime:
        """Apply every transition that is due; return the time they were brought to."""
        now = self.clock.now()
        for job in list(self.resources.jobs.values()):
            self._advance_job(job, now)
        for throughput in self.resources.throughputs.values():
            self._advance_throughput(throughput, now)
        for deployment in self.resources.deployments.values():
            if deployment.status == CREATING and now >= deployment.ready_at:
                deployment.status = ACTIVE
                deployment.last_updated = deployment.ready_at
        return now

    def _advance_job(self, job: Job, now: datetime) -> None:
        while job.status == IN_PROGRESS:
            due = sorted(e for e in self._job_events(job) if e[0] <= now)
            if not due:
                break
            at, _, event = due[0]
            if event == _STOP:
                self.stop(job, at)
            elif event == _GRADE:
                self._grade(job, at)
            elif event == _COMPLETE:
                self._complete(job, at)
            else:
                self.fail(job, at, job.data.problem or job.planned_failure or "Internal error")
        if job.status == STOPPING and job.halted_at is not None:
            stopped_at = job.halted_at + timedelta(seconds=job.stop_seconds)
            if now >= stopped_at:
                job.status = STOPPED
                job.end_time = job.last_modified = stopped_at

    @staticmethod
    def _job_events(job: Job) -> Iterable[tuple[datetime, int, str]]:
        """(when, precedence at equal times, what): bad data fails when validation ends."""
        validation_end, _, training_end = job.phase_ends
        if job.data.problem:
            yield validation_end, 0, _FAIL
        if job.planned_stop_at is not None:
            yield job.planned_stop_at, 1, _STOP
        if job.rft_grader and job.reward_curve is None:
            # Reinforcement fine-tuning calls its reward function once training has started.
            yield job.phase_ends[1], 2, _GRADE
        yield training_end, 3, _FAIL if job.planned_failure else _COMPLETE

    def _grade(self, job: Job, at: datetime) -> None:
        """Train a reinforcement fine-tuning job: its reward function is called through Lambda now (under the
        lock: the emulator answers no other call meanwhile). A failing grader fails the job."""
        if isinstance(job.objects, RoleObjects):
            # Bedrock invokes the reward function as the job's role (the user guide's "Lambda permissions for
            # reward functions": the customization role holds lambda:InvokeFunction on it).
            try:
                job.objects.require([Check("lambda:InvokeFunction", job.rft_grader)])
            except ObjectStoreError as exc:
                self.fail(job, at, f"The reward function {job.rft_grader} could not be invoked: {exc}")
                return
        try:
            job.reward_curve = train(self.graders, job.rft_grader, job.data.records, job.rft_hyperparameters)
        except GraderError as exc:
            self.fail(job, at, f"{exc}. Fix the reward function and try again.")

    def stop(self, job: Job, at: datetime) -> None:
        if job.status != IN_PROGRESS:
            raise invalid(
                f"The model customization job {job.name} is {job.status}; only a job InProgress can be stopped."
            )
        job.status = STOPPING
        job.halted_at = job.last_modified = at

    def fail(self, job: Job, at: datetime, message: str) -> None:
        if job.status not in (IN_PROGRESS, STOPPING):
            raise invalid(f"The model customization job {job.name} is already {job.status}.")
        job.status = FAILED
        job.failure_message = message
        job.halted_at = job.halted_at or at
        job.end_time = job.last_modified = at

    def _complete(self, job: Job, at: datetime) -> None:
        curve = job.reward_curve
        metrics = (
            Metrics(curve.csv, None, curve.final_loss, ())
            if curve is not None
            else job_metrics(job.data, job.hyperparameters)
        )
        objects = job.objects or self.objects
        try:
            objects.write(job.output_prefix + TRAINING_METRICS, metrics.training_csv.encode())
            if metrics.validation_csv is not None:
                objects.write(job.output_prefix + VALIDATION_METRICS, metrics.validation_csv.encode())
            if job.data.insights:
                # A distillation's outputs, in the layout customizer.distillation_outputs reads (a guess).
                objects.write(job.output_prefix + SYNTHETIC_SAMPLES, _jsonl(job.data.synthetic))
                objects.write(job.output_prefix + PROMPT_INSIGHTS, _jsonl(job.data.insights))
            if isinstance(objects, RoleObjects) and job.kms_key_arn:
                # Bedrock encrypts the custom model with customModelKmsKeyId as the job's role (Nova user guide,
                # "Encryption of Amazon Nova model customization jobs and artifacts", PermissionsModelCustomization).
                objects.require(objects.authorizer.key_checks(job.kms_key_arn, MODEL_KEY_ACTIONS, "bedrock"))
        except ObjectStoreError as exc:
            self.fail(job, at, str(exc))
            return
        base_id = job.base_model_arn.rsplit("/", 1)[-1]
        arn = self.arn(f"custom-model/{base_id}/{job.model_id}")
        continued = job.customization_type is CustomizationType.CONTINUED_PRE_TRAINING
        answerer = NearestExample(job.data.examples, BaseAnswerer(), continuation=continued)
        model = CustomModel(
            arn=arn, name=job.model_name, job=job, answerer=answerer, created=at, account_id=self.settings.account_id
        )
        self.resources.models[arn] = model
        self.resources.tags[arn] = {t["key"]: t["value"] for t in job.model_tags}
        job.status = COMPLETED
        job.metrics = metrics
        job.output_model_arn = arn
        job.end_time = job.last_modified = at

    def _advance_throughput(self, throughput: Throughput, now: datetime) -> None:
        if throughput.status != CREATING or now < throughput.ready_at:
            return
        throughput.last_modified = throughput.ready_at
        if throughput.planned_failure:
            throughput.status = FAILED
            throughput.failure_message = throughput.planned_failure
        else:
            throughput.status = IN_SERVICE


def _jsonl(rows: Sequence[Mapping[str, Any]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()
