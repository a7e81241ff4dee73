"""On-demand serving (settings.serving on_demand): a Nova run deploys its custom model on demand instead of
provisioning throughput, evaluates through the deployment and deletes it like a throughput."""

from __future__ import annotations

import pytest

from tests.e2e.harness import E2E, matches_path, path_of, sample_files
from tests.e2e.test_e2e_runs import as_conversation

NOVA_ON_DEMAND = {
    "base_model_id": "amazon.nova-micro-v1:0",
    "hyperparameters": {"epochCount": 1},
    "serving": "on_demand",
}
DEPLOYED = (
    ".*;Job finished\\?;Serve on demand\\?;Create the deployment;(Wait for the deployment;Check the deployment;"
    "Deployment ready\\?;)+Plan the evaluation;.*"
)


def _files() -> dict[str, bytes]:
    return {name: as_conversation(body) for name, body in sample_files().items()}


@pytest.mark.e2e
def test_an_on_demand_run_evaluates_through_its_deployment(e2e: E2E) -> None:
    names = {"keep": e2e.run_name("od-keep"), "delete": e2e.run_name("od-delete")}
    arns = {
        policy: e2e.start_console(name, e2e.settings(NOVA_ON_DEMAND, {"throughput_policy": policy}), _files())
        for policy, name in names.items()
    }
    results = dict(zip(arns, e2e.wait_all(list(arns.values())), strict=True))

    for policy, result in results.items():
        notes = e2e.notifications_for(names[policy])
        assert result.status == "SUCCEEDED", (policy, [n.get("reason") for n in notes])
        assert matches_path(path_of(result), DEPLOYED + "Run succeeded;"), path_of(result)
        assert "Create the throughput" not in path_of(result)
        assert e2e.throughputs_for(names[policy]) == []
        output = result.output or {}
        served = output["throughput"]
        assert (served["kind"], served["status"]) == ("deployment", "InService")
        assert ":custom-model-deployment/" in served["arn"]
        assert served["name"].endswith("-od")
        # The custom model was asked through the deployment
        assert output["evaluation"]["custom"]["model_id"] == served["arn"]

    # Kept: the deployment is still there, Active, tagged with the execution that created it
    (kept,) = e2e.deployments_for(names["keep"])
    assert kept["status"] == "Active"
    assert kept["customModelDeploymentArn"] == (results["keep"].output or {})["throughput"]["arn"]
    assert kept["tags"]["execution"]
    # Deleted by the policy
    assert e2e.deployments_for(names["delete"]) == []
    policy = (results["delete"].output or {})["policy"]
    assert policy["action"] == "deleted", policy
    assert "deleted deployment" in policy["reason"]


@pytest.mark.e2e
def test_a_failing_evaluation_deletes_the_deployment(e2e: E2E) -> None:
    e2e.router.faults[e2e.function_name("evaluate")] = lambda: RuntimeError("evaluator ran out of memory (injected)")
    run_name = e2e.run_name("od-eval-crash")
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings(NOVA_ON_DEMAND), _files()))

    assert result.status == "FAILED", result.status
    path = path_of(result)
    assert matches_path(path, DEPLOYED + "Evaluate custom against base;Clean up;Notify failure;Run failed;"), path
    assert e2e.deployments_for(run_name) == []
    assert e2e.throughputs_for(run_name) == []
    (note,) = e2e.notifications_for(run_name)
    assert note["cleanup"]["throughput"].startswith("deleted deployment"), note["cleanup"]
