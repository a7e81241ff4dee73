"""Amazon Nova Micro, Lite and Pro (conversation schema, Converse API, on-demand deployment), and Nova 2 Lite."""

from customizer.families import rft
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
from customizer.families.distillation import NOVA_TEACHERS

# Nova's validators reject these strings inside any text, in these and their upper-case forms (AWS's Nova
# validator, aws-samples custom-models/bedrock-fine-tuning/nova: INVALID_TOKENS_TEXT, which adds <unk>).
RESERVED = ("System:", "User:", "Bot:", "Assistant:", "Thought:", "[EOS]", "<image>", "<video>", "<unk>")
# Lite and Pro take images (up to 10 a record) or one video; Micro takes text only (the Nova user guide,
# "Preparing data for fine-tuning Understanding models"; the validator's IMAGE_FORMATS, VIDEO_FORMATS,
# MAX_NUM_IMAGES, "Only one video is allowed per sample", no video and images together).
# Sizes: AWS's Nova validator (amazon-nova-samples, customization/bedrock-finetuning/understanding/
# dataset_validation/nova_ft_dataset_validator.py, read 2026-12-01): MAX_IMAGE_SIZE 10 MB, MAX_VIDEO_SIZE 50 MB.
_IMAGE_BYTES, _VIDEO_BYTES = 10 * 1024**2, 50 * 1024**2
_IMAGES_AND_VIDEO = MediaSupport(
    image_formats=frozenset({"jpeg", "png", "gif", "webp"}),
    video_formats=frozenset({"mov", "mkv", "mp4", "webm"}),
    max_images=10,
    max_videos=1,
    max_image_bytes=_IMAGE_BYTES,
    max_video_bytes=_VIDEO_BYTES,
    converse_s3_location=True,
    source="Nova user guide; AWS's Nova dataset validator",
)
# Nova 2 Lite: PNG, JPEG, GIF images; MOV, MKV, MP4 videos; "You cannot mix images and videos within the same
# dataset or across different turns" (the Bedrock user guide, "Supervised fine-tuning on Amazon Nova 2.0",
# nova-2-sft-data-prep; the validator's NOVA_2_0_LITE_IMAGE_FORMATS / _VIDEO_FORMATS).
_NOVA_2_MEDIA = MediaSupport(
    image_formats=frozenset({"jpeg", "png", "gif"}),
    video_formats=frozenset({"mov", "mkv", "mp4"}),
    max_images=10,
    max_videos=1,
    max_image_bytes=_IMAGE_BYTES,
    max_video_bytes=_VIDEO_BYTES,
    one_kind_per_dataset=True,
    converse_s3_location=True,
    source="Bedrock user guide (Nova 2.0 SFT data); AWS's Nova dataset validator",
)

_HYPERPARAMETERS = (
    HyperParameter("epochCount", int, 1, 5, 2),
    HyperParameter("learningRate", float, 1e-6, 1e-4, 1e-5),
    HyperParameter("learningRateWarmupSteps", int, 0, 100, 10),
)


def _nova(
    model_id: str, name: str, price: Pricing, media: MediaSupport = TEXT_ONLY, teachers: tuple[str, ...] = ()
) -> BaseModel:
    return BaseModel(
        model_id=model_id,
        name=name,
        family="nova",
        formats={CustomizationType.FINE_TUNING: DataFormat.CONVERSATION}
        | ({CustomizationType.DISTILLATION: DataFormat.DISTILLATION_PROMPTS} if teachers else {}),
        distillation_teachers=teachers,
        hyperparameters=_HYPERPARAMETERS,
        records=RecordLimits(min_training=8, max_training=20_000),
        tokens=TokenLimits(max_total=32_000),
        invocation=InvocationStyle.CONVERSE,
        pricing=price,
        on_demand_deployment=True,
        media=media,
        regions={CustomizationType.FINE_TUNING: (US_EAST_1,), CustomizationType.DISTILLATION: (US_EAST_1,)},
        provider="Amazon",
        # Nova user guide, "Complete request schema": inferenceConfig.maxTokens up to 5,000 for Micro, Lite, Pro.
        max_answer_tokens=5000,
        reserved_strings=RESERVED + tuple(s.upper() for s in RESERVED if s.upper() != s),
    )


# Nova 2 Lite (amazon.nova-2-lite-v1:0; Bedrock lists it for customization as amazon.nova-2-lite-v1:0:256k).
# From the Bedrock user guide's Nova 2.0 SFT page: reasoning content in assistant turns (text only), the media
# above, and "Validation sets ... will not be supported during SFT training" (so a validation file is refused).
# From AWS's Nova validator: SFT 200 to 20,000 records (NOVA_2_0_LITE_SAMPLE_BOUNDS). Its model card: served on
# demand only through cross-region inference profiles; answers up to 64K tokens.
# A guess, not a documented range: the user guide's hyperparameter page (cm-hp-nova-mm) lists Nova Micro, Lite
# and Pro only; Nova 2 Lite is given their three hyperparameters and ranges, and Bedrock's own check decides
# (README, "Models"). Prices: none found for its customization; Nova Lite's, as a placeholder (README).
# Reinforcement fine-tuning: families/rft.py (its data format, limits and hyperparameters).
NOVA_2_LITE = BaseModel(
    model_id="amazon.nova-2-lite-v1:0",
    name="Nova 2 Lite",
    family="nova",
    formats={
        CustomizationType.FINE_TUNING: DataFormat.CONVERSATION,
        CustomizationType.REINFORCEMENT_FINE_TUNING: DataFormat.RFT_CHAT,
    },
    hyperparameters=_HYPERPARAMETERS,
    rft_hyperparameters=rft.HYPERPARAMETERS,
    records=RecordLimits(min_training=200, max_training=20_000),
    tokens=TokenLimits(max_total=32_000),
    invocation=InvocationStyle.CONVERSE,
    pricing=Pricing(0.002, 1.95, 15.0),
    on_demand_through_profile=True,
    media=_NOVA_2_MEDIA,
    reasoning_content=True,
    validation_data=False,
    validation_data_note=(
        'Bedrock does not use a validation set in Nova 2.0 fine-tuning (user guide, "Supervised fine-tuning on '
        'Amazon Nova 2.0"); remove input.validation_data'
    ),
    regions={CustomizationType.FINE_TUNING: (US_EAST_1,), CustomizationType.REINFORCEMENT_FINE_TUNING: (US_EAST_1,)},
    provider="Amazon",
    max_answer_tokens=64_000,
    reserved_strings=RESERVED + tuple(s.upper() for s in RESERVED if s.upper() != s),
)

MODELS = (
    _nova("amazon.nova-micro-v1:0", "Nova Micro", Pricing(0.001, 1.95, 10.0), teachers=NOVA_TEACHERS),
    _nova("amazon.nova-lite-v1:0", "Nova Lite", Pricing(0.002, 1.95, 15.0), _IMAGES_AND_VIDEO, NOVA_TEACHERS),
    _nova("amazon.nova-pro-v1:0", "Nova Pro", Pricing(0.008, 1.95, 45.0), _IMAGES_AND_VIDEO, NOVA_TEACHERS[:1]),
    NOVA_2_LITE,
)
