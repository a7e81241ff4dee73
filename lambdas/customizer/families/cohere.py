"""Cohere Command and Command Light (fine-tuning only)."""

from customizer.families.base import (
    US_EAST_1,
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


def _hyperparameters(min_batch: int, max_batch: int) -> tuple[HyperParameter, ...]:
    return (
        HyperParameter("epochCount", int, 1, 100, 1),
        HyperParameter("batchSize", int, min_batch, max_batch, min_batch),
        HyperParameter("learningRate", float, 5e-6, 0.1, 1e-5),
        HyperParameter("earlyStoppingThreshold", float, 0.0, 0.1, 0.01),
        HyperParameter("earlyStoppingPatience", int, 1, 10, 6),
        HyperParameter("evalPercentage", int, 5, 50, 20, only_without_validation=True),
    )


_LIMITS = dict(
    formats={CustomizationType.FINE_TUNING: DataFormat.PROMPT_COMPLETION},
    records=RecordLimits(max_training=10_000, max_validation=1_000),
    tokens=TokenLimits(max_total=4096 + 2048, max_input=4096, max_output=2048),
    invocation=InvocationStyle.COHERE,
    family="cohere",
    provider="Cohere",
    # "Cohere Command models" inference parameters: max_tokens at most 4,096.
    max_answer_tokens=4096,
    # No longer in the user guide's table (kept: the seed's family); its last documented regions.
    regions={CustomizationType.FINE_TUNING: (US_EAST_1, US_WEST_2)},
    listed=False,
)

MODELS = (
    BaseModel(
        model_id="cohere.command-text-v14",
        name="Cohere Command",
        hyperparameters=_hyperparameters(8, 8),
        pricing=Pricing(training_per_1k_tokens=0.004, storage_per_month=1.95, throughput_per_hour_no_commitment=49.50),
        **_LIMITS,  # type: ignore[arg-type]
    ),
    BaseModel(
        model_id="cohere.command-light-text-v14",
        name="Cohere Command Light",
        hyperparameters=_hyperparameters(8, 32),
        pricing=Pricing(training_per_1k_tokens=0.001, storage_per_month=1.95, throughput_per_hour_no_commitment=8.56),
        **_LIMITS,  # type: ignore[arg-type]
    ),
)
