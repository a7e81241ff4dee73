"""The emulator's foundation-model catalog: GetFoundationModel and ListFoundationModels from the families'
knowledge, a lifecycle tests set, and the control plane keeping to it (no job where the customization is not
offered, no provisioned throughput on a Legacy base)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from offline.bedrock_emulator import BedrockEmulator, EmulatorServer
from offline.bedrock_emulator.admin_client import EmulatorAdmin

TITAN = "amazon.titan-text-express-v1"
LLAMA = "meta.llama3-2-1b-instruct-v1:0"


def _code(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return error.value.response["Error"]["Code"], error.value.response["Error"]["Message"]


def test_a_model_is_described_as_the_service_shapes_it(bedrock: Any) -> None:
    details = bedrock.get_foundation_model(modelIdentifier="amazon.nova-micro-v1:0:128k")["modelDetails"]
    assert details == {
        "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0:128k",
        "modelId": "amazon.nova-micro-v1:0:128k",  # the id with its context suffix, as Bedrock lists it
        "modelName": "Nova Micro",
        "providerName": "Amazon",
        "inputModalities": ["TEXT"],
        "outputModalities": ["TEXT"],
        "responseStreamingSupported": True,
        "customizationsSupported": ["FINE_TUNING", "DISTILLATION"],
        "inferenceTypesSupported": ["ON_DEMAND"],
        "modelLifecycle": {"status": "ACTIVE"},
    }


def test_customizations_are_those_offered_in_the_emulators_region(bedrock: Any) -> None:
    assert bedrock.get_foundation_model(modelIdentifier=TITAN)["modelDetails"]["customizationsSupported"] == [
        "FINE_TUNING",
        "CONTINUED_PRE_TRAINING",
    ]
    llama = bedrock.get_foundation_model(modelIdentifier=LLAMA)["modelDetails"]
    assert llama["customizationsSupported"] == []  # fine-tuned in us-west-2 only
    assert llama["inferenceTypesSupported"] == ["INFERENCE_PROFILE"]


def test_an_unknown_model_is_refused_as_an_invalid_identifier(bedrock: Any) -> None:
    with pytest.raises(ClientError) as refused:
        bedrock.get_foundation_model(modelIdentifier="acme.nothing-v1")
    assert _code(refused) == ("ValidationException", "The provided model identifier is invalid.")


def test_models_are_listed_by_customization_inference_type_and_provider(bedrock: Any) -> None:
    def ids(**filters: str) -> list[str]:
        return [m["modelId"] for m in bedrock.list_foundation_models(**filters)["modelSummaries"]]

    fine_tunable = ids(byCustomizationType="FINE_TUNING")
    assert TITAN in fine_tunable and "amazon.nova-pro-v1:0" in fine_tunable
    assert LLAMA not in fine_tunable and "anthropic.claude-3-haiku-20240307-v1:0" not in fine_tunable
    assert ids(byCustomizationType="CONTINUED_PRE_TRAINING") == [TITAN, "amazon.titan-text-lite-v1"]
    # Served on demand only through a profile: not ON_DEMAND (botocore's filter knows ON_DEMAND and PROVISIONED)
    assert TITAN in ids(byInferenceType="ON_DEMAND") and LLAMA not in ids(byInferenceType="ON_DEMAND")
    assert {m.split(".")[0] for m in ids(byProvider="meta")} == {"meta"}
    assert len(ids(byOutputModality="TEXT")) == len(ids())


def test_a_lifecycle_set_by_a_test_is_what_the_service_says(bedrock: Any, emulator: BedrockEmulator) -> None:
    legacy, end = "2026-11-01T00:00:00+00:00", "2027-06-01T00:00:00+00:00"
    emulator.set_foundation_model(TITAN, status="LEGACY", legacy_time=legacy, end_of_life_time=end)
    lifecycle = bedrock.get_foundation_model(modelIdentifier=TITAN)["modelDetails"]["modelLifecycle"]
    assert lifecycle == {
        "status": "LEGACY",
        "legacyTime": datetime(2026, 11, 1, tzinfo=UTC),
        "endOfLifeTime": datetime(2027, 6, 1, tzinfo=UTC),
    }
    emulator.reset(state=False)
    assert bedrock.get_foundation_model(modelIdentifier=TITAN)["modelDetails"]["modelLifecycle"] == {"status": "ACTIVE"}


def test_a_model_past_its_end_of_life_is_gone(bedrock: Any, emulator: BedrockEmulator) -> None:
    ended = (emulator.clock.now() - timedelta(days=1)).isoformat()  # the emulator's time, frozen in these tests
    emulator.set_foundation_model(TITAN, status="LEGACY", end_of_life_time=ended)
    with pytest.raises(ClientError) as gone:
        bedrock.get_foundation_model(modelIdentifier=TITAN)
    assert _code(gone)[0] == "ResourceNotFoundException"
    assert TITAN not in [m["modelId"] for m in bedrock.list_foundation_models()["modelSummaries"]]


def test_no_job_where_the_customization_is_not_offered(
    bedrock: Any, emulator: BedrockEmulator, job_request: Callable[..., dict[str, Any]]
) -> None:
    # Llama 3.2 is fine-tuned in us-west-2, not here
    with pytest.raises(ClientError) as refused:
        bedrock.create_model_customization_job(**job_request(baseModelIdentifier=LLAMA))
    assert _code(refused) == (
        "ValidationException",
        f"The base model {LLAMA} does not support FINE_TUNING in us-east-1.",
    )
    # Titan's continued pre-training, once the catalog no longer offers it here
    emulator.set_foundation_model(TITAN, customizations=["FINE_TUNING"])
    with pytest.raises(ClientError) as refused:
        bedrock.create_model_customization_job(**job_request("job-2", customizationType="CONTINUED_PRE_TRAINING"))
    assert _code(refused) == (
        "ValidationException",
        f"The base model {TITAN} does not support CONTINUED_PRE_TRAINING in us-east-1.",
    )


def test_no_provisioned_throughput_on_a_legacy_base(
    bedrock: Any, emulator: BedrockEmulator, completed_model: Callable[..., str]
) -> None:
    model_arn = completed_model()
    emulator.set_foundation_model(TITAN, status="LEGACY")
    with pytest.raises(ClientError) as refused:
        bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="pt", modelId=model_arn)
    assert _code(refused) == (
        "ValidationException",
        "You can't create a new Provisioned Throughput for models in the Legacy state.",
    )


def test_the_admin_endpoint_sets_a_lifecycle(server: EmulatorServer, bedrock: Any) -> None:
    EmulatorAdmin(server.endpoint_url).set_foundation_model(TITAN, status="LEGACY", customizations=[])
    details = bedrock.get_foundation_model(modelIdentifier=TITAN)["modelDetails"]
    assert (details["modelLifecycle"]["status"], details["customizationsSupported"]) == ("LEGACY", [])


PREMIER = "amazon.nova-premier-v1:0"  # a teacher, no family's base model
LLAMA_405B = "meta.llama3-1-405b-instruct-v1:0"  # a teacher in us-west-2 only


def test_a_teacher_that_is_no_base_is_described_where_it_teaches(bedrock: Any) -> None:
    details = bedrock.get_foundation_model(modelIdentifier=PREMIER)["modelDetails"]
    assert details["modelName"] == "Nova Premier" and details["providerName"] == "Amazon"
    assert details["customizationsSupported"] == [] and details["inferenceTypesSupported"] == ["ON_DEMAND"]
    assert PREMIER in [m["modelId"] for m in bedrock.list_foundation_models(byProvider="amazon")["modelSummaries"]]
    assert PREMIER not in [
        m["modelId"] for m in bedrock.list_foundation_models(byCustomizationType="DISTILLATION")["modelSummaries"]
    ]
    with pytest.raises(ClientError) as elsewhere:
        bedrock.get_foundation_model(modelIdentifier=LLAMA_405B)
    assert _code(elsewhere) == ("ResourceNotFoundException", f"The model {LLAMA_405B} is not offered in us-east-1.")


def test_a_teacher_answers_on_demand_and_takes_a_lifecycle(
    bedrock: Any, emulator: BedrockEmulator, runtime: Any
) -> None:
    answer = runtime.converse(modelId=PREMIER, messages=[{"role": "user", "content": [{"text": "What is a cat?"}]}])
    assert answer["output"]["message"]["content"][0]["text"]
    with pytest.raises(ClientError) as refused:
        runtime.converse(modelId=LLAMA_405B, messages=[{"role": "user", "content": [{"text": "Hi"}]}])
    assert _code(refused)[0] == "ValidationException"
    emulator.set_foundation_model(PREMIER, status="LEGACY")
    assert bedrock.get_foundation_model(modelIdentifier=PREMIER)["modelDetails"]["modelLifecycle"] == {
        "status": "LEGACY"
    }


def test_no_distillation_job_with_a_teacher_not_offered_here(
    bedrock: Any, emulator: BedrockEmulator, job_request: Callable[..., dict[str, Any]]
) -> None:
    student = "meta.llama3-1-8b-instruct-v1:0"
    emulator.set_foundation_model(student, customizations=["DISTILLATION"])
    request = job_request(baseModelIdentifier=student, customizationType="DISTILLATION")
    del request["hyperParameters"]
    request["customizationConfig"] = {
        "distillationConfig": {"teacherModelConfig": {"teacherModelIdentifier": LLAMA_405B}}
    }
    with pytest.raises(ClientError) as refused:
        bedrock.create_model_customization_job(**request)
    assert _code(refused) == ("ValidationException", f"The teacher model {LLAMA_405B} is not available in us-east-1.")
