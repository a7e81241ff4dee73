"""End-to-end tests: the synthesized state machine on the offline runtime (moto with its ASL interpreter, the
real handlers routed in-process, the Bedrock emulator).

One ``OfflineRuntime`` per test process (per xdist worker), started on first use. Every test gets the ``e2e``
helper, which clears the emulator's faults (not its resources) and the router's faults around the test and
sets fast durations. Tests never share resources: each run has its own name (``run_name``), and the helpers
find the emulator's jobs, models and throughputs by the ``run-id`` tag the pipeline puts on them, the
executions by name and the notifications by run id.

The runtime's moto shares moto's in-process backends with every other moto in the process, and a unit test's
``mock_aws`` in the same worker resets them. Under ``--dist loadfile`` each e2e file runs contiguously on one
worker; under ``--dist load`` / ``loadgroup`` (pytest 9 makes xdist ignore ``xdist_group``) the tests spread
over the workers. Either way, the fixture checks the stack is still there before each test and redeploys a
fresh runtime if it is not.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from offline.runtime import OfflineRuntime
from tests.e2e.harness import E2E, JOB_SECONDS, RUN_TIMEOUT, SUITE_DEPLOYMENT, THROUGHPUT_SECONDS


class _Holder:
    """The process's runtime; replaced when something (a unit test's ``mock_aws``) wiped moto's backends."""

    def __init__(self) -> None:
        self.runtime: OfflineRuntime | None = None

    def healthy(self) -> OfflineRuntime:
        port = None
        if self.runtime is not None and not self._alive(self.runtime):
            # Same moto port: the handler modules already imported keep clients built for it at import.
            port = self.runtime.moto_port
            self.runtime.stop()
            self.runtime = None
        if self.runtime is None:
            runtime = OfflineRuntime(pipeline_overrides=SUITE_DEPLOYMENT, quiet=True, moto_port=port)
            runtime.start()
            self.runtime = runtime
        return self.runtime

    @staticmethod
    def _alive(runtime: OfflineRuntime) -> bool:
        client = boto3.client("stepfunctions", endpoint_url=f"http://127.0.0.1:{runtime.moto_port}")
        try:
            client.describe_state_machine(stateMachineArn=runtime.state_machine_arn)
            boto3.client("s3", endpoint_url=f"http://127.0.0.1:{runtime.moto_port}").head_bucket(
                Bucket=runtime.data_bucket
            )
        except (ClientError, KeyError, LookupError):
            return False
        return True

    def stop(self) -> None:
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None


@pytest.fixture(scope="session")
def _runtime_holder() -> Iterator[_Holder]:
    holder = _Holder()
    yield holder
    holder.stop()


def _calm(e2e: E2E) -> None:
    e2e.emulator.reset(state=False)  # faults and durations only: other runs' resources stay
    e2e.emulator.set_durations(job_seconds=JOB_SECONDS, throughput_seconds=THROUGHPUT_SECONDS)
    e2e.router.clear_faults()


@pytest.fixture
def e2e(_runtime_holder: _Holder) -> Iterator[E2E]:
    helper = E2E(_runtime_holder.healthy())
    _calm(helper)
    yield helper
    _calm(helper)
    # Settle: nothing this test started may still be running when the next test injects its faults.
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        running = helper.sfn.list_executions(stateMachineArn=helper.runtime.state_machine_arn, statusFilter="RUNNING")[
            "executions"
        ]
        if not running:
            break
        time.sleep(0.1)
