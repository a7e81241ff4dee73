"""Model distillation: which teacher a student may learn from, and what the teachers cost.

A student is one of the family modules' base models with ``CustomizationType.DISTILLATION`` in its formats; its
``distillation_teachers`` name the teachers here. The pairs, as this project read them on ``PAIRS_AS_OF``:
- Amazon Nova: "Model distillation is currently available for Amazon Nova Pro as a teacher to Amazon Nova Lite
  and Micro as students" (Nova user guide, "Distilling Amazon Nova models", customize-distill); Nova Premier as
  a teacher of Nova Pro, Lite and Micro (the Bedrock user guide's distillation table, prequisites-model-
  distillation, and AWS's post distilling Nova Premier into Nova Micro). us-east-1.
- Anthropic: Claude 3.5 Sonnet (v1, v2) teaching Claude 3 Haiku; Meta: Llama 3.1 405B teaching Llama 3.1 70B and
  8B and Llama 3.2 3B and 1B, Llama 3.1 70B teaching Llama 3.1 8B and Llama 3.2 3B and 1B (the user guide's table
  as this project read it; us-west-2).
A cache of the user guide, like the regions: Bedrock refuses a pair it does not allow when the job is created,
and the pipeline's GetFoundationModel check asks whether the student is offered for DISTILLATION in the region.

Data: prompts in the Bedrock conversation schema, the assistant's turn optional; at least 100 prompts, the file at
most 1 GB (AWS's distillation dataset validator, aws-samples/amazon-bedrock-samples custom-models/
model_distillation/dataset-validation: MIN_NUM_PROMPTS, MAX_SIZE)."""

from __future__ import annotations

from dataclasses import dataclass

from customizer.errors import SettingsError

PAIRS_AS_OF = "2026-12-01"
MIN_PROMPTS = 100
PROMPTS_MAX_BYTES = 1024**3


@dataclass(frozen=True)
class Teacher:
    """A teacher model: what it is called by, and its on-demand prices for the cost estimate (USD per 1,000
    tokens, us-east-1 or us-west-2 list prices as read on ``PAIRS_AS_OF``; ``settings.prices`` cannot override
    them yet)."""

    model_id: str
    name: str
    provider: str
    input_per_1k: float
    output_per_1k: float
    # Where the user guide's distillation table (prequisites-model-distillation, as read on PAIRS_AS_OF) has the
    # teacher: a cache, like the families' regions. The pipeline asks GetFoundationModel (customizer.catalog
    # check_teacher); this only names where it would work instead, and tells the offline emulator what to answer.
    regions: tuple[str, ...] = ()


_EAST, _WEST = ("us-east-1",), ("us-west-2",)
TEACHERS = (
    Teacher("amazon.nova-premier-v1:0", "Nova Premier", "Amazon", 0.0025, 0.0125, _EAST),
    Teacher("amazon.nova-pro-v1:0", "Nova Pro", "Amazon", 0.0008, 0.0032, _EAST),
    Teacher("anthropic.claude-3-5-sonnet-20241022-v2:0", "Claude 3.5 Sonnet v2", "Anthropic", 0.003, 0.015, _WEST),
    Teacher("anthropic.claude-3-5-sonnet-20240620-v1:0", "Claude 3.5 Sonnet", "Anthropic", 0.003, 0.015, _WEST),
    Teacher("meta.llama3-1-405b-instruct-v1:0", "Llama 3.1 405B Instruct", "Meta", 0.0024, 0.0024, _WEST),
    Teacher("meta.llama3-1-70b-instruct-v1:0", "Llama 3.1 70B Instruct", "Meta", 0.00072, 0.00072, _WEST),
)

NOVA_TEACHERS = ("amazon.nova-premier-v1:0", "amazon.nova-pro-v1:0")
CLAUDE_TEACHERS = ("anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic.claude-3-5-sonnet-20240620-v1:0")
LLAMA_405B = ("meta.llama3-1-405b-instruct-v1:0",)
LLAMA_TEACHERS = ("meta.llama3-1-405b-instruct-v1:0", "meta.llama3-1-70b-instruct-v1:0")


def find_teacher(model_id: str) -> Teacher | None:
    """The teacher named by its model id or foundation-model ARN, or None."""
    bare = model_id.rsplit("foundation-model/", 1)[-1]
    return next((t for t in TEACHERS if t.model_id == bare), None)


def teacher(model_id: str) -> Teacher:
    """The teacher named by its model id or foundation-model ARN. A cross-region inference profile is not taken
    yet: the customization role would need to invoke it in every region of the profile (the user guide's
    "Permissions to create a Distillation job with a cross-region inference profile"), which it is not granted."""
    found = find_teacher(model_id)
    if found is not None:
        return found
    known = ", ".join(t.model_id for t in TEACHERS)
    raise SettingsError(
        f"settings.distillation.teacher_model_id: {model_id!r} is not a known teacher (by model id or "
        f"foundation-model ARN; inference profiles are not taken yet); known: {known}"
    )
