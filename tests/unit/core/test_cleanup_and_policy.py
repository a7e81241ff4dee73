"""Cleanup on failure paths, and the throughput policy after evaluation (stubbed Bedrock)."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from customizer.cleanup import clean_up
from customizer.models import AnyState, Decision, Evaluation, Job, ModelScore, Run, SmokePlan, Throughput
from customizer.policy import apply_policy, decide
from tests.unit.core.stubs import JOB_ARN, THROUGHPUT_ARN, job_response, throughput_response


def not_found(bedrock: Stubber, method: str, **params: str) -> None:
    bedrock.add_client_error(method, "ResourceNotFoundException", "not found", 404, expected_params=params or None)


def evaluation(custom: float, base: float, margin: float = 0.0) -> Evaluation:
    def score(model_id: str, accuracy: float) -> ModelScore:
        return ModelScore(model_id=model_id, examples=10, correct=round(accuracy * 10), errors=0, accuracy=accuracy)

    return Evaluation(
        custom=score(THROUGHPUT_ARN, custom),
        base=score("base", base),
        custom_beats_base=custom > base + margin,
        margin=margin,
        report_uri="s3://a/r.json",
        report_markdown_uri="s3://a/r.md",
    )


def tags(bedrock: Stubber, arn: str, execution: str | None) -> None:
    """The creator tag cleanup reads before it touches a job or throughput."""
    found = [{"key": "pipeline", "value": "BedrockCustomization"}]
    if execution is not None:
        found.append({"key": "execution", "value": execution})
    bedrock.add_response("list_tags_for_resource", {"tags": found}, {"resourceARN": arn})


def throughput(run: Run) -> Throughput:
    return Throughput(arn=THROUGHPUT_ARN, name=run.names.throughput_name, status="InService", model_units=1)


# ---- cleanup ----


def test_cleanup_without_a_run_touches_nothing(bedrock):
    # Validation failed: no $.run, so nothing was created (no Bedrock call is queued)
    assert clean_up(AnyState(run_name="bot")) == {"job": "no job", "throughput": "no throughput"}


def test_cleanup_finds_the_job_and_throughput_by_name_when_the_state_has_no_arns(bedrock, make_run):
    # Given a run whose job creation timed out before $.job was recorded, with a throughput by its name
    run = make_run()
    bedrock.add_response(
        "get_model_customization_job", job_response(run, "InProgress"), {"jobIdentifier": run.names.job_name}
    )
    tags(bedrock, JOB_ARN, run.execution_name)
    bedrock.add_response("stop_model_customization_job", {}, {"jobIdentifier": JOB_ARN})
    bedrock.add_response(
        "get_provisioned_model_throughput",
        throughput_response(run, "Creating"),
        {"provisionedModelId": run.names.throughput_name},
    )
    tags(bedrock, THROUGHPUT_ARN, run.execution_name)
    bedrock.add_response(
        "get_provisioned_model_throughput", throughput_response(run, "Creating"), {"provisionedModelId": THROUGHPUT_ARN}
    )
    bedrock.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": THROUGHPUT_ARN})

    # When the run is cleaned up
    outcome = clean_up(AnyState(run=run))

    # Then the job is stopped and the throughput deleted
    assert outcome == {
        "job": f"stopped job {run.names.job_name}",
        "throughput": f"deleted throughput {run.names.throughput_name}",
    }


def test_cleanup_uses_the_arns_in_the_state(bedrock, make_run):
    run = make_run()
    job = Job(job_arn=JOB_ARN, job_name=run.names.job_name, status="InProgress")
    bedrock.add_response("get_model_customization_job", job_response(run, "Completed"), {"jobIdentifier": JOB_ARN})
    tags(bedrock, JOB_ARN, None)  # untagged: treated as this run's own
    bedrock.add_response(
        "get_provisioned_model_throughput", throughput_response(run, "Failed"), {"provisionedModelId": THROUGHPUT_ARN}
    )
    tags(bedrock, THROUGHPUT_ARN, run.execution_name)
    bedrock.add_response(
        "get_provisioned_model_throughput", throughput_response(run, "Failed"), {"provisionedModelId": THROUGHPUT_ARN}
    )
    bedrock.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": THROUGHPUT_ARN})
    outcome = clean_up(AnyState(run=run, job=job, throughput=throughput(run)))
    assert outcome == {
        "job": f"job {run.names.job_name} already Completed",
        "throughput": f"deleted throughput {run.names.throughput_name}",
    }


def test_cleanup_stops_a_running_smoke_job_found_by_its_name(bedrock, make_run):
    # Given a run whose smoke job still runs and whose full job was never created
    base = make_run()
    smoke = SmokePlan(
        training_uri="s3://artifacts/smoke/train.jsonl",
        records=100,
        job_name=f"{base.names.job_name}-smoke",
        model_name=f"{base.names.job_name}-smoke",
        client_token="s" * 64,
        output_uri="s3://artifacts/smoke/job-output/",
        hyperparameters={"epochCount": "1"},
    )
    run = base.model_copy(update={"smoke": smoke})
    not_found(bedrock, "get_model_customization_job", jobIdentifier=run.names.job_name)
    bedrock.add_response(
        "get_model_customization_job",
        job_response(run, "InProgress", jobName=smoke.job_name),
        {"jobIdentifier": smoke.job_name},
    )
    tags(bedrock, JOB_ARN, run.execution_name)
    bedrock.add_response("stop_model_customization_job", {}, {"jobIdentifier": JOB_ARN})
    not_found(bedrock, "get_provisioned_model_throughput", provisionedModelId=run.names.throughput_name)

    # Then cleanup stops it too
    assert clean_up(AnyState(run=run)) == {
        "job": "no job",
        "smoke_job": f"stopped job {smoke.job_name}",
        "throughput": "no throughput",
    }


def test_cleanup_when_nothing_was_created(bedrock, make_run):
    run = make_run()
    not_found(bedrock, "get_model_customization_job", jobIdentifier=run.names.job_name)
    not_found(bedrock, "get_provisioned_model_throughput", provisionedModelId=run.names.throughput_name)
    assert clean_up(AnyState(run=run)) == {"job": "no job", "throughput": "no throughput"}


def test_cleanup_refuses_to_delete_a_committed_throughput_and_says_it_keeps_billing(bedrock, make_run):
    run = make_run({"commitment": "SixMonths", "throughput_policy": "keep"})
    not_found(bedrock, "get_model_customization_job")
    bedrock.add_response(
        "get_provisioned_model_throughput", throughput_response(run, "InService", commitment="SixMonths")
    )
    tags(bedrock, THROUGHPUT_ARN, run.execution_name)
    # no delete call is queued: one would fail the test
    outcome = clean_up(AnyState(run=run))
    assert outcome["throughput"] == (
        f"throughput {run.names.throughput_name} has a SixMonths commitment and cannot be deleted "
        "before its term ends: it keeps billing"
    )


def test_cleanup_leaves_alone_what_another_execution_of_the_same_run_created(bedrock, make_run):
    # Given a duplicated start: the job and throughput (same deterministic names) belong to execution "first"
    run = make_run()
    bedrock.add_response(
        "get_model_customization_job", job_response(run, "InProgress"), {"jobIdentifier": run.names.job_name}
    )
    tags(bedrock, JOB_ARN, "first")
    bedrock.add_response(
        "get_provisioned_model_throughput",
        throughput_response(run, "InService"),
        {"provisionedModelId": run.names.throughput_name},
    )
    tags(bedrock, THROUGHPUT_ARN, "first")
    # When this (other) execution cleans up; no stop or delete call is queued: one would fail the test
    outcome = clean_up(AnyState(run=run))
    # Then it says so and touches neither
    assert outcome == {
        "job": f"left job {run.names.job_name} alone: execution first created it",
        "throughput": f"left throughput {run.names.throughput_name} alone: execution first created it",
    }


# ---- policy ----


def test_keep_keeps_without_touching_the_throughput(bedrock, make_run):
    run = make_run({"throughput_policy": "keep"})
    policy = apply_policy(run, throughput(run), evaluation(0.1, 0.9))
    assert (policy.action, policy.reason) == ("kept", "throughput_policy is keep")


def test_delete_deletes_whatever_the_evaluation(bedrock, make_run):
    run = make_run({"throughput_policy": "delete"})
    bedrock.add_response("get_provisioned_model_throughput", throughput_response(run, "InService"))
    bedrock.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": THROUGHPUT_ARN})
    policy = apply_policy(run, throughput(run), evaluation(0.9, 0.1))
    assert (policy.action, policy.deleted_now) == ("deleted", True)
    assert policy.reason == f"throughput_policy is delete; deleted throughput {run.names.throughput_name}"


def test_delete_of_a_throughput_already_gone_reports_it_deleted_but_not_by_this_call(bedrock, make_run):
    # A retried step whose first call deleted it (its reply lost): the throughput is deleted, its hours counted once.
    run = make_run({"throughput_policy": "delete"})
    not_found(bedrock, "get_provisioned_model_throughput")
    policy = apply_policy(run, throughput(run), None)
    assert (policy.action, policy.reason) == ("deleted", "throughput_policy is delete; no throughput (already deleted)")
    assert policy.deleted_now is False


def test_keep_if_better_keeps_a_custom_model_that_beats_its_base(bedrock, make_run):
    run = make_run({"throughput_policy": "keep_if_better"})
    policy = apply_policy(run, throughput(run), evaluation(0.8, 0.5, margin=0.1))
    assert policy.action == "kept"
    assert policy.reason == "keep_if_better: custom 80.0% beats base 50.0% by more than 10.0%"


@pytest.mark.parametrize(("custom", "base", "margin"), [(0.5, 0.8, 0.0), (0.5, 0.5, 0.0), (0.55, 0.5, 0.1)])
def test_keep_if_better_deletes_a_custom_model_that_does_not_beat_its_base(bedrock, make_run, custom, base, margin):
    run = make_run({"throughput_policy": "keep_if_better"})
    bedrock.add_response("get_provisioned_model_throughput", throughput_response(run, "InService"))
    bedrock.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": THROUGHPUT_ARN})
    policy = apply_policy(run, throughput(run), evaluation(custom, base, margin))
    assert policy.action == "deleted"
    assert policy.reason.startswith(
        f"keep_if_better: custom {custom:.1%} does not beat base {base:.1%} by more than {margin:.1%}; deleted"
    )


@pytest.mark.parametrize("promote", [True, False])
def test_keep_if_better_follows_the_evaluations_decision(bedrock, make_run, promote):
    # The decision (metric, margin, floor, confidence) rules, whatever the contains-match accuracies say
    run = make_run({"throughput_policy": "keep_if_better"})
    decided = evaluation(0.9, 0.1).model_copy(
        update={"decision": Decision(promote=promote, metric="token_f1", reason="the rule's reason")}
    )
    if not promote:
        bedrock.add_response("get_provisioned_model_throughput", throughput_response(run, "InService"))
        bedrock.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": THROUGHPUT_ARN})
    policy = apply_policy(run, throughput(run), decided)
    assert policy.action == ("kept" if promote else "deleted")
    assert policy.reason.startswith("keep_if_better: the rule's reason")


def test_keep_if_better_without_an_evaluation_deletes(make_run):
    run = make_run({"throughput_policy": "keep_if_better"})
    assert decide(run, None) == (False, "keep_if_better, but there is no evaluation")
