"""Anthropic Claude 3 Haiku (fine-tuning, Claude-style messages, Converse API)."""

from customizer.families.base import (
    US_WEST_2,
    BaseModel,
    CustomizationType,
    DataFormat,
    HyperParameter,
    InvocationStyle,
    Pricing,
    RecordLimits,
    TokenLimits,
)
from customizer.families.distillation import CLAUDE_TEACHERS

MODELS = (
    BaseModel(
        model_id="anthropic.claude-3-haiku-20240307-v1:0",
        name="Claude 3 Haiku",
        family="claude",
        formats={
            CustomizationType.FINE_TUNING: DataFormat.CLAUDE_MESSAGES,
            CustomizationType.DISTILLATION: DataFormat.DISTILLATION_PROMPTS,
        },
        distillation_teachers=CLAUDE_TEACHERS,
        hyperparameters=(
            HyperParameter("epochCount", int, 1, 10, 2),
            HyperParameter("batchSize", int, 4, 256, 32),
            HyperParameter("learningRateMultiplier", float, 0.1, 2.0, 1.0),
            HyperParameter("earlyStoppingThreshold", float, 0.0, 0.1, 0.001),
            HyperParameter("earlyStoppingPatience", int, 1, 10, 2),
        ),
        # AWS's Claude 3 Haiku validator README (aws-samples amazon-bedrock-samples, custom-models/bedrock-fine-tuning/
        # claude-haiku): 32 to 10,000 training records, 32 to 1,000 validation records, at most 10,000 together.
        records=RecordLimits(
            min_training=32, max_training=10_000, min_validation=32, max_validation=1_000, max_combined=10_000
        ),
        tokens=TokenLimits(max_total=32_000),
        invocation=InvocationStyle.CONVERSE,
        pricing=Pricing(training_per_1k_tokens=0.004, storage_per_month=1.95, throughput_per_hour_no_commitment=50.0),
        training_file_max_bytes=10 * 1024**3,
        validation_file_max_bytes=1024**3,
        regions={CustomizationType.FINE_TUNING: (US_WEST_2,), CustomizationType.DISTILLATION: (US_WEST_2,)},
        provider="Anthropic",
        # The same README reserves these in any text of a record.
        reserved_strings=("\nHuman:", "\nAssistant:"),
        # "Anthropic Claude Messages API": max_tokens up to 4,096 for Claude 3 Haiku.
        max_answer_tokens=4096,
    ),
)
