"""The pre-flight check on your own machine, before uploading: the same checks as the pipeline's first step.

    python -m customizer.validation train.jsonl --model amazon.titan-text-express-v1 [--type FINE_TUNING]
        [--validation validation.jsonl] [--test test.jsonl] [--hyperparameters '{"epochCount": 2}']
        [--region us-east-1 [--live]] [--format markdown|json]

``--region``: is the customization offered there, by this project's table of the user guide (the families'
knowledge); ``--live`` also asks Bedrock (GetFoundationModel, with your credentials), as the pipeline does, and
says so when it could not.

Exit status: 0 when the data is valid (warnings allowed), 1 when it is not, 2 on a usage error."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from customizer.errors import PipelineError, SettingsError
from customizer.families import BASE_MODELS, REGIONS_AS_OF, CustomizationType, base_model
from customizer.validation.report import Report
from customizer.validation.validator import CheckSettings, DataSource, Role, validate_data

EXIT_VALID, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own usage errors also exit 2
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parser() -> _Parser:
    parser = _Parser(
        prog="validate",
        description="Check JSONL training data and settings against a Bedrock base model before any money is spent.",
        epilog="Exit status: 0 valid (warnings allowed), 1 invalid, 2 usage error.",
    )
    parser.add_argument("training", help="training data (JSON Lines)")
    parser.add_argument(
        "--model", required=True, help="base model id; one of: " + ", ".join(m.model_id for m in BASE_MODELS)
    )
    parser.add_argument(
        "--type", default=CustomizationType.FINE_TUNING.value, help=", ".join(t.value for t in CustomizationType)
    )
    parser.add_argument("--validation", help="validation data (JSON Lines)")
    parser.add_argument("--test", help="test data for the evaluation (JSON Lines)")
    parser.add_argument("--hyperparameters", default="{}", help="a JSON object, e.g. '{\"epochCount\": 2}'")
    parser.add_argument("--model-units", type=int, default=1, help="provisioned throughput model units (cost)")
    parser.add_argument(
        "--prices", help="a JSON object overriding list prices, e.g. '{\"training_per_1k_tokens\": 0.008}'"
    )
    parser.add_argument(
        "--region",
        help="where the run would be: the customization is checked to be offered there (not checked without)",
    )
    parser.add_argument(
        "--live", action="store_true", help="also ask Bedrock (GetFoundationModel) with your AWS credentials"
    )
    parser.add_argument(
        "--data-bucket",
        default=None,
        help="with --live: the stack's data bucket, where the images and videos the records name are checked "
        "(HEAD) to exist and to be within the model's size limits, as the pipeline does",
    )
    parser.add_argument("--format", choices=["markdown", "text", "json"], default="markdown", help="report format")
    return parser


def _json_object(parser: _Parser, text: str | None, option: str) -> dict[str, Any] | None:
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        parser.error(f"{option}: not valid JSON ({exc.msg})")
    if not isinstance(value, dict):
        parser.error(f"{option}: must be a JSON object")
    return dict(value)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        base_model(args.model)
    except SettingsError as exc:
        parser.error(str(exc).replace("settings.base_model_id", "--model"))
    if args.type not in {t.value for t in CustomizationType}:
        parser.error(f"--type: {args.type!r}; allowed: {', '.join(t.value for t in CustomizationType)}")
    sources = []
    for role, path in ((Role.TRAINING, args.training), (Role.VALIDATION, args.validation), (Role.TEST, args.test)):
        if path is None:
            continue
        if not os.path.isfile(path):
            parser.error(f"{path}: no such file")
        sources.append(DataSource.from_path(role, path))
    settings = CheckSettings(
        base_model_id=args.model,
        customization_type=args.type,
        hyperparameters=_json_object(parser, args.hyperparameters, "--hyperparameters") or {},
        model_units=args.model_units,
        prices=_json_object(parser, args.prices, "--prices"),
    )
    report = validate_data(settings, sources)
    check_availability(report, args.model, args.type, args.region, live=args.live)
    if report.media:
        check_named_media(report, args.model, args.data_bucket, args.region, live=args.live)
    if args.format == "json":
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report.to_markdown(), end="")
    return EXIT_VALID if report.valid else EXIT_INVALID


def check_named_media(report: Report, model_id: str, bucket: str | None, region: str | None, *, live: bool) -> None:
    """The pipeline's media check (HEAD in the data bucket) where the bucket and credentials are given; else a
    warning saying it was not made and why."""
    import boto3

    why = None
    if not (live and bucket):
        why = "give --live and --data-bucket (with AWS credentials) to check them here"
    elif boto3.session.Session(region_name=region).get_credentials() is None:
        why = "no AWS credentials found"
    if why is not None:
        report.warnings.add(
            "media_not_checked",
            None,
            None,
            None,
            f"{report.media_total:,} images or videos named; not checked to exist from the command line ({why}; "
            "the pipeline checks each in the data bucket before any job)",
        )
        return
    assert bucket is not None
    from customizer.validation.media import check_media

    client = boto3.session.Session(region_name=region).client("s3")
    check_media(report, bucket, client, media=base_model(model_id).media)


def check_availability(
    report: Report, model_id: str, customization_type: str, region: str | None, *, live: bool
) -> None:
    """Where the run could be: from the families' knowledge, and with ``live`` from Bedrock itself. A check
    that could not be made is a warning saying so (never silence)."""
    model = base_model(model_id)
    ctype = CustomizationType(customization_type)
    if region is None:
        if live:
            report.warnings.add("live_check_not_made", None, None, "--live", "no --region given: Bedrock was not asked")
        return
    regions = model.regions_for(ctype)
    if region not in regions:
        offered = ", ".join(regions) or "no region"
        report.errors.add(
            "not_offered_here",
            None,
            None,
            "--region",
            f"{ctype.value} of {model.model_id} is not offered in {region} by this project's table of the user guide "
            f"({REGIONS_AS_OF}): offered in {offered}",
        )
    if not model.listed:
        report.warnings.add(
            "not_listed",
            None,
            None,
            "--model",
            f"Bedrock's user guide no longer lists {model.model_id} for customization; the pipeline's live check "
            "(GetFoundationModel) decides at run time",
        )
    if not live:
        report.warnings.add(
            "live_check_not_made",
            None,
            None,
            "--live",
            f"Bedrock was not asked (give --live, with AWS credentials): {model.model_id}'s lifecycle in {region} "
            "and today's availability are unchecked",
        )
        return
    _ask_bedrock(report, model_id, ctype, region)


def _ask_bedrock(report: Report, model_id: str, ctype: CustomizationType, region: str) -> None:
    import boto3

    from customizer.catalog import LEGACY, check_offered, describe
    from customizer.settings import RunSettings

    session = boto3.session.Session(region_name=region)
    if session.get_credentials() is None:
        report.warnings.add(
            "live_check_not_made",
            None,
            None,
            "--live",
            "no AWS credentials found: Bedrock was not asked; availability is from this project's table only",
        )
        return
    try:
        offering = describe(model_id, client=session.client("bedrock"))
    except PipelineError as exc:
        report.warnings.add("live_check_not_made", None, None, "--live", f"Bedrock could not be asked: {exc}")
        return
    try:
        # The pipeline's own check of the same answer (customizer.catalog), so the two cannot disagree.
        offering = check_offered(RunSettings(base_model_id=model_id, customization_type=ctype), region, offering)
    except SettingsError as exc:
        report.errors.add("not_offered_here", None, None, "--region", f"GetFoundationModel in {region}: {exc}")
        return
    if offering.status == LEGACY:
        report.warnings.add(
            "legacy_base",
            None,
            None,
            "--model",
            f"{model_id} is Legacy in {region} ({offering.dates()}): a run that buys provisioned throughput is "
            "refused; serve it on demand where the family allows, or choose an Active base",
        )
