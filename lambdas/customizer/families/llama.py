"""Meta Llama 2, 3.1 (prompt/completion records) and 3.2 / 3.3 (Bedrock conversation schema)."""

from customizer.families.base import (
    US_EAST_1,
    US_WEST_2,
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
from customizer.families.distillation import LLAMA_405B, LLAMA_TEACHERS

_HYPERPARAMETERS = (
    HyperParameter("epochCount", int, 1, 10, 5),
    HyperParameter("batchSize", int, 1, 1, 1),
    HyperParameter("learningRate", float, 5e-6, 0.1, 1e-4),
)
# Llama counts training and validation records together: 100 to 10,000.
_RECORDS = RecordLimits(min_combined=100, max_combined=10_000)
_PROMPT_COMPLETION = {CustomizationType.FINE_TUNING: DataFormat.PROMPT_COMPLETION}
_CONVERSATION = {CustomizationType.FINE_TUNING: DataFormat.CONVERSATION}


# Llama 3.1 and 3.2 are fine-tuned in us-west-2 (today's table); Llama 2 is no longer listed (kept: the seed's
# family; its last documented regions); Llama 3.3 70B is not in the table: no region offers its fine-tuning.
_WEST = {CustomizationType.FINE_TUNING: (US_WEST_2,)}
_LLAMA_2 = {"regions": {CustomizationType.FINE_TUNING: (US_EAST_1, US_WEST_2)}, "listed": False}


def _llama(model_id: str, name: str, conversation: bool, max_tokens: int, price: Pricing, **extra: object) -> BaseModel:
    teachers = _TEACHERS.get(model_id, ())
    regions = {**_WEST, CustomizationType.DISTILLATION: (US_WEST_2,)} if teachers else _WEST
    extra = {"regions": regions, **extra}
    formats = _CONVERSATION if conversation else _PROMPT_COMPLETION
    return BaseModel(
        model_id=model_id,
        name=name,
        family="llama",
        formats=formats | ({CustomizationType.DISTILLATION: DataFormat.DISTILLATION_PROMPTS} if teachers else {}),
        distillation_teachers=teachers,
        hyperparameters=_HYPERPARAMETERS,
        records=_RECORDS,
        tokens=TokenLimits(max_total=max_tokens),
        # Conversation-schema models are called through Converse, the others with Llama's own body: Llama 2's
        # base models with the raw prompt, Llama 3.1 Instruct in the Llama 3 instruct template.
        invocation=InvocationStyle.CONVERSE
        if conversation
        else (InvocationStyle.LLAMA if model_id.startswith("meta.llama2") else InvocationStyle.LLAMA3),
        pricing=price,
        provider="Meta",
        # "Meta Llama models" inference parameters: max_gen_len at most 2,048 (also through Converse's maxTokens).
        max_answer_tokens=2048,
        **extra,  # type: ignore[arg-type]
    )


# Students and their teachers (families/distillation.py).
_TEACHERS = {
    "meta.llama3-1-70b-instruct-v1:0": LLAMA_405B,
    "meta.llama3-1-8b-instruct-v1:0": LLAMA_TEACHERS,
    "meta.llama3-2-3b-instruct-v1:0": LLAMA_TEACHERS,
    "meta.llama3-2-1b-instruct-v1:0": LLAMA_TEACHERS,
}

_SMALL = Pricing(training_per_1k_tokens=0.00149, storage_per_month=1.95, throughput_per_hour_no_commitment=23.50)
_LARGE = Pricing(training_per_1k_tokens=0.00799, storage_per_month=1.95, throughput_per_hour_no_commitment=23.50)

# Llama 3.2 and 3.3 are served on demand only through cross-region inference profiles (us.meta.llama3-2-...).
_PROFILE = {"on_demand_through_profile": True}
# Llama 3.2 11B and 90B Vision take images in user turns: gif, jpeg, png, webp (the user guide, "Prepare data for
# fine-tuning image and text processing models"). It gives no count a record: 10, as for Nova, is this project's rule.
# At most 10 MB an image (AWS's Llama validator README, aws-samples/amazon-bedrock-samples custom-models/
# bedrock-fine-tuning/meta-llama/dataset_validation, "Limitations Not Validated by the Script"; its 8192 x 8192
# pixels are not checked: that needs the image read, and the pre-flight check only HEADs it).
_VISION = {
    "media": MediaSupport(
        image_formats=frozenset({"gif", "jpeg", "png", "webp"}),
        max_images=10,
        max_image_bytes=10 * 1024**2,
        source="Bedrock user guide (formats); AWS's Llama validator (size); at most 10 images a record is this project's rule",
    )
}

MODELS = (
    _llama("meta.llama2-13b-v1", "Llama 2 13B", False, 4096, _SMALL, **_LLAMA_2),
    _llama("meta.llama2-70b-v1", "Llama 2 70B", False, 4096, _LARGE, **_LLAMA_2),
    _llama("meta.llama3-1-8b-instruct-v1:0", "Llama 3.1 8B Instruct", False, 16_000, _SMALL),
    _llama("meta.llama3-1-70b-instruct-v1:0", "Llama 3.1 70B Instruct", False, 16_000, _LARGE),
    _llama("meta.llama3-2-1b-instruct-v1:0", "Llama 3.2 1B Instruct", True, 16_000, _SMALL, **_PROFILE),
    _llama("meta.llama3-2-3b-instruct-v1:0", "Llama 3.2 3B Instruct", True, 16_000, _SMALL, **_PROFILE),
    _llama("meta.llama3-2-11b-instruct-v1:0", "Llama 3.2 11B Instruct", True, 16_000, _SMALL, **_PROFILE, **_VISION),
    _llama("meta.llama3-2-90b-instruct-v1:0", "Llama 3.2 90B Instruct", True, 10_000, _LARGE, **_PROFILE, **_VISION),
    _llama(
        "meta.llama3-3-70b-instruct-v1:0",
        "Llama 3.3 70B Instruct",
        True,
        16_000,
        _LARGE,
        # No on-demand deployment: the user guide's "Deploy a custom model for on-demand inference" lists Nova
        # Micro, Lite and Pro as its supported base models (read 2026-12-01).
        regions={},
        listed=False,
        **_PROFILE,
    ),
)
