"""Distillation's knowledge and checks: the teacher and student pairs, the prompts format, the settings."""

from __future__ import annotations

from typing import Any

import pytest

from customizer.errors import SettingsError
from customizer.families import BASE_MODELS, CustomizationType, DataFormat, base_model, distillation
from customizer.families.formats import RecordError, check_record, evaluation_example
from customizer.settings import check_family, resolve_run_settings
from tests.unit.validation.corpus import check, conversation

STUDENT = "amazon.nova-micro-v1:0"


def _settings(**extra: Any) -> dict[str, Any]:
    return {
        "base_model_id": STUDENT,
        "customization_type": "DISTILLATION",
        "distillation": {"teacher_model_id": "amazon.nova-pro-v1:0"},
        **extra,
    }


def test_every_students_teachers_are_known_and_of_its_provider() -> None:
    students = [m for m in BASE_MODELS if CustomizationType.DISTILLATION in m.formats]
    assert {m.model_id for m in students} >= {STUDENT, "anthropic.claude-3-haiku-20240307-v1:0"}
    for model in students:
        assert model.distillation_teachers, model.model_id
        assert model.regions_for(CustomizationType.DISTILLATION), model.model_id
        for teacher_id in model.distillation_teachers:
            assert distillation.teacher(teacher_id).provider == model.provider


def test_a_prompt_may_end_with_the_users_turn_and_a_test_example_may_not() -> None:
    prompt = conversation(1)
    prompt["messages"] = prompt["messages"][:1]
    example = check_record(prompt, DataFormat.DISTILLATION_PROMPTS)
    assert (example.prompt, example.completion) == ("What is item 1?", "")
    assert check_record(conversation(2), DataFormat.DISTILLATION_PROMPTS).completion == "Item 2 is a thing."
    with pytest.raises(RecordError, match="at least two messages"):
        evaluation_example(prompt, DataFormat.DISTILLATION_PROMPTS)
    with pytest.raises(RecordError, match="at least the user's message"):
        check_record({"messages": []}, DataFormat.DISTILLATION_PROMPTS)


def test_the_check_counts_prompts_and_the_teachers_answers_in_the_estimate() -> None:
    from customizer.validation.validator import CheckSettings, Role, validate_data
    from tests.unit.validation.corpus import jsonl, source

    prompts = [conversation(i) for i in range(120)]
    for record in prompts[::2]:
        record["messages"] = record["messages"][:1]
    report = check(prompts, STUDENT, "DISTILLATION")
    assert report.valid, report.summary()
    assert [f.message for f in check(prompts[:99], STUDENT, "DISTILLATION").errors.first(3)] == [
        "99 prompts; distillation needs at least 100"
    ]
    settings = CheckSettings(STUDENT, "DISTILLATION", teacher_model_id="amazon.nova-pro-v1:0", max_response_length=200)
    costed = validate_data(settings, [source(Role.TRAINING, jsonl(prompts))])
    assert costed.cost is not None and costed.cost.teacher_model_id == "amazon.nova-pro-v1:0"
    assert costed.cost.training_tokens >= 120 * 200 and costed.cost.teacher_usd > 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (_settings(distillation={"teacher_model_id": "amazon.nova-premier-v1:0"}), None),
        (
            _settings(base_model_id="amazon.titan-text-express-v1"),
            "settings.customization_type: DISTILLATION is not supported",
        ),
        (_settings(distillation={"teacher_model_id": "x.y"}), "is not a known teacher"),
        (
            _settings(distillation={"teacher_model_id": "us.amazon.nova-pro-v1:0"}),
            "inference profiles are not taken yet",
        ),
        (_settings(smoke_test={"enabled": True}), "settings.smoke_test.enabled: not for distillation"),
        ({"distillation": {"teacher_model_id": "amazon.nova-pro-v1:0"}}, "settings.distillation: only for"),
    ],
)
def test_distillation_settings(settings: dict[str, Any], message: str | None) -> None:
    resolved = resolve_run_settings({}, settings)
    if message is None:
        assert check_family(resolved, has_validation_data=False) == {}
        return
    with pytest.raises(SettingsError, match=message):
        check_family(resolved, has_validation_data=False)


def test_the_defaults_hyperparameters_do_not_follow_a_run_to_another_customization_type() -> None:
    defaults = {"base_model_id": STUDENT, "hyperparameters": {"epochCount": 3}}
    assert resolve_run_settings(defaults, {}).hyperparameters == {"epochCount": 3}
    assert resolve_run_settings(defaults, _settings()).hyperparameters == {}
    assert base_model(STUDENT).data_format("DISTILLATION") is DataFormat.DISTILLATION_PROMPTS


def test_min_fraction_of_teacher_is_only_for_distillation_and_string_metrics() -> None:
    with pytest.raises(
        SettingsError, match=r"settings\.evaluation\.min_fraction_of_teacher: only for customization_type"
    ):
        check_family(
            resolve_run_settings({}, {"evaluation": {"min_fraction_of_teacher": 0.8}}), has_validation_data=False
        )
    judged = {
        "base_model_id": "amazon.nova-micro-v1:0",
        "customization_type": "DISTILLATION",
        "distillation": {"teacher_model_id": "amazon.nova-pro-v1:0"},
        "evaluation": {"min_fraction_of_teacher": 0.8, "metric": "judge.correctness", "judge": {"enabled": True}},
    }
    with pytest.raises(SettingsError, match="the judge grades the custom and base models' answers, not the teacher"):
        check_family(resolve_run_settings({}, judged), has_validation_data=False)
    judged["evaluation"] = {"min_fraction_of_teacher": 0.8}
    assert check_family(resolve_run_settings({}, judged), has_validation_data=False) == {}


def test_the_distillation_outputs_warn_of_rejected_prompts_and_of_none_found() -> None:
    from customizer.distillation_outputs import warnings
    from customizer.models import DistillationOutputs

    assert warnings(DistillationOutputs()) == [
        "no distillation outputs were found (synthetic data samples, prompt insights)"
    ]
    assert warnings(DistillationOutputs(found=True, prompts=120, accepted=120)) == []
    rejected = DistillationOutputs(
        found=True,
        prompts=121,
        accepted=120,
        rejected=1,
        reasons={"duplicate of record 1": 1},
        rejections=[{"record": "121", "reason": "duplicate of record 1"}],
    )
    assert warnings(rejected) == [
        "the distillation rejected 1 of 121 prompts (first: record 121: duplicate of record 1); the prompt insights "
        "list them"
    ]
