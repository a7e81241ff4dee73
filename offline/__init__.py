"""The offline runtime: moto, the Bedrock emulator and the runner. Never deployed.

Lambda runs the project's code with ``lambdas/`` as its root (``import customizer``, ``import handlers``). The
offline runtime runs that code in-process, so importing this package makes ``lambdas/`` importable the same
way: ``python -m offline ...`` and ``python -m offline.bedrock_emulator`` work from the repository root."""

import sys
from pathlib import Path

_LAMBDAS = str(Path(__file__).resolve().parent.parent / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.append(_LAMBDAS)
