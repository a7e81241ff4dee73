"""What a run will cost, from the family's list prices (``Pricing``, taken on ``PRICES_AS_OF``) or the
run's ``prices`` setting: training tokens x epochs, the custom model's storage a month, and provisioned
throughput an hour. The token count is the conservative estimate, so the training figure leans high."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from customizer.families import PRICES_AS_OF, BaseModel, rft
from customizer.families.distillation import Teacher

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
    # Distillation: the teacher's answers to the prompts, billed on demand (an upper bound: every answer at the
    # longest allowed), and their tokens in the student's training.
    teacher_model_id: str = ""
    teacher_usd: float = 0.0
    # Reinforcement fine-tuning: the answers sampled per prompt, and where the figures are guesses.
    samples_per_prompt: int = 0
    guessed: str = ""

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
        training_per_1k_tokens=price["training_per_1k_tokens"],
        storage_per_month=price["storage_per_month"],
        throughput_per_hour_no_commitment=price["throughput_per_hour_no_commitment"],
    )


# --- how long the custom model's provisioned throughput will bill --------------------------------------------
# What the estimate assumes, shown beside it in the report: Bedrock provisions a throughput in "minutes to tens
# of minutes"; a custom model on one model unit writes about this many tokens a second, and every call costs
# this much more (so an answer of ``max_tokens`` takes 1 + max_tokens / 30 s: about 9.5 s for 256 tokens).
PROVISIONING_HOURS = 0.5
OUTPUT_TOKENS_PER_SECOND = 30.0
CALL_OVERHEAD_SECONDS = 1.0
COMMITMENT_HOURS = {"OneMonth": 730.0, "SixMonths": 4380.0}  # a term is billed whole: 8,760 hours a year / 12 x n
ASSUMPTIONS = (
    f"provisioning takes {PROVISIONING_HOURS * 60:g} minutes; each call {CALL_OVERHEAD_SECONDS:g} s plus "
    f"max_tokens at {OUTPUT_TOKENS_PER_SECOND:g} tokens a second"
)


@dataclass(frozen=True)
class ThroughputEstimate:
    """The hours the custom model's throughput will bill, estimated before any money is spent.

    ``hours_until_decision`` every run that gets a throughput pays: provisioning, one check interval, the
    evaluation. ``hours_if_kept`` is its whole life when the policy keeps it: the commitment's term, or until
    the sweeper deletes it (past its maximum lifetime, at the next sweep); None when nothing will (a sweeper
    in dry run). An on-demand deployment bills per token, not by the hour: no throughput hours at all."""

    serving: str
    billed_hourly: bool
    policy: str
    kept_until: str
    evaluated_examples: int
    concurrency: int
    provisioning_hours: float
    evaluation_hours: float
    hours_until_decision: float
    hours_if_kept: float | None
    usd_per_hour: float | None
    usd_until_decision: float | None
    usd_if_kept: float | None
    assumptions: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate_throughput_hours(
    *,
    serving: str,
    policy: str,
    test_records: int,
    max_examples: int,
    max_tokens: int,
    concurrency: int,
    check_seconds: int,
    usd_per_hour: float,
    commitment: str | None = None,
    kept_lifetime_hours: float | None = None,
    sweep_minutes: int = 0,
) -> ThroughputEstimate:
    """``usd_per_hour`` is the no-commitment price of the run's model units; ``kept_lifetime_hours`` the
    sweeper's maximum lifetime (None when the sweeper deletes nothing), checked every ``sweep_minutes``."""
    examples = min(test_records, max_examples)
    if serving == "on_demand":
        return ThroughputEstimate(
            serving=serving,
            billed_hourly=False,
            policy=policy,
            kept_until="an on-demand deployment bills per token: no throughput hours",
            evaluated_examples=examples,
            concurrency=concurrency,
            provisioning_hours=0.0,
            evaluation_hours=0.0,
            hours_until_decision=0.0,
            hours_if_kept=0.0,
            usd_per_hour=0.0,
            usd_until_decision=0.0,
            usd_if_kept=0.0,
            assumptions=ASSUMPTIONS,
        )
    seconds_per_call = CALL_OVERHEAD_SECONDS + max_tokens / OUTPUT_TOKENS_PER_SECOND
    rounds = -(-examples // max(concurrency, 1))  # the calls in flight at once, round after round
    evaluation = rounds * seconds_per_call / 3600
    until_decision = PROVISIONING_HOURS + check_seconds / 3600 + evaluation
    if commitment:
        kept_until, if_kept = f"the end of its {commitment} term", COMMITMENT_HOURS[commitment]
    elif policy == "delete":
        kept_until, if_kept = "never kept: deleted after the evaluation", until_decision
    elif kept_lifetime_hours is None:
        kept_until, if_kept = "deleted by hand (the sweeper deletes nothing)", None
    else:
        kept_until = f"the sweeper: {kept_lifetime_hours:g} h after its creation, at the next sweep"
        if_kept = max(until_decision, kept_lifetime_hours) + sweep_minutes / 60
    # A commitment's price is not in the price table: its hours, but no dollars.
    price = None if commitment else usd_per_hour
    return ThroughputEstimate(
        serving=serving,
        billed_hourly=True,
        policy=policy,
        kept_until=kept_until,
        evaluated_examples=examples,
        concurrency=concurrency,
        provisioning_hours=PROVISIONING_HOURS,
        evaluation_hours=round(evaluation, 4),
        hours_until_decision=round(until_decision, 4),
        hours_if_kept=None if if_kept is None else round(if_kept, 4),
        usd_per_hour=price,
        usd_until_decision=None if price is None else round(until_decision * price, 2),
        usd_if_kept=None if price is None or if_kept is None else round(if_kept * price, 2),
        assumptions=ASSUMPTIONS,
    )


# --- the judge's tokens (settings.evaluation.judge) ---------------------------------------------------------
# An evaluation job with a model as judge bills only the judge model's on-demand inference (the Bedrock pricing
# page, "Model evaluation": no charge for the job itself with LLM-as-a-judge). Each metric of each answer is
# one judge call, which reads the metric's prompt (the user guide publishes them, "Built-in metric evaluator
# prompts": several hundred tokens each), the question, the reference and the answer, and writes a rating
# with its explanation. Assumed here, and shown beside the figure:
JUDGE_PROMPT_TOKENS = 700
JUDGE_OUTPUT_TOKENS = 200
# On-demand list prices of the default judge, Amazon Nova Pro (us-east-1, the Bedrock pricing page, as of
# PRICES_AS_OF): USD per 1,000 input and output tokens. Another judge model needs prices.judge_per_1k_*.
DEFAULT_JUDGE_PRICES = {"amazon.nova-pro-v1:0": (0.0008, 0.0032)}
JUDGE_ASSUMPTIONS = (
    f"each metric of each answer is one judge call reading about {JUDGE_PROMPT_TOKENS} tokens of metric prompt "
    f"plus the question, the reference and the answer (at most max_tokens), and writing about "
    f"{JUDGE_OUTPUT_TOKENS} tokens"
)


@dataclass(frozen=True)
class JudgeCostEstimate:
    """The judge's tokens and their price: two models' answers x metrics judge calls."""

    judge_model_id: str
    calls: int
    input_tokens: int
    output_tokens: int
    usd: float | None  # None: no price known for this judge model (set prices.judge_per_1k_*)
    per_1k_input_tokens: float | None
    per_1k_output_tokens: float | None
    assumptions: str = JUDGE_ASSUMPTIONS

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate_judge_cost(
    *,
    judge_model_id: str,
    metrics: int,
    examples: int,
    question_tokens: float,
    max_tokens: int,
    prices: Mapping[str, Any] | None = None,
) -> JudgeCostEstimate:
    """``examples`` test examples (both models answer each), ``question_tokens`` per example (its prompt and
    reference, the test set's estimate), ``metrics`` judge metrics (built-in and custom)."""
    calls = 2 * examples * metrics
    input_tokens = round(calls * (JUDGE_PROMPT_TOKENS + question_tokens + max_tokens))
    output_tokens = calls * JUDGE_OUTPUT_TOKENS
    given = prices or {}
    listed = DEFAULT_JUDGE_PRICES.get(judge_model_id, (None, None))
    per_input = given.get("judge_per_1k_input_tokens", listed[0])
    per_output = given.get("judge_per_1k_output_tokens", listed[1])
    usd = None
    if per_input is not None and per_output is not None:
        usd = round(input_tokens / 1000 * float(per_input) + output_tokens / 1000 * float(per_output), 2)
    return JudgeCostEstimate(
        judge_model_id=judge_model_id,
        calls=calls,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        usd=usd,
        per_1k_input_tokens=None if per_input is None else float(per_input),
        per_1k_output_tokens=None if per_output is None else float(per_output),
    )


def with_teacher(
    estimate: CostEstimate, teacher: Teacher, *, prompts: int, prompt_tokens: int, max_response_length: int
) -> CostEstimate:
    """Add a distillation's teacher: it reads every prompt and answers each with at most ``max_response_length``
    tokens; the student then trains on prompts and answers (one pass: Bedrock sets the epochs, assumed 1)."""
    answers = prompts * max_response_length
    teacher_usd = prompt_tokens / 1000 * teacher.input_per_1k + answers / 1000 * teacher.output_per_1k
    training_tokens = prompt_tokens + answers
    return replace(
        estimate,
        teacher_model_id=teacher.model_id,
        teacher_usd=round(teacher_usd, 2),
        training_tokens=training_tokens,
        epochs=1,
        training_usd=round(training_tokens / 1000 * estimate.training_per_1k_tokens, 2),
    )


def with_rft(
    estimate: CostEstimate, hyperparameters: Mapping[str, str], *, prompts: int, prompt_tokens: int
) -> CostEstimate:
    """Reinforcement fine-tuning: each epoch samples ``trainingSamplePerPrompt`` answers to every prompt, each at
    most ``inferenceMaxTokens`` long, and trains on them. Neither the price nor the values Bedrock uses for a
    hyperparameter not given are published (families/rft.py): the figure is a labelled guess. Prices the run
    gives (``settings.prices``) replace the guessed one."""
    epochs = int(rft.assumed(hyperparameters, "epochCount"))
    samples = int(rft.assumed(hyperparameters, "trainingSamplePerPrompt"))
    answer_tokens = int(rft.assumed(hyperparameters, "inferenceMaxTokens"))
    tokens = samples * (prompt_tokens + prompts * answer_tokens)
    price = (
        estimate.training_per_1k_tokens
        if "training_per_1k_tokens" in estimate.overridden
        else rft.TRAINING_PER_1K_TOKENS_GUESS
    )
    return replace(
        estimate,
        training_tokens=tokens,
        epochs=epochs,
        samples_per_prompt=samples,
        training_per_1k_tokens=price,
        training_usd=round(tokens * epochs / 1000 * price, 2),
        guessed=(
            f"a guess ({rft.AS_OF}): no published RFT price; defaults assumed where not given: "
            + ", ".join(f"{k} {v}" for k, v in rft.ASSUMED.items() if k not in hyperparameters)
        ),
    )
