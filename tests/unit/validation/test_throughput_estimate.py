"""The estimate of the hours a run's throughput will bill: until the decision, and its whole life if kept."""

from __future__ import annotations

import json
from typing import Any

import pytest

from customizer.models import Run
from customizer.run import estimate_throughput, validate_run
from customizer.settings import RunSettings, SweeperSettings
from customizer.validation.cost import (
    CALL_OVERHEAD_SECONDS,
    OUTPUT_TOKENS_PER_SECOND,
    PROVISIONING_HOURS,
    estimate_throughput_hours,
)
from tests.unit.validation.corpus import jsonl, pair

SWEEPER = SweeperSettings(max_throughput_hours=24, schedule_minutes=60)


def _settings(**given: Any) -> RunSettings:
    return RunSettings.model_validate(given)


@pytest.fixture
def validate_with_test_set(s3, data_bucket, artifacts_bucket):
    """Validate a run of 10 training and ``test`` test records with ``settings`` and ``sweeper``."""

    def validate(name: str, test: int, settings: dict[str, Any], sweeper: SweeperSettings) -> Run:
        for role, count in (("train", 10), ("test", test)):
            body = jsonl([pair(i) for i in range(count)])
            s3.put_object(Bucket=data_bucket, Key=f"runs/{name}/{role}.jsonl", Body=body)
        request = {
            "run_name": name,
            "training_data": f"s3://{data_bucket}/runs/{name}/train.jsonl",
            "test_data": f"s3://{data_bucket}/runs/{name}/test.jsonl",
            "settings": settings,
        }
        return validate_run(
            request,
            execution_name=f"exec-{name}",
            defaults={},
            data_bucket=data_bucket,
            artifacts_bucket=artifacts_bucket,
            sweeper=sweeper,
        )

    return validate


def test_the_hours_until_the_decision_are_provisioning_one_check_and_the_evaluation():
    # 100 examples, 8 at a time: 13 rounds of 1 s + 60 tokens / 30 tokens a second = 3 s each
    estimate = estimate_throughput_hours(
        serving="provisioned_throughput",
        policy="delete",
        test_records=250,
        max_examples=100,
        max_tokens=60,
        concurrency=8,
        check_seconds=360,
        usd_per_hour=20.0,
    )
    assert CALL_OVERHEAD_SECONDS + 60 / OUTPUT_TOKENS_PER_SECOND == 3.0
    assert estimate.evaluated_examples == 100
    assert estimate.evaluation_hours == round(13 * 3 / 3600, 4)
    assert estimate.hours_until_decision == round(PROVISIONING_HOURS + 0.1 + 13 * 3 / 3600, 4)
    assert estimate.usd_until_decision == round(estimate.hours_until_decision * 20, 2)
    # deleted after the evaluation: keeping it is not on the table
    assert estimate.hours_if_kept == estimate.hours_until_decision
    assert estimate.kept_until.startswith("never kept")


def test_a_kept_throughput_lives_until_the_sweeper_deletes_it_at_the_next_sweep():
    estimate = estimate_throughput(_settings(throughput_policy="keep"), 150, 21.18, SWEEPER)
    assert estimate.hours_if_kept == 25.0
    assert estimate.usd_if_kept == round(25 * 21.18, 2)
    assert "24 h after its creation" in estimate.kept_until


def test_nothing_ends_a_kept_throughput_when_the_sweeper_only_reports():
    dry = SWEEPER.model_copy(update={"dry_run": True})
    for sweeper in (dry, None):
        estimate = estimate_throughput(_settings(throughput_policy="keep_if_better"), 150, 21.18, sweeper)
        assert (estimate.hours_if_kept, estimate.usd_if_kept) == (None, None)
        assert estimate.hours_until_decision > PROVISIONING_HOURS


def test_a_commitment_bills_its_whole_term_and_has_no_price_in_the_table():
    settings = _settings(throughput_policy="keep", commitment="SixMonths")
    estimate = estimate_throughput(settings, 150, 21.18, SWEEPER)
    assert estimate.hours_if_kept == 4380.0
    assert (estimate.usd_per_hour, estimate.usd_until_decision, estimate.usd_if_kept) == (None, None, None)


def test_more_model_units_evaluate_faster_and_a_configured_concurrency_wins():
    one = estimate_throughput(_settings(model_units=1, evaluation={"max_examples": 1000}), 1000, 20.0, SWEEPER)
    two = estimate_throughput(_settings(model_units=2, evaluation={"max_examples": 1000}), 1000, 40.0, SWEEPER)
    assert (one.concurrency, two.concurrency) == (32, 64)
    assert two.evaluation_hours < one.evaluation_hours
    fixed = estimate_throughput(_settings(evaluation={"concurrency": 4}), 100, 20.0, SWEEPER)
    assert fixed.concurrency == 4


def test_an_on_demand_deployment_bills_no_throughput_hours():
    settings = _settings(base_model_id="amazon.nova-micro-v1:0", serving="on_demand", throughput_policy="keep")
    estimate = estimate_throughput(settings, 150, 21.18, SWEEPER)
    assert not estimate.billed_hourly
    assert (estimate.hours_until_decision, estimate.hours_if_kept, estimate.usd_if_kept) == (0.0, 0.0, 0.0)


def test_the_pipeline_puts_the_estimate_in_the_run_and_its_report(s3, artifacts_bucket, validate_with_test_set):
    # Given a run with a test set and the stack's sweeper
    run = validate_with_test_set("e", 40, {"throughput_policy": "keep_if_better"}, SWEEPER)
    # Then the run carries it, and both report pages show it
    assert run.throughput_estimate is not None
    assert run.throughput_estimate.evaluated_examples == 40
    assert run.throughput_estimate.hours_if_kept == 25.0
    prefix = f"runs/{run.run_id}/validation/"
    report = json.loads(s3.get_object(Bucket=artifacts_bucket, Key=prefix + "report.json")["Body"].read())
    assert report["throughput_estimate"] == run.throughput_estimate.as_dict()
    page = s3.get_object(Bucket=artifacts_bucket, Key=prefix + "report.md")["Body"].read().decode()
    assert "## Throughput hours (estimate)" in page
    assert "| evaluating 40 test examples, 32 at a time |" in page
    assert "| if kept (keep_if_better): until the sweeper: 24 h after its creation, at the next sweep | 25.00 h" in page


@pytest.mark.parametrize("policy", ["keep", "keep_if_better", "delete"])
def test_kept_hours_are_never_fewer_than_the_hours_until_the_decision(policy):
    # however short the sweeper's lifetime: an upper bound of what the run pays either way
    sweeper = SweeperSettings(max_throughput_hours=0.1, schedule_minutes=1)
    estimate = estimate_throughput(_settings(throughput_policy=policy), 5000, 20.0, sweeper)
    assert estimate.hours_if_kept is not None and estimate.hours_if_kept >= estimate.hours_until_decision


def test_a_sweeper_lifetime_shorter_than_the_evaluation_is_a_warning(s3, artifacts_bucket, validate_with_test_set):
    # Given 2,000 test examples evaluated one at a time (about 5 h) and a sweeper that deletes after 1 h
    settings = {"evaluation": {"max_examples": 2000, "concurrency": 1}}
    run = validate_with_test_set("w", 2000, settings, SweeperSettings(max_throughput_hours=1))
    # Then the run goes ahead, and its report warns where the problem is
    assert run.throughput_estimate is not None and run.throughput_estimate.hours_until_decision > 5
    key = f"runs/{run.run_id}/validation/report.json"
    report = json.loads(s3.get_object(Bucket=artifacts_bucket, Key=key)["Body"].read())
    (short,) = [w for w in report["warnings"] if w["kind"] == "short_lifetime"]
    (warning,) = short["examples"]
    assert warning["field"] == "pipeline.sweeper.max_throughput_hours"
    assert warning["message"].startswith("1 h, but the run needs its throughput for about 5.")
