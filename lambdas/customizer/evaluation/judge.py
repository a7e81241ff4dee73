"""The judge (``settings.evaluation.judge``): Bedrock evaluation jobs with a model as judge grade the answers
both models already gave, and each judge metric joins the paired comparison and may decide the promotion.

Three steps of the state machine (``stacks/workflow.py``), after the string metrics are concluded:

- ``start``: read every example back (``examples.jsonl``), write each model's answers as precomputed-response
  datasets (the user guide's "Prepare a dataset for an evaluation job using your own inference response data":
  ``prompt``, ``referenceResponse``, ``modelResponses`` with one response whose ``modelIdentifier`` is the job's
  ``inferenceSourceIdentifier``), ``MAX_PROMPTS`` examples per dataset (the user guide: "up to 1000 prompts
  in your dataset per evaluation job"), and create one evaluation job per model and chunk (an automated job
  evaluates one model: ``EvaluationModelConfigs`` holds the one precomputed source). Names and client tokens
  come from the run and the execution, so a retried step finds its jobs (CreateEvaluationJob is idempotent by
  token);
- ``check``: GetEvaluationJob for each job still running; one Failed or Stopped makes the judge Failed (the
  others are stopped); past ``judge.timeout_minutes`` every job is stopped and the judge is Failed;
- ``conclude``: read each job's output JSONL (``.../models/<label>/taskTypes/<type>/datasets/<name>/
  <uuid>_output.jsonl``: ``automatedEvaluationResult.scores[]`` with ``metricName``, ``result`` and
  ``evaluatorDetails[].explanation``), match each line to its example by its prompt, reference and response (the
  service does not promise an order), add ``judge.<metric>`` to each example's scores, compare the models with
  the same paired bootstrap as the string metrics, decide again with the promotion rule, and rewrite the
  reports. A failed call (no answer) is not sent to the judge and scores 0, as it does on the string metrics;
  an example the judge left without a score on a metric (no line, or ``result`` null) is left out of that
  metric's comparison, and ``JudgeSummary.scored`` says on how many examples each metric rests.

A failed judge fails the run (``JudgeFailedError``) only when the promotion rule names a judge metric; otherwise
the string metrics decide as before, the report says the judge failed and why, and so does the notification."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from customizer import aws
from customizer.errors import EvaluationError, JudgeFailedError
from customizer.evaluation.bootstrap import paired_bootstrap
from customizer.evaluation.decision import decide
from customizer.evaluation.metrics import mean
from customizer.evaluation.runner import BASE, CUSTOM, MODELS
from customizer.evaluation.steps import _training, evaluation_uri, publish, teacher_on
from customizer.jobs import pipeline_tags
from customizer.models import (
    Evaluation,
    Job,
    JudgeJob,
    JudgeState,
    JudgeSummary,
    MetricComparison,
    Run,
    Throughput,
)
from customizer.settings import JudgeSettings

MAX_PROMPTS = 1000
# The task type of the user guide's model-as-a-judge examples (botocore's enum lists Generation and others).
TASK_TYPE = "General"
DATASET_NAME = "answers"
RUNNING = ("InProgress", "Stopping")


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def job_prefix(run: Run) -> str:
    """What every evaluation job of this run and execution is named with."""
    return f"judge-{_digest(run.run_id, run.execution_name)[:24]}"


def job_name(run: Run, model: str, chunk: int) -> str:
    """Unique per execution, model and chunk; the pattern ``[a-z0-9](-*[a-z0-9]){0,62}``."""
    return f"{job_prefix(run)}-{model}-{chunk:03d}"


def _rows(run: Run) -> list[dict[str, Any]]:
    bucket, key = aws.split_s3_uri(evaluation_uri(run, "examples.jsonl"), "the evaluation's examples")
    with aws.translate_errors("reading the evaluation's examples"):
        body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def _prompt(row: Mapping[str, Any]) -> str:
    system = row.get("system")
    return f"{system}\n\n{row['prompt']}" if system else str(row["prompt"])


def _judged(row: Mapping[str, Any], model: str) -> bool:
    """A failed call has no answer to grade."""
    return row[model].get("text") is not None and row[model].get("error") is None


def dataset_lines(rows: Sequence[Mapping[str, Any]], model: str) -> list[dict[str, Any]]:
    return [
        {
            "prompt": _prompt(row),
            "referenceResponse": str(row["expected"]),
            "modelResponses": [{"response": str(row[model]["text"]), "modelIdentifier": model}],
        }
        for row in rows
        if _judged(row, model)
    ]


def _custom_metric(metric: Any) -> dict[str, Any]:
    return {
        "customMetricDefinition": {
            "name": metric.name,
            "instructions": metric.instructions,
            "ratingScale": [
                {"definition": level.definition, "value": {"floatValue": level.value}} for level in metric.rating_scale
            ],
        }
    }


def job_request(
    run: Run, judge: JudgeSettings, *, name: str, model: str, dataset_uri: str, output_uri: str
) -> dict[str, Any]:
    """The CreateEvaluationJob request of one model's answers (botocore's CreateEvaluationJobRequest), but for
    ``roleArn``, ``clientRequestToken``, ``customerEncryptionKeyId`` and ``jobTags``, which ``start`` adds."""
    evaluator = {"bedrockEvaluatorModels": [{"modelIdentifier": judge.model_id}]}
    automated: dict[str, Any] = {
        "datasetMetricConfigs": [
            {
                "taskType": TASK_TYPE,
                "dataset": {"name": DATASET_NAME, "datasetLocation": {"s3Uri": dataset_uri}},
                "metricNames": list(judge.service_names.values()),
            }
        ],
        "evaluatorModelConfig": evaluator,
    }
    if judge.custom_metrics:
        automated["customMetricConfig"] = {
            "customMetrics": [_custom_metric(m) for m in judge.custom_metrics],
            "evaluatorModelConfig": evaluator,
        }
    return {
        "jobName": name,
        "jobDescription": f"Judge of run {run.run_id}: the {model} model's answers",
        "applicationType": "ModelEvaluation",
        "evaluationConfig": {"automated": automated},
        "inferenceConfig": {"models": [{"precomputedInferenceSource": {"inferenceSourceIdentifier": model}}]},
        "outputDataConfig": {"s3Uri": output_uri},
    }


def _put_jsonl(uri: str, lines: Sequence[Mapping[str, Any]]) -> None:
    bucket, key = aws.split_s3_uri(uri, "a judge dataset")
    body = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
    with aws.translate_errors("writing a judge dataset"):
        aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson")


def start(run: Run, *, role_arn: str, kms_key_arn: str, pipeline_tag: str) -> JudgeState:
    """Write the datasets and create the evaluation jobs."""
    judge = run.settings.evaluation.judge
    rows = _rows(run)
    jobs: list[JudgeJob] = []
    bedrock = aws.client("bedrock")
    for model in MODELS:
        lines = dataset_lines(rows, model)
        for chunk, first in enumerate(range(0, len(lines), MAX_PROMPTS)):
            name = job_name(run, model, chunk)
            dataset_uri = evaluation_uri(run, f"judge/datasets/{model}-{chunk:03d}.jsonl")
            output_uri = evaluation_uri(run, "judge/output/")
            _put_jsonl(dataset_uri, lines[first : first + MAX_PROMPTS])
            request = job_request(run, judge, name=name, model=model, dataset_uri=dataset_uri, output_uri=output_uri)
            with aws.translate_errors("CreateEvaluationJob"):
                arn = bedrock.create_evaluation_job(
                    **request,
                    roleArn=role_arn,
                    clientRequestToken=_digest(name, run.names.client_token)[:64],
                    customerEncryptionKeyId=kms_key_arn,
                    jobTags=pipeline_tags(run, pipeline_tag),
                )["jobArn"]
            jobs.append(
                JudgeJob(model=model, chunk=chunk, first=first, job_arn=arn, job_name=name, output_uri=output_uri)
            )
    if not jobs:
        raise EvaluationError("the judge has nothing to grade: every call of both models failed")
    return JudgeState(status="InProgress", jobs=jobs, started_at=_now().isoformat())


def stop_job(arn: str) -> str:
    """Stop an evaluation job that still runs; say what happened (for cleanup and aftercare too)."""
    bedrock = aws.client("bedrock")
    with aws.translate_errors("GetEvaluationJob"):
        status = bedrock.get_evaluation_job(jobIdentifier=arn)["status"]
    if status != "InProgress":
        return f"evaluation job {arn.rsplit('/', 1)[-1]} already {status}"
    with aws.translate_errors("StopEvaluationJob"):
        bedrock.stop_evaluation_job(jobIdentifier=arn)
    return f"stopped evaluation job {arn.rsplit('/', 1)[-1]}"


def stop_running_jobs(run: Run) -> list[str]:
    """Stop every evaluation job of this run and execution that still runs (its names share a prefix)."""
    stem = job_prefix(run)  # nameContains has the job names' pattern: no trailing "-"
    prefix = stem + "-"
    bedrock = aws.client("bedrock")
    stopped: list[str] = []
    token: str | None = None
    while True:
        with aws.translate_errors("ListEvaluationJobs"):
            page = bedrock.list_evaluation_jobs(
                nameContains=stem, statusEquals="InProgress", **({"nextToken": token} if token else {})
            )
        for summary in page.get("jobSummaries", []):
            if summary["jobName"].startswith(prefix):
                stopped.append(stop_job(summary["jobArn"]))
        token = page.get("nextToken")
        if not token:
            return stopped


def check(run: Run, state: JudgeState) -> JudgeState:
    """Where the jobs are; Failed when one failed or was stopped, or the judge ran out of time."""
    bedrock = aws.client("bedrock")
    jobs: list[JudgeJob] = []
    for seen in state.jobs:
        if seen.status not in RUNNING:
            jobs.append(seen)
            continue
        with aws.translate_errors("GetEvaluationJob"):
            found = bedrock.get_evaluation_job(jobIdentifier=seen.job_arn)
        failure = "; ".join(found.get("failureMessages") or []) or None
        jobs.append(seen.model_copy(update={"status": found["status"], "failure": failure}))
    failed = [j for j in jobs if j.status in ("Failed", "Stopped")]
    timeout = run.settings.evaluation.judge.timeout_minutes
    elapsed = (_now() - datetime.fromisoformat(state.started_at)).total_seconds() / 60
    if failed or (elapsed > timeout and any(j.status in RUNNING for j in jobs)):
        for job in jobs:
            if job.status == "InProgress":
                stop_job(job.job_arn)
        if failed:
            first = failed[0]
            message = f"evaluation job {first.job_name} ({first.model} answers) ended {first.status}" + (
                f": {first.failure}" if first.failure else ""
            )
        else:
            message = f"the evaluation jobs did not finish within judge.timeout_minutes ({timeout:g}); stopped"
        return state.model_copy(update={"status": "Failed", "jobs": jobs, "message": message})
    status = "Completed" if all(j.status == "Completed" for j in jobs) else "InProgress"
    return state.model_copy(update={"status": status, "jobs": jobs})


def _output_lines(job: JudgeJob) -> Iterator[dict[str, Any]]:
    """Every line of the job's output files: under ``<output>/<job name>/``, ``*_output.jsonl``."""
    bucket, prefix = aws.split_s3_uri(job.output_uri.rstrip("/") + f"/{job.job_name}/", "the judge's output")
    s3 = aws.client("s3")
    keys: list[str] = []
    with aws.translate_errors("listing the judge's output"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith("_output.jsonl")]
    if not keys:
        raise EvaluationError(
            f"evaluation job {job.job_name} completed but wrote no output under s3://{bucket}/{prefix}"
        )
    for key in sorted(keys):
        with aws.translate_errors("reading the judge's output"):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        for line in body.splitlines():
            if line.strip():
                yield json.loads(line)


def _identity(prompt: str, reference: str, response: str) -> str:
    return _digest(prompt, reference, response)


def read_scores(
    rows: Sequence[Mapping[str, Any]], jobs: Sequence[JudgeJob], judge: JudgeSettings
) -> dict[str, dict[int, dict[str, tuple[float, str]]]]:
    """Per model, per example index, per judge metric key: (score, explanation)."""
    by_name = {name: key for key, name in judge.service_names.items()}
    found: dict[str, dict[int, dict[str, tuple[float, str]]]] = {model: {} for model in MODELS}
    for model in MODELS:
        pending: dict[str, list[int]] = {}
        for row in rows:
            if _judged(row, model):
                identity = _identity(_prompt(row), str(row["expected"]), str(row[model]["text"]))
                pending.setdefault(identity, []).append(int(row["index"]))
        for job in (j for j in jobs if j.model == model):
            for line in _output_lines(job):
                record = line.get("inputRecord") or {}
                responses = line.get("modelResponses") or [{}]
                identity = _identity(
                    str(record.get("prompt", "")),
                    str(record.get("referenceResponse", "")),
                    str(responses[0].get("response", "")),
                )
                indexes = pending.get(identity)
                if not indexes:
                    continue  # not one of ours, or already matched
                index = indexes.pop(0)
                scores: dict[str, tuple[float, str]] = {}
                for score in (line.get("automatedEvaluationResult") or {}).get("scores", []):
                    key = by_name.get(str(score.get("metricName")))
                    if key is None or score.get("result") is None:
                        continue
                    details = score.get("evaluatorDetails") or [{}]
                    scores[key] = (float(score["result"]), str(details[0].get("explanation", "")))
                found[model][index] = scores
    return found


def _with_judge(
    rows: Sequence[Mapping[str, Any]],
    found: Mapping[str, Mapping[int, Mapping[str, tuple[float, str]]]],
    keys: list[str],
) -> list[dict[str, Any]]:
    """The rows with each judge score in ``scores`` and its explanation in ``judge``; a failed call scores 0."""
    out = []
    for row in rows:
        new = {**row}
        for model in MODELS:
            side = {**row[model], "scores": dict(row[model]["scores"]), "judge": {}}
            index = int(row["index"])
            for key in keys:
                if not _judged(row, model):
                    side["scores"][key] = 0.0
                elif key in found[model].get(index, {}):
                    score, why = found[model][index][key]
                    side["scores"][key] = score
                    side["judge"][key] = why
            new[model] = side
        out.append(new)
    return out


def _failed(run: Run, evaluation: Evaluation, state: JudgeState) -> Evaluation:
    settings = run.settings.evaluation
    message = state.message or "the judge failed"
    if settings.metric in settings.judge.metric_keys:
        raise JudgeFailedError(
            f"the judge failed and the promotion rule's metric is {settings.metric}, so the run cannot decide: "
            f"{message}"
        )
    summary = JudgeSummary(
        status="Failed",
        model_id=settings.judge.model_id,
        metrics=settings.judge.metric_keys,
        jobs=[j.job_arn for j in state.jobs],
        message=f"{message}; the string metrics decided ({settings.metric})",
    )
    return evaluation.model_copy(update={"judge": summary})


def conclude(
    run: Run, throughput: Throughput, job: Job | None, evaluation: Evaluation, state: JudgeState
) -> Evaluation:
    """The judge's metrics in the comparison, the decision taken again, the reports written again."""
    settings = run.settings.evaluation
    judge = settings.judge
    rows = _rows(run)
    _, loss_curves = _training(run, job)
    if state.status != "Completed":
        concluded = _failed(run, evaluation, state)
        publish(run, throughput, concluded, rows, loss_curves)
        return concluded
    keys = judge.metric_keys
    found = read_scores(rows, state.jobs, judge)
    judged_rows = _with_judge(rows, found, keys)
    comparison = [c for c in evaluation.comparison if c.metric not in keys]
    scored: dict[str, int] = {}
    for key in keys:
        pairs = [
            (r[CUSTOM]["scores"][key], r[BASE]["scores"][key])
            for r in judged_rows
            if key in r[CUSTOM]["scores"] and key in r[BASE]["scores"]
        ]
        scored[key] = len(pairs)
        if not pairs:
            continue
        custom, base = [p[0] for p in pairs], [p[1] for p in pairs]
        interval = paired_bootstrap({key: custom}, {key: base}, resamples=settings.bootstrap_resamples)[key]
        comparison.append(
            MetricComparison(
                metric=key,
                custom=mean(custom),
                base=mean(base),
                difference=interval.difference,
                ci_low=interval.low,
                ci_high=interval.high,
            )
        )
    chosen = next((c for c in comparison if c.metric == settings.metric), None)
    if chosen is None:
        raise JudgeFailedError(f"the judge gave no score on {settings.metric} to any example both models answered")
    examples = scored.get(settings.metric, evaluation.custom.examples)
    teacher = evaluation.teacher
    decision = decide(
        chosen,
        settings,
        examples,
        teacher=teacher_on(evaluation.teacher_comparison, settings.metric),
        teacher_answered=teacher is not None and teacher.errors < teacher.examples,
    )
    summary = JudgeSummary(
        status="Completed",
        model_id=judge.model_id,
        metrics=keys,
        jobs=[j.job_arn for j in state.jobs],
        scored=scored,
    )
    concluded = evaluation.model_copy(
        update={"comparison": comparison, "decision": decision, "custom_beats_base": decision.promote, "judge": summary}
    )
    publish(run, throughput, concluded, judged_rows, loss_curves)
    return concluded
