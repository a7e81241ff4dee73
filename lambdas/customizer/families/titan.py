"""Amazon Titan Text: Express, Lite (fine-tuning and continued pre-training), Premier (fine-tuning)."""

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

_BOTH_REGIONS = (US_EAST_1, US_WEST_2)
# Express: fine-tuning in one version of today's table, continued pre-training on the same page; Lite and Premier:
# in the page's earlier version only (Premier in us-east-1).
_FT_AND_CPT_REGIONS = {
    CustomizationType.FINE_TUNING: _BOTH_REGIONS,
    CustomizationType.CONTINUED_PRE_TRAINING: _BOTH_REGIONS,
}
_FT_AND_CPT = {
    CustomizationType.FINE_TUNING: DataFormat.PROMPT_COMPLETION,
    CustomizationType.CONTINUED_PRE_TRAINING: DataFormat.CONTINUED_PRE_TRAINING,
}


def _express_lite_hyperparameters(max_batch: int) -> tuple[HyperParameter, ...]:
    return (
        HyperParameter("epochCount", int, 1, 10, 5),
        HyperParameter("batchSize", int, 1, max_batch, 1),
        HyperParameter("learningRate", float, 0.0, 1.0, 0.00001),
        HyperParameter("learningRateWarmupSteps", int, 0, 250, 5),
    )


MODELS = (
    BaseModel(
        model_id="amazon.titan-text-express-v1",
        name="Titan Text G1 - Express",
        family="titan",
        formats=_FT_AND_CPT,
        hyperparameters=_express_lite_hyperparameters(64),
        # Fine-tuning: up to 10,000 training records (quota); continued pre-training: up to 100,000.
        records=RecordLimits(max_training=100_000, max_validation=1_000),
        tokens=TokenLimits(max_total=4096, by_batch_size=((1, 4096), (4, 2048), (64, 2048))),
        invocation=InvocationStyle.TITAN,
        pricing=Pricing(training_per_1k_tokens=0.008, storage_per_month=1.95, throughput_per_hour_no_commitment=20.50),
        regions=_FT_AND_CPT_REGIONS,
        provider="Amazon",
        # "Amazon Titan Text models" inference parameters: maxTokenCount up to 8,192 (Express), 4,096 (Lite),
        # 3,072 (Premier).
        max_answer_tokens=8192,
    ),
    BaseModel(
        model_id="amazon.titan-text-lite-v1",
        name="Titan Text G1 - Lite",
        family="titan",
        formats=_FT_AND_CPT,
        hyperparameters=_express_lite_hyperparameters(64),
        records=RecordLimits(max_training=100_000, max_validation=1_000),
        tokens=TokenLimits(max_total=4096, by_batch_size=((2, 4096), (6, 2048), (64, 2048))),
        invocation=InvocationStyle.TITAN,
        pricing=Pricing(training_per_1k_tokens=0.0004, storage_per_month=1.95, throughput_per_hour_no_commitment=7.10),
        regions=_FT_AND_CPT_REGIONS,
        listed=False,
        provider="Amazon",
        max_answer_tokens=4096,
    ),
    BaseModel(
        model_id="amazon.titan-text-premier-v1:0",
        name="Titan Text G1 - Premier",
        family="titan",
        formats={CustomizationType.FINE_TUNING: DataFormat.PROMPT_COMPLETION},
        hyperparameters=(
            HyperParameter("epochCount", int, 1, 5, 2),
            HyperParameter("batchSize", int, 1, 1, 1),
            HyperParameter("learningRate", float, 1e-7, 1e-5, 1e-6),
            HyperParameter("learningRateWarmupSteps", int, 0, 20, 5),
        ),
        records=RecordLimits(max_training=20_000, max_validation=1_000),
        tokens=TokenLimits(max_total=4096),
        invocation=InvocationStyle.TITAN,
        pricing=Pricing(training_per_1k_tokens=0.008, storage_per_month=1.95, throughput_per_hour_no_commitment=20.50),
        regions={CustomizationType.FINE_TUNING: (US_EAST_1,)},
        listed=False,
        provider="Amazon",
        max_answer_tokens=3072,
    ),
)
