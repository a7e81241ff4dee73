"""The wire protocol as botocore and the AWS CLI see it, the command line, and the settings."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import botocore.session
import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from offline.bedrock_emulator import BedrockEmulator, EmulatorServer, EmulatorSettings
from offline.bedrock_emulator.admin_client import EmulatorAdmin
from offline.bedrock_emulator.errors import ServiceError
from offline.bedrock_emulator.protocol import error_status, linear_pattern, match, operations, validate

ROOT = Path(__file__).resolve().parents[3]


def _get(server: EmulatorServer, path: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())
    finally:
        connection.close()


def test_every_operation_asked_for_is_implemented_under_botocores_names(emulator: BedrockEmulator) -> None:
    expected = {
        "CreateModelCustomizationJob", "GetModelCustomizationJob", "ListModelCustomizationJobs",
        "StopModelCustomizationJob", "GetCustomModel", "ListCustomModels", "DeleteCustomModel",
        "CreateProvisionedModelThroughput", "GetProvisionedModelThroughput", "ListProvisionedModelThroughputs",
        "DeleteProvisionedModelThroughput", "CreateCustomModelDeployment", "GetCustomModelDeployment",
        "DeleteCustomModelDeployment", "ListCustomModelDeployments", "TagResource", "UntagResource",
        "ListTagsForResource", "InvokeModel", "Converse", "GetFoundationModel", "ListFoundationModels",
        "CreateEvaluationJob", "GetEvaluationJob", "ListEvaluationJobs", "StopEvaluationJob",
    }  # fmt: skip
    assert set(emulator.operations) == expected
    session = botocore.session.get_session()
    known = {*session.get_service_model("bedrock").operation_names}
    known |= {*session.get_service_model("bedrock-runtime").operation_names}
    assert expected <= known


def test_errors_carry_the_code_header_and_a_json_message(server: EmulatorServer) -> None:
    status, headers, body = _get(server, "/model-customization-jobs/no-such-job")
    assert status == 404
    assert headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert headers["Content-Type"] == "application/json"
    assert body == {"message": "The specified model customization job no-such-job couldn't be found."}


def test_arns_are_decoded_from_the_raw_uri_one_label_at_a_time(server: EmulatorServer, bedrock: Any) -> None:
    arn = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="base-pt", modelId="amazon.titan-text-express-v1"
    )["provisionedModelArn"]

    status, _, body = _get(server, "/provisioned-model-throughput/" + quote(arn, safe=""))
    assert (status, body["provisionedModelName"]) == (200, "base-pt")
    # Unencoded, the ARN's "/" splits the path: no operation has that shape
    status, headers, _ = _get(server, "/provisioned-model-throughput/" + arn)
    assert (status, headers["x-amzn-ErrorType"]) == (404, "UnknownOperationException")


def test_an_operation_the_emulator_does_not_implement_says_so(bedrock: Any) -> None:
    with pytest.raises(ClientError) as missing:
        bedrock.batch_delete_evaluation_job(
            jobIdentifiers=["arn:aws:bedrock:us-east-1:123456789012:evaluation-job/abcdefghijkl"]
        )
    assert missing.value.response["Error"]["Code"] == "NotImplementedException"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


def test_routes_statuses_and_constraints_come_from_botocores_models() -> None:
    op, labels = match(
        "POST", "/model/" + quote("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/a", safe="") + "/invoke"
    ) or (None, {})
    assert op is not None and (op.service, op.name) == ("bedrock-runtime", "InvokeModel")
    assert labels == {"modelId": "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/a"}
    assert error_status("ConflictException") == 400  # the service model's status, not the usual 409
    assert error_status("ModelNotReadyException") == 429

    create = next(o for o in operations() if o.name == "CreateProvisionedModelThroughput")
    with pytest.raises(ServiceError) as invalid:
        validate(
            create, {"modelUnits": 0, "provisionedModelName": "x" * 64, "modelId": "m", "commitmentDuration": "OneYear"}
        )
    message = invalid.value.message
    assert message.startswith("3 validation errors detected: ")
    assert "at 'modelUnits' failed to satisfy constraint: Member must have value greater than or equal to 1" in message
    assert "Member must have length less than or equal to 63" in message
    assert "Member must satisfy enum value set: [OneMonth, SixMonths]" in message


JOB_NAME = r"[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*"


@given(st.text(alphabet="aZ9-+._!/", max_size=14))
def test_a_nested_pattern_is_checked_in_an_equivalent_linear_form(name: str) -> None:
    assert bool(re.fullmatch(JOB_NAME, name)) == bool(re.fullmatch(linear_pattern(JOB_NAME), name))


def test_a_near_miss_on_a_nested_pattern_is_rejected_at_once() -> None:
    create = next(o for o in operations() if o.name == "CreateModelCustomizationJob")
    request = {
        "jobName": "a" + "-" * 61 + "!",
        "customModelName": "m",
        "roleArn": "arn:aws:iam::123456789012:role/r",
        "baseModelIdentifier": "amazon.titan-text-express-v1",
        "trainingDataConfig": {"s3Uri": "s3://bucket/train.jsonl"},
        "outputDataConfig": {"s3Uri": "s3://bucket/out/"},
    }
    started = time.perf_counter()
    with pytest.raises(ServiceError, match="at 'jobName' failed to satisfy constraint"):
        validate(create, request)
    # Backtracking on the nested form would take about 2**60 steps (centuries); the linear form takes
    # microseconds. The bound only tells the two apart: no machine is slow enough to reach it otherwise.
    assert time.perf_counter() - started < 30


def test_settings_come_from_the_environment() -> None:
    settings = EmulatorSettings.from_env(
        {"BEDROCK_EMULATOR_JOB_SECONDS": "7.5", "AWS_DEFAULT_REGION": "us-west-2", "MOTO_ACCOUNT_ID": "111122223333"}
    )
    assert (settings.durations.job_seconds, settings.region, settings.account_id) == (7.5, "us-west-2", "111122223333")
    assert EmulatorSettings.from_env({}).durations.throughput_seconds == 1.0


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_the_aws_cli_reaches_the_emulator_through_the_standard_endpoint_setting(
    server: EmulatorServer, bedrock: Any
) -> None:
    bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="cli-pt", modelId="amazon.titan-text-express-v1"
    )
    result = subprocess.run(
        ["aws", "bedrock", "list-provisioned-model-throughputs", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
        check=True,
    )
    summaries = json.loads(result.stdout)["provisionedModelSummaries"]
    assert [s["provisionedModelName"] for s in summaries] == ["cli-pt"]


def test_the_command_line_serves_until_terminated(offline_env: str) -> None:
    # As from the repository root, with nothing on PYTHONPATH: the package finds lambdas/ itself
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.Popen(
        [sys.executable, "-m", "offline.bedrock_emulator", "--port", "0", "--job-seconds", "5"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("Bedrock emulator listening on http://127.0.0.1:")
        state = EmulatorAdmin(line.rsplit(" ", 1)[-1].strip()).state()
        assert state["durations"]["job_seconds"] == 5.0
        assert state["jobs"] == []
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0
