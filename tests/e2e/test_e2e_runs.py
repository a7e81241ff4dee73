"""Runs that succeed: by upload and from the console, and what each throughput policy leaves behind."""

from __future__ import annotations

import json
from typing import Any

import pytest

from offline.sample_data import as_format
from offline.synth import cdk_context
from tests.e2e.harness import E2E, POLL, QUICK_EVALUATION, matches_path, merge, path_of, sample_files

HAPPY_PATH = (
    "Validate the run;Smoke test first\\?;Create the customization job;"
    "(Wait for the job;Check the job;Job finished\\?;)+"
    "Serve on demand\\?;Create the throughput;"
    "(Wait for the throughput;Check the throughput;Throughput ready\\?;)+"
    "Plan the evaluation;Fan the evaluation out\\?;"
    "Evaluate custom against base;Judge the answers\\?;Apply the throughput policy;Notify success;Run succeeded;"
)
FANNED_OUT = (
    ".*;Throughput ready\\?;Plan the evaluation;Fan the evaluation out\\?;"
    "Evaluate the test set in chunks;Aggregate the evaluation;Judge the answers\\?;Apply the throughput policy;"
    "Notify success;Run succeeded;"
)


@pytest.mark.e2e
def test_upload_runs_the_whole_pipeline_and_leaves_its_results(e2e: E2E) -> None:
    run_name = e2e.run_name("happy")
    result = e2e.run(lambda: e2e.start_upload(run_name, e2e.settings(quick=False)))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert matches_path(path_of(result), HAPPY_PATH), path_of(result)
    output: dict[str, Any] = result.output or {}
    run = output["run"]
    assert run["run_name"] == run_name

    # The emulator: one job, Completed, and its custom model.
    jobs = e2e.jobs_for(run_name)
    assert [j["status"] for j in jobs] == ["Completed"]
    assert jobs[0]["jobName"] == run["names"]["job_name"]
    assert jobs[0]["jobArn"] == output["job"]["job_arn"]
    models = e2e.models_for(run_name)
    assert [m["modelArn"] for m in models] == [jobs[0]["outputModelArn"]]
    assert models[0]["modelName"] == run["names"]["model_name"]

    # The evaluation: on the whole held-out set, the custom model wins; keep_if_better keeps its throughput.
    evaluation = output["evaluation"]
    assert evaluation["custom"]["examples"] == evaluation["base"]["examples"] == run["data"]["test"]["records"] == 150
    assert evaluation["custom"]["errors"] == evaluation["base"]["errors"] == 0
    assert evaluation["custom"]["accuracy"] > evaluation["base"]["accuracy"]
    assert evaluation["custom_beats_base"] is True
    assert evaluation["mode"] == "single"
    # ...with every metric, its interval, and the decision the policy followed
    compared = {c["metric"]: c for c in evaluation["comparison"]}
    assert set(compared) == {"contains_match", "exact_match", "token_f1", "rouge_l", "output_words"}
    assert compared["token_f1"]["ci_low"] > 0
    assert evaluation["decision"]["promote"] is True
    assert output["policy"]["reason"] == f"keep_if_better: {evaluation['decision']['reason']}"
    assert evaluation["custom"]["latency_p95_ms"] >= evaluation["custom"]["latency_p50_ms"] > 0
    assert evaluation["training"]["training_steps"] > 0
    assert output["policy"]["action"] == "kept"
    assert [(t["provisionedModelName"], t["status"]) for t in e2e.throughputs_for(run_name)] == [
        (run["names"]["throughput_name"], "InService")
    ]

    # The reports in the artifacts bucket, with the numbers of the output.
    for uri in (evaluation["report_uri"], evaluation["report_markdown_uri"], evaluation["report_html_uri"]):
        assert uri.startswith(f"s3://{e2e.runtime.artifacts_bucket}/runs/{run['run_id']}/")
    report = json.loads(e2e.runtime.read_artifact(evaluation["report_uri"]))
    assert report["run_id"] == run["run_id"]
    assert report["summary"]["custom"]["accuracy"] == evaluation["custom"]["accuracy"]
    assert len(e2e.runtime.read_artifact(report["examples_uri"]).decode().splitlines()) == 150
    markdown = e2e.runtime.read_artifact(evaluation["report_markdown_uri"]).decode()
    assert f"# Evaluation of run {run['run_id']}" in markdown
    html = e2e.runtime.read_artifact(evaluation["report_html_uri"]).decode()
    assert "Promote the custom model" in html
    assert html.count("<svg") == 3

    # The job's metric files, under the job's output location.
    metrics = output["job"]["metrics"]
    keys = e2e.keys(metrics["output_uri"])
    assert any(k.endswith("training_artifacts/step_wise_training_metrics.csv") for k in keys), keys
    assert any(k.endswith("validation/validation_metrics.csv") for k in keys), keys
    assert metrics["training_steps"] > 0
    assert metrics["final_validation_loss"] > 0

    # One notification, SUCCEEDED, pointing at the report.
    notes = e2e.notifications_for(run_name)
    assert len(notes) == 1, notes
    assert notes[0]["status"] == "SUCCEEDED"
    assert notes[0]["run_id"] == run["run_id"]
    assert notes[0]["report"] == evaluation["report_html_uri"]
    assert notes[0]["decision"]["promote"] is True
    assert notes[0]["throughput_policy"] == "kept"


@pytest.mark.e2e
def test_console_input_with_s3_uris_succeeds(e2e: E2E) -> None:
    run_name = e2e.run_name("console")
    request = e2e.upload_console_input(run_name, e2e.settings())
    assert all(request[f"{k}_data"].startswith("s3://") for k in ("training", "validation", "test"))
    result = e2e.wait(e2e.runtime.start_console_run(request))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert matches_path(path_of(result), HAPPY_PATH), path_of(result)
    assert [j["status"] for j in e2e.jobs_for(run_name)] == ["Completed"]
    assert len(e2e.models_for(run_name)) == 1
    assert [n["status"] for n in e2e.notifications_for(run_name)] == ["SUCCEEDED"]


POLICIES: dict[str, dict[str, Any]] = {
    "keep": {"throughput_policy": "keep"},
    "delete": {"throughput_policy": "delete"},
    "better-wins": {"throughput_policy": "keep_if_better"},
    # The custom model would have to beat its base by more than 100 points: it cannot.
    "better-loses": {"throughput_policy": "keep_if_better", "evaluation": {"min_improvement": 1.0}},
    # Another metric, and a floor it does not reach on the whole test set: it wins, but not well enough.
    "better-floor": {
        "throughput_policy": "keep_if_better",
        "evaluation": {"metric": "token_f1", "floor": 0.999, "max_examples": 150},
    },
}


@pytest.mark.e2e
def test_throughput_policy_decides_what_is_left_in_service(e2e: E2E) -> None:
    names = {label: e2e.run_name(f"policy-{label}") for label in POLICIES}
    arns = {label: e2e.start_console(names[label], e2e.settings(POLICIES[label])) for label in POLICIES}
    results = dict(zip(arns, e2e.wait_all(list(arns.values())), strict=True))

    for label, result in results.items():
        assert result.status == "SUCCEEDED", (label, result.error, result.cause)
        assert "Clean up" not in path_of(result), label
        assert [n["status"] for n in e2e.notifications_for(names[label])] == ["SUCCEEDED"], label

    def outcome(label: str) -> tuple[str, list[str]]:
        output = results[label].output or {}
        return output["policy"]["action"], [t["status"] for t in e2e.throughputs_for(names[label])]

    assert outcome("keep") == ("kept", ["InService"])
    assert outcome("delete") == ("deleted", [])
    assert outcome("better-wins") == ("kept", ["InService"])
    assert outcome("better-loses") == ("deleted", [])
    assert outcome("better-floor") == ("deleted", [])
    assert (results["better-wins"].output or {})["evaluation"]["custom_beats_base"] is True
    losing = (results["better-loses"].output or {})["evaluation"]
    assert losing["custom_beats_base"] is False
    assert losing["custom"]["accuracy"] > losing["base"]["accuracy"]  # it did win, just not by enough
    assert "custom does not beat base by more than 1" in losing["decision"]["reason"]
    below = (results["better-floor"].output or {})["evaluation"]
    assert below["decision"]["metric"] == "token_f1"
    assert "custom is below the floor 0.999" in below["decision"]["reason"]
    assert "custom is below the floor 0.999" in e2e.notifications_for(names["better-floor"])[0]["reason"]
    # The custom models stay whatever happens to the throughput.
    for label in POLICIES:
        assert [j["status"] for j in e2e.jobs_for(names[label])] == ["Completed"], label
        assert len(e2e.models_for(names[label])) == 1, label


def as_conversation(prompt_completion: bytes) -> bytes:
    """The sample's prompt/completion records in the Bedrock conversation schema."""
    return as_format(prompt_completion, "bedrock-conversation-2024")


@pytest.mark.e2e
def test_the_stacks_default_base_model_runs_on_the_sample_in_its_format(e2e: E2E) -> None:
    # Given a run that names no base model: the stack's default (cdk.json), one Bedrock lists today as Active
    # and fine-tunable in us-east-1
    defaults = cdk_context()["pipeline"]["defaults"]
    assert defaults["base_model_id"] == "amazon.nova-micro-v1:0"
    files = {name: as_conversation(body) for name, body in sample_files().items()}
    run_name = e2e.run_name("default-model")
    settings = merge(POLL, QUICK_EVALUATION)
    result = e2e.run(lambda: e2e.start_console(run_name, settings, files))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    (job,) = e2e.jobs_for(run_name)
    assert job["baseModelArn"].endswith("foundation-model/amazon.nova-micro-v1:0")
    assert job["hyperParameters"] == {"epochCount": "2", "learningRate": "1e-05", "learningRateWarmupSteps": "10"}


@pytest.mark.e2e
def test_run_on_another_family_than_the_defaults_succeeds(e2e: E2E) -> None:
    files = {name: as_conversation(body) for name, body in sample_files().items()}
    run_name = e2e.run_name("nova")
    settings = e2e.settings({"base_model_id": "amazon.nova-micro-v1:0", "hyperparameters": {"epochCount": 1}})
    result = e2e.run(lambda: e2e.start_console(run_name, settings, files))

    notes = e2e.notifications_for(run_name)
    assert result.status == "SUCCEEDED", [n["reason"] for n in notes]
    assert [j["status"] for j in e2e.jobs_for(run_name)] == ["Completed"]
    assert (result.output or {})["evaluation"]["custom_beats_base"] is True


@pytest.mark.e2e
def test_a_base_served_on_demand_only_through_an_inference_profile_is_evaluated_through_it(e2e: E2E) -> None:
    # Given Llama 3.2 1B, which Bedrock (and the emulator) answers on demand only by its cross-region inference
    # profile: called by its bare id, every base call would be a ValidationException and the evaluation would fail
    files = {name: as_conversation(body) for name, body in sample_files().items()}
    run_name = e2e.run_name("llama32")
    e2e.offer_here("meta.llama3-2-1b-instruct-v1:0")
    settings = e2e.settings({"base_model_id": "meta.llama3-2-1b-instruct-v1:0", "hyperparameters": {"epochCount": 1}})
    before = e2e.state()["invocations"]  # the emulator serves every test of this worker
    result = e2e.run(lambda: e2e.start_console(run_name, settings, files))

    notes = e2e.notifications_for(run_name)
    assert result.status == "SUCCEEDED", [n["reason"] for n in notes]
    output = result.output or {}
    # Then the base model was called through the us geography's profile (the offline region is us-east-1)
    assert output["run"]["base_invoke_id"] == "us.meta.llama3-2-1b-instruct-v1:0"
    assert output["evaluation"]["base"]["errors"] == 0
    after = e2e.state()["invocations"]

    def calls(model_id: str) -> int:
        return int(after.get(model_id, 0) - before.get(model_id, 0))

    assert calls("us.meta.llama3-2-1b-instruct-v1:0") >= output["evaluation"]["base"]["examples"]
    assert calls("meta.llama3-2-1b-instruct-v1:0") == 0


EVALUATED_BOTH_WAYS = {"evaluation": {"max_examples": 60}}
FAN_OUT = {"evaluation": {"max_examples": 60, "fan_out_above": 20, "chunk_size": 16}}


@pytest.mark.e2e
def test_a_large_test_set_fans_out_over_chunks_and_gives_the_one_step_result(e2e: E2E) -> None:
    # Given the same data evaluated in one step, and fanned out over 4 chunks (above fan_out_above)
    names = {"single": e2e.run_name("one-step"), "fanned": e2e.run_name("fanned-out")}
    arns = {
        "single": e2e.start_console(names["single"], e2e.settings(EVALUATED_BOTH_WAYS)),
        "fanned": e2e.start_console(names["fanned"], e2e.settings(FAN_OUT)),
    }
    results = dict(zip(arns, e2e.wait_all(list(arns.values())), strict=True))

    for label, result in results.items():
        assert result.status == "SUCCEEDED", (label, result.error, result.cause)
    assert matches_path(path_of(results["single"]), HAPPY_PATH), path_of(results["single"])
    assert matches_path(path_of(results["fanned"]), FANNED_OUT), path_of(results["fanned"])
    fanned = results["fanned"].output or {}
    single = (results["single"].output or {})["evaluation"]

    # The plan wrote 4 chunk objects; each child of the Distributed Map saved its answers beside its chunk
    plan = fanned["evaluation_plan"]
    assert (plan["examples"], plan["fan_out"]) == (60, True)
    assert [(c["first"], c["examples"]) for c in plan["chunks"]] == [(0, 16), (16, 16), (32, 16), (48, 12)]
    keys = e2e.keys(f"{fanned['run']['report_prefix']}evaluation/chunks/")
    assert (
        len([k for k in keys if k.endswith(".answers.json")])
        == len([k for k in keys if not k.endswith(".answers.json")])
        == 4
    )
    assert len(e2e.invocations("evaluate_chunk", names["fanned"])) == 4

    # Then the aggregated evaluation is the one-step evaluation's, metric for metric, interval for interval
    evaluation = fanned["evaluation"]
    assert (evaluation["mode"], single["mode"]) == ("fan_out", "single")
    for model in ("custom", "base"):
        for metric in ("examples", "correct", "errors", "accuracy", "exact_match", "token_f1", "rouge_l"):
            assert evaluation[model][metric] == single[model][metric], (model, metric)
    assert evaluation["comparison"] == single["comparison"]
    assert evaluation["decision"] == single["decision"]
    assert evaluation["custom_beats_base"] is True
    assert fanned["policy"]["action"] == "kept"
    rows = e2e.runtime.read_artifact(evaluation["report_uri"].replace("report.json", "examples.jsonl")).splitlines()
    assert [json.loads(r)["index"] for r in rows] == list(range(60))
