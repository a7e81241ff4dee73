"""Amazon Nova Micro, Lite and Pro (conversation schema, Converse API, on-demand deployment)."""

from customizer.families.base import (
    TEXT_ONLY,
    US_EAST_1,
    BaseModel,
    CustomizationType,
    DataFormat,
    HyperParameter,
    InvocationStyle,
    MediaSupport,
    Pricing,
    RecordLimits,
    TokenLimits,
)

# Nova's validators reject these strings inside any text, in these and their upper-case forms (AWS's Nova
# validator, aws-samples custom-models/bedrock-fine-tuning/nova: INVALID_TOKENS_TEXT, which adds <unk>).
RESERVED = ("System:", "User:", "Bot:", "Assistant:", "Thought:", "[EOS]", "<image>", "<video>", "<unk>")
# Lite and Pro take images (up to 10 a record) or one video; Micro takes text only (the Nova user guide,
# "Preparing data for fine-tuning Understanding models"; the validator's IMAGE_FORMATS, VIDEO_FORMATS,
# MAX_NUM_IMAGES, "Only one video is allowed per sample", no video and images together).
_IMAGES_AND_VIDEO = MediaSupport(
    image_formats=frozenset({"jpeg", "png", "gif", "webp"}),
    video_formats=frozenset({"mov", "mkv", "mp4", "webm"}),
    max_images=10,
    max_videos=1,
    source="Nova user guide; AWS's Nova dataset validator",
)

_HYPERPARAMETERS = (
    HyperParameter("epochCount", int, 1, 5, 2),
    HyperParameter("learningRate", float, 1e-6, 1e-4, 1e-5),
    HyperParameter("learningRateWarmupSteps", int, 0, 100, 10),
)


def _nova(model_id: str, name: str, price: Pricing, media: MediaSupport = TEXT_ONLY) -> BaseModel:
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
        media=media,
        regions={CustomizationType.FINE_TUNING: (US_EAST_1,)},
        provider="Amazon",
        # Nova user guide, "Complete request schema": inferenceConfig.maxTokens up to 5,000 for Micro, Lite, Pro.
        max_answer_tokens=5000,
        reserved_strings=RESERVED + tuple(s.upper() for s in RESERVED if s.upper() != s),
    )


MODELS = (
    _nova("amazon.nova-micro-v1:0", "Nova Micro", Pricing(0.001, 1.95, 10.0)),
    _nova("amazon.nova-lite-v1:0", "Nova Lite", Pricing(0.002, 1.95, 15.0), _IMAGES_AND_VIDEO),
    _nova("amazon.nova-pro-v1:0", "Nova Pro", Pricing(0.008, 1.95, 45.0), _IMAGES_AND_VIDEO),
)
