"""Reinforcement fine-tuning in the emulator: the job's reward function, called through the real Lambda invoke
during training, and the reward and loss curves it leaves.

What is the service's (the Bedrock user guide, "Setting up reward functions for Amazon Nova models",
reward-functions, "Lambda function implementation details"): the grader gets a JSON list of records, each
``{"id", "messages", "metadata"}``: the training record's messages with the model's answer appended as an
assistant turn, a unique id, and in ``metadata`` the record's ``reference_answer`` and every other field of
it; it answers a JSON list with, for each record, its ``id``, an ``aggregate_reward_score`` and a
``metrics_list``.

What is this project's guess (the emulator README says so): one invoke per training step, for the step's ``batchSize`` prompts times ``trainingSamplePerPrompt`` answers;
at most ``MAX_GRADED_STEPS`` steps graded (evenly spread, the last one always); the emulated policy, which at
step s of T gives the reference answer in ``round(n * s / T)`` of a prompt's n samples and the base model's
generic answer in the others, so the mean reward rises exactly as far as the grader scores reference answers
above generic ones; the loss, 1 minus the step's mean reward; the failure message when the grader fails; and the
metric file: ``training_artifacts/step_wise_training_metrics.csv`` with ``step_number, epoch_number,
training_reward, episode_length, training_loss`` (no RFT output layout was found in the user guide; its
rft-evaluate-model page names reward and episode-length graphs)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from customizer.families import rft
from customizer.families.formats import reference_text
from offline.bedrock_emulator.answering import BaseAnswerer, estimate_tokens
from offline.bedrock_emulator.training import environment_client

MAX_GRADED_STEPS = 50
RFT_METRICS_HEADER = ("step_number", "epoch_number", "training_reward", "episode_length", "training_loss")


class GraderError(Exception):
    """The reward function failed or answered out of shape; the message says which and why."""


class RewardFunctions(Protocol):
    def grade(self, lambda_arn: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]: ...


class LambdaRewardFunctions:
    """Reward functions on the Lambda endpoint of the environment (moto offline, which the offline runtime's
    router turns into a run of the function's real handler): ``AWS_ENDPOINT_URL_LAMBDA``, else
    ``AWS_ENDPOINT_URL``. Never real Lambda: without an endpoint, grading fails saying how to set one."""

    def __init__(self, region: str, endpoint_url: str | None = None) -> None:
        self._region = region
        self._endpoint_url = endpoint_url
        self._client: Any = None
        self._lock = threading.Lock()

    def _lambda(self) -> Any:
        with self._lock:
            if self._client is None:
                endpoint = (
                    self._endpoint_url
                    or os.environ.get("AWS_ENDPOINT_URL_LAMBDA")
                    or os.environ.get("AWS_ENDPOINT_URL")
                )
                if not endpoint:
                    raise GraderError(
                        "the Bedrock emulator has no Lambda endpoint: set AWS_ENDPOINT_URL_LAMBDA (or "
                        "AWS_ENDPOINT_URL) to the offline Lambda (moto)"
                    )
                from botocore.config import Config

                self._client = environment_client(
                    "lambda",
                    self._region,
                    endpoint,
                    Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=900),
                )
            return self._client

    def grade(self, lambda_arn: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._lambda().invoke(FunctionName=lambda_arn, Payload=json.dumps(records).encode())
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise GraderError(f"{error.get('Code', 'error')}: {error.get('Message', exc)}") from exc
        except BotoCoreError as exc:
            raise GraderError(str(exc)) from exc
        body = response["Payload"].read()
        if response.get("FunctionError"):
            try:
                error = json.loads(body)
                detail = f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"
            except (ValueError, AttributeError):
                detail = body.decode("utf-8", "replace")[:500]
            raise GraderError(detail)
        try:
            answer = json.loads(body)
        except ValueError as exc:
            raise GraderError(f"its reply is not JSON ({exc})") from exc
        if not isinstance(answer, list):
            raise GraderError(f"its reply is a JSON {type(answer).__name__}, not a list of scores")
        return answer


@dataclass(frozen=True)
class RewardCurve:
    csv: str
    final_reward: float
    final_loss: float
    graded_steps: int
    samples_graded: int


def _content_text(content: Any) -> str:
    """A message's text: a string, or OpenAI's list of text parts."""
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def _graded_steps(total: int) -> list[int]:
    if total <= MAX_GRADED_STEPS:
        return list(range(1, total + 1))
    return sorted({math.ceil(total * (i + 1) / MAX_GRADED_STEPS) for i in range(MAX_GRADED_STEPS)})


def _scores(reply: list[dict[str, Any]], ids: Sequence[str]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for item in reply:
        if not isinstance(item, dict) or "id" not in item:
            raise GraderError("a reply item has no id")
        score = item.get("aggregate_reward_score")
        if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
            raise GraderError(f"sample {item['id']}: aggregate_reward_score {score!r} is not a finite number")
        scores[str(item["id"])] = float(score)
    missing = [i for i in ids if i not in scores]
    if missing:
        raise GraderError(f"no aggregate_reward_score for sample {missing[0]} ({len(missing)} of {len(ids)} missing)")
    return scores


def train(
    graders: RewardFunctions,
    lambda_arn: str,
    records: Sequence[Mapping[str, Any]],
    hyperparameters: Mapping[str, Any],
) -> RewardCurve:
    """Train on ``records`` (the RFT training data as parsed), calling the grader at each graded step; raise
    GraderError naming the step when the grader fails."""
    epochs = int(rft.assumed(hyperparameters, "epochCount"))
    batch = int(rft.assumed(hyperparameters, "batchSize"))
    samples = int(rft.assumed(hyperparameters, "trainingSamplePerPrompt"))
    per_epoch = max(1, math.ceil(len(records) / batch))
    total = epochs * per_epoch
    base = BaseAnswerer()
    rows: list[tuple[int, int, float, float, float]] = []
    graded = 0
    for step in _graded_steps(total):
        epoch, index = divmod(step - 1, per_epoch)
        prompts = records[index * batch : (index + 1) * batch]
        learned = round(samples * step / total)
        batch_records: list[dict[str, Any]] = []
        lengths: list[int] = []
        for p, record in enumerate(prompts):
            messages = list(record["messages"])
            prompt = "\n".join(_content_text(m.get("content")) for m in messages if m.get("role") == "user")
            for k in range(samples):
                answer = reference_text(record["reference_answer"]) if k < learned else base.answer(prompt)
                lengths.append(estimate_tokens(answer))
                batch_records.append(
                    {
                        "id": f"step{step}-prompt{index * batch + p}-sample{k}",
                        "messages": [*messages, {"role": "assistant", "content": answer}],
                        "metadata": {key: value for key, value in record.items() if key != "messages"},
                    }
                )
        ids = [r["id"] for r in batch_records]
        try:
            scores = _scores(graders.grade(lambda_arn, batch_records), ids)
        except GraderError as exc:
            raise GraderError(f"The reward function {lambda_arn} failed at training step {step}: {exc}") from exc
        graded += len(ids)
        reward = round(sum(scores.values()) / len(scores), 6)
        rows.append((step, epoch, reward, round(sum(lengths) / len(lengths), 2), round(1.0 - reward, 6)))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(RFT_METRICS_HEADER)
    writer.writerows(rows)
    last = rows[-1]
    return RewardCurve(out.getvalue(), last[2], last[4], len(rows), graded)
