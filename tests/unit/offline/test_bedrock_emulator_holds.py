"""Holds: a test keeps calls of one operation waiting until it releases them, so races are forced, not won."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from offline.bedrock_emulator import BedrockEmulator, EmulatorServer
from offline.bedrock_emulator.admin_client import EmulatorAdmin, EmulatorAdminError
from offline.bedrock_emulator.holds import Holds


def test_a_held_call_waits_until_released_and_other_operations_go_on(bedrock: Any, emulator: BedrockEmulator) -> None:
    emulator.hold("ListCustomModels")
    with ThreadPoolExecutor(max_workers=2) as pool:
        held = pool.submit(bedrock.list_custom_models)
        assert emulator.wait_held("ListCustomModels") == {"waiting": 1}
        assert not held.done()
        # Another operation is answered meanwhile
        assert bedrock.list_model_customization_jobs()["modelCustomizationJobSummaries"] == []
        assert not held.done()
        assert emulator.faults()["holds"] == {
            "held": ["ListCustomModels"],
            "waiting": {"ListCustomModels": 1},
            "arrived": {"ListCustomModels": 1},
        }
        emulator.release("ListCustomModels")
        assert held.result(timeout=30)["modelSummaries"] == []
    # Released: no longer held
    assert bedrock.list_custom_models()["modelSummaries"] == []
    assert emulator.faults()["holds"]["held"] == []


def test_a_held_call_still_meets_its_injected_error(bedrock: Any, emulator: BedrockEmulator) -> None:
    emulator.hold("ListCustomModels")
    emulator.inject_error("InternalServerException", operation="ListCustomModels")
    with ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(bedrock.list_custom_models)
        emulator.wait_held("ListCustomModels")
        emulator.release("ListCustomModels")
        with pytest.raises(ClientError, match="InternalServerException"):
            held.result(timeout=30)


def test_reset_releases_every_hold(bedrock: Any, emulator: BedrockEmulator) -> None:
    emulator.hold()  # every operation
    with ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(bedrock.list_custom_models)
        emulator.wait_held("ListCustomModels")
        emulator.reset(state=False)
        assert held.result(timeout=30)["modelSummaries"] == []


def test_waiting_for_calls_that_do_not_come_names_the_operation() -> None:
    holds = Holds()
    holds.hold("InvokeModel")
    with pytest.raises(TimeoutError, match="0 of 1 calls of InvokeModel reached its hold"):
        holds.wait_for("InvokeModel", timeout=0.01)


def test_wait_for_counts_the_calls_waiting() -> None:
    holds = Holds()
    holds.hold("InvokeModel")
    threads = [threading.Thread(target=holds.pass_through, args=("InvokeModel",)) for _ in range(3)]
    for thread in threads:
        thread.start()
    assert holds.wait_for("InvokeModel", count=3, timeout=30) == 3
    holds.release("InvokeModel")
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()
    assert holds.waiting("InvokeModel") == 0
    assert holds.arrived("InvokeModel") == 3


def test_unknown_operations_are_refused(emulator: BedrockEmulator) -> None:
    with pytest.raises(ValueError, match="unknown operation"):
        emulator.hold("InvokeTheModel")


def test_the_admin_endpoints_hold_and_release(server: EmulatorServer, bedrock: Any) -> None:
    admin = EmulatorAdmin(server.endpoint_url)
    admin.hold("ListCustomModels")
    with ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(bedrock.list_custom_models)
        assert admin.wait_held("ListCustomModels") == {"waiting": 1}
        admin.release("ListCustomModels")
        assert held.result(timeout=30)["modelSummaries"] == []
    with pytest.raises(EmulatorAdminError, match="408: 0 of 1 calls of ListCustomModels"):
        admin.hold("ListCustomModels")
        admin.wait_held("ListCustomModels", timeout=0.01)
    admin.release()
    admin.release("ListCustomModels")
