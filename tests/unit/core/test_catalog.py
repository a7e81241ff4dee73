"""Asking Bedrock before any money is spent: GetFoundationModel's answer, and the rules the run is checked by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from customizer import catalog
from customizer.catalog import Offering, check_lifecycle, check_offered
from customizer.errors import AwsRequestRejectedError, BedrockThrottledError, SettingsError
from customizer.settings import RunSettings, resolve_run_settings

NOW = datetime(2026, 12, 1, tzinfo=UTC)
NOVA = "amazon.nova-micro-v1:0"
TITAN = "amazon.titan-text-express-v1"
LLAMA = "meta.llama3-2-1b-instruct-v1:0"


def settings(**given: Any) -> RunSettings:
    return resolve_run_settings({"throughput_policy": "keep"}, given)


def offering(model_id: str = NOVA, **changes: Any) -> Offering:
    base: dict[str, Any] = {
        "model_id": model_id,
        "customizations": ("FINE_TUNING",),
        "inference_types": ("ON_DEMAND",),
        "status": "ACTIVE",
    }
    return Offering(**{**base, **changes})


def details(model_id: str, **lifecycle: Any) -> dict[str, Any]:
    return {
        "modelDetails": {
            "modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{model_id}",
            "modelId": model_id,
            "customizationsSupported": ["FINE_TUNING"],
            "inferenceTypesSupported": ["ON_DEMAND"],
            "modelLifecycle": {"status": "ACTIVE", **lifecycle},
        }
    }


# ---- the call ----


def test_the_lookup_reads_what_get_foundation_model_says(bedrock: Stubber) -> None:
    eol = datetime(2027, 6, 1, tzinfo=UTC)
    bedrock.add_response(
        "get_foundation_model",
        details(NOVA, status="LEGACY", legacyTime=NOW, endOfLifeTime=eol),
        {"modelIdentifier": NOVA},
    )
    found = catalog.describe(NOVA)
    assert found == Offering(NOVA, ("FINE_TUNING",), ("ON_DEMAND",), "LEGACY", NOW, None, eol)
    assert found.dates() == "legacy since 2026-12-01, end of life 2027-06-01"


def test_a_lifecycle_without_a_status_is_taken_as_active(bedrock: Stubber) -> None:
    answer = details(NOVA)
    del answer["modelDetails"]["modelLifecycle"]
    bedrock.add_response("get_foundation_model", answer, {"modelIdentifier": NOVA})
    assert catalog.describe(NOVA) == offering()


@pytest.mark.parametrize("code", ["ResourceNotFoundException", "ValidationException"])
def test_a_model_the_service_does_not_know_here_is_none(bedrock: Stubber, code: str) -> None:
    bedrock.add_client_error("get_foundation_model", service_error_code=code, http_status_code=400)
    assert catalog.describe(NOVA) is None


def test_a_denied_or_throttled_lookup_is_a_typed_error(bedrock: Stubber) -> None:
    bedrock.add_client_error("get_foundation_model", service_error_code="AccessDeniedException", http_status_code=403)
    with pytest.raises(AwsRequestRejectedError, match=r"^GetFoundationModel: AccessDeniedException"):
        catalog.describe(NOVA)
    bedrock.add_client_error("get_foundation_model", service_error_code="ThrottlingException", http_status_code=429)
    with pytest.raises(BedrockThrottledError):
        catalog.describe(NOVA)


# ---- offered here? ----


def test_a_base_unknown_in_the_region_names_where_it_is_offered() -> None:
    with pytest.raises(SettingsError) as refused:
        check_offered(settings(base_model_id=LLAMA), "us-east-1", None)
    message = str(refused.value)
    assert message.startswith(f"settings.base_model_id: Bedrock does not know {LLAMA} in us-east-1; ")
    assert "FINE_TUNING of it is offered in us-west-2 (this project's table of the user guide, 2026-12-01)" in message
    assert "bases offering it in us-east-1: amazon.titan-text-express-v1, " in message
    assert LLAMA not in message.split("bases offering it in us-east-1: ")[1]


def test_a_customization_not_offered_in_the_region_names_the_regions_that_offer_it() -> None:
    with pytest.raises(SettingsError) as refused:
        check_offered(settings(base_model_id=LLAMA), "us-east-1", offering(LLAMA, customizations=()))
    assert str(refused.value).startswith(
        f"settings.customization_type: Bedrock does not offer FINE_TUNING of {LLAMA} in us-east-1 "
        "(offered there: none); it is offered in us-west-2 (this project's table of the user guide, 2026-12-01); "
    )


def test_continued_pre_training_where_only_fine_tuning_is_offered_is_refused() -> None:
    run = settings(base_model_id=TITAN, customization_type="CONTINUED_PRE_TRAINING")
    with pytest.raises(SettingsError, match=r"offered there: FINE_TUNING\); it is offered in us-east-1, us-west-2"):
        check_offered(run, "us-east-1", offering(TITAN))
    assert check_offered(run, "us-east-1", offering(TITAN, customizations=("CONTINUED_PRE_TRAINING",)))


def test_a_model_offered_nowhere_today_says_so() -> None:
    llama_33 = "meta.llama3-3-70b-instruct-v1:0"
    with pytest.raises(SettingsError, match="offered in no region by this project's table"):
        check_offered(settings(base_model_id=llama_33), "us-west-2", None)


# ---- lifecycle ----


def lifecycle(run: RunSettings, found: Offering, hours: float = 50.0, evaluates_base: bool = True) -> list[str]:
    warnings = check_lifecycle(run, "us-east-1", found, now=NOW, run_hours=hours, evaluates_base=evaluates_base)
    return [f"{w.code}: {w.setting}: {w.message}" for w in warnings]


def test_an_active_base_gives_no_warning() -> None:
    assert lifecycle(settings(base_model_id=NOVA), offering()) == []


def test_a_legacy_base_with_provisioned_throughput_is_refused_and_on_demand_suggested() -> None:
    legacy = offering(status="LEGACY", legacy_time=NOW - timedelta(days=30))
    with pytest.raises(SettingsError) as refused:
        lifecycle(settings(base_model_id=NOVA), legacy)
    assert str(refused.value) == (
        f"settings.base_model_id: {NOVA} is Legacy in us-east-1 (legacy since 2026-11-01); Bedrock creates no "
        "new provisioned throughput for Legacy models, so the run would train, then fail at its throughput; "
        "set settings.serving to on_demand, or choose an Active base"
    )
    # A family without on-demand deployment: only an Active base will do
    with pytest.raises(SettingsError, match=r"fail at its throughput; choose an Active base$"):
        lifecycle(settings(base_model_id=TITAN), offering(TITAN, status="LEGACY"))


def test_a_legacy_base_served_on_demand_is_a_warning_with_its_dates() -> None:
    legacy = offering(status="LEGACY", legacy_time=NOW, end_of_life_time=NOW + timedelta(days=200))
    assert lifecycle(settings(base_model_id=NOVA, serving="on_demand"), legacy) == [
        f"legacy_base: settings.base_model_id: {NOVA} is Legacy in us-east-1 (legacy since 2026-12-01, end of life "
        "2027-06-19): it can still be customized and served on demand here, but plan to move to an Active base"
    ]


def test_an_end_of_life_before_the_run_could_end_is_refused() -> None:
    ending = offering(end_of_life_time=NOW + timedelta(hours=49))
    with pytest.raises(SettingsError, match=r"reaches its end of life on 2026-12-03T01:00:00\+00:00, before"):
        lifecycle(settings(base_model_id=NOVA), ending, hours=50)
    assert lifecycle(settings(base_model_id=NOVA), ending, hours=48) == []


def test_a_base_the_evaluation_cannot_call_is_refused_unless_a_profile_is_given() -> None:
    provisioned_only = offering(inference_types=("PROVISIONED",))
    with pytest.raises(SettingsError, match=r"^settings\.evaluation\.base_invoke_id: Bedrock serves "):
        lifecycle(settings(base_model_id=NOVA), provisioned_only)
    given = settings(base_model_id=NOVA, evaluation={"base_invoke_id": f"us.{NOVA}"})
    assert lifecycle(given, provisioned_only) == []
    assert lifecycle(settings(base_model_id=NOVA), provisioned_only, evaluates_base=False) == []
    assert lifecycle(settings(base_model_id=NOVA), offering(inference_types=("INFERENCE_PROFILE",))) == []


# ---- a distillation's teacher ----

PREMIER = "amazon.nova-premier-v1:0"


def distilling(teacher: str = PREMIER) -> RunSettings:
    return settings(base_model_id=NOVA, customization_type="DISTILLATION", distillation={"teacher_model_id": teacher})


def test_a_teacher_offered_active_and_on_demand_passes() -> None:
    found = offering(PREMIER, customizations=())
    assert catalog.check_teacher(distilling(), "us-east-1", found) is found
    through_profile = offering(PREMIER, customizations=(), inference_types=("INFERENCE_PROFILE",))
    assert catalog.check_teacher(distilling(), "us-east-1", through_profile) is through_profile


def test_a_teacher_not_offered_in_the_region_is_refused_naming_where_it_teaches() -> None:
    with pytest.raises(SettingsError) as refused:
        catalog.check_teacher(distilling(), "eu-west-1", None)
    assert str(refused.value).startswith(
        "settings.distillation.teacher_model_id: Bedrock does not offer amazon.nova-premier-v1:0 in eu-west-1, so "
        "it cannot teach here; it is a teacher in us-east-1 (this project's table of the user guide"
    ), refused.value


def test_a_legacy_teacher_is_refused_with_its_dates() -> None:
    legacy = offering(PREMIER, status="LEGACY", legacy_time=datetime(2026, 11, 1, tzinfo=UTC))
    with pytest.raises(SettingsError, match=r"is Legacy in us-east-1 \(legacy since 2026-11-01\)"):
        catalog.check_teacher(distilling(), "us-east-1", legacy)


def test_a_teacher_served_only_provisioned_is_refused() -> None:
    provisioned = offering(PREMIER, inference_types=("PROVISIONED",))
    with pytest.raises(SettingsError, match="neither on demand nor through an inference profile"):
        catalog.check_teacher(distilling(), "us-east-1", provisioned)
