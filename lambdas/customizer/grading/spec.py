"""The grader a run declares once (``settings.grader``): the reward of a reinforcement fine-tuning job and the
``grader`` metric of the evaluation.

Either the user's own Lambda function::

    {"lambda_arn": "arn:aws:lambda:us-east-1:111122223333:function:my-grader"}

or one of the project's scorers, alone or weighted::

    {"scorer": "token_f1"}
    {"scorer": "numeric", "tolerance": 0.01, "relative": true}
    {"weighted": [{"scorer": "json_field", "path": "label", "weight": 3},
                  {"scorer": "regex", "pattern": "^\\\\{.*\\\\}$", "weight": 1}]}

Every scorer gives a score in [0, 1] (``customizer.grading.scorers``); the README's "Grader" section documents
each parameter. The model is strict (unknown keys are errors) and every error names its path
(``settings.grader.weighted[1].pattern: ...``)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

# LambdaGraderConfig.lambdaArn in botocore's bedrock service model (shape LambdaArn: 1-512 characters).
LAMBDA_ARN_PATTERN = (
    r"^arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}(-gov)?-[a-z]+-\d{1}:\d{12}:function:[a-zA-Z0-9-_\.]+"
    r"(:(\$LATEST|[a-zA-Z0-9-_]+))?$"
)
LAMBDA_ARN_MAX_LENGTH = 512

ScorerName = Literal["exact_match", "contains_match", "token_f1", "rouge_l", "numeric", "regex", "json_field"]
# The evaluation's string metrics (customizer.evaluation.metrics), reused as they are.
TEXT_SCORERS = ("exact_match", "contains_match", "token_f1", "rouge_l")
# Which optional parameters each scorer takes (``weight`` only inside ``weighted``).
PARAMETERS: dict[str, frozenset[str]] = {
    **{name: frozenset({"reference_path"}) for name in TEXT_SCORERS},
    "numeric": frozenset({"reference_path", "tolerance", "relative"}),
    "regex": frozenset({"pattern", "ignore_case"}),
    "json_field": frozenset({"path"}),
}
REQUIRED: dict[str, frozenset[str]] = {"regex": frozenset({"pattern"}), "json_field": frozenset({"path"})}
_OPTIONAL = ("reference_path", "tolerance", "relative", "pattern", "ignore_case", "path")
# A field path: dot-separated keys; a segment of digits indexes a list ("choices.0.label").
PATH_PATTERN = r"^[^.\s]+(\.[^.\s]+)*$"
MAX_WEIGHTED = 10


def check_lambda_arn(arn: str) -> str:
    """A Lambda function ARN as LambdaGraderConfig.lambdaArn takes it, or ValueError saying what one looks like."""
    if len(arn) > LAMBDA_ARN_MAX_LENGTH or not re.fullmatch(LAMBDA_ARN_PATTERN, arn):
        raise ValueError(
            "not a Lambda function ARN: arn:aws:lambda:<region>:<12-digit account>:function:<name>"
            "[:<version or alias>] (LambdaGraderConfig.lambdaArn)"
        )
    return arn


LambdaArn = Annotated[str, AfterValidator(check_lambda_arn)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ScorerFields(_Strict):
    """The parameters of one scorer; which ones a scorer takes is checked by ``_check_parameters``."""

    reference_path: str | None = Field(
        None,
        max_length=256,
        pattern=PATH_PATTERN,
        description="where the reference text is inside a JSON reference answer (dotted path); default: all of it",
    )
    tolerance: float | None = Field(None, ge=0, description="numeric: the largest difference that still scores 1")
    relative: bool | None = Field(None, description="numeric: tolerance is a fraction of the reference's size")
    pattern: str | None = Field(None, min_length=1, max_length=1000, description="regex: searched in the answer")
    ignore_case: bool | None = Field(None, description="regex: match regardless of case")
    path: str | None = Field(
        None, max_length=256, pattern=PATH_PATTERN, description="json_field: the field compared (dotted path)"
    )

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return pattern

    def _check_parameters(self, scorer: str) -> None:
        given = {name for name in _OPTIONAL if getattr(self, name) is not None}
        allowed = PARAMETERS[scorer]
        unknown = sorted(given - allowed)
        if unknown:
            takes = ", ".join(sorted(allowed)) or "none"
            raise ValueError(f"{unknown[0]}: not a parameter of scorer {scorer} (its parameters: {takes})")
        missing = sorted(REQUIRED.get(scorer, frozenset()) - given)
        if missing:
            raise ValueError(f"{missing[0]}: required for scorer {scorer}")


class WeightedScorer(_ScorerFields):
    """One part of a weighted combination."""

    scorer: ScorerName
    weight: float = Field(1.0, gt=0, le=1000, description="this part's share: weight / sum of the weights")

    @model_validator(mode="after")
    def _check(self) -> WeightedScorer:
        self._check_parameters(self.scorer)
        return self


class GraderSettings(_ScorerFields):
    """``settings.grader``: exactly one of ``lambda_arn``, ``scorer`` (with its parameters) or ``weighted``."""

    lambda_arn: LambdaArn | None = Field(
        None,
        description="the user's own reward function (a Lambda function ARN); its data goes to it as is",
    )
    scorer: ScorerName | None = None
    weighted: list[WeightedScorer] | None = Field(None, min_length=1, max_length=MAX_WEIGHTED)

    @model_validator(mode="after")
    def _check(self) -> GraderSettings:
        chosen = [name for name in ("lambda_arn", "scorer", "weighted") if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError(
                "give exactly one of lambda_arn (your own Lambda grader), scorer (one of the project's scorers) or "
                f"weighted (a weighted combination of them); got {', '.join(chosen) or 'none'}"
            )
        if self.scorer is not None:
            self._check_parameters(self.scorer)
        else:
            given = [name for name in _OPTIONAL if getattr(self, name) is not None]
            if given:
                raise ValueError(f"{given[0]}: a parameter of a scorer; with {chosen[0]} it has no meaning")
        return self

    @property
    def builtin(self) -> bool:
        """The project's own scorers (scored in-process and by the deployed reward function)."""
        return self.lambda_arn is None

    @property
    def parts(self) -> list[WeightedScorer]:
        """The scorers and their weights: one part of weight 1 for a single scorer; none for a Lambda grader."""
        if self.weighted is not None:
            return list(self.weighted)
        if self.scorer is None:
            return []
        return [WeightedScorer.model_validate(self.model_dump(exclude={"lambda_arn", "weighted"}, exclude_none=True))]

    def spec(self) -> dict[str, object]:
        """The JSON form (no defaults filled in), as embedded in the training records for the reward function."""
        return self.model_dump(mode="json", exclude_none=True)
