"""Seeded random fault schedules: what the chaos suite does to one, or two concurrent, runs of the pipeline.

``draw(seed, index)`` draws schedule ``index`` from ``random.Random(seed + index)``: the same seed and index
always give the same schedule, whatever N is, so one schedule is replayed alone by its index.

A schedule is **transient-only** when every fault in it is one the pipeline must absorb and still succeed:
throttles and service errors within the retry budget below, latency, Lambda refusing an invoke, a reply lost
after the step acted. Anything else (a job or throughput that fails, a job that stops itself, a handler that
crashes on every call, a request Bedrock rejects, a stop by hand) makes it **hard**: the run may end any way,
but the invariants about leftovers and reports still hold.

The retry budget the transient counts stay within (each bound is checked against the product by the unit
tests or, for the deployed state machine, by the chaos test itself):

- The SDK inside a handler makes ``SDK_ATTEMPTS`` attempts per call (``customizer.aws``: standard mode,
  ``total_max_attempts`` 5): up to ``SDK_ATTEMPTS - 1`` errors in a row on one operation are absorbed inside a
  single call. Injected errors are consumed by whichever calls of the operation come next (both runs of a
  schedule, the cleanup, the aftercare), so the bound is per operation, not per call site: at most
  ``PER_OPERATION`` (4) throttles and service errors on an operation, of which at most ``THROTTLES_PER_OPERATION``
  (3) throttles (the SDK backs off 1, 2, 4 s at most after a throttle, only 50, 100, 200 ms after a 5xx).
- Beyond the SDK: a transient-only schedule may also put ``SDK_ATTEMPTS`` to ``2 * SDK_ATTEMPTS - 1`` (5-9)
  InternalServerExceptions on one control-plane operation, and nothing else on it. One call then exhausts
  the SDK, the handler raises AwsServiceUnavailableError and the state machine runs the step again (it retries
  that 5 times; at most one retry is needed). Not in hard schedules: their aftercare (an asynchronous invoke,
  which the offline runtime does not replay as Lambda would) may be the call that meets it.
- Runtime calls (InvokeModel, Converse) go through the evaluator's own retries (``EVALUATOR_ATTEMPTS``, 8 per
  example, the SDK making one attempt each): the same ``PER_OPERATION`` bound keeps every example answered.
- Lambda refusing an invoke (``Lambda.TooManyRequestsException``, ``Lambda.ServiceException``): retried 5 times
  by the state machine; at most ``REFUSALS`` (2) per function.
- A reply lost after the step acted (``Sandbox.Timedout``, ``Lambda.Unknown``): retried 2 times; at most
  ``LOST_REPLIES`` (2) per function.
- Latency: 10-100 ms on every operation, 20-300 ms on one.

Hard faults never reject a call the aftercare makes (the List*, Get*, Stop and Delete operations): a rejected
aftercare would leave resources behind only because the offline runtime does not retry an asynchronous
invoke as Lambda does. They reject a create, or the evaluation's model calls, instead."""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from customizer.families import base_model

# ---- the retry budget (see the module docstring) ----
SDK_ATTEMPTS = 5
PER_OPERATION = SDK_ATTEMPTS - 1
THROTTLES_PER_OPERATION = 3
BEYOND_SDK = (SDK_ATTEMPTS, 2 * SDK_ATTEMPTS - 1)
EVALUATOR_ATTEMPTS = 8
REFUSALS = 2
LOST_REPLIES = 2
# What the deployed state machine must retry for the counts above to be absorbed (checked by the chaos test).
STEP_RETRIES_NEEDED = 1  # handler-raised BedrockThrottledError / AwsServiceUnavailableError
LAMBDA_SERVICE_RETRIES_NEEDED = REFUSALS
TIMEOUT_RETRIES_NEEDED = LOST_REPLIES
LATENCY_ALL_MS = (10, 100)
LATENCY_ONE_MS = (20, 300)

# ---- what a run is ----
TITAN = "amazon.titan-text-express-v1"
NOVA = "amazon.nova-micro-v1:0"
POLICIES = ("keep", "delete", "keep_if_better")
STARTS = ("upload", "console")
Shape = Literal["single", "two-runs", "duplicate"]
SHAPES: tuple[tuple[Shape, float], ...] = (("single", 0.6), ("two-runs", 0.25), ("duplicate", 0.15))

THROTTLING = "ThrottlingException"
INTERNAL = "InternalServerException"
# The codes the pipeline treats as transient (customizer.aws: THROTTLING_CODES | TRANSIENT_CODES), as Bedrock
# declares them; each operation gets only those of its own errors (botocore's model, as the emulator serves).
TRANSIENT_CODES = (
    "ThrottlingException",
    "InternalServerException",
    "ServiceUnavailableException",
    "ModelNotReadyException",
    "ModelTimeoutException",
)
REJECTION_CODES = ("AccessDeniedException", "ValidationException", "ServiceQuotaExceededException")
RUNTIME_OPERATIONS = ("InvokeModel", "Converse")
EVERY_CALL = 10_000  # a rejection of every model call: the evaluation fails fast

JOB_OPERATIONS = ("CreateModelCustomizationJob", "GetModelCustomizationJob")
THROUGHPUT_OPERATIONS = ("CreateProvisionedModelThroughput", "GetProvisionedModelThroughput")
DEPLOYMENT_OPERATIONS = ("CreateCustomModelDeployment", "GetCustomModelDeployment")
# Called when a run fails or is stopped (besides deleting what it served: RunPlan.delete_operation).
CLEANUP_OPERATIONS = ("ListTagsForResource", "StopModelCustomizationJob")
AFTERCARE_OPERATIONS = (
    "ListModelCustomizationJobs",
    "ListProvisionedModelThroughputs",
    "ListCustomModelDeployments",
)
# Hard rejections only where the aftercare never calls (see the module docstring).
REJECTABLE = (
    "CreateModelCustomizationJob",
    "CreateProvisionedModelThroughput",
    "CreateCustomModelDeployment",
    *RUNTIME_OPERATIONS,
)

# Handler modules (lambdas/handlers/) of the workflow's steps.
CLEANUP_MODULE = "cleanup"
NOTIFY_MODULE = "notify"
REFUSAL_CODES = ("TooManyRequestsException", "ServiceException")
TIMED_OUT = "Sandbox.Timedout"
LOST_REPLY_TYPES: tuple[str | None, ...] = (TIMED_OUT, None)  # None: a payload without errorType, Lambda.Unknown

HARD_KINDS = ("job-fails", "job-stops", "throughput-fails", "crash", "rejected", "hand-stop")
# States a stop by hand waits for; while the job trains, the job trains longer so that it is still running.
JOB_PHASE = ("Create the customization job", "Wait for the job", "Check the job")
JOB_SECONDS_WHEN_STOPPED_TRAINING = 8.0


@dataclass(frozen=True)
class RunPlan:
    """One run: its settings and how it is started."""

    policy: str
    start: str
    base_model_id: str
    serving: str  # "provisioned_throughput" or "on_demand"
    fan_out: bool  # the test set in chunks (a Distributed Map) instead of one step

    @property
    def on_demand(self) -> bool:
        return self.serving == "on_demand"

    @property
    def runtime_operation(self) -> str:
        return "Converse" if self.base_model_id == NOVA else "InvokeModel"

    def settings(self) -> dict[str, Any]:
        """Overrides of the e2e settings (1 s polls, 30 examples)."""
        settings: dict[str, Any] = {"throughput_policy": self.policy}
        if self.base_model_id != TITAN:
            settings |= {"base_model_id": self.base_model_id, "hyperparameters": {"epochCount": 1}}
        if self.on_demand:
            settings["serving"] = "on_demand"
        if self.fan_out:
            settings["evaluation"] = {"fan_out_above": 10, "chunk_size": 10}
        return settings

    def modules(self) -> tuple[str, ...]:
        """The handler modules the run's happy path invokes."""
        evaluation = ("evaluate_chunk", "aggregate_evaluation") if self.fan_out else ("evaluate",)
        return (
            "validate_run",
            "create_job",
            "check_job",
            "create_throughput",
            "check_throughput",
            "plan_evaluation",
            *evaluation,
            "apply_policy",
            NOTIFY_MODULE,
        )

    def states(self) -> tuple[str, ...]:
        """The states of the happy path, in order, where a stop by hand may come."""
        serve = "deployment" if self.on_demand else "throughput"
        evaluation = (
            ("Evaluate the test set in chunks", "Aggregate the evaluation")
            if self.fan_out
            else ("Evaluate custom against base",)
        )
        return (
            "Validate the run",
            *JOB_PHASE,
            f"Create the {serve}",
            f"Wait for the {serve}",
            f"Check the {serve}",
            "Plan the evaluation",
            *evaluation,
            "Apply the throughput policy",
            "Notify success",
        )

    @property
    def delete_operation(self) -> str:
        return "DeleteCustomModelDeployment" if self.on_demand else "DeleteProvisionedModelThroughput"

    def operations(self) -> tuple[str, ...]:
        """The Bedrock operations the run's happy path calls (keep_if_better deletes only when custom loses)."""
        served = DEPLOYMENT_OPERATIONS if self.on_demand else THROUGHPUT_OPERATIONS
        deletes = (self.delete_operation,) if self.policy == "delete" else ()
        return (*JOB_OPERATIONS, *served, self.runtime_operation, *deletes)


@dataclass(frozen=True)
class BedrockError:
    """``count`` calls of ``operation`` answered with ``code``: ``emulator.inject_error``."""

    operation: str
    code: str
    count: int

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT_CODES


@dataclass(frozen=True)
class Latency:
    ms: int
    operation: str | None  # None: every operation


@dataclass(frozen=True)
class StepFault:
    """A fault of the Lambda function running handler module ``module``:

    - ``refuse``: Lambda refuses the next ``count`` invokes with ``detail`` (the handler does not run);
    - ``lose_reply``: the next ``count`` calls run, then answer as a timeout (``detail``: the errorType, None for
      none: Lambda.Unknown);
    - ``crash``: every call raises RuntimeError (not transient)."""

    module: str
    kind: Literal["refuse", "lose_reply", "crash"]
    detail: str | None = None
    count: int = 1

    @property
    def transient(self) -> bool:
        return self.kind != "crash"


@dataclass(frozen=True)
class HandStop:
    """Stop execution ``execution`` (0 or 1) by hand once it entered ``state``."""

    state: str
    execution: int = 0


@dataclass(frozen=True)
class Schedule:
    seed: int
    index: int
    shape: Shape
    runs: tuple[RunPlan, ...]  # one per run; a duplicate is one run started twice
    bedrock_errors: tuple[BedrockError, ...] = ()
    latencies: tuple[Latency, ...] = ()
    step_faults: tuple[StepFault, ...] = ()
    job_outcome: Literal["completes", "fails", "stops"] = "completes"
    throughput_fails: bool = False
    stop: HandStop | None = None
    job_seconds: float | None = None
    hard: tuple[str, ...] = field(default=())  # the hard kinds drawn (HARD_KINDS)

    @property
    def id(self) -> str:
        return f"schedule-{self.index}"

    @property
    def executions(self) -> int:
        return 2 if self.shape in ("two-runs", "duplicate") else 1

    def why_hard(self) -> list[str]:
        """What makes the schedule more than transient (empty: transient-only)."""
        reasons = []
        if self.job_outcome != "completes":
            reasons.append(f"the next job {'fails' if self.job_outcome == 'fails' else 'stops itself'}")
        if self.throughput_fails:
            reasons.append("the next throughput fails")
        reasons += [f"{f.module} crashes on every call" for f in self.step_faults if not f.transient]
        reasons += [f"{e.operation} rejected ({e.code} x{e.count})" for e in self.bedrock_errors if not e.transient]
        if self.stop is not None:
            reasons.append(f"execution {self.stop.execution} stopped by hand in {self.stop.state!r}")
        return reasons

    @property
    def transient_only(self) -> bool:
        return not self.why_hard()

    def describe(self) -> dict[str, Any]:
        return {**asdict(self), "transient_only": self.transient_only, "why_hard": self.why_hard()}

    def summary(self) -> str:
        """One line a person reads: the runs, then every fault."""
        runs = ", ".join(
            f"{r.policy}/{r.start}/{r.base_model_id.split('.')[1].split('-')[0]}/{r.serving}"
            + ("/fan-out" if r.fan_out else "")
            for r in self.runs
        )
        parts = [
            f"{self.shape} ({runs})",
            "transient-only" if self.transient_only else "hard: " + "; ".join(self.why_hard()),
        ]
        parts += [f"{e.operation} {e.code} x{e.count}" for e in self.bedrock_errors]
        parts += [f"{lat.ms} ms on {lat.operation or 'every operation'}" for lat in self.latencies]
        parts += [
            f"{f.module} {f.kind}{f' {f.detail}' if f.detail else ''}{f' x{f.count}' if f.kind != 'crash' else ''}"
            for f in self.step_faults
        ]
        if self.job_seconds is not None:
            parts.append(f"jobs train {self.job_seconds:g} s")
        return " | ".join(parts)

    def __str__(self) -> str:
        return json.dumps(self.describe(), separators=(",", ":"))


# ---- drawing ----


def declared_errors(operation: str) -> frozenset[str]:
    """The error codes Bedrock declares for ``operation`` (botocore's model, which the emulator serves)."""
    from offline.bedrock_emulator.protocol import operations

    for op in operations():
        if op.name == operation:
            return frozenset(shape.name for shape in op.model.error_shapes)
    raise KeyError(operation)


def _draw_plan(rng: random.Random, start: str | None = None) -> RunPlan:
    model = rng.choices((TITAN, NOVA), weights=(0.7, 0.3))[0]
    on_demand = base_model(model).on_demand_deployment and rng.random() < 0.5
    return RunPlan(
        policy=rng.choice(POLICIES),
        start=start or rng.choice(STARTS),
        base_model_id=model,
        serving="on_demand" if on_demand else "provisioned_throughput",
        fan_out=rng.random() < 0.25,
    )


def _draw_runs(rng: random.Random) -> tuple[Shape, tuple[RunPlan, ...]]:
    shape = rng.choices([s for s, _ in SHAPES], weights=[w for _, w in SHAPES])[0]
    if shape == "single":
        return shape, (_draw_plan(rng),)
    if shape == "two-runs":
        return shape, (_draw_plan(rng), _draw_plan(rng))
    return shape, (_draw_plan(rng, start="console"),)  # two console starts of the same run


class _Budget:
    """Transient errors drawn so far, per operation, against the per-operation bounds."""

    def __init__(self) -> None:
        self.errors: dict[str, int] = {}
        self.throttles: dict[str, int] = {}
        self.closed: set[str] = set()  # operations given a beyond-the-SDK count: nothing else on them

    def room(self, operation: str, code: str) -> int:
        if operation in self.closed:
            return 0
        left = PER_OPERATION - self.errors.get(operation, 0)
        if code == THROTTLING:
            left = min(left, THROTTLES_PER_OPERATION - self.throttles.get(operation, 0))
        return max(0, left)

    def take(self, operation: str, code: str, count: int) -> None:
        self.errors[operation] = self.errors.get(operation, 0) + count
        if code == THROTTLING:
            self.throttles[operation] = self.throttles.get(operation, 0) + count


def _transient_codes(operation: str) -> list[str]:
    declared = declared_errors(operation)
    return [c for c in TRANSIENT_CODES if c in declared]


def _draw_bedrock_errors(
    rng: random.Random, operations: list[str], budget: _Budget, entries: int
) -> list[BedrockError]:
    drawn = []
    for _ in range(entries):
        operation = rng.choice(operations)
        code = rng.choice(_transient_codes(operation))
        room = budget.room(operation, code)
        if room == 0:
            continue
        count = rng.randint(1, min(3, room))
        budget.take(operation, code, count)
        drawn.append(BedrockError(operation, code, count))
    return drawn


def _draw_latencies(rng: random.Random, operations: list[str]) -> list[Latency]:
    drawn = []
    for _ in range(rng.choice((0, 0, 1, 2))):
        if rng.random() < 0.3:
            drawn.append(Latency(rng.randint(*LATENCY_ALL_MS), None))
        else:
            drawn.append(Latency(rng.randint(*LATENCY_ONE_MS), rng.choice(operations)))
    # One latency per operation: the emulator keeps the last one set.
    return list({latency.operation: latency for latency in drawn}.values())


def _draw_step_faults(rng: random.Random, modules: list[str], entries: int) -> list[StepFault]:
    drawn: dict[tuple[str, str], StepFault] = {}  # the router keeps one fault of a kind per function
    for _ in range(entries):
        module = rng.choice(modules)
        if rng.random() < 0.5:
            fault = StepFault(module, "refuse", rng.choice(REFUSAL_CODES), rng.randint(1, REFUSALS))
        else:
            fault = StepFault(module, "lose_reply", rng.choice(LOST_REPLY_TYPES), rng.randint(1, LOST_REPLIES))
        drawn.setdefault((fault.module, fault.kind), fault)
    return list(drawn.values())


def _draw_hard(rng: random.Random, runs: tuple[RunPlan, ...]) -> tuple[str, ...]:
    kinds = [k for k in HARD_KINDS if k != "throughput-fails" or any(not r.on_demand for r in runs)]
    return tuple(rng.sample(kinds, 2 if rng.random() < 0.25 else 1))


def draw(seed: int, index: int) -> Schedule:
    """Schedule ``index`` of the suite run with ``seed``: from ``random.Random(seed + index)``."""
    rng = random.Random(seed + index)
    shape, runs = _draw_runs(rng)
    executions = 2 if shape != "single" else 1
    transient_only = rng.random() < 0.5
    hard = () if transient_only else _draw_hard(rng, runs)
    # Kinds that send a run through "Clean up" (a crash does too, unless it is the cleanup's own).
    failures = {"job-fails", "job-stops", "throughput-fails", "rejected", "crash"} & set(hard)

    operations = sorted({op for run in runs for op in run.operations()})
    if hard:
        deletes = {run.delete_operation for run in runs}
        operations = sorted({*operations, *deletes, *CLEANUP_OPERATIONS, *AFTERCARE_OPERATIONS})
    path_modules = sorted({m for run in runs for m in run.modules()})
    modules = [*path_modules, CLEANUP_MODULE] if failures else path_modules

    budget = _Budget()
    errors: list[BedrockError] = []
    if transient_only and rng.random() < 0.3:
        # One call exhausts the SDK; the state machine runs the step again.
        control = [op for op in operations if op not in RUNTIME_OPERATIONS]
        operation = rng.choice(control)
        errors.append(BedrockError(operation, INTERNAL, rng.randint(*BEYOND_SDK)))
        budget.closed.add(operation)
    errors += _draw_bedrock_errors(rng, operations, budget, rng.choice((0, 1, 2, 3)))
    latencies = _draw_latencies(rng, operations)
    step_faults = _draw_step_faults(rng, modules, rng.choice((0, 1, 1, 2)))
    if transient_only and not (errors or latencies or step_faults):
        errors += _draw_bedrock_errors(rng, operations, budget, 1)

    job_outcome: Literal["completes", "fails", "stops"] = "completes"
    if "job-fails" in hard:
        job_outcome = "fails"
    elif "job-stops" in hard:
        job_outcome = "stops"
    if "crash" in hard:
        # The cleanup crashing matters only when something else sends the run to it.
        module = rng.choice([*path_modules, CLEANUP_MODULE] if failures - {"crash"} else path_modules)
        # A crash replaces the step's other faults: it fails whatever they do.
        step_faults = [f for f in step_faults if f.module != module] + [StepFault(module, "crash")]
    if "rejected" in hard:
        errors.append(_draw_rejection(rng, runs))
    stop = None
    job_seconds = None
    if "hand-stop" in hard:
        execution = rng.randrange(executions)
        plan = runs[min(execution, len(runs) - 1)]
        stop = HandStop(rng.choice(plan.states()), execution)
        if stop.state in JOB_PHASE:
            job_seconds = JOB_SECONDS_WHEN_STOPPED_TRAINING
    return Schedule(
        seed=seed,
        index=index,
        shape=shape,
        runs=runs,
        bedrock_errors=tuple(errors),
        latencies=tuple(latencies),
        step_faults=tuple(step_faults),
        job_outcome=job_outcome,
        throughput_fails="throughput-fails" in hard,
        stop=stop,
        job_seconds=job_seconds,
        hard=hard,
    )


def _draw_rejection(rng: random.Random, runs: tuple[RunPlan, ...]) -> BedrockError:
    candidates = sorted({op for run in runs for op in run.operations() if op in REJECTABLE})
    operation = rng.choice(candidates)
    code = rng.choice([c for c in REJECTION_CODES if c in declared_errors(operation)])
    count = 1
    if operation in RUNTIME_OPERATIONS:
        count = rng.choice((1, 2, 3, EVERY_CALL))
    return BedrockError(operation, code, count)
