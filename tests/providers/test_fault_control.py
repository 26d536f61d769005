"""The simulators' fault knobs over HTTP (`sessiongraph simulate` only)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from providers.simulators import Simulator, build
from providers.simulators.control import CONTROL_PATH, with_fault_control
from tests.conftest import ANCHOR

STATESET_LIST = "/api/v1/voice-sessions"


@pytest.fixture
def sim() -> Simulator:
    return build("stateset", size=10, seed=1, anchor=ANCHOR, clock=lambda: ANCHOR)


@pytest.fixture
async def http(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=with_fault_control(sim))
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    async with httpx.AsyncClient(
        transport=transport, base_url=sim.base_url, headers=headers
    ) as client:
        yield client


async def test_posted_faults_apply_to_the_vendor_paths_they_name(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    knobs = {"status": 503, "rate": 1.0, "budget": 2, "path": "voice-sessions$"}
    answer = await http.post(CONTROL_PATH, json=knobs)
    assert answer.status_code == 200
    assert answer.json()["status"] == 503 and answer.json()["budget"] == 2
    statuses = [(await http.get(STATESET_LIST)).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]  # the budget of two failures, then healthy again
    assert [entry.status for entry in sim.log.entries] == [503, 503, 200]  # not the control
    served = (await http.get(CONTROL_PATH)).json()
    assert (served["requests"], served["statuses"]) == (3, {"200": 1, "503": 2})


async def test_wrong_shape_and_malformed_bodies(http: httpx.AsyncClient) -> None:
    await http.post(CONTROL_PATH, json={"wrong_shape_rate": 1.0})
    wrong = await http.get(STATESET_LIST)
    assert wrong.status_code == 200 and isinstance(wrong.json()["data"], dict)
    await http.post(CONTROL_PATH, json={"malformed_rate": 1.0})
    broken = await http.get(STATESET_LIST)
    with pytest.raises(ValueError):
        broken.json()


async def test_delete_resets_and_bad_knobs_are_refused(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    await http.post(CONTROL_PATH, json={"status": 500, "latency_ms": 5})
    assert (await http.delete(CONTROL_PATH)).json()["status"] is None
    assert (sim.faults.error_status, sim.faults.latency_s) == (None, 0.0)
    for body in ({"status": "x"}, {"colour": 1}, {"path": "("}, [1]):
        refused = await http.post(CONTROL_PATH, json=body)
        assert refused.status_code == 400, body
    assert (await http.put(CONTROL_PATH)).status_code == 405
    assert (await http.get(STATESET_LIST)).status_code == 200


async def test_demo_simulators_have_no_control_path(sim: Simulator) -> None:
    """In demo mode the simulators serve in-process without the control wrapper."""
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    async with httpx.AsyncClient(
        transport=sim.transport(), base_url=sim.base_url, headers=headers
    ) as client:
        answer = await client.post(CONTROL_PATH, json={"status": 500})
    assert answer.status_code == 404
    assert sim.faults.error_status is None
