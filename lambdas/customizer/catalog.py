"""Ask Bedrock, before any money is spent, whether the run's base model can be customized and served as the run
wants, in this region, today: one ``GetFoundationModel`` call (``customizationsSupported``,
``inferenceTypesSupported``, ``modelLifecycle``). The service decides; the families' knowledge
(``BaseModel.regions``, as of ``REGIONS_AS_OF``) only names what would work instead.

The rules, and where AWS states them:
- the customization type must be in ``customizationsSupported`` for the region (GetFoundationModel's output;
  user guide, "Supported models and Regions for fine-tuning and continued pre-training");
- "You can't create a new Provisioned Throughput for models in the Legacy state" (user guide, "Model
  lifecycle"): a Legacy base with provisioned-throughput serving is refused before training, which would be
  paid for and then fail at "Create the throughput"; on-demand deployment is suggested where the family has it;
- a custom model can be used until its base's end of life (same page): a run that could still be going at
  ``endOfLifeTime`` (its job timeout plus its throughput's estimated hours) is refused;
- a Legacy base that can still run is a warning with its dates;
- the evaluation calls the base model on demand, directly (``ON_DEMAND``) or through an inference profile
  (``INFERENCE_PROFILE``, or a configured ``evaluation.base_invoke_id``): a base served neither way cannot be
  compared against, and a run with a test set is refused;
- a distillation's teacher must be offered in the region, Active, and callable on demand or through an
  inference profile: Bedrock generates the training answers by invoking it ("Choose teacher and student models
  for distillation", prequisites-model-distillation: the teachers' supported Regions, and "For some teacher
  models, you can choose a Cross-Region inference profile"), and the evaluation's teacher arm calls it on
  demand (``check_teacher``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from customizer import aws
from customizer.errors import SettingsError
from customizer.families import BASE_MODELS, REGIONS_AS_OF, BaseModel, CustomizationType, distillation
from customizer.families.base import profile_id
from customizer.settings import RunSettings

LEGACY = "LEGACY"
NOT_HERE = frozenset({"ResourceNotFoundException", "ValidationException"})
ON_DEMAND, INFERENCE_PROFILE = "ON_DEMAND", "INFERENCE_PROFILE"


@dataclass(frozen=True)
class Offering:
    """What GetFoundationModel says of a base model in one region."""

    model_id: str
    customizations: tuple[str, ...]
    inference_types: tuple[str, ...]
    status: str
    legacy_time: datetime | None = None
    public_extended_access_time: datetime | None = None
    end_of_life_time: datetime | None = None

    @classmethod
    def from_details(cls, details: dict[str, Any]) -> Offering:
        lifecycle = details.get("modelLifecycle") or {}
        return cls(
            model_id=str(details.get("modelId", "")),
            customizations=tuple(details.get("customizationsSupported") or ()),
            inference_types=tuple(details.get("inferenceTypesSupported") or ()),
            # botocore makes every lifecycle member optional: a missing status is taken as Active.
            status=str(lifecycle.get("status") or "ACTIVE"),
            legacy_time=lifecycle.get("legacyTime"),
            public_extended_access_time=lifecycle.get("publicExtendedAccessTime"),
            end_of_life_time=lifecycle.get("endOfLifeTime"),
        )

    def dates(self) -> str:
        parts = [
            f"{label} {when.date().isoformat()}"
            for label, when in (
                ("legacy since", self.legacy_time),
                ("public extended access from", self.public_extended_access_time),
                ("end of life", self.end_of_life_time),
            )
            if when is not None
        ]
        return ", ".join(parts) or "no dates given"


@dataclass(frozen=True)
class CatalogWarning:
    code: str
    setting: str
    message: str


def describe(model_id: str, client: Any | None = None) -> Offering | None:
    """GetFoundationModel in the SDK's region (or ``client``'s); None when the service does not know the model
    there."""
    bedrock = client if client is not None else aws.client("bedrock")
    with aws.translate_errors("GetFoundationModel"):
        try:
            details = bedrock.get_foundation_model(modelIdentifier=model_id)["modelDetails"]
        except ClientError as exc:
            # Not offered here: ResourceNotFoundException, or "The provided model identifier is invalid."
            if aws.error_code(exc) in NOT_HERE:
                return None
            raise
    return Offering.from_details(details)


def elsewhere(model: BaseModel, customization_type: CustomizationType) -> str:
    """Where this project's table says the customization is offered, and which bases offer it in a region."""
    regions = model.regions_for(customization_type)
    if regions:
        return f"offered in {', '.join(regions)} (this project's table of the user guide, {REGIONS_AS_OF})"
    return f"offered in no region by this project's table of the user guide ({REGIONS_AS_OF})"


def bases_offering(customization_type: CustomizationType, region: str | None) -> list[str]:
    return [m.model_id for m in BASE_MODELS if region and region in m.regions_for(customization_type)]


def check_offered(settings: RunSettings, region: str | None, offering: Offering | None) -> Offering:
    """Raise SettingsError naming the setting and what would work when Bedrock does not offer the run's
    customization of its base model in ``region``. ``offering``: what GetFoundationModel said (None: unknown
    there). Asked first, before the data is read: a run in the wrong region is told so at once."""
    model = settings.model
    ctype = settings.customization_type
    where = region or "(no region)"
    others = ", ".join(bases_offering(ctype, region)) or "none in this project's table"
    if offering is None:
        raise SettingsError(
            f"settings.base_model_id: Bedrock does not know {settings.base_model_id} in {where}; "
            f"{ctype.value} of it is {elsewhere(model, ctype)}; bases offering it in {where}: {others}"
        )
    if ctype.value not in offering.customizations:
        offered = ", ".join(offering.customizations) or "none"
        raise SettingsError(
            f"settings.customization_type: Bedrock does not offer {ctype.value} of {settings.base_model_id} in "
            f"{where} (offered there: {offered}); it is {elsewhere(model, ctype)}; bases offering it in {where}: "
            f"{others}"
        )
    return offering


def check_lifecycle(
    settings: RunSettings,
    region: str | None,
    offering: Offering,
    *,
    now: datetime,
    run_hours: float,
    evaluates_base: bool,
) -> list[CatalogWarning]:
    """Raise SettingsError when the base's lifecycle or inference types rule the run out (a Legacy base with
    provisioned throughput, an end of life before the run could end, a base the evaluation cannot call); return
    the warnings of a run that can go on (a Legacy base served on demand)."""
    model = settings.model
    where = region or "(no region)"
    end = offering.end_of_life_time
    if end is not None and end <= now + timedelta(hours=run_hours):
        raise SettingsError(
            f"settings.base_model_id: {settings.base_model_id} reaches its end of life on {end.isoformat()}, "
            f"before this run could end (up to {run_hours:.1f} h: the job's timeout and the throughput's "
            "estimated hours); requests to it and its custom models fail from then on: choose an Active base"
        )
    warnings: list[CatalogWarning] = []
    if offering.status == LEGACY:
        if settings.serving == "provisioned_throughput":
            instead = (
                "set settings.serving to on_demand, or choose an Active base"
                if model.on_demand_deployment
                else "choose an Active base"
            )
            raise SettingsError(
                f"settings.base_model_id: {settings.base_model_id} is Legacy in {where} ({offering.dates()}); "
                "Bedrock creates no new provisioned throughput for Legacy models, so the run would train, then "
                f"fail at its throughput; {instead}"
            )
        warnings.append(
            CatalogWarning(
                "legacy_base",
                "settings.base_model_id",
                f"{settings.base_model_id} is Legacy in {where} ({offering.dates()}): it can still be customized "
                "and served on demand here, but plan to move to an Active base",
            )
        )
    if (
        evaluates_base
        and not settings.evaluation.base_invoke_id
        and not {ON_DEMAND, INFERENCE_PROFILE} & set(offering.inference_types)
    ):
        raise SettingsError(
            f"settings.evaluation.base_invoke_id: Bedrock serves {settings.base_model_id} in {where} neither on "
            f"demand nor through an inference profile (inference types: {', '.join(offering.inference_types)}), "
            "so the evaluation cannot call the base model; give the id or ARN of an inference profile for it"
        )
    return warnings


def check_teacher(settings: RunSettings, region: str | None, offering: Offering | None) -> Offering:
    """Raise SettingsError naming ``settings.distillation.teacher_model_id`` when Bedrock does not offer the
    teacher in ``region`` (``offering``: GetFoundationModel's answer for it; None: unknown there), when it is not
    Active, or when it can be called neither on demand nor through an inference profile."""
    assert settings.distillation is not None
    teacher = distillation.teacher(settings.distillation.teacher_model_id)
    where = region or "(no region)"
    listed = ", ".join(teacher.regions) or "no region"
    table = f"it is a teacher in {listed} (this project's table of the user guide, {distillation.PAIRS_AS_OF})"
    setting = "settings.distillation.teacher_model_id"
    if offering is None:
        raise SettingsError(
            f"{setting}: Bedrock does not offer {teacher.model_id} in {where}, so it cannot teach here; {table}; "
            "run the pipeline in a region that offers it, or choose another teacher"
        )
    if offering.status != "ACTIVE":
        raise SettingsError(
            f"{setting}: {teacher.model_id} is {offering.status.title()} in {where} ({offering.dates()}); new "
            'customers cannot use Legacy models (user guide, "Model lifecycle"): choose an Active teacher'
        )
    if not {ON_DEMAND, INFERENCE_PROFILE} & set(offering.inference_types):
        raise SettingsError(
            f"{setting}: Bedrock serves {teacher.model_id} in {where} neither on demand nor through an inference "
            f"profile (inference types: {', '.join(offering.inference_types) or 'none'}), so it cannot answer the "
            "distillation's prompts; choose another teacher"
        )
    return offering


def teacher_invoke_id(teacher_model_id: str, region: str | None, offering: Offering) -> str:
    """What the evaluation's teacher arm calls the teacher by: its model id where Bedrock serves it on demand,
    else its system-defined cross-region inference profile (``<geography>.<model id>``) in ``region``."""
    model_id = distillation.teacher(teacher_model_id).model_id
    if ON_DEMAND in offering.inference_types:
        return model_id
    return profile_id(model_id, region, "settings.distillation.teacher_model_id")
