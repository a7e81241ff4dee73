"""What a run will cost, from the family's list prices (``Pricing``, taken on ``PRICES_AS_OF``) or the
run's ``prices`` setting: training tokens x epochs, the custom model's storage a month, and provisioned
throughput an hour. The token count is the conservative estimate, so the training figure leans high."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from customizer.families import PRICES_AS_OF, BaseModel

PRICE_FIELDS = ("training_per_1k_tokens", "storage_per_month", "throughput_per_hour_no_commitment")


@dataclass(frozen=True)
class CostEstimate:
    training_tokens: int
    epochs: int
    training_usd: float
    storage_usd_per_month: float
    throughput_usd_per_hour: float
    model_units: int
    training_per_1k_tokens: float
    storage_per_month: float
    throughput_per_hour_no_commitment: float
    prices_as_of: str
    overridden: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "overridden": list(self.overridden)}


def estimate_cost(
    model: BaseModel,
    training_tokens: int,
    hyperparameters: Mapping[str, str],
    *,
    model_units: int = 1,
    prices: Mapping[str, Any] | None = None,
) -> CostEstimate:
    given = {k: v for k, v in (prices or {}).items() if v is not None}
    overridden = tuple(f for f in PRICE_FIELDS if f in given)
    price = {f: float(given.get(f, getattr(model.pricing, f))) for f in PRICE_FIELDS}
    epochs = int(hyperparameters.get("epochCount", "1"))
    return CostEstimate(
        training_tokens=training_tokens,
        epochs=epochs,
        training_usd=round(training_tokens * epochs / 1000 * price["training_per_1k_tokens"], 2),
        storage_usd_per_month=round(price["storage_per_month"], 2),
        throughput_usd_per_hour=round(price["throughput_per_hour_no_commitment"] * model_units, 2),
        model_units=model_units,
        prices_as_of=str(
            given.get("as_of") or (PRICES_AS_OF if not overridden else f"overridden; list {PRICES_AS_OF}")
        ),
        overridden=overridden,
        **price,
    )
