"""Model evaluation jobs (model as a judge, precomputed responses) on the emulator, through unmodified boto3
clients: the shapes botocore's service model gives, the output layout the user guide documents, the
deterministic judge, and the faults."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from offline.bedrock_emulator import BedrockEmulator
from offline.bedrock_emulator.evaluation import judge_builtin, judge_custom
from tests.unit.offline.conftest import ACCOUNT, BUCKET, ROLE_ARN

JUDGE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
RUBRIC = {
    "name": "on-topic",
    "instructions": "Does the response answer the prompt? Prompt: {{prompt}} Response: {{prediction}}",
    "ratingScale": [
        {"definition": "no", "value": {"floatValue": 0}},
        {"definition": "partly", "value": {"floatValue": 1}},
        {"definition": "yes", "value": {"floatValue": 2}},
    ],
}


def _pattern(shape: str) -> re.Pattern[str]:
    model = botocore.session.get_session().get_service_model("bedrock")
    return re.compile(model.shape_for(shape).metadata["pattern"])


def _records(label: str, answers: Sequence[tuple[str, str, str]]) -> list[dict[str, Any]]:
    return [
        {"prompt": p, "referenceResponse": r, "modelResponses": [{"response": a, "modelIdentifier": label}]}
        for p, r, a in answers
    ]


ANSWERS = [
    ("Capital of France?", "Paris", "Paris"),
    ("Capital of Italy?", "Rome", "It is Milan"),
    ("Reset a password?", "Open Settings then Security", "Open Settings"),
]


@pytest.fixture
def evaluation_request(put_data: Callable[[str, Sequence[object] | bytes], str]) -> Callable[..., dict[str, Any]]:
    def build(
        name: str = "judge-1", *, label: str = "custom", records: Sequence[object] | None = None
    ) -> dict[str, Any]:
        uri = put_data(f"{name}/dataset.jsonl", records if records is not None else _records(label, ANSWERS))
        return {
            "jobName": name,
            "roleArn": ROLE_ARN,
            "applicationType": "ModelEvaluation",
            "evaluationConfig": {
                "automated": {
                    "datasetMetricConfigs": [
                        {
                            "taskType": "General",
                            "dataset": {"name": "answers", "datasetLocation": {"s3Uri": uri}},
                            "metricNames": ["Builtin.Correctness", "Builtin.Completeness", "on-topic"],
                        }
                    ],
                    "evaluatorModelConfig": {"bedrockEvaluatorModels": [{"modelIdentifier": JUDGE}]},
                    "customMetricConfig": {
                        "customMetrics": [{"customMetricDefinition": RUBRIC}],
                        "evaluatorModelConfig": {"bedrockEvaluatorModels": [{"modelIdentifier": JUDGE}]},
                    },
                }
            },
            "inferenceConfig": {"models": [{"precomputedInferenceSource": {"inferenceSourceIdentifier": label}}]},
            "outputDataConfig": {"s3Uri": f"s3://{BUCKET}/{name}/output/"},
        }

    return build


def _outputs(s3: Any, prefix: str) -> list[str]:
    found = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return [o["Key"] for o in found if o["Key"].endswith("_output.jsonl")]


def test_a_judge_job_runs_to_completed_and_writes_scores_where_the_user_guide_says(
    bedrock: Any, emulator: BedrockEmulator, s3: Any, evaluation_request: Callable[..., dict[str, Any]]
) -> None:
    response = bedrock.create_evaluation_job(**evaluation_request(), clientRequestToken="token-1")
    arn = response["jobArn"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202  # the service model's responseCode
    assert _pattern("EvaluationJobArn").fullmatch(arn)
    assert arn.startswith(f"arn:aws:bedrock:us-east-1:{ACCOUNT}:evaluation-job/")

    job = bedrock.get_evaluation_job(jobIdentifier=arn)
    assert (job["status"], job["jobType"], job["jobName"]) == ("InProgress", "Automated", "judge-1")
    assert not _outputs(s3, "judge-1/output/")

    emulator.advance(emulator.store.durations.evaluation_seconds)
    job = bedrock.get_evaluation_job(jobIdentifier=arn)
    assert job["status"] == "Completed"
    assert job["inferenceConfig"]["models"][0]["precomputedInferenceSource"]["inferenceSourceIdentifier"] == "custom"

    # <output>/<job name>/<job id>/models/<label>/taskTypes/<task type>/datasets/<dataset>/<uuid>_output.jsonl
    (key,) = _outputs(s3, "judge-1/output/")
    job_id = arn.rsplit("/", 1)[-1]
    assert re.fullmatch(
        rf"judge-1/output/judge-1/{job_id}/models/custom/taskTypes/General/datasets/answers/[0-9a-f-]{{36}}_output\.jsonl",
        key,
    )
    lines = [json.loads(line) for line in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().splitlines()]
    assert [line["inputRecord"]["prompt"] for line in lines] == [p for p, _, _ in ANSWERS]
    assert lines[0]["modelResponses"] == [{"response": "Paris", "modelIdentifier": "custom"}]
    scores = [{s["metricName"]: s["result"] for s in line["automatedEvaluationResult"]["scores"]} for line in lines]
    # Correctness: token F1 on a 5-point scale: 1; "it is milan" vs "rome": 0; "open settings" vs
    # "open settings then security": P 1, R 1/2, F1 2/3 -> 0.75. Completeness: recall 1, 0, 1/2.
    assert [s["Builtin.Correctness"] for s in scores] == [1.0, 0.0, 0.75]
    assert [s["Builtin.Completeness"] for s in scores] == [1.0, 0.0, 0.5]
    # on-topic (0, 1, 2): F1 1 -> yes (1.0), 0 -> no (0.0), 2/3 -> target 1.33, nearest 1 -> partly (0.5)
    assert [s["on-topic"] for s in scores] == [1.0, 0.0, 0.5]
    details = lines[2]["automatedEvaluationResult"]["scores"][0]["evaluatorDetails"]
    assert details == [
        {
            "modelIdentifier": JUDGE,
            "explanation": "Emulated judge: token F1 with the reference answer 0.667, on a 5-point scale.",
        }
    ]


def test_create_is_idempotent_by_token_and_names_are_unique(
    bedrock: Any, evaluation_request: Callable[..., dict[str, Any]]
) -> None:
    request = evaluation_request()
    first = bedrock.create_evaluation_job(**request, clientRequestToken="t-1")["jobArn"]
    assert bedrock.create_evaluation_job(**request, clientRequestToken="t-1")["jobArn"] == first
    with pytest.raises(ClientError) as exc:
        bedrock.create_evaluation_job(**request, clientRequestToken="t-2")
    assert exc.value.response["Error"]["Code"] == "ConflictException"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["inferenceConfig"]["models"].append(r["inferenceConfig"]["models"][0]), "exactly one model"),
        (
            lambda r: r["evaluationConfig"]["automated"]["datasetMetricConfigs"][0]["metricNames"].append(
                "Builtin.Wit"
            ),
            "Builtin.Wit is neither",
        ),
    ],
)
def test_requests_the_service_refuses(
    bedrock: Any,
    evaluation_request: Callable[..., dict[str, Any]],
    change: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    request = evaluation_request()
    change(request)
    with pytest.raises(ClientError) as exc:
        bedrock.create_evaluation_job(**request)
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert message in exc.value.response["Error"]["Message"]


def test_the_service_models_constraints_are_enforced(
    bedrock: Any, evaluation_request: Callable[..., dict[str, Any]]
) -> None:
    with pytest.raises(ClientError) as exc:
        bedrock.create_evaluation_job(**{**evaluation_request(), "jobName": "Not_Valid"})
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "jobName" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        bedrock.get_evaluation_job(jobIdentifier="judge-1")  # an ARN is required
    assert exc.value.response["Error"]["Code"] == "ValidationException"


def test_a_dataset_whose_responses_name_another_label_or_has_too_many_prompts_is_refused(
    bedrock: Any, evaluation_request: Callable[..., dict[str, Any]]
) -> None:
    with pytest.raises(ClientError) as exc:
        bedrock.create_evaluation_job(**evaluation_request(records=_records("base", ANSWERS)))
    assert "whose modelIdentifier is custom" in exc.value.response["Error"]["Message"]
    many = _records("custom", [("q", "a", "a")] * 1001)
    with pytest.raises(ClientError) as exc:
        bedrock.create_evaluation_job(**evaluation_request("judge-2", records=many))
    assert "1001 prompts; an evaluation job takes up to 1000" in exc.value.response["Error"]["Message"]


def test_stop_list_and_an_injected_failure(
    bedrock: Any, emulator: BedrockEmulator, s3: Any, evaluation_request: Callable[..., dict[str, Any]]
) -> None:
    stopped = bedrock.create_evaluation_job(**evaluation_request("judge-1"))["jobArn"]
    assert bedrock.stop_evaluation_job(jobIdentifier=stopped)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert bedrock.get_evaluation_job(jobIdentifier=stopped)["status"] == "Stopping"
    emulator.fail_evaluation_job(message="The judge could not be invoked.")
    failing = bedrock.create_evaluation_job(**evaluation_request("judge-2"))["jobArn"]
    emulator.advance(max(emulator.store.durations.stop_seconds, emulator.store.durations.evaluation_seconds))
    assert bedrock.get_evaluation_job(jobIdentifier=stopped)["status"] == "Stopped"
    failed = bedrock.get_evaluation_job(jobIdentifier=failing)
    assert (failed["status"], failed["failureMessages"]) == ("Failed", ["The judge could not be invoked."])
    assert not _outputs(s3, "judge-1/") and not _outputs(s3, "judge-2/")
    with pytest.raises(ClientError) as exc:
        bedrock.stop_evaluation_job(jobIdentifier=failing)
    assert exc.value.response["Error"]["Code"] == "ValidationException"

    listed = bedrock.list_evaluation_jobs(sortOrder="Ascending")["jobSummaries"]
    assert [(j["jobName"], j["status"]) for j in listed] == [("judge-1", "Stopped"), ("judge-2", "Failed")]
    assert listed[0]["evaluatorModelIdentifiers"] == [JUDGE]
    assert listed[0]["inferenceConfigSummary"]["modelConfigSummary"]["precomputedInferenceSourceIdentifiers"] == [
        "custom"
    ]
    assert [j["jobName"] for j in bedrock.list_evaluation_jobs(statusEquals="Failed")["jobSummaries"]] == ["judge-2"]
    page = bedrock.list_evaluation_jobs(maxResults=1, sortOrder="Ascending")
    assert [j["jobName"] for j in page["jobSummaries"]] == ["judge-1"]
    following = bedrock.list_evaluation_jobs(maxResults=1, sortOrder="Ascending", nextToken=page["nextToken"])
    assert [j["jobName"] for j in following["jobSummaries"]] == ["judge-2"]


def test_throttling_reaches_the_evaluation_operations(
    bedrock: Any, emulator: BedrockEmulator, evaluation_request: Callable[..., dict[str, Any]]
) -> None:
    emulator.throttle(operation="CreateEvaluationJob")
    with pytest.raises(ClientError) as exc:
        bedrock.create_evaluation_job(**evaluation_request())
    assert exc.value.response["Error"]["Code"] == "ThrottlingException"
    assert bedrock.create_evaluation_job(**evaluation_request())["jobArn"]
    assert [j["jobName"] for j in emulator.state()["evaluation_jobs"]] == ["judge-1"]


def test_the_judge_in_isolation() -> None:
    assert judge_builtin("Builtin.Refusal", "q", "a", "") == (1.0, "the response is empty")
    assert judge_builtin("Builtin.Harmfulness", "q", "a", "anything")[0] == 0.0
    # relevance: "paris is nice" normalized: [paris, is, nice]; in prompt or reference: paris -> 1/3 -> 0.25
    assert judge_builtin("Builtin.Relevance", "Capital of France?", "Paris", "Paris is nice")[0] == 0.25
    # a string-valued scale rates by place: three ratings 0, 1, 2
    scale = {"ratingScale": [{"definition": d, "value": {"stringValue": d}} for d in ("bad", "ok", "good")]}
    assert judge_custom(scale, "Paris", "Paris")[0] == 1.0
    assert judge_custom(scale, "Paris", "Lyon")[0] == 0.0
