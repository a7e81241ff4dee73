"""The emulator's settings, read once from the environment (or given in code)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

DEFAULT_ACCOUNT = "123456789012"  # moto's default account
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Durations:
    """How long resources stay in their transitional states, in seconds of the emulator's clock."""

    job_seconds: float = 2.0  # InProgress -> Completed (validation, data processing, training: a third each)
    throughput_seconds: float = 1.0  # Creating -> InService
    deployment_seconds: float = 1.0  # Creating -> Active
    stop_seconds: float = 0.5  # Stopping -> Stopped
    evaluation_seconds: float = 1.0  # an evaluation job: InProgress -> Completed

    def updated(self, **changes: float | None) -> Durations:
        given = {k: float(v) for k, v in changes.items() if v is not None}
        if any(v < 0 for v in given.values()):
            raise ValueError("durations must not be negative")
        return replace(self, **given)


@dataclass(frozen=True)
class EmulatorSettings:
    account_id: str = DEFAULT_ACCOUNT
    region: str = DEFAULT_REGION
    durations: Durations = Durations()
    # Where training data is read and job output written. None: AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL,
    # read when S3 is first used. The emulator never falls back to real S3: without an endpoint, jobs fail.
    s3_endpoint_url: str | None = None
    seed: int = 0  # resource ids and the throttling rate's draws

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EmulatorSettings:
        env = os.environ if environ is None else environ

        def number(name: str, default: float) -> float:
            raw = env.get(name)
            return float(raw) if raw not in (None, "") else default

        defaults = Durations()
        return cls(
            account_id=env.get("BEDROCK_EMULATOR_ACCOUNT_ID") or env.get("MOTO_ACCOUNT_ID") or DEFAULT_ACCOUNT,
            region=env.get("BEDROCK_EMULATOR_REGION")
            or env.get("AWS_DEFAULT_REGION")
            or env.get("AWS_REGION")
            or DEFAULT_REGION,
            durations=Durations(
                job_seconds=number("BEDROCK_EMULATOR_JOB_SECONDS", defaults.job_seconds),
                throughput_seconds=number("BEDROCK_EMULATOR_THROUGHPUT_SECONDS", defaults.throughput_seconds),
                deployment_seconds=number("BEDROCK_EMULATOR_DEPLOYMENT_SECONDS", defaults.deployment_seconds),
                stop_seconds=number("BEDROCK_EMULATOR_STOP_SECONDS", defaults.stop_seconds),
                evaluation_seconds=number("BEDROCK_EMULATOR_EVALUATION_SECONDS", defaults.evaluation_seconds),
            ),
            s3_endpoint_url=env.get("BEDROCK_EMULATOR_S3_ENDPOINT_URL") or None,
            seed=int(number("BEDROCK_EMULATOR_SEED", 0)),
        )
