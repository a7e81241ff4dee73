"""Settings checked with the family's knowledge, the cost estimate, and the report's size and renderings."""

from __future__ import annotations

import json

import pytest

from customizer.families import PRICES_AS_OF
from customizer.settings import RunSettings
from customizer.validation import CheckSettings, Role, validate_data
from customizer.validation import report as report_module
from tests.unit.validation.corpus import COHERE, TITAN, check, only, pair, source

# ---- settings ----


def test_every_wrong_hyperparameter_is_named_at_once():
    report = check(
        [pair(1)], TITAN, hyperparameters={"epochCount": 0, "batchSize": "big", "learningRate": 0.1, "epochs": 2}
    )
    assert report.errors.counts == {"settings": 3}
    fields = sorted(f.field for f in report.errors)  # type: ignore[type-var]
    assert fields == [
        "settings.hyperparameters.batchSize",
        "settings.hyperparameters.epochCount",
        "settings.hyperparameters.epochs",
    ]
    messages = {f.field: f.message for f in report.errors}
    assert messages["settings.hyperparameters.epochCount"] == "0 is out of range; allowed: int from 1 to 10"
    assert messages["settings.hyperparameters.epochs"].startswith("unknown for amazon.titan-text-express-v1; allowed:")
    # The right ones still apply, and the data is still checked.
    assert report.hyperparameters["learningRate"] == "0.1"
    assert report.file("training").checked  # type: ignore[union-attr]


def test_a_customization_type_the_model_does_not_support_stops_before_the_data():
    report = check([pair(1)], COHERE, "CONTINUED_PRE_TRAINING")
    finding = only(report, "settings")
    assert (finding.field, finding.message) == (
        "settings.customization_type",
        "CONTINUED_PRE_TRAINING is not supported by cohere.command-text-v14; allowed: FINE_TUNING",
    )
    assert not report.file("training").checked  # type: ignore[union-attr]


def test_an_unknown_customization_type_is_named():
    report = check([pair(1)], TITAN, "IMPORTED")
    assert only(report, "settings").message == (
        "'IMPORTED'; allowed: FINE_TUNING, CONTINUED_PRE_TRAINING, DISTILLATION, REINFORCEMENT_FINE_TUNING"
    )


def test_an_unknown_base_model_is_named():
    report = check([pair(1)], "amazon.titan-text-ultra-v9")
    assert only(report, "settings").field == "settings.base_model_id"


def test_eval_percentage_goes_with_validation_data_or_not_at_all():
    records = [pair(i) for i in range(10)]
    assert check(records, COHERE, hyperparameters={"evalPercentage": 10}).valid
    report = check(records, COHERE, validation=[pair(99)], hyperparameters={"evalPercentage": 10})
    assert only(report, "settings").field == "settings.hyperparameters.evalPercentage"
    assert "only allowed when no validation data is given" in only(report, "settings").message


# ---- cost ----


def test_the_cost_estimate_uses_the_family_prices_and_the_epochs():
    records = [pair(i, "q" * 299, "a" * 2999) for i in range(10)]  # 100 + 1000 + 8 tokens each
    report = check(records, TITAN, hyperparameters={"epochCount": 3})
    cost = report.cost
    assert cost is not None
    assert cost.training_tokens == 11_080 and cost.epochs == 3
    assert cost.training_usd == round(11_080 * 3 / 1000 * 0.008, 2)
    assert (cost.storage_usd_per_month, cost.throughput_usd_per_hour) == (1.95, 20.5)
    assert (cost.prices_as_of, cost.overridden) == (PRICES_AS_OF, ())


def test_prices_can_be_overridden_in_the_settings():
    prices = RunSettings.model_validate({"prices": {"training_per_1k_tokens": 1.0, "as_of": "2026-01-15"}}).prices
    assert prices is not None
    settings = CheckSettings(TITAN, "FINE_TUNING", {"epochCount": 1}, model_units=2, prices=prices.model_dump())
    report = validate_data(settings, [source(Role.TRAINING, b'{"prompt": "abc", "completion": "abc"}\n')])
    cost = report.cost
    assert cost is not None
    assert cost.training_usd == round(10 / 1000 * 1.0, 2)
    assert cost.throughput_usd_per_hour == 41.0  # two model units at the list price
    assert (cost.prices_as_of, cost.overridden) == ("2026-01-15", ("training_per_1k_tokens",))


def test_negative_prices_are_refused_by_the_settings():
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        RunSettings.model_validate({"prices": {"storage_per_month": -1}})


# ---- the report ----


def test_the_report_stays_small_however_many_errors():
    bad = (
        b'{"prompt": "q"}\n' * 20_000
        + b"nope\n" * 5_000
        + b'{"prompt": "q", "completion": "a", "x": "'
        + b"k" * 10_000
        + b'"}\n'
    )
    report = check(bad, TITAN)
    assert report.errors.counts == {"missing_key": 20_000, "invalid_json": 5_000, "unknown_key": 1}
    assert report.errors.total == 25_001
    as_json = json.dumps(report.as_dict())
    assert len(as_json) < 20_000
    kept = {entry["kind"]: len(entry["examples"]) for entry in report.as_dict()["errors"]}
    assert kept == {"missing_key": 5, "invalid_json": 5, "unknown_key": 1}
    assert len(report.to_markdown()) < 20_000
    summary = report.summary()
    assert summary.endswith("; 24996 more errors")
    assert summary.startswith("train.jsonl line 1: completion: required key is missing; train.jsonl line 2: ")


def test_long_keys_and_values_are_clipped_in_findings():
    report = check([{"prompt": "q", "completion": "a", "k" * 5000: 1}], TITAN)
    finding = only(report, "unknown_key")
    assert finding.field is not None and len(finding.field) == report_module.TEXT_LIMIT


def test_the_json_report_holds_verdict_counts_files_tokens_and_cost():
    report = check([pair(1), pair(1)], TITAN, test=[pair(7)])
    data = json.loads(json.dumps(report.as_dict()))
    assert (data["verdict"], data["valid"], data["error_count"], data["warning_count"]) == (
        "valid, with warnings",
        True,
        0,
        1,
    )
    assert data["warnings"] == [
        {
            "kind": "duplicate_record",
            "count": 1,
            "examples": [
                {
                    "kind": "duplicate_record",
                    "file": "train.jsonl",
                    "line": 2,
                    "field": None,
                    "message": "the same record as line 1",
                }
            ],
        }
    ]
    training, test = data["files"]
    assert (training["role"], training["records"], training["tokens"]["records"]) == ("training", 2, 2)
    assert (test["role"], test["tokens"]) == ("test", None)
    assert data["cost"]["prices_as_of"] == PRICES_AS_OF
    assert data["token_limit"] == 4096 and data["data_format"] == "prompt-completion"
    assert "one per 3 characters" in data["token_estimator"]


def test_the_markdown_report_reads_as_a_page():
    report = check([{"prompt": "a | b"}, pair(2)], TITAN)
    page = report.to_markdown()
    assert page.startswith("# Pre-flight check: invalid\n")
    assert "## Files" in page and "## Errors (1)" in page and "## Warnings (0)" in page
    assert "### missing_key: a required key is missing (1)" in page
    assert "| train.jsonl | 1 | completion | required key is missing |" in page
    assert "## Cost estimate (USD)" in page and "## How tokens are estimated" in page
