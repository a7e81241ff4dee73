"""A run's folder on this machine: its files, its settings, and the pipeline's own pre-flight check of them
(``customizer.validation``, the code "Validate the run" runs) before anything is uploaded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli.stack import ROOT, CliError
from customizer.errors import SettingsError
from customizer.settings import RunSettings, check_family, parse_deployment_settings, resolve_run_settings
from customizer.trigger import run_name_for
from customizer.validation.report import Report
from customizer.validation.validator import CheckSettings, DataSource, Role, validate_data

# The file names the folder may hold and the manifest key each becomes (as `python -m offline demo` reads them).
FILES = {"train.jsonl": "training", "validation.jsonl": "validation", "test.jsonl": "test"}
ROLES = {"training": Role.TRAINING, "validation": Role.VALIDATION, "test": Role.TEST}
SHOWN_ERRORS = 3


@dataclass
class Dataset:
    folder: Path
    files: dict[str, Path]  # manifest key -> local file
    settings: dict[str, Any]  # what the manifest carries: config.json, then --settings, --model, --type
    resolved: RunSettings

    def manifest(self, run_name: str) -> dict[str, Any]:
        manifest: dict[str, Any] = {key: path.name for key, path in self.files.items()}
        manifest["run_name"] = run_name
        if self.settings:
            manifest["settings"] = self.settings
        return manifest


def _json_object(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{where}: not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})", 2) from None
    if not isinstance(value, dict):
        raise CliError(f"{where}: must be a JSON object", 2)
    return value


def settings_option(value: str | None) -> dict[str, Any]:
    """``--settings``: a JSON object, or the path of a file holding one."""
    if not value:
        return {}
    path = Path(value)
    if not value.lstrip().startswith("{") and path.is_file():
        return _json_object(path.read_text(), f"--settings {path}")
    if not value.lstrip().startswith("{"):
        raise CliError(f"--settings {value!r}: no such file, and not a JSON object", 2)
    return _json_object(value, "--settings")


def load(folder: Path, *, model: str | None, customization_type: str | None, settings: str | None) -> Dataset:
    if not folder.is_dir():
        raise CliError(f"{folder}: not a folder (give the folder holding train.jsonl)", 2)
    files = {key: folder / name for name, key in FILES.items() if (folder / name).is_file()}
    if "training" not in files:
        raise CliError(
            f"{folder}/train.jsonl not found: the folder holds train.jsonl and optionally validation.jsonl, "
            "test.jsonl and config.json (settings)",
            2,
        )
    merged: dict[str, Any] = {}
    if (folder / "config.json").is_file():
        merged = _json_object((folder / "config.json").read_text(), f"{folder / 'config.json'}")
    merged = {**merged, **settings_option(settings)}
    if model:
        merged["base_model_id"] = model
    if customization_type:
        merged["customization_type"] = customization_type
    try:
        resolved = resolve_run_settings(stack_defaults(), merged)
        check_family(resolved, has_validation_data="validation" in files)
    except SettingsError as exc:
        raise CliError(f"{exc} (from {folder / 'config.json'}, --settings, --model or --type)", 2) from None
    # The model checked here is the model trained: named in the manifest, whatever the deployed defaults are.
    merged = {
        **merged,
        "base_model_id": resolved.base_model_id,
        "customization_type": resolved.customization_type.value,
    }
    return Dataset(folder, files, merged, resolved)


def stack_defaults() -> dict[str, Any]:
    """The run defaults the stack was synthesized with (cdk.json's ``pipeline.defaults``, as "Validate the run"
    gets them in RUN_DEFAULTS), so the local check merges the settings as the pipeline does; the settings'
    own defaults where there is no cdk.json beside the command."""
    path = ROOT / "cdk.json"
    if not path.is_file():
        return {}
    try:
        context = json.loads(path.read_text()).get("context", {})
        return parse_deployment_settings(context.get("pipeline")).defaults.model_dump(mode="json")
    except (ValueError, SettingsError) as exc:
        raise CliError(f"{path}: the stack's settings are not valid: {exc}", 2) from None


def preflight(dataset: Dataset) -> Report:
    """The pipeline's check of the data and settings; a dataset that fails it is one line with its first errors."""
    s = dataset.resolved
    report = validate_data(
        CheckSettings.of_run(s),
        [DataSource.from_path(ROLES[key], str(path)) for key, path in dataset.files.items()],
    )
    if not report.valid:
        raise CliError(
            f"{dataset.folder} does not pass the pre-flight check for {s.base_model_id} "
            f"({report.errors.total:,} error{'s' if report.errors.total != 1 else ''}): {report.summary(SHOWN_ERRORS)}; "
            f"the whole report: make -s validate FILE={dataset.files['training']} MODEL={s.base_model_id}"
        )
    return report


def default_run_name(folder: Path) -> str:
    return run_name_for(f"{folder.resolve().name}/manifest.json", "")
