"""The single Logger, Tracer and Metrics of every handler, and typed environment parsing."""

from __future__ import annotations

import os
from typing import TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from pydantic import BaseModel, ValidationError

logger = Logger()
tracer = Tracer()
metrics = Metrics()

EnvModel = TypeVar("EnvModel", bound=BaseModel)


def read_environment(model: type[EnvModel]) -> EnvModel:
    """Parse the function's environment variables once, at cold start, into a typed model."""
    try:
        return model.model_validate(dict(os.environ))
    except ValidationError as exc:
        missing = ", ".join(str(e["loc"][0]) for e in exc.errors())
        raise RuntimeError(f"the function's environment is incomplete or wrong: {missing}") from None
