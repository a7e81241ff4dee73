"""The foundation-model catalog: ``GetFoundationModel`` and ``ListFoundationModels`` in the emulator's region,
answered from the families' knowledge (``customizer.families``: each model's regions per customization type,
its invocation path), with a lifecycle tests can set (ACTIVE, LEGACY with its dates, past end of life).

Where the service's answer is a guess (no account to ask), it says so here and in the emulator's README:
- a model id the families do not know: ``ValidationException`` "The provided model identifier is invalid."
  (the message Bedrock gives for an unknown model id at run time);
- a model past its ``endOfLifeTime``: ``ResourceNotFoundException`` from GetFoundationModel, and left out of
  ListFoundationModels;
- every family model is listed in every region (inference reaches most models in most regions), with
  ``customizationsSupported`` holding only the types the families say are offered in this region;
- ``inferenceTypesSupported``: ``ON_DEMAND``, or ``INFERENCE_PROFILE`` for bases Bedrock serves on demand only
  through a cross-region profile (the user guide's value; botocore 1.44's enum lists ON_DEMAND and PROVISIONED);
- a distillation teacher that is no family's base model (Nova Premier, Claude 3.5 Sonnet, Llama 3.1 405B:
  ``customizer.families.distillation.TEACHERS``) is known only in its table regions, served ``ON_DEMAND`` and
  customizable in no way; elsewhere GetFoundationModel answers ``ResourceNotFoundException`` as for a model
  past its end of life (a guess: the service's wording for a model not offered in a region is not documented).

Not thread-safe by itself: the emulator holds the store's lock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from customizer.errors import SettingsError
from customizer.families import BASE_MODELS, BaseModel, CustomizationType, base_model, distillation
from customizer.families.distillation import Teacher
from offline.bedrock_emulator.errors import INVALID_MODEL_IDENTIFIER, ServiceError, invalid, not_found

ACTIVE, LEGACY = "ACTIVE", "LEGACY"
LEGACY_THROUGHPUT = "You can't create a new Provisioned Throughput for models in the Legacy state."


@dataclass(frozen=True)
class Lifecycle:
    status: str = ACTIVE
    legacy_time: datetime | None = None
    public_extended_access_time: datetime | None = None
    end_of_life_time: datetime | None = None

    def describe(self) -> dict[str, Any]:
        found: dict[str, Any] = {"status": self.status}
        for key, value in (
            ("legacyTime", self.legacy_time),
            ("publicExtendedAccessTime", self.public_extended_access_time),
            ("endOfLifeTime", self.end_of_life_time),
        ):
            if value is not None:
                found[key] = value
        return found


@dataclass
class Override:
    """What a test made the catalog say of one model: its lifecycle, or the customizations offered here."""

    lifecycle: Lifecycle | None = None
    customizations: tuple[CustomizationType, ...] | None = None


@dataclass
class Catalog:
    region: str
    overrides: dict[str, Override] = field(default_factory=dict)

    # ---- what tests set ----

    def set_model(
        self,
        model_id: str,
        *,
        status: str | None = None,
        legacy_time: datetime | None = None,
        public_extended_access_time: datetime | None = None,
        end_of_life_time: datetime | None = None,
        customizations: list[str] | None = None,
    ) -> None:
        """Make the catalog say this of ``model_id`` in this region (until ``reset``)."""
        override = self.overrides.setdefault(self._known_id(model_id), Override())
        if status is not None:
            if status not in (ACTIVE, LEGACY):
                raise ValueError(f"status must be {ACTIVE} or {LEGACY}, not {status!r}")
            override.lifecycle = Lifecycle(status, legacy_time, public_extended_access_time, end_of_life_time)
        elif any(t is not None for t in (legacy_time, public_extended_access_time, end_of_life_time)):
            current = override.lifecycle or Lifecycle()
            override.lifecycle = replace(
                current,
                legacy_time=legacy_time or current.legacy_time,
                public_extended_access_time=public_extended_access_time or current.public_extended_access_time,
                end_of_life_time=end_of_life_time or current.end_of_life_time,
            )
        if customizations is not None:
            override.customizations = tuple(CustomizationType(c) for c in customizations)

    def reset(self) -> None:
        self.overrides.clear()

    # ---- what the service says ----

    def lifecycle(self, model: BaseModel | Teacher) -> Lifecycle:
        override = self.overrides.get(model.model_id)
        return override.lifecycle if override and override.lifecycle else Lifecycle()

    def customizations(self, model: BaseModel) -> tuple[CustomizationType, ...]:
        override = self.overrides.get(model.model_id)
        if override and override.customizations is not None:
            return override.customizations
        return tuple(t for t in model.customization_types if self.region in model.regions_for(t))

    def offers(self, model: BaseModel, customization_type: CustomizationType) -> bool:
        return customization_type in self.customizations(model)

    def details(self, model: BaseModel, model_id: str) -> dict[str, Any]:
        inference = ["INFERENCE_PROFILE"] if model.on_demand_through_profile else ["ON_DEMAND"]
        return {
            "modelArn": f"arn:aws:bedrock:{self.region}::foundation-model/{model_id}",
            "modelId": model_id,
            "modelName": model.name,
            "providerName": model.provider or model.family.title(),
            "inputModalities": ["TEXT"],
            "outputModalities": ["TEXT"],
            "responseStreamingSupported": True,
            "customizationsSupported": [t.value for t in self.customizations(model)],
            "inferenceTypesSupported": inference,
            "modelLifecycle": self.lifecycle(model).describe(),
        }

    def teacher_details(self, teacher: Teacher) -> dict[str, Any]:
        """A teacher that is no base model: served on demand, customizable in no way (the module's guess)."""
        return {
            "modelArn": f"arn:aws:bedrock:{self.region}::foundation-model/{teacher.model_id}",
            "modelId": teacher.model_id,
            "modelName": teacher.name,
            "providerName": teacher.provider,
            "inputModalities": ["TEXT"],
            "outputModalities": ["TEXT"],
            "responseStreamingSupported": True,
            "customizationsSupported": [],
            "inferenceTypesSupported": ["ON_DEMAND"],
            "modelLifecycle": self.lifecycle(teacher).describe(),
        }

    def teacher_here(self, model_id: str, now: datetime) -> Teacher | None:
        """The teacher-only model ``model_id`` if it is offered in this region today, else None."""
        teacher = _teacher_only(model_id)
        if teacher is None or self.region not in teacher.regions or self._ended(teacher, now):
            return None
        return teacher

    def get(self, model_identifier: str, now: datetime) -> dict[str, Any]:
        model_id = model_identifier.rsplit("/", 1)[-1] if model_identifier.startswith("arn:") else model_identifier
        if _teacher_only(model_id) is not None:
            teacher = self.teacher_here(model_id, now)
            if teacher is None:
                raise not_found(f"The model {model_id} is not offered in {self.region}.")
            return {"modelDetails": self.teacher_details(teacher)}
        model = self._model(model_id)
        if self._ended(model, now):
            raise not_found(f"The model {model_id} has reached the end of its life and can't be found.")
        return {"modelDetails": self.details(model, model_id)}

    def list(self, p: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        summaries = []
        for model in BASE_MODELS:
            if self._ended(model, now):
                continue
            details = self.details(model, model.model_id)
            if p.get("byProvider") and details["providerName"].lower() != str(p["byProvider"]).lower():
                continue
            if p.get("byCustomizationType") and p["byCustomizationType"] not in details["customizationsSupported"]:
                continue
            if p.get("byInferenceType") and p["byInferenceType"] not in details["inferenceTypesSupported"]:
                continue
            if p.get("byOutputModality") and p["byOutputModality"] not in details["outputModalities"]:
                continue
            summaries.append(details)
        if not p.get("byCustomizationType"):  # a teacher-only model is customizable in no way
            for teacher in distillation.TEACHERS:
                found = self.teacher_here(teacher.model_id, now)
                if found is None:
                    continue
                details = self.teacher_details(found)
                if p.get("byProvider") and details["providerName"].lower() != str(p["byProvider"]).lower():
                    continue
                if p.get("byInferenceType") and p["byInferenceType"] not in details["inferenceTypesSupported"]:
                    continue
                summaries.append(details)
        return {"modelSummaries": summaries}

    def check_throughput(self, model: BaseModel) -> None:
        """Bedrock creates no provisioned throughput for a model whose base is Legacy (user guide, "Model
        lifecycle")."""
        if self.lifecycle(model).status == LEGACY:
            raise invalid(LEGACY_THROUGHPUT)

    def check_customization(self, model: BaseModel, customization_type: CustomizationType, now: datetime) -> None:
        if self._ended(model, now):
            raise invalid(f"The model {model.model_id} has reached the end of its life.")
        if not self.offers(model, customization_type):
            raise invalid(
                f"The base model {model.model_id} does not support {customization_type.value} in {self.region}."
            )

    def _ended(self, model: BaseModel | Teacher, now: datetime) -> bool:
        end = self.lifecycle(model).end_of_life_time
        return end is not None and end <= now

    @classmethod
    def _known_id(cls, model_id: str) -> str:
        """The catalog's key for ``model_id``: a base model's id, or a teacher-only model's."""
        teacher = _teacher_only(model_id)
        return teacher.model_id if teacher is not None else cls._model(model_id).model_id

    @staticmethod
    def _model(model_id: str) -> BaseModel:
        try:
            return base_model(model_id)
        except SettingsError:
            raise ServiceError("ValidationException", INVALID_MODEL_IDENTIFIER) from None


def _teacher_only(model_id: str) -> Teacher | None:
    """A distillation teacher that is no family's base model (Nova Pro and Llama 3.1 70B are both)."""
    teacher = distillation.find_teacher(model_id)
    if teacher is None:
        return None
    try:
        base_model(teacher.model_id)
    except SettingsError:
        return teacher
    return None
