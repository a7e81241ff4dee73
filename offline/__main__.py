"""``python -m offline demo``: one complete run of the deployed design on this machine.

It synthesizes the CDK app, brings up the offline AWS (moto + the Bedrock emulator), creates the stack on
it, uploads a dataset the way users do (files, then ``manifest.json``), and prints each state as the
state machine enters it, then the evaluation, the cleanup outcome and where the reports are. Exit code 0
when the run succeeds, 1 when it fails, 2 on a usage error."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from offline.runtime import OfflineRuntime, RunResult, StateEvent, sample_dir

DATA_FILES = {"train.jsonl": "training", "validation.jsonl": "validation", "test.jsonl": "test"}
REPORTS = Path(__file__).resolve().parent.parent / ".offline" / "reports"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m offline", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the whole pipeline offline on a dataset")
    demo.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder with train.jsonl and optional validation.jsonl, test.jsonl, config.json "
        "(default: the bundled customer-support sample)",
    )
    demo.add_argument("--base-model", default=None, help="base model id (default: the stack's default)")
    demo.add_argument(
        "--type",
        dest="customization_type",
        default=None,
        choices=["FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION", "REINFORCEMENT_FINE_TUNING"],
        help="REINFORCEMENT_FINE_TUNING runs on Nova 2 Lite, graded by the project's token F1 scorer (DEMO_RFT)",
    )
    demo.add_argument("--run-name", default="support-demo")
    demo.add_argument(
        "--via",
        choices=["upload", "console"],
        default="upload",
        help="start the run by uploading a manifest (default) or with a console-style input",
    )
    demo.add_argument("--job-seconds", type=float, default=2.0, help="how long the emulated training takes")
    demo.add_argument(
        "--keep-running",
        action="store_true",
        help="keep the offline AWS up afterwards so you can look at it with the AWS CLI",
    )
    demo.add_argument(
        "--judge",
        action="store_true",
        help="also grade both models' answers with a Bedrock judge (the emulator's deterministic judge), and let "
        "its correctness decide the promotion (settings.evaluation.judge)",
    )
    demo.add_argument(
        "--invocation-logs",
        action="store_true",
        help="with --type DISTILLATION: train from the sample as the teacher's invocation logs "
        "(settings.invocation_logs) instead of a prompts file",
    )
    demo.add_argument("--moto-port", type=int, default=None)
    return parser


# What --judge sets: two built-in metrics and a rubric; judge.correctness decides the promotion.
DEMO_JUDGE = {
    "evaluation": {
        "metric": "judge.correctness",
        "judge": {
            "enabled": True,
            "metrics": ["Builtin.Correctness", "Builtin.Completeness"],
            "custom_metrics": [
                {
                    "name": "actionable",
                    "instructions": "Does the response tell the customer what to do next? Question: {{prompt}} "
                    "Response: {{prediction}} Reference: {{ground_truth}}",
                    "rating_scale": [
                        {"definition": "no", "value": 0},
                        {"definition": "partly", "value": 1},
                        {"definition": "yes", "value": 2},
                    ],
                }
            ],
            "poll_seconds": 1,
        },
    }
}


# What --type REINFORCEMENT_FINE_TUNING sets where the run does not: the one base Bedrock offers it on, the
# project's token F1 scorer as the grader (served by the stack's reward function), a short training.
RFT = "REINFORCEMENT_FINE_TUNING"
DEMO_RFT = {
    "base_model_id": "amazon.nova-2-lite-v1:0",
    "grader": {"scorer": "token_f1"},
    "hyperparameters": {"epochCount": 2, "batchSize": 64, "trainingSamplePerPrompt": 4},
}


# What --type DISTILLATION sets where the run does not: a student and a teacher Bedrock pairs (us-east-1), and a
# promotion rule that asks the student to reach 90% of its teacher's score (evaluation.min_fraction_of_teacher).
DISTILLATION = "DISTILLATION"
DEMO_DISTILLATION = {
    "base_model_id": "amazon.nova-micro-v1:0",
    "distillation": {"teacher_model_id": "amazon.nova-pro-v1:0", "max_response_length": 500},
    "evaluation": {"min_fraction_of_teacher": 0.9},
}


def _print_state(started: float) -> Any:
    def show(event: StateEvent) -> None:
        print(f"  {time.monotonic() - started:6.1f}s  {event.name}", flush=True)

    return show


def _summary(aws: OfflineRuntime, result: RunResult) -> None:
    output = result.output or {}
    print(f"\nRun {result.status} in {result.seconds:.1f}s ({result.execution_arn.rsplit(':', 1)[-1]})")
    evaluation = output.get("evaluation")
    if evaluation:
        _print_evaluation(evaluation)
    policy = output.get("policy")
    if policy:
        print(f"\nThroughput policy: {policy['action']} ({policy['reason']})")
    estimate = (output.get("run") or {}).get("throughput_estimate")
    if estimate and estimate["billed_hourly"]:
        kept = estimate["hours_if_kept"]
        print(
            f"Throughput hours estimated before the run (in AWS): {estimate['hours_until_decision']:.2f} until the "
            f"decision (USD {estimate['usd_until_decision']}), "
            + (f"{kept:.2f} if kept (until {estimate['kept_until']})" if kept is not None else "no end if kept")
        )
    notes = aws.notifications()
    if notes:
        last = notes[-1]
        print(f"\nNotification: {last['status']}: {last['reason']}")
        if last.get("cleanup"):
            print(f"Cleanup: {last['cleanup']}")
    if result.status != "SUCCEEDED":
        print(f"\nError: {result.error}: {result.cause}")
    state = aws.emulator.state() if aws.emulator else {}
    live = [f"{t['provisionedModelName']} ({t['status']})" for t in state.get("throughputs", [])]
    print(f"\nProvisioned throughput left in the (emulated) account: {', '.join(live) if live else 'none'}")
    if evaluation:
        local = _save_reports(aws, evaluation, output["run"]["run_id"])
        print("\nReports (in the emulated artifacts bucket, and copied here):")
        for uri in (evaluation.get("report_html_uri"), evaluation["report_markdown_uri"], evaluation["report_uri"]):
            if uri:
                print(f"  {uri}")
        print(f"  {local / 'report.html'}  <- open this one in a browser")


def _print_evaluation(evaluation: dict[str, Any]) -> None:
    from customizer.evaluation.metrics import metric_title

    c, b = evaluation["custom"], evaluation["base"]
    how = "fanned out in chunks" if evaluation.get("mode") == "fan_out" else "in one step"
    print(f"\nEvaluation on the held-out test set ({c['examples']} examples, {how}):")
    print(f"  {'metric':<24}{'custom':>9}{'base':>9}   custom - base (95% CI)")
    for m in evaluation.get("comparison", []):
        print(
            f"  {metric_title(m['metric']):<24}{m['custom']:>9.3f}{m['base']:>9.3f}   "
            f"{m['difference']:+.3f} ({m['ci_low']:+.3f} to {m['ci_high']:+.3f})"
        )

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0f} ms"

    for name, key in (("latency p50", "latency_p50_ms"), ("latency p95", "latency_p95_ms")):
        print(f"  {name:<24}{ms(c.get(key)):>9}{ms(b.get(key)):>9}")
    print(f"  {'errors':<24}{c['errors']:>9}{b['errors']:>9}")
    teacher = evaluation.get("teacher")
    if teacher:
        print(f"\nThe teacher {teacher['model_id']} on the same examples (a distillation's third arm):")
        print(f"  {'metric':<24}{'custom':>9}{'base':>9}{'teacher':>9}   custom - teacher (95% CI)")
        base = {m["metric"]: m["base"] for m in evaluation.get("comparison", [])}
        for t in evaluation.get("teacher_comparison", []):
            print(
                f"  {metric_title(t['metric']):<24}{t['custom']:>9.3f}{base.get(t['metric'], 0.0):>9.3f}"
                f"{t['teacher']:>9.3f}   {t['difference']:+.3f} ({t['ci_low']:+.3f} to {t['ci_high']:+.3f})"
            )
        print(f"  {'errors':<24}{c['errors']:>9}{b['errors']:>9}{teacher['errors']:>9}")
    judge = evaluation.get("judge")
    if judge:
        if judge["status"] == "Failed":
            print(f"  the judge ({judge['model_id']}) failed: {judge['message']}")
        else:
            print(f"  (judge {judge['model_id']}: {len(judge['jobs'])} evaluation jobs)")
    decision = evaluation.get("decision")
    print(
        f"\nDecision: {decision['reason'] if decision else 'custom beats base: ' + str(evaluation['custom_beats_base'])}"
    )
    training = evaluation.get("training")
    if training and training.get("reward_points"):
        print(
            f"\nTraining reward (the grader's mean score): {training['first_training_reward']} at the first step, "
            f"{training['final_training_reward']} at the last, best {training['best_training_reward']} "
            f"({training['reward_points']} steps)"
        )
    if training:
        print(
            f"\nTraining: {training['training_steps']} steps, final / best loss {training['final_training_loss']} / "
            f"{training['best_training_loss']}; validation {training['final_validation_loss']} / "
            f"{training['best_validation_loss']}; perplexity {training['final_training_perplexity']} / "
            f"{training['final_validation_perplexity']}"
        )
        for warning in training["warnings"]:
            print(f"  warning: {warning}")


def _save_reports(aws: OfflineRuntime, evaluation: dict[str, Any], run_id: str) -> Path:
    """Copy the run's reports out of the emulated bucket (which goes away with the demo)."""
    folder = REPORTS / run_id
    folder.mkdir(parents=True, exist_ok=True)
    base = evaluation["report_uri"].rsplit("/", 1)[0]
    for name in ("report.html", "report.md", "report.json", "examples.jsonl"):
        try:
            (folder / name).write_bytes(aws.read_artifact(f"{base}/{name}"))
        except Exception:  # noqa: S112 - an older report has fewer files; copy what there is
            continue
    return folder.resolve()


def _keep_running(aws: OfflineRuntime) -> None:
    """Until Ctrl-C: the offline AWS stays up, and ``.offline/endpoints.json`` says where it is."""
    assert aws.emulator is not None
    port = aws.moto_port
    endpoints = aws.write_endpoints()
    keys = f"AWS_ACCESS_KEY_ID={os.environ['AWS_ACCESS_KEY_ID']} AWS_SECRET_ACCESS_KEY={os.environ['AWS_SECRET_ACCESS_KEY']}"
    print(
        f"\nThe offline AWS is still up. In another shell (export {keys} AWS_DEFAULT_REGION=us-east-1; moto\n"
        "enforces IAM and knows these keys, the offline operator's):\n"
        f"  aws --endpoint-url http://127.0.0.1:{port} stepfunctions list-executions "
        f"--state-machine-arn {aws.state_machine_arn}\n"
        f"  aws --endpoint-url http://127.0.0.1:{port} s3 ls s3://{aws.artifacts_bucket} --recursive\n"
        f"  aws --endpoint-url {aws.emulator.endpoint_url} bedrock list-custom-models\n"
        "  .venv/bin/bedrock-customize --offline runs   (or ui: the run browser)\n"
        "Press Ctrl-C to stop."
    )

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # `kill` stops it as Ctrl-C does, endpoints file removed
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        endpoints.unlink(missing_ok=True)  # the stack goes away with this process


def _sample_for(settings: dict[str, Any], files: dict[str, bytes]) -> dict[str, bytes]:
    """The bundled sample (prompt/completion records) in the data format of the run's base model: the given one,
    else the stack's default (cdk.json)."""
    from customizer.errors import SettingsError
    from customizer.families import base_model
    from offline.sample_data import as_format
    from offline.synth import cdk_context

    defaults = cdk_context()["pipeline"]["defaults"]
    try:
        model = base_model(settings.get("base_model_id") or defaults["base_model_id"])
        data_format = model.data_format(settings.get("customization_type") or defaults["customization_type"])
    except SettingsError:
        return files  # the run's validation names the problem
    # Nova 2 Lite: Bedrock does not use one, and the run would refuse it; a distillation is not given one here.
    if not model.validation_data or data_format.value == "distillation-prompts":
        files = {name: body for name, body in files.items() if name != "validation.jsonl"}
    return {name: as_format(body, data_format.value, test=name == "test.jsonl") for name, body in files.items()}


def _demo_settings(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    settings: dict[str, Any] = {"poll": {"job_seconds": 1, "throughput_seconds": 1}}
    if (data_dir / "config.json").is_file():
        settings = {**json.loads((data_dir / "config.json").read_text()), **settings}
    if args.base_model:
        settings["base_model_id"] = args.base_model
    if args.customization_type:
        settings["customization_type"] = args.customization_type
    if settings.get("customization_type") == RFT:
        settings = {**DEMO_RFT, **settings}
    if settings.get("customization_type") == DISTILLATION:
        from customizer.settings import deep_merge

        settings = deep_merge(DEMO_DISTILLATION, settings)
    if args.judge:
        from customizer.settings import deep_merge

        settings = deep_merge(settings, DEMO_JUDGE)
    return settings


def _from_invocation_logs(
    aws: OfflineRuntime, settings: dict[str, Any], files: dict[str, bytes], train: bytes
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """--invocation-logs: the sample's training prompts as the teacher's invocation logs in the data bucket
    (offline/sample_data.py), named by settings.invocation_logs instead of a training file."""
    from offline.sample_data import as_invocation_logs

    teacher = (settings.get("distillation") or {}).get("teacher_model_id", "amazon.nova-pro-v1:0")
    prefix = f"invocation-logs/{time.strftime('%Y%m%dT%H%M%S')}/"
    for key, body in as_invocation_logs(train, teacher).items():
        aws.upload(prefix + key, body)
    print(f"  invocation logs of {teacher} under s3://{aws.data_bucket}/{prefix}")
    # The logged responses are the sample's answers: train on them (use_prompt_response), as a team would on a
    # teacher's production answers it trusts.
    logs = {
        "s3_uri": f"s3://{aws.data_bucket}/{prefix}",
        "use_prompt_response": True,
        "request_metadata_filters": {"equals": {"project": "support"}},
    }
    rest = {name: body for name, body in files.items() if name != "train.jsonl"}
    return {**settings, "invocation_logs": logs}, rest


def demo(args: argparse.Namespace) -> int:
    data_dir: Path = args.data or sample_dir()
    if not (data_dir / "train.jsonl").is_file():
        print(f"error: {data_dir}/train.jsonl not found (--data names a folder with train.jsonl)", file=sys.stderr)
        return 2
    settings = _demo_settings(args, data_dir)
    started = time.monotonic()
    print("Synthesizing the CDK app and starting the offline AWS...", flush=True)
    enforce = os.environ.get("OFFLINE_ENFORCE_IAM") != "0"  # IAM enforced in the demo unless turned off
    with OfflineRuntime(moto_port=args.moto_port, quiet=True, enforce_iam=enforce) as aws:
        assert aws.emulator is not None
        aws.emulator.configure(job_seconds=args.job_seconds, throughput_seconds=1.0)
        print(
            f"  ready in {time.monotonic() - started:.1f}s: data bucket {aws.data_bucket}, "
            f"artifacts bucket {aws.artifacts_bucket}"
        )
        files = {name: (data_dir / name).read_bytes() for name in DATA_FILES if (data_dir / name).is_file()}
        if args.data is None:
            files = _sample_for(settings, files)
        if args.invocation_logs:
            settings, files = _from_invocation_logs(aws, settings, files, (data_dir / "train.jsonl").read_bytes())
        manifest: dict[str, Any] = {key: name for name, key in DATA_FILES.items() if name in files}
        manifest["settings"] = settings
        print(
            f"\nStarting run {args.run_name!r} on {', '.join(files)} ({'upload' if args.via == 'upload' else 'console'})"
        )
        if args.via == "upload":
            executions = aws.upload_run(args.run_name, files, manifest)
            if len(executions) != 1:
                print(f"error: the upload started {len(executions)} executions", file=sys.stderr)
                return 1
            arn = executions[0]
        else:
            folder = f"{aws.run_prefix}{args.run_name}/"
            request: dict[str, Any] = {"run_name": args.run_name, "settings": settings}
            for name, key in DATA_FILES.items():
                if name in files:
                    request[f"{key}_data"] = aws.upload(folder + name, files[name])
            arn = aws.start_console_run(request)
        result = aws.wait(arn, on_state=_print_state(time.monotonic()))
        _summary(aws, result)
        print(f"\nDemo wall time: {time.monotonic() - started:.1f}s")
        if args.keep_running:
            _keep_running(aws)
        return 0 if result.status == "SUCCEEDED" else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        return demo(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
