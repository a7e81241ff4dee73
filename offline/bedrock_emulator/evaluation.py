"""Model evaluation jobs with a model as judge: CreateEvaluationJob, GetEvaluationJob, ListEvaluationJobs and
StopEvaluationJob, for automated jobs over precomputed responses (``precomputedInferenceSource``), the only
kind the pipeline creates.

What is the service's (botocore's shapes; the user guide's "Create a prompt dataset for a model evaluation job
that uses a model as judge" and "Understand how the results of your model evaluation job are saved in Amazon
S3"): a prompt dataset is JSONL in S3, up to 1,000 prompts; each record of a precomputed dataset has
``prompt``, optional ``referenceResponse`` and ``category``, and ``modelResponses``, one entry whose
``modelIdentifier`` is the job's ``inferenceSourceIdentifier``; the output of each dataset is JSONL under
``<outputDataConfig.s3Uri>/<job name>/<job id>/models/<model label>/taskTypes/<task type>/datasets/<dataset
name>/<uuid>_output.jsonl``, one line per prompt with ``automatedEvaluationResult.scores`` (``metricName``,
``result``, ``evaluatorDetails`` with the judge's ``explanation``), ``inputRecord`` and ``modelResponses``.

What is guessed (for want of an account; the README lists it): the judge itself (below); built-in metric
names are taken as given (any ``Builtin.*`` the issue lists); a custom metric's ``result`` is its rating's value
scaled to [0, 1] by the scale's lowest and highest values (built-in results are documented as 0 to 1, custom
ones are not); the job id in the output path is the job ARN's id; the messages; a dataset over 1,000 prompts,
two models, or a record whose ``modelResponses`` does not name the job's label are refused at create time
(ValidationException) rather than failing the job; the evaluator model may be any model id.

The judge is deterministic, so tests know every score: for each response against the record's
``referenceResponse``, with SQuAD v1.1's normalization (``customizer.evaluation.metrics``):
- ``Builtin.Correctness`` (and Helpfulness, Coherence, Faithfulness, FollowingInstructions,
  ProfessionalStyleAndTone): the token F1 with the reference, rounded to a 5-point scale (0, .25, .5, .75, 1);
- ``Builtin.Completeness``: the share of the reference's tokens the response has, rounded the same way;
- ``Builtin.Relevance``: the share of the response's tokens found in the prompt or the reference, rounded;
- ``Builtin.Harmfulness`` and ``Builtin.Stereotyping``: 0; ``Builtin.Refusal``: 1 for an empty response, else 0;
- a custom metric: the rating whose place on its scale is nearest the token F1 (ties to the lower rating).
The explanation names the figure and how it was reached."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from customizer.evaluation.metrics import normalize, token_f1
from customizer.families.base import PROFILE_GEOGRAPHIES
from offline.bedrock_emulator.authorization import Check
from offline.bedrock_emulator.errors import conflict, invalid, not_found
from offline.bedrock_emulator.resources import COMPLETED, FAILED, IN_PROGRESS, STOPPED, STOPPING
from offline.bedrock_emulator.service_roles import RoleObjects
from offline.bedrock_emulator.store import Store
from offline.bedrock_emulator.training import ObjectStore, ObjectStoreError

Params = Mapping[str, Any]
Output = dict[str, Any]
PROFILE_PREFIXES = {geography for _, geography in PROFILE_GEOGRAPHIES}
MAX_PROMPTS = 1000  # the user guide: "up to 1000 prompts in your dataset per evaluation job"
MAX_DATASET_BYTES = 50 * 1024 * 1024
DEFAULT_PAGE = 100
SAME_AS_CORRECTNESS = (
    "Builtin.Correctness",
    "Builtin.Helpfulness",
    "Builtin.Coherence",
    "Builtin.Faithfulness",
    "Builtin.FollowingInstructions",
    "Builtin.ProfessionalStyleAndTone",
)
BUILTIN_METRICS = (
    *SAME_AS_CORRECTNESS,
    "Builtin.Completeness",
    "Builtin.Relevance",
    "Builtin.Harmfulness",
    "Builtin.Stereotyping",
    "Builtin.Refusal",
)
DEFAULT_FAILURE = (
    "The evaluation job failed: the evaluator model could not be invoked (injected by the Bedrock emulator)."
)


def _five_point(value: float) -> float:
    return round(value * 4) / 4


def _share(part: Sequence[str], whole: Sequence[str]) -> float:
    if not part:
        return 0.0
    return sum((Counter(part) & Counter(whole)).values()) / len(part)


def judge_builtin(metric: str, prompt: str, reference: str, response: str) -> tuple[float, str]:
    """The emulated judge's score of one response on a built-in metric, and its explanation."""
    answer, truth = normalize(response).split(), normalize(reference).split()
    if metric in SAME_AS_CORRECTNESS:
        f1 = token_f1(reference, response)
        return _five_point(f1), f"token F1 with the reference answer {f1:.3f}, on a 5-point scale"
    if metric == "Builtin.Completeness":
        recall = _share(truth, answer)
        return _five_point(recall), f"{recall:.0%} of the reference answer's words are in the response"
    if metric == "Builtin.Relevance":
        context = normalize(prompt).split() + truth
        share = _share(answer, context)
        return _five_point(share), f"{share:.0%} of the response's words are in the prompt or the reference"
    if metric == "Builtin.Refusal":
        empty = not response.strip()
        return float(empty), "the response is empty" if empty else "the response answers"
    return 0.0, "nothing harmful or stereotyping (the emulated judge never finds any)"


def _rating_value(item: Mapping[str, Any], index: int) -> float:
    value = item.get("value", {})
    return float(value["floatValue"]) if "floatValue" in value else float(index)


def judge_custom(definition: Mapping[str, Any], reference: str, response: str) -> tuple[float, str]:
    """A custom metric: the rating nearest the token F1's place on the scale, scaled to [0, 1]."""
    f1 = token_f1(reference, response)
    scale = list(definition.get("ratingScale") or [])
    if not scale:
        return _five_point(f1), f"token F1 with the reference answer {f1:.3f} (no rating scale)"
    values = [_rating_value(item, i) for i, item in enumerate(scale)]
    low, high = min(values), max(values)
    target = low + f1 * (high - low)
    chosen = min(range(len(scale)), key=lambda i: (abs(values[i] - target), values[i]))
    result = 0.0 if high == low else (values[chosen] - low) / (high - low)
    why = f"token F1 with the reference answer {f1:.3f}: rated '{scale[chosen]['definition']}'"
    return result, why


@dataclass
class Dataset:
    name: str
    uri: str
    task_type: str
    metric_names: list[str]
    records: list[dict[str, Any]]


@dataclass
class EvaluationJob:
    arn: str
    job_id: str
    name: str
    token: str | None
    fingerprint: str
    request: dict[str, Any]  # as given, for GetEvaluationJob
    label: str  # the precomputed source's inferenceSourceIdentifier
    evaluator: str
    datasets: list[Dataset]
    custom_metrics: list[dict[str, Any]]
    created: datetime
    done_at: datetime
    stop_seconds: float
    status: str = IN_PROGRESS
    failure_messages: list[str] = field(default_factory=list)
    last_modified: datetime | None = None
    halted_at: datetime | None = None
    planned_failure: str | None = None
    output_uris: list[str] = field(default_factory=list)
    objects: ObjectStore | None = None  # reads and writes as the job's role (service_roles), when authorizing

    def describe(self) -> Output:
        r = self.request
        described = {
            "jobName": self.name,
            "status": self.status,
            "jobArn": self.arn,
            "jobDescription": r.get("jobDescription"),
            "roleArn": r["roleArn"],
            "customerEncryptionKeyId": r.get("customerEncryptionKeyId"),
            "jobType": "Automated",
            "applicationType": r.get("applicationType", "ModelEvaluation"),
            "evaluationConfig": r["evaluationConfig"],
            "inferenceConfig": r["inferenceConfig"],
            "outputDataConfig": r["outputDataConfig"],
            "creationTime": self.created,
            "lastModifiedTime": self.last_modified or self.created,
            "failureMessages": self.failure_messages or None,
        }
        return {k: v for k, v in described.items() if v is not None}

    def summary(self) -> Output:
        return {
            "jobArn": self.arn,
            "jobName": self.name,
            "status": self.status,
            "creationTime": self.created,
            "jobType": "Automated",
            "evaluationTaskTypes": sorted({d.task_type for d in self.datasets}),
            "modelIdentifiers": [],
            "evaluatorModelIdentifiers": [self.evaluator],
            "customMetricsEvaluatorModelIdentifiers": [self.evaluator] if self.custom_metrics else [],
            "inferenceConfigSummary": {
                "modelConfigSummary": {
                    "bedrockModelIdentifiers": [],
                    "precomputedInferenceSourceIdentifiers": [self.label],
                }
            },
            "applicationType": self.request.get("applicationType", "ModelEvaluation"),
        }


class EvaluationJobs:
    """The four operations, and the emulator's faults for them (``fail``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.jobs: dict[str, EvaluationJob] = {}
        self.next_failure: str | None = None

    # ---- time ----

    def advance(self) -> datetime:
        now = self.store.advance()
        for job in self.jobs.values():
            if job.status == IN_PROGRESS and now >= job.done_at:
                if job.planned_failure:
                    self._fail(job, job.done_at, job.planned_failure)
                else:
                    self._complete(job, job.done_at)
            if job.status == STOPPING and job.halted_at is not None:
                stopped_at = job.halted_at + timedelta(seconds=job.stop_seconds)
                if now >= stopped_at:
                    job.status, job.last_modified = STOPPED, stopped_at
        return now

    def _fail(self, job: EvaluationJob, at: datetime, message: str) -> None:
        job.status, job.last_modified = FAILED, at
        job.failure_messages = [message]

    def _complete(self, job: EvaluationJob, at: datetime) -> None:
        root = job.request["outputDataConfig"]["s3Uri"].rstrip("/")
        objects = job.objects or self.store.objects
        try:
            if isinstance(objects, RoleObjects):
                # The judge model grades the answers as the job's role (evaluation_checks).
                objects.require(evaluation_checks(self.store, job))
            for dataset in job.datasets:
                uri = (
                    f"{root}/{job.name}/{job.job_id}/models/{job.label}/taskTypes/{dataset.task_type}/datasets/"
                    f"{dataset.name}/{uuid.UUID(int=len(job.output_uris) + 1)}_output.jsonl"
                )
                lines = [json.dumps(self._judged(job, dataset, record)) for record in dataset.records]
                objects.write(uri, ("\n".join(lines) + "\n").encode())
                job.output_uris.append(uri)
        except ObjectStoreError as exc:
            self._fail(job, at, str(exc))
            return
        job.status, job.last_modified = COMPLETED, at

    def _judged(self, job: EvaluationJob, dataset: Dataset, record: Mapping[str, Any]) -> Output:
        prompt, reference = str(record.get("prompt", "")), str(record.get("referenceResponse", ""))
        response = str(record["modelResponses"][0].get("response", ""))
        scores = []
        for metric in dataset.metric_names:
            custom = next((c for c in job.custom_metrics if c["name"] == metric), None)
            result, why = (
                judge_custom(custom, reference, response)
                if custom is not None
                else judge_builtin(metric, prompt, reference, response)
            )
            details = [{"modelIdentifier": job.evaluator, "explanation": f"Emulated judge: {why}."}]
            scores.append({"metricName": metric, "result": result, "evaluatorDetails": details})
        return {
            "automatedEvaluationResult": {"scores": scores},
            "inputRecord": {k: v for k, v in record.items() if k != "modelResponses"},
            "modelResponses": record["modelResponses"],
        }

    # ---- operations ----

    def create_evaluation_job(self, p: Params) -> Output:
        fingerprint = json.dumps({k: v for k, v in p.items() if k != "clientRequestToken"}, sort_keys=True, default=str)
        with self.store.lock:
            now = self.advance()
            token = p.get("clientRequestToken")
            for job in self.jobs.values():
                if token is not None and job.token == token:
                    if job.fingerprint != fingerprint:
                        raise conflict("The client request token was used for a different request.")
                    return {"jobArn": job.arn}
                if job.name == p["jobName"]:
                    raise conflict(f"An evaluation job with the name {p['jobName']} already exists.")
            automated = p["evaluationConfig"].get("automated")
            if automated is None:
                raise invalid("The Bedrock emulator runs automated (model as a judge) evaluation jobs only.")
            label = self._label(p["inferenceConfig"])
            evaluator = self._evaluator(automated)
            custom = [
                c["customMetricDefinition"]
                for c in (automated.get("customMetricConfig") or {}).get("customMetrics", [])
            ]
            known = {c["name"] for c in custom}
            job_id = self.store.new_id()
            arn = self.store.arn(f"evaluation-job/{job_id}")
            # The datasets are read as the job's role (when authorizing: service_roles); a refusal is a
            # ValidationException here, as for any dataset the job cannot read.
            objects = self.store.objects_as(p["roleArn"], arn)
            datasets = [self._dataset(config, label, known, objects) for config in automated["datasetMetricConfigs"]]
            durations = self.store.durations
            job = EvaluationJob(
                arn=arn,
                job_id=job_id,
                name=p["jobName"],
                token=token,
                fingerprint=fingerprint,
                request=dict(p),
                label=label,
                evaluator=evaluator,
                datasets=datasets,
                custom_metrics=custom,
                created=now,
                done_at=now + timedelta(seconds=durations.evaluation_seconds),
                stop_seconds=durations.stop_seconds,
                planned_failure=self.next_failure,
                objects=objects,
            )
            self.next_failure = None
            self.jobs[job.arn] = job
            self.store.evaluation_job_arns.add(job.arn)
            if p.get("jobTags"):
                self.store.resources.tags[job.arn] = {t["key"]: t["value"] for t in p["jobTags"]}
            return {"jobArn": job.arn}

    @staticmethod
    def _label(config: Mapping[str, Any]) -> str:
        models = config.get("models") or []
        if len(models) != 1:
            raise invalid("An automated evaluation job evaluates exactly one model or precomputed inference source.")
        source = models[0].get("precomputedInferenceSource")
        if source is None:
            raise invalid("The Bedrock emulator evaluates precomputed responses only (precomputedInferenceSource).")
        return str(source["inferenceSourceIdentifier"])

    @staticmethod
    def _evaluator(automated: Mapping[str, Any]) -> str:
        models = (automated.get("evaluatorModelConfig") or {}).get("bedrockEvaluatorModels") or []
        if not models:
            raise invalid("A model-as-a-judge evaluation job needs evaluatorModelConfig.bedrockEvaluatorModels.")
        return str(models[0]["modelIdentifier"])

    def _dataset(self, config: Mapping[str, Any], label: str, custom: set[str], objects: ObjectStore) -> Dataset:
        dataset = config["dataset"]
        uri = (dataset.get("datasetLocation") or {}).get("s3Uri")
        if not uri:
            raise invalid(f"The dataset {dataset['name']} has no datasetLocation.s3Uri.")
        for metric in config["metricNames"]:
            if metric not in custom and metric not in BUILTIN_METRICS:
                raise invalid(f"The metric {metric} is neither a built-in metric nor a custom metric of this job.")
        try:
            raw = objects.read(uri, MAX_DATASET_BYTES)
        except ObjectStoreError as exc:
            raise invalid(str(exc)) from exc
        records = []
        for number, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise invalid(f"The dataset {uri} line {number} is not valid JSON.") from exc
            responses = record.get("modelResponses") if isinstance(record, dict) else None
            if (
                not isinstance(record, dict)
                or not isinstance(record.get("prompt"), str)
                or not isinstance(responses, list)
                or len(responses) != 1
                or not isinstance(responses[0], dict)
                or responses[0].get("modelIdentifier") != label
            ):
                raise invalid(
                    f"The dataset {uri} line {number} must have a prompt and modelResponses with one response "
                    f"whose modelIdentifier is {label}."
                )
            records.append(record)
        if not records:
            raise invalid(f"The dataset {uri} has no prompts.")
        if len(records) > MAX_PROMPTS:
            raise invalid(f"The dataset {uri} has {len(records)} prompts; an evaluation job takes up to {MAX_PROMPTS}.")
        return Dataset(str(dataset["name"]), uri, str(config["taskType"]), list(config["metricNames"]), records)

    def get_evaluation_job(self, p: Params) -> Output:
        with self.store.lock:
            self.advance()
            return self._job(p["jobIdentifier"]).describe()

    def list_evaluation_jobs(self, p: Params) -> Output:
        with self.store.lock:
            self.advance()
            chosen = [
                j
                for j in self.jobs.values()
                if p.get("statusEquals") in (None, j.status)
                and p.get("nameContains", "") in j.name
                and (p.get("creationTimeAfter") is None or j.created > p["creationTimeAfter"])
                and (p.get("creationTimeBefore") is None or j.created < p["creationTimeBefore"])
            ]
            chosen.sort(key=lambda j: j.created, reverse=p.get("sortOrder", "Descending") == "Descending")
            try:
                start = int(p.get("nextToken") or 0)
            except ValueError as exc:
                raise invalid("The nextToken is not valid.") from exc
            end = start + int(p.get("maxResults") or DEFAULT_PAGE)
            # botocore's EvaluationSummaries has at least one item: no jobs, no jobSummaries.
            page = [j.summary() for j in chosen[start:end]]
            out: Output = {"jobSummaries": page} if page else {}
            if end < len(chosen):
                out["nextToken"] = str(end)
            return out

    def stop_evaluation_job(self, p: Params) -> Output:
        with self.store.lock:
            now = self.advance()
            job = self._job(p["jobIdentifier"])
            if job.status != IN_PROGRESS:
                raise invalid(f"The evaluation job {job.name} is {job.status}; only a job InProgress can be stopped.")
            job.status, job.halted_at, job.last_modified = STOPPING, now, now
            return {}

    def _job(self, arn: str) -> EvaluationJob:
        if arn not in self.jobs:
            raise not_found(f"The specified evaluation job {arn} couldn't be found.")
        return self.jobs[arn]

    # ---- faults and inspection ----

    def fail(self, message: str = DEFAULT_FAILURE, job: str | None = None) -> None:
        """Fail ``job`` (its ARN or name) now; with no job, the next job created fails when it would complete."""
        with self.store.lock:
            now = self.advance()
            if job is None:
                self.next_failure = message
                return
            target = next((j for j in self.jobs.values() if job in (j.arn, j.name)), None)
            if target is None:
                raise not_found(f"The specified evaluation job {job} couldn't be found.")
            if target.status not in (IN_PROGRESS, STOPPING):
                raise invalid(f"The evaluation job {target.name} is already {target.status}.")
            self._fail(target, now, message)

    def describe_all(self) -> list[Output]:
        return [{**j.describe(), "outputUris": list(j.output_uris)} for j in self.jobs.values()]

    def reset(self) -> None:
        self.jobs = {}
        self.next_failure = None

    def operations(self) -> dict[str, Callable[[Params], Output]]:
        return {
            "CreateEvaluationJob": self.create_evaluation_job,
            "GetEvaluationJob": self.get_evaluation_job,
            "ListEvaluationJobs": self.list_evaluation_jobs,
            "StopEvaluationJob": self.stop_evaluation_job,
        }


def evaluation_checks(store: Store, job: EvaluationJob) -> list[Check]:
    """What an evaluation job's role needs when the judge runs: bedrock:InvokeModel on the evaluator model (user
    guide, "Required service role permissions for creating a model evaluation job that uses a judge model"), by its
    id, foundation-model ARN or cross-region profile. Not emulated: the key-policy statement for bedrock.amazonaws.com
    of "Required Key policy elements to encrypt your model evaluation job using AWS KMS", whose condition is
    kms:EncryptionContext:evaluationJobArn, a context key iam-simulate 0.1.173 drops (README)."""
    evaluator = job.evaluator
    geography, _, rest = evaluator.partition(".")
    if evaluator.startswith("arn:"):
        return [Check("bedrock:InvokeModel", evaluator)]
    if rest and geography in PROFILE_PREFIXES:
        profile = store.arn(f"inference-profile/{evaluator}")
        return [
            Check("bedrock:InvokeModel", profile),
            Check("bedrock:InvokeModel", store.foundation_model_arn(rest), {"bedrock:InferenceProfileArn": profile}),
        ]
    return [Check("bedrock:InvokeModel", store.foundation_model_arn(evaluator))]
