"""Amazon Nova Micro, Lite and Pro (conversation schema, Converse API, on-demand deployment)."""

from customizer.families.base import (
    US_EAST_1,
    BaseModel,
    CustomizationType,
    DataFormat,
    HyperParameter,
    InvocationStyle,
    Pricing,
    RecordLimits,
    TokenLimits,
)

# Nova's validators reject these strings inside any text, in these and their upper-case forms.
RESERVED = ("System:", "User:", "Bot:", "Assistant:", "Thought:", "[EOS]", "<image>", "<video>")

_HYPERPARAMETERS = (
    HyperParameter("epochCount", int, 1, 5, 2),
    HyperParameter("learningRate", float, 1e-6, 1e-4, 1e-5),
    HyperParameter("learningRateWarmupSteps", int, 0, 100, 10),
)


def _nova(model_id: str, name: str, price: Pricing) -> BaseModel:
    return BaseModel(
        model_id=model_id,
        name=name,
        family="nova",
        formats={CustomizationType.FINE_TUNING: DataFormat.CONVERSATION},
        hyperparameters=_HYPERPARAMETERS,
        records=RecordLimits(min_training=8, max_training=20_000),
        tokens=TokenLimits(max_total=32_000),
        invocation=InvocationStyle.CONVERSE,
        pricing=price,
        on_demand_deployment=True,
        regions={CustomizationType.FINE_TUNING: (US_EAST_1,)},
        provider="Amazon",
        # Nova user guide, "Complete request schema": inferenceConfig.maxTokens up to 5,000 for Micro, Lite, Pro.
        max_answer_tokens=5000,
        reserved_strings=RESERVED + tuple(s.upper() for s in RESERVED if s.upper() != s),
    )


MODELS = (
    _nova("amazon.nova-micro-v1:0", "Nova Micro", Pricing(0.001, 1.95, 10.0)),
    _nova("amazon.nova-lite-v1:0", "Nova Lite", Pricing(0.002, 1.95, 15.0)),
    _nova("amazon.nova-pro-v1:0", "Nova Pro", Pricing(0.008, 1.95, 45.0)),
)
