"""The model-family knowledge base: base models, hyperparameters, token limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from customizer.errors import SettingsError
from customizer.families import BASE_MODELS, CustomizationType, DataFormat, base_invoke_id, base_model
from customizer.families.base import HyperParameter, TokenLimits

MODEL_IDS = [m.model_id for m in BASE_MODELS]


def test_model_ids_are_unique():
    assert len(MODEL_IDS) == len(set(MODEL_IDS))


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_every_base_model_resolves_its_defaults(model_id):
    # Given a supported base model and no hyperparameters
    model = base_model(model_id)

    # When its hyperparameters are resolved without and with validation data
    without = model.resolve_hyperparameters({}, has_validation_data=False)
    with_validation = model.resolve_hyperparameters({}, has_validation_data=True)

    # Then every hyperparameter with a default is filled in, as an in-range string Bedrock accepts
    assert model is base_model(model_id)
    for spec in model.hyperparameters:
        assert spec.default is not None, f"{model_id}.{spec.name} has no default"
        assert spec.minimum <= spec.default <= spec.maximum
        assert without[spec.name] == spec.normalize(without[spec.name], "x")
        assert float(without[spec.name]) == pytest.approx(spec.default)
        if spec.only_without_validation:
            assert spec.name not in with_validation
        else:
            assert with_validation[spec.name] == without[spec.name]
    # and every customization type it lists has a data format
    assert model.customization_types
    for ctype in model.customization_types:
        assert isinstance(model.data_format(ctype), DataFormat)


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("amazon.titan-text-express-v1:0:8k", "amazon.titan-text-express-v1"),
        ("amazon.titan-text-lite-v1:0:4k", "amazon.titan-text-lite-v1"),
        ("amazon.titan-text-express-v1", "amazon.titan-text-express-v1"),
        ("meta.llama3-1-8b-instruct-v1:0:128k", "meta.llama3-1-8b-instruct-v1:0"),
    ],
)
def test_base_model_accepts_context_length_suffixes(model_id, expected):
    assert base_model(model_id).model_id == expected


@pytest.mark.parametrize("model_id", ["amazon.titan-text-express-v2", "amazon.titan-text-express-v1x", "", "gpt-4"])
def test_unknown_base_model_is_rejected_listing_the_allowed_ids(model_id):
    with pytest.raises(SettingsError) as caught:
        base_model(model_id)
    message = str(caught.value)
    assert message.startswith(f"settings.base_model_id: {model_id!r} is not a supported base model; allowed: ")
    for allowed in MODEL_IDS:
        assert allowed in message


def test_unsupported_customization_type_names_the_setting_and_the_allowed_types():
    claude = base_model("anthropic.claude-3-haiku-20240307-v1:0")
    with pytest.raises(SettingsError) as caught:
        claude.data_format(CustomizationType.CONTINUED_PRE_TRAINING)
    assert str(caught.value) == (
        "settings.customization_type: CONTINUED_PRE_TRAINING is not supported by "
        "anthropic.claude-3-haiku-20240307-v1:0; allowed: FINE_TUNING, DISTILLATION"
    )


def test_titan_express_and_lite_support_continued_pre_training_with_input_records():
    for model_id in ("amazon.titan-text-express-v1", "amazon.titan-text-lite-v1"):
        model = base_model(model_id)
        assert model.data_format("CONTINUED_PRE_TRAINING") is DataFormat.CONTINUED_PRE_TRAINING
        assert model.data_format("FINE_TUNING") is DataFormat.PROMPT_COMPLETION


# ---- hyperparameter normalisation ----

EPOCHS = HyperParameter("epochCount", int, 1, 10, 5)
RATE = HyperParameter("learningRate", float, 5e-6, 0.1, 1e-4)


@pytest.mark.parametrize(
    ("spec", "given", "expected"),
    [
        (EPOCHS, 3, "3"),
        (EPOCHS, "3", "3"),
        (EPOCHS, "3.0", "3"),
        (EPOCHS, 3.0, "3"),
        (EPOCHS, " 10 ", "10"),
        (RATE, "0.0001", "0.0001"),
        (RATE, 1e-5, "1e-05"),
        (RATE, "1e-5", "1e-05"),
        (RATE, "0.1", "0.1"),
        (HyperParameter("learningRateMultiplier", float, 0.1, 2.0, 1.0), "2", "2"),
    ],
)
def test_numbers_and_number_strings_normalise_to_the_string_bedrock_takes(spec, given, expected):
    assert spec.normalize(given, "settings.hyperparameters.x") == expected


@pytest.mark.parametrize(
    ("spec", "given", "problem"),
    [
        (EPOCHS, True, "True is not a number"),
        (EPOCHS, False, "False is not a number"),
        (EPOCHS, "three", "'three' is not a number"),
        (EPOCHS, None, "None is not a number"),
        (EPOCHS, [3], "[3] is not a number"),
        (EPOCHS, "nan", "'nan' is not finite"),
        (RATE, float("inf"), "inf is not finite"),
        (EPOCHS, 2.5, "2.5 is not a whole number"),
        (EPOCHS, "2.5", "'2.5' is not a whole number"),
        (EPOCHS, 0, "0 is out of range"),
        (EPOCHS, "11", "'11' is out of range"),
        (RATE, 0.5, "0.5 is out of range"),
        (RATE, "1e-7", "'1e-7' is out of range"),
    ],
)
def test_wrong_hyperparameter_values_name_the_setting_and_the_allowed_range(spec, given, problem):
    with pytest.raises(SettingsError) as caught:
        spec.normalize(given, f"settings.hyperparameters.{spec.name}")
    allowed = "int from 1 to 10" if spec is EPOCHS else "float from 5e-06 to 0.1"
    assert str(caught.value) == f"settings.hyperparameters.{spec.name}: {problem}; allowed: {allowed}"


def test_a_fixed_value_range_is_described_as_equal_to():
    llama = base_model("meta.llama3-1-8b-instruct-v1:0")
    with pytest.raises(
        SettingsError, match=r"settings\.hyperparameters\.batchSize: 2 is out of range; allowed: int equal to 1$"
    ):
        llama.resolve_hyperparameters({"batchSize": 2}, has_validation_data=False)


@given(st.integers(min_value=-1000, max_value=1000))
def test_int_hyperparameters_accept_exactly_their_range(number):
    if 1 <= number <= 10:
        assert EPOCHS.normalize(str(number), "w") == str(number)
        assert EPOCHS.normalize(number, "w") == str(number)
    else:
        with pytest.raises(SettingsError, match="out of range"):
            EPOCHS.normalize(number, "w")


@given(st.floats(min_value=5e-6, max_value=0.1, allow_nan=False))
def test_float_hyperparameters_round_trip_through_their_string(number):
    text = RATE.normalize(number, "w")
    assert float(text) == number
    assert RATE.normalize(text, "w") == text


def test_given_hyperparameters_override_defaults_and_the_rest_keep_them():
    express = base_model("amazon.titan-text-express-v1")
    resolved = express.resolve_hyperparameters({"epochCount": "2", "batchSize": 4}, has_validation_data=False)
    assert resolved == {"epochCount": "2", "batchSize": "4", "learningRate": "1e-05", "learningRateWarmupSteps": "5"}


def test_unknown_hyperparameter_names_it_and_lists_the_known_ones():
    express = base_model("amazon.titan-text-express-v1")
    with pytest.raises(SettingsError) as caught:
        express.resolve_hyperparameters({"epochs": 2}, has_validation_data=False)
    assert str(caught.value) == (
        "settings.hyperparameters.epochs: unknown for amazon.titan-text-express-v1; "
        "allowed: batchSize, epochCount, learningRate, learningRateWarmupSteps"
    )


@pytest.mark.parametrize("model_id", ["cohere.command-text-v14", "cohere.command-light-text-v14"])
def test_cohere_eval_percentage_applies_only_without_validation_data(model_id):
    cohere = base_model(model_id)
    # Without validation data: the default (20) is sent, and a given value is checked.
    assert cohere.resolve_hyperparameters({}, has_validation_data=False)["evalPercentage"] == "20"
    assert cohere.resolve_hyperparameters({"evalPercentage": 10}, has_validation_data=False)["evalPercentage"] == "10"
    with pytest.raises(SettingsError, match=r"settings\.hyperparameters\.evalPercentage: 60 is out of range"):
        cohere.resolve_hyperparameters({"evalPercentage": 60}, has_validation_data=False)
    # With validation data: never sent, and giving it is an error that says what to do.
    assert "evalPercentage" not in cohere.resolve_hyperparameters({}, has_validation_data=True)
    with pytest.raises(SettingsError) as caught:
        cohere.resolve_hyperparameters({"evalPercentage": 10}, has_validation_data=True)
    assert str(caught.value) == (
        "settings.hyperparameters.evalPercentage: only allowed when no validation data is given; "
        "remove it or remove the validation file"
    )


def test_cohere_command_batch_size_is_fixed_and_light_has_a_range():
    assert base_model("cohere.command-text-v14").hyperparameter("batchSize") == HyperParameter(
        "batchSize", int, 8, 8, 8
    )
    light = base_model("cohere.command-light-text-v14")
    assert light.resolve_hyperparameters({"batchSize": 32}, has_validation_data=False)["batchSize"] == "32"
    with pytest.raises(SettingsError, match="allowed: int from 8 to 32"):
        light.resolve_hyperparameters({"batchSize": 33}, has_validation_data=False)


# ---- token limits ----


@pytest.mark.parametrize(
    ("model_id", "batch_size", "limit"),
    [
        ("amazon.titan-text-express-v1", None, 4096),
        ("amazon.titan-text-express-v1", "1", 4096),
        ("amazon.titan-text-express-v1", "2", 2048),
        ("amazon.titan-text-express-v1", "4", 2048),
        ("amazon.titan-text-express-v1", "64", 2048),
        ("amazon.titan-text-lite-v1", "1", 4096),
        ("amazon.titan-text-lite-v1", "2", 4096),
        ("amazon.titan-text-lite-v1", "3", 2048),
        ("amazon.titan-text-lite-v1", "6", 2048),
        ("amazon.titan-text-premier-v1:0", "1", 4096),
        ("meta.llama3-2-90b-instruct-v1:0", "1", 10_000),
        ("meta.llama3-2-11b-instruct-v1:0", "1", 16_000),
        ("anthropic.claude-3-haiku-20240307-v1:0", "32", 32_000),
    ],
)
def test_titan_token_limit_depends_on_batch_size(model_id, batch_size, limit):
    hyperparameters = {} if batch_size is None else {"batchSize": batch_size}
    assert base_model(model_id).token_limit(hyperparameters) == limit


def test_batch_sizes_beyond_the_last_band_take_its_limit():
    limits = TokenLimits(max_total=4096, by_batch_size=((1, 4096), (4, 2048)))
    assert limits.total_for_batch(100) == 2048
    assert limits.total_for_batch(None) == 4096


def test_cohere_counts_input_and_output_tokens_separately():
    tokens = base_model("cohere.command-text-v14").tokens
    assert (tokens.max_input, tokens.max_output) == (4096, 2048)


@pytest.mark.parametrize(
    ("model_id", "minimum", "combined"),
    [
        ("meta.llama3-1-8b-instruct-v1:0", 1, 100),
        ("anthropic.claude-3-haiku-20240307-v1:0", 32, None),
        ("amazon.nova-micro-v1:0", 8, None),
    ],
)
def test_record_minimums(model_id, minimum, combined):
    records = base_model(model_id).records
    assert (records.min_training, records.min_combined) == (minimum, combined)


def test_nova_reserves_its_prompt_markers_in_both_cases():
    reserved = base_model("amazon.nova-lite-v1:0").reserved_strings
    for marker in ("System:", "SYSTEM:", "Assistant:", "ASSISTANT:", "[EOS]", "<image>", "<IMAGE>"):
        assert marker in reserved


# ---- what the evaluation calls the base model by ----

LLAMA_32 = "meta.llama3-2-3b-instruct-v1:0"


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("us-east-1", f"us.{LLAMA_32}"),
        ("us-west-2", f"us.{LLAMA_32}"),
        ("us-gov-west-1", f"us-gov.{LLAMA_32}"),
        ("eu-central-1", f"eu.{LLAMA_32}"),
        ("ap-northeast-1", f"apac.{LLAMA_32}"),
    ],
)
def test_a_base_served_only_through_a_profile_is_called_by_its_geographys_profile(region, expected):
    assert base_invoke_id(base_model(LLAMA_32), region) == expected


def test_other_bases_are_called_by_their_own_id_and_a_configured_id_always_wins():
    titan = base_model("amazon.titan-text-express-v1")
    assert base_invoke_id(titan, "eu-west-1") == "amazon.titan-text-express-v1"
    profile = "arn:aws:bedrock:sa-east-1:123456789012:application-inference-profile/abc123"
    assert base_invoke_id(base_model(LLAMA_32), "sa-east-1", profile) == profile


def test_no_known_profile_for_the_region_asks_for_one():
    with pytest.raises(SettingsError, match=r"^settings\.evaluation\.base_invoke_id: .* region sa-east-1; give"):
        base_invoke_id(base_model(LLAMA_32), "sa-east-1")


def test_llama_3_2_and_3_3_and_nova_2_lite_are_the_bases_served_only_through_profiles():
    through_profile = {m.model_id for m in BASE_MODELS if m.on_demand_through_profile}
    assert through_profile == {
        "amazon.nova-2-lite-v1:0",
        "meta.llama3-2-1b-instruct-v1:0",
        "meta.llama3-2-3b-instruct-v1:0",
        "meta.llama3-2-11b-instruct-v1:0",
        "meta.llama3-2-90b-instruct-v1:0",
        "meta.llama3-3-70b-instruct-v1:0",
    }


def test_on_demand_deployment_is_for_the_bases_the_user_guide_lists():
    # "Deploy a custom model for on-demand inference": Nova Micro, Lite and Pro (read 2026-12-01)
    assert {m.model_id for m in BASE_MODELS if m.on_demand_deployment} == {
        "amazon.nova-micro-v1:0",
        "amazon.nova-lite-v1:0",
        "amazon.nova-pro-v1:0",
    }


@pytest.mark.parametrize(
    ("listed", "base"),
    [
        # The ids Bedrock lists for customization carry a context suffix
        ("amazon.nova-micro-v1:0:128k", "amazon.nova-micro-v1:0"),
        ("amazon.nova-lite-v1:0:300k", "amazon.nova-lite-v1:0"),
        ("anthropic.claude-3-haiku-20240307-v1:0:200k", "anthropic.claude-3-haiku-20240307-v1:0"),
        ("meta.llama3-2-1b-instruct-v1:0:128k", "meta.llama3-2-1b-instruct-v1:0"),
        ("amazon.titan-text-express-v1:0:8k", "amazon.titan-text-express-v1"),
    ],
)
def test_the_ids_with_the_context_suffix_bedrock_lists_are_accepted(listed, base):
    assert base_model(listed).model_id == base
