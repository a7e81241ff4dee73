"""The handlers' environment (docs/design.md) on moto, and a loader that (re)imports a handler module
under it: handlers read their environment and build their idempotency clients at import time."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from customizer import aws

IDEMPOTENCY_TABLE = "unit-idempotency"
RUN_DEFAULTS = {"throughput_policy": "keep", "hyperparameters": {"epochCount": 2}}
ROLE_ARN = "arn:aws:iam::123456789012:role/customization"
KMS_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"


EVALUATION_ROLE_ARN = "arn:aws:iam::123456789012:role/bedrock-evaluation"


@pytest.fixture
def handler_env(moto_aws, s3, data_bucket, artifacts_bucket, monkeypatch) -> dict[str, str]:
    """Every variable any handler reads, with the resources they name created in moto."""
    aws.client("dynamodb").create_table(
        TableName=IDEMPOTENCY_TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    topic_arn = aws.client("sns").create_topic(Name="outcomes")["TopicArn"]
    machine_arn = aws.client("stepfunctions").create_state_machine(
        name="customization",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    env = {
        "POWERTOOLS_SERVICE_NAME": "bedrock-customization",
        "POWERTOOLS_METRICS_NAMESPACE": "BedrockCustomization",
        "POWERTOOLS_TRACE_DISABLED": "true",
        # Metrics are printed (EMF) for the tests that read them, even when a quiet offline runtime of the same
        # worker (the e2e suite's, alive for the session) has turned them off in the process environment.
        "POWERTOOLS_METRICS_DISABLED": "false",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "DATA_BUCKET": data_bucket,
        "ARTIFACTS_BUCKET": artifacts_bucket,
        "RUN_DEFAULTS": json.dumps(RUN_DEFAULTS),
        "SWEEPER": json.dumps({"max_throughput_hours": 12, "schedule_minutes": 30}),
        "CUSTOMIZATION_ROLE_ARN": ROLE_ARN,
        "EVALUATION_ROLE_ARN": EVALUATION_ROLE_ARN,
        "KMS_KEY_ARN": KMS_KEY_ARN,
        "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
        "RUN_LEASES_TABLE": IDEMPOTENCY_TABLE,
        "PIPELINE_TAG": "bedrock-customization",
        "TOPIC_ARN": topic_arn,
        "STATE_MACHINE_ARN": machine_arn,
        "RUN_PREFIX": "runs/",
    }
    monkeypatch.delenv("POWERTOOLS_IDEMPOTENCY_DISABLED", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def load_handler(handler_env) -> Iterator[Callable[[str], Any]]:
    """``handlers.<name>`` imported afresh under this test's environment (and its moto).

    Fresh module objects, never ``importlib.reload`` in place, and the previous ones put back afterwards:
    another suite in the same process (the offline runtime imports handlers under its own environment)
    keeps the modules it already holds, and a later import there runs under its environment, not ours."""
    package = importlib.import_module("handlers")
    saved = {name: module for name, module in sys.modules.items() if name.startswith("handlers.")}
    for name in saved:
        del sys.modules[name]

    def load(name: str) -> ModuleType:
        module = importlib.import_module(f"handlers.{name}")
        # Powertools keeps metrics in class-level storage shared by every Metrics object of the process: what
        # handlers run by an offline runtime with metrics disabled added (never flushed) is dropped here.
        if hasattr(module, "metrics"):
            module.metrics.clear_metrics()
        return module

    yield load

    for name in [n for n in sys.modules if n.startswith("handlers.")]:
        del sys.modules[name]
        if hasattr(package, name.split(".", 1)[1]):
            delattr(package, name.split(".", 1)[1])
    sys.modules.update(saved)
    for name, module in saved.items():
        setattr(package, name.split(".", 1)[1], module)
