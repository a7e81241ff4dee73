"""The upload trigger and the stack's outputs."""

from __future__ import annotations

from typing import Any

from tests.infra.template_tools import Synthesized, resolve


def test_only_a_manifest_under_the_run_prefix_starts_a_run(
    synth: Synthesized, functions_by_module: dict[str, str], cdk_context: dict[str, Any]
) -> None:
    (notifications,) = synth.of_type("Custom::S3BucketNotifications").values()
    properties = notifications["Properties"]
    assert properties["BucketName"] == {"Ref": synth.logical_id(synth.stack.storage.data_bucket)}
    assert properties["NotificationConfiguration"] == {
        "LambdaFunctionConfigurations": [
            {
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {
                    "Key": {
                        "FilterRules": [
                            {"Name": "suffix", "Value": "manifest.json"},
                            {"Name": "prefix", "Value": cdk_context["pipeline"]["run_prefix"]},
                        ]
                    }
                },
                "LambdaFunctionArn": {"Fn::GetAtt": [functions_by_module["start_run"], "Arn"]},
            }
        ]
    }


def test_only_the_artifacts_bucket_has_no_trigger(synth: Synthesized) -> None:
    notifications = synth.of_type("Custom::S3BucketNotifications")
    assert len(notifications) == 1


def test_s3_may_invoke_start_run_for_the_data_bucket_only(
    synth: Synthesized, functions_by_module: dict[str, str]
) -> None:
    permissions = [
        p
        for p in synth.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "s3.amazonaws.com"
    ]
    (permission,) = permissions
    assert resolve(permission["Properties"]) == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": "${" + functions_by_module["start_run"] + ".Arn}",
        "Principal": "s3.amazonaws.com",
        "SourceAccount": "${AWS::AccountId}",
        "SourceArn": "${" + synth.logical_id(synth.stack.storage.data_bucket) + ".Arn}",
    }


def test_outputs(synth: Synthesized, cdk_context: dict[str, Any]) -> None:
    stack = synth.stack
    outputs = {name: output["Value"] for name, output in synth.template_json["Outputs"].items()}
    assert outputs == {
        "DataBucketName": {"Ref": synth.logical_id(stack.storage.data_bucket)},
        "ArtifactsBucketName": {"Ref": synth.logical_id(stack.storage.artifacts_bucket)},
        "StateMachineArn": {"Ref": synth.logical_id(stack.workflow.state_machine)},
        "TopicArn": {"Ref": synth.logical_id(stack.notifications.topic)},
        "RunPrefix": cdk_context["pipeline"]["run_prefix"],
        "RunsTableName": {"Ref": synth.logical_id(stack.records.table)},
    }


def test_a_rejected_upload_is_retried_then_reported_on_the_topic(
    synth: Synthesized, functions_by_module: dict[str, str]
) -> None:
    (config,) = synth.of_type("AWS::Lambda::EventInvokeConfig").values()
    properties = config["Properties"]
    assert properties["FunctionName"] == {"Ref": functions_by_module["start_run"]}
    assert properties["MaximumRetryAttempts"] == 2
    assert properties["MaximumEventAgeInSeconds"] == 3600
    assert properties["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Ref": synth.logical_id(synth.stack.notifications.topic)}}
    }


def test_an_execution_that_ends_without_its_own_cleanup_runs_aftercare(
    synth: Synthesized, functions_by_module: dict[str, str]
) -> None:
    # Given the rule on the state machine's status changes that targets after_execution
    target_of = {"Fn::GetAtt": [functions_by_module["after_execution"], "Arn"]}
    (rule,) = [
        r for r in synth.of_type("AWS::Events::Rule").values() if r["Properties"]["Targets"][0]["Arn"] == target_of
    ]
    properties = rule["Properties"]
    # Then it matches this state machine's ABORTED, TIMED_OUT and FAILED executions only
    assert properties["EventPattern"] == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {
            "status": ["ABORTED", "TIMED_OUT", "FAILED"],
            "stateMachineArn": [{"Ref": synth.logical_id(synth.stack.workflow.state_machine)}],
        },
    }
    assert properties["State"] == "ENABLED"
    # And its one target is the after_execution function, retried on delivery failure
    (target,) = properties["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [functions_by_module["after_execution"], "Arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2}


def test_only_the_rules_may_invoke_their_functions(synth: Synthesized, functions_by_module: dict[str, str]) -> None:
    permissions = [p["Properties"] for p in synth.of_type("AWS::Lambda::Permission").values()]
    rules = synth.of_type("AWS::Events::Rule")
    by_function = {
        p["FunctionName"]["Fn::GetAtt"][0]: p["SourceArn"]["Fn::GetAtt"][0]
        for p in permissions
        if p["Principal"] == "events.amazonaws.com"
    }
    # Each of the two status-change rules and the sweeper's schedule may invoke its own function, nothing else may
    assert set(by_function) == {
        functions_by_module["after_execution"],
        functions_by_module["record_run"],
        functions_by_module["sweep"],
    }
    for function_id, rule_id in by_function.items():
        assert rules[rule_id]["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert len(permissions) == 4  # plus S3 -> start_run


def test_every_ended_execution_is_recorded(synth: Synthesized, functions_by_module: dict[str, str]) -> None:
    target_of = {"Fn::GetAtt": [functions_by_module["record_run"], "Arn"]}
    (rule,) = [
        r for r in synth.of_type("AWS::Events::Rule").values() if r["Properties"]["Targets"][0]["Arn"] == target_of
    ]
    assert rule["Properties"]["EventPattern"]["detail"]["status"] == ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
    table = synth.resources[synth.logical_id(synth.stack.records.table)]
    assert table["Properties"]["KeySchema"] == [{"AttributeName": "execution", "KeyType": "HASH"}]
    (index,) = table["Properties"]["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by-start"
    assert index["KeySchema"] == [
        {"AttributeName": "kind", "KeyType": "HASH"},
        {"AttributeName": "started_at", "KeyType": "RANGE"},
    ]
    assert table["DeletionPolicy"] == "Retain"
