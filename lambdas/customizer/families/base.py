"""What the pipeline knows about a base model: its data format, limits, hyperparameter ranges and
request/response bodies. Each family module builds ``BaseModel`` entries from these pieces; every step
(validation, job creation, evaluation) and the offline emulator reads them through
``customizer.families``."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from customizer.errors import SettingsError


class CustomizationType(enum.StrEnum):
    FINE_TUNING = "FINE_TUNING"
    CONTINUED_PRE_TRAINING = "CONTINUED_PRE_TRAINING"
    DISTILLATION = "DISTILLATION"
    REINFORCEMENT_FINE_TUNING = "REINFORCEMENT_FINE_TUNING"


class DataFormat(enum.StrEnum):
    """The JSONL record shapes Bedrock accepts (see docs/ and ../shared/reference/bedrock.md)."""

    PROMPT_COMPLETION = "prompt-completion"  # {"prompt": ..., "completion": ...}
    CONVERSATION = "bedrock-conversation-2024"  # {"schemaVersion", "system", "messages": [...]}
    CLAUDE_MESSAGES = "claude-messages"  # {"system": str, "messages": [{"role", "content": str}]}
    CONTINUED_PRE_TRAINING = "input"  # {"input": ...}
    # Distillation prompts: the conversation schema, the assistant's answer optional (the teacher writes it).
    DISTILLATION_PROMPTS = "distillation-prompts"
    # Reinforcement fine-tuning prompts: OpenAI chat-completion ``messages`` with a ``reference_answer`` the grader
    # scores against, any other fields passed through to it (families/rft.py).
    RFT_CHAT = "rft-openai-chat"


@dataclass(frozen=True)
class MediaSupport:
    """The images and videos a base takes in fine-tuning records (conversation schema, user turns only)."""

    image_formats: frozenset[str] = frozenset()
    video_formats: frozenset[str] = frozenset()
    max_images: int = 0  # per record
    max_videos: int = 0  # per record
    # The largest object each may be (checked with HEAD before any job); None: no limit known.
    max_image_bytes: int | None = None
    max_video_bytes: int | None = None
    # True: a dataset holds images or videos, never both (across its records, not only within one).
    one_kind_per_dataset: bool = False
    # Converse takes the media by S3 location (Nova: ImageSource/VideoSource.s3Location); False: the evaluator
    # sends an image's bytes.
    converse_s3_location: bool = False
    # Where the limits come from; "this project's rule" where AWS states none.
    source: str = ""

    def max_bytes(self, kind: str) -> int | None:
        return self.max_image_bytes if kind == "image" else self.max_video_bytes

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(k for k, formats in (("image", self.image_formats), ("video", self.video_formats)) if formats)


TEXT_ONLY = MediaSupport()


@dataclass(frozen=True)
class MediaRef:
    """An image or video a record names: what the pipeline checks exists, never reads."""

    kind: str
    format: str
    uri: str
    field: str


class InvocationStyle(enum.StrEnum):
    """How a model is called at run time: one of the InvokeModel bodies, or the Converse API."""

    TITAN = "titan"
    COHERE = "cohere"
    LLAMA = "llama"  # the raw prompt (Llama 2 base models)
    LLAMA3 = "llama3"  # Llama's body with the prompt in the Llama 3 instruct template (Llama 3.1 Instruct)
    CONVERSE = "converse"


@dataclass(frozen=True)
class HyperParameter:
    """One hyperparameter: Bedrock takes every value as a string, the range is checked as a number. A ``choices``
    one (RFT's reasoningEffort) takes one of its strings instead."""

    name: str
    kind: type[int] | type[float] | type[str]
    minimum: float = 0
    maximum: float = 0
    default: float | None = None
    # Cohere's evalPercentage only applies when no validation data is given.
    only_without_validation: bool = False
    choices: tuple[str, ...] = ()

    def allowed(self) -> str:
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        if self.minimum == self.maximum:
            return f"{self.kind.__name__} equal to {_fmt(self.minimum)}"
        return f"{self.kind.__name__} from {_fmt(self.minimum)} to {_fmt(self.maximum)}"

    def normalize(self, value: object, where: str) -> str:
        """Return the value as the string Bedrock expects, or raise SettingsError naming ``where``."""
        if self.choices:
            if value not in self.choices:
                raise SettingsError(f"{where}: {value!r} is not allowed; allowed: {self.allowed()}")
            return str(value)
        if isinstance(value, bool):
            raise SettingsError(f"{where}: {value!r} is not a number; allowed: {self.allowed()}")
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SettingsError(f"{where}: {value!r} is not a number; allowed: {self.allowed()}") from None
        if not math.isfinite(number):
            raise SettingsError(f"{where}: {value!r} is not finite; allowed: {self.allowed()}")
        if self.kind is int and number != int(number):
            raise SettingsError(f"{where}: {value!r} is not a whole number; allowed: {self.allowed()}")
        if not self.minimum <= number <= self.maximum:
            raise SettingsError(f"{where}: {value!r} is out of range; allowed: {self.allowed()}")
        return str(int(number)) if self.kind is int else _fmt(number)


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() and abs(number) >= 1 else repr(float(number))


@dataclass(frozen=True)
class RecordLimits:
    """Record counts per file, as documented defaults (several are adjustable service quotas)."""

    min_training: int = 1
    max_training: int | None = None
    min_validation: int = 1  # when a validation file is given
    max_validation: int | None = None
    # Some families count training and validation together (Llama: 100 - 10,000 in all).
    max_combined: int | None = None
    min_combined: int | None = None


@dataclass(frozen=True)
class TokenLimits:
    """Tokens per record. ``by_batch_size`` maps the largest batch size of a band to its limit."""

    max_total: int
    max_input: int | None = None
    max_output: int | None = None
    by_batch_size: tuple[tuple[int, int], ...] = ()

    def total_for_batch(self, batch_size: int | None) -> int:
        if batch_size is None or not self.by_batch_size:
            return self.max_total
        for largest, limit in self.by_batch_size:
            if batch_size <= largest:
                return limit
        return self.by_batch_size[-1][1]


@dataclass(frozen=True)
class Pricing:
    """On-demand list prices in USD, for the cost estimate. Taken on ``PRICES_AS_OF`` (us-east-1)."""

    training_per_1k_tokens: float
    storage_per_month: float
    throughput_per_hour_no_commitment: float


PRICES_AS_OF = "2025-06-01"

# Where Bedrock offers each customization of a model: the user guide's "Supported models and Regions for
# fine-tuning and continued pre-training" (custom-model-supported.html; custom-model-fine-tuning.html), read on
# REGIONS_AS_OF. A cache of what the service says: "Validate the run" asks GetFoundationModel in the stack's
# region, which decides; these name the regions that would work when it refuses, and the offline emulator
# answers from them. Models the page no longer lists (``listed=False``) keep their last documented regions.
REGIONS_AS_OF = "2026-12-01"
US_EAST_1, US_WEST_2 = "us-east-1", "us-west-2"


@dataclass(frozen=True)
class BaseModel:
    """A base model that Bedrock can customize."""

    model_id: str
    name: str
    family: str
    formats: Mapping[CustomizationType, DataFormat]
    hyperparameters: tuple[HyperParameter, ...]
    records: RecordLimits
    tokens: TokenLimits
    invocation: InvocationStyle
    pricing: Pricing
    training_file_max_bytes: int = 1024**3
    validation_file_max_bytes: int = 100 * 1024**2
    # Can be served on demand (CreateCustomModelDeployment) instead of provisioned throughput.
    on_demand_deployment: bool = False
    # Bedrock serves the base model on demand only through a cross-region inference profile
    # (``<geography>.<model id>``): called by its bare id, InvokeModel and Converse answer ValidationException.
    on_demand_through_profile: bool = False
    reserved_strings: tuple[str, ...] = ()
    aliases: tuple[str, ...] = field(default=())
    # Regions where Bedrock offers each customization type (see REGIONS_AS_OF); empty: offered nowhere today.
    regions: Mapping[CustomizationType, tuple[str, ...]] = field(default_factory=dict)
    # In the user guide's table today (False: Bedrock no longer lists it; the live check decides at run time).
    listed: bool = True
    provider: str = ""
    # The most an answer may be asked to hold (the request body's maxTokenCount / max_tokens / max_gen_len /
    # maxTokens cap, from the user guide's inference parameters of the family): evaluation.max_tokens is checked
    # against it before the run. 4,096 where a family module gives none.
    max_answer_tokens: int = 4096
    # Images and videos its fine-tuning records may hold (conversation schema, user turns); none by default.
    media: MediaSupport = TEXT_ONLY
    # Assistant turns may hold reasoningContent blocks (conversation schema; Nova 2 Lite).
    reasoning_content: bool = False
    # False where Bedrock does not use a validation file in training (Nova 2 Lite): one given is refused, so a
    # user does not believe it was used. The reason is shown with the refusal.
    validation_data: bool = True
    validation_data_note: str = ""
    # The teachers Bedrock lets this model learn from in a distillation job (families/distillation.py).
    distillation_teachers: tuple[str, ...] = ()
    # The hyperparameters of a reinforcement fine-tuning job (customizationConfig.rftConfig.hyperParameters,
    # families/rft.py), where the base takes that type; ``hyperparameters`` are the other types'.
    rft_hyperparameters: tuple[HyperParameter, ...] = ()

    def regions_for(self, customization_type: CustomizationType | str) -> tuple[str, ...]:
        return self.regions.get(CustomizationType(customization_type), ())

    @property
    def customization_types(self) -> tuple[CustomizationType, ...]:
        return tuple(self.formats)

    def data_format(self, customization_type: CustomizationType | str) -> DataFormat:
        ctype = CustomizationType(customization_type)
        if ctype not in self.formats:
            allowed = ", ".join(t.value for t in self.customization_types)
            raise SettingsError(
                f"settings.customization_type: {ctype.value} is not supported by {self.model_id}; allowed: {allowed}"
            )
        return self.formats[ctype]

    def hyperparameters_for(self, customization_type: CustomizationType | str | None) -> tuple[HyperParameter, ...]:
        return self.rft_hyperparameters if _is_rft(customization_type) else self.hyperparameters

    def hyperparameter(self, name: str) -> HyperParameter | None:
        return next((h for h in self.hyperparameters if h.name == name), None)

    def resolve_hyperparameters(
        self,
        given: Mapping[str, Any],
        *,
        has_validation_data: bool,
        customization_type: CustomizationType | str | None = None,
    ) -> dict[str, str]:
        """Check ``given`` against this model's ranges for the customization type and fill in defaults.

        Returns the strings Bedrock takes. Raises SettingsError naming the first wrong setting."""
        specs = self.hyperparameters_for(customization_type)
        known = {h.name for h in specs}
        for name in given:
            if name not in known:
                kind = " reinforcement fine-tuning" if _is_rft(customization_type) else ""
                raise SettingsError(
                    f"settings.hyperparameters.{name}: unknown for{kind} {self.model_id}; allowed: "
                    f"{', '.join(sorted(known))}"
                )
        resolved: dict[str, str] = {}
        for spec in specs:
            where = f"settings.hyperparameters.{spec.name}"
            if spec.only_without_validation and has_validation_data:
                if spec.name in given:
                    raise SettingsError(
                        f"{where}: only allowed when no validation data is given; "
                        "remove it or remove the validation file"
                    )
                continue
            if spec.name in given:
                resolved[spec.name] = spec.normalize(given[spec.name], where)
            elif spec.default is not None:
                resolved[spec.name] = spec.normalize(spec.default, where)
        return resolved

    def token_limit(self, hyperparameters: Mapping[str, str]) -> int:
        batch = hyperparameters.get("batchSize")
        return self.tokens.total_for_batch(int(batch) if batch is not None else None)

    def matches(self, model_id: str) -> bool:
        """True for this model's id, its aliases, and its context-length variants
        (``amazon.titan-text-express-v1:0:8k`` is the express model)."""
        return any(model_id == i or model_id.startswith(i + ":") for i in (self.model_id, *self.aliases))


def _is_rft(customization_type: CustomizationType | str | None) -> bool:
    return customization_type is not None and str(customization_type) == CustomizationType.REINFORCEMENT_FINE_TUNING


# The geography prefix of the system-defined cross-region inference profiles, by the caller's region.
PROFILE_GEOGRAPHIES = (("us-gov-", "us-gov"), ("us-", "us"), ("eu-", "eu"), ("ap-", "apac"))


def base_invoke_id(model: BaseModel, region: str | None, configured: str | None = None) -> str:
    """The model id the evaluation calls the base model by, on demand: ``configured`` (a model id, inference
    profile id or ARN) if given, else the base model's id, or its cross-region inference profile where Bedrock
    requires one. Raises SettingsError when a profile is required and none is known for the region."""
    if configured:
        return configured
    if not model.on_demand_through_profile:
        return model.model_id
    return profile_id(model.model_id, region, "settings.evaluation.base_invoke_id", "; give the profile's id or ARN")


def profile_id(model_id: str, region: str | None, setting: str, hint: str = "") -> str:
    """The system-defined cross-region inference profile of ``model_id`` called from ``region``
    (``<geography>.<model id>``). Raises SettingsError naming ``setting`` when no geography is known."""
    geography = next((g for prefix, g in PROFILE_GEOGRAPHIES if region and region.startswith(prefix)), None)
    if geography is None:
        raise SettingsError(
            f"{setting}: {model_id} is called on demand only through a cross-region inference profile, and none is "
            f"known for region {region or '(none)'}{hint}"
        )
    return f"{geography}.{model_id}"
