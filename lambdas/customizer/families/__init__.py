"""The one place that holds each model family's knowledge. Adding a family is one module here (and its
test): list its ``MODELS`` below."""

from __future__ import annotations

from customizer.errors import SettingsError
from customizer.families import claude, cohere, llama, nova, titan
from customizer.families.base import (
    PRICES_AS_OF,
    REGIONS_AS_OF,
    BaseModel,
    CustomizationType,
    DataFormat,
    HyperParameter,
    InvocationStyle,
    base_invoke_id,
)

BASE_MODELS: tuple[BaseModel, ...] = (*titan.MODELS, *cohere.MODELS, *llama.MODELS, *nova.MODELS, *claude.MODELS)

__all__ = [
    "BASE_MODELS",
    "PRICES_AS_OF",
    "REGIONS_AS_OF",
    "BaseModel",
    "CustomizationType",
    "DataFormat",
    "HyperParameter",
    "InvocationStyle",
    "base_invoke_id",
    "base_model",
]


def base_model(model_id: str) -> BaseModel:
    """The base model for ``model_id`` (an id, or an id with a context-length suffix); SettingsError
    listing the supported ids otherwise."""
    for model in BASE_MODELS:
        if model.matches(model_id):
            return model
    supported = ", ".join(m.model_id for m in BASE_MODELS)
    raise SettingsError(f"settings.base_model_id: {model_id!r} is not a supported base model; allowed: {supported}")
