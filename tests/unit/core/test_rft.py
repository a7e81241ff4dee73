"""Reinforcement fine-tuning's knowledge and checks: the bases, the data format, the hyperparameters, the cost."""

from __future__ import annotations

import json
from typing import Any

import pytest

from customizer.errors import SettingsError
from customizer.families import BASE_MODELS, CustomizationType, DataFormat, base_model, rft
from customizer.families.formats import RecordError, check_record, evaluation_example
from customizer.settings import check_family, resolve_run_settings
from customizer.validation.validator import CheckSettings, Role, validate_data
from tests.unit.validation.corpus import check, jsonl, rft_prompt, source

NOVA_2_LITE = "amazon.nova-2-lite-v1:0"
RFT = "REINFORCEMENT_FINE_TUNING"


def _settings(**extra: Any) -> dict[str, Any]:
    return {"base_model_id": NOVA_2_LITE, "customization_type": RFT, **extra}


def test_only_nova_2_lite_takes_rft_in_us_east_1_with_the_service_models_hyperparameters() -> None:
    takers = [m.model_id for m in BASE_MODELS if CustomizationType.REINFORCEMENT_FINE_TUNING in m.formats]
    assert takers == [NOVA_2_LITE]
    model = base_model("amazon.nova-2-lite-v1:0:256k")
    assert model.data_format(RFT) is DataFormat.RFT_CHAT
    assert model.regions_for(RFT) == ("us-east-1",)
    ranges = {h.name: (h.kind, h.minimum, h.maximum, h.choices) for h in model.rft_hyperparameters}
    assert ranges["epochCount"] == (int, 1, 50, ())
    assert ranges["batchSize"] == (int, 16, 512, ())
    assert ranges["learningRate"] == (float, 1e-7, 1e-3, ())
    assert ranges["trainingSamplePerPrompt"] == (int, 2, 16, ())
    assert ranges["evalInterval"] == (int, 1, 100, ())
    assert ranges["reasoningEffort"][3] == ("low", "medium", "high")
    assert {"maxPromptLength", "inferenceMaxTokens"} <= set(ranges)


def test_the_hyperparameters_match_botocores_rft_shape() -> None:
    import boto3

    shape = boto3.client("bedrock", region_name="us-east-1").meta.service_model.shape_for("RFTHyperParameters")
    assert set(shape.members) == {h.name for h in rft.HYPERPARAMETERS}
    for spec in rft.HYPERPARAMETERS:
        member = shape.members[spec.name]
        if "min" in member.metadata:
            assert (spec.minimum, spec.maximum) == (member.metadata["min"], member.metadata["max"]), spec.name
        expected = {"integer": int, "float": float, "string": str}[member.type_name]
        assert spec.kind is expected, spec.name
    assert shape.members["reasoningEffort"].enum == ["low", "medium", "high"]


def test_a_record_is_openai_chat_messages_with_a_reference_answer_and_extra_fields_kept() -> None:
    example = check_record(rft_prompt(3), DataFormat.RFT_CHAT)
    assert (example.system, example.prompt, example.completion) == (
        "You answer questions.",
        "What is item 3?",
        "Item 3 is a thing.",
    )
    structured = rft_prompt(4, reference={"x": 4, "steps": ["2x = 8"]})
    structured["messages"][1]["content"] = [{"type": "text", "text": "Solve: 2x + 5 = 13"}]
    example = check_record(structured, DataFormat.RFT_CHAT)
    assert example.prompt == "Solve: 2x + 5 = 13"
    assert json.loads(example.completion) == {"x": 4, "steps": ["2x = 8"]}
    # A test example in the RFT format is scored against its reference answer.
    assert evaluation_example(rft_prompt(5), DataFormat.RFT_CHAT).completion == "Item 5 is a thing."


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda r: r.pop("reference_answer"), "reference_answer", "required key is missing"),
        (lambda r: r.update(reference_answer="  "), "reference_answer", "must not be empty"),
        (lambda r: r.update(reference_answer=None), "reference_answer", "must not be empty"),
        (lambda r: r.pop("messages"), "messages", "required key is missing"),
        (lambda r: r.update(messages=[]), "messages", "non-empty list"),
        (lambda r: r["messages"].append({"role": "assistant", "content": "x"}), "messages[2].role", "the user's"),
        (lambda r: r["messages"][1].update(role="tool"), "messages[1].role", "allowed: system, user, assistant"),
        (lambda r: r["messages"].reverse(), "messages[1].role", "comes before the user's"),
        (lambda r: r["messages"][1].update(content=""), "messages[1].content", "must not be empty"),
        (
            lambda r: r["messages"][1].update(content=[{"type": "image_url", "image_url": {}}]),
            "messages[1].content[0]",
            "text only",
        ),
    ],
)
def test_a_record_that_does_not_fit_names_its_field(change: Any, field: str, message: str) -> None:
    record = rft_prompt(1)
    change(record)
    with pytest.raises(RecordError) as caught:
        check_record(record, DataFormat.RFT_CHAT)
    assert caught.value.field == field
    assert message in caught.value.message


def test_the_check_names_the_line_without_a_reference_answer_and_counts_records() -> None:
    records = [rft_prompt(i) for i in range(120)]
    assert check(records, NOVA_2_LITE, RFT).valid
    del records[41]["reference_answer"]
    report = check(records, NOVA_2_LITE, RFT)
    (finding,) = report.errors.first(5)
    assert (finding.line, finding.field) == (42, "reference_answer")
    assert "required key is missing" in finding.message
    few = check([rft_prompt(i) for i in range(99)], NOVA_2_LITE, RFT)
    assert [f.message for f in few.errors.first(3)] == ["99 records; reinforcement fine-tuning needs at least 100"]


def test_more_than_20000_prompts_are_refused() -> None:
    records = [rft_prompt(i) for i in range(rft.MAX_PROMPTS + 1)]
    report = check(records, NOVA_2_LITE, RFT)
    assert "20,001 prompts; reinforcement fine-tuning takes at most 20,000" in [
        f.message for f in report.errors.first(5)
    ]


def test_a_hyperparameter_out_of_range_is_named_with_its_range_and_the_estimate_is_a_labelled_guess() -> None:
    records = [rft_prompt(i) for i in range(120)]
    report = check(records, NOVA_2_LITE, RFT, hyperparameters={"batchSize": 8, "reasoningEffort": "max"})
    messages = {f.field: f.message for f in report.errors.first(5)}
    assert messages == {
        "settings.hyperparameters.batchSize": "8 is out of range; allowed: int from 16 to 512",
        "settings.hyperparameters.reasoningEffort": "'max' is not allowed; allowed: one of low, medium, high",
    }
    settings = CheckSettings(NOVA_2_LITE, RFT, hyperparameters={"epochCount": 2, "trainingSamplePerPrompt": 8})
    costed = validate_data(settings, [source(Role.TRAINING, jsonl(records))])
    assert costed.valid, costed.summary()
    cost = costed.cost
    assert cost is not None and (cost.epochs, cost.samples_per_prompt) == (2, 8)
    assert cost.training_tokens > 8 * 120 * rft.ASSUMED["inferenceMaxTokens"]  # type: ignore[operator]
    assert cost.training_usd > 0 and "a guess" in cost.guessed and "inferenceMaxTokens 1024" in cost.guessed
    assert costed.hyperparameters == {"epochCount": "2", "trainingSamplePerPrompt": "8"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            _settings(hyperparameters={"learningRate": 0.01}),
            "settings.hyperparameters.learningRate: 0.01 is out of range; allowed: float from 1e-07 to 0.001",
        ),
        (
            _settings(hyperparameters={"learningRateWarmupSteps": 5}),
            "settings.hyperparameters.learningRateWarmupSteps: unknown for reinforcement fine-tuning",
        ),
        (_settings(smoke_test={"enabled": True}), "settings.smoke_test.enabled: not for reinforcement fine-tuning"),
        (_settings(base_model_id="amazon.nova-micro-v1:0"), "REINFORCEMENT_FINE_TUNING is not supported"),
        (_settings(hyperparameters={"epochCount": 3}), "settings.grader: required for REINFORCEMENT_FINE_TUNING"),
    ],
)
def test_rft_settings_are_checked_before_any_job(settings: dict[str, Any], message: str) -> None:
    graded = {**settings, "grader": {"scorer": "token_f1"}} if "grader" not in message else settings
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_family(resolve_run_settings({}, graded), has_validation_data=False)


def test_rft_settings_with_a_grader_pass_with_their_hyperparameters() -> None:
    settings = _settings(
        hyperparameters={"epochCount": 3, "reasoningEffort": "medium"}, grader={"scorer": "exact_match"}
    )
    resolved = check_family(resolve_run_settings({}, settings), has_validation_data=False)
    assert resolved == {"epochCount": "3", "reasoningEffort": "medium"}


def test_the_rft_config_carries_typed_hyperparameters_and_the_grader() -> None:
    config = rft.rft_config(
        {"epochCount": "2", "learningRate": "1e-05", "reasoningEffort": "high"},
        "arn:aws:lambda:us-east-1:123456789012:function:grader",
    )
    assert config == {
        "rftConfig": {
            "graderConfig": {"lambdaGrader": {"lambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:grader"}},
            "hyperParameters": {"epochCount": 2, "learningRate": 1e-05, "reasoningEffort": "high"},
        }
    }
    assert "hyperParameters" not in rft.rft_config({}, "arn:aws:lambda:us-east-1:1:function:g")["rftConfig"]


def test_an_invocation_log_record_becomes_an_rft_prompt_with_the_response_as_reference() -> None:
    from customizer.invocation_logs import CONVERTERS, LogRecord

    record = LogRecord("s3://b/k record 1", "amazon.nova-pro-v1:0", "Be brief.", "What is 2+2?", "4", {"project": "x"})
    made = CONVERTERS[CustomizationType.REINFORCEMENT_FINE_TUNING](record, use_prompt_response=True)
    assert made == {
        "project": "x",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}],
        "reference_answer": "4",
    }
    assert check_record(made, DataFormat.RFT_CHAT).completion == "4"
    without = CONVERTERS[CustomizationType.REINFORCEMENT_FINE_TUNING](record, use_prompt_response=False)
    assert "reference_answer" not in without


LOGS = {"s3_uri": "s3://data/logs/", "use_prompt_response": True}
OWN = {"lambda_arn": "arn:aws:lambda:us-east-1:123456789012:function:mine"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (_settings(invocation_logs=LOGS, grader=OWN), None),
        (
            _settings(invocation_logs={**LOGS, "use_prompt_response": False}, grader=OWN),
            "settings.invocation_logs.use_prompt_response: must be true for REINFORCEMENT_FINE_TUNING",
        ),
        (
            _settings(invocation_logs=LOGS, grader={"scorer": "token_f1"}),
            "settings.grader: the project's scorers with settings.invocation_logs are not built",
        ),
    ],
)
def test_rft_from_invocation_logs_needs_their_responses_and_a_lambda_grader(
    settings: dict[str, Any], message: str | None
) -> None:
    resolved = resolve_run_settings({}, settings)
    if message is None:
        assert check_family(resolved, has_validation_data=False) == {}
        return
    with pytest.raises(SettingsError, match=message):
        check_family(resolved, has_validation_data=False)


@pytest.mark.parametrize(("ctype", "most"), [("REINFORCEMENT_FINE_TUNING", 20_000), ("DISTILLATION", 15_000)])
def test_invocation_logs_hold_at_most_the_types_number_of_prompts(
    monkeypatch: pytest.MonkeyPatch, ctype: str, most: int
) -> None:
    from customizer.errors import RunInputError
    from customizer.validation.log_source import LogData
    from offline.sample_data import as_invocation_logs

    pairs = b"".join(json.dumps({"prompt": f"q{i}", "completion": f"a{i}"}).encode() + b"\n" for i in range(most + 1))
    (body,) = as_invocation_logs(pairs, "amazon.nova-pro-v1:0", per_object=most + 1).values()
    monkeypatch.setattr(LogData, "_objects", lambda self: iter([("s3://data/logs/one.json.gz", body)]))
    settings = {
        "base_model_id": NOVA_2_LITE if ctype == RFT else "amazon.nova-micro-v1:0",
        "customization_type": ctype,
        "invocation_logs": LOGS,
        **({"grader": OWN} if ctype == RFT else {"distillation": {"teacher_model_id": "amazon.nova-pro-v1:0"}}),
    }
    with pytest.raises(RunInputError, match=f"more than {most:,} records under s3://data/logs/ match"):
        LogData(resolve_run_settings({}, settings), "data")
