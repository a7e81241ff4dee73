"""Run and deployment settings: defaults, merge order, and messages that name the setting."""

from __future__ import annotations

import pytest

from customizer.errors import SettingsError
from customizer.families import CustomizationType
from customizer.settings import (
    LOG_RETENTION_DAYS,
    DeploymentSettings,
    RunSettings,
    SmokeSettings,
    ThroughputPolicy,
    check_family,
    deep_merge,
    parse_deployment_settings,
    resolve_run_settings,
)


def test_the_defaults_are_valid_and_what_the_docs_say():
    settings = RunSettings()
    assert settings.base_model_id == "amazon.titan-text-express-v1"
    assert settings.customization_type is CustomizationType.FINE_TUNING
    assert settings.throughput_policy is ThroughputPolicy.KEEP_IF_BETTER
    assert settings.commitment is None
    assert settings.model_units == 1
    assert (settings.poll.job_seconds, settings.poll.throughput_seconds) == (300, 60)
    assert (settings.timeouts.job_hours, settings.timeouts.throughput_minutes) == (48.0, 120.0)
    assert check_family(settings, has_validation_data=False)["epochCount"] == "5"
    assert resolve_run_settings({}) == settings
    deployment = parse_deployment_settings(None)
    assert deployment == DeploymentSettings()
    assert deployment.defaults == settings
    assert deployment.run_prefix == "runs/"


def test_run_settings_round_trip_through_json():
    settings = resolve_run_settings({}, {"throughput_policy": "keep", "commitment": "OneMonth"})
    assert RunSettings.model_validate_json(settings.model_dump_json()) == settings


# ---- merge order ----


def test_input_overrides_run_config_which_overrides_defaults():
    # Given defaults, a run config uploaded with the data, and the execution input's settings
    defaults = {
        "model_units": 1,
        "hyperparameters": {"epochCount": 2, "batchSize": 1},
        "evaluation": {"max_examples": 10, "max_tokens": 100},
    }
    run_config = {"model_units": 2, "hyperparameters": {"epochCount": 3}, "evaluation": {"max_examples": 20}}
    execution_input = {"model_units": 3, "hyperparameters": {"batchSize": 4}}

    # When they are merged
    settings = resolve_run_settings(defaults, run_config, execution_input)

    # Then later layers win, nested objects merge key by key, untouched keys keep the earlier value
    assert settings.model_units == 3
    assert settings.hyperparameters == {"epochCount": 3, "batchSize": 4}
    assert settings.evaluation.max_examples == 20
    assert settings.evaluation.max_tokens == 100
    assert resolve_run_settings(defaults, run_config).model_units == 2


def test_deep_merge_replaces_non_objects_and_leaves_its_inputs_alone():
    base = {"a": {"b": 1, "c": 2}, "d": [1, 2], "e": 1}
    override = {"a": {"c": 3}, "d": [3], "e": {"f": 1}}
    assert deep_merge(base, override) == {"a": {"b": 1, "c": 3}, "d": [3], "e": {"f": 1}}
    assert base == {"a": {"b": 1, "c": 2}, "d": [1, 2], "e": 1}
    assert override == {"a": {"c": 3}, "d": [3], "e": {"f": 1}}


def test_settings_that_are_not_an_object_are_rejected():
    with pytest.raises(SettingsError, match=r"^settings: must be a JSON object, not list$"):
        resolve_run_settings({}, [1, 2])  # type: ignore[arg-type]


# ---- wrong values ----


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            {"throughput_policy": "nope"},
            """settings.throughput_policy: Input should be 'keep', 'delete' or 'keep_if_better' (got "nope")""",
        ),
        (
            {"throughput_policy": "KEEP"},
            "settings.throughput_policy: Input should be 'keep', 'delete' or 'keep_if_better'",
        ),
        ({"epochCount": 2}, "settings.epochCount: unknown setting (got 2)"),
        ({"evaluation": {"max_example": 5}}, "settings.evaluation.max_example: unknown setting (got 5)"),
        (
            {"commitment": "OneYear", "throughput_policy": "keep"},
            "settings.commitment: Input should be 'OneMonth' or 'SixMonths'",
        ),
        (
            {"customization_type": "IMPORTED"},
            "settings.customization_type: Input should be 'FINE_TUNING', 'CONTINUED_PRE_TRAINING', 'DISTILLATION' or "
            "'REINFORCEMENT_FINE_TUNING'",
        ),
        ({"model_units": 0}, "settings.model_units: Input should be greater than or equal to 1 (got 0)"),
        ({"model_units": 101}, "settings.model_units: Input should be less than or equal to 100 (got 101)"),
        (
            {"evaluation": {"temperature": 1.5}},
            "settings.evaluation.temperature: Input should be less than or equal to 1",
        ),
        (
            {"evaluation": {"concurrency": 0}},
            "settings.evaluation.concurrency: Input should be greater than or equal to 1",
        ),
        (
            {"poll": {"job_seconds": "often"}},
            """settings.poll.job_seconds: Input should be a valid integer, unable to parse string as an integer (got "often")""",
        ),
        ({"timeouts": {"job_hours": 0}}, "settings.timeouts.job_hours: Input should be greater than 0 (got 0)"),
        (
            {"timeouts": {"throughput_minutes": 2000}},
            "settings.timeouts.throughput_minutes: Input should be less than or equal to 1440",
        ),
        ({"hyperparameters": [1]}, "settings.hyperparameters: Input should be a valid dictionary"),
        (
            {"evaluation": "fast"},
            "settings.evaluation: Input should be a valid dictionary or instance of EvaluationSettings",
        ),
    ],
)
def test_every_wrong_value_names_the_setting_and_what_is_allowed(override, expected):
    with pytest.raises(SettingsError) as caught:
        resolve_run_settings({}, override)
    assert str(caught.value).startswith(expected)


def test_several_wrong_values_are_all_reported():
    with pytest.raises(SettingsError) as caught:
        resolve_run_settings({}, {"model_units": 0, "throughput_policy": "x", "colour": "red"})
    parts = str(caught.value).split("; ")
    assert sorted(p.split(":")[0] for p in parts) == [
        "settings.colour",
        "settings.model_units",
        "settings.throughput_policy",
    ]


@pytest.mark.parametrize("policy", ["delete", "keep_if_better"])
@pytest.mark.parametrize("commitment", ["OneMonth", "SixMonths"])
def test_a_committed_throughput_must_be_kept(commitment, policy):
    with pytest.raises(SettingsError) as caught:
        resolve_run_settings({}, {"commitment": commitment, "throughput_policy": policy})
    assert str(caught.value) == (
        "settings: a throughput with a commitment cannot be deleted before its term ends; "
        "set throughput_policy to 'keep' or remove commitment"
    )


def test_a_committed_throughput_with_keep_is_accepted():
    settings = resolve_run_settings({}, {"commitment": "SixMonths", "throughput_policy": "keep"})
    assert settings.commitment == "SixMonths"


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_hyperparameter_is_rejected_not_read_as_a_number(value):
    # JSON true is not an epoch count: it must not become "1" on its way to Bedrock.
    settings = resolve_run_settings({}, {"hyperparameters": {"epochCount": value}})
    with pytest.raises(SettingsError) as caught:
        check_family(settings, has_validation_data=False)
    assert (
        str(caught.value)
        == f"settings.hyperparameters.epochCount: {value!r} is not a number; allowed: int from 1 to 10"
    )


# ---- check_family ----


def test_check_family_returns_the_resolved_hyperparameters_as_strings():
    settings = resolve_run_settings(
        {}, {"base_model_id": "amazon.nova-lite-v1:0", "hyperparameters": {"epochCount": 3}}
    )
    assert check_family(settings, has_validation_data=False) == {
        "epochCount": "3",
        "learningRate": "1e-05",
        "learningRateWarmupSteps": "10",
    }


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            {"base_model_id": "amazon.titan-text-express-v9"},
            "settings.base_model_id: 'amazon.titan-text-express-v9' is not a supported base model; allowed: ",
        ),
        (
            {"base_model_id": "amazon.nova-lite-v1:0", "customization_type": "CONTINUED_PRE_TRAINING"},
            "settings.customization_type: CONTINUED_PRE_TRAINING is not supported by amazon.nova-lite-v1:0; allowed: FINE_TUNING",
        ),
        (
            {"hyperparameters": {"epochCount": 11}},
            "settings.hyperparameters.epochCount: 11 is out of range; allowed: int from 1 to 10",
        ),
        (
            {"hyperparameters": {"epochs": 1}},
            "settings.hyperparameters.epochs: unknown for amazon.titan-text-express-v1",
        ),
    ],
)
def test_check_family_errors_name_the_setting(override, expected):
    settings = resolve_run_settings({}, override)
    with pytest.raises(SettingsError) as caught:
        check_family(settings, has_validation_data=False)
    assert str(caught.value).startswith(expected)


@pytest.mark.parametrize(
    ("model", "most"),
    [
        ("amazon.titan-text-express-v1", 8192),
        ("amazon.titan-text-lite-v1", 4096),
        ("amazon.titan-text-premier-v1:0", 3072),
        ("meta.llama3-1-8b-instruct-v1:0", 2048),
        ("meta.llama2-13b-v1", 2048),
        ("cohere.command-text-v14", 4096),
        ("amazon.nova-micro-v1:0", 5000),
        ("anthropic.claude-3-haiku-20240307-v1:0", 4096),
    ],
)
def test_the_answer_length_is_checked_against_what_the_family_allows(model, most):
    assert (
        check_family(
            resolve_run_settings({}, {"base_model_id": model, "evaluation": {"max_tokens": most}}),
            has_validation_data=False,
        )
        is not None
    )
    settings = resolve_run_settings({}, {"base_model_id": model, "evaluation": {"max_tokens": most + 1}})
    with pytest.raises(SettingsError) as caught:
        check_family(settings, has_validation_data=False)
    assert str(caught.value) == (
        f"settings.evaluation.max_tokens: {most + 1} is more than {model} answers with (at most {most} tokens); "
        f"allowed: 1 to {most}"
    )


def test_check_family_can_name_the_deployment_defaults_instead():
    settings = resolve_run_settings({}, {"hyperparameters": {"epochCount": 0}})
    with pytest.raises(SettingsError) as caught:
        check_family(settings, has_validation_data=False, where="pipeline.defaults")
    assert (
        str(caught.value)
        == "pipeline.defaults.hyperparameters.epochCount: 0 is out of range; allowed: int from 1 to 10"
    )


# ---- deployment settings ----


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"notification_email": "not-an-address"}, "pipeline.notification_email: String should match pattern"),
        (
            {"execution_timeout_hours": 0},
            "pipeline.execution_timeout_hours: Input should be greater than or equal to 1",
        ),
        ({"run_prefix": "runs"}, "pipeline.run_prefix: String should match pattern"),
        ({"log_retention_days": 2}, "pipeline: log_retention_days must be one of 1, 3, 5, 7, 14, 30"),
        ({"unknown": 1}, "pipeline.unknown: unknown setting (got 1)"),
        ({"defaults": {"model_units": 0}}, "pipeline.defaults.model_units: Input should be greater than or equal to 1"),
        ({"defaults": {"throughput_polcy": "keep"}}, "pipeline.defaults.throughput_polcy: unknown setting"),
        (
            {"defaults": {"commitment": "OneMonth"}},
            "pipeline.defaults: a throughput with a commitment cannot be deleted before its term ends",
        ),
        (
            {"defaults": {"base_model_id": "nope"}},
            "pipeline.defaults.base_model_id: 'nope' is not a supported base model",
        ),
        (
            {"defaults": {"hyperparameters": {"epochCount": 99}}},
            "pipeline.defaults.hyperparameters.epochCount: 99 is out of range",
        ),
    ],
)
def test_deployment_setting_errors_are_prefixed_with_pipeline(context, expected):
    with pytest.raises(SettingsError) as caught:
        parse_deployment_settings(context)
    assert str(caught.value).startswith(expected)


def test_every_documented_log_retention_is_accepted():
    for days in LOG_RETENTION_DAYS:
        assert parse_deployment_settings({"log_retention_days": days}).log_retention_days == days


def test_the_execution_timeout_must_cover_the_job_and_throughput_timeouts():
    # 48 job hours + 120 throughput minutes = 50 hours
    assert parse_deployment_settings({"execution_timeout_hours": 50}).execution_timeout_hours == 50
    with pytest.raises(SettingsError) as caught:
        parse_deployment_settings({"execution_timeout_hours": 49})
    assert str(caught.value).startswith(
        "pipeline: execution_timeout_hours must be at least defaults.timeouts.job_hours plus "
        "defaults.timeouts.throughput_minutes"
    )
    shorter = {"execution_timeout_hours": 10, "defaults": {"timeouts": {"job_hours": 8, "throughput_minutes": 60}}}
    assert parse_deployment_settings(shorter).defaults.timeouts.job_hours == 8


def test_deployment_settings_accept_a_full_valid_context():
    settings = parse_deployment_settings(
        {
            "notification_email": "ops@example.com",
            "execution_timeout_hours": 100,
            "run_prefix": "uploads/runs/",
            "log_retention_days": 90,
            "defaults": {"base_model_id": "meta.llama3-1-8b-instruct-v1:0", "throughput_policy": "delete"},
        }
    )
    assert settings.notification_email == "ops@example.com"
    assert settings.defaults.throughput_policy is ThroughputPolicy.DELETE


def test_a_run_on_another_base_model_does_not_inherit_the_defaults_hyperparameters():
    # Given defaults for Titan with Titan's batchSize (which Nova does not know)
    defaults = {"base_model_id": "amazon.titan-text-express-v1", "hyperparameters": {"batchSize": 4, "epochCount": 3}}
    # When a run switches to Nova and sets only its learning rate
    settings = resolve_run_settings(
        defaults, {"base_model_id": "amazon.nova-micro-v1:0", "hyperparameters": {"learningRate": 0.00002}}
    )
    # Then only the run's own hyperparameters remain, and Nova's defaults fill in the rest
    assert settings.hyperparameters == {"learningRate": 0.00002}
    resolved = check_family(settings, has_validation_data=True)
    assert resolved == {"epochCount": "2", "learningRate": "2e-05", "learningRateWarmupSteps": "10"}


def test_a_run_on_the_defaults_base_model_merges_hyperparameters_key_by_key():
    defaults = {"base_model_id": "amazon.titan-text-express-v1", "hyperparameters": {"batchSize": 4, "epochCount": 3}}
    settings = resolve_run_settings(defaults, {"hyperparameters": {"epochCount": 5}})
    assert settings.hyperparameters == {"batchSize": 4, "epochCount": 5}


def test_hyperparameters_of_the_wrong_type_are_still_named_after_a_model_switch():
    with pytest.raises(SettingsError, match=r"settings\.hyperparameters"):
        resolve_run_settings({}, {"base_model_id": "amazon.nova-micro-v1:0", "hyperparameters": [1, 2]})


# ---- start small (smoke_test) ----


def test_the_smoke_test_is_off_by_default_with_100_records():
    assert RunSettings().smoke_test == SmokeSettings(enabled=False, records=100)


def test_the_smoke_test_can_be_turned_on_by_a_run():
    settings = resolve_run_settings({}, {"smoke_test": {"enabled": True}}, {"smoke_test": {"records": 250}})
    assert settings.smoke_test == SmokeSettings(enabled=True, records=250)


@pytest.mark.parametrize(("records", "bound"), [(0, "greater than or equal to 1"), (10_001, "less than or equal")])
def test_smoke_test_records_out_of_range_are_named(records, bound):
    with pytest.raises(SettingsError, match=rf"settings\.smoke_test\.records: Input should be {bound}"):
        resolve_run_settings({}, {"smoke_test": {"records": records}})


def test_an_unknown_smoke_test_setting_is_named():
    with pytest.raises(SettingsError, match=r"settings\.smoke_test\.epochs: unknown setting"):
        resolve_run_settings({}, {"smoke_test": {"epochs": 1}})


# ---- serving ----


def test_serving_defaults_to_provisioned_throughput():
    assert resolve_run_settings({}).serving == "provisioned_throughput"


def test_on_demand_serving_is_allowed_for_a_base_that_supports_it():
    settings = resolve_run_settings({}, {"base_model_id": "amazon.nova-lite-v1:0", "serving": "on_demand"})
    check_family(settings, has_validation_data=False)
    assert settings.serving == "on_demand"


def test_on_demand_serving_is_rejected_for_a_base_without_it():
    settings = resolve_run_settings({}, {"serving": "on_demand"})
    with pytest.raises(SettingsError) as caught:
        check_family(settings, has_validation_data=False)
    message = str(caught.value)
    assert message.startswith("settings.serving: 'on_demand' is not available")
    assert message.endswith(
        "bases that allow it: amazon.nova-micro-v1:0, amazon.nova-lite-v1:0, amazon.nova-pro-v1:0 "
        "(or use 'provisioned_throughput')"
    )


def test_an_unknown_serving_is_rejected():
    with pytest.raises(SettingsError, match=r"settings\.serving"):
        resolve_run_settings({}, {"serving": "serverless"})
