"""The peer's OpenAPI description of StateSet Voice (bench/peer/stateset-openapi.json) against
what the simulator really serves: every answer validates against the described schema, and the
description declares every field the simulator sends. A checker of our own (no jsonschema
dependency): type, required, nullable, enum, items, properties, additionalProperties, $ref."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from providers.simulators.stateset import SESSIONS_PATH, STATUSES, StateSetSimulator

PEER_DIR = Path(__file__).resolve().parents[2] / "bench" / "peer"
SPEC: dict[str, Any] = json.loads((PEER_DIR / "stateset-openapi.json").read_text())

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def resolve(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        ref: str = schema["$ref"]
        assert ref.startswith("#/"), ref
        node: Any = SPEC
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


def problems(value: Any, schema: Mapping[str, Any], where: str = "$") -> Iterator[str]:
    """Every way `value` breaks `schema` (OpenAPI 3.0 flavour of JSON Schema)."""
    schema = resolve(schema)
    if value is None:
        if not schema.get("nullable"):
            yield f"{where}: null where the description does not allow it"
        return
    kind = schema.get("type")
    if kind is not None:
        # bool is an int to Python, never to JSON Schema.
        wrong_bool = isinstance(value, bool) and kind in ("integer", "number")
        if not isinstance(value, _TYPES[kind]) or wrong_bool:
            yield f"{where}: {type(value).__name__} where the description says {kind}"
            return
    if "enum" in schema and value not in schema["enum"]:
        yield f"{where}: {value!r} is not one of {schema['enum']}"
    if "minimum" in schema and value < schema["minimum"]:
        yield f"{where}: {value} below {schema['minimum']}"
    if "maximum" in schema and value > schema["maximum"]:
        yield f"{where}: {value} above {schema['maximum']}"
    if kind == "array":
        for i, item in enumerate(value):
            yield from problems(item, schema.get("items", {}), f"{where}[{i}]")
    if kind == "object":
        properties: Mapping[str, Any] = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                yield f"{where}: required field {name!r} missing"
        for name, item in value.items():
            if name in properties:
                yield from problems(item, properties[name], f"{where}.{name}")
            elif schema.get("additionalProperties") is not True:
                yield f"{where}: field {name!r} is not in the description"


def operation() -> Mapping[str, Any]:
    op: Mapping[str, Any] = SPEC["paths"][SESSIONS_PATH]["get"]
    return op


def answer_schema(status: int) -> Mapping[str, Any]:
    schema: Mapping[str, Any] = operation()["responses"][str(status)]["content"][
        "application/json"
    ]["schema"]
    return schema


def parameter(name: str) -> Mapping[str, Any]:
    found = [p for p in operation()["parameters"] if p["name"] == name]
    assert len(found) == 1, name
    schema: Mapping[str, Any] = resolve(found[0]["schema"])
    return schema


async def served(simulator: StateSetSimulator, query: str, auth: bool = True) -> httpx.Response:
    headers = {"Authorization": f"Bearer {simulator.api_key}"} if auth else {}
    async with httpx.AsyncClient(
        transport=simulator.transport(), base_url=simulator.base_url
    ) as client:
        return await client.get(f"{SESSIONS_PATH}?{query}", headers=headers)


@pytest.fixture(scope="module")
def simulator() -> StateSetSimulator:
    return StateSetSimulator(size=300, seed=3)


async def test_every_served_session_validates_against_the_description(
    simulator: StateSetSimulator,
) -> None:
    pages = [await served(simulator, f"limit=100&offset={o}") for o in (0, 100, 200)]
    assert [p.status_code for p in pages] == [200, 200, 200]
    found = [list(problems(p.json(), answer_schema(200))) for p in pages]
    assert found == [[], [], []]
    sessions = [s for p in pages for s in p.json()["data"]]
    assert len(sessions) == 300
    # The data covers both sides of every nullable field, so each was really checked both ways.
    for name in ("ended_at", "duration_seconds", "summary"):
        assert {s[name] is None for s in sessions} == {True, False}, name
    calls = [c for s in sessions for c in s["function_calls"]]
    for name in ("result", "error"):
        assert {c[name] is None for c in calls} == {True, False}, name
    assert {s["qa"]["score"] is None for s in sessions} == {True, False}
    assert {s["status"] for s in sessions} == set(STATUSES)


async def test_the_description_declares_every_field_the_simulator_sends(
    simulator: StateSetSimulator,
) -> None:
    answer = (await served(simulator, "limit=100")).json()
    session_schema = resolve(resolve(answer_schema(200))["properties"]["data"]["items"])
    declared = set(session_schema["properties"])
    sent = {name for s in answer["data"] for name in s}
    assert declared == sent
    assert set(session_schema["required"]) == sent  # the simulator always sends every field
    turn = resolve(session_schema["properties"]["transcript"]["items"])
    assert set(turn["properties"]) == {
        k for s in answer["data"] for t in s["transcript"] for k in t
    }
    call = resolve(session_schema["properties"]["function_calls"]["items"])
    assert set(call["properties"]) == {
        k for s in answer["data"] for c in s["function_calls"] for k in c
    }


async def test_the_error_answers_match_the_described_error(simulator: StateSetSimulator) -> None:
    for query, auth, status in (
        ("limit=101", True, 400),
        ("limit=0", True, 400),
        ("offset=-1", True, 400),
        ("status=archived", True, 400),
        ("limit=5", False, 401),
    ):
        response = await served(simulator, query, auth=auth)
        assert response.status_code == status, query
        assert list(problems(response.json(), answer_schema(status))) == [], query


async def test_the_described_parameters_are_the_simulator_s_bounds(
    simulator: StateSetSimulator,
) -> None:
    limit, offset, status = parameter("limit"), parameter("offset"), parameter("status")
    assert (limit["minimum"], limit["maximum"], offset["minimum"]) == (1, 100, 0)
    assert set(status["enum"]) == set(STATUSES)
    edge = await served(simulator, f"limit={limit['maximum']}&offset={offset['minimum']}")
    assert edge.status_code == 200 and len(edge.json()["data"]) == 100
    filtered = await served(simulator, f"status={status['enum'][1]}&limit=100")
    assert {s["status"] for s in filtered.json()["data"]} == {status["enum"][1]}
    # Bearer auth, as the description's security scheme says.
    scheme = SPEC["components"]["securitySchemes"][next(iter(SPEC["security"][0]))]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert (await served(simulator, "limit=1", auth=False)).status_code == 401


async def test_the_checker_finds_what_is_wrong(simulator: StateSetSimulator) -> None:
    good = (await served(simulator, "limit=3")).json()
    schema = answer_schema(200)
    assert list(problems(good, schema)) == []
    cases: list[tuple[str, Any]] = [
        ("required field 'transcript' missing", lambda s: s.pop("transcript")),
        ("'weird' is not one of", lambda s: s.update(status="weird")),
        ("null where", lambda s: s["transcript"][0].update(text=None)),
        ("str where the description says integer", lambda s: s.update(duration_seconds="9")),
        ("bool where the description says integer", lambda s: s.update(duration_seconds=True)),
        ("field 'rating' is not in the description", lambda s: s.update(rating=5)),
        ("list where the description says object", lambda s: s.update(qa=[])),
    ]
    for expected, damage in cases:
        broken = copy.deepcopy(good)
        damage(broken["data"][1])
        found = list(problems(broken, schema))
        assert len(found) == 1 and expected in found[0], (expected, found)
        assert found[0].startswith("$.data[1]")


def test_the_npm_packages_are_pinned_exactly_and_locked() -> None:
    manifest = json.loads((PEER_DIR / "package.json").read_text())
    lock = json.loads((PEER_DIR / "package-lock.json").read_text())
    pins = {**manifest["dependencies"], **manifest["overrides"]}
    assert {"@graphql-hive/gateway", "@graphql-mesh/compose-cli", "@omnigraph/openapi"} <= set(pins)
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", version) for version in pins.values()), pins
    assert lock["packages"][""]["dependencies"] == manifest["dependencies"]
    for name, version in manifest["dependencies"].items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version, name
    for name, version in manifest["overrides"].items():
        copies = {
            entry["version"]
            for path, entry in lock["packages"].items()
            if path.endswith(f"node_modules/{name}")
        }
        assert copies == {version}, name
    assert (PEER_DIR / ".gitignore").read_text().split() == ["node_modules/"]


def test_the_mesh_config_composes_this_description_without_baking_in_secrets() -> None:
    config = (PEER_DIR / "mesh.config.ts").read_text()
    assert "source: './stateset-openapi.json'" in config
    assert "'{env.STATESET_VOICE_BASE_URL}'" in config
    assert "'Bearer {env.STATESET_VOICE_API_KEY}'" in config
