"""Reinforcement fine-tuning (RFT): which bases take it, its data limits, its hyperparameters, its cost.

Read on ``AS_OF`` from:
- The Bedrock user guide, "Fine-tune Amazon Nova models with reinforcement fine-tuning" (rft-nova-models) and the
  Nova 2 user guide, "Reinforcement Fine-Tuning (RFT) with Amazon Nova models": supported model "Nova Lite 2.0",
  which the fine-tuning table (custom-model-supported) lists as ``amazon.nova-2-lite-v1:0:256k`` in us-east-1. No
  separate region table for RFT was found: us-east-1 is this project's reading (the live GetFoundationModel
  check decides, as for every type).
- The Bedrock user guide, "Prepare data for Amazon Nova models" (rft-prepare-data): "We only support the OpenAI
  chat completion format"; each record has ``messages`` ("the user, system or assistant role containing the
  input prompt") and ``reference_answer`` ("the expected output or evaluation criteria that your reward function
  uses ... any format"), "[Optional] You can add fields used by grader Lambda for grading"; "A minimum of 100
  records in training dataset"; and (the page's translated versions, es/ja/de, read the same day) at most
  20,000 prompts. The record check is ``formats.check_record`` with ``DataFormat.RFT_CHAT``.
- botocore's service model (bedrock 2023-04-20, botocore 1.44.8): ``CustomizationConfig.rftConfig`` holds
  ``graderConfig.lambdaGrader.lambdaArn`` and ``hyperParameters`` (RFTHyperParameters), typed: epochCount
  integer 1-50, batchSize integer 16-512, learningRate float 1e-7 to 1e-3, trainingSamplePerPrompt integer
  2-16, evalInterval integer 1-100, reasoningEffort low / medium / high, maxPromptLength and inferenceMaxTokens
  integers without a stated range. The last two ranges below are this project's rule (Nova 2 Lite's 256K-token
  context and its 64K-token answers), not the service's.

Prices: none found for RFT (the pricing page was not in reach); ``TRAINING_PER_1K_TOKENS_GUESS`` is a guess,
labelled as one in the estimate and the README, as are ``ASSUMED`` (what Bedrock uses where a hyperparameter is
not given: not documented)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from customizer.families.base import HyperParameter

AS_OF = "2026-12-02"
MIN_RECORDS = 100
MAX_PROMPTS = 20_000

HYPERPARAMETERS = (
    HyperParameter("epochCount", int, 1, 50),
    HyperParameter("batchSize", int, 16, 512),
    HyperParameter("learningRate", float, 1e-7, 1e-3),
    HyperParameter("trainingSamplePerPrompt", int, 2, 16),
    HyperParameter("evalInterval", int, 1, 100),
    HyperParameter("reasoningEffort", str, choices=("low", "medium", "high")),
    HyperParameter("maxPromptLength", int, 1, 256_000),  # this project's bound: the 256K context
    HyperParameter("inferenceMaxTokens", int, 1, 64_000),  # this project's bound: Nova 2 Lite's longest answer
)

# Guesses (undocumented): the values Bedrock uses for a hyperparameter the job does not give. The estimate and
# the emulator read them; the job sends only what the user gave.
ASSUMED: Mapping[str, int | float | str] = {
    "epochCount": 1,
    "batchSize": 128,
    "learningRate": 1e-5,
    "trainingSamplePerPrompt": 4,
    "evalInterval": 10,
    "reasoningEffort": "low",
    "inferenceMaxTokens": 1024,
}

# A guess, for want of a published price: USD per 1,000 tokens the job processes (the prompts of every sample
# and the answers it generates), Nova 2 Lite's fine-tuning placeholder (families/nova.py).
TRAINING_PER_1K_TOKENS_GUESS = 0.002


def typed(hyperparameters: Mapping[str, str]) -> dict[str, Any]:
    """The checked hyperparameters (strings, as every type's are kept) as RFTHyperParameters' typed members."""
    kinds = {h.name: h.kind for h in HYPERPARAMETERS}
    out: dict[str, Any] = {}
    for name, value in hyperparameters.items():
        kind = kinds[name]
        out[name] = int(float(value)) if kind is int else float(value) if kind is float else str(value)
    return out


def rft_config(hyperparameters: Mapping[str, str], lambda_arn: str) -> dict[str, Any]:
    """``customizationConfig`` of a reinforcement fine-tuning job (botocore's RFTConfig)."""
    config: dict[str, Any] = {"graderConfig": {"lambdaGrader": {"lambdaArn": lambda_arn}}}
    if hyperparameters:
        config["hyperParameters"] = typed(hyperparameters)
    return {"rftConfig": config}


def assumed(hyperparameters: Mapping[str, Any], name: str) -> Any:
    """A hyperparameter's value as given, else the guessed default (``ASSUMED``)."""
    return hyperparameters.get(name, ASSUMED.get(name))
