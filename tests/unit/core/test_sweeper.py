"""The sweeper (stubbed Bedrock): what it deletes, keeps, reports, and never touches; its options."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from customizer.errors import SettingsError
from customizer.models import Evaluation, ModelScore, Run, Throughput
from customizer.policy import apply_policy
from customizer.settings import SweepOptions, parse_deployment_settings
from customizer.sweeper import mark_lost_evaluation, resolve_options, sweep
from tests.unit.core.stubs import MODEL_ARN, THROUGHPUT_ARN, throughput_response

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PIPELINE = "BedrockCustomization"
ACCOUNT_ARN = "arn:aws:bedrock:us-east-1:123456789012:"
FOUNDATION = "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1"
OPTIONS = SweepOptions(max_throughput_hours=24)


def pt_arn(name: str) -> str:
    return f"{ACCOUNT_ARN}provisioned-model/{name}"


def model_arn(name: str) -> str:
    return f"{ACCOUNT_ARN}custom-model/amazon.titan-text-express-v1:0:8k/{name}"


def hours_ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def throughput(name: str, age_hours: float, *, model: str = MODEL_ARN, **extra: Any) -> dict[str, Any]:
    created = hours_ago(age_hours)
    return {
        "provisionedModelName": name,
        "provisionedModelArn": pt_arn(name),
        "modelArn": model,
        "desiredModelArn": model,
        "foundationModelArn": FOUNDATION,
        "modelUnits": 1,
        "desiredModelUnits": 1,
        "status": "InService",
        "creationTime": created,
        "lastModifiedTime": created,
        **extra,
    }


def deployment(name: str, age_hours: float) -> dict[str, Any]:
    return {
        "customModelDeploymentArn": f"{ACCOUNT_ARN}custom-model-deployment/{name}",
        "customModelDeploymentName": name,
        "modelArn": MODEL_ARN,
        "createdAt": hours_ago(age_hours),
        "status": "Active",
    }


def model(name: str, age_hours: float) -> dict[str, Any]:
    return {
        "modelArn": model_arn(name),
        "modelName": name,
        "creationTime": hours_ago(age_hours),
        "baseModelArn": FOUNDATION,
        "baseModelName": "amazon.titan-text-express-v1",
    }


def tags(bedrock: Stubber, arn: str, pipeline: str | None = PIPELINE, **more: str) -> None:
    found = [{"key": "pipeline", "value": pipeline}] if pipeline else []
    found += [{"key": k.replace("_", "-"), "value": v} for k, v in more.items()]
    bedrock.add_response("list_tags_for_resource", {"tags": found}, {"resourceARN": arn})


def deleted(bedrock: Stubber, name: str) -> None:
    """delete_throughput reads the throughput, then deletes it."""
    arn = pt_arn(name)
    bedrock.add_response("get_provisioned_model_throughput", throughput(name, 30), {"provisionedModelId": arn})
    bedrock.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": arn})


def listing(bedrock: Stubber, throughputs: list[dict[str, Any]]) -> None:
    bedrock.add_response("list_provisioned_model_throughputs", {"provisionedModelSummaries": throughputs}, {})


def deployments(bedrock: Stubber, found: list[dict[str, Any]] | None = None) -> None:
    """The deployments are listed once the throughputs are done."""
    bedrock.add_response("list_custom_model_deployments", {"modelDeploymentSummaries": found or []}, {})


def run_throughput(run: Run) -> Throughput:
    return Throughput(arn=THROUGHPUT_ARN, name=run.names.throughput_name, status="InService", model_units=1)


def evaluation(custom: float, base: float) -> Evaluation:
    def score(model_id: str, accuracy: float) -> ModelScore:
        return ModelScore(model_id=model_id, examples=10, correct=round(accuracy * 10), errors=0, accuracy=accuracy)

    return Evaluation(
        custom=score(THROUGHPUT_ARN, custom),
        base=score("base", base),
        custom_beats_base=custom > base,
        margin=0.0,
        report_uri="s3://a/r.json",
        report_markdown_uri="s3://a/r.md",
    )


def by_name(report: Any) -> dict[str, tuple[str, str]]:
    return {f.name: (f.action, f.detail) for f in report.findings}


# ---- throughput and deployments ----


def test_old_throughput_is_deleted_kept_and_committed_ones_reported_young_and_foreign_ones_untouched(bedrock):
    # Given the pipeline's throughputs: one forgotten, one tagged keep=true, one committed, one young; another
    # deployment's old throughput; and the pipeline's old on-demand deployment
    committed_until = NOW + timedelta(days=20)
    listing(
        bedrock,
        [
            throughput("forgotten", 30),
            throughput("kept", 48),
            throughput("committed", 100, commitmentDuration="OneMonth", commitmentExpirationTime=committed_until),
            throughput("young", 2),
            throughput("foreign", 200),
        ],
    )
    tags(bedrock, pt_arn("forgotten"), run_id="bot-1")
    deleted(bedrock, "forgotten")
    tags(bedrock, pt_arn("kept"), keep="true")
    tags(bedrock, pt_arn("committed"))
    # (the young one's tags are not even read)
    tags(bedrock, pt_arn("foreign"), pipeline="SomeoneElse")
    deployments(bedrock, [deployment("old-deployment", 25)])
    tags(bedrock, f"{ACCOUNT_ARN}custom-model-deployment/old-deployment")
    bedrock.add_response(
        "delete_custom_model_deployment",
        {},
        {"customModelDeploymentIdentifier": f"{ACCOUNT_ARN}custom-model-deployment/old-deployment"},
    )

    # When the sweeper runs with a 24-hour lifetime
    report = sweep(OPTIONS, pipeline_tag=PIPELINE, now=NOW)

    # Then the forgotten throughput and the deployment are deleted; kept and committed ones are reported
    assert by_name(report) == {
        "forgotten": ("deleted", "deleted throughput forgotten"),
        "kept": ("kept", "tagged keep=true"),
        "committed": (
            "committed",
            f"OneMonth commitment until {committed_until.isoformat()}: it cannot be deleted before its term ends "
            "and keeps billing",
        ),
        "old-deployment": ("deleted", "deleted deployment old-deployment"),
    }
    (forgotten,) = report.having("deleted", kinds=("provisioned throughput",))
    assert (forgotten.run_id, forgotten.age_hours) == ("bot-1", 30.0)
    # And every pipeline throughput or deployment past the lifetime counts, kept or not
    assert report.serving_over_lifetime == 4
    assert report.deleted_throughput_hours == [30.0]
    assert report.worth_reporting


def test_dry_run_deletes_nothing_and_says_what_it_would_delete(bedrock):
    # Given a forgotten throughput and a kept one
    listing(bedrock, [throughput("forgotten", 30), throughput("kept", 30)])
    tags(bedrock, pt_arn("forgotten"))
    tags(bedrock, pt_arn("kept"), keep="TRUE")
    deployments(bedrock)

    # When a dry run sweeps (no delete call is queued: any would fail the Stubber)
    report = sweep(SweepOptions(max_throughput_hours=24, dry_run=True), pipeline_tag=PIPELINE, now=NOW)

    # Then it reports what it would delete, and the notice says it was a dry run
    assert by_name(report) == {"forgotten": ("would delete", ""), "kept": ("kept", "tagged keep=true")}
    body = report.body(NOW)
    assert body["status"] == "SWEEP_DRY_RUN"
    assert [f["name"] for f in body["would_delete"]] == ["forgotten"]
    assert "deleted" not in body
    assert report.deleted_throughput_hours == []


def test_a_commitment_past_its_term_no_longer_protects_the_throughput(bedrock):
    listing(
        bedrock, [throughput("ended", 24 * 40, commitmentDuration="OneMonth", commitmentExpirationTime=hours_ago(1))]
    )
    tags(bedrock, pt_arn("ended"))
    deleted(bedrock, "ended")
    deployments(bedrock)
    assert by_name(sweep(OPTIONS, pipeline_tag=PIPELINE, now=NOW)) == {"ended": ("deleted", "deleted throughput ended")}


def test_a_delete_that_fails_is_reported_and_the_sweep_goes_on(bedrock):
    # Given two forgotten throughputs, the first of which Bedrock refuses to delete
    listing(bedrock, [throughput("refused", 30), throughput("forgotten", 30)])
    tags(bedrock, pt_arn("refused"))
    bedrock.add_response("get_provisioned_model_throughput", throughput("refused", 30))
    bedrock.add_client_error("delete_provisioned_model_throughput", "ValidationException", "not now", 400)
    tags(bedrock, pt_arn("forgotten"))
    deleted(bedrock, "forgotten")
    deployments(bedrock)

    report = sweep(OPTIONS, pipeline_tag=PIPELINE, now=NOW)

    assert by_name(report)["forgotten"] == ("deleted", "deleted throughput forgotten")
    action, detail = by_name(report)["refused"]
    assert action == "failed"
    assert detail.startswith("AwsRequestRejectedError: DeleteProvisionedModelThroughput: ValidationException")
    assert [f["name"] for f in report.body(NOW)["failed"]] == ["refused"]


def test_nothing_past_its_lifetime_is_nothing_to_report(bedrock):
    listing(bedrock, [throughput("young", 1)])
    deployments(bedrock)
    report = sweep(OPTIONS, pipeline_tag=PIPELINE, now=NOW)
    assert report.findings == []
    assert not report.worth_reporting
    assert report.serving_over_lifetime == 0


def test_a_lifetime_of_zero_sweeps_every_unkept_throughput(bedrock):
    listing(bedrock, [throughput("just-made", 0.01)])
    tags(bedrock, pt_arn("just-made"))
    deleted(bedrock, "just-made")
    deployments(bedrock)
    report = sweep(SweepOptions(max_throughput_hours=0), pipeline_tag=PIPELINE, now=NOW)
    assert by_name(report) == {"just-made": ("deleted", "deleted throughput just-made")}


# ---- models that lost their evaluation ----


def test_models_that_lost_are_deleted_only_when_asked_old_unkept_and_unserved(bedrock):
    options = SweepOptions(max_throughput_hours=24, delete_orphan_models=True)
    # Given a young throughput (someone else's) serving one lost model, and nothing else
    listing(bedrock, [throughput("serving", 1, model=model_arn("served"))])
    deployments(bedrock)
    bedrock.add_response(
        "list_custom_models",
        {
            "modelSummaries": [
                model("lost", 30),
                model("served", 30),
                model("won", 30),
                model("kept", 30),
                model("fresh", 1),
                model("foreign", 30),
            ]
        },
        {},
    )
    tags(bedrock, model_arn("lost"), evaluation="lost", run_id="bot-2")
    bedrock.add_response("delete_custom_model", {}, {"modelIdentifier": model_arn("lost")})
    tags(bedrock, model_arn("served"), evaluation="lost")
    tags(bedrock, model_arn("won"))
    tags(bedrock, model_arn("kept"), evaluation="lost", keep="true")
    tags(bedrock, model_arn("foreign"), pipeline="SomeoneElse", evaluation="lost")

    report = sweep(options, pipeline_tag=PIPELINE, now=NOW)

    assert by_name(report) == {
        "lost": ("deleted", "deleted custom model lost"),
        "served": ("kept", "still served by serving"),
        "kept": ("kept", "tagged keep=true"),
    }
    # Models are not throughput: they do not count toward the lifetime alarm
    assert report.serving_over_lifetime == 0


def test_a_model_whose_throughput_this_sweep_deletes_is_no_longer_served(bedrock):
    options = SweepOptions(max_throughput_hours=24, delete_orphan_models=True, dry_run=True)
    listing(bedrock, [throughput("forgotten", 30, model=model_arn("lost"))])
    tags(bedrock, pt_arn("forgotten"))
    deployments(bedrock)
    bedrock.add_response("list_custom_models", {"modelSummaries": [model("lost", 30)]}, {})
    tags(bedrock, model_arn("lost"), evaluation="lost")
    report = sweep(options, pipeline_tag=PIPELINE, now=NOW)
    assert by_name(report) == {"forgotten": ("would delete", ""), "lost": ("would delete", "")}


def test_mark_lost_evaluation_tags_the_model(bedrock):
    bedrock.add_response(
        "tag_resource", {}, {"resourceARN": MODEL_ARN, "tags": [{"key": "evaluation", "value": "lost"}]}
    )
    mark_lost_evaluation(MODEL_ARN)


def test_keep_if_better_marks_the_losing_model_before_deleting_its_throughput(bedrock, make_run):
    run = make_run({"throughput_policy": "keep_if_better"})
    bedrock.add_response(
        "tag_resource", {}, {"resourceARN": MODEL_ARN, "tags": [{"key": "evaluation", "value": "lost"}]}
    )
    bedrock.add_response("get_provisioned_model_throughput", throughput_response(run, "InService"))
    bedrock.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": THROUGHPUT_ARN})
    policy = apply_policy(run, run_throughput(run), evaluation(0.1, 0.9), model_arn=MODEL_ARN)
    assert policy.action == "deleted"


@pytest.mark.parametrize(("policy", "custom"), [("delete", 0.1), ("keep_if_better", 0.9)])
def test_no_other_decision_marks_the_model(bedrock, make_run, policy, custom):
    run = make_run({"throughput_policy": policy})
    if policy == "delete":
        bedrock.add_response("get_provisioned_model_throughput", throughput_response(run, "InService"))
        bedrock.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": THROUGHPUT_ARN})
    apply_policy(run, run_throughput(run), evaluation(custom, 0.5), model_arn=MODEL_ARN)


# ---- options ----


def test_a_manual_run_overrides_the_configured_options():
    configured = SweepOptions(max_throughput_hours=24, dry_run=True)
    assert resolve_options(configured, {}) == configured
    assert resolve_options(configured, {"max_throughput_hours": 0, "dry_run": False}) == SweepOptions(
        max_throughput_hours=0, dry_run=False
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"dry-run": True}, "sweep input: dry-run: Extra inputs are not permitted"),
        ({"max_throughput_hours": -1}, "sweep input: max_throughput_hours: Input should be greater than or equal to 0"),
        ({"delete_orphan_models": True}, "sweep input: delete_orphan_models is off for this deployment"),
    ],
)
def test_a_wrong_manual_input_is_refused_before_anything_is_swept(overrides, message):
    with pytest.raises(SettingsError) as caught:
        resolve_options(SweepOptions(), overrides)
    assert str(caught.value).startswith(message)


def test_a_deployment_that_deletes_models_lets_a_manual_run_turn_it_off():
    configured = SweepOptions(delete_orphan_models=True)
    assert not resolve_options(configured, {"delete_orphan_models": False}).delete_orphan_models


def test_the_notice_of_a_real_sweep(bedrock):
    listing(bedrock, [throughput("forgotten", 30)])
    tags(bedrock, pt_arn("forgotten"))
    deleted(bedrock, "forgotten")
    deployments(bedrock)
    body = sweep(OPTIONS, pipeline_tag=PIPELINE, now=NOW).body(NOW)
    assert body["run_id"] == "sweep of 2026-03-01 12:00 UTC"
    assert body["status"] == "SWEEP"
    assert body["reason"] == "pipeline resources at least 24 hours old"
    assert body["deleted"] == [
        {
            "kind": "provisioned throughput",
            "name": "forgotten",
            "arn": pt_arn("forgotten"),
            "run_id": None,
            "age_hours": 30.0,
            "detail": "deleted throughput forgotten",
        }
    ]
    assert (body["failed"], body["kept"], body["committed"]) == ([], [], [])


# ---- deployment settings (pipeline.sweeper) ----


def test_the_sweeper_defaults_are_what_the_docs_say():
    sweeper = parse_deployment_settings(None).sweeper
    assert (sweeper.schedule_minutes, sweeper.max_throughput_hours) == (60, 24.0)
    assert (sweeper.delete_orphan_models, sweeper.dry_run) == (False, False)
    assert sweeper.options == SweepOptions()


@pytest.mark.parametrize(
    ("sweeper", "expected"),
    [
        ({"schedule_minutes": 0}, "pipeline.sweeper.schedule_minutes: Input should be greater than or equal to 1"),
        ({"schedule_minutes": 1441}, "pipeline.sweeper.schedule_minutes: Input should be less than or equal to 1440"),
        ({"max_throughput_hours": -1}, "pipeline.sweeper.max_throughput_hours: Input should be greater than or equal"),
        ({"dry_run": "maybe"}, "pipeline.sweeper.dry_run: Input should be a valid boolean"),
        ({"dry-run": True}, "pipeline.sweeper.dry-run: unknown setting"),
        # A throughput may take up to defaults.timeouts.throughput_minutes (120) to come into service
        ({"max_throughput_hours": 2}, "pipeline: sweeper.max_throughput_hours must exceed defaults.timeouts"),
    ],
)
def test_a_wrong_sweeper_setting_is_named(sweeper, expected):
    with pytest.raises(SettingsError) as caught:
        parse_deployment_settings({"sweeper": sweeper})
    assert str(caught.value).startswith(expected)


def test_a_short_lifetime_is_allowed_when_throughput_comes_into_service_sooner():
    context = {"sweeper": {"max_throughput_hours": 1}, "defaults": {"timeouts": {"throughput_minutes": 45}}}
    assert parse_deployment_settings(context).sweeper.max_throughput_hours == 1
