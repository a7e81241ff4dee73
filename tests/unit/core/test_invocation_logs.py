"""Invocation logs as training data (customizer.invocation_logs): the request-metadata filters as botocore
shapes them, the documented record layout, and the settings that name them."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from customizer.errors import SettingsError
from customizer.families import CustomizationType
from customizer.invocation_logs import LogFormatError, as_jsonl, is_log_object, matches, records_of
from customizer.settings import check_family, resolve_run_settings
from offline.sample_data import as_invocation_logs

PROD = {"project": "support", "stage": "prod"}
TEST = {"project": "support", "stage": "test"}
OTHER = {"project": "billing"}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (None, [True, True, True, True]),
        ({"equals": {"stage": "prod"}}, [True, False, False, False]),
        ({"notEquals": {"stage": "prod"}}, [False, True, True, True]),  # no stage key counts as not equal
        (
            {"andAll": [{"equals": {"project": "support"}}, {"notEquals": {"stage": "test"}}]},
            [True, False, False, False],
        ),
        ({"orAll": [{"equals": {"stage": "test"}}, {"equals": {"project": "billing"}}]}, [False, True, True, False]),
        ({"andAll": [{"equals": {"project": "support"}, "notEquals": {"stage": "prod"}}]}, [False, True, False, False]),
    ],
)
def test_filters_match_as_the_service_documents(filters: dict[str, Any] | None, expected: list[bool]) -> None:
    assert [matches(filters, m) for m in (PROD, TEST, OTHER, {})] == expected


def test_the_sample_logs_read_back_as_prompts_and_responses() -> None:
    body = b'{"prompt": "How do I reset my password?", "completion": " Open Settings."}\n' * 3
    ((name, obj),) = as_invocation_logs(body, "amazon.nova-pro-v1:0").items()
    assert name.endswith(".json.gz") and is_log_object(name) and not is_log_object("AWSLogs/x/data/big.json")
    records = list(records_of(name, obj))
    assert [(r.prompt, r.response, r.model_id) for r in records] == [
        ("How do I reset my password?", "Open Settings.", "amazon.nova-pro-v1:0")
    ] * 3
    prompts = [
        json.loads(line)
        for line in as_jsonl(records, CustomizationType.DISTILLATION, use_prompt_response=False).splitlines()
    ]
    assert [m["role"] for m in prompts[0]["messages"]] == ["user"]  # the teacher answers it
    pairs = [
        json.loads(line)
        for line in as_jsonl(records, CustomizationType.DISTILLATION, use_prompt_response=True).splitlines()
    ]
    assert pairs[0]["messages"][1] == {"role": "assistant", "content": [{"text": "Open Settings."}]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"prompt": "hi"}\n', "not a Bedrock invocation log record"),
        (b'{"schemaType": "ModelInvocationLog", "input": {}}\n', "input.inputBodyJson is missing"),
        (b"not json at all", "not JSON"),
        (b"\x1f\x8bbroken", "not a readable gzip object"),
    ],
)
def test_objects_that_are_not_log_records_are_named(body: bytes, message: str) -> None:
    with pytest.raises(LogFormatError, match=message):
        list(records_of("s3://b/logs/x.json", gzip.compress(body) if body[:1] == b"{" else body))


def _distillation(**logs: Any) -> dict[str, Any]:
    return {
        "base_model_id": "amazon.nova-micro-v1:0",
        "customization_type": "DISTILLATION",
        "distillation": {"teacher_model_id": "amazon.nova-pro-v1:0"},
        "invocation_logs": {"s3_uri": "s3://data-bucket/logs/", **logs},
    }


def test_the_setting_passes_botocores_invocation_logs_config() -> None:
    settings = resolve_run_settings(
        {}, _distillation(use_prompt_response=True, request_metadata_filters={"equals": {"stage": "prod"}})
    )
    assert check_family(settings, has_validation_data=False) == {}
    assert settings.invocation_logs is not None
    assert settings.invocation_logs.as_config() == {
        "invocationLogSource": {"s3Uri": "s3://data-bucket/logs/"},
        "usePromptResponse": True,
        "requestMetadataFilters": {"equals": {"stage": "prod"}},
    }


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"equals": {"a": "1"}, "orAll": [{"equals": {"b": "2"}}]}, "exactly one of equals, notEquals, andAll, orAll"),
        ({"equals": {"a": "1", "b": "2"}}, "exactly one key and value"),
        ({"andAll": []}, "at least 1 item"),
        ({"orAll": [{}]}, "a base filter needs equals or notEquals"),
        ({"equals": {"a": "semi;colon"}}, "key and value must match"),
    ],
)
def test_wrong_filters_are_refused_when_the_settings_are_read(filters: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as refused:
        resolve_run_settings({}, _distillation(request_metadata_filters=filters))
    assert "settings.invocation_logs.request_metadata_filters" in str(refused.value)


def test_logs_are_training_data_of_distillation_and_rft_only() -> None:
    with pytest.raises(SettingsError, match=r"settings\.invocation_logs: Bedrock trains FINE_TUNING on files"):
        check_family(
            resolve_run_settings({}, {"invocation_logs": {"s3_uri": "s3://data-bucket/logs/"}}),
            has_validation_data=False,
        )
    with pytest.raises(SettingsError, match=r"settings\.invocation_logs\.s3_uri"):
        resolve_run_settings({}, _distillation(s3_uri="https://example.com/logs"))
